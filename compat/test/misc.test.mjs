// Telemetry, scores, project-wide reads and files (spec 4.14-4.18), both versions.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  expectCloudError,
  jwtPayload,
  spyFetch,
  uid,
  auiUser,
  auiAssistant,
} from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-misc");
});
after(async () => {
  await server?.stop();
});

for (const client of CLIENTS) {
  describe(`runs, events, scores, projects, files (${client.name})`, () => {
    let cloud;
    let workspaceId;
    let threadId;
    let userMsg;
    let asstMsg;

    before(async () => {
      workspaceId = uid("ws-misc");
      cloud = apiKeyClient(client, server, { apiKey, workspaceId });
      threadId = (await cloud.threads.create({ last_message_at: new Date(), title: "misc" })).thread_id;
      userMsg = (
        await cloud.threads.messages.create(threadId, { parent_id: null, format: "aui/v0", content: auiUser("Hello") })
      ).message_id;
      asstMsg = (
        await cloud.threads.messages.create(threadId, { parent_id: userMsg, format: "aui/v0", content: auiAssistant("Hi!") })
      ).message_id;
    });

    test(
      "runs.report answers a string run_id (minimal and full reports, duplicates tolerated)",
      L(async () => {
        const minimal = await cloud.runs.report({ thread_id: threadId, status: "completed" });
        assert.equal(typeof minimal.run_id, "string");
        assert.ok(minimal.run_id.length > 0 && minimal.run_id.length <= 48);

        const full = {
          thread_id: threadId,
          status: "completed",
          message_id: asstMsg,
          total_steps: 1,
          duration_ms: 1234,
          input_tokens: 42,
          output_tokens: 17,
          model_id: "gpt-test",
          provider_type: "openai",
          output_text: "Hi!",
          tool_calls: [
            {
              tool_name: "search_recipes",
              tool_call_id: "call_1",
              tool_args: '{"q":"bread"}',
              tool_result: '{"hits":1}',
              tool_source: "frontend",
            },
          ],
          steps: [{ input_tokens: 42, output_tokens: 17, start_ms: 0, end_ms: 1234 }],
          metadata: { custom: { plan: "test" } },
        };
        const a = await cloud.runs.report(full);
        const b = await cloud.runs.report(full);
        assert.equal(typeof a.run_id, "string");
        assert.equal(typeof b.run_id, "string");

        const err = await cloud.runs.report({ thread_id: threadId, status: "error", error: "boom", error_code: "E_TEST" });
        assert.equal(typeof err.run_id, "string");
      }),
    );

    test(
      "workspace tokens live 300 s by default",
      L(async () => {
        const { token } = await cloud.auth.tokens.create();
        const { exp } = jwtPayload(token);
        const left = exp - Date.now() / 1000;
        assert.ok(left > 285 && left <= 305, `exp - now = ${Math.round(left)} s`);
      }),
    );

    test(
      "files.pdfToImages rejects with a 404 CloudAPIError",
      L(async () => {
        await expectCloudError(
          client,
          cloud.files.pdfToImages({ file_url: "https://files.invalid/doc.pdf" }),
          404,
          "POST /files/pdf-to-images",
        );
      }),
    );

    test(
      "projects.threads.list spans workspaces; projects.threads.messages.list reads any thread",
      L(async () => {
        const other = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-misc-other") });
        const otherThread = (await other.threads.create({ last_message_at: new Date(), title: "other ws" })).thread_id;

        const seen = new Set();
        let after;
        for (let guard = 0; guard < 50; guard++) {
          const page = await cloud.projects.threads.list({ limit: 50, ...(after ? { after } : {}) });
          for (const t of page.threads) {
            assert.ok(!seen.has(t.id), `duplicate ${t.id} across project pages`);
            seen.add(t.id);
          }
          if (page.threads.length < 50) break;
          after = page.threads.at(-1).id;
        }
        assert.ok(seen.has(threadId), "project list includes this workspace's thread");
        assert.ok(seen.has(otherThread), "project list includes another workspace's thread");

        const limited = await cloud.projects.threads.list({ limit: 1 });
        assert.equal(limited.threads.length, 1);
        const archived = await cloud.projects.threads.list({ is_archived: true });
        assert.ok(archived.threads.every((t) => t.is_archived === true));

        const { messages } = await cloud.projects.threads.messages.list(threadId);
        assert.deepEqual(messages.map((m) => m.id), [asstMsg, userMsg]);
        assert.equal(messages[0].parent_id, userMsg);
        assert.deepEqual(messages[1].content, auiUser("Hello"));
        const viaOther = await other.projects.threads.messages.list(threadId, { format: "aui/v0", limit: 1 });
        assert.deepEqual(viaOther.messages.map((m) => m.id), [asstMsg], "project reads ignore the workspace header");
      }),
    );

    if (client.has.scores) {
      test(
        "scores.create: numeric on a thread, boolean on a message, categorical",
        L(async () => {
          const numeric = await cloud.scores.create({ name: "quality", data_type: "numeric", value: 0.75, thread_id: threadId });
          assert.equal(typeof numeric.score_id, "string");
          assert.equal(numeric.name, "quality");
          assert.equal(numeric.data_type, "numeric");
          assert.equal(numeric.value, 0.75);
          assert.equal(numeric.string_value, null);

          const bool = await cloud.scores.create({
            name: "helpful",
            data_type: "boolean",
            value: true,
            thread_id: threadId,
            message_id: asstMsg,
            comment: "nice",
          });
          assert.equal(bool.data_type, "boolean");
          assert.equal(bool.value, 1, "a boolean score is returned as 1/0");
          assert.equal(bool.string_value, null);

          const cat = await cloud.scores.create({ name: "tone", data_type: "categorical", string_value: "friendly", thread_id: threadId });
          assert.equal(cat.data_type, "categorical");
          assert.equal(cat.value, null);
          assert.equal(cat.string_value, "friendly");

          await expectCloudError(
            client,
            cloud.scores.create({ name: "quality", data_type: "numeric", value: 1, thread_id: "thread_000000000doesnotexist000" }),
            404,
            "score on unknown thread",
            "thread_not_found",
          );
        }),
      );
    }

    if (client.has.events) {
      test(
        "events.track batches are accepted with a 2xx",
        L(async () => {
          const spy = spyFetch();
          try {
            const tracking = apiKeyClient(client, server, { apiKey, workspaceId, telemetry: true });
            tracking.events.track({ kind: "message_sent", thread_id: threadId, message_id: userMsg, value: 1500, props: { chars: 5, attachments: 0 } });
            tracking.events.track({ kind: "message_copied", thread_id: threadId, message_id: asstMsg });
            tracking.events.track({ kind: "error_shown", props: { reason: "network" } });
            tracking.events.dispose(); // best-effort flush, one attempt
            const call = await spy.waitFor((c) => c.method === "POST" && c.url.endsWith("/v1/events"));
            assert.ok(call.status >= 200 && call.status < 300, `POST /v1/events answered ${call.status}`);
            const sent = JSON.parse(call.body);
            assert.equal(sent.events.length, 3);
          } finally {
            spy.restore();
          }
        }),
      );
    }
  });
}
