// The OpenAPI document: docs/openapi.json is a valid OpenAPI 3.1 document (by
// @seriousme/openapi-schema-validator), the server serves the same document,
// and every request the official clients make in a representative run is
// described in it (method, path template and the answered status).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { CLIENTS, startServer, withLogs, apiKeyClient, spyFetch, uid, auiUser, auiAssistant, readStreamText } from "./harness.mjs";

const docPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/openapi.json");
let server;
let apiKey;
let doc;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  doc = JSON.parse(await readFile(docPath, "utf8"));
  server = await startServer();
  apiKey = await server.createKey("compat-openapi");
});
after(async () => {
  await server?.stop();
});

/** The document's operation for a concrete method and path, or undefined. */
function operationFor(method, pathname) {
  const segments = pathname.split("/");
  for (const [template, item] of Object.entries(doc.paths)) {
    const parts = template.split("/");
    const last = parts.at(-1);
    // `/files/{key}` style templates: the last parameter may span several segments.
    const spans = template.startsWith("/files/") && /^\{.+\}$/.test(last);
    const fits = spans ? segments.length >= parts.length : segments.length === parts.length;
    if (!fits) continue;
    const same = parts.every((part, i) => (/^\{.+\}$/.test(part) ? segments[i].length > 0 : part === segments[i]));
    if (same && item[method.toLowerCase()]) return { template, operation: item[method.toLowerCase()] };
  }
  return undefined;
}

function describesStatus(operation, status) {
  const codes = Object.keys(operation.responses);
  return codes.includes(String(status)) || codes.includes(`${String(status)[0]}XX`) || codes.includes("default");
}

describe("OpenAPI document", () => {
  test("docs/openapi.json is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(docPath);
    assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, "3.1");
  });

  test(
    "the server serves the committed document as JSON, also under a project",
    L(async () => {
      for (const prefix of ["", "/projects/default"]) {
        const res = await fetch(`${server.url}${prefix}/openapi.json`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type"), /^application\/json/);
        assert.deepEqual(await res.json(), doc);
      }
    }),
  );

  for (const client of CLIENTS) {
    test(
      `every request of ${client.name} is described`,
      L(async () => {
        const spy = spyFetch();
        try {
          const cloud = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-openapi") });
          const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
          await cloud.threads.list();
          await cloud.threads.get(thread_id);
          await cloud.threads.update(thread_id, { title: "Described" });
          const user = await cloud.threads.messages.create(thread_id, { parent_id: null, format: "aui/v0", content: auiUser("hi") });
          const answer = await cloud.threads.messages.create(thread_id, {
            parent_id: user.message_id,
            format: "aui/v0",
            content: auiAssistant("hello"),
          });
          await cloud.threads.messages.list(thread_id);
          await cloud.threads.get("thread_000000000doesnotexist000").catch(() => {});
          if (client.has.feedback) await cloud.threads.messages.feedback(thread_id, answer.message_id, { type: "positive" });
          if (client.has.messageDelete) {
            await cloud.threads.messages.update(thread_id, answer.message_id, { content: auiAssistant("hello again") });
          }
          if (client.has.generateThreadTitle) {
            const stream = await cloud.runs.stream({ thread_id, assistant_id: "system/thread_title", messages: [] });
            await readStreamText(stream);
          }
          await cloud.runs.report({ thread_id, status: "completed" }).catch(() => {});
          if (client.has.scores) await cloud.scores.create({ name: "quality", data_type: "numeric", value: 1, thread_id });
          await cloud.auth.tokens.create();
          const upload = await cloud.files.generatePresignedUploadUrl({ filename: "note.txt" });
          await fetch(upload.signedUrl, { method: "PUT", body: "text", headers: { "Content-Type": "text/plain" } });
          if (cloud.files.generatePresignedDownloadUrl) await cloud.files.generatePresignedDownloadUrl({ key: upload.key });
          if (client.has.messageDelete) await cloud.threads.messages.delete(thread_id, [answer.message_id]);
          await cloud.threads.delete(thread_id);
        } finally {
          spy.restore();
        }
        const ours = spy.calls.filter((call) => call.url.startsWith(server.url) && call.status !== undefined);
        assert.ok(ours.length >= 12, `only ${ours.length} requests recorded`);
        const problems = [];
        for (const call of ours) {
          const { pathname } = new URL(call.url);
          const found = operationFor(call.method, pathname);
          if (!found) problems.push(`${call.method} ${pathname}: no operation`);
          else if (!describesStatus(found.operation, call.status)) {
            problems.push(`${call.method} ${found.template}: status ${call.status} not described`);
          }
        }
        assert.deepEqual(problems, []);
      }),
    );
  }
});
