// The dashboard in a real browser (issue 9): Debian's Chromium, driven by
// playwright-core, against the real binary. The first owner is made with the
// CLI; keys, rules, the token tester, anonymous access, search, branches,
// export, erasure, the audit log and logout go through the pages, and the
// official assistant-cloud client checks their effect. Every page visited is
// checked with axe-core (no serious or critical violations), and the main
// pages are saved as screenshots in docs/screenshots/.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, readFile, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { browserSession } from "./chromium.mjs";
import {
  CLIENTS,
  apiKeyClient,
  installLocalStorage,
  runCli,
  startServer,
  uninstallLocalStorage,
  withLogs,
  auiUser,
  auiAssistant,
} from "./harness.mjs";
import { JwksServer, makeKey, sign, now } from "./idp.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");
const SCREENSHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");

const OWNER = "owner@example.com";
const MEMBER = "member@example.com";
const LOCKED = "locked@example.com";
const PASSWORD = "correct horse battery staple";
const AUDIENCE = "threadhold-dashboard-test";
const cloud = CLIENTS[0];

let server;
let jwks;
let rsaKey;
let passwordFile;
let passwordDir;
const session = browserSession();
const L = (fn) => withLogs(() => server, fn);

/** Adds an account with the CLI (the password from a file, as an operator's script would). */
async function addAccount(dataDir, email, role) {
  await runCli(["admin", "add", email, "--role", role, "--password-file", passwordFile, "--data", dataDir]);
}

/** Runs axe-core in the page; fails on any serious or critical violation. */
async function checkAccessibility(page, what) {
  // Evaluated through the debugging protocol: the page's CSP (no inline scripts) stays in force.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`),
    [],
    `accessibility of ${what}`,
  );
}

async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** Opens a dashboard page and checks it. */
async function visit(page, pathname, what) {
  const response = await page.goto(`${server.url}${pathname}`);
  assert.ok(response.ok(), `${what}: ${response.status()} ${await page.content()}`);
  await checkAccessibility(page, what);
  return response;
}

async function signIn(page, email, password = PASSWORD, base = server.url) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

before(async () => {
  passwordDir = await mkdtemp(path.join(tmpdir(), "threadhold-dashboard-"));
  passwordFile = path.join(passwordDir, "password");
  await writeFile(passwordFile, `${PASSWORD}\n`);
  jwks = await new JwksServer().start();
  rsaKey = await makeKey("RS256", "dash-key-1");
  jwks.publish(rsaKey);
  server = await startServer({
    env: {
      THREADHOLD_JWKS_ALLOW_HOSTS: "127.0.0.1",
      THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "1000",
    },
    setup: async (dataDir) => {
      await addAccount(dataDir, OWNER, "owner");
      await addAccount(dataDir, MEMBER, "member");
      await addAccount(dataDir, LOCKED, "member");
    },
  });
});

after(async () => {
  await session.close();
  await jwks?.stop();
  await server?.stop();
  if (passwordDir) await rm(passwordDir, { recursive: true, force: true });
});

