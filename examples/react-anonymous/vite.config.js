import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // assistant-ui and React make one ~770 kB bundle (~230 kB gzipped).
  build: { chunkSizeWarningLimit: 1024 },
});
