// Anonymous mode in a real browser (spec 1.7, 2.4): Debian's Chromium, driven
// by playwright-core, loads a page from a small Node http server on another
// origin than threadhold (so CORS preflights happen for real). The page script
// is `assistant-cloud@0.2.11` bundled by esbuild; it keeps its refresh record
// in the browser's real localStorage and serialises token acquisitions across
// tabs with Web Locks.
//
// Needs /usr/bin/chromium (Debian package `chromium`); the test never downloads
// a browser and fails (does not skip) when it is missing.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  appHtml,
  browserSession,
  bundle,
  closePageServer,
  inPage,
  openPage as openTab,
  originOf,
  reloadPage,
  startPageServer,
} from "./chromium.mjs";
import { startServer, withLogs, jwtPayload, refreshTokenKey } from "./harness.mjs";

// The page script: an anonymous AssistantCloud for the server named in
// ?server=…, a fetch wrapper that records what the client sends, and helpers.
const PAGE_SCRIPT = String.raw`
import { AssistantCloud, readAnonymousRefreshToken } from "assistant-cloud-0211";

const baseUrl = new URLSearchParams(location.search).get("server");
const calls = [];
const realFetch = window.fetch.bind(window);
window.fetch = async (input, init = {}) => {
  const url = String(input instanceof Request ? input.url : input);
  const headers = new Headers(init.headers || {});
  const entry = { method: init.method || "GET", path: new URL(url).pathname, auth: headers.get("authorization"), status: null, error: null };
  calls.push(entry);
  try {
    const res = await realFetch(input, init);
    entry.status = res.status;
    return res;
  } catch (err) {
    entry.error = String(err);
    throw err;
  }
};

const jwtSub = (token) => {
  const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(b64 + "===".slice((b64.length + 3) % 4))).sub;
};

const cloud = new AssistantCloud({ baseUrl, anonymous: true, telemetry: false });

window.createThread = async (title) =>
  (await cloud.threads.create({ last_message_at: new Date(), title })).thread_id;
window.listThreads = async () =>
  (await cloud.threads.list()).threads.map((t) => ({ id: t.id, title: t.title, workspace_id: t.workspace_id }));
// The access tokens the client sent on API calls (server-issued JWTs).
window.sentTokens = () =>
  [...new Set(calls.filter((c) => c.path.startsWith("/v1/threads") && c.auth).map((c) => c.auth.slice(7)))];
window.sentSubs = () => [...new Set(window.sentTokens().map(jwtSub))];
window.calls = () => calls.map((c) => ({ ...c }));
window.refreshToken = () => readAnonymousRefreshToken(baseUrl);
window.storedRecord = () => localStorage.getItem("aui:refresh_token:" + baseUrl);
window.pageReady = true;
`;

let server;
let pageServer;
let pageOrigin;
const session = browserSession();
const L = (fn) => withLogs(() => server, fn);

const openPage = (context) => openTab(context, `${pageOrigin}/?server=${encodeURIComponent(server.url)}`);

const callsTo = (calls, p) => calls.filter((c) => c.path === p);

before(async () => {
  server = await startServer({
    env: { THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "1000", THREADHOLD_ANONYMOUS_REFRESHES_PER_MINUTE: "1000" },
  });
  pageServer = await startPageServer({ "/": appHtml("threadhold compat"), "/app.js": await bundle({ stdin: PAGE_SCRIPT }) });
  pageOrigin = originOf(pageServer);
});

after(async () => {
  await session.close();
  await closePageServer(pageServer);
  await server?.stop();
});

describe("anonymous mode in Chromium (assistant-cloud@0.2.11, cross-origin page)", () => {
  test(
    "a thread created anonymously is still listed after a reload (identity kept in localStorage)",
    L(async () => {
      const context = await session.newContext();
      const page = await openPage(context);
      assert.notEqual(new URL(pageOrigin).origin, new URL(server.url).origin, "page and API are different origins");

      const threadId = await inPage(page, (t) => window.createThread(t), "made in the browser");
      const before = await inPage(page, () => window.listThreads());
      assert.deepEqual(before.map((t) => t.id), [threadId]);
      const [subBefore] = await inPage(page, () => window.sentSubs());
      assert.ok(subBefore?.startsWith("usr_anon_"), `sub ${subBefore}`);
      assert.equal(before[0].workspace_id, subBefore);
      const callsBefore = await inPage(page, () => window.calls());
      assert.equal(callsTo(callsBefore, "/v1/auth/tokens/anonymous").length, 1);
      const stored = await inPage(page, () => window.storedRecord());
      assert.ok(stored, "refresh record in the browser's localStorage");
      assert.deepEqual(Object.keys(JSON.parse(stored)).sort(), ["expires_at", "token"]);
      assert.ok(
        (await page.evaluate((k) => localStorage.getItem(k), refreshTokenKey(server.url))) !== null,
        "stored under aui:refresh_token:<baseUrl>",
      );

      await reloadPage(page);
      const afterReload = await inPage(page, () => window.listThreads());
      assert.deepEqual(afterReload.map((t) => t.id), [threadId], "the thread is still listed after the reload");
      const calls = await inPage(page, () => window.calls());
      assert.equal(callsTo(calls, "/v1/auth/tokens/anonymous").length, 0, "no new identity after the reload");
      const refreshes = callsTo(calls, "/v1/auth/tokens/refresh");
      assert.equal(refreshes.length, 1, "the reloaded page refreshed the stored record (a CORS-preflighted call)");
      assert.equal(refreshes[0].status, 200);
      assert.deepEqual(await inPage(page, () => window.sentSubs()), [subBefore], "same identity");
      await page.close();
    }),
  );

  test(
    "two tabs that start at once end up with one identity (Web Locks)",
    L(async () => {
      const context = await session.newContext();
      const [a, b] = await Promise.all([openPage(context), openPage(context)]);
      const hasLocks = await a.evaluate(() => typeof navigator.locks?.request === "function");
      assert.ok(hasLocks, "the browser has navigator.locks");

      // Both tabs call the API immediately, at the same time.
      const [ta, tb] = await Promise.all([
        inPage(a, () => window.createThread("tab A")),
        inPage(b, () => window.createThread("tab B")),
      ]);

      const [listA, listB] = await Promise.all([inPage(a, () => window.listThreads()), inPage(b, () => window.listThreads())]);
      assert.deepEqual(listA.map((t) => t.id).sort(), [ta, tb].sort(), "tab A lists both tabs' threads");
      assert.deepEqual(listB.map((t) => t.id).sort(), [ta, tb].sort(), "tab B lists both tabs' threads");

      const [subsA, subsB] = await Promise.all([inPage(a, () => window.sentSubs()), inPage(b, () => window.sentSubs())]);
      assert.equal(subsA.length, 1);
      assert.deepEqual(subsB, subsA, "both tabs use the same JWT sub");
      const [tokA] = await inPage(a, () => window.sentTokens());
      assert.equal(jwtPayload(tokA).workspace_id, subsA[0]);

      const [callsA, callsB] = await Promise.all([inPage(a, () => window.calls()), inPage(b, () => window.calls())]);
      const mints = callsTo(callsA, "/v1/auth/tokens/anonymous").length + callsTo(callsB, "/v1/auth/tokens/anonymous").length;
      assert.equal(mints, 1, "exactly one mint across the two tabs; the other tab refreshed the shared record");
      for (const c of [...callsA, ...callsB]) {
        assert.ok(c.status >= 200 && c.status < 300, `${c.method} ${c.path} -> ${c.status ?? c.error}`);
      }
      await Promise.all([a.close(), b.close()]);
    }),
  );
});
