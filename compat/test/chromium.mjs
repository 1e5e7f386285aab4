// Shared machinery of the browser tests: a page server on its own loopback
// origin (so every API call is cross-origin and CORS is exercised for real) and
// Debian's Chromium driven by playwright-core (never a downloaded browser).
import http from "node:http";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Serves `html` at `/` and the bundled `js` at `/app.js` on 127.0.0.1:<random>. */
export function startPageServer(html, js) {
  const srv = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    if (pathname === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      res.end(html);
    } else if (pathname === "/app.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store" });
      res.end(js);
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
    async newContext() {
      browser ??= await launchChromium();
      const context = await browser.newContext();
      contexts.push(context);
      return context;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser?.close().catch(() => {});
    },
  };
}
