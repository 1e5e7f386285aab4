//! Projects: the default one made on every start, new ones with their own
//! signing key, renames, and the checks every per-project operation starts with.

use serde_json::json;
use threadhold_domain::ids::validate_project_id;
use threadhold_domain::limits::TEXT_ID_MAX;
use threadhold_domain::model::{DEFAULT_PROJECT_ID, Project};
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::{Actor, Denied, Failure, FailureClass, Fault, Permission, authorize, project_not_found};
use crate::auth::tokens::create_signing_key;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("There is no project {0}")]
    NotFound(String),
    #[error("project id {0}; use 1-64 of a-z, 0-9 and -")]
    BadId(String),
    #[error("The name must be 1 to {TEXT_ID_MAX} characters without control characters")]
    BadName,
    #[error("A project {0} exists already")]
    Exists(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for ProjectError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            ProjectError::NotFound(id) => project_not_found(&id),
            ProjectError::BadId(_) => Failure::field("id", "invalid_project_id", message),
            ProjectError::BadName => Failure::field("name", "invalid_name", message),
            ProjectError::Exists(_) => Failure::new(FailureClass::Conflict, "project_exists", message),
            ProjectError::Denied(denied) => return denied.failure(),
            ProjectError::Store(error) => return Err(error),
        })
    }
}

/// Makes sure the default project and its signing key exist (run on every start).
pub async fn bootstrap(store: &dyn Store) -> Result<Project, StoreError> {
    let project = store.ensure_project(DEFAULT_PROJECT_ID, "Default project", now_ms()).await?;
    if store.signing_keys(DEFAULT_PROJECT_ID).await?.is_empty() {
        create_signing_key(store, DEFAULT_PROJECT_ID).await?;
    }
    Ok(project)
}

/// The project, or [`ProjectError::NotFound`].
pub async fn require(store: &dyn Store, project_id: &str) -> Result<Project, ProjectError> {
    store.get_project(project_id).await?.ok_or_else(|| ProjectError::NotFound(project_id.to_owned()))
}

pub async fn list(store: &dyn Store) -> Result<Vec<Project>, StoreError> {
    store.list_projects().await
}

fn check_name(name: &str) -> Result<String, ProjectError> {
    let name = name.trim();
    threadhold_domain::ids::validate_text_id(name, TEXT_ID_MAX).map_err(|_| ProjectError::BadName)?;
    Ok(name.to_owned())
}

/// A new project with its own signing key; anonymous access on, every origin allowed.
pub async fn create(store: &dyn Store, actor: &Actor, id: &str, name: &str) -> Result<Project, ProjectError> {
    authorize(actor, Permission::ManageProjects)?;
    validate_project_id(id).map_err(|error| ProjectError::BadId(error.to_string()))?;
    let name = check_name(if name.trim().is_empty() { id } else { name })?;
    let project =
        Project { id: id.to_owned(), name, allowed_origins: Vec::new(), anonymous_enabled: true, created_at: now_ms() };
    match store.create_project(&project).await {
        Err(StoreError::AlreadyExists(_)) => return Err(ProjectError::Exists(id.to_owned())),
        other => other?,
    }
    create_signing_key(store, id).await?;
    let details = json!({ "name": project.name });
    audit::record(
        store,
        actor,
        Change { action: "project.create", project_id: Some(id), object_type: "project", object_id: id, details },
    )
    .await?;
    Ok(project)
}

pub async fn rename(store: &dyn Store, actor: &Actor, id: &str, name: &str) -> Result<(), ProjectError> {
    authorize(actor, Permission::ManageProjects)?;
    let name = check_name(name)?;
    if !store.rename_project(id, &name).await? {
        return Err(ProjectError::NotFound(id.to_owned()));
    }
    let details = json!({ "name": name });
    audit::record(
        store,
        actor,
        Change { action: "project.rename", project_id: Some(id), object_type: "project", object_id: id, details },
    )
    .await?;
    Ok(())
}
