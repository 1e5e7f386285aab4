// The documentation cannot rot: every fenced code block of README.md and docs/
// is exercised here, or carries a reason why not.
//
// A block is marked by an HTML comment on the line before its fence (GitHub
// does not render it):
//
//   <!-- docs-test: sh -->           shell commands, run with bash -e in a scratch folder whose
//                                    ./threadhold-data is the database of a server started for this
//                                    file (`threadhold` on PATH is the binary under test;
//                                    http://127.0.0.1:8787 is rewritten to that server's URL)
//   <!-- docs-test: rule NAME -->    one `threadhold rules add …` command: run exactly as written on a
//                                    fresh database, then again with the issuer (or, for Firebase, the
//                                    key URL) moved to a local JWKS/discovery server, and a token shaped
//                                    like that provider's (profile NAME below) goes through
//                                    `threadhold rules test`, which must accept it into the expected
//                                    workspace
//   <!-- docs-test: module NAME -->  TS/JS run in Node: bundled with esbuild (framework imports such as
//                                    `@/auth` or `@clerk/nextjs/server` are stubbed), imported, and driven
//                                    by scenario NAME against the server with the official client
//   <!-- docs-test: bundle NAME -->  TSX/TS for the browser: bundled with esbuild against the real
//                                    @assistant-ui packages (imports, exports and syntax are checked);
//                                    the provider SDKs and the app's own components are stubbed
//   <!-- docs-test: config -->       a TOML configuration file: the server must start with it
//   <!-- docs-test: skip (reason) -->  not run; the reason is required
//
// Fenced blocks without a language (directory trees) are not code. Besides the
// blocks: every relative link and image resolves to a file (and heading
// anchor), every `NNN code` of the authorization guide is a code the server
// sends, and every metric the operating guide and the Grafana/Prometheus
// examples use is one the server exports.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, mkdir, rm, writeFile, readFile, readdir, symlink } from "node:fs/promises";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import http from "node:http";
import * as esbuild from "esbuild";
import { AssistantCloud } from "assistant-cloud-0211";

import { BIN, startServer, runCli, installLocalStorage, uninstallLocalStorage, jwtPayload } from "./harness.mjs";
import { makeKey, sign, now, clerkClaims, auth0Claims, supabaseClaims, firebaseClaims } from "./idp.mjs";

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const compatDir = path.resolve(here, "..");
const repo = path.resolve(compatDir, "..");
const ALLOW_ENV = { THREADHOLD_JWKS_ALLOW_HOSTS: "127.0.0.1" };

// ---------------------------------------------------------------------------
// The documents and their blocks

function markdownFiles() {
  const out = [path.join(repo, "README.md")];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith(".md")) out.push(full);
    }
  };
  walk(path.join(repo, "docs"));
  return out;
}

/** Fenced blocks with their marker: { file, line, lang, marker, arg, code }. */
function blocksOf(file) {
  const lines = readFileSync(file, "utf8").split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+)(\S*)/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    const body = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(fence)) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
      j++;
    }
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const m = k >= 0 ? /^\s*<!-- docs-test: (\S+)(?: (.*?))? -->\s*$/.exec(lines[k]) : null;
    blocks.push({
      file: path.relative(repo, file),
      line: i + 1,
      lang,
      marker: m?.[1] ?? null,
      arg: m?.[2] ?? null,
      code: body.join("\n") + "\n",
    });
    i = j;
  }
  return blocks;
}

const FILES = markdownFiles();
const BLOCKS = FILES.flatMap(blocksOf).filter((b) => b.lang !== "");
const where = (b) => `${b.file}:${b.line}`;
const marked = (kind) => BLOCKS.filter((b) => b.marker === kind);

// ---------------------------------------------------------------------------
// Shared fixtures: a scratch folder, a server on its ./threadhold-data, an API key,
// a bin folder with `threadhold`, a local identity provider.

