// The backend of the example: plain node:http, no framework.
//
// POST /api/chat is the route `useChatRuntime` posts to by default: it runs
// the model with the AI SDK's `streamText` and answers in the AI SDK's UI
// message stream protocol. It also serves the built app (dist/), so in
// production the page and /api/chat share one origin.
//
// The chat history is not kept here: the browser's AssistantCloud stores it in
// threadhold.
//
//   PORT, HOST  where this backend listens (default 127.0.0.1:3001)
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { convertToModelMessages, streamText } from "ai";
import { model } from "./mock-model.mjs";

const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 3001);
const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), "dist");

async function chat(req, res) {
  const { messages } = await readJson(req);
  const result = streamText({
    model,
    system: "You are a helpful assistant.",
    messages: await convertToModelMessages(messages),
  });
  await sendWebResponse(res, result.toUIMessageStreamResponse());
}

// ---------------------------------------------------------------------------
// HTTP plumbing

const routes = {
  "POST /api/chat": chat,
};

async function readJson(req) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 5_000_000) throw new Error("body too large");
  }
  return JSON.parse(body || "{}");
}

/** Sends a WHATWG Response (here: a streamed one) through Node's ServerResponse, chunk by chunk. */
async function sendWebResponse(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  if (response.body) for await (const chunk of response.body) res.write(chunk);
  res.end();
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
    if (pathname.startsWith("/api/")) {
      res.writeHead(404, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ error: "no such route" }));
    }
    await serveApp(pathname, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
    res.end(res.headersSent ? undefined : JSON.stringify({ error: "internal error" }));
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`backend listening on http://${HOST}:${port}`);
});
