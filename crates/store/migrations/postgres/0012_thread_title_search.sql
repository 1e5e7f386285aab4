-- Thread titles are searched through a copy in their own table. Every message
-- bumps its thread's row, which writes a new row version with an entry in
-- each of the table's indexes: the trigram index on the title there re-indexed
-- the unchanged title on every message. The copy changes only when a title does
-- (a trigger keeps it, so every path that writes a title is covered).
CREATE TABLE thread_search (
    thread_id TEXT PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    text      TEXT NOT NULL
);
INSERT INTO thread_search (thread_id, text) SELECT id, title FROM threads WHERE title IS NOT NULL;
CREATE INDEX thread_search_text ON thread_search USING gin (text gin_trgm_ops);
DROP INDEX threads_title_search;

CREATE FUNCTION thread_search_follow_title() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.title IS NULL THEN
        DELETE FROM thread_search WHERE thread_id = NEW.id;
    ELSE
        INSERT INTO thread_search (thread_id, text) VALUES (NEW.id, NEW.title)
            ON CONFLICT (thread_id) DO UPDATE SET text = excluded.text;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER thread_search_on_insert AFTER INSERT ON threads
    FOR EACH ROW WHEN (NEW.title IS NOT NULL) EXECUTE FUNCTION thread_search_follow_title();
CREATE TRIGGER thread_search_on_update AFTER UPDATE OF title ON threads
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title) EXECUTE FUNCTION thread_search_follow_title();
