// Titles written by a model: a project whose title model is a (fake, local)
// OpenAI-compatible endpoint, set with `threadhold titles set`, driven through
// the official clients' title calls.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { CLIENTS, startServer, runCli, withLogs, apiKeyClient, readStreamText, uid } from "./harness.mjs";

const MODEL_KEY = "sk-compat-model-key-5f3a9c";
let server;
let apiKey;
let model;
let keyDir;
const L = (fn) => withLogs(() => server, fn);

/** A fake chat completions endpoint: answers `title`, records what it was sent. */
async function startFakeModel(title) {
  const seen = [];
  const http = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      seen.push({ url: req.url, authorization: req.headers.authorization, body: JSON.parse(body || "null") });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: title }, finish_reason: "stop" }] }));
    });
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${http.address().port}/v1`, seen, close: () => new Promise((r) => http.close(r)) };
}

before(async () => {
  model = await startFakeModel('"Sourdough at Home."');
  keyDir = await mkdtemp(path.join(tmpdir(), "threadhold-model-key-"));
  const keyFile = path.join(keyDir, "key");
  await writeFile(keyFile, `${MODEL_KEY}\n`);
  server = await startServer({
    setup: (dataDir) =>
      runCli(["titles", "set", "--data", dataDir, "--base-url", model.url, "--model", "fake-small", "--api-key-file", keyFile, "--length", "4"]),
  });
  apiKey = await server.createKey("compat-model-titles");
});
after(async () => {
  await server?.stop();
  await model?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

const SOURDOUGH = [{ role: "user", content: [{ type: "text", text: "How do I bake sourdough bread at home?" }] }];

for (const client of CLIENTS) {
  describe(`model titles (${client.name})`, () => {
    let cloud;

    before(() => {
      cloud = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-model-title") });
    });

    test(
      'runs.stream with assistant_id "system/thread_title" answers the model\'s title and stores it',
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        const calls = model.seen.length;
        const text = await readStreamText(
          await cloud.runs.stream({ thread_id, assistant_id: "system/thread_title", messages: SOURDOUGH }),
        );
        assert.equal(text, "Sourdough at Home");
        assert.equal((await cloud.threads.get(thread_id)).title, "Sourdough at Home");
        const call = model.seen.at(-1);
        assert.equal(model.seen.length, calls + 1);
        assert.equal(call.url, "/v1/chat/completions");
        assert.equal(call.authorization, `Bearer ${MODEL_KEY}`);
        assert.equal(call.body.model, "fake-small");
        assert.match(call.body.messages[0].content, /At most 4 words/);
        assert.equal(call.body.messages[1].content, "User: How do I bake sourdough bread at home?");
      }),
    );

    if (client.has.generateThreadTitle) {
      test(
        "generateThreadTitle returns the model's title and the thread keeps it",
        L(async () => {
          const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
          const title = await client.mod.generateThreadTitle(cloud, { threadId: thread_id, messages: SOURDOUGH });
          assert.equal(title, "Sourdough at Home");
          assert.equal((await cloud.threads.get(thread_id)).title, "Sourdough at Home");
        }),
      );
    }

    test(
      "a stored user message gets the built-in title at once and the model's title soon after",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        await cloud.threads.messages.create(thread_id, {
          parent_id: null,
          format: "aui/v0",
          content: { role: "user", content: [{ type: "text", text: "Plan a weekend in Lisbon" }] },
        });
        const first = (await cloud.threads.get(thread_id)).title;
        assert.ok(first === "Plan a weekend in Lisbon" || first === "Sourdough at Home", `title ${first}`);
        let title = first;
        for (let i = 0; i < 50 && title !== "Sourdough at Home"; i++) {
          await new Promise((r) => setTimeout(r, 100));
          title = (await cloud.threads.get(thread_id)).title;
        }
        assert.equal(title, "Sourdough at Home");
      }),
    );
  });
}
