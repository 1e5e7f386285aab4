// The examples' end-to-end test: for each app in examples/ it
//
//   1. installs the app's locked packages (`npm ci`, skipped while node_modules
//      matches package-lock.json),
//   2. starts the real threadhold binary on 127.0.0.1 with a fresh `--data`
//      directory (for react-backend-token, `threadhold init` and
//      `threadhold keys create` run first, and the key goes to the backend),
//   3. builds the app with `npm run build` (`vite build`) for that server's URL
//      (VITE_THREADHOLD_URL),
//   4. serves it: the app's own `server.mjs` when it has one (the backend with
//      its /api routes and the built app), else a static file server,
//   5. in Debian's Chromium (playwright-core, never a downloaded browser):
//      sends a message, sees the reply, waits until the page has no request to
//      threadhold in flight, reloads, finds the thread in the thread list,
//      opens it and sees both messages again (as the server gave them back),
//      titled after the first message. The bearer tokens the tab sent to
//      threadhold show who it acted as: one anonymous identity in its own
//      workspace across the reload, or (react-backend-token) the signed-in
//      user, whose chats a second user in another browser does not see.
//
// Run from the repository root with `scripts/test-examples`, or here with
// `npm ci && THREADHOLD_BIN=../../target/debug/threadhold npm test`.
//
// Environment:
//   THREADHOLD_BIN     server binary (default: $CARGO_TARGET_DIR/debug/threadhold,
//                      else target/debug/threadhold of the repository)
//   EXAMPLES           comma-separated subset of the examples to run
//   EXAMPLES_LOGS=1    stream every process's output while the tests run
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const examplesDir = path.resolve(here, "..");
const repoDir = path.resolve(examplesDir, "..");
const BIN = process.env.THREADHOLD_BIN
  ? path.resolve(process.env.THREADHOLD_BIN)
  : path.join(process.env.CARGO_TARGET_DIR ?? path.join(repoDir, "target"), "debug", "threadhold");
const CHROMIUM = "/usr/bin/chromium";
const STREAM_LOGS = process.env.EXAMPLES_LOGS === "1";
const selected = (name) => !process.env.EXAMPLES || process.env.EXAMPLES.split(",").includes(name);

// ---------------------------------------------------------------------------
// Processes

/** The environment without the variables that configure threadhold or the examples. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("THREADHOLD_") || name.startsWith("VITE_")) delete env[name];
  }
  delete env.PORT;
  delete env.HOST;
  return { ...env, ...extra };
}

/** Runs a command to completion; rejects with its output on a non-zero exit. Resolves to its stdout. */
function run(cmd, args, { cwd, env = cleanEnv(), timeoutMs = 180_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
      if (STREAM_LOGS) process.stderr.write(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d) => {
      stderr += d;
      if (STREAM_LOGS) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `\`${cmd} ${args.join(" ")}\` (in ${cwd ?? process.cwd()}) failed (code ${code}, signal ${signal}).\n` +
              `stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`,
          ),
        );
    });
  });
}

/**
 * Starts a long-running process and waits for the stdout line that `urlPattern`
 * matches (its first group is the URL). Returns { url, logs(), stop() }.
 */
async function startProcess(name, cmd, args, { cwd, env, urlPattern }) {
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (d) => {
    output += d;
    if (output.length > 1_000_000) output = output.slice(-500_000);
    if (STREAM_LOGS) process.stderr.write(`[${name}] ${d}`);
  };
  child.stderr.setEncoding("utf8").on("data", collect);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} printed no URL within 20 s.\noutput:\n${output.slice(-4000)}`)),
      20_000,
    );
    child.stdout.setEncoding("utf8").on("data", (d) => {
      collect(d);
      const m = urlPattern.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/+$/, ""));
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early (code ${code}, signal ${signal}).\noutput:\n${output.slice(-4000)}`));
    });
  });
  return {
    name,
    url,
    logs: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** threadhold serve on a random loopback port with `dataDir`. */
function startThreadhold(dataDir) {
  return startProcess("threadhold", BIN, ["serve", "--listen", "127.0.0.1:0", "--data", dataDir], {
    env: cleanEnv(),
    urlPattern: /threadhold listening on (http:\/\/\S+)/,
  });
}

/** `threadhold keys create` for the data directory (made with `threadhold init` first); returns the key. */
async function createKey(dataDir) {
  await run(BIN, ["init", "--data", dataDir]);
  const out = await run(BIN, ["keys", "create", "--name", "example-backend", "--data", dataDir]);
  const key = out.trim().split("\n").at(-1).trim();
  assert.ok(key, `\`threadhold keys create\` printed no key:\n${out}`);
  return key;
}

/** `npm ci` unless node_modules was installed from this very package-lock.json. */
async function npmCi(dir) {
  const lock = await readFile(path.join(dir, "package-lock.json"));
  const digest = createHash("sha256").update(lock).digest("hex");
  const marker = path.join(dir, "node_modules", ".installed-lock-sha256");
  if (existsSync(marker) && (await readFile(marker, "utf8")) === digest) return;
  await run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir });
  await writeFile(marker, digest);
}

