// The real `@assistant-ui/react` runtime in a real browser against threadhold
// (spec 4.12 with its "Update" note, 4.17, 5.1-5.4).
//
// test/fixtures/react-app.jsx is bundled by esbuild (JSX through esbuild's own
// loader) with @assistant-ui/react 0.15.22 and @assistant-ui/core 0.3.35 (the
// versions pinned in package.json). It is a minimal chat made of the library's
// primitives on `useLocalRuntime(fakeModel, { cloud })` with an anonymous
// `AssistantCloud`, so everything the server sees comes from the library's own
// cloud thread list, history adapter, run-lease tracker and
// CloudFileAttachmentAdapter. The model is fake and streams a reply slowly;
// `window.replyControl` holds a reply open while the test looks at another tab.
//
// Chromium is launched exactly as in test/browser.test.mjs (Debian's
// /usr/bin/chromium through playwright-core, never a downloaded browser), and
// the page comes from a Node http server on another origin than threadhold.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  appHtml,
  browserSession,
  bundle,
  closePageServer,
  inPage,
  openPage as openTab,
  originOf,
  reloadPage,
  sendFromComposer,
  serverErrors,
  startPageServer,
  waitUntil,
} from "./chromium.mjs";
import { startServer, withLogs } from "./harness.mjs";
import { makePng } from "./png.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const APP_ENTRY = path.join(here, "fixtures", "react-app.jsx");

let server;
let pageServer;
let pageOrigin;
const session = browserSession();
const L = (fn) => withLogs(() => server, fn);

const openPage = (context, name) => openTab(context, `${pageOrigin}/?server=${encodeURIComponent(server.url)}`, name);

/** The rendered assistant messages of a page (data attributes set from the message state). */
const assistantDom = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('[data-role="assistant"]')].map((el) => ({
      status: el.dataset.status,
      runState: el.dataset.runState,
      text: el.querySelector(".parts")?.textContent ?? "",
      error: el.querySelector(".error")?.textContent ?? null,
    })),
  );

const userDom = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('[data-role="user"]')].map((el) => ({
      text: el.querySelector(".parts")?.textContent ?? "",
      images: [...el.querySelectorAll("img")].map((img) => ({
        src: img.getAttribute("src"),
        complete: img.complete,
        width: img.naturalWidth,
        height: img.naturalHeight,
      })),
    })),
  );

// The fake model's reply to `prompt` once it finished (see react-app.jsx).
const finalReply = (prompt) => `Echo: ${prompt}. One, two, three, four. Done.`;

// ---------------------------------------------------------------------------

before(async () => {
  server = await startServer({
    env: { THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "1000", THREADHOLD_ANONYMOUS_REFRESHES_PER_MINUTE: "1000" },
  });
  pageServer = await startPageServer({
    "/": appHtml("threadhold compat: @assistant-ui/react"),
    "/app.js": await bundle({ entry: APP_ENTRY }),
  });
  pageOrigin = originOf(pageServer);
  assert.notEqual(new URL(pageOrigin).origin, new URL(server.url).origin, "page and API are different origins");
});

after(async () => {
  await session.close();
  await closePageServer(pageServer);
  await server?.stop();
});

