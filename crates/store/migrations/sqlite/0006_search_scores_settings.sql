-- Search: trigram full-text indexes (FTS5) over message text and thread titles,
-- so a substring search reads only the rows that match. The index rows are
-- linked through `search_rowid` columns (a VACUUM may renumber implicit rowids).
ALTER TABLE messages ADD COLUMN search_rowid INTEGER;
ALTER TABLE threads ADD COLUMN search_rowid INTEGER;
CREATE VIRTUAL TABLE message_search USING fts5 (text, message_id UNINDEXED, tokenize = 'trigram');
CREATE VIRTUAL TABLE thread_search USING fts5 (text, thread_id UNINDEXED, tokenize = 'trigram');

-- Titles follow their thread through triggers.
INSERT INTO thread_search (rowid, text, thread_id) SELECT rowid, COALESCE(title, ''), id FROM threads;
UPDATE threads SET search_rowid = rowid;
CREATE TRIGGER thread_search_insert AFTER INSERT ON threads BEGIN
    INSERT INTO thread_search (text, thread_id) VALUES (COALESCE(new.title, ''), new.id);
    UPDATE threads SET search_rowid = last_insert_rowid() WHERE id = new.id;
END;
CREATE TRIGGER thread_search_title AFTER UPDATE OF title ON threads BEGIN
    UPDATE thread_search SET text = COALESCE(new.title, '') WHERE rowid = new.search_rowid;
END;
CREATE TRIGGER thread_search_delete AFTER DELETE ON threads BEGIN
    DELETE FROM thread_search WHERE rowid = old.search_rowid;
END;

-- Message text is extracted by the server (the text parts of every format) and
-- written with the message (`search_rowid` 0: no text); messages not indexed
-- yet (NULL: older rows, rows written by other tools) are indexed when the
-- server opens the database. The index row goes with its message.
CREATE INDEX messages_unindexed ON messages (id) WHERE search_rowid IS NULL;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages WHEN old.search_rowid > 0 BEGIN
    DELETE FROM message_search WHERE rowid = old.search_rowid;
END;

-- Scores are keyed per workspace: another workspace's score on a run of the
-- same id is another score.
CREATE TABLE scores_keyed (
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
    UNIQUE (project_id, workspace_id, target_type, target_id, author, name)
);
INSERT INTO scores_keyed SELECT * FROM scores;
DROP TABLE scores;
ALTER TABLE scores_keyed RENAME TO scores;

-- One counter every administrative change moves, so every node notices a
-- change by reading one row.
CREATE TABLE settings_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
