-- The search indexes' segments are merged by the writer when it has nothing
-- else to do, not inside the write that happens to fill a level (a merge of
-- large doclists took tens of milliseconds from every write group).
-- crisismerge still bounds the segments per level if the writer is never idle.
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 0);
INSERT INTO thread_search (thread_search, rank) VALUES ('automerge', 0);
