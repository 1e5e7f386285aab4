//! Which project a request addresses, and a short-lived cache of project
//! settings (CORS origins, the anonymous switch) so hot paths skip the database.
//!
//! The default project answers at the server root; any project also answers
//! under `/projects/<id>/…`, which the router strips before routing, leaving
//! a [`PathProject`] behind.

use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, Uri};
use axum::middleware::Next;
use axum::response::Response;
use threadhold_domain::ids::validate_project_id;
use threadhold_domain::limits::{MISSING_PROJECT_CACHE_ENTRIES, PROJECT_CACHE_ENTRIES};
use threadhold_domain::model::{DEFAULT_PROJECT_ID, Project};

use crate::cache::BoundedCache;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The project named by a `/projects/<id>/…` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProject(pub String);

/// The project a request addresses: its path prefix, or the default project.
pub fn addressed(extensions: &Extensions) -> &str {
    extensions.get::<PathProject>().map_or(DEFAULT_PROJECT_ID, |p| p.0.as_str())
}

/// Extracts the project a request addresses: its path prefix, or the default project.
pub struct AddressedProject(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AddressedProject {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(AddressedProject(addressed(&parts.extensions).to_owned()))
    }
}

/// Runs before routing: `/projects/<id>/<rest>` becomes `/<rest>` plus a [`PathProject`].
pub async fn strip_project_prefix(mut request: Request, next: Next) -> Response {
    if let Some((project, rest)) = split_project_prefix(request.uri().path())
        && let Some(uri) = with_path(request.uri(), rest)
    {
        let project = PathProject(project.to_owned());
        *request.uri_mut() = uri;
        request.extensions_mut().insert(project);
    }
    next.run(request).await
}

fn split_project_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/projects/")?;
    let (project, rest) = rest.split_once('/')?;
    validate_project_id(project).ok()?;
    Some((project, &path[path.len() - rest.len() - 1..]))
}

fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Projects by id, each kept for the configured number of seconds; projects
/// found and ids that do not exist are kept apart, each in a bounded cache, so
/// a flood of made-up ids neither grows memory nor evicts real projects.
pub struct ProjectCache {
    found: BoundedCache<String, Arc<Project>>,
    missing: BoundedCache<String, ()>,
}

impl ProjectCache {
    pub fn new(ttl: Duration) -> Self {
        ProjectCache {
            found: BoundedCache::new(PROJECT_CACHE_ENTRIES, ttl),
            missing: BoundedCache::new(MISSING_PROJECT_CACHE_ENTRIES, ttl),
        }
    }

    pub async fn get(&self, state: &AppState, id: &str) -> ApiResult<Option<Arc<Project>>> {
        if let Some(project) = self.found.get(id) {
            return Ok(Some(project));
        }
        if self.missing.get(id).is_some() {
            return Ok(None);
        }
        let project = state.store.get_project(id).await?.map(Arc::new);
        match &project {
            Some(project) => {
                self.missing.remove(id);
                self.found.insert(id.to_owned(), Arc::clone(project));
            }
            None => self.missing.insert(id.to_owned(), ()),
        }
        Ok(project)
    }

    /// Like [`ProjectCache::get`], answering 404 for an unknown project.
    pub async fn require(&self, state: &AppState, id: &str) -> ApiResult<Arc<Project>> {
        self.get(state, id)
            .await?
            .ok_or_else(|| ApiError::NotFound { code: "project_not_found", message: "Project not found".into() })
    }

    /// Drops what this node holds of a project (its settings just changed here;
    /// other nodes follow when their entry expires).
    pub fn forget(&self, id: &str) {
        self.found.remove(id);
        self.missing.remove(id);
    }

    /// Entries held: (projects found, ids that do not exist).
    pub fn entries(&self) -> (usize, usize) {
        (self.found.len(), self.missing.len())
    }
}

#[cfg(test)]
mod tests {
    use super::split_project_prefix;

    #[test]
    fn prefixes() {
        assert_eq!(split_project_prefix("/projects/acme/v1/threads"), Some(("acme", "/v1/threads")));
        assert_eq!(
            split_project_prefix("/projects/acme/.well-known/jwks.json"),
            Some(("acme", "/.well-known/jwks.json"))
        );
        assert_eq!(split_project_prefix("/projects/acme/"), Some(("acme", "/")));
        assert_eq!(split_project_prefix("/projects/acme"), None);
        assert_eq!(split_project_prefix("/projects/Bad_Id/v1/threads"), None);
        assert_eq!(split_project_prefix("/v1/projects/threads"), None);
    }
}
