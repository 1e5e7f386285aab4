import { AssistantCloud } from "assistant-cloud";
import { AssistantRuntimeProvider, useLocalRuntime } from "@assistant-ui/react";
import { Chat } from "./Chat.jsx";
import { echoModel } from "./echo-model.js";

// Where threadhold runs (`threadhold serve` listens on 127.0.0.1:8787 by default).
const baseUrl = import.meta.env.VITE_THREADHOLD_URL ?? "http://127.0.0.1:8787";

// Anonymous mode: each browser gets its own identity from threadhold (kept in
// localStorage), and its threads live in that identity's workspace.
const cloud = new AssistantCloud({ baseUrl, anonymous: true });

export function App() {
  // The local runtime runs the model in the browser; `cloud` makes its thread
  // list and every message persist in threadhold.
  const runtime = useLocalRuntime(echoModel, { cloud });
  return (
    <AssistantRuntimeProvider runtime={runtime}>
      <Chat />
    </AssistantRuntimeProvider>
  );
}
