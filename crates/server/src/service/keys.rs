//! Backend API keys: created with a name and an expiry (the secret is shown
//! once), listed without their secrets, revoked at once.

use serde_json::json;
use threadhold_domain::dashboard::DAY_MS;
use threadhold_domain::ids::validate_text_id;
use threadhold_domain::limits::TEXT_ID_MAX;
use threadhold_domain::model::ApiKey;
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, FailureClass, Fault, Permission, authorize};
use crate::auth::api_keys::{self, IssuedKey};

/// The expiries the dashboard offers, in days (`None`: never), as the hosted service does.
pub const EXPIRY_CHOICES: [Option<u32>; 5] = [None, Some(7), Some(30), Some(90), Some(365)];
/// The longest expiry any caller may ask for.
pub const EXPIRY_DAYS_MAX: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("The name must be at most {TEXT_ID_MAX} characters without control characters")]
    BadName,
    #[error("The expiry must be 1 to {EXPIRY_DAYS_MAX} days, or never")]
    BadExpiry,
    #[error("There is no active API key {0}")]
    NotFound(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for KeyError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            KeyError::BadName => Failure::field("name", "invalid_name", message),
            KeyError::BadExpiry => Failure::field("expires_in_days", "invalid_expiry", message),
            KeyError::NotFound(_) => Failure::new(FailureClass::NotFound, "api_key_not_found", message),
            KeyError::Project(error) => return error.failure(),
            KeyError::Denied(denied) => return denied.failure(),
            KeyError::Store(error) => return Err(error),
        })
    }
}

/// Whether a key is usable, revoked or past its expiry.
pub fn status(key: &ApiKey, now: i64) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.is_usable_at(now) {
        "active"
    } else {
        "expired"
    }
}

/// Creates a key; the secret is in the result, and nowhere else, once.
pub async fn create(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<IssuedKey, KeyError> {
    authorize(actor, Permission::ManageKeys)?;
    let name = name.trim();
    if !name.is_empty() {
        validate_text_id(name, TEXT_ID_MAX).map_err(|_| KeyError::BadName)?;
    }
    if expires_in_days.is_some_and(|days| !(1..=EXPIRY_DAYS_MAX).contains(&days)) {
        return Err(KeyError::BadExpiry);
    }
    projects::require(store, project_id).await?;
    let now = now_ms();
    let expires_at = expires_in_days.map(|days| now + i64::from(days) * DAY_MS);
    let issued = api_keys::generate(project_id, name, now, expires_at);
    store.insert_api_key(&issued.record).await?;
    let details = json!({ "name": name, "expires_in_days": expires_in_days });
    let record = &issued.record;
    audit::record(
        store,
        actor,
        Change {
            action: "api_key.create",
            project_id: Some(project_id),
            object_type: "api_key",
            object_id: &record.id,
            details,
        },
    )
    .await?;
    Ok(issued)
}

/// Keys of one project (or of all), oldest first.
pub async fn list(store: &dyn Store, project_id: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
    store.list_api_keys(project_id).await
}

/// Revokes a key of the project at once (`project_id: None` from the CLI: any project).
pub async fn revoke(store: &dyn Store, actor: &Actor, project_id: Option<&str>, id: &str) -> Result<(), KeyError> {
    authorize(actor, Permission::ManageKeys)?;
    let key = store.list_api_keys(project_id).await?.into_iter().find(|key| key.id == id && key.revoked_at.is_none());
    let Some(key) = key else { return Err(KeyError::NotFound(id.to_owned())) };
    if !store.revoke_api_key(id, now_ms()).await? {
        return Err(KeyError::NotFound(id.to_owned()));
    }
    let details = json!({ "name": key.name });
    audit::record(
        store,
        actor,
        Change {
            action: "api_key.revoke",
            project_id: Some(&key.project_id),
            object_type: "api_key",
            object_id: id,
            details,
        },
    )
    .await?;
    Ok(())
}
