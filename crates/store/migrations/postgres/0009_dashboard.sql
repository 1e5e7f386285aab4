-- The dashboard (PostgreSQL; the same schema as SQLite's 0009): admin accounts and their sessions, the audit log, the users
-- registry with the days each user was active, per-project retention, and
-- daily activity rollups (so the overview never counts big tables).

CREATE TABLE admin_accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

-- Sessions by the SHA-256 of their cookie, with idle and absolute expiry.
CREATE TABLE admin_sessions (
    token_hash   TEXT PRIMARY KEY,
    admin_id     TEXT NOT NULL REFERENCES admin_accounts (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_admin ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);

-- Every change through the dashboard, the admin API or the CLI; ids are time-ordered.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    project_id  TEXT,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX audit_by_project ON audit_log (project_id, id);
CREATE INDEX audit_by_actor ON audit_log (actor, id);
CREATE INDEX audit_by_action ON audit_log (action, id);

-- Users seen by the API (written at most once per user every few minutes per node).
CREATE TABLE users (
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    display_name  TEXT,
    anonymous     BOOLEAN NOT NULL,
    workspaces    TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX users_by_activity ON users (project_id, last_seen_at, user_id);

CREATE TABLE user_activity_days (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    PRIMARY KEY (project_id, day, user_id)
);

-- Threads, messages and runs written per project and day, spread over a few
-- shards so concurrent writers (PostgreSQL nodes) do not queue on one row.
CREATE TABLE activity_days (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    shard      BIGINT NOT NULL,
    threads    BIGINT NOT NULL DEFAULT 0,
    messages   BIGINT NOT NULL DEFAULT 0,
    runs       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, shard)
);
INSERT INTO activity_days (project_id, day, shard, threads)
    SELECT project_id, created_at / 86400000, 0, count(*) FROM threads GROUP BY project_id, created_at / 86400000;
INSERT INTO activity_days (project_id, day, shard, messages)
    SELECT t.project_id, m.created_at / 86400000, 1, count(*) FROM messages m JOIN threads t ON t.id = m.thread_id
    GROUP BY t.project_id, m.created_at / 86400000;
-- Runs: the runs table, and reports an earlier release kept as telemetry (moved after migrating).
INSERT INTO activity_days (project_id, day, shard, runs)
    SELECT project_id, created_at / 86400000, 2, count(*) FROM (
        SELECT project_id, created_at FROM runs
        UNION ALL SELECT project_id, created_at FROM telemetry WHERE record_type = 'run'
    ) AS reported
    GROUP BY project_id, created_at / 86400000;

-- A project's own retention period (the server-wide setting applies otherwise).
CREATE TABLE project_retention (
    project_id TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    days       BIGINT NOT NULL
);

-- The dashboard lists a project's threads across workspaces, archived or not.
CREATE INDEX threads_admin_listing ON threads (project_id, last_message_at DESC, id DESC);
