// The backend of the example: plain node:http, no framework.
//
// It holds threadhold's API key (never sent to the browser), keeps a session
// per signed-in user, and mints short-lived workspace tokens for that user on
// POST /api/assistant-token; the browser's AssistantCloud calls it through its
// `authToken` callback. It also serves the built app (dist/), so in production
// the page and /api share one origin.
//
//   THREADHOLD_API_KEY  required: a key from `threadhold keys create`
//   THREADHOLD_URL      threadhold's base URL (default http://127.0.0.1:8787)
//   PORT, HOST          where this backend listens (default 127.0.0.1:3001)
import http from "node:http";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AssistantCloud } from "assistant-cloud";

const THREADHOLD_URL = process.env.THREADHOLD_URL ?? "http://127.0.0.1:8787";
const API_KEY = process.env.THREADHOLD_API_KEY;
const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 3001);
const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), "dist");

if (!API_KEY) {
  console.error("Set THREADHOLD_API_KEY to a key from `threadhold keys create`.");
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Sign-in. A stand-in for your real authentication: anyone can sign in under
// any name, and sessions live in memory. Replace this part with your own
// login (or your auth library's session lookup); keep the token route below.

const sessions = new Map(); // session id -> { userId }
const COOKIE = "sid";

function currentUser(req) {
  const cookies = Object.fromEntries(
    (req.headers.cookie ?? "")
      .split(";")
      .map((c) => c.trim().split("="))
      .filter(([name, value]) => name && value),
  );
  return sessions.get(cookies[COOKIE]) ?? null;
}

async function signIn(req, res) {
  const { name } = await readJson(req);
  if (typeof name !== "string" || !/^[a-z0-9_-]{1,40}$/i.test(name)) {
    return send(res, 400, { error: "a name of 1-40 letters, digits, _ or -" });
  }
  const sid = randomBytes(24).toString("base64url");
  const user = { userId: name.toLowerCase() };
  sessions.set(sid, user);
  res.setHeader("Set-Cookie", `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`);
  send(res, 200, { user });
}

function signOut(req, res) {
  const cookie = (req.headers.cookie ?? "").match(/(?:^|;\s*)sid=([^;]+)/);
  if (cookie) sessions.delete(cookie[1]);
  res.setHeader("Set-Cookie", `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
  send(res, 200, { user: null });
}

// ---------------------------------------------------------------------------
// The part that talks to threadhold: a workspace token for the signed-in user.

async function assistantToken(req, res) {
  const user = currentUser(req);
  if (!user) return send(res, 401, { error: "not signed in" });
  // The API key acts for this user in this workspace. Here every user has a
  // workspace of their own; use an organisation id to share threads in a team.
  const cloud = new AssistantCloud({
    baseUrl: THREADHOLD_URL,
    apiKey: API_KEY,
    userId: user.userId,
    workspaceId: user.userId,
  });
  // The same as: POST {THREADHOLD_URL}/v1/auth/tokens with
  // `Authorization: Bearer <API key>`, `Aui-User-Id` and `Aui-Workspace-Id`.
  const { token } = await cloud.auth.tokens.create();
  send(res, 200, { token });
}

// ---------------------------------------------------------------------------
// HTTP plumbing

const routes = {
  "GET /api/me": (req, res) => send(res, 200, { user: currentUser(req) }),
  "POST /api/login": signIn,
  "POST /api/logout": signOut,
  "POST /api/assistant-token": assistantToken,
};

function send(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error("body too large");
  }
  try {
    return JSON.parse(body || "{}");
  } catch {
    return {};
  }
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

/** The built app: files from dist/, index.html for anything else. */
async function serveApp(pathname, res) {
  // `pathname` is absolute, so normalizing it cannot climb out of dist/.
  const file = path.join(DIST, path.posix.normalize(pathname));
  for (const candidate of [file, path.join(DIST, "index.html")]) {
    try {
      const data = await readFile(candidate);
      const type = TYPES[path.extname(candidate)] ?? "application/octet-stream";
      res.writeHead(200, { "Content-Type": `${type}; charset=utf-8` });
      return res.end(data);
    } catch {}
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("Not found. Run `npm run build` first, or use `npm run dev` during development.");
}

const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, "http://localhost");
  try {
    const route = routes[`${req.method} ${pathname}`];
    if (route) return await route(req, res);
    if (pathname.startsWith("/api/")) return send(res, 404, { error: "no such route" });
    await serveApp(pathname, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, { error: "internal error" });
    else res.end();
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`backend listening on http://${HOST}:${port} (threadhold at ${THREADHOLD_URL})`);
});
