// Thread titles: POST /v1/runs/stream in title mode (spec 4.13).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  apiKeyHeaders,
  expectCloudError,
  readStreamText,
  uid,
} from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-titles");
});
after(async () => {
  await server?.stop();
});

const SOURDOUGH = [
  { role: "user", content: [{ type: "text", text: "How do I bake sourdough bread at home?" }] },
];

// What the React thread-list adapter sends: serialized ThreadMessages with
// extra fields (id, createdAt, status, metadata, attachments).
const REACT_MESSAGES = [
  {
    id: "Vz3kqWq1",
    createdAt: "2026-09-17T02:40:30.497Z",
    role: "user",
    content: [{ type: "text", text: "Plan a three-day trip to Lisbon in spring" }],
    attachments: [],
    metadata: { custom: {} },
  },
  {
    id: "Ab9xYt2p",
    createdAt: "2026-09-17T02:40:32.101Z",
    role: "assistant",
    content: [
      { type: "text", text: "Day one: Alfama and the castle..." },
      { type: "tool-call", toolCallId: "c1", toolName: "weather", args: { city: "Lisbon" }, argsText: '{"city":"Lisbon"}', result: { temp: 19 } },
    ],
    status: { type: "complete", reason: "stop" },
    metadata: { unstable_annotations: [], unstable_data: [], steps: [], custom: {} },
  },
];

for (const client of CLIENTS) {
  describe(`titles (${client.name})`, () => {
    let cloud;
    let workspaceId;

    before(() => {
      workspaceId = uid("ws-title");
      cloud = apiKeyClient(client, server, { apiKey, workspaceId });
    });

    if (client.has.generateThreadTitle) {
      test(
        "generateThreadTitle returns a non-empty title and it is persisted on the thread",
        L(async () => {
          const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
          const title = await client.mod.generateThreadTitle(cloud, { threadId: thread_id, messages: SOURDOUGH });
          assert.equal(typeof title, "string");
          assert.ok(title.length > 0 && title.length <= 255, `title length ${title?.length}`);
          const t = await cloud.threads.get(thread_id);
          assert.equal(t.title, title);
        }),
      );
    }

    test(
      "runs.stream title mode streams text/plain and the server persists the title itself",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        // No messages are stored: the title must come from the request body.
        const stream = await cloud.runs.stream({
          thread_id,
          assistant_id: "system/thread_title",
          messages: REACT_MESSAGES,
        });
        const text = await readStreamText(stream);
        assert.ok(text.length > 0, "a non-empty title is streamed");
        assert.equal(text, text.trim(), "the title is streamed without surrounding whitespace");
        // React applies the streamed text untrimmed and never writes it back.
        const t = await cloud.threads.get(thread_id);
        assert.equal(t.title, text, "the streamed title is stored on the thread");
      }),
    );

    test(
      "an already-titled thread keeps its title; the stream answers it or nothing",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date(), title: "My own title" });
        const text = await readStreamText(
          await cloud.runs.stream({ thread_id, assistant_id: "system/thread_title", messages: SOURDOUGH }),
        );
        assert.ok(text === "" || text === "My own title", `stream answered ${JSON.stringify(text)}`);
        assert.equal((await cloud.threads.get(thread_id)).title, "My own title");
      }),
    );

    test(
      "a title set through PUT is never overwritten by an automatic title",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        await cloud.threads.update(thread_id, { title: "Renamed by the user" });
        await cloud.threads.messages.create(thread_id, {
          parent_id: null,
          format: "aui/v0",
          content: { role: "user", content: [{ type: "text", text: "Explain the Krebs cycle briefly" }] },
        });
        await readStreamText(
          await cloud.runs.stream({ thread_id, assistant_id: "system/thread_title", messages: SOURDOUGH }),
        );
        await new Promise((r) => setTimeout(r, 200)); // any background titling has had its chance
        assert.equal((await cloud.threads.get(thread_id)).title, "Renamed by the user");
      }),
    );

    test(
      "runs.stream on an unknown thread is a 404",
      L(async () => {
        await expectCloudError(
          client,
          cloud.runs.stream({ thread_id: "thread_000000000doesnotexist000", assistant_id: "system/thread_title", messages: SOURDOUGH }),
          404,
          "title stream for unknown thread",
          "thread_not_found",
        );
      }),
    );
  });
}

describe("runs.stream raw response", () => {
  test(
    "Content-Type is text/plain, body is non-empty UTF-8 without SSE framing",
    L(async () => {
      const workspaceId = uid("ws-title-raw");
      const cloud = apiKeyClient(CLIENTS[0], server, { apiKey, workspaceId });
      const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
      const res = await fetch(`${server.url}/v1/runs/stream`, {
        method: "POST",
        headers: { ...apiKeyHeaders({ apiKey, workspaceId }), Accept: "text/plain" },
        body: JSON.stringify({
          thread_id,
          assistant_id: "system/thread_title",
          messages: [{ role: "user", content: [{ type: "text", text: "¿Cómo preparo café de olla?" }] }],
        }),
      });
      assert.equal(res.status, 200);
      const ct = res.headers.get("content-type") ?? "";
      assert.equal(ct.split(";")[0].trim().toLowerCase(), "text/plain", `content-type ${ct}`);
      const body = await res.text();
      assert.ok(body.length > 0);
      assert.ok(!body.startsWith("data:"), "no SSE framing");
      assert.equal(body, body.trim());
    }),
  );
});
