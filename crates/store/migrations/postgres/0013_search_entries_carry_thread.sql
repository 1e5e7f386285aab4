-- Each search entry carries its message's thread and creation time, so a
-- search orders its matches and finds their threads without reading each
-- matching message. Both stay NULL on entries written before this version
-- (no rewrite of a large table at start-up); a search reads those from the
-- message, as before.
ALTER TABLE message_search ADD COLUMN thread_id TEXT, ADD COLUMN created_at BIGINT;
