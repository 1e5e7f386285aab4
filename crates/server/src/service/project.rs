//! Project-wide lists of the read API and the MCP tools: scores, and threads by creation.

use threadhold_domain::model::{Position, ScoreRecord, Thread};
use threadhold_domain::telemetry::query::{ScoreListInput, ScorePaging, ThreadListInput, score_query, thread_query};
use threadhold_store::Store;

use super::{ServiceResult, keyset_page};

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
    let rows = store.list_scores(&query).await?;
    let (scores, next_cursor) =
        keyset_page(rows, limit, |score| Position { created_at: score.created_at, id: score.id.clone() });
    let next_cursor = next_cursor.filter(|_| paging == ScorePaging::Cursor);
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
    let rows = store.list_threads_by_creation(&query).await?;
    let (threads, next_cursor) =
        keyset_page(rows, limit, |thread| Position { created_at: thread.created_at, id: thread.id.clone() });
    Ok(ThreadPage { threads, next_cursor })
}