describe("the dashboard in Chromium", () => {
  let page;
  let apiKey;
  let threadId;
  let branchA;
  let branchB;

  test(
    "the first owner, made with the CLI, signs in and sees the overview",
    L(async () => {
      const context = await session.newContext({ viewport: { width: 1280, height: 800 } });
      page = await context.newPage();
      const login = await page.goto(`${server.url}/admin/login`);
      const headers = login.headers();
      assert.match(headers["content-security-policy"], /default-src 'self'/);
      assert.equal(headers["x-frame-options"], "DENY");
      assert.equal(headers["cache-control"], "no-store");
      await checkAccessibility(page, "the login page");
      await signIn(page, OWNER);
      assert.match(page.url(), /\/admin\/p\/default$/);
      const cookie = (await context.cookies()).find((c) => c.name === "threadhold_session");
      assert.ok(cookie, "a session cookie");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Strict");
      assert.equal(cookie.path, "/admin");
      assert.match(await page.textContent("main"), /baseUrl/);
      await checkAccessibility(page, "the overview");
    }),
  );

  test(
    "an API key is created, shown once, and works with the official client",
    L(async () => {
      await visit(page, "/admin/p/default/keys", "the keys page (empty)");
      await page.fill("#name", "backend");
      await page.selectOption("#expires_in_days", "30");
      await page.click("form.stack button[type=submit]");
      apiKey = (await page.textContent("#new-key")).trim();
      assert.match(apiKey, /^sk_aui_proj_default_/);
      const listed = await page.textContent("table");
      assert.match(listed, /backend/);
      assert.ok(listed.includes(apiKey.slice(-4)), "the list shows the last four characters");
      assert.ok(!listed.includes(apiKey), "never the whole key");
      await checkAccessibility(page, "the keys page with a new key");

      // A conversation with a branch, a run report and feedback, stored by the official client.
      const client = apiKeyClient(cloud, server, { apiKey, workspaceId: "user-erase", userId: "user-erase" });
      threadId = (await client.threads.create({ last_message_at: new Date(), title: "Bread questions" })).thread_id;
      const question = await client.threads.messages.create(threadId, {
        parent_id: null,
        format: "aui/v0",
        content: auiUser("How do I keep a sourdough starter alive?"),
      });
      branchA = (
        await client.threads.messages.create(threadId, {
          parent_id: question.message_id,
          format: "aui/v0",
          content: auiAssistant("Feed it flour and water every day.", { withTool: true }),
        })
      ).message_id;
      branchB = (
        await client.threads.messages.create(threadId, {
          parent_id: question.message_id,
          format: "aui/v0",
          content: auiAssistant("Keep it in the fridge and feed it weekly."),
        })
      ).message_id;
      await client.threads.messages.feedback(threadId, branchB, { type: "positive", comment: "clear" });
      await client.runs.report({ thread_id: threadId, status: "completed", total_steps: 1 });
      await page.goto(`${server.url}/admin/p/default/keys`);
      await screenshot(page, "keys");
    }),
  );

  test(
    "a rule for a local JWKS is added from a preset, and the token tester accepts, then refuses a wrong audience",
    L(async () => {
      await visit(page, "/admin/p/default/rules", "the rules page (empty)");
      await page.selectOption("#provider", "oidc");
      await page.fill("#name", "local-idp");
      await page.fill("#issuer", jwks.origin);
      await page.fill("#audiences", AUDIENCE);
      await page.fill("#jwks_url", `${jwks.origin}/.well-known/jwks.json`);
      await page.fill("#name_claim", "name");
      await page.click("form.stack button[type=submit]");
      assert.match(await page.textContent("table"), /local-idp/);
      await checkAccessibility(page, "the rules page");

      const claims = (aud) => ({ iss: jwks.origin, sub: "user-tested", aud, iat: now(), exp: now() + 600, name: "Tess" });
      await visit(page, "/admin/p/default/rules/test", "the token tester");
      await page.fill("#token", await sign(rsaKey, claims(AUDIENCE)));
      await page.click("form.stack button[type=submit]");
      const accepted = await page.textContent(".report");
      assert.match(accepted, /Accepted by local-idp/);
      assert.match(accepted, /user-tested/);
      assert.match(accepted, /dash-key-1/);
      await page.fill("#token", await sign(rsaKey, claims("someone-else")));
      await page.click("form.stack button[type=submit]");
      const refused = await page.textContent(".report");
      assert.match(refused, /Refused/);
      assert.match(refused, /token_audience_invalid/);
      assert.match(refused, new RegExp(`expects ${AUDIENCE}`));
      await checkAccessibility(page, "the token tester with a report");
      await screenshot(page, "token-tester");
      await page.goto(`${server.url}/admin/p/default/rules`);
      await screenshot(page, "rules");
    }),
  );

  test(
    "switching anonymous access off refuses the official client",
    L(async () => {
      await visit(page, "/admin/p/default/access", "the access page");
      installLocalStorage();
      try {
        const anonymous = new cloud.mod.AssistantCloud({ baseUrl: server.url, anonymous: true, telemetry: false });
        await anonymous.threads.list();
        await page.click("text=Turn anonymous access off");
        assert.match(await page.textContent("main"), /are refused/);
        installLocalStorage();
        const refused = new cloud.mod.AssistantCloud({ baseUrl: server.url, anonymous: true, telemetry: false });
        // The official client reports a refused anonymous mint as "Authorization failed".
        await assert.rejects(refused.threads.list(), { message: "Authorization failed" });
        const mint = await fetch(`${server.url}/v1/auth/tokens/anonymous`, { method: "POST" });
        assert.equal(mint.status, 403);
        assert.equal((await mint.json()).error, "anonymous_disabled");
      } finally {
        uninstallLocalStorage();
      }
      await screenshot(page, "access");
    }),
  );

  test(
    "a message's text is found, its thread opens with its branches, and exports as Markdown",
    L(async () => {
      await visit(page, "/admin/p/default/threads", "the threads page");
      await page.fill("#q", "sourdough");
      await page.click("form.filters button[type=submit]");
      assert.match(await page.textContent("table"), /Bread questions/);
      assert.match(await page.textContent(".snippet"), /sourdough/);
      await checkAccessibility(page, "search results");
      await screenshot(page, "threads");
      await page.click("text=Bread questions");
      const transcript = await page.textContent("ol.transcript");
      assert.match(transcript, /fridge/, "the newest branch first");
      assert.match(transcript, /Branch 2 of 2/);
      assert.match(await page.textContent("main"), /positive by user-erase: clear/, "feedback on the thread");
      await checkAccessibility(page, "a thread");
      await page.click("a[aria-label='Previous branch']");
      const other = await page.textContent("ol.transcript");
      assert.match(other, /every day/);
      assert.match(other, /Branch 1 of 2/);
      assert.match(other, /search_recipes/, "the tool call is shown");
      await screenshot(page, "thread");
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Export Markdown")]);
      const markdown = await readFile(await download.path(), "utf8");
      assert.match(markdown, /^# Bread questions/);
      assert.match(markdown, /sourdough starter/);
      assert.match(markdown, /Tool call `search_recipes`/);
      assert.ok(markdown.includes(branchA) === false, "Markdown holds the conversation, not ids");
    }),
  );

  test(
    "a user is erased after a confirmation that says what goes, and their data is gone",
    L(async () => {
      await visit(page, "/admin/p/default/users", "the users page");
      assert.match(await page.textContent("table"), /user-erase/);
      await screenshot(page, "users");
      await page.click("a[aria-label='Erase user-erase']");
      const confirmation = await page.textContent("main");
      assert.match(confirmation, /deletes the workspace user-erase with its 1 thread/);
      await checkAccessibility(page, "the erase confirmation");
      await page.click("button.danger");
      assert.doesNotMatch((await page.textContent("main")) ?? "", /user-erase/);
      const client = apiKeyClient(cloud, server, { apiKey, workspaceId: "user-erase", userId: "someone" });
      assert.deepEqual((await client.threads.list()).threads, [], "the user's threads are gone");
    }),
  );

  test(
    "every other page passes the accessibility check",
    L(async () => {
      for (const [pathname, what] of [
        ["/admin/p/default?days=7", "the overview over 7 days"],
        ["/admin/p/default/runs", "runs and feedback"],
        ["/admin/p/default/settings?preview_days=1", "settings with a retention preview"],
        ["/admin/projects", "projects"],
        ["/admin/accounts", "admin accounts"],
      ]) {
        await visit(page, pathname, what);
      }
      await page.goto(`${server.url}/admin/p/default`);
      await screenshot(page, "overview");
    }),
  );

  test(
    "the audit log holds every change above",
    L(async () => {
      await visit(page, "/admin/audit", "the audit log");
      const log = await page.textContent("table");
      for (const action of ["admin.create", "admin.login", "api_key.create", "rule.create", "anonymous.disable", "user.erase"]) {
        assert.ok(log.includes(action), `${action} in the audit log`);
      }
      const actors = await page.locator("tbody td:nth-child(2)").allTextContents();
      assert.ok(actors.includes("admin:owner@example.com"), `actors: ${actors}`);
      assert.ok(actors.includes("cli"), "the CLI's changes are there too");
      assert.ok(!log.includes(apiKey), "no secret in the log");
      await page.fill("#action", "api_key.");
      await page.click("form.filters button[type=submit]");
      assert.doesNotMatch(await page.textContent("table"), /rule\.create/);
      await page.goto(`${server.url}/admin/audit`);
      await screenshot(page, "audit");
    }),
  );

  test(
    "logging out ends the session",
    L(async () => {
      await page.goto(`${server.url}/admin/p/default`);
      await page.click("text=Log out");
      assert.match(page.url(), /\/admin\/login$/);
      await page.goto(`${server.url}/admin/p/default/keys`);
      assert.match(page.url(), /\/admin\/login$/, "pages need a session again");
    }),
  );
});

describe("the dashboard refuses", () => {
  test(
    "a wrong password, with the reason next to the form",
    L(async () => {
      const context = await session.newContext();
      const page = await context.newPage();
      await signIn(page, OWNER, "not the password at all");
      assert.match(await page.textContent("main"), /Wrong email or password/);
      assert.match(page.url(), /\/admin\/login$/);
    }),
  );

  test(
    "logins after too many failures of one account",
    L(async () => {
      const context = await session.newContext();
      const page = await context.newPage();
      for (let i = 0; i < 5; i++) await signIn(page, LOCKED, `wrong password ${i}!`);
      await page.goto(`${server.url}/admin/login`);
      await page.fill("#email", LOCKED);
      await page.fill("#password", PASSWORD);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith("/admin/login") && r.request().method() === "POST"),
        page.click("button[type=submit]"),
      ]);
      assert.equal(response.status(), 429);
      assert.match(await page.textContent("main"), /Too many failed logins/);
    }),
  );

  test(
    "a state change without the session's CSRF token (form and JSON API)",
    L(async () => {
      const context = await session.newContext();
      const page = await context.newPage();
      await signIn(page, OWNER);
      const outcomes = await page.evaluate(async () => {
        const form = await fetch("/admin/p/default/keys", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: "name=sneaky",
        });
        const api = await fetch("/admin/api/projects/default/keys", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name: "sneaky" }),
        });
        const me = await (await fetch("/admin/api/me")).json();
        const withToken = await fetch("/admin/api/projects/default/keys", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
          body: JSON.stringify({ name: "scripted", expires_in_days: 7 }),
        });
        return { form: form.status, api: api.status, apiBody: await api.json(), withToken: withToken.status };
      });
      assert.equal(outcomes.form, 403);
      assert.equal(outcomes.api, 403);
      assert.equal(outcomes.apiBody.error, "csrf_failed");
      assert.equal(outcomes.withToken, 201, "the same request with the token goes through");
    }),
  );

  test(
    "an expired session",
    L(async () => {
      const short = await startServer({
        env: { THREADHOLD_ADMIN_SESSION_IDLE_SECS: "1" },
        setup: (dataDir) => addAccount(dataDir, OWNER, "owner"),
      });
      try {
        const context = await session.newContext();
        const page = await context.newPage();
        await signIn(page, OWNER, PASSWORD, short.url);
        assert.match(page.url(), /\/admin\/p\/default$/);
        await new Promise((r) => setTimeout(r, 2_200));
        await page.goto(`${short.url}/admin/p/default/keys`);
        assert.match(page.url(), /\/admin\/login\?expired=1$/);
        assert.match(await page.textContent("main"), /Your session has ended/);
      } finally {
        await short.stop();
      }
    }),
  );

  test(
    "a member trying an owner's action",
    L(async () => {
      const context = await session.newContext();
      const page = await context.newPage();
      await signIn(page, MEMBER);
      const response = await page.goto(`${server.url}/admin/accounts`);
      assert.equal(response.status(), 403);
      assert.match(await page.textContent("main"), /Your role \(member\) may not manage admin accounts/);
      const api = await page.evaluate(async () => {
        const me = await (await fetch("/admin/api/me")).json();
        const res = await fetch("/admin/api/accounts", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
          body: JSON.stringify({ email: "evil@example.com", role: "owner", password: "long enough password" }),
        });
        return { status: res.status, body: await res.json() };
      });
      assert.equal(api.status, 403);
      assert.equal(api.body.error, "forbidden");
      assert.equal(await page.locator("nav.account a[href='/admin/accounts']").count(), 0, "members see no accounts link");
    }),
  );

  test(
    "everything while no account exists, saying how to make one",
    L(async () => {
      const empty = await startServer();
      try {
        const page = await (await session.newContext()).newPage();
        const response = await page.goto(`${empty.url}/admin`);
        assert.equal(response.status(), 403);
        assert.match(await page.textContent("main"), /threadhold admin add you@example\.com --role owner/);
        await checkAccessibility(page, "the dashboard-off page");
        const api = await fetch(`${empty.url}/admin/api/projects`);
        assert.equal(api.status, 403);
        assert.equal((await api.json()).error, "dashboard_off");
      } finally {
        await empty.stop();
      }
    }),
  );
});
