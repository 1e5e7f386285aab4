// A typical Node server for the same read as threadhold's `GET /v1/threads?limit=20`:
// Fastify, jose verifying threadhold's EdDSA workspace token against the
// server's public keys, better-sqlite3 reading the benchmark's SQLite file.
// The harness starts it with DB (the file), JWKS (the key set's JSON) and
// ISSUER, and reads "node reference listening on http://ADDR" from stdout.
import Fastify from "fastify";
import Database from "better-sqlite3";
import { createLocalJWKSet, jwtVerify } from "jose";

const db = new Database(process.env.DB, { readonly: true, fileMustExist: true });
const keys = createLocalJWKSet(JSON.parse(process.env.JWKS));
const issuer = process.env.ISSUER;

const page = db.prepare(
  `SELECT id, project_id, workspace_id, title, metadata, external_id, is_archived,
          last_message_at, created_at, updated_at
     FROM threads
    WHERE project_id = ? AND workspace_id = ? AND is_archived = FALSE
    ORDER BY last_message_at DESC, id DESC
    LIMIT ?`,
);

const iso = (millis) => new Date(millis).toISOString();

const app = Fastify({ logger: false });

app.get("/v1/threads", async (request, reply) => {
  const header = request.headers.authorization ?? "";
  if (!header.startsWith("Bearer ")) {
    return reply.code(401).send({ error: "unauthorized", message: "a bearer token is required" });
  }
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(header.slice(7), keys, { issuer, algorithms: ["EdDSA"] }));
  } catch {
    return reply.code(401).send({ error: "token_invalid", message: "the token was refused" });
  }
  const limit = Math.min(Math.max(Number.parseInt(request.query.limit ?? "20", 10) || 20, 1), 100);
  const threads = page.all(claims.project_id, claims.workspace_id, limit).map((row) => ({
    id: row.id,
    project_id: row.project_id,
    workspace_id: row.workspace_id,
    title: row.title,
    external_id: row.external_id,
    metadata: row.metadata === null ? null : JSON.parse(row.metadata),
    is_archived: row.is_archived !== 0,
    last_message_at: iso(row.last_message_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }));
  return { threads };
});

const address = await app.listen({ host: "127.0.0.1", port: 0 });
console.log(`node reference listening on ${address}`);
