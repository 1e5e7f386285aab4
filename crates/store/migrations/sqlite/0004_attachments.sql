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
    value      BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
