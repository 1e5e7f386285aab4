//! The users registry: who the API has seen (first and last activity, their
//! workspaces, a display name from a rule's name claim, anonymous or not),
//! kept up to date off the request path, and erasure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use serde_json::json;
use threadhold_domain::dashboard::{UserQuery, UserRecord, UserSighting};
use threadhold_domain::ids::validate_principal_id;
use threadhold_domain::limits::{USER_REGISTRY_NODE_ENTRIES, USER_REGISTRY_WRITE_INTERVAL};
use threadhold_store::{Erasure, Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, FailureClass, Fault, Page, Permission, authorize};
use crate::files::BlobStore;

/// Users per page at most.
pub const USER_PAGE_MAX: u32 = 100;
/// Threads counted per workspace at most (the count reads at most this many index entries).
pub const THREAD_COUNT_CAP: u32 = 1_000;
/// Workspaces of a user whose threads are counted in listings.
const COUNTED_WORKSPACES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user id {0}")]
    BadId(String),
    #[error("There is no user {0} in this project")]
    NotFound(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for UserError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            UserError::BadId(_) => Failure::field("user_id", "invalid_user_id", message),
            UserError::NotFound(_) => Failure::new(FailureClass::NotFound, "user_not_found", message),
            UserError::Project(error) => return error.failure(),
            UserError::Denied(denied) => return denied.failure(),
            UserError::Store(error) => return Err(error),
        })
    }
}

/// Throttles registry writes: at most one per user and workspace every
/// [`USER_REGISTRY_WRITE_INTERVAL`] on this node, remembered in a bounded map.
pub struct UserRegistry {
    written: Mutex<LruCache<(String, String, String), Instant>>,
    interval: Duration,
}

impl Default for UserRegistry {
    fn default() -> Self {
        UserRegistry::new(USER_REGISTRY_WRITE_INTERVAL)
    }
}

impl UserRegistry {
    pub fn new(interval: Duration) -> Self {
        UserRegistry { written: Mutex::new(LruCache::new(USER_REGISTRY_NODE_ENTRIES)), interval }
    }

    /// True when the sighting should be written now (and counts it as written).
    pub fn due(&self, sighting: &UserSighting) -> bool {
        let key = (sighting.project_id.clone(), sighting.user_id.clone(), sighting.workspace_id.clone());
        let mut written = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if written.get(&key).is_some_and(|at| at.elapsed() < self.interval) {
            return false;
        }
        written.insert(key, Instant::now());
        true
    }

    /// Records a request's user in the background when due; never delays the request.
    pub fn note(&self, store: &Arc<dyn Store>, sighting: UserSighting) {
        if !self.due(&sighting) {
            return;
        }
        let store = Arc::clone(store);
        tokio::spawn(async move {
            if let Err(error) = store.record_user_activity(&sighting).await {
                tracing::warn!(%error, "could not update the users registry");
            }
        });
    }
}

/// A user with their thread count.
#[derive(Debug, Clone)]
pub struct UserView {
    pub record: UserRecord,
    /// Threads in their most recent workspaces, each counted up to [`THREAD_COUNT_CAP`].
    pub threads: u64,
    /// True when a count reached the cap.
    pub threads_capped: bool,
}

async fn view(store: &dyn Store, record: UserRecord) -> Result<UserView, StoreError> {
    let mut threads = 0;
    let mut capped = false;
    for workspace in record.workspaces.iter().take(COUNTED_WORKSPACES) {
        let count = store.count_workspace_threads(&record.project_id, workspace, THREAD_COUNT_CAP).await?;
        capped |= count >= u64::from(THREAD_COUNT_CAP);
        threads += count;
    }
    Ok(UserView { record, threads, threads_capped: capped })
}

/// A page of the users seen, most recently active first.
pub async fn list(store: &dyn Store, actor: &Actor, query: UserQuery) -> Result<Page<UserView>, UserError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, &query.project_id).await?;
    let limit = query.limit.clamp(1, USER_PAGE_MAX);
    let search = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let rows = store.list_users(&UserQuery { limit: limit + 1, search, ..query }).await?;
    let page = Page::from_probe(rows, limit, |user| user.user_id.clone());
    let mut items = Vec::with_capacity(page.items.len());
    for record in page.items {
        items.push(view(store, record).await?);
    }
    Ok(Page { items, next: page.next })
}

