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
