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
