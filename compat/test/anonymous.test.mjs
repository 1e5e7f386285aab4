// Anonymous mode (spec 1.7, 2.1, 2.2, 2.4, 2.6, 4.6): the official clients'
// `{ baseUrl, anonymous: true }` strategy against threadhold's
// POST /v1/auth/tokens/anonymous, POST /v1/auth/tokens/refresh (rotating
// refresh tokens with a reuse grace window), POST /v1/threads/claim, the
// `threadhold anonymous disable|enable` switch and the per-IP rate limits.
//
// The clients keep their refresh record in localStorage; Node has none, so each
// test installs a fresh Map-backed shim on globalThis (harness.installLocalStorage).
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CLIENTS,
  startServer,
  runCli,
  withLogs,
  apiKeyClient,
  expectCloudError,
  jwtPayload,
  spyFetch,
  uid,
  auiUser,
  auiAssistant,
  installLocalStorage,
  uninstallLocalStorage,
  refreshTokenKey,
} from "./harness.mjs";

const ANON_PATH = "/v1/auth/tokens/anonymous";
const REFRESH_PATH = "/v1/auth/tokens/refresh";
// The per-IP mint limit defaults to 30/minute and every test here comes from
// 127.0.0.1, so servers that are not about rate limits get a roomy one.
const ROOMY_LIMITS = {
  THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "1000",
  THREADHOLD_ANONYMOUS_REFRESHES_PER_MINUTE: "1000",
};

// fetch as it was before any spy, for raw wire checks.
const realFetch = globalThis.fetch;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server; // default settings
let apiKey;
let current; // the server the running test talks to (for withLogs)
const L = (fn) => withLogs(() => current ?? server, fn);

before(async () => {
  server = await startServer({ env: ROOMY_LIMITS });
  apiKey = await server.createKey("compat-anonymous");
});
after(async () => {
  await server?.stop();
  uninstallLocalStorage();
});

// ---------------------------------------------------------------------------
// helpers

function anonClient(client, srv) {
  return new client.mod.AssistantCloud({ baseUrl: srv.url, anonymous: true, telemetry: false });
}

async function readJson(res, what) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`${what}: response body is not JSON (status ${res.status}): ${JSON.stringify(text.slice(0, 300))}`);
  }
}

async function rawMint(srv, headers = {}) {
  const res = await realFetch(`${srv.url}${ANON_PATH}`, { method: "POST", headers });
  return { res, body: await readJson(res, `POST ${ANON_PATH}`) };
}