let work; // scratch folder (cwd of the shell blocks)
let binDir;
let server;
let apiKey;
let idp;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A local issuer: keys at any …/.well-known/jwks.json or …/jwks, discovery at …/.well-known/openid-configuration. */
async function startIdp() {
  const keys = { RS256: await makeKey("RS256"), ES256: await makeKey("ES256") };
  const srv = http.createServer((req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    const json = (v) => {
      res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "max-age=300" });
      res.end(JSON.stringify(v));
    };
    if (p.endsWith("/.well-known/openid-configuration")) {
      const prefix = p.slice(0, -"/.well-known/openid-configuration".length);
      return json({ issuer: `${origin}${prefix}`, jwks_uri: `${origin}${prefix}/jwks` });
    }
    if (p.endsWith("/.well-known/jwks.json") || p.endsWith("/jwks")) {
      return json({ keys: Object.values(keys).map((k) => k.publicJwk) });
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${srv.address().port}`;
  return { keys, origin, stop: () => new Promise((r) => srv.close(() => r())) };
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), "threadhold-docs-"));
  binDir = path.join(work, ".bin");
  await mkdir(binDir);
  await symlink(BIN, path.join(binDir, "threadhold"));
  server = await startServer({ dataDir: path.join(work, "threadhold-data"), env: ALLOW_ENV });
  apiKey = await server.createKey("docs-test");
  idp = await startIdp();
});

after(async () => {
  await server?.stop();
  await idp?.stop();
  uninstallLocalStorage();
  if (work) await rm(work, { recursive: true, force: true });
  await rm(path.join(here, ".docs-build"), { recursive: true, force: true });
});

// ---------------------------------------------------------------------------

describe("every code block is marked", () => {
  test("markers are known, and skips give a reason", () => {
    const known = new Set(["sh", "rule", "module", "bundle", "config", "skip"]);
    const problems = [];
    for (const b of BLOCKS) {
      if (!b.marker) problems.push(`${where(b)}: \`\`\`${b.lang} block without a <!-- docs-test: … --> marker`);
      else if (!known.has(b.marker)) problems.push(`${where(b)}: unknown marker ${b.marker}`);
      else if (b.marker === "skip" && !/^\(.+\)$/.test(b.arg ?? "")) problems.push(`${where(b)}: skip needs a (reason)`);
      else if (["rule", "module", "bundle"].includes(b.marker) && !b.arg) problems.push(`${where(b)}: ${b.marker} needs a name`);
    }
    assert.deepEqual(problems, []);
  });
});

// ---------------------------------------------------------------------------
// Shell blocks

async function runShell(code, { cwd = work, env = {} } = {}) {
  const script = code.replaceAll("http://127.0.0.1:8787", server.url);
  try {
    return await execFileP("bash", ["-e", "-o", "pipefail", "-c", script], {
      cwd,
      env: { ...process.env, PATH: `${binDir}:${process.env.PATH}`, THREADHOLD_BIN: "", THREADHOLD_API_KEY: apiKey, ...env },
      timeout: 30_000,
    });
  } catch (err) {
    throw new Error(`block failed (exit ${err.code}):\n${code}\nstdout:\n${err.stdout}\nstderr:\n${err.stderr}`);
  }
}

describe("shell blocks run", () => {
  for (const b of marked("sh")) {
    test(where(b), async () => {
      const { stdout } = await runShell(b.code);
      if (b.code.includes("/healthz")) assert.match(stdout, /\{"status":"ok"\}/);
      if (b.code.includes("/readyz")) assert.match(stdout, /\{"status":"ready"\}/);
      if (b.code.includes("tokens/anonymous")) assert.match(stdout, /"access_token":"ey[^"]+".*"refresh_token":\{"token":"refresh_/);
      if (b.code.includes("keys create")) assert.match(stdout, /Store it now: it is shown only once\.\nsk_aui_proj_\S+\n/);
    });
  }
});

// ---------------------------------------------------------------------------
// Auth rules: the exact command, then a provider-shaped token through `rules test`

