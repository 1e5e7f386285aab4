import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // In development the backend (`npm start`, port 3001) answers /api/chat; in
  // production it serves the built app itself, so /api is same-origin there too.
  server: {
    proxy: { "/api": process.env.BACKEND_URL ?? "http://127.0.0.1:3001" },
  },
  // assistant-ui, the AI SDK and React make one ~1 MB bundle (~290 kB gzipped).
  build: { chunkSizeWarningLimit: 1024 },
});
