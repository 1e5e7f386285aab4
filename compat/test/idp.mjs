// Local identity-provider fixtures for test/providers.test.mjs: a programmable
// JWKS server on 127.0.0.1, signing keys made with `jose`, provider-shaped
// tokens, and an `oidc-provider` host whose provider (and key set) can be
// swapped on the same port. All traffic stays on the loopback interface.

import http from "node:http";
import { randomUUID } from "node:crypto";
import * as jose from "jose";

export const now = () => Math.floor(Date.now() / 1000);

/** A signing key: { kid, alg, privateKey, publicJwk }. */
export async function makeKey(alg, kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicJwk, privateJwk };
}

/**
 * Signs `payload` with `key` (a makeKey() result, or { alg: "HS256", secret }).
 * `header` overrides/extends the protected header (`kid: undefined` drops it).
 */
export async function sign(key, payload, header = {}) {
  const protectedHeader = { alg: key.alg, typ: "JWT", ...(key.kid ? { kid: key.kid } : {}), ...header };
  for (const [k, v] of Object.entries(protectedHeader)) if (v === undefined) delete protectedHeader[k];
  const secret = key.secret !== undefined ? new TextEncoder().encode(key.secret) : key.privateKey;
  return new jose.SignJWT(payload).setProtectedHeader(protectedHeader).sign(secret);
}

/**
 * A JWKS endpoint on 127.0.0.1 (random port). `paths` are the paths it
 * answers with the published keys (all others: 404). Every request is logged
 * in `hits` as { path, at }. Tests change `published`, `cacheControl`,
 * `status` at will.
 */