async function rawRefresh(srv, refreshToken, { body } = {}) {
  const res = await realFetch(`${srv.url}${REFRESH_PATH}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body ?? JSON.stringify({ refresh_token: refreshToken }),
  });
  return { res, body: await readJson(res, `POST ${REFRESH_PATH}`) };
}

function isCanonicalTimestamp(s) {
  return typeof s === "string" && !Number.isNaN(new Date(s).getTime()) && new Date(s).toISOString() === s;
}

/** Checks the {access_token, refresh_token: {token, expires_at}} shape; returns the access token's claims. */
function assertTokenPair(body, what) {
  assert.equal(typeof body, "object", `${what}: body is an object`);
  assert.equal(typeof body.access_token, "string", `${what}: access_token is a string (${JSON.stringify(body)})`);
  assert.equal(body.access_token.split(".").length, 3, `${what}: access_token is a three-part JWT`);
  assert.equal(typeof body.refresh_token, "object", `${what}: refresh_token is an object (${JSON.stringify(body)})`);
  assert.ok(body.refresh_token !== null, `${what}: refresh_token is not null`);
  assert.equal(typeof body.refresh_token.token, "string", `${what}: refresh_token.token is a string`);
  assert.ok(body.refresh_token.token.startsWith("refresh_"), `${what}: refresh_token.token starts with refresh_ (${body.refresh_token.token})`);
  assert.ok(
    isCanonicalTimestamp(body.refresh_token.expires_at),
    `${what}: refresh_token.expires_at is YYYY-MM-DDTHH:MM:SS.mmmZ (${body.refresh_token.expires_at})`,
  );
  assert.ok(
    new Date(body.refresh_token.expires_at).getTime() > Date.now() + 10 * 60_000,
    `${what}: refresh_token.expires_at lies well in the future (${body.refresh_token.expires_at})`,
  );
  const claims = jwtPayload(body.access_token);
  assertAnonClaims(claims, what);
  return claims;
}

function assertAnonClaims(claims, what) {
  assert.equal(typeof claims.sub, "string", `${what}: JWT sub`);
  assert.ok(claims.sub.startsWith("usr_anon_"), `${what}: JWT sub starts with usr_anon_ (${claims.sub})`);
  assert.equal(claims.workspace_id, claims.sub, `${what}: the anonymous identity is both user and workspace`);
  assert.equal(typeof claims.sid, "string", `${what}: JWT has a string sid`);
  assert.equal(typeof claims.exp, "number", `${what}: JWT has a numeric exp`);
  assert.ok(claims.exp > 0);
}

/** Parsed refresh record the client stored for `srv`. */
function storedRecord(storage, srv) {
  const raw = storage.getItem(refreshTokenKey(srv.url));
  assert.ok(raw, `no refresh record under localStorage[${JSON.stringify(refreshTokenKey(srv.url))}] (keys: ${JSON.stringify(storage.keys())})`);
  return JSON.parse(raw);
}

const pathOf = (call) => new URL(call.url).pathname;
const mintCalls = (spy) => spy.calls.filter((c) => pathOf(c) === ANON_PATH);
const refreshCalls = (spy) => spy.calls.filter((c) => pathOf(c) === REFRESH_PATH);
const apiCalls = (spy) => spy.calls.filter((c) => pathOf(c).startsWith("/v1/threads"));

/** The distinct JWT `sub`s the client sent on its API calls. */
function subsSent(spy) {
  const subs = new Set();
  for (const c of apiCalls(spy)) {
    const auth = c.headers.authorization;
    assert.ok(auth?.startsWith("Bearer "), `API call ${c.method} ${pathOf(c)} carried no bearer token`);
    subs.add(jwtPayload(auth.slice(7)).sub);
  }
  return [...subs];
}

async function withSpy(fn) {
  const spy = spyFetch();
  try {
    return await fn(spy);
  } finally {
    spy.restore();
  }
}

const describeSpy = (spy) =>
  spy.calls.map((c) => `${c.method} ${pathOf(c)} -> ${c.status ?? c.error?.message}`).join("\n  ");

// ---------------------------------------------------------------------------
// The clients in anonymous mode

for (const client of CLIENTS) {
  describe(`anonymous mode (${client.name})`, () => {
    let storage;
    beforeEach(() => {
      current = server;
      storage = installLocalStorage();
    });
    afterEach(() => uninstallLocalStorage());

    test(
      "an anonymous client creates and lists threads; the refresh record lands in localStorage[aui:refresh_token:<baseUrl>]",
      L(async () => {
        await withSpy(async (spy) => {
          const cloud = anonClient(client, server);
          const a = await cloud.threads.create({ last_message_at: new Date(), title: "anon one" });
          const b = await cloud.threads.create({ last_message_at: new Date(), title: "anon two" });
          const listed = await cloud.threads.list();
          assert.deepEqual(
            listed.threads.map((t) => t.id).sort(),
            [a.thread_id, b.thread_id].sort(),
            "a fresh identity lists exactly its own threads",
          );

          assert.equal(mintCalls(spy).length, 1, `one mint:\n  ${describeSpy(spy)}`);
          assert.equal(mintCalls(spy)[0].status, 200);
          assert.equal(refreshCalls(spy).length, 0, "no refresh while the access token is fresh");

          const subs = subsSent(spy);
          assert.equal(subs.length, 1, `one identity on every call (${subs})`);
          for (const t of listed.threads) {
            assert.equal(t.workspace_id, subs[0], "the thread lives in the anonymous identity's workspace");
          }
          const claims = jwtPayload(apiCalls(spy)[0].headers.authorization.slice(7));
          assertAnonClaims(claims, "anonymous access token");
          const ttl = claims.exp - Date.now() / 1000;
          assert.ok(ttl > 300 - 30 && ttl <= 300 + 5, `default access-token lifetime is 300 s (exp - now = ${Math.round(ttl)} s)`);

          assert.deepEqual(storage.keys(), [refreshTokenKey(server.url)], "exactly one localStorage key");
          const rec = storedRecord(storage, server);
          assert.deepEqual(Object.keys(rec).sort(), ["expires_at", "token"]);
          assert.ok(rec.token.startsWith("refresh_"), `stored token ${rec.token}`);
          assert.ok(isCanonicalTimestamp(rec.expires_at), `stored expires_at ${rec.expires_at}`);
          assert.ok(new Date(rec.expires_at).getTime() > Date.now() + 10 * 60_000, "refresh token outlives the access token");
        });
      }),
    );

    test(
      "a second client instance on the same storage keeps the identity (same sub, same threads)",
      L(async () => {
        const first = anonClient(client, server);
        const { sub: firstSub, thread } = await withSpy(async (spy) => {
          const thread = await first.threads.create({ last_message_at: new Date(), title: "kept" });
          return { sub: subsSent(spy)[0], thread };
        });

        await withSpy(async (spy) => {
          const second = anonClient(client, server);
          const listed = await second.threads.list();
          assert.deepEqual(listed.threads.map((t) => t.id), [thread.thread_id], "the second instance sees the first one's thread");
          assert.equal(mintCalls(spy).length, 0, `no new identity minted:\n  ${describeSpy(spy)}`);
          assert.equal(refreshCalls(spy).length, 1, "the second instance refreshed the stored record");
          assert.equal(refreshCalls(spy)[0].status, 200);
          assert.deepEqual(subsSent(spy), [firstSub], "same JWT sub");
          const got = await second.threads.get(thread.thread_id);
          assert.equal(got.title, "kept");
        });

        // The first instance still works with its cached access token, and sees
        // what the second one writes.
        const second = anonClient(client, server);
        const more = await second.threads.create({ last_message_at: new Date(), title: "from the second" });
        const ids = (await first.threads.list()).threads.map((t) => t.id).sort();
        assert.deepEqual(ids, [thread.thread_id, more.thread_id].sort());
      }),
    );

    test(
      "a garbage refresh token in storage leads to a new identity without an error",
      L(async () => {
        // An identity with a thread...
        const old = anonClient(client, server);
        const { sub: oldSub, thread } = await withSpy(async (spy) => {
          const thread = await old.threads.create({ last_message_at: new Date(), title: "lost identity" });
          return { sub: subsSent(spy)[0], thread };
        });
        // ...whose stored record is replaced by garbage.
        const garbage = { token: "refresh_0garbagegarbagegarbage00", expires_at: "2099-01-01T00:00:00.000Z" };
        storage.setItem(refreshTokenKey(server.url), JSON.stringify(garbage));

        await withSpy(async (spy) => {
          const cloud = anonClient(client, server);
          const listed = await cloud.threads.list();
          assert.deepEqual(listed.threads, [], "the new identity has no threads");
          const refreshes = refreshCalls(spy);
          assert.equal(refreshes.length, 1, `one refresh attempt:\n  ${describeSpy(spy)}`);
          assert.equal(refreshes[0].status, 403, "a garbage refresh token answers 403 (not 429/5xx, which would strand the client)");
          assert.equal(mintCalls(spy).length, 1, "then the client mints a new identity");
          assert.equal(mintCalls(spy)[0].status, 200);
          const subs = subsSent(spy);
          assert.equal(subs.length, 1);
          assert.notEqual(subs[0], oldSub, "a different identity");
          assert.ok(!listed.threads.some((t) => t.id === thread.thread_id));
        });
        const rec = storedRecord(storage, server);
        assert.notEqual(rec.token, garbage.token, "the garbage record was replaced");
        assert.ok(rec.token.startsWith("refresh_"));
      }),
    );

    if (client.has.claim) {
      test(
        "claim: an API-key client takes over an anonymous identity's threads with their messages",
        L(async () => {
          const anon = anonClient(client, server);
          const x = await anon.threads.create({ last_message_at: new Date(), title: "claim me" });
          const xu = await anon.threads.messages.create(x.thread_id, { parent_id: null, format: "aui/v0", content: auiUser("How do I bake sourdough?") });
          const xa = await anon.threads.messages.create(x.thread_id, {
            parent_id: xu.message_id,
            format: "aui/v0",
            content: auiAssistant("Start with a starter.", { withTool: true }),
          });
          const y = await anon.threads.create({ last_message_at: new Date(), title: "me too" });
          const yu = await anon.threads.messages.create(y.thread_id, { parent_id: null, format: "aui/v0", content: auiUser("second thread") });

          const token = client.mod.readAnonymousRefreshToken(server.url);
          assert.equal(typeof token, "string", "readAnonymousRefreshToken finds the stored token");
          assert.equal(token, storedRecord(storage, server).token);

          const workspaceId = uid("ws-claim");
          const keyed = apiKeyClient(client, server, { apiKey, workspaceId, userId: "signed-in-user" });
          assert.deepEqual(await keyed.threads.claim({ refresh_token: token }), { moved: 2 });

          const listed = await keyed.threads.list();
          assert.deepEqual(listed.threads.map((t) => t.id).sort(), [x.thread_id, y.thread_id].sort(), "both threads are in the caller's workspace");
          for (const t of listed.threads) assert.equal(t.workspace_id, workspaceId);
          assert.equal((await keyed.threads.get(x.thread_id)).title, "claim me");

          const xm = await keyed.threads.messages.list(x.thread_id);
          assert.deepEqual(xm.messages.map((m) => m.id), [xa.message_id, xu.message_id], "message ids unchanged");
          const byId = new Map(xm.messages.map((m) => [m.id, m]));
          assert.deepEqual(byId.get(xu.message_id).content, auiUser("How do I bake sourdough?"));
          assert.deepEqual(byId.get(xa.message_id).content, auiAssistant("Start with a starter.", { withTool: true }));
          assert.equal(byId.get(xa.message_id).parent_id, xu.message_id);
          const ym = await keyed.threads.messages.list(y.thread_id);
          assert.deepEqual(ym.messages.map((m) => m.id), [yu.message_id]);

          // The anonymous identity no longer has them.
          assert.deepEqual((await anon.threads.list()).threads, [], "the anonymous workspace is empty after the claim");
          await expectCloudError(client, anon.threads.get(x.thread_id), 404, "anonymous GET of a claimed thread");

          // Claiming again moves nothing.
          assert.deepEqual(await keyed.threads.claim({ refresh_token: token }), { moved: 0 });

          // A garbage token is refused.
          await expectCloudError(client, keyed.threads.claim({ refresh_token: "refresh_0garbagegarbagegarbage00" }), 403, "claim with a garbage refresh token");
        }),
      );

      test(
        "claim: an anonymous caller is refused with 403",
        L(async () => {
          const victim = anonClient(client, server);
          const v = await victim.threads.create({ last_message_at: new Date(), title: "not yours" });
          const victimToken = client.mod.readAnonymousRefreshToken(server.url);
          assert.ok(victimToken);

          // The identity itself cannot claim (anonymous sessions cannot claim).
          await expectCloudError(client, victim.threads.claim({ refresh_token: victimToken }), 403, "anonymous self-claim");

          // Another anonymous identity (its own browser storage) cannot either.
          storage = installLocalStorage();
          const thief = anonClient(client, server);
          await thief.threads.list();
          await expectCloudError(client, thief.threads.claim({ refresh_token: victimToken }), 403, "anonymous claim of another identity");
          assert.deepEqual((await thief.threads.list()).threads, [], "nothing moved to the anonymous caller");
          assert.deepEqual((await victim.threads.list()).threads.map((t) => t.id), [v.thread_id], "the victim keeps its thread");
        }),
      );
    }
  });
}

// ---------------------------------------------------------------------------
// Raw wire checks on the default server

describe("anonymous token endpoints on the wire", () => {
  beforeEach(() => {
    current = server;
  });

  test(
    "mint: no headers, no body -> 200 {access_token, refresh_token: {token, expires_at}}; CORS headers present",
    L(async () => {
      const { res, body } = await rawMint(server, { Origin: "http://app.example.test" });
      assert.equal(res.status, 200, JSON.stringify(body));
      const claims = assertTokenPair(body, "mint");
      assert.equal(res.headers.get("access-control-allow-origin"), "*", "mint response carries Access-Control-Allow-Origin: *");

      // The access token works on the API (the identity's workspace is empty).
      const list = await realFetch(`${server.url}/v1/threads`, {
        headers: { Authorization: `Bearer ${body.access_token}`, "Content-Type": "application/json", Origin: "http://app.example.test" },
      });
      const listed = await readJson(list, "GET /v1/threads with an anonymous token");
      assert.equal(list.status, 200, JSON.stringify(listed));
      assert.deepEqual(listed.threads, []);
      assert.equal(list.headers.get("access-control-allow-origin"), "*");
      const exposed = (list.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(",").map((s) => s.trim());
      assert.ok(exposed.includes("authorization"), `Access-Control-Expose-Headers lists Authorization (got ${JSON.stringify(list.headers.get("access-control-expose-headers"))})`);

      // Each mint is a new identity.
      const again = await rawMint(server);
      assert.equal(again.res.status, 200);
      const claims2 = assertTokenPair(again.body, "second mint");
      assert.notEqual(claims2.sub, claims.sub, "every mint creates a new identity");
      assert.notEqual(again.body.refresh_token.token, body.refresh_token.token);
    }),
  );

  test(
    "refresh: preflight allowed; same identity, rotated refresh token; bad input -> 400/403",
    L(async () => {
      const pre = await realFetch(`${server.url}${REFRESH_PATH}`, {
        method: "OPTIONS",
        headers: {
          Origin: "http://app.example.test",
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "content-type",
        },
      });
      assert.ok(pre.status >= 200 && pre.status < 300, `refresh preflight answers 2xx (got ${pre.status})`);
      assert.ok(pre.headers.get("access-control-allow-origin"), "preflight has Access-Control-Allow-Origin");
      const allowHeaders = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      assert.ok(allowHeaders.includes("content-type") || allowHeaders.includes("*"), `preflight allows content-type (got ${JSON.stringify(allowHeaders)})`);

      const minted = await rawMint(server);
      assert.equal(minted.res.status, 200);
      const mintClaims = assertTokenPair(minted.body, "mint");

      const r = await rawRefresh(server, minted.body.refresh_token.token);
      assert.equal(r.res.status, 200, JSON.stringify(r.body));
      const refreshClaims = assertTokenPair(r.body, "refresh");
      assert.equal(refreshClaims.sub, mintClaims.sub, "refresh keeps the identity");
      assert.equal(refreshClaims.workspace_id, mintClaims.workspace_id);
      assert.notEqual(r.body.refresh_token.token, minted.body.refresh_token.token, "the refresh token is rotated");

      // Missing field -> 400; garbage -> 403 invalid_refresh_token.
      const missing = await rawRefresh(server, null, { body: "{}" });
      assert.equal(missing.res.status, 400, `missing refresh_token: ${JSON.stringify(missing.body)}`);
      assert.equal(typeof missing.body.error, "string");
      const bad = await rawRefresh(server, "refresh_0garbagegarbagegarbage00");
      assert.equal(bad.res.status, 403, JSON.stringify(bad.body));
      assert.equal(bad.body.error, "invalid_refresh_token");
      const notEvenPrefixed = await rawRefresh(server, "garbage");
      assert.equal(notEvenPrefixed.res.status, 403, JSON.stringify(notEvenPrefixed.body));
      assert.equal(notEvenPrefixed.body.error, "invalid_refresh_token");
    }),
  );
});

// ---------------------------------------------------------------------------
// Short access tokens, rotation and the reuse grace window

describe("short-lived anonymous access tokens (THREADHOLD_ANONYMOUS_TOKEN_TTL_SECS=2, grace 1 s)", () => {
  let short;
  before(async () => {
    short = await startServer({
      env: { ...ROOMY_LIMITS, THREADHOLD_ANONYMOUS_TOKEN_TTL_SECS: "2", THREADHOLD_REFRESH_REUSE_GRACE_SECS: "1" },
    });
  });
  after(async () => {
    await short?.stop();
  });

  for (const client of CLIENTS) {
    describe(client.name, () => {
      let storage;
      beforeEach(() => {
        current = short;
        storage = installLocalStorage();
      });
      afterEach(() => uninstallLocalStorage());

      test(
        "the client refreshes (rotating its stored token) and keeps seeing its threads; one mint only",
        L(async () => {
          await withSpy(async (spy) => {
            const cloud = anonClient(client, short);
            const t1 = await cloud.threads.create({ last_message_at: new Date(), title: "short one" });
            const first = jwtPayload(apiCalls(spy)[0].headers.authorization.slice(7));
            const ttl = first.exp - Date.now() / 1000;
            assert.ok(ttl <= 2 + 1 && ttl > -1, `exp - now is about 2 s (got ${ttl.toFixed(1)} s)`);
            const rec1 = storedRecord(storage, short);

            await sleep(2500); // the first access token is now expired
            const l1 = await cloud.threads.list();
            assert.deepEqual(l1.threads.map((t) => t.id), [t1.thread_id], "still sees its thread after the access token expired");
            const rec2 = storedRecord(storage, short);
            assert.notEqual(rec2.token, rec1.token, "the refresh stored a rotated refresh token");

            const t2 = await cloud.threads.create({ last_message_at: new Date(), title: "short two" });
            const l2 = await cloud.threads.list();
            assert.deepEqual(l2.threads.map((t) => t.id).sort(), [t1.thread_id, t2.thread_id].sort());

            assert.equal(mintCalls(spy).length, 1, `/anonymous called once:\n  ${describeSpy(spy)}`);
            const refreshes = refreshCalls(spy);
            assert.ok(refreshes.length >= 3, `the client refreshed before each later call (${refreshes.length} refreshes):\n  ${describeSpy(spy)}`);
            for (const r of refreshes) assert.equal(r.status, 200, `refresh answered ${r.status}`);
            for (const c of apiCalls(spy)) assert.ok(c.status >= 200 && c.status < 300, `${c.method} ${pathOf(c)} answered ${c.status}`);
            assert.equal(subsSent(spy).length, 1, "one identity throughout");
          });
        }),
      );
    });
  }

  test(
    "a rotated-out refresh token works within the grace window; reuse after it revokes the whole family",
    L(async () => {
      current = short;
      const minted = await rawMint(short);
      assert.equal(minted.res.status, 200, JSON.stringify(minted.body));
      const sub = assertTokenPair(minted.body, "mint").sub;
      const r0 = minted.body.refresh_token.token;

      const first = await rawRefresh(short, r0);
      assert.equal(first.res.status, 200, JSON.stringify(first.body));
      const r1 = first.body.refresh_token.token;
      assert.notEqual(r1, r0, "rotated");

      // A concurrent tab still holding r0, inside the grace window.
      const racing = await rawRefresh(short, r0);
      assert.equal(racing.res.status, 200, `r0 within the grace window: ${JSON.stringify(racing.body)}`);
      assert.equal(jwtPayload(racing.body.access_token).sub, sub, "grace reuse keeps the identity");

      await sleep(1600); // past the 1 s grace window
      const replay = await rawRefresh(short, r0);
      assert.equal(replay.res.status, 403, `r0 after the grace window: ${JSON.stringify(replay.body)}`);
      assert.equal(replay.body.error, "invalid_refresh_token");

      // The reuse revoked the family: the newest token is dead too.
      const newest = await rawRefresh(short, r1);
      assert.equal(newest.res.status, 403, `r1 after the family was revoked: ${JSON.stringify(newest.body)}`);
      assert.equal(newest.body.error, "invalid_refresh_token");
      if (racing.body.refresh_token?.token && racing.body.refresh_token.token !== r1) {
        const sibling = await rawRefresh(short, racing.body.refresh_token.token);
        assert.equal(sibling.res.status, 403, `grace-issued token after the family was revoked: ${JSON.stringify(sibling.body)}`);
      }
    }),
  );
});

// ---------------------------------------------------------------------------
// Switched off

describe("anonymous mode switched off", () => {
  let dataDir;
  let disabled;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "threadhold-compat-anon-off-"));
    disabled = await startServer({
      env: ROOMY_LIMITS,
      dataDir,
      setup: (dir) => runCli(["anonymous", "disable", "--data", dir]),
    });
  });
  after(async () => {
    await disabled?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  for (const client of CLIENTS) {
    test(
      `\`threadhold anonymous disable\`: the anonymous client fails with "Authorization failed" (${client.name})`,
      L(async () => {
        current = disabled;
        installLocalStorage();
        try {
          await withSpy(async (spy) => {
            const cloud = anonClient(client, disabled);
            await assert.rejects(cloud.threads.list(), (err) => {
              assert.equal(err.message, "Authorization failed");
              return true;
            });
            assert.equal(mintCalls(spy).length, 1);
            assert.equal(mintCalls(spy)[0].status, 403, "the mint is refused with 403");
            assert.equal(apiCalls(spy).length, 0, "no API call without a credential");
          });
        } finally {
          uninstallLocalStorage();
        }
      }),
    );
  }

  test(
    "both token routes answer 403 anonymous_disabled; API keys still work; `anonymous enable` + restart switches it back",
    L(async () => {
      current = disabled;
      const mint = await rawMint(disabled);
      assert.equal(mint.res.status, 403, JSON.stringify(mint.body));
      assert.equal(mint.body.error, "anonymous_disabled");
      const refresh = await rawRefresh(disabled, "refresh_0garbagegarbagegarbage00");
      assert.equal(refresh.res.status, 403, JSON.stringify(refresh.body));
      assert.equal(refresh.body.error, "anonymous_disabled");

      const key = await disabled.createKey("compat-anon-off");
      const workspaceId = uid("ws-off");
      const keyed = apiKeyClient(CLIENTS[0], disabled, { apiKey: key, workspaceId });
      const kept = await keyed.threads.create({ last_message_at: new Date(), title: "made while anonymous was off" });

      await disabled.stop();
      disabled = undefined;
      await runCli(["anonymous", "enable", "--data", dataDir]);
      disabled = await startServer({ env: ROOMY_LIMITS, dataDir });
      current = disabled;
      const reenabled = await rawMint(disabled);
      assert.equal(reenabled.res.status, 200, `mint after \`anonymous enable\` and a restart: ${JSON.stringify(reenabled.body)}`);
      assertTokenPair(reenabled.body, "mint after enable");
      const keyedAgain = apiKeyClient(CLIENTS[0], disabled, { apiKey: key, workspaceId });
      assert.deepEqual((await keyedAgain.threads.list()).threads.map((t) => t.id), [kept.thread_id], "data survives the switch");
    }),
  );

  test(
    "THREADHOLD_ANONYMOUS_ENABLED=false switches both routes off",
    L(async () => {
      const off = await startServer({ env: { ...ROOMY_LIMITS, THREADHOLD_ANONYMOUS_ENABLED: "false" } });
      current = off;
      try {
        const mint = await rawMint(off);
        assert.equal(mint.res.status, 403, JSON.stringify(mint.body));
        assert.equal(mint.body.error, "anonymous_disabled");
        const refresh = await rawRefresh(off, "refresh_0garbagegarbagegarbage00");
        assert.equal(refresh.res.status, 403, JSON.stringify(refresh.body));
        assert.equal(refresh.body.error, "anonymous_disabled");
      } finally {
        await off.stop();
      }
    }),
  );
});

