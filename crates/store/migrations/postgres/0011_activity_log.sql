-- Writers count threads, messages and runs by appending a row here instead of
-- adding to a row of activity_days: an appended row is never waited on, where
-- concurrent writers adding to one rollup row queued on its lock until each
-- other's commit. Every node folds the log into activity_days about once a
-- second; the daily counts are read from both. No foreign key: a key check
-- would share-lock the project's row from every writer at once.
CREATE TABLE activity_log (
    project_id TEXT NOT NULL,
    day        BIGINT NOT NULL,
    threads    BIGINT NOT NULL DEFAULT 0,
    messages   BIGINT NOT NULL DEFAULT 0,
    runs       BIGINT NOT NULL DEFAULT 0
);