describe("@assistant-ui/react 0.15.22 (core 0.3.35) with cloud persistence in Chromium", () => {
  test(
    "run leases: a second tab shows the reply as running in another tab, then settles; a reload shows the final reply",
    L(async () => {
      const context = await session.newContext();
      const a = await openPage(context, "A");
      const prompt = "lease check";
      const expected = finalReply(prompt);

      // Tab A sends; its reply is held open after the streamed chunks.
      await inPage(a, () => {
        window.replyControl.hold = true;
        window.replyControl.chunkDelayMs = 300;
      });
      await sendFromComposer(a, prompt);

      const remoteId = await waitUntil(
        "tab A's thread to get its remote id",
        () => a.evaluate(() => window.mainRemoteId()),
        (id) => typeof id === "string" && id.length > 0,
        { pages: [a] },
      );

      // The runtime stores the running assistant message with `open_run: true`
      // and the server lists it with a running lease.
      const runningRows = await waitUntil(
        "the server to list the assistant message with run.status 'running'",
        () => a.evaluate((id) => window.storedRows(id), remoteId),
        (rows) => rows.some((r) => r.content?.role === "assistant" && r.run?.status === "running"),
        { pages: [a] },
      );
      const runningRow = runningRows.find((r) => r.content?.role === "assistant");
      assert.equal(typeof runningRow.run.last_heartbeat_ms_ago, "number");
      const calls = await a.evaluate(() => window.calls());
      const openRun = calls.find((c) => c.method === "POST" && c.path.endsWith("/messages") && c.body?.open_run === true);
      assert.ok(openRun, "the runtime opened a lease with open_run: true");
      assert.ok(openRun.status === 200 || openRun.status === 201, `open_run create answered ${openRun.status}`);
      const aNow = await assistantDom(a);
      assert.equal(aNow.length, 1);
      assert.equal(aNow[0].status, "running", "tab A still streams");

      // Tab B: same context, so same localStorage, so the same anonymous identity.
      const b = await openPage(context, "B");
      await inPage(b, (id) => window.openThread(id), remoteId);
      const bRunning = await waitUntil(
        "tab B to show the assistant message as running in another tab",
        () => assistantDom(b),
        (msgs) => msgs.length === 1 && msgs[0].runState === "in-progress",
        { pages: [a, b] },
      );
      assert.equal(bRunning[0].error, "Running in another tab…", "the runtime's remote-run message is shown");
      assert.ok(!bRunning[0].text.includes("Done."), `tab B must not show a finished reply yet: ${bRunning[0].text}`);
      const bUsers = await userDom(b);
      assert.deepEqual(bUsers.map((u) => u.text), [prompt], "tab B shows tab A's user message");

      // Let tab A finish.
      await inPage(a, () => {
        window.replyControl.hold = false;
      });
      await waitUntil(
        "tab A to finish its reply",
        () => assistantDom(a),
        (msgs) => msgs.length === 1 && msgs[0].status === "complete" && msgs[0].text === expected,
        { pages: [a] },
      );

      // The settled write lands as the lease holder and ends the lease.
      const endedRows = await waitUntil(
        "the server to list the final reply with run.status 'ended'",
        () => a.evaluate((id) => window.storedRows(id), remoteId),
        (rows) =>
          rows.some(
            (r) =>
              r.content?.role === "assistant" &&
              r.run?.status === "ended" &&
              (r.content.content ?? []).some((p) => p.type === "text" && p.text === expected),
          ),
        { pages: [a] },
      );
      assert.equal(endedRows.filter((r) => r.content?.role === "assistant").length, 1, "one assistant row");
      const aCalls = await a.evaluate(() => window.calls());
      assert.ok(
        aCalls.some((c) => c.method === "PUT" && typeof c.body?.lease_id === "string" && c.status === 200),
        "the final write was a PUT with lease_id",
      );
      assert.ok(
        aCalls.some((c) => c.method === "POST" && /\/runs\/[^/]+\/end$/.test(c.path) && c.status < 300),
        "the run was ended",
      );

      // Tab B polls (every 2-10 s) and settles on the stored reply.
      await waitUntil(
        "tab B to settle and show the final reply",
        () => assistantDom(b),
        (msgs) => msgs.length === 1 && msgs[0].runState === "" && msgs[0].text === expected && msgs[0].error === null,
        { timeoutMs: 20_000, pages: [a, b] },
      );

      // After a reload, tab A shows the final reply (not blank).
      await reloadPage(a);
      await inPage(a, (id) => window.openThread(id), remoteId);
      const reloaded = await waitUntil(
        "reloaded tab A to show the final reply",
        () => assistantDom(a),
        (msgs) => msgs.length === 1 && msgs[0].text === expected,
        { pages: [a] },
      );
      assert.equal(reloaded[0].runState, "", "no run state after the run ended");
      assert.equal(reloaded[0].error, null);
      assert.notEqual(reloaded[0].status, "running");
      assert.deepEqual((await userDom(a)).map((u) => u.text), [prompt]);

      for (const p of [a, b]) {
        assert.deepEqual(await serverErrors(p), [], `5xx answers seen by tab ${p.tabName}`);
      }
      await Promise.all([a.close(), b.close()]);
    }),
  );

  test(
    "attachments: an image added in the composer is uploaded through the presigned URL and still shown after a reload",
    L(async () => {
      const context = await session.newContext();
      const page = await openPage(context, "attach");
      await inPage(page, () => {
        window.replyControl.chunkDelayMs = 50;
      });
      const png = makePng(8);
      const prompt = "what is in this picture?";

      // Through the library's ComposerPrimitive.AddAttachment (a file chooser).
      const [chooser] = await Promise.all([
        page.waitForEvent("filechooser", { timeout: 5_000 }),
        page.click('[data-testid="add-attachment"]', { timeout: 5_000 }),
      ]);
      await chooser.setFiles({ name: "pixel.png", mimeType: "image/png", buffer: png });
      const [att] = await waitUntil(
        "the composer attachment to finish uploading",
        () =>
          page.evaluate(() =>
            [...document.querySelectorAll(".composer-attachment")].map((el) => ({
              name: el.dataset.name,
              status: el.dataset.status,
              error: el.dataset.error,
            })),
          ),
        (list) => list.length === 1 && list[0].status !== "running",
        { pages: [page] },
      );
      assert.equal(att.status, "requires-action", `upload state ${att.status}: ${att.error}`);

      // The adapter asked for a presigned URL and PUT the bytes there (CORS).
      const calls = await page.evaluate(() => window.calls());
      const gen = calls.find((c) => c.path === "/v1/files/attachments/generate-presigned-upload-url");
      assert.ok(gen, "generate-presigned-upload-url was called");
      assert.equal(gen.status, 201);
      assert.deepEqual(gen.body, { filename: "pixel.png" });
      const put = calls.find((c) => c.method === "PUT" && c.path.startsWith("/files/upload/"));
      assert.ok(put, `the file was PUT to the signed URL: ${JSON.stringify(calls.map((c) => `${c.method} ${c.path}`))}`);
      assert.equal(put.status, 200);
      assert.equal(new URL(put.url).origin, new URL(server.url).origin, "the signed URL is on threadhold");

      await sendFromComposer(page, prompt);
      await waitUntil(
        "the reply to finish",
        () => assistantDom(page),
        (msgs) => msgs.length === 1 && msgs[0].status === "complete" && msgs[0].text === finalReply(prompt),
        { pages: [page] },
      );
      const remoteId = await page.evaluate(() => window.mainRemoteId());
      assert.ok(remoteId, "the thread has a remote id");

      // The rendered image is the server's publicUrl, loaded by the browser.
      const users = await waitUntil(
        "the sent user message to show the image",
        () => userDom(page),
        (u) => u.length === 1 && u[0].images.length === 1 && u[0].images[0].complete && u[0].images[0].width > 0,
        { pages: [page] },
      );
      const publicUrl = users[0].images[0].src;
      assert.ok(
        publicUrl.startsWith(`${server.url}/files/`),
        `the image src is the server's publicUrl (${publicUrl})`,
      );
      assert.deepEqual([users[0].images[0].width, users[0].images[0].height], [8, 8], "the browser decoded the 8x8 PNG");

      // Stored as the library stores it: attachments[].content[] of the user row.
      const rows = await waitUntil(
        "the server to hold the user message with the attachment and the final reply",
        () => page.evaluate((id) => window.storedRows(id), remoteId),
        (r) =>
          r.some((row) => row.content?.role === "user" && (row.content.attachments ?? []).length === 1) &&
          r.some(
            (row) =>
              row.content?.role === "assistant" &&
              row.run?.status !== "running" &&
              (row.content.content ?? []).some((p) => p.type === "text" && p.text === finalReply(prompt)),
          ),
        { pages: [page] },
      );
      const userRow = rows.find((row) => row.content?.role === "user");
      const storedAttachment = userRow.content.attachments[0];
      assert.equal(storedAttachment.name, "pixel.png");
      assert.equal(storedAttachment.contentType, "image/png");
      assert.deepEqual(storedAttachment.content, [{ type: "image", image: publicUrl, filename: "pixel.png" }]);

      // The publicUrl serves the same bytes with the uploaded content type.
      const res = await fetch(publicUrl);
      assert.equal(res.status, 200, `GET ${publicUrl}`);
      assert.equal(res.headers.get("content-type")?.split(";")[0].trim(), "image/png");
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), png, "same bytes");

      // After a reload the image is still shown.
      await reloadPage(page);
      await inPage(page, (id) => window.openThread(id), remoteId);
      const after = await waitUntil(
        "the reloaded thread to show the image again",
        () => userDom(page),
        (u) => u.length === 1 && u[0].images.length === 1 && u[0].images[0].complete && u[0].images[0].width > 0,
        { pages: [page] },
      );
      assert.equal(after[0].images[0].src, publicUrl);
      assert.equal(after[0].text, prompt);
      assert.deepEqual([after[0].images[0].width, after[0].images[0].height], [8, 8]);
      const reply = await assistantDom(page);
      assert.equal(reply.length, 1);
      assert.equal(reply[0].text, finalReply(prompt));

      assert.deepEqual(await serverErrors(page), [], "5xx answers");
      await page.close();
    }),
  );
});
