-- New search entries wait in the trigram index's pending list, and the insert
-- that finds the list over its limit moves the whole list into the index.
-- At the default limit (4 MB) that insert took 15-30 ms every third of a
-- second under a steady stream of creates, and every create queued behind it
-- waited as long (the p99 of 64 writers). Half a megabyte moves a few ms at a
-- time, and a search scans a shorter list. Without the list (fastupdate off)
-- every entry goes into the index at once: 2.7x slower creates.
ALTER INDEX message_search_text SET (gin_pending_list_limit = 512);
