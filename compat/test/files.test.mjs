// Attachments through the official `assistant-cloud@0.2.11` client (spec 1.7,
// 4.17): presigned upload URLs that PUT to threadhold itself, public URLs that
// serve the stored bytes, presigned download URLs, the size limit, signature
// and expiry checks, workspace isolation, and removal with the thread that
// references a file.
//
// The main server runs with THREADHOLD_ATTACHMENT_MAX_BYTES=1024; the expiry
// check starts a second one with THREADHOLD_ATTACHMENT_URL_TTL_SECS=1.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  expectCloudError,
  auiUser,
  uid,
} from "./harness.mjs";
import { makePng } from "./png.mjs";

const client = CLIENTS.find((c) => c.name === "assistant-cloud@0.2.11");
const MAX_BYTES = 1024;

let server;
let apiKey;
let cloud;
let workspaceId;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer({ env: { THREADHOLD_ATTACHMENT_MAX_BYTES: String(MAX_BYTES) } });
  apiKey = await server.createKey("compat-files");
  workspaceId = uid("ws-files");
  cloud = apiKeyClient(client, server, { apiKey, workspaceId });
});
after(async () => {
  await server?.stop();
});

/** Checks the upload-URL answer (spec 4.17 plus the threadhold URL layout) and returns it. */
function checkUploadAnswer(gen, srv, ttlSecs = 900) {
  assert.equal(gen.success, true, "success");
  for (const k of ["signedUrl", "expiresAt", "publicUrl", "key"]) {
    assert.equal(typeof gen[k], "string", `${k} is a string`);
    assert.ok(gen[k].length > 0, `${k} is not empty`);
  }
  assert.ok(
    gen.signedUrl.startsWith(`${srv.url}/files/upload/`),
    `signedUrl is an absolute PUT target on threadhold: ${gen.signedUrl}`,
  );
  assert.equal(gen.publicUrl, `${srv.url}/files/${gen.key}`, "publicUrl is <server>/files/<key>");
  const expires = Date.parse(gen.expiresAt);
  assert.ok(!Number.isNaN(expires), `expiresAt is a timestamp: ${gen.expiresAt}`);
  const now = Date.now();
  assert.ok(expires > now - 1_000, `expiresAt ${gen.expiresAt} is in the future`);
  assert.ok(expires <= now + ttlSecs * 1000 + 5_000, `expiresAt ${gen.expiresAt} is within the TTL of ${ttlSecs} s`);
  return gen;
}

async function put(signedUrl, body, contentType, extra = {}) {
  return fetch(signedUrl, {
    method: "PUT",
    body,
    headers: contentType === undefined ? {} : { "Content-Type": contentType },
    ...extra,
  });
}

/** Expects a JSON error answer {"error": string, "message": string} with the given status. */
async function expectJsonError(res, status, what) {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: status (body: ${text.slice(0, 300)})`);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: the error body is not JSON: ${text.slice(0, 300)}`);
  }
  assert.equal(typeof body.error, "string", `${what}: "error" code in ${text}`);
  assert.equal(typeof body.message, "string", `${what}: "message" in ${text}`);
  return body;
}

async function expectFile(url, bytes, contentType, what) {
  const res = await fetch(url);
  const got = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `${what}: GET ${url} (body: ${got.toString("utf8").slice(0, 200)})`);
  assert.equal(res.headers.get("content-type")?.split(";")[0].trim().toLowerCase(), contentType, `${what}: content type`);
  assert.deepEqual(got, bytes, `${what}: same bytes`);
}

async function expectGone(url, what) {
  const res = await fetch(url);
  const text = await res.text();
  assert.equal(res.status, 404, `${what}: GET ${url} (body: ${text.slice(0, 200)})`);
}

/** Uploads `bytes` through a fresh presigned URL; returns the upload answer. */
async function upload(c, filename, bytes, contentType) {
  const gen = checkUploadAnswer(await c.files.generatePresignedUploadUrl({ filename }), server);
  const res = await put(gen.signedUrl, bytes, contentType);
  assert.equal(res.status, 200, `PUT ${gen.signedUrl} (body: ${(await res.text()).slice(0, 300)})`);
  return gen;
}

