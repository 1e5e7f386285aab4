// OTLP traces at POST /v1/traces with the official OpenTelemetry exporters
// (protobuf and JSON, gzip on and off) and assistant-cloud's own exporter;
// the spans become runs of the project read API (spec 4.19, hosted traces page).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { diag, DiagLogLevel, trace, context } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { createAssistantCloudSpanProcessor, createAssistantCloudTraceExporter } from "assistant-cloud-0211/telemetry";
import { startServer, withLogs, apiKeyHeaders, uid } from "./harness.mjs";

let server;
let apiKey;
let proxy;
const L = (fn) => withLogs(() => server, fn);

// The exporters' diagnostics: partial successes are reported here, and so is
// a response the exporter could not decode (a protobuf request answered in JSON).
const warnings = [];
diag.setLogger(
  {
    error: (...args) => warnings.push(args.map(String).join(" ")),
    warn: (...args) => warnings.push(args.map(String).join(" ")),
    info() {},
    debug() {},
    verbose() {},
  },
  DiagLogLevel.WARN,
);

/**
 * A pass-through proxy in front of threadhold that records what the exporter
 * really sent (content type and encoding) and hands back threadhold's answer unchanged.
 */
function recordingProxy(target) {
  const seen = [];
  const proxyServer = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers: req.headers, bytes: body.length });
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([name]) => ["content-type", "content-encoding", "authorization"].includes(name) || name.startsWith("aui-")),
      );
      let answer;
      try {
        answer = await fetch(`${target}${req.url}`, { method: req.method, headers, body });
      } catch (err) {
        seen.at(-1).error = String(err?.cause ?? err);
        res.writeHead(502).end();
        return;
      }
      const payload = Buffer.from(await answer.arrayBuffer());
      seen.at(-1).status = answer.status;
      seen.at(-1).responseType = answer.headers.get("content-type");
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/octet-stream" });
      res.end(payload);
    });
  });
  return new Promise((resolve) => {
    proxyServer.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${proxyServer.address().port}`, seen, close: () => proxyServer.close() });
    });
  });
}

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-traces");
  proxy = await recordingProxy(server.url);
});
after(async () => {
  proxy?.close();
  await server?.stop();
});

/** Finished spans of one AI SDK-like call: a call span, two steps, a tool call and an unrelated HTTP span. */
function makeSpans({ threadId, userId }) {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "compat-api", "service.version": "9.9.9" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("ai");
  // Explicit times (milliseconds apart), so the spans' order is the test's, not the clock's.
  const t0 = Date.now() - 10_000;
  const root = tracer.startSpan("ai.streamText", {
    startTime: t0,
    attributes: {
      "ai.model.id": "gpt-compat",
      "ai.model.provider": "openai.chat",
      "ai.usage.inputTokens": 30,
      "ai.usage.outputTokens": 9,
      "gen_ai.conversation.id": threadId,
      "user.id": userId,
    },
  });
  const inside = trace.setSpan(context.active(), root);
  const step = (tokens, finish, at) =>
    tracer.startSpan(
      "ai.streamText.doStream",
      {
        startTime: t0 + at,
        attributes: {
          "ai.model.id": "gpt-compat",
          "gen_ai.system": "openai.chat",
          "gen_ai.usage.input_tokens": tokens,
          "gen_ai.usage.output_tokens": tokens / 2,
          "ai.response.finishReason": finish,
        },
      },
      inside,
    );
  step(10, "tool-calls", 10).end(t0 + 400);
  const tool = tracer.startSpan(
    "ai.toolCall",
    { startTime: t0 + 400, attributes: { "ai.toolCall.name": "weather", "ai.toolCall.id": "call_1", "ai.toolCall.args": '{"city":"Oslo"}' } },
    inside,
  );
  tool.end(t0 + 500);
  step(20, "stop", 500).end(t0 + 990);
  tracer.startSpan("http.request", { startTime: t0 + 600 }, inside).end(t0 + 700);
  root.end(t0 + 1_000);
  return { spans: memory.getFinishedSpans(), traceId: root.spanContext().traceId };
}

function exportSpans(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

async function projectGet(path) {
  const res = await fetch(`${server.url}${path}`, { headers: apiKeyHeaders({ apiKey, workspaceId: "reader" }) });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res.json();
}

/** The run of a trace, read back through GET /v1/projects/runs and /runs/{id}. */
async function runOfTrace(threadId, traceId) {
  const { runs } = await projectGet(`/v1/projects/runs?thread_id=${threadId}`);
  const run = runs.find((r) => r.trace_id === traceId);
  assert.ok(run, `no run of trace ${traceId} on ${threadId}: ${JSON.stringify(runs)}`);
  return projectGet(`/v1/projects/runs/${run.id}`);
}

async function newThread(workspaceId) {
  const res = await fetch(`${server.url}/v1/threads`, {
    method: "POST",
    headers: apiKeyHeaders({ apiKey, workspaceId }),
    body: JSON.stringify({ last_message_at: new Date().toISOString() }),
  });
  return (await res.json()).thread_id;
}

const EXPORTERS = [
  { name: "exporter-trace-otlp-proto", Exporter: ProtoExporter, contentType: "application/x-protobuf" },
  { name: "exporter-trace-otlp-http", Exporter: JsonExporter, contentType: "application/json" },
];

describe("OpenTelemetry exporters", () => {
  for (const { name, Exporter, contentType } of EXPORTERS) {
    for (const compression of ["none", "gzip"]) {
      test(
        `${name} (compression ${compression}): model spans make a run, the HTTP span is rejected in partialSuccess`,
        L(async () => {
          const workspaceId = uid("ws-trace");
          const threadId = await newThread(workspaceId);
          const { spans, traceId } = makeSpans({ threadId, userId: "alice" });
          const exporter = new Exporter({
            url: `${proxy.url}/v1/traces`,
            headers: { Authorization: `Bearer ${apiKey}` },
            compression,
          });
          warnings.length = 0;
          const sentBefore = proxy.seen.length;
          const result = await exportSpans(exporter, spans);
          await exporter.shutdown();
          assert.equal(result.code, 0, `export failed: ${result.error}`);

          const sent = proxy.seen.slice(sentBefore);
          assert.equal(sent.length, 1);
          assert.equal(sent[0].headers["content-type"], contentType);
          assert.equal(sent[0].headers["content-encoding"], compression === "gzip" ? "gzip" : undefined);
          assert.equal(sent[0].status, 200);
          assert.equal(sent[0].responseType, contentType, "answered in the request's encoding");
          // The exporter decoded threadhold's answer: the partial success, nothing it could not read.
          assert.ok(!warnings.some((w) => w.includes("could not deserialize")), warnings.join("\n"));
          const partial = warnings.find((w) => w.includes("Received Partial Success response"));
          assert.ok(partial, `no partial success reported: ${warnings.join("\n")}`);
          assert.match(partial, /"rejectedSpans":"?1"?/);
          assert.match(partial, /1 spans were rejected/);

          const run = await runOfTrace(threadId, traceId);
          assert.equal(run.workspace_id, workspaceId, "the run joined its thread's workspace");
          assert.equal(run.created_by, "alice");
          assert.equal(run.model_id, "gpt-compat");
          assert.equal(run.service_name, "compat-api");
          assert.equal(run.release, "9.9.9");
          assert.equal(run.input_tokens, 30, "the steps' usage, not the call's total again");
          assert.equal(run.output_tokens, 15);
          assert.equal(run.total_steps, 2);
          assert.equal(run.status, "completed");
          assert.deepEqual(
            run.spans.map((s) => [s.name, s.type, s.step_type]),
            [
              ["ai.streamText", "generation", "initial"],
              ["ai.streamText.doStream", "generation", "continue"],
              ["ai.toolCall", "tool_call", null],
              ["ai.streamText.doStream", "generation", "tool-result"],
            ],
          );
          assert.equal(run.spans[2].input, '{"city":"Oslo"}');
          assert.deepEqual(run.spans.map((s) => s.start_ms), [0, 10, 400, 500]);
          assert.equal(run.duration_ms, 1_000);
          for (const [i, span] of run.spans.entries()) {
            assert.equal(span.span_index, i);
            if (i > 0) assert.ok(span.start_ms >= run.spans[i - 1].start_ms, "ordered by start_ms");
          }
        }),
      );
    }
  }

  test(
    "a re-export is idempotent: the same run, the same spans",
    L(async () => {
      const threadId = await newThread(uid("ws-reexport"));
      const { spans, traceId } = makeSpans({ threadId, userId: "bob" });
      const exporter = new ProtoExporter({ url: `${server.url}/v1/traces`, headers: { Authorization: `Bearer ${apiKey}` } });
      assert.equal((await exportSpans(exporter, spans)).code, 0);
      assert.equal((await exportSpans(exporter, spans)).code, 0);
      await exporter.shutdown();
      const { runs } = await projectGet(`/v1/projects/runs?thread_id=${threadId}`);
      assert.equal(runs.length, 1);
      const run = await runOfTrace(threadId, traceId);
      assert.equal(run.spans.length, 4);
      assert.equal(run.input_tokens, 30);
    }),
  );
});

describe("assistant-cloud/telemetry (createAssistantCloudTraceExporter)", () => {
  test(
    "its span processor forwards the AI spans, which become a run a browser report then joins",
    L(async () => {
      const workspaceId = uid("ws-cloud");
      const threadId = await newThread(workspaceId);
      const exporter = createAssistantCloudTraceExporter({ apiKey, baseUrl: `${proxy.url}/` });
      const processor = createAssistantCloudSpanProcessor(exporter);
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ "service.name": "cloud-exporter" }),
        spanProcessors: [processor, new SimpleSpanProcessor(memory)],
      });
      const tracer = provider.getTracer("ai");
      const root = tracer.startSpan("ai.generateText", {
        attributes: { "ai.model.id": "gpt-cloud", "gen_ai.conversation.id": threadId },
      });
      const inside = trace.setSpan(context.active(), root);
      tracer
        .startSpan("ai.generateText.doGenerate", { attributes: { "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 2 } }, inside)
        .end();
      tracer.startSpan("db.query", {}, inside).end();
      root.end();
      const sentBefore = proxy.seen.length;
      warnings.length = 0;
      await provider.forceFlush();
      assert.equal(memory.getFinishedSpans().length, 3, "three spans ended");
      await provider.shutdown();
      const sent = proxy.seen.slice(sentBefore);
      assert.equal(sent.length, 1);
      assert.equal(sent[0].headers["content-type"], "application/json");
      assert.equal(sent[0].headers.authorization, `Bearer ${apiKey}`);
      assert.equal(sent[0].headers["aui-workspace-id"], undefined, "no Aui headers: the workspace defaults to __OTLP__");
      assert.equal(sent[0].status, 200);
      assert.ok(!warnings.some((w) => w.includes("Partial Success")), "the processor sent only AI spans");
      const traceId = root.spanContext().traceId;
      const run = await runOfTrace(threadId, traceId);
      assert.equal(run.service_name, "cloud-exporter");
      assert.equal(run.model_id, "gpt-cloud");
      assert.equal(run.spans.length, 2);
      assert.equal(run.input_tokens, 5);

      // The browser's report carries the same trace id and lands on this run.
      const res = await fetch(`${server.url}/v1/runs`, {
        method: "POST",
        headers: apiKeyHeaders({ apiKey, workspaceId }),
        body: JSON.stringify({ thread_id: threadId, status: "incomplete", outcome_type: "aborted", trace_id: traceId, first_token_ms: 12 }),
      });
      assert.equal(res.status, 201);
      assert.equal((await res.json()).run_id, run.id);
      const merged = await projectGet(`/v1/projects/runs/${run.id}`);
      assert.equal(merged.outcome_type, "aborted");
      assert.equal(merged.first_token_ms, 12);
      assert.equal(merged.attributes["client.first_token_ms"], 12);
      assert.equal(merged.model_id, "gpt-cloud", "server spans stay authoritative");
    }),
  );
});
