// Identity-provider tokens in `authToken` mode (spec assistant-cloud-api.md 2.2
// item 5, 2.9; auth-and-jwt.md 1, 3, 4): auth rules made with
// `threadhold rules add`, tokens shaped like Clerk v2, Auth0, Supabase (ES256
// signing keys and legacy HS256) and Firebase minted with `jose` against a
// local JWKS server, plus two real local issuers (oauth2-mock-server as an
// Auth0-like issuer, oidc-provider issuing RFC 9068 `at+jwt` access tokens
// found through OIDC discovery).
//
// For every provider: the official client (0.2.11) lists and creates threads
// in the workspace the rule maps the token to, users are isolated, and the
// token exchange works (the first response carries `Authorization: Bearer
// <threadhold JWT>`, the client switches to it, and it works on its own).
// Key rotation without a restart: right after the first fetch of a key set
// (the first unknown kid must refetch at once), and at the end of the file
// for the other issuers, once 30 s have passed since the server's last fetch
// of each key set (the file waits for that; about 36 s in all).
//
// All traffic stays on 127.0.0.1. The server is started with
// THREADHOLD_JWKS_ALLOW_HOSTS=127.0.0.1,localhost so plain-http loopback key
// URLs are allowed.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import * as jose from "jose";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

import { CLIENTS, startServer, runCli, withLogs, tokenClient, expectCloudError, spyFetch } from "./harness.mjs";
import {
  now,
  makeKey,
  sign,
  JwksServer,
  OidcProviderHost,
  deadPort,
  clerkClaims,
  auth0Claims,
  supabaseClaims,
  firebaseClaims,
} from "./idp.mjs";

const client = CLIENTS[0]; // assistant-cloud@0.2.11
const { AssistantCloud } = client.mod;
const ALLOW_ENV = { THREADHOLD_JWKS_ALLOW_HOSTS: "127.0.0.1,localhost" };
const OWN_ISSUER = "urn:threadhold:default";
const API = "https://api.threadhold.test";
const MOCK_API = "https://api.mock.test";
const APP_ORIGIN = "http://localhost:3000";
const FIREBASE_PROJECT = "threadhold-demo";
const FIREBASE_JWKS_PATH = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
const COOLDOWN_MS = 30_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (n = 10) => randomUUID().replace(/-/g, "").slice(0, n);

let server;
let tmp;
const rules = {}; // rule name -> id
const idp = {}; // fixtures
const primed = {}; // first requests of the rotation sources
const L = (fn) => withLogs(() => server, fn);

// ---------------------------------------------------------------------------
// helpers

async function addRule(dataDir, args) {
  // Loopback key URLs pass `rules add` only for allowlisted hosts, as they do in the server.
  const out = await runCli(["rules", "add", "--data", dataDir, ...args], { env: ALLOW_ENV });
  const id = out.split("\n").map((l) => l.trim()).filter(Boolean).at(-1);
  assert.ok(id && !/\s/.test(id), `\`threadhold rules add\` printed no rule id on its last line:\n${out}`);
  return id;
}

