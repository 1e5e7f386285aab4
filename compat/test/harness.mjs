// threadhold compatibility suite: test harness.
//
// The suite drives a real threadhold server with the official `assistant-cloud`
// npm clients (0.2.11 and the older 0.1.41, installed side by side through npm
// aliases) and checks that the server keeps the wire contract of
// shared/spec/assistant-cloud-api.md.
//
// How to run (from the repository root):
//
//     cargo build                      # produces target/debug/threadhold
//     cd compat && npm ci && npm test
//
// The browser tests (test/browser.test.mjs, react.test.mjs, aisdk.test.mjs)
// also need Debian's Chromium at /usr/bin/chromium (as root: `apt-get update &&
// apt-get install -y chromium`); they drive it with playwright-core and never
// download a browser. Without it those files fail.
//
// Environment:
//   THREADHOLD_BIN          server binary (default: ../target/debug/threadhold,
//                           relative to compat/)
//   COMPAT_SERVER_LOGS      set to 1 to stream the server's stderr while tests run
//
// Each test file starts its own server with
// `threadhold serve --listen 127.0.0.1:0 --data <fresh tmp dir>`, reads the URL
// from the stdout line `threadhold listening on http://127.0.0.1:PORT`, creates
// API keys with `threadhold keys create --data <dir>` (the key is the last stdout
// line) and stops the server with SIGTERM. A failing test prints the tail of
// the server's stderr (its logs).

import { spawn, execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import assert from "node:assert/strict";

import * as cloud0211 from "assistant-cloud-0211";
import * as cloud0141 from "assistant-cloud-0141";

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const compatDir = path.resolve(here, "..");

export const BIN = process.env.THREADHOLD_BIN
  ? path.resolve(compatDir, process.env.THREADHOLD_BIN)
  : path.resolve(compatDir, "../target/debug/threadhold");

/**
 * The two client versions under test, with what each one can do. Tests loop
 * over this list and skip what a version does not have.
 */
export const CLIENTS = [
  {
    name: "assistant-cloud@0.2.11",
    mod: cloud0211,
    has: {
      errorCode: true, // CloudAPIError.code / details
      messagePaging: true, // messages.list({limit, after})
      messageDelete: true,
      feedback: true,
      events: true,
      scores: true,
      generateThreadTitle: true,
      upsert: true,
      messageExternalId: true, // create body + persistence send external_id
      persistencePaging: true, // CloudMessagePersistence.load follows pages
      runLeases: true,
      claim: true, // threads.claim + exported readAnonymousRefreshToken
      anonymousSharing: true, // concurrent anonymous acquisitions share one request (per storage + baseUrl)
    },
  },
  {
    name: "assistant-cloud@0.1.41",
    mod: cloud0141,
    has: {},
  },
];

// ---------------------------------------------------------------------------
// Server process

/** The server's environment: ours (minus THREADHOLD_BIN, which the server would warn about) plus `extra`. */
function serverEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.THREADHOLD_BIN;
  return env;
}

/**
 * Runs a `threadhold` CLI command (e.g. `["anonymous", "disable", "--data", dir]`)
 * to completion and returns its stdout. Rejects (with the command's output) on a
 * non-zero exit.
 */
export async function runCli(args, { env = {} } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(
      `threadhold binary not found at ${BIN}; run \`cargo build\` first or set THREADHOLD_BIN`,
    );
  }
  try {
    const { stdout } = await execFileP(BIN, args, { env: serverEnv(env), timeout: 20_000 });
    return stdout;
  } catch (err) {
    throw new Error(
      `\`threadhold ${args.join(" ")}\` failed (exit ${err.code}).\nstdout:\n${err.stdout ?? ""}\nstderr:\n${err.stderr ?? ""}`,
    );
  }
}

/**
 * Starts `threadhold serve` on a random loopback port with a fresh data
 * directory. Returns { url, dataDir, createKey, stop, logs }.
 *
 * Options:
 *   env      extra environment variables for the server process
 *   dataDir  reuse this data directory instead of a fresh one (it is then not
 *            removed by stop(); the caller owns it)
 *   setup    async (dataDir) => {...}, run before the server starts, once
 *            `threadhold init` made the database (e.g. a CLI command that
 *            changes settings stored in the data directory)
 */
