-- Search: trigram indexes (pg_trgm) over message text and thread titles, so a
-- substring search reads only the rows that match. Message text is extracted
-- by the server (the text parts of every format) and written with the message
-- (`search_indexed`); messages not indexed yet (older rows, rows written by
-- other tools) are indexed when the server connects.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE messages ADD COLUMN search_indexed BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX messages_unindexed ON messages (id) WHERE NOT search_indexed;
CREATE TABLE message_search (
    message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    text       TEXT NOT NULL
);
CREATE INDEX message_search_text ON message_search USING gin (text gin_trgm_ops);
CREATE INDEX threads_title_search ON threads USING gin (title gin_trgm_ops);

-- Scores are keyed per workspace: another workspace's score on a run of the
-- same id is another score.
ALTER TABLE scores DROP CONSTRAINT scores_project_id_target_type_target_id_author_name_key;
ALTER TABLE scores ADD CONSTRAINT scores_key UNIQUE (project_id, workspace_id, target_type, target_id, author, name);

-- One counter every administrative change moves, so every node notices a
-- change by reading one row.
CREATE TABLE settings_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