export class JwksServer {
  constructor({ paths = ["/.well-known/jwks.json"], cacheControl = "public, max-age=3600" } = {}) {
    this.paths = paths;
    this.cacheControl = cacheControl;
    this.status = 200;
    this.published = [];
    this.hits = [];
    this.server = http.createServer((req, res) => this.#handle(req, res));
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Publishes a key (its public JWK) in the set. */
  publish(key) {
    this.published.push(key.publicJwk);
  }

  unpublish(key) {
    this.published = this.published.filter((jwk) => jwk.kid !== key.kid);
  }

  /** Requests received for `path` (default: any JWKS path). */
  hitCount(path) {
    return this.hits.filter((h) => (path ? h.path === path : this.paths.includes(h.path))).length;
  }

  lastHitAt() {
    return this.hits.length ? this.hits.at(-1).at : 0;
  }

  #handle(req, res) {
    const path = new URL(req.url, this.origin).pathname;
    this.hits.push({ path, at: Date.now() });
    if (req.method !== "GET" || !this.paths.includes(path)) {
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end('{"error":"not_found"}');
      return;
    }
    if (this.status !== 200) {
      res.writeHead(this.status, { "Content-Type": "application/json" });
      res.end('{"error":"unavailable"}');
      return;
    }
    const headers = { "Content-Type": "application/json" };
    if (this.cacheControl) headers["Cache-Control"] = this.cacheControl;
    res.writeHead(200, headers);
    res.end(JSON.stringify({ keys: this.published }));
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A loopback port that nothing listens on (bound once, then released). */
export async function deadPort() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------
// Provider-shaped claims (shared/spec/auth-and-jwt.md section 1)

/** Clerk session token, claims v2. `org` = { id, rol, slg } or null. */
export function clerkClaims({ issuer, sub, azp = "http://localhost:3000", org = null, ttl = 60, iat = now() }) {
  return {
    azp,
    exp: iat + ttl,
    fva: [0, -1],
    iat,
    iss: issuer,
    jti: randomUUID().replace(/-/g, "").slice(0, 20),
    nbf: iat - 5,
    sid: `sess_${randomUUID().replace(/-/g, "").slice(0, 24)}`,
    sub,
    v: 2,
    pla: "u:free_user",
    ...(org ? { o: { id: org.id, rol: org.rol ?? "admin", slg: org.slg ?? "acme" } } : {}),
  };
}

/** Auth0 access token (default "Auth0" profile): issuer ends with "/", aud array with userinfo. */
export function auth0Claims({ issuer, sub, audience, azp = "Xq3Y8pDf2mK1nR7sT4vW9zA0bC5dE6fG", ttl = 86_400, iat = now() }) {
  return {
    iss: issuer,
    sub,
    aud: [audience, `${issuer}userinfo`],
    iat,
    exp: iat + ttl,
    scope: "openid profile email read:threads",
    azp,
  };
}

/** Supabase Auth user access token (new signing keys and legacy HS256 share this shape). */
export function supabaseClaims({ issuer, sub, anonymous = false, ttl = 3600, iat = now() }) {
  return {
    iss: issuer,
    sub,
    aud: "authenticated",
    exp: iat + ttl,
    iat,
    email: anonymous ? "" : `${sub.slice(0, 8)}@example.test`,
    phone: "",
    app_metadata: anonymous ? {} : { provider: "email", providers: ["email"] },
    user_metadata: {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: anonymous ? "anonymous" : "password", timestamp: iat - 30 }],
    session_id: randomUUID(),
    is_anonymous: anonymous,
  };
}

/** Firebase Auth ID token. */
export function firebaseClaims({ project, uid, provider = "anonymous", ttl = 3600, iat = now() }) {
  return {
    iss: `https://securetoken.google.com/${project}`,
    aud: project,
    auth_time: iat - 120,
    user_id: uid,
    sub: uid,
    iat,
    exp: iat + ttl,
    firebase: { identities: {}, sign_in_provider: provider },
  };
}

// ---------------------------------------------------------------------------
// oidc-provider host: one http.Server whose handler is the current Provider,
// so the provider can be "restarted" with a new key set on the same port.

export class OidcProviderHost {
  constructor({ audience, clients }) {
    this.audience = audience;
    this.clients = clients; // [{ client_id, client_secret }]
    this.hits = [];
    this.handler = null;
    this.server = http.createServer((req, res) => {
      // Requests the fixture makes itself carry x-fixture and are not counted.
      if (!req.headers["x-fixture"]) this.hits.push({ path: new URL(req.url, "http://x").pathname, at: Date.now() });
      this.handler(req, res);
    });
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    this.issuer = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** (Re)creates the provider with `keys` (makeKey() results) as its signing keys. */
  async useKeys(keys) {
    const audience = this.audience;
    const alg = keys[0].alg;
    // oidc-provider warns about Node 20 and its in-memory adapter; keep the test output clean.
    const warn = console.warn;
    const info = console.info;
    const log = console.log;
    const quiet = (orig) => (...args) => {
      if (typeof args[0] === "string" && args[0].startsWith("oidc-provider")) return;
      orig(...args);
    };
    console.warn = quiet(warn);
    console.info = quiet(info);
    console.log = quiet(log);
    try {
      const { default: Provider } = await import("oidc-provider");
      const provider = new Provider(this.issuer, {
        jwks: { keys: keys.map((k) => k.privateJwk) },
        clients: this.clients.map((c) => ({
          ...c,
          grant_types: ["client_credentials"],
          redirect_uris: [],
          response_types: [],
          id_token_signed_response_alg: alg,
        })),
        ttl: { ClientCredentials: 300 },
        features: {
          devInteractions: { enabled: false },
          clientCredentials: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => audience,
            useGrantedResource: () => true,
            getResourceServerInfo: () => ({
              scope: "read write",
              audience,
              accessTokenTTL: 300,
              accessTokenFormat: "jwt",
              jwt: { sign: { alg } },
            }),
          },
        },
      });
      this.handler = provider.callback();
      this.provider = provider;
      // The first request triggers more notices; make it while quiet.
      await fetch(`${this.issuer}/.well-known/openid-configuration`, { headers: { "x-fixture": "1" } }).then((r) => r.arrayBuffer());
    } finally {
      console.warn = warn;
      console.info = info;
      console.log = log;
    }
  }

  /** An RFC 9068 access token through the real token endpoint (client_credentials + resource). */
  async accessToken(clientId) {
    const client = this.clients.find((c) => c.client_id === clientId);
    const res = await fetch(`${this.issuer}/token`, {
      method: "POST",
      headers: {
        Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`,
        "Content-Type": "application/x-www-form-urlencoded",
        "x-fixture": "1",
      },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "read", resource: this.audience }),
    });
    const body = await res.json();
    if (!res.ok || !body.access_token) throw new Error(`oidc-provider /token answered ${res.status}: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  jwksHitCount() {
    return this.hits.filter((h) => h.path === "/jwks").length;
  }

  lastJwksHitAt() {
    const jwks = this.hits.filter((h) => h.path === "/jwks");
    return jwks.length ? jwks.at(-1).at : 0;
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}