export async function startServer({ env = {}, dataDir: givenDataDir, setup } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(
      `threadhold binary not found at ${BIN}; run \`cargo build\` first or set THREADHOLD_BIN`,
    );
  }
  const dataDir = givenDataDir ?? (await mkdtemp(path.join(tmpdir(), "threadhold-compat-")));
  // Admin commands never create a database (a mistyped --data must not make an empty one): make it first.
  if (setup) {
    await runCli(["init", "--data", dataDir], { env });
    await setup(dataDir);
  }
  const child = spawn(
    BIN,
    ["serve", "--listen", "127.0.0.1:0", "--data", dataDir],
    {
      env: serverEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );

  let stderr = "";
  let stdout = "";
  const stream = process.env.COMPAT_SERVER_LOGS === "1";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
    if (stream) process.stderr.write(chunk);
  });

  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `threadhold did not print its listening line within 20 s.\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`,
          ),
        ),
      20_000,
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const m = /threadhold listening on (http:\/\/\S+)/.exec(stdout);
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
      reject(
        new Error(
          `threadhold exited early (code ${code}, signal ${signal}).\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`,
        ),
      );
    });
  });

  let stopped = false;
  const server = {
    url,
    dataDir,
    logs: () => stderr,
    /** Runs `threadhold keys create` against this server's data dir; returns the key. */
    async createKey(name) {
      const args = ["keys", "create", "--data", dataDir];
      if (name) args.push("--name", name);
      const { stdout: out } = await execFileP(BIN, args, {
        env: serverEnv(env),
        timeout: 20_000,
      });
      const lines = out.split("\n").map((l) => l.trim()).filter(Boolean);
      const key = lines.at(-1);
      assert.ok(key, `\`threadhold keys create\` printed no key:\n${out}`);
      return key;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        const res = await exited;
        clearTimeout(killer);
        server.exit = res;
      }
      if (!givenDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * Wraps a test body so that a failure prints the tail of the server's logs.
 * Usage: test("name", withLogs(() => server, async (t) => { ... }))
 */
export function withLogs(getServer, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const server = getServer();
      if (server) {
        const tail = server.logs().split("\n").slice(-60).join("\n");
        console.error(
          `\n----- threadhold stderr (last 60 lines) for "${t.name}" -----\n${tail}\n----- end of server log -----`,
        );
      }
      throw err;
    }
  };
}

// ---------------------------------------------------------------------------
// Clients

export const uid = (prefix = "x") =>
  `${prefix}-${randomUUID().replace(/-/g, "").slice(0, 12)}`;

/** An API-key client of the given version. */
export function apiKeyClient(client, server, { apiKey, workspaceId, userId = "user-1", telemetry = false }) {
  return new client.mod.AssistantCloud({
    apiKey,
    userId,
    workspaceId,
    baseUrl: server.url,
    telemetry,
  });
}

/** A JWT-strategy client whose authToken callback returns `token`. */
export function tokenClient(client, server, token) {
  return new client.mod.AssistantCloud({
    baseUrl: server.url,
    authToken: async () => token,
    telemetry: false,
  });
}

/** The raw headers an API-key client sends, for checks made with fetch directly. */
export function apiKeyHeaders({ apiKey, workspaceId, userId = "user-1" }) {
  return {
    Authorization: `Bearer ${apiKey}`,
    "Aui-User-Id": userId,
    "Aui-Workspace-Id": workspaceId,
    "Content-Type": "application/json",
    "Aui-Sdk": "assistant-cloud/0.2.11",
  };
}

// ---------------------------------------------------------------------------
// Assertions

/**
 * Awaits `promise`, expects it to reject with the version's CloudAPIError of
 * the given status (a number or a list), and checks the error envelope the
 * server must produce: a non-empty `message` and (0.2.11) a string `code`,
 * equal to `code` when one is given.
 * Returns the error.
 */
