-- Runs: client run reports (POST /v1/runs) and server spans (POST /v1/traces)
-- merged by trace id, for the project read API. Reports stored by earlier
-- releases as raw telemetry rows are moved here when the server opens the
-- database; earlier raw spans stay in `telemetry`.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id        TEXT NOT NULL,
    thread_id           TEXT,
    message_id          TEXT,
    created_by          TEXT,
    status              TEXT,
    outcome_type        TEXT,
    error_code          TEXT,
    error               TEXT,
    provider            TEXT,
    model_id            TEXT,
    environment         TEXT,
    release             TEXT,
    tags                TEXT NOT NULL DEFAULT '[]',
    attributes          TEXT NOT NULL DEFAULT '{}',
    trace_id            TEXT,
    root_span_id        TEXT,
    service_name        TEXT,
    agent_name          TEXT,
    input_tokens        BIGINT,
    cached_input_tokens BIGINT,
    output_tokens       BIGINT,
    reasoning_tokens    BIGINT,
    duration_ms         BIGINT,
    first_token_ms      BIGINT,
    cost_usd            DOUBLE PRECISION,
    cost_details        TEXT,
    total_steps         BIGINT,
    output_text         TEXT,
    steps               TEXT,
    tool_calls          TEXT,
    reported            BOOLEAN NOT NULL,
    traced              BOOLEAN NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- One run per trace and project: the key reports and spans merge on.
CREATE UNIQUE INDEX runs_by_trace ON runs (project_id, trace_id) WHERE trace_id IS NOT NULL;
-- Keyset pages, newest first: the whole project, one thread, one creator.
CREATE INDEX runs_listing ON runs (project_id, created_at DESC, id DESC);
CREATE INDEX runs_by_thread ON runs (project_id, thread_id, created_at DESC, id DESC);
CREATE INDEX runs_by_creator ON runs (project_id, created_by, created_at DESC, id DESC);

-- The spans of a run's trace (at most 500), replaced when re-exported.
CREATE TABLE spans (
    run_id              TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    span_id             TEXT NOT NULL,
    trace_id            TEXT NOT NULL,
    parent_span_id      TEXT,
    name                TEXT NOT NULL,
    operation           TEXT,
    span_type           TEXT NOT NULL,
    provider            TEXT,
    model_id            TEXT,
    tool_name           TEXT,
    tool_call_id        TEXT,
    tool_source         TEXT,
    input_tokens        BIGINT,
    cached_input_tokens BIGINT,
    output_tokens       BIGINT,
    reasoning_tokens    BIGINT,
    started_at          BIGINT,
    ended_at            BIGINT,
    first_chunk_ms      BIGINT,
    status_code         TEXT,
    error               TEXT,
    error_type          TEXT,
    finish_reason       TEXT,
    input               TEXT,
    output              TEXT,
    attributes          TEXT NOT NULL,
    PRIMARY KEY (run_id, span_id)
);

-- Scores listed per project (newest first), per thread and per run; who wrote them.
ALTER TABLE scores ADD COLUMN source TEXT;
CREATE INDEX scores_listing ON scores (project_id, created_at DESC, id DESC);
CREATE INDEX scores_by_thread ON scores (project_id, thread_id, created_at DESC, id DESC);
CREATE INDEX scores_by_target ON scores (project_id, target_id, created_at DESC, id DESC);

-- Threads by creation (the MCP thread list) and messages by day (usage).
CREATE INDEX threads_by_creation ON threads (project_id, created_at DESC, id DESC);
CREATE INDEX threads_by_workspace_creation ON threads (project_id, workspace_id, created_at DESC, id DESC);
CREATE INDEX messages_by_creation ON messages (created_at);
