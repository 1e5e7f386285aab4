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
    shared_secret      BLOB,
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
