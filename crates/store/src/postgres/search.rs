//! Search over titles and message text through the trigram indexes (pg_trgm)
//! of `thread_search` (a trigger keeps each title's copy) and `message_search`.
//!
//! A search reads only what it returns: index matches (newest first, at most
//! [`MESSAGES_EXAMINED_MAX`] messages) and a snippet cut in the database, never
//! whole documents; a statement timeout bounds it on a huge match set.

use std::collections::HashMap;

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::model::{SearchHit, Thread};
use threadhold_domain::search::{
    Found, INDEXED_QUERY_MIN_CHARS, MESSAGES_EXAMINED_MAX, SNIPPET_CHARS, SNIPPET_LEAD_CHARS, page_of_found,
};

use super::rows::{self, thread_columns};
use crate::shared::like_pattern;
use crate::{ReadScope, StoreResult};

/// The scope's threads whose title or message text contains `needle`, newest
/// thread first, each with its newest matching message. Runs in a transaction
/// whose statement timeout bounds it.
pub(super) async fn search(
    c: &mut PgConnection,
    scope: &ReadScope,
    needle: &str,
    limit: u32,
    after: Option<&str>,
) -> StoreResult<Vec<SearchHit>> {
    sqlx::query("SET LOCAL statement_timeout = '2s'").execute(&mut *c).await?;
    let pattern = like_pattern(needle);
    let examined = i64::from(MESSAGES_EXAMINED_MAX);
    let mut found: HashMap<String, Found> = HashMap::new();
    if needle.chars().count() >= INDEXED_QUERY_MIN_CHARS {
        // A statement timeout on a huge match set leaves the message matches out, not the search.
        sqlx::query("SAVEPOINT message_matches").execute(&mut *c).await?;
        // An entry carries its message's thread and creation time; entries
        // written before it did (migration 13) read both from the message, in
        // one lookup that the others skip (OFFSET 0 keeps the lateral subquery
        // whole, so `s.thread_id IS NULL` gates the lookup instead of filtering
        // after it).
        let matches: Result<Vec<(String, Millis, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT f.thread_id, t.last_message_at, f.message_id FROM ( \
               SELECT s.message_id, COALESCE(s.thread_id, m.thread_id) AS thread_id, \
                 COALESCE(s.created_at, m.created_at) AS created_at \
               FROM message_search s LEFT JOIN LATERAL ( \
                 SELECT thread_id, created_at FROM messages WHERE s.thread_id IS NULL AND id = s.message_id OFFSET 0) m ON TRUE \
               WHERE s.text ILIKE $1) f \
             JOIN threads t ON t.id = f.thread_id \
             WHERE t.project_id = $2 AND ($3::text IS NULL OR t.workspace_id = $3) \
             ORDER BY f.created_at DESC, f.message_id DESC LIMIT $4",
        )
        .bind(&pattern)
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(examined)
        .fetch_all(&mut *c)
        .await;
        let matches = match matches {
            Ok(matches) => matches,
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("57014") => {
                tracing::info!("a search reached its time budget; answering with title matches");
                sqlx::query("ROLLBACK TO SAVEPOINT message_matches").execute(&mut *c).await?;
                Vec::new()
            }
            Err(error) => return Err(error.into()),
        };
        for (thread_id, last_message_at, message_id) in matches {
            // Rows come newest first: the first match of a thread is its newest.
            found.entry(thread_id).or_insert(Found { last_message_at, message_id: Some(message_id) });
        }
    }
    let titles: Vec<(String, Millis)> = sqlx::query_as(
        "SELECT t.id, t.last_message_at FROM thread_search s JOIN threads t ON t.id = s.thread_id \
         WHERE s.text ILIKE $3 AND t.project_id = $1 AND ($2::text IS NULL OR t.workspace_id = $2) \
         ORDER BY t.last_message_at DESC, t.id DESC LIMIT $4",
    )
    .bind(&scope.project_id)
    .bind(&scope.workspace_id)
    .bind(&pattern)
    .bind(examined)
    .fetch_all(&mut *c)
    .await?;
    for (thread_id, last_message_at) in titles {
        found.entry(thread_id).or_insert(Found { last_message_at, message_id: None });
    }

    let cursor = match after {
        Some(after) => match super::threads::get(c, scope, after).await? {
            Some(thread) => Some((thread.last_message_at, thread.id)),
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let page = page_of_found(found, cursor.as_ref().map(|(at, id)| (*at, id.as_str())), limit);
    let ids: Vec<&String> = page.iter().map(|(id, _)| id).collect();
    let threads = sqlx::query(concat!(
        "SELECT ",
        thread_columns!(),
        " FROM threads WHERE id = ANY($1) AND project_id = $2 AND ($3::text IS NULL OR workspace_id = $3)"
    ))
    .bind(ids)
    .bind(&scope.project_id)
    .bind(&scope.workspace_id)
    .fetch_all(&mut *c)
    .await?;
    let mut threads: HashMap<String, Thread> = threads
        .iter()
        .map(rows::thread)
        .map(|thread| thread.map(|thread| (thread.id.clone(), thread)))
        .collect::<Result<_, _>>()?;
    let message_ids: Vec<&String> = page.iter().filter_map(|(_, found)| found.message_id.as_ref()).collect();
    // Snippets are cut for the page's hits only.
    let mut snippets: HashMap<String, String> = if message_ids.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as(
            "SELECT message_id, substr(text, greatest(1, strpos(lower(text), lower($2)) - $3), $4) \
             FROM message_search WHERE message_id = ANY($1)",
        )
        .bind(message_ids)
        .bind(needle)
        .bind(SNIPPET_LEAD_CHARS as i32)
        .bind(SNIPPET_CHARS as i32)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .collect()
    };
    let mut hits = Vec::with_capacity(page.len());
    for (thread_id, found) in page {
        if let Some(thread) = threads.remove(&thread_id) {
            let snippet = found.message_id.as_ref().and_then(|id| snippets.remove(id));
            let snippet = snippet.unwrap_or_else(|| thread.title.clone().unwrap_or_default());
            hits.push(SearchHit { thread, message_id: found.message_id, snippet });
        }
    }
    Ok(hits)
}