/** Serves `dir` (a built app) on a random loopback port; unknown paths get index.html. */
async function startStatic(dir) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
  const srv = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    for (const file of [path.join(dir, path.posix.normalize(pathname)), path.join(dir, "index.html")]) {
      try {
        const data = await readFile(file);
        res.writeHead(200, { "Content-Type": `${types[path.extname(file)] ?? "application/octet-stream"}; charset=utf-8` });
        return res.end(data);
      } catch {}
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    name: "static",
    url: `http://127.0.0.1:${srv.address().port}`,
    logs: () => "",
    stop: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------
// Browser

let browser;

before(async () => {
  if (!existsSync(BIN)) {
    throw new Error(`threadhold binary not found at ${BIN}; run \`cargo build\` first or set THREADHOLD_BIN`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Debian's Chromium is missing (${CHROMIUM}); install it as root with \`apt-get install -y chromium\`.`,
    );
  }
});

async function launchBrowser() {
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
    timeout: 20_000,
  });
  return browser;
}

after(async () => {
  await browser?.close().catch(() => {});
});

/**
 * A tab on `url` that records its console and its requests to `apiOrigin`
 * (threadhold), so the test knows when the app has finished writing.
 */
async function openTab(context, url, apiOrigin, label) {
  const page = await context.newPage();
  page.label = label;
  page.consoleLines = [];
  page.apiPending = new Set();
  page.apiCount = 0;
  page.apiLog = [];
  page.apiTokens = new Set();
  page.on("console", (m) => page.consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => page.consoleLines.push(`[pageerror] ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(apiOrigin)) return;
    page.apiPending.add(r);
    page.apiCount += 1;
    const auth = r.headers().authorization;
    if (auth) page.apiTokens.add(auth.replace(/^Bearer /, ""));
  });
  const settle = (r, how) => {
    if (!page.apiPending.delete(r)) return;
    page.apiLog.push(`${r.method()} ${new URL(r.url()).pathname} -> ${how}`);
  };
  page.on("requestfinished", async (r) => settle(r, (await r.response().catch(() => null))?.status() ?? "?"));
  page.on("requestfailed", (r) => settle(r, r.failure()?.errorText ?? "failed"));
  await page.goto(url, { timeout: 15_000 });
  return page;
}

/** What a tab shows and did, for failure messages. */
async function report(page) {
  let dom = "";
  try {
    dom = await page.evaluate(() => document.getElementById("root")?.innerHTML ?? "");
  } catch {}
  return (
    `--- tab ${page.label} (${page.url()}) ---\nrequests to threadhold:\n  ${page.apiLog.slice(-40).join("\n  ")}\n` +
    `console:\n  ${page.consoleLines.slice(-30).join("\n  ")}\nDOM: ${dom.slice(0, 3000)}`
  );
}

/** Polls `probe()` until `ok(value)`; on timeout fails with `what`, the last value and the tabs' reports. */
async function waitUntil(what, probe, ok, { pages = [], timeoutMs = 15_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      lastErr = undefined;
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const reports = [];
  for (const p of pages) reports.push(await report(p));
  assert.fail(
    `timed out after ${timeoutMs} ms waiting for ${what}\nlast value: ${JSON.stringify(last)}` +
      `${lastErr ? `\nlast error: ${lastErr.message}` : ""}\n${reports.join("\n")}`,
  );
}

/** The rendered messages: [role, text] pairs. */
const messages = (page) =>
  page.evaluate(() => [...document.querySelectorAll(".message")].map((el) => [el.dataset.role, el.textContent]));

/** The thread list: remote id, title, active. */
const threadList = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll(".thread-item")].map((el) => ({
      remoteId: el.dataset.remoteId,
      title: el.querySelector(".thread-trigger")?.textContent ?? "",
      active: el.hasAttribute("data-active"),
    })),
  );

/** The distinct (sub, workspace_id) of the bearer tokens a tab sent to threadhold (JWT payloads, unverified). */
const claimsOf = (page) => {
  const seen = new Map();
  for (const token of page.apiTokens) {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8") || "{}");
    seen.set(`${payload.sub}/${payload.workspace_id}`, { sub: payload.sub, workspace_id: payload.workspace_id });
  }
  return [...seen.values()];
};

/** Before and after the reload the tab acted as one anonymous identity, in its own workspace. */
function assertOneAnonymousIdentity(page) {
  const claims = claimsOf(page);
  assert.equal(claims.length, 1, `identities used: ${JSON.stringify(claims)}`);
  assert.match(claims[0].sub, /^usr_anon_/);
  assert.equal(claims[0].workspace_id, claims[0].sub);
}

const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Waits until no request to threadhold is in flight and none started for a second. */
async function apiQuiet(page) {
  let seen = -1;
  let quiet = 0;
  await waitUntil(
    "the page's requests to threadhold to settle",
    async () => {
      quiet = page.apiPending.size === 0 && page.apiCount === seen ? quiet + 1 : 0;
      seen = page.apiCount;
      return quiet;
    },
    (q) => q >= 5,
    { pages: [page] },
  );
}

/**
 * The check every example passes: a message and its reply, then a reload
 * that lists the thread and shows both messages again. Returns the thread's
 * remote id.
 */
async function chatPersists(page, { prompt, reply }) {
  await page.waitForSelector(".composer-input", { timeout: 15_000 });
  await page.fill(".composer-input", prompt);
  await page.click(".composer-send");
  const expected = [
    ["user", prompt],
    ["assistant", reply],
  ];
  await waitUntil(`the reply "${reply}"`, () => messages(page), (m) => sameJson(m, expected), { pages: [page] });

  // The thread exists on the server once its list item has a remote id.
  const [item] = await waitUntil(
    "the open thread to be listed with a remote id",
    () => threadList(page),
    // (A thread the runtime keeps only in memory has a `__LOCALID_…` id.)
    (items) => items.filter((i) => i.active && i.remoteId && !i.remoteId.startsWith("__LOCALID_")).length === 1,
    { pages: [page] },
  ).then((items) => items.filter((i) => i.active));
  await apiQuiet(page);

  page.apiLog.push("--- reload ---");
  await page.reload({ timeout: 15_000 });
  await page.waitForSelector(".composer-input", { timeout: 15_000 });
  // After a reload the app opens on a new, empty thread; the old one is in the list.
  const listed = await waitUntil(
    `thread ${item.remoteId} in the thread list after the reload`,
    () => threadList(page),
    (items) => items.some((i) => i.remoteId === item.remoteId && i.title.trim() !== ""),
    { pages: [page] },
  );
  assert.deepEqual(await messages(page), [], "a reload opens on a new thread");
  await page.click(`.thread-item[data-remote-id="${item.remoteId}"] .thread-trigger`, { timeout: 5_000 });
  await waitUntil(
    `the messages of ${item.remoteId} loaded back from threadhold`,
    () => messages(page),
    (m) => sameJson(m, expected),
    { pages: [page] },
  );
  // threadhold titles a thread after its first message (unless a title model is set).
  const { title } = listed.find((i) => i.remoteId === item.remoteId);
  assert.equal(title, prompt, `the title of ${item.remoteId} in the thread list`);
  return { remoteId: item.remoteId, title };
}

/** Console errors (an app that works logs none); resource errors of the favicon are not the app's. */
const consoleErrors = (page) =>
  page.consoleLines.filter((l) => /^\[(error|pageerror)\]/.test(l) && !/favicon/.test(l));

// ---------------------------------------------------------------------------
// One test per example

/** A test of example `name`; on failure it prints the output of the processes it started. */
function exampleTest(name, title, fn) {
  test(`${name}: ${title}`, { skip: !selected(name), timeout: 240_000 }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      for (const s of t.servers ?? []) {
        // eslint-disable-next-line no-control-regex
        const tail = s.logs().replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(-40).join("\n");
        console.error(`\n----- ${s.name} output (last 40 lines) -----\n${tail}\n----- end -----`);
      }
      throw err;
    }
  });
}

/**
 * Installs, starts and builds an example; returns { appUrl, threadholdUrl,
 * servers } and registers their shutdown with the test.
 */
async function setUp(t, name, { withKey = false } = {}) {
  const dir = path.join(examplesDir, name);
  const servers = [];
  const dataDir = await mkdtemp(path.join(tmpdir(), `threadhold-example-${name}-`));
  t.after(async () => {
    for (const s of servers.reverse()) await s.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  });
  t.servers = servers;

  await npmCi(dir);
  const apiKey = withKey ? await createKey(dataDir) : undefined;
  const threadhold = await startThreadhold(dataDir);
  servers.push(threadhold);
  await run("npm", ["run", "build"], { cwd: dir, env: cleanEnv({ VITE_THREADHOLD_URL: threadhold.url }) });

  let app;
  if (existsSync(path.join(dir, "server.mjs"))) {
    app = await startProcess(`${name} backend`, process.execPath, ["server.mjs"], {
      cwd: dir,
      env: cleanEnv({
        PORT: "0",
        THREADHOLD_URL: threadhold.url,
        ...(apiKey ? { THREADHOLD_API_KEY: apiKey } : {}),
      }),
      urlPattern: /listening on (http:\/\/\S+)/,
    });
  } else {
    app = await startStatic(path.join(dir, "dist"));
  }
  servers.push(app);
  return { appUrl: app.url, threadholdUrl: threadhold.url };
}

exampleTest("react-anonymous", "an anonymous chat persists across a reload", async (t) => {
  const { appUrl, threadholdUrl } = await setUp(t, "react-anonymous");
  const context = await (await launchBrowser()).newContext();
  t.after(() => context.close().catch(() => {}));
  const page = await openTab(context, appUrl, threadholdUrl, "visitor");

  const prompt = "Hello threadhold";
  const thread = await chatPersists(page, { prompt, reply: `You said: ${prompt}` });
  t.diagnostic(`thread ${thread.remoteId} listed as "${thread.title}"`);
  assertOneAnonymousIdentity(page);
  assert.deepEqual(consoleErrors(page), []);
});

exampleTest("react-backend-token", "a signed-in user's chat persists; another user does not see it", async (t) => {
  const { appUrl, threadholdUrl } = await setUp(t, "react-backend-token", { withKey: true });
  const b = await launchBrowser();

  async function signIn(name) {
    const context = await b.newContext();
    t.after(() => context.close().catch(() => {}));
    const page = await openTab(context, appUrl, threadholdUrl, name);
    await page.fill(".sign-in-name", name, { timeout: 15_000 });
    await page.click(".sign-in-submit");
    await page.waitForSelector(".composer-input", { timeout: 15_000 });
    return page;
  }

  const alice = await signIn("alice");
  const prompt = "Hello from alice";
  const { remoteId } = await chatPersists(alice, { prompt, reply: `You said: ${prompt}` });
  // Still signed in after the reload, through the backend's session cookie.
  assert.equal(await alice.textContent(".user-id"), "alice");

  // Every request to threadhold carried a workspace token the backend minted for alice.
  assert.deepEqual(claimsOf(alice), [{ sub: "alice", workspace_id: "alice" }]);

  // A second user, in another browser, has a workspace of their own.
  const bob = await signIn("bob");
  const bobPrompt = "Hello from bob";
  const bobThread = await chatPersists(bob, { prompt: bobPrompt, reply: `You said: ${bobPrompt}` });
  assert.notEqual(bobThread.remoteId, remoteId);
  const bobList = await threadList(bob);
  assert.ok(
    !bobList.some((i) => i.remoteId === remoteId),
    `bob's thread list shows alice's thread: ${JSON.stringify(bobList)}`,
  );
  assert.deepEqual(claimsOf(bob), [{ sub: "bob", workspace_id: "bob" }]);
  for (const page of [alice, bob]) assert.deepEqual(consoleErrors(page), [], `console of ${page.label}`);
});

exampleTest("ai-sdk", "a useChatRuntime chat with the mock model route persists across a reload", async (t) => {
  const { appUrl, threadholdUrl } = await setUp(t, "ai-sdk");
  const context = await (await launchBrowser()).newContext();
  t.after(() => context.close().catch(() => {}));
  const page = await openTab(context, appUrl, threadholdUrl, "visitor");

  const prompt = "Hello AI SDK";
  const thread = await chatPersists(page, { prompt, reply: `Echo: ${prompt}` });
  t.diagnostic(`thread ${thread.remoteId} listed as "${thread.title}"`);
  assertOneAnonymousIdentity(page);
  assert.deepEqual(consoleErrors(page), []);
});
