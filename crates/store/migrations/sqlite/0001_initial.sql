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
    private_der BLOB NOT NULL,
    public_raw  BLOB NOT NULL,
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
