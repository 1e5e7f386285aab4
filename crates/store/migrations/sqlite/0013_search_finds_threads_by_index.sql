-- A search match is an FTS5 row id; its message, thread and order are found
-- through this index alone (no read of the message row or of the index's
-- stored copy of the text).
CREATE INDEX messages_by_search_rowid ON messages (search_rowid, thread_id, id);
