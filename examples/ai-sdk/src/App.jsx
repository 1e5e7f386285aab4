import { AssistantCloud } from "assistant-cloud";
import { AssistantRuntimeProvider } from "@assistant-ui/react";
import { useChatRuntime } from "@assistant-ui/react-ai-sdk";
import { Chat } from "./Chat.jsx";

// Where threadhold runs (`threadhold serve` listens on 127.0.0.1:8787 by default).
const baseUrl = import.meta.env.VITE_THREADHOLD_URL ?? "http://127.0.0.1:8787";

// Anonymous mode: each browser gets its own identity from threadhold (kept in
// localStorage). For signed-in users, mint tokens in a backend as in
// ../react-backend-token and pass `authToken` instead.
const cloud = new AssistantCloud({ baseUrl, anonymous: true });

export function App() {
  // Posts each turn to /api/chat (server.mjs) and streams the reply; `cloud`
  // gives it a thread list and stores every message in threadhold.
  const runtime = useChatRuntime({ cloud });
  return (
    <AssistantRuntimeProvider runtime={runtime}>
      <Chat />
    </AssistantRuntimeProvider>
  );
}