// ---------------------------------------------------------------------------
// Rate limits

describe("anonymous rate limits (3 mints and 3 refreshes a minute)", () => {
  let limited;
  before(async () => {
    limited = await startServer({
      env: { THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "3", THREADHOLD_ANONYMOUS_REFRESHES_PER_MINUTE: "3" },
    });
  });
  after(async () => {
    await limited?.stop();
    uninstallLocalStorage();
  });

  function assertRateLimited({ res, body }, what) {
    assert.equal(res.status, 429, `${what}: ${JSON.stringify(body)}`);
    const retryAfter = res.headers.get("retry-after");
    assert.ok(retryAfter !== null, `${what}: 429 carries Retry-After`);
    assert.match(retryAfter, /^[1-9][0-9]*$/, `${what}: Retry-After is a positive integer of seconds`);
    assert.ok(Number(retryAfter) <= 60, `${what}: Retry-After at most 60 s (got ${retryAfter})`);
    assert.equal(body.error, "rate_limited", `${what}: error code`);
  }

  test(
    "the 4th mint answers 429 rate_limited with Retry-After; the client then fails with Authorization failed",
    L(async () => {
      current = limited;
      const mints = [];
      for (let i = 0; i < 3; i++) {
        const m = await rawMint(limited);
        assert.equal(m.res.status, 200, `mint ${i + 1} of 3: ${JSON.stringify(m.body)}`);
        mints.push(m.body);
      }
      assertRateLimited(await rawMint(limited), "4th mint");

      installLocalStorage();
      const cloud = anonClient(CLIENTS[0], limited);
      await assert.rejects(cloud.threads.list(), { message: "Authorization failed" });
      uninstallLocalStorage();

      // Refreshes have their own budget: 3 pass, the 4th is 429.
      let token = mints[0].refresh_token.token;
      for (let i = 0; i < 3; i++) {
        const r = await rawRefresh(limited, token);
        assert.equal(r.res.status, 200, `refresh ${i + 1} of 3: ${JSON.stringify(r.body)}`);
        token = r.body.refresh_token.token;
      }
      const fourth = await rawRefresh(limited, token);
      assertRateLimited(fourth, "4th refresh");

      // A client whose refresh is rate-limited keeps its identity (429 is not "invalid").
      const storage = installLocalStorage();
      const rec = { token, expires_at: mints[0].refresh_token.expires_at };
      storage.setItem(refreshTokenKey(limited.url), JSON.stringify(rec));
      const holder = anonClient(CLIENTS[0], limited);
      await assert.rejects(holder.threads.list(), { message: "Assistant Cloud token refresh failed with status 429" });
      assert.deepEqual(JSON.parse(storage.getItem(refreshTokenKey(limited.url))), rec, "the stored identity is kept");
      uninstallLocalStorage();
    }),
  );
});
