//! Administrative operations shared by the CLI and the tests: projects and
//! API keys, working directly on the store (so they work while a server runs).

use threadhold_domain::ids::validate_project_id;
use threadhold_domain::model::{ApiKey, DEFAULT_PROJECT_ID, Project};
use threadhold_domain::now_ms;
use threadhold_store::Store;

use crate::auth::api_keys::{self, IssuedKey};
use crate::auth::tokens::create_signing_key;
use crate::error::ApiError;

const DAY_MS: i64 = 86_400_000;

/// Makes sure the default project and its signing key exist (run on every start).
pub async fn bootstrap(store: &dyn Store) -> Result<Project, ApiError> {
    let project = store
        .ensure_project(DEFAULT_PROJECT_ID, "Default project", now_ms())
        .await?;
    if store.signing_keys(DEFAULT_PROJECT_ID).await?.is_empty() {
        create_signing_key(store, DEFAULT_PROJECT_ID).await?;
    }
    Ok(project)
}

pub async fn create_project(
    store: &dyn Store,
    id: &str,
    name: &str,
    allowed_origins: Vec<String>,
) -> Result<Project, ApiError> {
    validate_project_id(id)
        .map_err(|error| ApiError::invalid(format!("project id {error}; use 1-64 of a-z, 0-9 and -")))?;
    let project = Project {
        id: id.to_owned(),
        name: name.to_owned(),
        allowed_origins,
        created_at: now_ms(),
    };
    store.create_project(&project).await?;
    create_signing_key(store, id).await?;
    Ok(project)
}

/// Replaces a project's allowed CORS origins (empty allows every origin).
pub async fn set_allowed_origins(store: &dyn Store, project_id: &str, origins: &[String]) -> Result<(), ApiError> {
    if store.set_allowed_origins(project_id, origins).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            code: "project_not_found",
            message: format!("No project {project_id}"),
        })
    }
}

/// Creates an API key for an existing project; the secret is returned once.
pub async fn create_api_key(
    store: &dyn Store,
    project_id: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<IssuedKey, ApiError> {
    if store.get_project(project_id).await?.is_none() {
        return Err(ApiError::NotFound {
            code: "project_not_found",
            message: format!("No project {project_id}"),
        });
    }
    let now = now_ms();
    let expires_at = expires_in_days.map(|days| now + i64::from(days) * DAY_MS);
    let issued = api_keys::generate(project_id, name, now, expires_at);
    store.insert_api_key(&issued.record).await?;
    Ok(issued)
}

pub async fn list_api_keys(store: &dyn Store, project_id: Option<&str>) -> Result<Vec<ApiKey>, ApiError> {
    Ok(store.list_api_keys(project_id).await?)
}

/// Revokes a key by id; a key already revoked or unknown is an error.
pub async fn revoke_api_key(store: &dyn Store, id: &str) -> Result<(), ApiError> {
    if store.revoke_api_key(id, now_ms()).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            code: "api_key_not_found",
            message: format!("No active API key {id}"),
        })
    }
}
