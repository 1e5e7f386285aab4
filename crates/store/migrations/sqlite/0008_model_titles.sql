-- Titles written by a model. A thread's title is the built-in one unless a
-- user set it (`title_from_user`) or a model wrote it (`title_by_model`); model
-- attempts are counted, and the one running is marked with its start, so the
-- request triggers and the hourly sweep never title a thread twice.
ALTER TABLE threads ADD COLUMN title_by_model BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE threads ADD COLUMN title_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN title_attempt_at BIGINT;
-- The sweep reads recent threads whose title is still automatic, newest first.
CREATE INDEX threads_title_pending ON threads (created_at) WHERE NOT title_from_user AND NOT title_by_model;

-- A project's title model: an OpenAI-compatible chat completions endpoint.
-- The API key is not stored: only the file or environment variable the
-- server reads it from.
CREATE TABLE title_settings (
    project_id   TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    enabled      BOOLEAN NOT NULL,
    base_url     TEXT NOT NULL,
    model        TEXT NOT NULL,
    api_key_file TEXT,
    api_key_env  TEXT,
    api_style    TEXT NOT NULL,
    api_version  TEXT,
    language     TEXT NOT NULL,
    words        INTEGER NOT NULL,
    instructions TEXT NOT NULL,
    timeout_ms   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
