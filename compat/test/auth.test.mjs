// Workspace tokens (spec 2.2, 2.5, 2.8) and credential rejection, both versions.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  tokenClient,
  expectCloudError,
  jwtPayload,
  forgedJwt,
  uid,
  auiUser,
  auiAssistant,
} from "./harness.mjs";

const TTL = 120;
let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer({ env: { THREADHOLD_WORKSPACE_TOKEN_TTL_SECS: String(TTL) } });
  apiKey = await server.createKey("compat-auth");
});
after(async () => {
  await server?.stop();
});

for (const client of CLIENTS) {
  describe(`auth (${client.name})`, () => {
    let keyed;
    let workspaceId;

    before(() => {
      workspaceId = uid("ws-auth");
      keyed = apiKeyClient(client, server, { apiKey, workspaceId, userId: "backend-user" });
    });

    test(
      "auth.tokens.create returns a JWT with a numeric exp set by THREADHOLD_WORKSPACE_TOKEN_TTL_SECS",
      L(async () => {
        const res = await keyed.auth.tokens.create();
        assert.deepEqual(Object.keys(res), ["token"]);
        assert.equal(typeof res.token, "string");
        assert.equal(res.token.split(".").length, 3, "the token is a three-part JWT");
        const claims = jwtPayload(res.token);
        assert.equal(typeof claims.exp, "number");
        assert.ok(claims.exp > 0);
        const now = Date.now() / 1000;
        assert.ok(
          claims.exp > now + TTL - 15 && claims.exp <= now + TTL + 5,
          `exp should be about now + ${TTL}s (exp - now = ${Math.round(claims.exp - now)}s)`,
        );
      }),
    );

    test(
      "a token client in the same workspace lists, reads and writes the same threads",
      L(async () => {
        const existing = await keyed.threads.create({ last_message_at: new Date(), title: "made with the API key" });
        const { token } = await keyed.auth.tokens.create();
        let calls = 0;
        const jwt = new client.mod.AssistantCloud({
          baseUrl: server.url,
          authToken: async () => {
            calls++;
            return token;
          },
          telemetry: false,
        });

        const listed = await jwt.threads.list();
        assert.ok(listed.threads.some((t) => t.id === existing.thread_id), "token client sees the API-key client's thread");
        const got = await jwt.threads.get(existing.thread_id);
        assert.equal(got.title, "made with the API key");
        assert.equal(got.workspace_id, workspaceId);

        const { thread_id } = await jwt.threads.create({ last_message_at: new Date(), title: "made with the token" });
        const u = await jwt.threads.messages.create(thread_id, { parent_id: null, format: "aui/v0", content: auiUser("from the browser") });
        const a = await jwt.threads.messages.create(thread_id, { parent_id: u.message_id, format: "aui/v0", content: auiAssistant("reply") });
        await jwt.threads.update(thread_id, { title: "renamed with the token" });

        const seenByKey = await keyed.threads.get(thread_id);
        assert.equal(seenByKey.title, "renamed with the token");
        const msgs = await keyed.threads.messages.list(thread_id);
        assert.deepEqual(msgs.messages.map((m) => m.id), [a.message_id, u.message_id]);

        // The token is cached while it has more than 30 s left: one callback for all calls.
        assert.equal(calls, 1, "authToken called once (the server sent no unusable Authorization header)");
      }),
    );

    test(
      "a token does not reach other workspaces",
      L(async () => {
        const other = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-auth-other") });
        const theirs = await other.threads.create({ last_message_at: new Date(), title: "not yours" });
        const { token } = await keyed.auth.tokens.create();
        const jwt = tokenClient(client, server, token);
        await expectCloudError(client, jwt.threads.get(theirs.thread_id), 404, "token GET of another workspace's thread", "thread_not_found");
        assert.ok(!(await jwt.threads.list()).threads.some((t) => t.id === theirs.thread_id));
      }),
    );

    test(
      "API-key-only routes refuse a workspace token with 403",
      L(async () => {
        const { token } = await keyed.auth.tokens.create();
        const jwt = tokenClient(client, server, token);
        await expectCloudError(client, jwt.auth.tokens.create(), 403, "POST /auth/tokens with a token");
        await expectCloudError(client, jwt.projects.threads.list(), 403, "GET /projects/threads with a token");
      }),
    );

    test(
      "garbage credentials are refused with 401/403",
      L(async () => {
        // A JWT-shaped forgery with a future exp (the client needs a decodable exp to send it at all).
        const forged = tokenClient(client, server, forgedJwt({ workspace_id: workspaceId }));
        await expectCloudError(client, forged.threads.list(), [401, 403], "forged JWT");
        await expectCloudError(
          client,
          forged.threads.create({ last_message_at: new Date() }),
          [401, 403],
          "forged JWT create",
        );

        // A real token with its signature tampered with.
        const { token } = await keyed.auth.tokens.create();
        const [h, p, s] = token.split(".");
        const flipped = s.slice(0, -2) + (s.slice(-2) === "AA" ? "BB" : "AA");
        await expectCloudError(client, tokenClient(client, server, `${h}.${p}.${flipped}`).threads.list(), [401, 403], "tampered signature");

        // A real token whose payload was re-written to another workspace.
        const claims = jwtPayload(token);
        const forgedPayload = Buffer.from(JSON.stringify({ ...claims, workspace_id: "ws-stolen", sub: "intruder" })).toString("base64url");
        await expectCloudError(
          client,
          tokenClient(client, server, `${h}.${forgedPayload}.${s}`).threads.list(),
          [401, 403],
          "payload swapped under a valid signature",
        );

        // An unknown API key.
        const badKey = apiKeyClient(client, server, { apiKey: "sk_aui_proj_nope_0000000000000000000000", workspaceId });
        await expectCloudError(client, badKey.threads.list(), [401, 403], "unknown API key");
        const garbageKey = apiKeyClient(client, server, { apiKey: "garbage", workspaceId });
        await expectCloudError(client, garbageKey.threads.list(), [401, 403], "garbage API key");
      }),
    );

    test(
      "an API key with an invalid Aui-Workspace-Id is refused with 403",
      L(async () => {
        const c = apiKeyClient(client, server, { apiKey, workspaceId: "has space" });
        await expectCloudError(client, c.threads.list(), 403, "Aui-Workspace-Id with whitespace");
      }),
    );
  });
}

describe("raw transport", () => {
  test(
    "no Authorization header is 401; preflight and bare requests carry CORS headers",
    L(async () => {
      const res = await fetch(`${server.url}/v1/threads`, { headers: { "Content-Type": "application/json" } });
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(typeof body.error, "string");
      assert.equal(typeof body.message, "string");

      const pre = await fetch(`${server.url}/v1/threads`, {
        method: "OPTIONS",
        headers: {
          Origin: "http://localhost:3000",
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "authorization,content-type,aui-sdk",
        },
      });
      assert.ok(pre.status >= 200 && pre.status < 300, `preflight answered ${pre.status}`);
      assert.ok(pre.headers.get("access-control-allow-origin"), "preflight has Access-Control-Allow-Origin");
      const allowHeaders = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      for (const h of ["authorization", "content-type", "aui-sdk"]) {
        assert.ok(allowHeaders === "*" || allowHeaders.includes(h), `preflight allows ${h} (got ${allowHeaders})`);
      }
    }),
  );
});
