//! Project-wide lists of the read API and the MCP tools: scores, and threads by creation.

use threadhold_domain::model::{Position, ScoreRecord, Thread};
use threadhold_domain::telemetry::cursor;
use threadhold_domain::telemetry::query::{ScoreListInput, ScorePaging, ThreadListInput, score_query, thread_query};
use threadhold_store::Store;

use super::ServiceResult;

/// A page of scores; `next_cursor` only for cursor paging (the REST route pages by score id).
pub struct ScorePage {
    pub scores: Vec<ScoreRecord>,
    pub next_cursor: Option<String>,
}

pub async fn scores(
    store: &dyn Store,
    project_id: &str,
    input: &ScoreListInput,
    paging: ScorePaging,
) -> ServiceResult<ScorePage> {
    let mut query = score_query(project_id, input, paging)?;
    let limit = query.limit as usize;
    query.limit += 1;
    let mut scores = store.list_scores(&query).await?;
    let more = scores.len() > limit;
    scores.truncate(limit);
    let next_cursor = match (paging, more, scores.last()) {
        (ScorePaging::Cursor, true, Some(last)) => {
            Some(cursor::encode(&Position { created_at: last.created_at, id: last.id.clone() }))
        }
        _ => None,
    };
    Ok(ScorePage { scores, next_cursor })
}

pub struct ThreadPage {
    pub threads: Vec<Thread>,
    pub next_cursor: Option<String>,
}

/// The project's threads by creation, newest first (archived ones included).
pub async fn threads(store: &dyn Store, project_id: &str, input: &ThreadListInput) -> ServiceResult<ThreadPage> {
    let mut query = thread_query(project_id, input)?;
    let limit = query.limit as usize;
    query.limit += 1;
    let mut threads = store.list_threads_by_creation(&query).await?;
    let more = threads.len() > limit;
    threads.truncate(limit);
    let next_cursor = threads
        .last()
        .filter(|_| more)
        .map(|last| cursor::encode(&Position { created_at: last.created_at, id: last.id.clone() }));
    Ok(ThreadPage { threads, next_cursor })
}
