// MCP at POST /v1/mcp with the official TypeScript client (@modelcontextprotocol/sdk):
// Streamable HTTP, stateless with JSON answers, API keys only (hosted api/mcp page).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as cloud0211 from "assistant-cloud-0211";
import { startServer, withLogs, uid, auiUser, auiAssistant } from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-mcp");
});
after(async () => {
  await server?.stop();
});

/** An MCP client connected to threadhold with a bearer credential and a workspace header. */
async function connect(bearer, workspaceId = "mcp-client") {
  const client = new Client({ name: "threadhold-compat", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/v1/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}`, "Aui-Workspace-Id": workspaceId } },
  });
  await client.connect(transport);
  return client;
}

/** Calls a tool and parses its JSON text content. */
async function call(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  assert.equal(result.content.length, 1, JSON.stringify(result));
  assert.equal(result.content[0].type, "text");
  return { isError: result.isError === true, body: JSON.parse(result.content[0].text) };
}

describe("MCP with @modelcontextprotocol/sdk", () => {
  let cloud;
  let workspaceId;
  let threadId;
  let runId;

  before(async () => {
    workspaceId = uid("ws-mcp");
    cloud = new cloud0211.AssistantCloud({ apiKey, userId: "alice", workspaceId, baseUrl: server.url, telemetry: false });
    threadId = (await cloud.threads.create({ last_message_at: new Date(), title: "Sourdough" })).thread_id;
    const user = await cloud.threads.messages.create(threadId, { parent_id: null, format: "aui/v0", content: auiUser("How do I feed a sourdough starter?") });
    await cloud.threads.messages.create(threadId, { parent_id: user.message_id, format: "aui/v0", content: auiAssistant("Feed it flour and water daily.") });
    runId = (await cloud.runs.report({ thread_id: threadId, status: "completed", model_id: "gpt-mcp", input_tokens: 12, output_tokens: 3 })).run_id;
    await cloud.scores.create({ name: "helpful", data_type: "boolean", value: true, thread_id: threadId });
  });

  test(
    "initialize, list the tools and call each of them",
    L(async () => {
      const client = await connect(apiKey);
      try {
        assert.equal(client.getServerVersion().name, "threadhold");
        assert.ok(client.getServerCapabilities().tools);
        const { tools } = await client.listTools();
        const names = tools.map((t) => t.name).sort();
        assert.deepEqual(names, [
          "get_run",
          "get_thread_messages",
          "list_runs",
          "list_scores",
          "list_threads",
          "search_threads",
          "usage_daily",
          "usage_period",
        ]);
        assert.ok(tools.every((t) => t.annotations?.readOnlyHint === true && t.inputSchema.type === "object"));

        const runs = await call(client, "list_runs", { limit: 10 });
        assert.equal(runs.isError, false);
        assert.ok(Object.hasOwn(runs.body, "next_cursor"));
        const run = runs.body.runs.find((r) => r.id === runId);
        assert.equal(run.model_id, "gpt-mcp");
        assert.equal(run.created_by, "alice");

        const detail = await call(client, "get_run", { run_id: runId });
        assert.equal(detail.body.id, runId);
        assert.deepEqual(detail.body.spans, []);

        const scores = await call(client, "list_scores", { thread_id: threadId });
        assert.equal(scores.body.scores.length, 1);
        assert.equal(scores.body.scores[0].name, "helpful");
        assert.equal(scores.body.scores[0].value, 1);
        assert.equal(scores.body.scores[0].source, "api");

        const threads = await call(client, "list_threads", { created_by: workspaceId });
        assert.deepEqual(threads.body.threads.map((t) => t.title), ["Sourdough"]);
        assert.equal(threads.body.next_cursor, null);

        const messages = await call(client, "get_thread_messages", { thread_id: threadId, format: "ai-sdk/v6" });
        assert.equal(messages.body.thread.id, threadId);
        assert.equal(messages.body.messages.length, 2);
        assert.ok(messages.body.messages.every((m) => m.format === "ai-sdk/v6"));

        const found = await call(client, "search_threads", { query: "starter", workspace_id: workspaceId });
        assert.equal(found.body.results[0].thread.id, threadId);
        assert.match(found.body.results[0].snippet, /starter/);

        const daily = await call(client, "usage_daily", {});
        assert.equal(daily.body.days.length, 30);
        assert.ok(daily.body.days.at(-1).runs >= 1);
        const byModel = await call(client, "usage_daily", { group_by: "model" });
        assert.ok(byModel.body.days.some((d) => d.model_id === "gpt-mcp"));

        const period = await call(client, "usage_period");
        assert.equal(period.body.plan, "self-hosted");
        assert.equal(period.body.cap, null);
      } finally {
        await client.close();
      }
    }),
  );

  test(
    "cursor pages and refused arguments",
    L(async () => {
      for (let i = 0; i < 3; i++) {
        await cloud.runs.report({ thread_id: threadId, status: "error", model_id: `page-${i}` });
      }
      const client = await connect(apiKey);
      try {
        const seen = [];
        let cursor;
        do {
          const page = await call(client, "list_runs", { thread_id: threadId, limit: 2, ...(cursor ? { cursor } : {}) });
          seen.push(...page.body.runs.map((r) => r.id));
          cursor = page.body.next_cursor;
        } while (cursor);
        assert.equal(seen.length, 4);
        assert.equal(new Set(seen).size, 4);

        assert.deepEqual(await call(client, "list_runs", { cursor: "not-a-cursor" }), { isError: true, body: { error: "Invalid run cursor" } });
        assert.deepEqual(await call(client, "get_run", { run_id: "run_missing" }), { isError: true, body: { error: "Run not found" } });
        assert.deepEqual(await call(client, "get_thread_messages", { thread_id: "thread_missing" }), { isError: true, body: { error: "Thread not found" } });
        assert.deepEqual(await call(client, "usage_daily", { from: "2026-02-30" }), { isError: true, body: { error: "Invalid usage day range" } });
        assert.equal((await call(client, "list_scores", { limit: 500 })).isError, true);
      } finally {
        await client.close();
      }
    }),
  );

  test(
    "a credential that is not an API key is refused",
    L(async () => {
      const { token } = await cloud.auth.tokens.create();
      await assert.rejects(connect(token), (err) => {
        assert.match(String(err?.message), /403|api_key_required/, String(err));
        return true;
      });
      await assert.rejects(connect("sk_aui_proj_default_0000000000000000000000000000"), /403|invalid_api_key/);
    }),
  );
});