describe(`attachments (${client.name})`, () => {
  test(
    "presigned upload: PUT the bytes to signedUrl, then publicUrl serves the same bytes and content type",
    L(async () => {
      const png = makePng(8);
      const gen = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "pixel.png" }), server);
      await expectGone(gen.publicUrl, "before the upload");

      const res = await put(gen.signedUrl, png, "image/png");
      assert.equal(res.status, 200, `PUT (body: ${(await res.text()).slice(0, 300)})`);
      await expectFile(gen.publicUrl, png, "image/png", "after the upload");

      // Another file type; keys are distinct per upload.
      const text = Buffer.from("plain text attachment\n", "utf8");
      const gen2 = await upload(cloud, "notes.txt", text, "text/plain");
      assert.notEqual(gen2.key, gen.key, "each upload gets its own key");
      await expectFile(gen2.publicUrl, text, "text/plain", "text file");

      await expectGone(`${server.url}/files/${gen.key}x`, "an unknown key");
      // Encoded path traversal never escapes the store.
      for (const p of ["/files/..%2f..%2fdata.db", "/files/attachments/..%2F..%2F..%2Fetc%2Fpasswd", "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd"]) {
        const res = await fetch(`${server.url}${p}`);
        await res.arrayBuffer();
        assert.ok(res.status >= 400 && res.status < 500, `GET ${p} -> ${res.status}`);
      }
    }),
  );

  test(
    "the signed upload URL answers a CORS preflight for PUT (spec 1.7)",
    L(async () => {
      const gen = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "cors.png" }), server);
      const origin = "http://127.0.0.1:1";
      const pre = await fetch(gen.signedUrl, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "PUT",
          "Access-Control-Request-Headers": "content-type",
        },
      });
      assert.ok(pre.status >= 200 && pre.status < 300, `preflight status ${pre.status}`);
      const allowOrigin = pre.headers.get("access-control-allow-origin");
      assert.ok(allowOrigin === "*" || allowOrigin === origin, `Access-Control-Allow-Origin: ${allowOrigin}`);
      const methods = (pre.headers.get("access-control-allow-methods") ?? "").toUpperCase();
      assert.ok(methods === "*" || methods.split(/\s*,\s*/).includes("PUT"), `Access-Control-Allow-Methods: ${methods}`);
      const headers = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      assert.ok(headers === "*" || headers.split(/\s*,\s*/).includes("content-type"), `Access-Control-Allow-Headers: ${headers}`);

      const res = await put(gen.signedUrl, makePng(2), "image/png", { headers: { "Content-Type": "image/png", Origin: origin } });
      assert.equal(res.status, 200);
      const actualOrigin = res.headers.get("access-control-allow-origin");
      assert.ok(actualOrigin === "*" || actualOrigin === origin, `PUT Access-Control-Allow-Origin: ${actualOrigin}`);
    }),
  );

  test(
    "presigned download URLs by key and by publicUrl serve the same bytes",
    L(async () => {
      const bytes = randomBytes(600);
      const gen = await upload(cloud, "blob.bin", bytes, "application/octet-stream");

      const byKey = await cloud.files.generatePresignedDownloadUrl({ key: gen.key });
      assert.equal(byKey.key, gen.key);
      assert.ok(/^https?:\/\//.test(byKey.signedUrl), `signedUrl is absolute: ${byKey.signedUrl}`);
      assert.ok(!Number.isNaN(Date.parse(byKey.expiresAt)), `expiresAt ${byKey.expiresAt}`);
      assert.ok(Date.parse(byKey.expiresAt) > Date.now(), "expiresAt is in the future");
      await expectFile(byKey.signedUrl, bytes, "application/octet-stream", "download by key");

      const byUrl = await cloud.files.generatePresignedDownloadUrl({ url: gen.publicUrl });
      assert.equal(byUrl.key, gen.key, "the url resolves to the same key");
      await expectFile(byUrl.signedUrl, bytes, "application/octet-stream", "download by url");

      await expectCloudError(
        client,
        cloud.files.generatePresignedDownloadUrl({ key: `${gen.key}-missing` }),
        404,
        "download URL for an unknown key",
      );
      // Keys with "..", a leading "/", "?" or "#" are refused (spec 4.17).
      for (const bad of [`../${gen.key}`, `/${gen.key}`, `${gen.key.split("/")[0]}/../${gen.key}`, `${gen.key}?x=1`, `${gen.key}#x`]) {
        await expectCloudError(client, cloud.files.generatePresignedDownloadUrl({ key: bad }), [400, 404], `download key ${JSON.stringify(bad)}`);
      }
    }),
  );

  test(
    "a tampered signed upload URL is refused with 403",
    L(async () => {
      const png = makePng(4);
      const gen = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "t.png" }), server);
      const other = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "u.png" }), server);
      const u = new URL(gen.signedUrl);
      assert.ok([...u.searchParams.keys()].length > 0, `the signed URL carries its signature in the query: ${gen.signedUrl}`);

      // 1. One character of the longest query value (the signature) changed.
      const [sigName, sigValue] = [...u.searchParams.entries()].sort((x, y) => y[1].length - x[1].length)[0];
      const flipped = new URL(u);
      const i = Math.floor(sigValue.length / 2);
      flipped.searchParams.set(sigName, sigValue.slice(0, i) + (sigValue[i] === "A" ? "B" : "A") + sigValue.slice(i + 1));
      await expectJsonError(await put(flipped, png, "image/png"), 403, "changed signature");

      // 2. Every other query value changed (e.g. a pushed-out expiry).
      for (const [name, value] of u.searchParams.entries()) {
        if (name === sigName) continue;
        const changed = new URL(u);
        changed.searchParams.set(name, /^\d+$/.test(value) ? String(BigInt(value) + 3600n) : `${value}x`);
        await expectJsonError(await put(changed, png, "image/png"), 403, `changed query parameter ${name}`);
      }

      // 3. The signature of one upload on another upload's path.
      const swapped = new URL(other.signedUrl);
      swapped.search = u.search;
      await expectJsonError(await put(swapped, png, "image/png"), 403, "another key's signature");

      // 4. No signature at all.
      const bare = new URL(u);
      bare.search = "";
      await expectJsonError(await put(bare, png, "image/png"), 403, "no query string");

      await expectGone(gen.publicUrl, "nothing stored by refused uploads");
      await expectGone(other.publicUrl, "nothing stored under the other key");

      // The untouched URL still works.
      const ok = await put(gen.signedUrl, png, "image/png");
      assert.equal(ok.status, 200);
      await expectFile(gen.publicUrl, png, "image/png", "the genuine upload");
    }),
  );

  test(
    "an expired signed upload URL is refused with 403 (THREADHOLD_ATTACHMENT_URL_TTL_SECS=1)",
    L(async () => {
      const short = await startServer({ env: { THREADHOLD_ATTACHMENT_URL_TTL_SECS: "1" } });
      try {
        const key = await short.createKey("compat-files-ttl");
        const c = apiKeyClient(client, short, { apiKey: key, workspaceId: uid("ws-ttl") });
        const gen = checkUploadAnswer(await c.files.generatePresignedUploadUrl({ filename: "late.png" }), short, 1);
        await new Promise((r) => setTimeout(r, 2_500));
        const res = await put(gen.signedUrl, makePng(2), "image/png");
        await expectJsonError(res, 403, "expired upload URL");
        const got = await fetch(gen.publicUrl);
        await got.arrayBuffer();
        assert.equal(got.status, 404, "nothing stored by the expired upload");
      } catch (err) {
        console.error(`----- short-TTL server log -----\n${short.logs().split("\n").slice(-40).join("\n")}`);
        throw err;
      } finally {
        await short.stop();
      }
    }),
  );

  test(
    `an upload over THREADHOLD_ATTACHMENT_MAX_BYTES (${MAX_BYTES}) is refused with 413 and leaves nothing fetchable`,
    L(async () => {
      // Exactly the limit is fine.
      const atLimit = randomBytes(MAX_BYTES);
      const okGen = await upload(cloud, "limit.bin", atLimit, "application/octet-stream");
      await expectFile(okGen.publicUrl, atLimit, "application/octet-stream", "an upload of exactly the limit");

      // One byte more, with a Content-Length.
      const gen = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "big.bin" }), server);
      await expectJsonError(await put(gen.signedUrl, randomBytes(MAX_BYTES + 1), "application/octet-stream"), 413, "limit + 1 byte");
      await expectGone(gen.publicUrl, "after the refused upload");

      // Twice the limit, chunked (no Content-Length to go by). Sent as one
      // chunk: a server may answer 413 and close before reading a slow body,
      // which would turn into EPIPE on the client side instead of a response.
      const gen2 = checkUploadAnswer(await cloud.files.generatePresignedUploadUrl({ filename: "big2.bin" }), server);
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue(new Uint8Array(randomBytes(MAX_BYTES * 2)));
          controller.close();
        },
      });
      const res = await put(gen2.signedUrl, stream, "application/octet-stream", { duplex: "half" });
      await expectJsonError(res, 413, "chunked upload over the limit");
      await expectGone(gen2.publicUrl, "after the refused chunked upload");
    }),
  );

  test(
    "another workspace asking for a download URL of this workspace's file gets 404",
    L(async () => {
      const bytes = Buffer.from("workspace one only", "utf8");
      const gen = await upload(cloud, "private.txt", bytes, "text/plain");
      const intruder = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-files-other") });
      await expectCloudError(client, intruder.files.generatePresignedDownloadUrl({ key: gen.key }), 404, "other workspace, by key");
      await expectCloudError(
        client,
        intruder.files.generatePresignedDownloadUrl({ url: gen.publicUrl }),
        404,
        "other workspace, by url",
      );
      // The owner still can.
      const own = await cloud.files.generatePresignedDownloadUrl({ key: gen.key });
      await expectFile(own.signedUrl, bytes, "text/plain", "owner's download");
    }),
  );

  test(
    "deleting the thread whose message references a file makes the file 404",
    L(async () => {
      const png = makePng(8);
      const text = Buffer.from("attached notes", "utf8");
      const inContent = await upload(cloud, "in-content.png", png, "image/png");
      const inAttachment = await upload(cloud, "notes.txt", text, "text/plain");
      const kept = await upload(cloud, "kept.png", png, "image/png");

      // (a) an image part in the message content (spec 5.4);
      const { thread_id: t1 } = await cloud.threads.create({ last_message_at: new Date(), title: "with an image" });
      const m1 = auiUser("look at this");
      m1.content.push({ type: "image", image: inContent.publicUrl });
      await cloud.threads.messages.create(t1, { parent_id: null, format: "aui/v0", content: m1 });

      // (b) the shape @assistant-ui/react stores: the URL inside attachments[].content[].
      const { thread_id: t2 } = await cloud.threads.create({ last_message_at: new Date(), title: "with an attachment" });
      const m2 = auiUser("see the notes", {
        attachments: [
          {
            id: "att-notes",
            type: "document",
            name: "notes.txt",
            contentType: "text/plain",
            status: { type: "complete" },
            content: [{ type: "file", data: inAttachment.publicUrl, mimeType: "text/plain", filename: "notes.txt" }],
          },
        ],
      });
      await cloud.threads.messages.create(t2, { parent_id: null, format: "aui/v0", content: m2 });

      // (c) a thread that stays.
      const { thread_id: t3 } = await cloud.threads.create({ last_message_at: new Date(), title: "kept" });
      const m3 = auiUser("keep this one");
      m3.content.push({ type: "image", image: kept.publicUrl });
      await cloud.threads.messages.create(t3, { parent_id: null, format: "aui/v0", content: m3 });

      await expectFile(inContent.publicUrl, png, "image/png", "(a) before the delete");
      await expectFile(inAttachment.publicUrl, text, "text/plain", "(b) before the delete");
      const signedBefore = await cloud.files.generatePresignedDownloadUrl({ key: inContent.key });

      await cloud.threads.delete(t1);
      await expectGone(inContent.publicUrl, "(a) image part, after its thread was deleted");
      await expectGone(signedBefore.signedUrl, "(a) a signed download URL minted before the delete");
      await expectCloudError(
        client,
        cloud.files.generatePresignedDownloadUrl({ key: inContent.key }),
        404,
        "(a) download URL after the delete",
      );
      await cloud.threads.delete(t2);
      await expectGone(inAttachment.publicUrl, "(b) attachment as React stores it, after its thread was deleted");

      await expectFile(kept.publicUrl, png, "image/png", "(c) a file of a thread that was not deleted");
      const stillThere = await cloud.threads.messages.list(t3);
      assert.equal(stillThere.messages.length, 1);
    }),
  );
});
