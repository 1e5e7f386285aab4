//! Thread search: the checks of a search request, shared by
//! `GET /v1/threads/search` and the MCP `search_threads` tool.

use threadhold_domain::limits::{THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX};
use threadhold_domain::model::{SearchHit, WorkspaceScope};
use threadhold_domain::search::QUERY_MAX_CHARS;
use threadhold_domain::telemetry::query::limit;
use threadhold_store::{ReadScope, Store};

use super::{ServiceError, ServiceResult};

/// The scope's threads whose title or message text contains `query` (trimmed,
/// 1 to [`QUERY_MAX_CHARS`] characters), newest first; `after` (a thread id,
/// empty for none) continues a list.
pub async fn threads(
    store: &dyn Store,
    scope: &WorkspaceScope,
    query: Option<&str>,
    page_limit: Option<&str>,
    after: Option<&str>,
) -> ServiceResult<Vec<SearchHit>> {
    let needle = query.map(str::trim).unwrap_or_default();
    if needle.is_empty() || needle.chars().count() > QUERY_MAX_CHARS {
        return Err(ServiceError::Invalid {
            code: "invalid_query",
            message: format!("q must be 1 to {QUERY_MAX_CHARS} characters"),
        });
    }
    let limit = limit(page_limit, THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX)?;
    let after = after.filter(|after| !after.is_empty());
    Ok(store.search(&ReadScope::from(scope), needle, limit, after).await?)
}
