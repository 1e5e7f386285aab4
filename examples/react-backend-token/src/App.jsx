import { useEffect, useMemo, useState } from "react";
import { AssistantCloud } from "assistant-cloud";
import { AssistantRuntimeProvider, useLocalRuntime } from "@assistant-ui/react";
import { Chat } from "./Chat.jsx";
import { echoModel } from "./echo-model.js";

// Where threadhold runs (`threadhold serve` listens on 127.0.0.1:8787 by default).
const baseUrl = import.meta.env.VITE_THREADHOLD_URL ?? "http://127.0.0.1:8787";

/** Asks our backend (server.mjs) for a workspace token of the signed-in user. */
async function fetchAssistantToken() {
  const res = await fetch("/api/assistant-token", { method: "POST" });
  if (!res.ok) throw new Error(`/api/assistant-token answered ${res.status}`);
  const { token } = await res.json();
  return token;
}

function SignedInChat({ user, onSignOut }) {
  // The cloud client calls `authToken` whenever it needs a token (first use,
  // then shortly before each one expires); threadhold checks its signature.
  const cloud = useMemo(() => new AssistantCloud({ baseUrl, authToken: fetchAssistantToken }), []);
  const runtime = useLocalRuntime(echoModel, { cloud });
  return (
    <AssistantRuntimeProvider runtime={runtime}>
      <header className="bar">
        Signed in as <strong className="user-id">{user.userId}</strong>
        <button className="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <Chat />
    </AssistantRuntimeProvider>
  );
}

function SignIn({ onSignedIn }) {
  const [name, setName] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const body = await res.json();
    if (res.ok) onSignedIn(body.user);
    else setError(body.error);
  };
  return (
    <form className="sign-in" onSubmit={submit}>
      <h1>Sign in</h1>
      <p>A demo login: any name will do. Each name has its own chats.</p>
      <input className="sign-in-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Your name" autoFocus />
      <button className="sign-in-submit" type="submit">
        Sign in
      </button>
      {error && <p className="error">{error}</p>}
    </form>
  );
}

export function App() {
  // undefined: still asking the backend; null: signed out.
  const [user, setUser] = useState(undefined);
  useEffect(() => {
    fetch("/api/me")
      .then((res) => res.json())
      .then((body) => setUser(body.user))
      .catch(() => setUser(null));
  }, []);

  if (user === undefined) return null;
  if (user === null) return <SignIn onSignedIn={setUser} />;
  const signOut = async () => {
    await fetch("/api/logout", { method: "POST" });
    setUser(null);
  };
  // `key`: a new runtime (and a new thread list) for every user.
  return <SignedInChat key={user.userId} user={user} onSignOut={signOut} />;
}