/** Token profiles: (issuer as the rule knows it) => [{ key, claims, header?, workspace, sub, refused? }]. */
const PROFILES = {
  "clerk-org": (iss) => [
    { alg: "RS256", claims: clerkClaims({ issuer: iss, sub: "user_2abc", azp: "https://app.example.com", org: { id: "org_2xyz" } }), sub: "user_2abc", workspace: "org_2xyz_user_2abc" },
    { alg: "RS256", claims: clerkClaims({ issuer: iss, sub: "user_2abc", azp: "https://app.example.com" }), sub: "user_2abc", workspace: "user_2abc" },
    { alg: "RS256", claims: clerkClaims({ issuer: iss, sub: "user_2abc", azp: "https://evil.example" }), refused: "token_azp_invalid" },
  ],
  "clerk-session": (iss) => PROFILES["clerk-org"](iss),
  "clerk-template": (iss) => {
    const base = { iss, sub: "user_2abc", azp: "http://localhost:3000", iat: now(), nbf: now() - 5, exp: now() + 60, name: "Ada Lovelace" };
    return [
      { alg: "RS256", claims: { ...base, aud: "assistant-ui", org_id: "org_2xyz" }, sub: "user_2abc", workspace: "org_2xyz_user_2abc" },
      { alg: "RS256", claims: { ...base, aud: "assistant-ui", org_id: null }, sub: "user_2abc", workspace: "user_2abc" },
      { alg: "RS256", claims: { ...base, org_id: "org_2xyz" }, refused: "token_audience_invalid" }, // the session token, not the template
    ];
  },
  auth0: (iss) => [
    { alg: "RS256", claims: { ...auth0Claims({ issuer: iss, sub: "auth0|65f0c0ffee", audience: "https://api.example.com" }), name: "Ada" }, sub: "auth0|65f0c0ffee", workspace: "auth0|65f0c0ffee" },
    { alg: "RS256", claims: auth0Claims({ issuer: iss, sub: "auth0|65f0c0ffee", audience: "https://other.example.com" }), refused: "token_audience_invalid" },
    { alg: "RS256", claims: auth0Claims({ issuer: iss.replace(/\/$/, ""), sub: "auth0|65f0c0ffee", audience: "https://api.example.com" }), refused: "token_issuer_unknown" },
  ],
  supabase: (iss) => [
    { alg: "ES256", claims: supabaseClaims({ issuer: iss, sub: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77" }), sub: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77", workspace: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77" },
    { alg: "HS256", claims: supabaseClaims({ issuer: iss, sub: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77" }), refused: "token_algorithm_not_allowed" },
  ],
  "supabase-legacy": (iss) => [
    { alg: "HS256", claims: supabaseClaims({ issuer: iss, sub: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77" }), sub: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77", workspace: "8d1f7c3e-0d55-4d6e-9a3b-5f0c2b1e9a77" },
  ],
  firebase: (iss) => {
    const project = iss.split("/").at(-1);
    return [
      { alg: "RS256", claims: { ...firebaseClaims({ project, uid: "kXq3uid0000000000000000001" }), name: "Ada" }, sub: "kXq3uid0000000000000000001", workspace: "kXq3uid0000000000000000001" },
      { alg: "RS256", claims: { ...firebaseClaims({ project, uid: "kXq3uid0000000000000000001" }), aud: "another-project" }, refused: "token_audience_invalid" },
    ];
  },
  oidc: (iss) => {
    const claims = { iss, sub: "svc-alpha", aud: "https://api.example.com", client_id: "chat-app", iat: now(), exp: now() + 300, jti: "j1" };
    return [
      { alg: "ES256", header: { typ: "at+jwt" }, claims, sub: "svc-alpha", workspace: "svc-alpha" },
      { alg: "ES256", header: { typ: "JWT" }, claims, refused: "token_type_not_accepted" },
    ];
  },
};

/** Splits one shell command (single/double quotes, backslash-newlines) into words. */
function shellWords(text) {
  const src = text.replace(/\\\n/g, " ");
  const words = [];
  let cur = null;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      cur = (cur ?? "") + src.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      cur = (cur ?? "") + src.slice(i + 1, end);
      i = end;
    } else if (/\s/.test(c)) {
      if (cur !== null) words.push(cur);
      cur = null;
    } else cur = (cur ?? "") + c;
  }
  if (cur !== null) words.push(cur);
  return words;
}

async function freshData() {
  const dir = await mkdtemp(path.join(work, "rule-"));
  await runCli(["init", "--data", path.join(dir, "data")]);
  return dir;
}

async function cli(args, { cwd, data, env = {} }) {
  try {
    return await execFileP(BIN, args, { cwd, env: { ...process.env, THREADHOLD_BIN: "", THREADHOLD_DATA: data, ...env }, timeout: 20_000 });
  } catch (err) {
    return { failed: true, code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

describe("auth rule commands work with provider-shaped tokens", () => {
  for (const b of marked("rule")) {
    test(`${where(b)} (${b.arg})`, async () => {
      const profile = PROFILES[b.arg];
      assert.ok(profile, `no token profile ${b.arg} in docs.test.mjs`);
      const words = shellWords(b.code.trim());
      assert.deepEqual(words.slice(0, 3), ["threadhold", "rules", "add"], `${where(b)}: one rules add command`);
      const args = words.slice(1);
      const dir = await freshData();
      const data = path.join(dir, "data");
      // A legacy Supabase secret file named in the command.
      const secretAt = args.indexOf("--shared-secret-file");
      const secret = `sb-${randomBytes(24).toString("base64url")}`;
      if (secretAt >= 0) await writeFile(path.join(dir, args[secretAt + 1]), `${secret}\n`);

      // 1. Exactly as written (only the shape of the key URL is checked; nothing is fetched).
      const asWritten = await cli(args, { cwd: dir, data });
      assert.ok(!asWritten.failed, `${where(b)}: the command as written fails:\n${asWritten.stderr}`);
      assert.match(asWritten.stdout, /^Added rule .*\n\S+\n$/);

      // 2. Against the local issuer.
      const issuerAt = args.indexOf("--issuer");
      const issuer = args[issuerAt + 1];
      const local = [...args];
      let tokenIssuer = issuer;
      if (issuer.startsWith("https://securetoken.google.com/")) {
        local.push("--jwks-url", `${idp.origin}/firebase/.well-known/jwks.json`);
      } else {
        const u = new URL(issuer);
        tokenIssuer = `${idp.origin}/${u.host}${u.pathname === "/" && !issuer.endsWith("/") ? "" : u.pathname}`;
        local[issuerAt + 1] = tokenIssuer;
      }
      const data2 = path.join(dir, "data-local");
      await runCli(["init", "--data", data2]);
      const added = await cli(local, { cwd: dir, data: data2, env: ALLOW_ENV });
      assert.ok(!added.failed, `${where(b)}: the command with a local issuer fails:\n${added.stderr}`);
      const ruleName = args.includes("--name") ? args[args.indexOf("--name") + 1] : args[args.indexOf("--provider") + 1];

      for (const t of profile(tokenIssuer)) {
        const key = t.alg === "HS256" ? { alg: "HS256", secret } : idp.keys[t.alg];
        const token = await sign(key, t.claims, t.header ?? {});
        const r = await cli(["rules", "test", token], { cwd: dir, data: data2, env: ALLOW_ENV });
        if (t.refused) {
          assert.ok(r.failed, `${where(b)}: expected refusal ${t.refused}, got:\n${r.stdout}`);
          assert.match(r.stderr, new RegExp(`refused \\(${t.refused}\\)`), `${where(b)}: ${r.stdout}${r.stderr}`);
        } else {
          assert.ok(!r.failed, `${where(b)}: rules test refused the token:\n${r.stdout}${r.stderr}`);
          assert.match(r.stdout, new RegExp(`accepted by ${ruleName}: user ${escape(t.sub)} in workspace ${escape(t.workspace)}\\n`), r.stdout);
        }
      }
    });
  }
});
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// ---------------------------------------------------------------------------
// TS/JS modules run in Node

const STUBS = {
  "@/auth": "export const auth = async () => globalThis.__docsSession ?? null;",
  "@clerk/nextjs/server": "export const auth = async () => globalThis.__docsClerk ?? { userId: null, orgId: null };",
  // @assistant-ui/react re-exports AssistantCloud and readAnonymousRefreshToken from assistant-cloud
  // (checked by the bundle tests against the real package); Node gets the client without React.
  "@assistant-ui/react": 'export { AssistantCloud, readAnonymousRefreshToken } from "assistant-cloud";',
};

function stubPlugin(stubs) {
  return {
    name: "docs-stubs",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const hit = Object.keys(stubs).find((k) => args.path === k || (k.endsWith("/") && args.path.startsWith(k)));
        return hit ? { path: args.path, namespace: "docs-stub" } : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: "docs-stub" }, (args) => {
        const hit = Object.keys(stubs).find((k) => args.path === k || (k.endsWith("/") && args.path.startsWith(k)));
        return { contents: stubs[hit], loader: "tsx", resolveDir: compatDir };
      });
    },
  };
}

let buildCount = 0;
async function loadModule(name) {
  const blocks = marked("module").filter((b) => b.arg === name);
  assert.ok(blocks.length > 0, `no module block ${name}`);
  const outDir = path.join(here, ".docs-build");
  await mkdir(outDir, { recursive: true });
  const mods = [];
  for (const b of blocks) {
    const out = path.join(outDir, `${name}-${++buildCount}.mjs`);
    await esbuild.build({
      stdin: { contents: b.code, loader: b.lang === "tsx" ? "tsx" : "ts", resolveDir: compatDir, sourcefile: where(b) },
      bundle: true,
      format: "esm",
      platform: "node",
      packages: "external",
      plugins: [stubPlugin(STUBS)],
      outfile: out,
      logLevel: "silent",
    });
    mods.push(await import(pathToFileURL(out).href));
  }
  return mods; // one per block with that name (the same snippet may appear in two guides)
}

/** Routes the app's relative fetches ("/api/…") to route handlers; everything else to the network. */
function appFetch(routes) {
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const url = String(input);
    if (url.startsWith("/")) {
      const handler = routes[url];
      assert.ok(handler, `the snippet fetched ${url}, which no route handles`);
      return handler(new Request(`http://app.test${url}`, init));
    }
    return real(input, init);
  };
  return () => {
    globalThis.fetch = real;
  };
}

function setEnv() {
  process.env.THREADHOLD_URL = server.url;
  process.env.THREADHOLD_API_KEY = apiKey;
  process.env.NEXT_PUBLIC_THREADHOLD_URL = server.url;
}

const SCENARIOS = {
  async "token-route"() {
    for (const { POST } of await loadModule("token-route")) {
      globalThis.__docsSession = null;
      assert.equal((await POST()).status, 401);
      globalThis.__docsSession = { user: { id: "user_42" } };
      const { token } = await (await POST()).json();
      const claims = jwtPayload(token);
      assert.equal(claims.sub, "user_42");
      assert.equal(claims.workspace_id, "user_42");
    }
  },
  async "browser-token"() {
    const [{ POST }] = await loadModule("token-route");
    globalThis.__docsSession = { user: { id: "user_browser" } };
    const restore = appFetch({ "/api/assistant-token": POST });
    try {
      for (const { cloud } of await loadModule("browser-token")) {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date(), title: "from the docs" });
        assert.equal((await cloud.threads.get(thread_id)).workspace_id, "user_browser");
        assert.ok((await cloud.threads.list()).threads.some((t) => t.id === thread_id));
      }
    } finally {
      restore();
    }
  },
  async "clerk-token-route"() {
    for (const { POST } of await loadModule("clerk-token-route")) {
      globalThis.__docsClerk = { userId: null, orgId: null };
      assert.equal((await POST()).status, 401);
      globalThis.__docsClerk = { userId: "user_2abc", orgId: "org_2xyz" };
      assert.equal(jwtPayload((await (await POST()).json()).token).workspace_id, "org_2xyz_user_2abc");
      globalThis.__docsClerk = { userId: "user_2abc", orgId: null };
      assert.equal(jwtPayload((await (await POST()).json()).token).workspace_id, "user_2abc");
    }
  },
  async "anonymous-client"() {
    installLocalStorage();
    for (const { cloud } of await loadModule("anonymous-client")) {
      const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
      const got = await cloud.threads.get(thread_id);
      assert.match(got.workspace_id, /^usr_anon_/);
    }
    uninstallLocalStorage();
  },
  async "claim-browser"() {
    // A visitor chats anonymously, signs up as user_claim, and the two snippets move the thread.
    installLocalStorage();
    try {
      const visitor = new AssistantCloud({ baseUrl: server.url, anonymous: true, telemetry: false });
      const { thread_id } = await visitor.threads.create({ last_message_at: new Date(), title: "before sign-up" });
      const [{ POST }] = await loadModule("claim-route");
      globalThis.__docsSession = { user: { id: "user_claim" } };
      let answer;
      const restore = appFetch({
        "/api/claim-threads": async (req) => {
          const res = await POST(req);
          answer = await res.clone().json();
          return res;
        },
      });
      try {
        const [{ claimAnonymousThreads }] = await loadModule("claim-browser");
        await claimAnonymousThreads();
      } finally {
        restore();
      }
      assert.deepEqual(answer, { moved: 1 });
      const backend = new AssistantCloud({ baseUrl: server.url, apiKey, userId: "user_claim", workspaceId: "user_claim", telemetry: false });
      assert.equal((await backend.threads.get(thread_id)).workspace_id, "user_claim");
    } finally {
      uninstallLocalStorage();
    }
  },
  async "claim-route"() {
    // Exercised by claim-browser; here only the refusal without a session.
    for (const { POST } of await loadModule("claim-route")) {
      globalThis.__docsSession = null;
      assert.equal((await POST(new Request("http://app.test/", { method: "POST", body: "{}" }))).status, 401);
    }
  },
  async "provider-client"() {
    // The authorization guide's Clerk rule, with a local issuer, on the shared server.
    const rule = marked("rule").find((b) => b.arg === "clerk-org" && b.file === "docs/authorization.md");
    const args = shellWords(rule.code.trim()).slice(1);
    const issuer = `${idp.origin}/clerk.example.com`;
    args[args.indexOf("--issuer") + 1] = issuer;
    await runCli([...args, "--data", server.dataDir], { env: ALLOW_ENV });
    await sleep(2_500); // running servers follow within 2 s
    const token = await sign(idp.keys.RS256, clerkClaims({ issuer, sub: "user_2abc", azp: "https://app.example.com", org: { id: "org_2xyz" }, ttl: 300 }));
    for (const { makeCloud } of await loadModule("provider-client")) {
      const cloud = makeCloud(async () => token);
      const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
      assert.equal((await cloud.threads.get(thread_id)).workspace_id, "org_2xyz_user_2abc");
    }
  },
};

describe("TS/JS modules run against the server", () => {
  const names = [...new Set(marked("module").map((b) => b.arg))];
  for (const name of names) {
    test(name, async () => {
      assert.ok(SCENARIOS[name], `no scenario ${name} in docs.test.mjs`);
      setEnv();
      try {
        await SCENARIOS[name]();
      } finally {
        for (const k of ["THREADHOLD_URL", "THREADHOLD_API_KEY", "NEXT_PUBLIC_THREADHOLD_URL"]) delete process.env[k];
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Browser code bundled against the real packages

const BROWSER_STUBS = {
  "@/components/assistant-ui/": "export const Thread = () => null; export const ThreadList = () => null;",
  "@clerk/nextjs": "export const useAuth = () => ({ getToken: async () => null });",
  "@auth0/auth0-react": "export const useAuth0 = () => ({ getAccessTokenSilently: async () => '' });",
  "@supabase/supabase-js": "export const createClient = () => ({ auth: { getSession: async () => ({ data: { session: null } }) } });",
  "firebase/auth": "export const getAuth = () => ({ currentUser: null });",
  "oidc-client-ts": "export class UserManager { async getUser() { return null; } }",
};

describe("browser code bundles with the real @assistant-ui packages", () => {
  for (const b of marked("bundle")) {
    test(`${where(b)} (${b.arg})`, async () => {
      const result = await esbuild.build({
        stdin: { contents: b.code, loader: b.lang === "tsx" ? "tsx" : "ts", resolveDir: compatDir, sourcefile: where(b) },
        bundle: true,
        format: "esm",
        platform: "browser",
        jsx: "automatic",
        write: false,
        logLevel: "silent",
        plugins: [stubPlugin(BROWSER_STUBS)],
        define: { "process.env.NEXT_PUBLIC_THREADHOLD_URL": '"http://127.0.0.1:8787"' },
      }).catch((err) => ({ errors: err.errors ?? [{ text: String(err) }] }));
      assert.deepEqual(result.errors.map((e) => e.text), [], `${where(b)} does not bundle`);
    });
  }
});

// ---------------------------------------------------------------------------
// Configuration files

describe("configuration files start a server", () => {
  for (const b of marked("config")) {
    test(where(b), async () => {
      const dir = await mkdtemp(path.join(work, "config-"));
      const file = path.join(dir, "threadhold.toml");
      await writeFile(file, b.code);
      // The environment beats the file: keep the data and the metrics listener in the scratch folder.
      const srv = await startServer({
        dataDir: path.join(dir, "data"),
        env: { THREADHOLD_CONFIG: file, THREADHOLD_METRICS_LISTEN: "127.0.0.1:0", THREADHOLD_DATA: path.join(dir, "data") },
      });
      try {
        assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
      } finally {
        await srv.stop();
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Links, error codes, metric names

function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}
function anchorsOf(file) {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

describe("links and names", () => {
  test("every relative link and image resolves", () => {
    const broken = [];
    for (const file of FILES) {
      const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/i.test(target)) continue;
        const [p, anchor] = target.split("#");
        const resolved = p ? path.resolve(path.dirname(file), p) : file;
        const label = `${path.relative(repo, file)} → ${target}`;
        if (!existsSync(resolved)) {
          broken.push(`${label}: no such file`);
          continue;
        }
        if (anchor !== undefined) {
          if (!resolved.endsWith(".md")) broken.push(`${label}: anchor on a non-Markdown file`);
          else if (!anchorsOf(resolved).has(anchor)) broken.push(`${label}: no heading #${anchor}`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  test("error codes named in the guides are codes the server sends", async () => {
    const sources = await rustSources();
    const missing = [];
    for (const file of FILES.filter((f) => /docs\/(authorization|getting-started|providers\/)/.test(f))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/`[1-5]\d\d ([a-z][a-z_]+)`/g)) {
        const code = m[1];
        if (!sources.includes(`"${code}"`)) missing.push(`${path.relative(repo, file)}: ${code}`);
      }
    }
    assert.deepEqual([...new Set(missing)], []);
  });

  test("metric names in the guide and the examples are the server's, and a scrape shows them", async () => {
    const sources = await rustSources();
    const texts = ["docs/operating.md", "docs/examples/grafana-dashboard.json", "docs/examples/prometheus.yml"].map((f) => readFileSync(path.join(repo, f), "utf8"));
    JSON.parse(texts[1]); // the dashboard is valid JSON
    const names = new Set(texts.flatMap((t) => [...t.matchAll(/threadhold_[a-z_]+_(?:total|seconds)\b/g)].map((m) => m[0])));
    const unknown = [...names].filter((n) => !sources.includes(`"${n}"`));
    assert.deepEqual(unknown, []);

    const dir = await mkdtemp(path.join(work, "metrics-"));
    const srv = await startServer({ dataDir: path.join(dir, "data"), env: { THREADHOLD_METRICS_LISTEN: "127.0.0.1:0" } });
    try {
      await fetch(`${srv.url}/v1/threads`);
      const at = /serving metrics at \/metrics.*?address=(\S+)/.exec(srv.logs().replace(/\x1b\[[0-9;]*m/g, ""))?.[1];
      assert.ok(at, `no metrics address in the log:\n${srv.logs()}`);
      const scrape = await (await fetch(`http://${at}/metrics`)).text();
      assert.match(scrape, /threadhold_http_requests_total\{[^}]*route="\/v1\/threads"[^}]*status="401"/);
      assert.match(scrape, /threadhold_http_request_duration_seconds\{[^}]*quantile="0\.99"/);
      assert.match(scrape, /threadhold_http_request_duration_seconds_count/);
    } finally {
      await srv.stop();
    }
  });
});

describe("commands and flags exist", () => {
  test("every `threadhold <command> … --flag` in README.md and docs/ is in that command's --help", async () => {
    const help = new Map();
    const helpOf = async (words) => {
      const key = words.join(" ");
      if (!help.has(key)) {
        const r = await execFileP(BIN, [...words, "--help"]).catch((err) => ({ stdout: "", failed: err }));
        help.set(key, r.failed ? null : r.stdout);
      }
      return help.get(key);
    };
    const top = new Set([...(await helpOf([])).matchAll(/^  ([a-z][a-z-]*) {2,}/gm)].map((m) => m[1]));
    assert.ok(top.has("serve") && top.has("rules"), "the command list of threadhold --help");
    const problems = [];
    for (const file of FILES) {
      const text = readFileSync(file, "utf8").replace(/\\\n/g, " ");
      // Inline code spans and code-block lines that start a threadhold command.
      const pieces = [...text.matchAll(/`([^`\n]*threadhold [a-z][^`\n]*)`/g)].map((m) => m[1]);
      for (const b of blocksOf(file)) pieces.push(...b.code.replace(/\\\n/g, " ").split("\n"));
      for (const piece of pieces) {
        for (const m of piece.matchAll(/(?:^|[\s(=])threadhold ((?:[a-z][a-z-]* ?){1,2})((?:[^|;&#]*?))(?=$|[|;&#])/g)) {
          const words = m[1].trim().split(" ");
          if (!top.has(words[0])) continue; // prose ("threadhold listening on …")
          let h = await helpOf(words);
          if (!h && words.length === 2) {
            words.pop();
            h = await helpOf(words);
          }
          const where = `${path.relative(repo, file)}: threadhold ${m[1].trim()}`;
          if (!h) {
            problems.push(`${where}: no such command`);
            continue;
          }
          for (const f of (m[2].match(/(?<![\w-])--[a-z][a-z-]*/g) ?? [])) {
            if (f === "--help") continue;
            if (!new RegExp(`${f}\\b`).test(h)) problems.push(`${where}: ${f} is not in \`threadhold ${words.join(" ")} --help\``);
          }
        }
      }
    }
    assert.deepEqual([...new Set(problems)], []);
  });
});

let rustCache;
async function rustSources() {
  if (rustCache) return rustCache;
  const parts = [];
  const walk = async (dir) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith(".rs")) parts.push(await readFile(full, "utf8"));
    }
  };
  for (const crate of ["auth", "server", "cli", "domain", "store"]) await walk(path.join(repo, "crates", crate, "src"));
  rustCache = parts.join("\n");
  return rustCache;
}
