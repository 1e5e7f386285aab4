// Shared machinery of the browser tests: page scripts bundled by esbuild, a
// page server on its own loopback origin (so every API call is cross-origin and
// CORS is exercised for real; it can also serve routes such as a chat
// endpoint), Debian's Chromium driven by playwright-core (never a downloaded
// browser), and helpers for the fixture apps' pages (opening, reloading,
// polling, failure reports).
import http from "node:http";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const compatDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const CHROMIUM = "/usr/bin/chromium";

/** The HTML page of a bundled app: a #root and the module script at `script`. */
export const appHtml = (title, script = "/app.js") =>
  `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><div id="root"></div><script type="module" src="${script}"></script></body></html>`;

/**
 * Bundles a page script for Chromium with esbuild: `entry` (a file; `.jsx`
 * through esbuild's own JSX loader, automatic runtime) or `stdin` (source text
 * resolved from compat/).
 */
export async function bundle({ entry, stdin }) {
  const result = await esbuild.build({
    ...(entry ? { entryPoints: [entry] } : { stdin: { contents: stdin, resolveDir: compatDir, loader: "js", sourcefile: "page.js" } }),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    loader: { ".jsx": "jsx" },
    define: { "process.env.NODE_ENV": '"production"' },
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/**
 * Serves `routes` on 127.0.0.1:<random>: each pathname maps to a string
 * (served as HTML, or as JavaScript when the path ends in `.js`) or to an
 * async `(req, res)` handler (e.g. a chat route). Anything else is a 404
 * (but an empty /favicon.ico).
 */
export function startPageServer(routes) {
  const srv = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
    if (typeof route === "function") {
      Promise.resolve(route(req, res)).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
        res.end(String(err?.stack ?? err));
      });
    } else if (typeof route === "string") {
      const type = pathname.endsWith(".js") ? "text/javascript" : "text/html";
      res.writeHead(200, { "Content-Type": `${type}; charset=utf-8`, "Cache-Control": "no-store" });
      res.end(route);
    } else if (pathname === "/favicon.ico") {
      // Keeps the browser's own favicon request from logging a 404 to the console.
      res.writeHead(204).end();
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found");
    }
  });
  return new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve(srv));
  });
}

/** The page server's origin (`http://127.0.0.1:PORT`). */
export const originOf = (srv) => `http://127.0.0.1:${srv.address().port}`;

/** Closes a page server (if it started). */
export const closePageServer = (srv) => new Promise((r) => (srv ? srv.close(() => r()) : r()));

/** Reads a request body as JSON. */
export async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/** Sends a WHATWG `Response` (e.g. a streamed UI message stream) through a Node `http.ServerResponse`, chunk by chunk. */
export async function sendWebResponse(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  if (response.body) {
    for await (const chunk of response.body) res.write(chunk);
  }
  res.end();
}

/**
 * Launches Debian's Chromium on a fresh temporary profile (removed on close);
 * a missing binary is a clear failure, never a skip.
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Debian's Chromium is not installed (${CHROMIUM} is missing). The browser tests need it and never download a browser: ` +
        "install it as root with `apt-get update && apt-get install -y chromium`.",
    );
  }
  return chromium.launch({
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
}

/**
 * One Chromium per test file, launched on first use, handing out isolated
 * contexts (each its own localStorage and Web Locks, hence its own anonymous
 * identity); `close()` ends them all.
 */
export function browserSession() {
  let browser;
  const contexts = [];
  return {
    async newContext(options = {}) {
      browser ??= await launchChromium();
      const context = await browser.newContext(options);
      contexts.push(context);
      return context;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser?.close().catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------
// Pages of the fixture apps (test/fixtures/*.jsx with page-kit.js): each sets
// `window.pageReady` once its runtime exists and keeps `window.calls()`,
// `window.threadMessages()` for the reports below.

/** Opens `url` in a new tab of `context`, collecting its console; `name` labels it in reports. */
export async function openPage(context, url, name) {
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));
  page.consoleLines = consoleLines;
  page.tabName = name;
  await gotoPage(page, url);
  return page;
}

/** Navigates `page` to `url` and waits for the app. */
export async function gotoPage(page, url) {
  await page.goto(url, { timeout: 10_000 });
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 10_000 });
}

/** Reloads `page` and waits for the app. */
export async function reloadPage(page) {
  await page.reload({ timeout: 10_000 });
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 10_000 });
}

/** What a page did, for failure messages: its request log, thread state and console. */
export async function pageReport(page) {
  let calls = [];
  let messages = null;
  let dom = "";
  try {
    calls = await page.evaluate(() => window.calls());
  } catch {}
  try {
    messages = await page.evaluate(() => window.threadMessages());
  } catch {}
  try {
    dom = await page.evaluate(() => document.getElementById("root")?.innerHTML ?? "");
  } catch {}
  const callLines = calls.map((c) => {
    const response = typeof c.response === "string" ? ` ${c.response}` : "";
    const body =
      c.body && typeof c.body === "object" && !Array.isArray(c.body)
        ? ` body keys: ${Object.keys(c.body).join(",")}${c.body.open_run ? " (open_run)" : ""}${c.body.lease_id ? " (lease_id)" : ""}`
        : "";
    return `${c.method} ${c.path}${c.query ?? ""} -> ${c.status ?? c.error}${response}${body}`;
  });
  return (
    `--- tab ${page.tabName ?? "?"} ---\nrequests:\n  ${callLines.join("\n  ")}\n` +
    `thread messages: ${JSON.stringify(messages)}\nDOM: ${dom.slice(0, 3000)}\n` +
    `console:\n  ${(page.consoleLines ?? []).slice(-40).join("\n  ")}`
  );
}

/** Runs fn in the page; a rejection carries the page's report. */
export async function inPage(page, fn, arg) {
  try {
    return await page.evaluate(fn, arg);
  } catch (err) {
    throw new Error(`in tab ${page.tabName}: ${err.message}\n${await pageReport(page)}`);
  }
}

/**
 * Polls `probe()` (an async function returning a value) until `ok(value)`;
 * on timeout fails with `what`, the last value and the pages' reports.
 */
export async function waitUntil(what, probe, ok, { timeoutMs = 10_000, pages = [] } = {}) {
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
  for (const p of pages) reports.push(await pageReport(p));
  assert.fail(
    `timed out after ${timeoutMs} ms waiting for: ${what}\nlast value: ${JSON.stringify(last)}${
      lastErr ? `\nlast error: ${lastErr.message}` : ""
    }\n${reports.join("\n")}`,
  );
}

/** Requests from the page that the server answered with 5xx (never acceptable), as lines. */
export async function serverErrors(page) {
  const calls = await page.evaluate(() => window.calls());
  return calls
    .filter((c) => c.status >= 500)
    .map((c) => `${c.method} ${c.path} -> ${c.status} ${typeof c.response === "string" ? c.response : ""}`);
}

/** The errors and warnings a page logged to its console (across reloads), and its uncaught errors. */
export const consoleProblems = (page) =>
  (page.consoleLines ?? []).filter((line) => /^\[(error|warning|pageerror)\]/.test(line));

/** Types into the app's ComposerPrimitive.Input and clicks ComposerPrimitive.Send. */
export async function sendFromComposer(page, text) {
  await page.fill('[data-testid="composer-input"]', text, { timeout: 5_000 });
  await page.click('[data-testid="send"]', { timeout: 5_000 });
}