export async function expectCloudError(client, promise, status, what = "", code = undefined) {
  let err;
  try {
    const value = await promise;
    assert.fail(
      `${what}: expected CloudAPIError ${status}, but the call resolved with ${JSON.stringify(value)}`,
    );
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(
    err instanceof client.mod.CloudAPIError,
    `${what}: expected a CloudAPIError, got ${err?.name}: ${err?.message}`,
  );
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(
    statuses.includes(err.status),
    `${what}: expected status ${statuses.join(" or ")}, got ${err.status} (${err.message})`,
  );
  // The server answers errors as {"error": code, "message": text}. Both
  // clients surface `message`; 0.2.11 also surfaces `error` as `code`.
  assert.equal(typeof err.message, "string");
  assert.ok(
    err.message.length > 0 && !err.message.startsWith("Request failed with status"),
    `${what}: error body lacks a JSON "message" (client message: ${JSON.stringify(err.message)})`,
  );
  if (client.has.errorCode) {
    assert.equal(
      typeof err.code,
      "string",
      `${what}: error body lacks a string "error" code (message: ${err.message})`,
    );
    assert.ok(err.code.length > 0, `${what}: empty error code`);
    assert.equal(typeof err.details, "object");
    assert.equal(err.details.message, err.message);
    if (code !== undefined) {
      assert.equal(err.code, code, `${what}: error code`);
    }
  }
  return err;
}

/** A canonical timestamp survives the client's validator; this re-checks a Date. */
export function assertDate(value, what) {
  assert.ok(value instanceof Date && !Number.isNaN(value.getTime()), `${what} is not a valid Date`);
}

/** Decodes a JWT payload (no signature check). */
export function jwtPayload(token) {
  const part = token.split(".")[1];
  assert.ok(part, "token is not a JWT (no payload segment)");
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/** Builds an unsigned-garbage JWT with a far exp, which the client will send. */
export function forgedJwt(claims = {}) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ sub: "intruder", workspace_id: "ws", iat: now, exp: now + 3600, ...claims })}.${Buffer.from("not-a-signature").toString("base64url")}`;
}

/** Reads an AssistantStream (runs.stream) to the concatenated text deltas. */
export async function readStreamText(stream) {
  let text = "";
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.type === "text-delta") text += value.textDelta;
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

/**
 * Wraps globalThis.fetch to record every request the clients make
 * (method, url, body, request headers, status). Returns { calls, restore, waitFor }.
 */
export function spyFetch() {
  const original = globalThis.fetch;
  const calls = [];
  globalThis.fetch = async (input, init = {}) => {
    const url = String(input instanceof Request ? input.url : input);
    const entry = {
      method: init.method ?? "GET",
      url,
      body: init.body ?? null,
      // Request headers as a plain object with lower-cased names.
      headers: Object.fromEntries(new Headers(init.headers ?? {}).entries()),
      status: undefined,
      error: undefined,
    };
    calls.push(entry);
    try {
      const res = await original(input, init);
      entry.status = res.status;
      return res;
    } catch (err) {
      entry.error = err;
      throw err;
    }
  };
  return {
    calls,
    restore() {
      globalThis.fetch = original;
    },
    async waitFor(pred, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = calls.find((c) => pred(c) && (c.status !== undefined || c.error));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error("timed out waiting for a matching fetch call");
    },
  };
}

/**
 * A Map-backed stand-in for the browser's `localStorage` (the anonymous
 * strategy persists its refresh record there; without it every access-token
 * expiry mints a new identity). `installLocalStorage()` puts a fresh one on
 * globalThis and returns it; `uninstallLocalStorage()` removes it again.
 */
export class MemoryStorage {
  #items = new Map();
  get length() {
    return this.#items.size;
  }
  key(index) {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(name) {
    const k = String(name);
    return this.#items.has(k) ? this.#items.get(k) : null;
  }
  setItem(name, value) {
    this.#items.set(String(name), String(value));
  }
  removeItem(name) {
    this.#items.delete(String(name));
  }
  clear() {
    this.#items.clear();
  }
  keys() {
    return [...this.#items.keys()];
  }
}

export function installLocalStorage() {
  const storage = new MemoryStorage();
  Object.defineProperty(globalThis, "localStorage", {
    value: storage,
    configurable: true,
    writable: true,
    enumerable: true,
  });
  return storage;
}

export function uninstallLocalStorage() {
  delete globalThis.localStorage;
}

/** The localStorage key under which the anonymous strategy keeps its refresh record (spec 2.4). */
export const refreshTokenKey = (baseUrl) => `aui:refresh_token:${baseUrl.replace(/\/+$/, "")}`;

// ---------------------------------------------------------------------------
// Realistic aui/v0 content (spec 5.4): no id, no createdAt.

export function auiUser(text, { attachments = [] } = {}) {
  return {
    role: "user",
    content: [{ type: "text", text }],
    attachments,
    metadata: {
      unstable_annotations: [],
      unstable_data: [],
      steps: [],
      custom: {},
    },
  };
}

export function auiAssistant(text, { withTool = false, status } = {}) {
  const content = [
    { type: "reasoning", text: "The user asks about baking; answer step by step." },
    ...(withTool
      ? [
          {
            type: "tool-call",
            toolCallId: "call_7f3a",
            toolName: "search_recipes",
            args: { query: "sourdough", max: 3 },
            argsText: '{"query":"sourdough","max":3}',
            result: { hits: ["Basic sourdough", "Rye sourdough"] },
          },
        ]
      : []),
    { type: "text", text },
  ];
  return {
    role: "assistant",
    content,
    status: status ?? { type: "complete", reason: "stop" },
    metadata: {
      unstable_state: null,
      unstable_annotations: [],
      unstable_data: [],
      steps: [{ usage: { promptTokens: 42, completionTokens: 17 } }],
      custom: {},
    },
  };
}
