//! Search over titles and message text through the trigram indexes (FTS5).
//!
//! A search reads only what it returns: index matches (newest written first,
//! at most [`MESSAGES_EXAMINED_MAX`]) and a snippet cut in the database, never
//! whole documents. A time budget stops it early on a huge match set; what was
//! found until then is answered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use threadhold_domain::model::{SearchHit, Thread};
use threadhold_domain::search::{
    Found, INDEXED_QUERY_MIN_CHARS, MESSAGES_EXAMINED_MAX, SNIPPET_CHARS, SNIPPET_LEAD_CHARS, page_of_found,
};

use super::rows::{self, thread_columns};
use crate::{ReadScope, StoreResult};

/// Time a search may take before it answers with what it found.
const SEARCH_BUDGET: Duration = Duration::from_millis(500);

/// The scope's threads whose title or message text contains `needle`, newest
/// thread first, each with its newest matching message.
pub(super) fn search(
    c: &Connection,
    scope: &ReadScope,
    needle: &str,
    limit: u32,
    after: Option<&str>,
) -> StoreResult<Vec<SearchHit>> {
    let deadline = Instant::now() + SEARCH_BUDGET;
    c.progress_handler(1_000, Some(move || Instant::now() > deadline))?;
    let found = candidates(c, scope, needle);
    c.progress_handler(1_000, None::<fn() -> bool>)?;
    let found = found?;

    let cursor = match after {
        Some(after) => match super::threads::get(c, scope, after)? {
            Some(thread) => Some((thread.last_message_at, thread.id)),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let page = page_of_found(found, cursor.as_ref().map(|(at, id)| (*at, id.as_str())), limit);
    let mut hits = Vec::with_capacity(page.len());
    let mut statement = c.prepare_cached(concat!(
        "SELECT ",
        thread_columns!(),
        " FROM threads WHERE id = ?1 AND project_id = ?2 AND (?3 IS NULL OR workspace_id = ?3)"
    ))?;
    for (thread_id, found) in page {
        let mut rows = statement.query(params![thread_id, scope.project_id, scope.workspace_id])?;
        if let Some(row) = rows.next()? {
            let thread: Thread = rows::thread(row)?;
            let snippet = match &found.message_id {
                Some(message_id) => snippet(c, message_id, needle)?,
                None => None,
            };
            let snippet = snippet.unwrap_or_else(|| thread.title.clone().unwrap_or_default());
            hits.push(SearchHit { thread, message_id: found.message_id, snippet });
        }
    }
    Ok(hits)
}

/// About [`SNIPPET_CHARS`] characters of a message's searchable text around
/// the match, cut in the database (only for the hits a page answers).
fn snippet(c: &Connection, message_id: &str, needle: &str) -> StoreResult<Option<String>> {
    let mut statement = c.prepare_cached(
        "SELECT substr(s.text, max(1, instr(lower(s.text), lower(?2)) - ?3), ?4) \
         FROM messages m JOIN message_search s ON s.rowid = m.search_rowid WHERE m.id = ?1",
    )?;
    let cut = statement
        .query_row(params![message_id, needle, SNIPPET_LEAD_CHARS as i64, SNIPPET_CHARS as i64], |row| row.get(0))
        .optional()?;
    Ok(cut)
}

/// Matching threads by id.
type Candidates = HashMap<String, Found>;

/// The scope's messages matching a phrase (?1), newest written first, each
/// with its thread and the thread's listing time. A match reaches its message's
/// thread and id through one covering index (`messages_by_search_rowid`),
/// without reading the message row. CROSS JOIN keeps the index matches the
/// outer loop: SQLite's planner otherwise walks every message and probes the
/// search index with each.
const MESSAGE_MATCHES: &str = "SELECT m.thread_id, t.last_message_at, m.id \
    FROM message_search s CROSS JOIN messages m ON m.search_rowid = s.rowid \
    CROSS JOIN threads t ON t.id = m.thread_id \
    WHERE message_search MATCH ?1 AND t.project_id = ?2 AND (?3 IS NULL OR t.workspace_id = ?3) \
    ORDER BY s.rowid DESC LIMIT ?4 + 0";

fn candidates(c: &Connection, scope: &ReadScope, needle: &str) -> StoreResult<Candidates> {
    let mut found = Candidates::new();
    if needle.chars().count() < INDEXED_QUERY_MIN_CHARS {
        // Too short for a trigram: titles only, by a bounded scan of the workspace's threads.
        let mut statement = c.prepare_cached(
            "SELECT id, last_message_at FROM threads WHERE project_id = ?1 AND (?2 IS NULL OR workspace_id = ?2) \
             AND instr(lower(title), lower(?3)) > 0 \
             LIMIT ?4 + 0",
        )?;
        let rows = statement.query(params![scope.project_id, scope.workspace_id, needle, MESSAGES_EXAMINED_MAX])?;
        collect_within_budget(rows, |row| {
            found.entry(row.get(0)?).or_insert(Found { last_message_at: row.get(1)?, message_id: None });
            Ok(())
        })?;
        return Ok(found);
    }
    let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
    let mut statement = c.prepare_cached(MESSAGE_MATCHES)?;
    let rows = statement.query(params![phrase, scope.project_id, scope.workspace_id, MESSAGES_EXAMINED_MAX])?;
    collect_within_budget(rows, |row| {
        // Rows come newest first: the first match of a thread is its newest.
        found.entry(row.get(0)?).or_insert(Found { last_message_at: row.get(1)?, message_id: Some(row.get(2)?) });
        Ok(())
    })?;
    let mut statement = c.prepare_cached(
        "SELECT t.id, t.last_message_at FROM thread_search s JOIN threads t ON t.id = s.thread_id \
         WHERE thread_search MATCH ?1 AND t.project_id = ?2 AND (?3 IS NULL OR t.workspace_id = ?3) \
         ORDER BY s.rowid DESC LIMIT ?4 + 0",
    )?;
    let rows = statement.query(params![phrase, scope.project_id, scope.workspace_id, MESSAGES_EXAMINED_MAX])?;
    collect_within_budget(rows, |row| {
        found.entry(row.get(0)?).or_insert(Found { last_message_at: row.get(1)?, message_id: None });
        Ok(())
    })?;
    Ok(found)
}

/// Feeds rows to `take` until they end or the time budget interrupts the statement.
fn collect_within_budget(
    mut rows: rusqlite::Rows<'_>,
    mut take: impl FnMut(&Row) -> rusqlite::Result<()>,
) -> StoreResult<()> {
    loop {
        match rows.next() {
            Ok(Some(row)) => take(row)?,
            Ok(None) => return Ok(()),
            Err(error) if error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
                tracing::info!("a search reached its time budget; answering with the matches found so far");
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_matches_are_the_outer_loop() {
        let mut c = Connection::open_in_memory().expect("open");
        crate::migrate::run_sqlite(&mut c).expect("migrate");
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {MESSAGE_MATCHES}"))
            .expect("prepare")
            .query_map(params!["\"needle\"", "default", "w", 10], |row| row.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(plan.first().is_some_and(|step| step.starts_with("SCAN s VIRTUAL TABLE")), "{plan:?}");
    }
}
