-- threadhold schema for PostgreSQL: the SQLite schema (migrations 0001-0005) in one step.

-- from 0001_initial.sql
-- threadhold schema v1. Timestamps are integer milliseconds since the Unix epoch (UTC).
-- JSON documents are stored as the exact text the client sent.

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    algorithm   TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    public_raw  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX signing_keys_by_project ON signing_keys (project_id, created_at DESC);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    secret_hash    TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at);

CREATE TABLE threads (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    title           TEXT,
    title_from_user BOOLEAN NOT NULL DEFAULT FALSE,
    metadata        TEXT,
    external_id     TEXT,
    is_archived     BOOLEAN NOT NULL DEFAULT FALSE,
    last_message_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- The thread list: one workspace, archived or not, newest last_message_at first.
CREATE INDEX threads_listing ON threads (project_id, workspace_id, is_archived, last_message_at DESC, id DESC);
CREATE INDEX threads_project_listing ON threads (project_id, is_archived, last_message_at DESC, id DESC);
CREATE INDEX threads_by_external_id ON threads (project_id, workspace_id, external_id, created_at);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    thread_id   TEXT NOT NULL REFERENCES threads (id),
    parent_id   TEXT REFERENCES messages (id),
    height      BIGINT NOT NULL,
    format      TEXT NOT NULL,
    content     TEXT NOT NULL,
    external_id TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- The message list order of the contract: height, then created_at, then id, all descending.
CREATE INDEX messages_listing ON messages (thread_id, height DESC, created_at DESC, id DESC);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE UNIQUE INDEX messages_by_external_id ON messages (thread_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE feedback (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    comment    TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (message_id, user_id)
);

-- Run reports, engagement events: kept for later analysis, outliving thread deletes.
CREATE TABLE telemetry (
    id           TEXT PRIMARY KEY,
    record_type  TEXT NOT NULL,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX telemetry_by_workspace ON telemetry (project_id, workspace_id, record_type, created_at);

CREATE TABLE scores (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    author       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    thread_id    TEXT,
    name         TEXT NOT NULL,
    data_type    TEXT NOT NULL,
    value        DOUBLE PRECISION,
    string_value TEXT,
    comment      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (project_id, target_type, target_id, author, name)
);

-- from 0002_anonymous.sql
-- Anonymous mode: per-browser identities whose refresh tokens rotate on every
-- use. A session is one token family; only hashes of the tokens are stored.

ALTER TABLE projects ADD COLUMN anonymous_enabled BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE anonymous_sessions (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    -- Set when the family is revoked (reuse outside the grace window).
    revoked_at   BIGINT,
    -- Set when a signed-in caller claimed the identity's threads.
    claimed_at   BIGINT
);
CREATE INDEX anonymous_sessions_by_activity ON anonymous_sessions (last_used_at);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES anonymous_sessions (id) ON DELETE CASCADE,
    parent_hash TEXT,
    created_at  BIGINT NOT NULL,
    -- Set when the token was exchanged for a child; NULL while it is current.
    rotated_at  BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- from 0003_run_leases.sql
-- Run leases: a live tab's claim on the assistant message it is generating.
-- The message keeps a copy of its latest lease's state for cheap listing.

CREATE TABLE run_leases (
    id                TEXT PRIMARY KEY,
    message_id        TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    thread_id         TEXT NOT NULL,
    running           BOOLEAN NOT NULL,
    end_reason        TEXT,
    created_at        BIGINT NOT NULL,
    last_heartbeat_at BIGINT NOT NULL,
    ended_at          BIGINT
);
CREATE INDEX run_leases_by_message ON run_leases (message_id);

ALTER TABLE messages ADD COLUMN run_running BOOLEAN;
ALTER TABLE messages ADD COLUMN run_heartbeat_at BIGINT;

-- from 0004_attachments.sql
-- Attachments: files uploaded through presigned URLs. A row is created when
-- the URL is handed out (pending) and completed when the bytes arrived and
-- passed the limits; it is linked to the thread whose messages reference it.

CREATE TABLE attachments (
    key               TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id      TEXT NOT NULL,
    filename          TEXT NOT NULL,
    content_type      TEXT NOT NULL,
    size              BIGINT,
    complete          BOOLEAN NOT NULL DEFAULT FALSE,
    thread_id         TEXT,
    created_at        BIGINT NOT NULL,
    upload_expires_at BIGINT NOT NULL
);
CREATE INDEX attachments_by_thread ON attachments (thread_id);
CREATE INDEX attachments_pending ON attachments (complete, upload_expires_at);

-- Secrets the server generates for itself (e.g. the key that signs upload URLs).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- from 0005_auth_rules.sql
-- Auth rules: identity providers a project trusts. List-valued fields are JSON arrays.

CREATE TABLE auth_rules (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    provider           TEXT NOT NULL,
    issuer             TEXT NOT NULL,
    audiences          TEXT NOT NULL,
    jwks_url           TEXT,
    discovery          BOOLEAN NOT NULL,
    shared_secret      BYTEA,
    algorithms         TEXT NOT NULL,
    clock_skew_secs    BIGINT NOT NULL,
    max_lifetime_secs  BIGINT,
    authorized_parties TEXT NOT NULL,
    workspace_template TEXT NOT NULL,
    workspace_fallback TEXT,
    name_claim         TEXT,
    token_type         TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX auth_rules_by_project ON auth_rules (project_id, issuer);
