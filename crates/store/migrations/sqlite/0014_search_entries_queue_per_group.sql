-- FTS5 writes the entries it holds in memory out as a new segment at every
-- savepoint, and every write of a commit group runs in a savepoint of its own:
-- one tiny segment per message, merged again and again (a third of the
-- writer's time under load). A write now queues its message's entry here,
-- under the row id it will have in the index; the writer moves a group's
-- queue into the index once, just before the group commits. Outside a write
-- transaction the table is empty.
CREATE TABLE pending_message_search (
    search_rowid INTEGER PRIMARY KEY,
    text         TEXT NOT NULL,
    message_id   TEXT NOT NULL
);
DROP TRIGGER message_search_delete;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages WHEN old.search_rowid > 0 BEGIN
    DELETE FROM message_search WHERE rowid = old.search_rowid;
    DELETE FROM pending_message_search WHERE search_rowid = old.search_rowid;
END;