/** GET /v1/threads with a bearer token, raw. */
async function raw(token, { origin } = {}) {
  const headers = { Authorization: `Bearer ${token}`, "Aui-Sdk": "assistant-cloud/0.2.11" };
  if (origin) headers.Origin = origin;
  const res = await fetch(`${server.url}/v1/threads`, { headers });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

const describeToken = (token) => {
  try {
    return `header ${JSON.stringify(jose.decodeProtectedHeader(token))} payload ${JSON.stringify(jose.decodeJwt(token))}`;
  } catch {
    return `(undecodable) ${token.slice(0, 40)}…`;
  }
};

async function expectAccepted(token, what) {
  const r = await raw(token);
  assert.equal(
    r.status,
    200,
    `${what}: GET /v1/threads with the provider token answered ${r.status} ${JSON.stringify(r.body)}; expected 200.\nToken: ${describeToken(token)}`,
  );
  return r;
}

async function expectRefused(token, status, code, what) {
  const r = await raw(token);
  assert.equal(
    r.status,
    status,
    `${what}: GET /v1/threads answered ${r.status} ${JSON.stringify(r.body)}; expected ${status} {"error":"${code}"}.\nToken: ${describeToken(token)}`,
  );
  assert.equal(r.body?.error, code, `${what}: error code (body ${JSON.stringify(r.body)})`);
  assert.equal(r.headers.get("authorization"), null, `${what}: a refused request must not get an exchanged token`);
  return r;
}

/** Checks a threadhold token from the exchange. */
function checkOwnToken(token, { sub, workspace }, what) {
  const header = jose.decodeProtectedHeader(token);
  const claims = jose.decodeJwt(token);
  assert.equal(header.alg, "EdDSA", `${what}: exchanged token alg`);
  assert.equal(claims.iss, OWN_ISSUER, `${what}: exchanged token iss`);
  assert.equal(claims.sub, sub, `${what}: exchanged token sub`);
  assert.equal(claims.workspace_id, workspace, `${what}: exchanged token workspace_id`);
  assert.equal(typeof claims.exp, "number");
  const left = claims.exp - now();
  assert.ok(left > 240 && left <= 305, `${what}: exchanged token should live ~5 min (exp - now = ${left}s)`);
}

/**
 * The official client with `authToken: async () => providerToken`: list,
 * create, get. Checks the workspace, then that the second request carried the
 * exchanged threadhold token (not the provider token), and that this token
 * alone also works. Returns { threadId, own }.
 */
async function exchangeFlow(providerToken, { sub, workspace, what }) {
  const spy = spyFetch();
  let threadId;
  let own;
  let callbacks = 0;
  try {
    const c = new AssistantCloud({
      baseUrl: server.url,
      authToken: async () => {
        callbacks++;
        return providerToken;
      },
      telemetry: false,
    });
    await c.threads.list();
    ({ thread_id: threadId } = await c.threads.create({ last_message_at: new Date(), title: `${what} thread` }));
    const got = await c.threads.get(threadId);
    assert.equal(got.workspace_id, workspace, `${what}: the thread lands in the workspace the rule maps the token to`);

    const sent = spy.calls.filter((x) => x.url.startsWith(server.url)).map((x) => x.headers.authorization);
    assert.equal(sent.length, 3, `${what}: three requests`);
    assert.equal(sent[0], `Bearer ${providerToken}`, `${what}: the first request carries the provider token`);
    assert.match(sent[1] ?? "", /^Bearer \S+$/);
    assert.notEqual(
      sent[1],
      sent[0],
      `${what}: after the first response the client must switch to the exchanged token (response header \`Authorization: Bearer <threadhold JWT>\`), but it sent the provider token again`,
    );
    assert.notEqual(sent[2], sent[0], `${what}: the client keeps using the exchanged token`);
    own = sent[1].slice("Bearer ".length);
  } finally {
    spy.restore();
  }
  checkOwnToken(own, { sub, workspace }, what);
  assert.equal(callbacks, 1, `${what}: authToken called once`);

  // threadhold's token alone works, in the same workspace.
  const alone = tokenClient(client, server, own);
  const listed = await alone.threads.list();
  assert.ok(listed.threads.some((t) => t.id === threadId), `${what}: the exchanged token alone sees the thread`);
  assert.equal((await alone.threads.get(threadId)).workspace_id, workspace);
  return { threadId, own };
}

/** `otherToken` (any credential) neither lists nor reads `threadId`. */
async function assertIsolated(threadId, otherToken, what) {
  const other = tokenClient(client, server, otherToken);
  const listed = await other.threads.list();
  assert.ok(!listed.threads.some((t) => t.id === threadId), `${what}: the other identity lists the thread`);
  await expectCloudError(client, other.threads.get(threadId), 404, what, "thread_not_found");
}

function flipSignature(token) {
  const [h, p, s] = token.split(".");
  const bytes = Buffer.from(s, "base64url");
  bytes[bytes.length >> 1] ^= 0x5a;
  return `${h}.${p}.${bytes.toString("base64url")}`;
}

function swapPayload(token, changes) {
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  return `${h}.${Buffer.from(JSON.stringify({ ...claims, ...changes })).toString("base64url")}.${s}`;
}

// oauth2-mock-server tokens (the real /token endpoint, client_credentials).
let mockAddSub = true;
async function mockToken(clientId, { audience = MOCK_API } = {}) {
  const res = await fetch(`${idp.mockOrigin}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: "mock-secret",
      scope: "read:threads write:threads",
      aud: audience,
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `oauth2-mock-server /token: ${JSON.stringify(body)}`);
  return body.access_token;
}

// ---------------------------------------------------------------------------
// fixtures and server

before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "threadhold-providers-"));

  idp.clerk = await new JwksServer().start();
  idp.clerkKey = await makeKey("RS256", `ins_${rand(12)}`);
  idp.clerk.publish(idp.clerkKey);

  idp.auth0 = await new JwksServer().start();
  idp.auth0Key = await makeKey("RS256");
  idp.auth0.publish(idp.auth0Key);
  idp.auth0Issuer = `${idp.auth0.origin}/`;

  // Supabase serves `no-store`: the server must clamp the cache time (>= 5 min), not refetch per request.
  idp.supabase = await new JwksServer({ paths: ["/auth/v1/.well-known/jwks.json"], cacheControl: "no-store, max-age=0" }).start();
  idp.supabaseKey = await makeKey("ES256");
  idp.supabaseStandby = await makeKey("RS256");
  idp.supabase.publish(idp.supabaseKey);
  idp.supabase.publish(idp.supabaseStandby);
  idp.supabaseIssuer = `${idp.supabase.origin}/auth/v1`;
  idp.supabaseSecret = `sb-legacy-${randomBytes(24).toString("base64url")}`; // >= 32 bytes
  await writeFile(path.join(tmp, "supabase-jwt-secret"), `${idp.supabaseSecret}\n`);

  // Google's key set is shared by every Firebase project.
  idp.firebase = await new JwksServer({
    paths: [FIREBASE_JWKS_PATH],
    cacheControl: "public, max-age=21417, must-revalidate, no-transform",
  }).start();
  idp.firebaseKeys = [await makeKey("RS256", rand(40)), await makeKey("RS256", rand(40))];
  for (const k of idp.firebaseKeys) idp.firebase.publish(k);

  // Key rotation target (Clerk-shaped, no azp check).
  idp.rotating = await new JwksServer().start();
  idp.rotatingKeyA = await makeKey("RS256", "rot-a");
  idp.rotating.publish(idp.rotatingKeyA);

  // Rotation right after the first fetch (no waiting).
  idp.fresh = await new JwksServer().start();
  idp.freshKeyA = await makeKey("RS256", "fresh-a");
  idp.fresh.publish(idp.freshKeyA);

  // oauth2-mock-server as an Auth0-like issuer (trailing slash), on our own
  // http server so that the JWKS hits can be counted.
  idp.mockIssuer = new OAuth2Issuer(true);
  await idp.mockIssuer.keys.generate("RS256", { kid: "mock-1" });
  idp.mockService = new OAuth2Service(idp.mockIssuer);
  idp.mockService.on("beforeTokenSigning", (token, req) => {
    if (!mockAddSub) return;
    // Auth0's client-credentials tokens: sub "<client_id>@clients", azp, gty.
    const clientId = String(req.body.client_id);
    token.payload.sub = `${clientId}@clients`;
    token.payload.azp = clientId;
    token.payload.gty = "client-credentials";
  });
  idp.mockHits = [];
  const mockHandler = idp.mockService.requestHandler;
  idp.mockServer = http.createServer((req, res) => {
    idp.mockHits.push({ path: new URL(req.url, "http://x").pathname, at: Date.now() });
    mockHandler(req, res);
  });
  await new Promise((resolve) => idp.mockServer.listen(0, "127.0.0.1", resolve));
  idp.mockOrigin = `http://127.0.0.1:${idp.mockServer.address().port}`;
  idp.mockIssuer.url = idp.mockOrigin; // normalised to a trailing slash
  assert.equal(idp.mockIssuer.url, `${idp.mockOrigin}/`);

  // oidc-provider with RFC 9068 JWT access tokens.
  idp.op = await new OidcProviderHost({
    audience: API,
    clients: [
      { client_id: "svc-alpha", client_secret: `alpha-${"s".repeat(40)}` },
      { client_id: "svc-beta", client_secret: `beta-${"s".repeat(40)}` },
    ],
  }).start();
  idp.opKey1 = await makeKey("ES256", "op-1");
  await idp.op.useKeys([idp.opKey1]);

  idp.dead = `http://127.0.0.1:${await deadPort()}`;

  server = await startServer({
    env: ALLOW_ENV,
    setup: async (dir) => {
      rules.clerk = await addRule(dir, [
        "--provider", "clerk",
        "--name", "clerk-dev",
        "--issuer", idp.clerk.origin,
        "--authorized-party", APP_ORIGIN,
        "--workspace", "{o.id}_{sub}",
        "--workspace-fallback", "{sub}",
      ]);
      rules.auth0 = await addRule(dir, ["--provider", "auth0", "--issuer", idp.auth0Issuer, "--audience", API]);
      rules.supabase = await addRule(dir, ["--provider", "supabase", "--issuer", idp.supabaseIssuer]);
      rules.supabaseLegacy = await addRule(dir, [
        "--provider", "supabase",
        "--name", "supabase-legacy",
        "--issuer", idp.supabaseIssuer,
        "--shared-secret-file", path.join(tmp, "supabase-jwt-secret"),
      ]);
      rules.rotating = await addRule(dir, ["--provider", "clerk", "--name", "rotating", "--issuer", idp.rotating.origin]);
      rules.fresh = await addRule(dir, ["--provider", "clerk", "--name", "fresh-rotation", "--issuer", idp.fresh.origin]);
      rules.mock = await addRule(dir, [
        "--provider", "auth0",
        "--name", "oauth2-mock",
        "--issuer", idp.mockIssuer.url,
        "--audience", MOCK_API,
        "--jwks-url", `${idp.mockOrigin}/jwks`,
      ]);
      rules.oidc = await addRule(dir, [
        "--provider", "oidc",
        "--name", "oidc-provider",
        "--issuer", idp.op.issuer,
        "--token-type", "at+jwt",
        "--audience", API,
      ]);
      // Discovery answers with issuer `${idp.op.issuer}` (no slash): must not be trusted for this rule.
      rules.oidcMismatch = await addRule(dir, [
        "--provider", "oidc",
        "--name", "oidc-mismatch",
        "--issuer", `${idp.op.issuer}/`,
        "--audience", API,
      ]);
      rules.dead = await addRule(dir, ["--provider", "clerk", "--name", "dead-jwks", "--issuer", idp.dead]);
    },
  });

  // First fetch of each key set that the rotation tests (at the end) rotate.
  primed.rotating = await raw(await sign(idp.rotatingKeyA, clerkClaims({ issuer: idp.rotating.origin, sub: "user_rot_a" })));
  primed.mock = await raw(await mockToken("prime-client"));
  primed.op = await raw(await idp.op.accessToken("svc-alpha"));
});

after(async () => {
  await server?.stop();
  for (const s of [idp.clerk, idp.auth0, idp.supabase, idp.firebase, idp.rotating, idp.fresh, idp.op]) await s?.stop();
  if (idp.mockServer) {
    idp.mockServer.closeAllConnections();
    await new Promise((resolve) => idp.mockServer.close(() => resolve()));
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------

describe("key rotation right after the first fetch", () => {
  test(
    "the first unknown kid refetches even < 30 s after the initial fetch; later unknown kids wait for the cooldown",
    L(async () => {
      const iss = idp.fresh.origin;
      const sub = `user_${rand(24)}`;
      await expectAccepted(await sign(idp.freshKeyA, clerkClaims({ issuer: iss, sub })), "key A (first fetch)");
      assert.equal(idp.fresh.hitCount(), 1, "one fetch for the first token");
      const keyB = await makeKey("RS256", "fresh-b");
      idp.fresh.publish(keyB);
      // The key set was fetched moments ago, but no unknown kid has caused a
      // refetch yet: the first one must (brief: "an unknown kid triggers one
      // refetch (cooldown 30 s)"; the first token with the new kid is the first miss).
      const r = await raw(await sign(keyB, clerkClaims({ issuer: iss, sub })));
      assert.equal(
        r.status,
        200,
        `token signed by key B (published after the fetch), sent ${Date.now() - idp.fresh.lastHitAt()} ms after the only JWKS fetch: ${r.status} ${JSON.stringify(r.body)} ` +
          `(JWKS fetches so far: ${idp.fresh.hitCount()}); expected 200 after one refetch for the unknown kid`,
      );
      assert.equal(idp.fresh.hitCount(), 2, "exactly one refetch for the new kid");
      const keyC = await makeKey("RS256", "fresh-c-never-published");
      await expectRefused(await sign(keyC, clerkClaims({ issuer: iss, sub })), 403, "token_key_unknown", "never-published key");
      assert.equal(idp.fresh.hitCount(), 2, "a second unknown kid within the cooldown causes no fetch");
    }),
  );
});

describe("Clerk v2 session tokens (jose-minted, local JWKS)", () => {
  const claims = (o) => clerkClaims({ issuer: idp.clerk.origin, ...o });

  test(
    "org and personal workspaces via {o.id}_{sub} with fallback {sub}; exchange; isolation",
    L(async () => {
      const alice = `user_${rand(24)}`;
      const bob = `user_${rand(24)}`;
      const org = { id: `org_${rand(24)}`, rol: "org:admin", slg: "acme" };

      const inOrg = await exchangeFlow(await sign(idp.clerkKey, claims({ sub: alice, org })), {
        sub: alice,
        workspace: `${org.id}_${alice}`,
        what: "Clerk alice in org",
      });
      const personal = await exchangeFlow(await sign(idp.clerkKey, claims({ sub: alice })), {
        sub: alice,
        workspace: alice,
        what: "Clerk alice without org",
      });
      const bobInOrg = await exchangeFlow(await sign(idp.clerkKey, claims({ sub: bob, org: { ...org, rol: "org:member" } })), {
        sub: bob,
        workspace: `${org.id}_${bob}`,
        what: "Clerk bob in the same org",
      });

      await assertIsolated(inOrg.threadId, personal.own, "alice personal vs alice org");
      await assertIsolated(personal.threadId, inOrg.own, "alice org vs alice personal");
      await assertIsolated(inOrg.threadId, bobInOrg.own, "bob vs alice (same org)");
      await assertIsolated(bobInOrg.threadId, inOrg.own, "alice vs bob (same org)");
      // With provider tokens too (not just the exchanged ones).
      await assertIsolated(personal.threadId, await sign(idp.clerkKey, claims({ sub: bob })), "bob personal vs alice personal");
    }),
  );

  test(
    "the exchanged token is in the response Authorization header and exposed through CORS",
    L(async () => {
      const sub = `user_${rand(24)}`;
      const r = await raw(await sign(idp.clerkKey, claims({ sub })), { origin: APP_ORIGIN });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const header = r.headers.get("authorization");
      assert.match(header ?? "", /^Bearer [^ ]+$/, `response Authorization header: ${header}`);
      checkOwnToken(header.slice(7), { sub, workspace: sub }, "raw exchange");
      const exposed = (r.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(",").map((s) => s.trim());
      assert.ok(exposed.includes("authorization"), `Access-Control-Expose-Headers lacks Authorization: ${r.headers.get("access-control-expose-headers")}`);
      assert.ok(r.headers.get("access-control-allow-origin"), "Access-Control-Allow-Origin present");
    }),
  );

  test(
    "azp from another origin is refused (403 token_azp_invalid)",
    L(async () => {
      const t = await sign(idp.clerkKey, claims({ sub: `user_${rand(24)}`, azp: "https://evil.example" }));
      await expectRefused(t, 403, "token_azp_invalid", "Clerk azp https://evil.example");
    }),
  );

  test(
    "an expired token is 401 token_expired (through the client)",
    L(async () => {
      const iat = now() - 600;
      const t = await sign(idp.clerkKey, claims({ sub: `user_${rand(24)}`, iat, ttl: 60 }));
      await expectCloudError(client, tokenClient(client, server, t).threads.list(), 401, "expired Clerk token", "token_expired");
      await expectRefused(t, 401, "token_expired", "expired Clerk token (raw)");
    }),
  );

  test(
    "tampered tokens are 403 token_signature_invalid; a disallowed alg is 403 token_algorithm_not_allowed",
    L(async () => {
      const t = await sign(idp.clerkKey, claims({ sub: `user_${rand(24)}` }));
      await expectRefused(flipSignature(t), 403, "token_signature_invalid", "flipped signature");
      await expectRefused(swapPayload(t, { sub: "user_victim" }), 403, "token_signature_invalid", "payload swapped under the signature");
      await expectCloudError(client, tokenClient(client, server, flipSignature(t)).threads.list(), 403, "tampered via client", "token_signature_invalid");
      const es = await makeKey("ES256");
      await expectRefused(
        await sign(es, claims({ sub: `user_${rand(24)}` }), { kid: idp.clerkKey.kid }),
        403,
        "token_algorithm_not_allowed",
        "ES256 token for an RS256-only Clerk rule",
      );
    }),
  );
});

describe("Auth0 access tokens (jose-minted, local JWKS)", () => {
  test(
    "issuer with a trailing slash, aud array with userinfo; exchange; isolation",
    L(async () => {
      const u1 = `auth0|${rand(24)}`;
      const u2 = `google-oauth2|${rand(21)}`;
      const c = (sub) => auth0Claims({ issuer: idp.auth0Issuer, sub, audience: API });
      const a = await exchangeFlow(await sign(idp.auth0Key, c(u1)), { sub: u1, workspace: u1, what: "Auth0 user 1" });
      const b = await exchangeFlow(await sign(idp.auth0Key, c(u2)), { sub: u2, workspace: u2, what: "Auth0 user 2" });
      await assertIsolated(a.threadId, b.own, "Auth0 user 2 vs user 1");
      await assertIsolated(b.threadId, await sign(idp.auth0Key, c(u1)), "Auth0 user 1 (provider token) vs user 2");
    }),
  );

  test(
    "a token for another API is 403 token_audience_invalid; the issuer without its slash is 403 token_issuer_unknown",
    L(async () => {
      const sub = `auth0|${rand(24)}`;
      await expectRefused(
        await sign(idp.auth0Key, auth0Claims({ issuer: idp.auth0Issuer, sub, audience: "https://billing.example.test" })),
        403,
        "token_audience_invalid",
        "Auth0 token for another API",
      );
      await expectRefused(
        await sign(idp.auth0Key, auth0Claims({ issuer: idp.auth0.origin, sub, audience: API })),
        403,
        "token_issuer_unknown",
        "Auth0 issuer without trailing slash",
      );
    }),
  );
});

describe("Supabase access tokens (ES256 signing keys and legacy HS256, same issuer)", () => {
  const c = (o) => supabaseClaims({ issuer: idp.supabaseIssuer, ...o });

  test(
    "ES256 user and anonymous user; exchange; isolation",
    L(async () => {
      const u1 = randomUUID();
      const anon = randomUUID();
      const a = await exchangeFlow(await sign(idp.supabaseKey, c({ sub: u1 })), { sub: u1, workspace: u1, what: "Supabase ES256 user" });
      const b = await exchangeFlow(await sign(idp.supabaseKey, c({ sub: anon, anonymous: true })), {
        sub: anon,
        workspace: anon,
        what: "Supabase anonymous user",
      });
      await assertIsolated(a.threadId, b.own, "Supabase anonymous vs user");
      await assertIsolated(b.threadId, a.own, "Supabase user vs anonymous");
    }),
  );

  test(
    "legacy HS256 (rule with --shared-secret-file); a wrong secret is 403 token_signature_invalid",
    L(async () => {
      const u = randomUUID();
      const legacy = { alg: "HS256", secret: idp.supabaseSecret };
      const a = await exchangeFlow(await sign(legacy, c({ sub: u })), { sub: u, workspace: u, what: "Supabase legacy HS256 user" });
      await assertIsolated(a.threadId, await sign(idp.supabaseKey, c({ sub: randomUUID() })), "ES256 user vs legacy user");
      await expectRefused(
        await sign({ alg: "HS256", secret: `${idp.supabaseSecret}-other-project` }, c({ sub: u })),
        403,
        "token_signature_invalid",
        "HS256 with another project's secret",
      );
    }),
  );

  test(
    "Cache-Control: no-store is clamped: the key set is fetched once for many tokens",
    L(async () => {
      for (let i = 0; i < 4; i++) await expectAccepted(await sign(idp.supabaseKey, c({ sub: randomUUID() })), `Supabase token ${i}`);
      assert.equal(idp.supabase.hitCount(), 1, `the Supabase JWKS was fetched ${idp.supabase.hitCount()} times (no-store must be clamped to >= 5 min)`);
    }),
  );
});

describe("Firebase ID tokens (local stand-in for Google's JWKS via --jwks-url)", () => {
  const issuer = `https://securetoken.google.com/${FIREBASE_PROJECT}`;
  const c = (o) => firebaseClaims({ project: FIREBASE_PROJECT, ...o });
  let exchanged;

  test(
    "a rule added while the server runs is picked up within ~3 s; exchange; isolation",
    L(async () => {
      const uid1 = rand(28);
      const first = await sign(idp.firebaseKeys[0], c({ uid: uid1 }));
      rules.firebase = await addRule(server.dataDir, [
        "--provider", "firebase",
        "--issuer", issuer,
        "--jwks-url", `${idp.firebase.origin}${FIREBASE_JWKS_PATH}`,
      ]);
      const added = Date.now();
      let r;
      while (Date.now() - added < 6_000) {
        r = await raw(first);
        if (r.status === 200) break;
        await sleep(250);
      }
      assert.equal(r.status, 200, `Firebase token still refused ${Date.now() - added} ms after \`rules add\`: ${r.status} ${JSON.stringify(r.body)}`);

      const uid2 = rand(28);
      const a = await exchangeFlow(await sign(idp.firebaseKeys[1], c({ uid: uid1, provider: "password" })), {
        sub: uid1,
        workspace: uid1,
        what: "Firebase user 1",
      });
      const b = await exchangeFlow(await sign(idp.firebaseKeys[0], c({ uid: uid2 })), { sub: uid2, workspace: uid2, what: "Firebase user 2" });
      await assertIsolated(a.threadId, b.own, "Firebase user 2 vs user 1");
      exchanged = a;
    }),
  );

  test(
    "a token of another Firebase project (same Google keys) is refused",
    L(async () => {
      const uid = rand(28);
      await expectRefused(
        await sign(idp.firebaseKeys[0], firebaseClaims({ project: "someone-elses-app", uid })),
        403,
        "token_issuer_unknown",
        "other project's iss and aud",
      );
      await expectRefused(
        await sign(idp.firebaseKeys[0], { ...c({ uid }), aud: "someone-elses-app" }),
        403,
        "token_audience_invalid",
        "our iss, other project's aud",
      );
    }),
  );

  test(
    "rules list shows the rule; rules remove refuses its tokens within ~3 s, issued threadhold tokens stay valid",
    L(async () => {
      assert.ok(rules.firebase, "the Firebase rule exists (previous test)");
      const listed = await runCli(["rules", "list", "--data", server.dataDir]);
      assert.ok(listed.includes(rules.firebase), `rules list lacks ${rules.firebase}:\n${listed}`);
      for (const id of Object.values(rules)) assert.ok(listed.includes(id), `rules list lacks ${id}`);

      const t = await sign(idp.firebaseKeys[0], c({ uid: rand(28) }));
      await expectAccepted(t, "Firebase token before removal");
      await runCli(["rules", "remove", rules.firebase, "--data", server.dataDir]);
      const removed = Date.now();
      let r;
      while (Date.now() - removed < 6_000) {
        r = await raw(t);
        if (r.status !== 200) break;
        await sleep(250);
      }
      assert.equal(r.status, 403, `Firebase token ${Date.now() - removed} ms after \`rules remove\`: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body?.error, "token_issuer_unknown");
      const listedAfter = await runCli(["rules", "list", "--data", server.dataDir]);
      assert.ok(!listedAfter.includes(rules.firebase), `rules list still shows the removed rule:\n${listedAfter}`);
      delete rules.firebase;

      // A token threadhold issued keeps working until its exp (spec 2.2 item 4a).
      const own = tokenClient(client, server, exchanged.own);
      assert.ok((await own.threads.list()).threads.some((x) => x.id === exchanged.threadId));
    }),
  );
});

describe("key endpoint trouble and exchange switch", () => {
  test(
    "an unreachable JWKS is 503 jwks_unavailable",
    L(async () => {
      const key = await makeKey("RS256");
      await expectRefused(await sign(key, clerkClaims({ issuer: idp.dead, sub: "user_dead" })), 503, "jwks_unavailable", "dead JWKS");
    }),
  );

  test(
    "THREADHOLD_TOKEN_EXCHANGE=false: accepted, but no Authorization response header; the client keeps the provider token",
    L(async () => {
      const off = await startServer({
        env: { ...ALLOW_ENV, THREADHOLD_TOKEN_EXCHANGE: "false" },
        setup: (dir) => addRule(dir, ["--provider", "clerk", "--issuer", idp.clerk.origin]),
      });
      try {
        const sub = `user_${rand(24)}`;
        const t = await sign(idp.clerkKey, clerkClaims({ issuer: idp.clerk.origin, sub }));
        const res = await fetch(`${off.url}/v1/threads`, { headers: { Authorization: `Bearer ${t}`, Origin: APP_ORIGIN } });
        assert.equal(res.status, 200, await res.text());
        assert.equal(res.headers.get("authorization"), null, "no exchanged token when the exchange is off");
        const spy = spyFetch();
        try {
          const c = new AssistantCloud({ baseUrl: off.url, authToken: async () => t, telemetry: false });
          const { thread_id } = await c.threads.create({ last_message_at: new Date() });
          assert.equal((await c.threads.get(thread_id)).workspace_id, sub);
          const sent = spy.calls.map((x) => x.headers.authorization);
          assert.deepEqual(sent, [`Bearer ${t}`, `Bearer ${t}`]);
        } finally {
          spy.restore();
        }
      } finally {
        await off.stop();
      }
    }),
  );
});

describe("oauth2-mock-server as an Auth0-like issuer (trailing slash, /jwks)", () => {
  test(
    "client_credentials tokens without sub are refused with 403 token_claim_missing",
    L(async () => {
      mockAddSub = false;
      let t;
      try {
        t = await mockToken("no-sub-client");
      } finally {
        mockAddSub = true;
      }
      const claims = jose.decodeJwt(t);
      assert.equal(claims.sub, undefined);
      assert.equal(claims.iss, idp.mockIssuer.url);
      await expectRefused(t, 403, "token_claim_missing", "mock token without sub");
    }),
  );

  test(
    "M2M tokens (sub <client>@clients) map to their own workspaces; exchange; isolation; wrong aud refused",
    L(async () => {
      assert.equal(primed.mock.status, 200, `first mock token refused: ${JSON.stringify(primed.mock.body)}`);
      const t1 = await mockToken("reporting-service");
      const t2 = await mockToken("billing-service");
      assert.equal(jose.decodeProtectedHeader(t1).alg, "RS256");
      const a = await exchangeFlow(t1, { sub: "reporting-service@clients", workspace: "reporting-service@clients", what: "mock client 1" });
      const b = await exchangeFlow(t2, { sub: "billing-service@clients", workspace: "billing-service@clients", what: "mock client 2" });
      await assertIsolated(a.threadId, b.own, "mock client 2 vs 1");
      await assertIsolated(b.threadId, a.own, "mock client 1 vs 2");
      await expectRefused(await mockToken("reporting-service", { audience: "https://other-api.test" }), 403, "token_audience_invalid", "mock token for another API");
    }),
  );
});

describe("oidc-provider: RFC 9068 at+jwt access tokens via OIDC discovery", () => {
  test(
    "client_credentials access tokens; workspaces per client; exchange; isolation",
    L(async () => {
      assert.equal(primed.op.status, 200, `first oidc-provider token refused: ${JSON.stringify(primed.op.body)}`);
      const ta = await idp.op.accessToken("svc-alpha");
      const tb = await idp.op.accessToken("svc-beta");
      const h = jose.decodeProtectedHeader(ta);
      assert.equal(h.typ, "at+jwt");
      assert.equal(jose.decodeJwt(ta).iss, idp.op.issuer);
      const a = await exchangeFlow(ta, { sub: "svc-alpha", workspace: "svc-alpha", what: "oidc-provider svc-alpha" });
      const b = await exchangeFlow(tb, { sub: "svc-beta", workspace: "svc-beta", what: "oidc-provider svc-beta" });
      await assertIsolated(a.threadId, b.own, "svc-beta vs svc-alpha");
      await assertIsolated(b.threadId, ta, "svc-alpha (provider token) vs svc-beta");
      assert.ok(idp.op.hits.some((x) => x.path === "/.well-known/openid-configuration"), "the server used discovery");
    }),
  );

  test(
    "a JWT-typed token (e.g. an ID token) signed by the issuer's key is 403 token_type_not_accepted",
    L(async () => {
      const iat = now();
      const idToken = await sign(
        idp.opKey1,
        { iss: idp.op.issuer, sub: "svc-alpha", aud: API, iat, exp: iat + 300, client_id: "svc-alpha" },
        { typ: "JWT" },
      );
      await expectRefused(idToken, 403, "token_type_not_accepted", "typ JWT for an at+jwt rule");
    }),
  );

  test(
    "a discovery document whose issuer differs from the rule's is not trusted",
    L(async () => {
      const iat = now();
      const t = await sign(
        idp.opKey1,
        { iss: `${idp.op.issuer}/`, sub: "svc-alpha", aud: API, iat, exp: iat + 300, client_id: "svc-alpha", scope: "read" },
        { typ: "at+jwt" },
      );
      const r = await raw(t);
      assert.ok([403, 503].includes(r.status), `issuer-mismatched discovery: expected 403/503, got ${r.status} ${JSON.stringify(r.body)}`);
    }),
  );
});

describe("key rotation without a restart", () => {
  before(async () => {
    // The server refetches a key set for an unknown kid at most once per 30 s
    // (counted from its last fetch of that set); wait that out for all three sets.
    const mockJwksHits = () => idp.mockHits.filter((h) => h.path === "/jwks");
    const last = Math.max(idp.rotating.lastHitAt(), idp.op.lastJwksHitAt(), mockJwksHits().at(-1)?.at ?? 0);
    const wait = last + COOLDOWN_MS + 1_500 - Date.now();
    if (wait > 0) await sleep(wait);
  });

  test(
    "local JWKS: a newly published key is accepted; never-published keys are refused without extra fetches",
    L(async () => {
      assert.equal(primed.rotating.status, 200, `the first (key A) token was refused: ${JSON.stringify(primed.rotating.body)}`);
      const before = idp.rotating.hitCount();
      const keyB = await makeKey("RS256", "rot-b");
      idp.rotating.publish(keyB);
      const sub = `user_${rand(24)}`;
      await exchangeFlow(await sign(keyB, clerkClaims({ issuer: idp.rotating.origin, sub })), {
        sub,
        workspace: sub,
        what: "token signed by the newly published key",
      });
      assert.equal(idp.rotating.hitCount(), before + 1, "exactly one refetch for the new kid");
      await expectAccepted(await sign(idp.rotatingKeyA, clerkClaims({ issuer: idp.rotating.origin, sub: "user_rot_a" })), "old key A still published");

      const keyC = await makeKey("RS256", "rot-c-never-published");
      await expectRefused(await sign(keyC, clerkClaims({ issuer: idp.rotating.origin, sub })), 403, "token_key_unknown", "never-published key");
      const keyD = await makeKey("RS256", "rot-d-never-published");
      await expectRefused(await sign(keyD, clerkClaims({ issuer: idp.rotating.origin, sub })), 403, "token_key_unknown", "another never-published key");
      // Signed by C but claiming B's kid: the signature fails.
      await expectRefused(
        await sign(keyC, clerkClaims({ issuer: idp.rotating.origin, sub }), { kid: "rot-b" }),
        403,
        "token_signature_invalid",
        "unpublished key posing as rot-b",
      );
      assert.equal(idp.rotating.hitCount(), before + 1, "unknown kids within the cooldown cause no further fetches");
    }),
  );

  test(
    "oauth2-mock-server: a key added to the running issuer is picked up",
    L(async () => {
      const jwksHits = () => idp.mockHits.filter((h) => h.path === "/jwks").length;
      const before = jwksHits();
      await idp.mockIssuer.keys.generate("RS256", { kid: "mock-2" });
      // The issuer signs round-robin; take a token made with the new key.
      let t;
      for (let i = 0; i < 4 && !t; i++) {
        const candidate = await mockToken("rotated-service");
        if (jose.decodeProtectedHeader(candidate).kid === "mock-2") t = candidate;
      }
      assert.ok(t, "oauth2-mock-server signed no token with the new key");
      await exchangeFlow(t, { sub: "rotated-service@clients", workspace: "rotated-service@clients", what: "mock token with the new key" });
      assert.equal(jwksHits(), before + 1, "one refetch of /jwks");
    }),
  );

  test(
    "oidc-provider restarted with a new key set on the same port: the server refetches on the unknown kid",
    L(async () => {
      const before = idp.op.jwksHitCount();
      const keyB = await makeKey("ES256", "op-2");
      await idp.op.useKeys([keyB]);
      const t = await idp.op.accessToken("svc-alpha");
      assert.equal(jose.decodeProtectedHeader(t).kid, "op-2");
      await exchangeFlow(t, { sub: "svc-alpha", workspace: "svc-alpha", what: "oidc-provider token with the new key" });
      assert.equal(idp.op.jwksHitCount(), before + 1, "one refetch of the discovered jwks_uri");
    }),
  );
});
