// Workspace-token lifetime (spec 2.2 item 4): a token is honoured right after
// it is minted and refused with 401 once it has expired (allowing for a small
// clock-skew leeway). Uses a 1-second lifetime; the wait is bounded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  tokenClient,
  expectCloudError,
  jwtPayload,
  uid,
} from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer({ env: { THREADHOLD_WORKSPACE_TOKEN_TTL_SECS: "1" } });
  apiKey = await server.createKey("compat-expiry");
});
after(async () => {
  await server?.stop();
});

test(
  "an expired workspace token is refused with 401 within 30 s of its exp",
  L(async () => {
    const client = CLIENTS[0];
    const keyed = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-exp") });
    const { token } = await keyed.auth.tokens.create();
    const { exp } = jwtPayload(token);
    // The client re-asks authToken before every call when exp is < 30 s away; it gets the same token.
    const jwt = tokenClient(client, server, token);
    await jwt.threads.list(); // honoured while fresh

    const deadline = exp * 1000 + 30_000;
    let err;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        await jwt.threads.list();
      } catch (e) {
        err = e;
        break;
      }
    }
    assert.ok(err, "the token was still accepted 30 s after its exp");
    assert.ok(Date.now() >= exp * 1000, "refused only after exp");
    await expectCloudError(client, Promise.reject(err), 401, "expired token");
  }),
);