pub async fn get(store: &dyn Store, actor: &Actor, project_id: &str, user_id: &str) -> Result<UserView, UserError> {
    authorize(actor, Permission::Read)?;
    let record = store.get_user(project_id, user_id).await?.ok_or_else(|| UserError::NotFound(user_id.to_owned()))?;
    Ok(view(store, record).await?)
}

/// What erasing a user deletes, to show before it is done.
#[derive(Debug, Clone)]
pub struct ErasurePreview {
    pub user_id: String,
    /// Threads of the workspace of the same id, counted up to [`THREAD_COUNT_CAP`].
    pub threads: u64,
    /// Their other workspaces, which are kept (shared ones belong to others too).
    pub other_workspaces: Vec<String>,
}

impl ErasurePreview {
    /// The confirmation in words.
    pub fn describe(&self) -> String {
        let threads = if self.threads >= u64::from(THREAD_COUNT_CAP) {
            format!("more than {THREAD_COUNT_CAP} threads")
        } else {
            format!("{} thread{}", self.threads, if self.threads == 1 { "" } else { "s" })
        };
        let mut text = format!(
            "Erasing {} deletes the workspace {} with its {threads}, their messages and files; the user's feedback, \
             scores, run reports and events; their anonymous session; and their entry in this list. It cannot be undone.",
            self.user_id, self.user_id
        );
        if !self.other_workspaces.is_empty() {
            text.push_str(&format!(" Threads in {} are kept.", self.other_workspaces.join(", ")));
        }
        text
    }
}

pub async fn erasure_preview(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    user_id: &str,
) -> Result<ErasurePreview, UserError> {
    authorize(actor, Permission::EraseUsers)?;
    validate_principal_id(user_id).map_err(|error| UserError::BadId(error.to_string()))?;
    projects::require(store, project_id).await?;
    let threads = store.count_workspace_threads(project_id, user_id, THREAD_COUNT_CAP).await?;
    let other_workspaces = match store.get_user(project_id, user_id).await? {
        Some(record) => record.workspaces.into_iter().filter(|w| w != user_id).collect(),
        None => Vec::new(),
    };
    Ok(ErasurePreview { user_id: user_id.to_owned(), threads, other_workspaces })
}

/// Deletes the files of deleted threads; the records are gone already, so a
/// failure only leaves unreachable bytes behind (and is logged).
pub async fn delete_files(blobs: &dyn BlobStore, keys: &[String]) {
    for key in keys {
        if let Err(error) = blobs.delete(key).await {
            tracing::warn!(%error, "could not delete an attachment");
        }
    }
}

/// Erases a user: the workspace of the same id (threads, messages, files),
/// their feedback, scores, telemetry, anonymous session and registry entry.
pub async fn erase(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    actor: &Actor,
    project_id: &str,
    user_id: &str,
) -> Result<Erasure, UserError> {
    authorize(actor, Permission::EraseUsers)?;
    validate_principal_id(user_id).map_err(|error| UserError::BadId(error.to_string()))?;
    projects::require(store, project_id).await?;
    let erasure = store.erase_user(project_id, user_id).await?;
    delete_files(blobs, &erasure.attachment_keys).await;
    let details = json!({ "threads": erasure.threads, "files": erasure.attachment_keys.len() });
    audit::record(
        store,
        actor,
        Change { action: "user.erase", project_id: Some(project_id), object_type: "user", object_id: user_id, details },
    )
    .await?;
    Ok(erasure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(user: &str, workspace: &str) -> UserSighting {
        UserSighting {
            project_id: "p".into(),
            user_id: user.into(),
            workspace_id: workspace.into(),
            display_name: None,
            anonymous: false,
            at: 0,
        }
    }

    #[test]
    fn writes_are_throttled_per_user_and_workspace() {
        let registry = UserRegistry::new(Duration::from_secs(60));
        assert!(registry.due(&sighting("u", "w")));
        assert!(!registry.due(&sighting("u", "w")), "the second request within the interval writes nothing");
        assert!(registry.due(&sighting("u", "org")), "a new workspace is written");
        assert!(registry.due(&sighting("v", "w")));
        let eager = UserRegistry::new(Duration::ZERO);
        assert!(eager.due(&sighting("u", "w")) && eager.due(&sighting("u", "w")));
    }

    #[test]
    fn the_confirmation_names_what_goes_and_what_stays() {
        let preview = ErasurePreview { user_id: "u1".into(), threads: 1, other_workspaces: vec!["org-1".into()] };
        let text = preview.describe();
        assert!(text.contains("1 thread,") && text.contains("org-1 are kept"), "{text}");
    }
}
