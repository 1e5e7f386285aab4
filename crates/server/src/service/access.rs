//! Who may reach a project from a browser: anonymous access and its rate
//! limits, allowed origins (exact, or `https://*.example.com`), and the token
//! lifetimes in force.

use serde_json::json;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, Fault, Permission, authorize};
use crate::ServerConfig;

/// Allowed origins per project at most, and the longest one (the hosted service's limits).
pub const ORIGINS_MAX: usize = 32;
pub const ORIGIN_MAX_CHARS: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("At most {ORIGINS_MAX} allowed origins")]
    TooManyOrigins,
    #[error("{origin:?} is not an origin: {reason}")]
    BadOrigin { origin: String, reason: &'static str },
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for AccessError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            AccessError::TooManyOrigins | AccessError::BadOrigin { .. } => {
                Failure::field("allowed_origins", "invalid_origin", message)
            }
            AccessError::Project(error) => return error.failure(),
            AccessError::Denied(denied) => return denied.failure(),
            AccessError::Store(error) => return Err(error),
        })
    }
}

/// What the Access page shows.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    pub anonymous_enabled: bool,
    /// The server-wide switch (`anonymous_enabled` in the configuration): when off, no project is open.
    pub anonymous_enabled_server_wide: bool,
    pub mints_per_minute: u32,
    pub refreshes_per_minute: u32,
    pub allowed_origins: Vec<String>,
    pub workspace_token_ttl_secs: u64,
    pub anonymous_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: i64,
    pub token_max_lifetime_secs: u64,
}

pub async fn settings(
    store: &dyn Store,
    config: &ServerConfig,
    project_id: &str,
) -> Result<AccessSettings, AccessError> {
    let project = projects::require(store, project_id).await?;
    Ok(AccessSettings {
        anonymous_enabled: project.anonymous_enabled,
        anonymous_enabled_server_wide: config.anonymous.enabled,
        mints_per_minute: config.anonymous.mints_per_minute,
        refreshes_per_minute: config.anonymous.refreshes_per_minute,
        allowed_origins: project.allowed_origins,
        workspace_token_ttl_secs: config.workspace_token_ttl_secs,
        anonymous_token_ttl_secs: config.anonymous.access_token_ttl_secs,
        refresh_token_ttl_secs: config.anonymous.refresh.ttl_ms / 1000,
        token_max_lifetime_secs: config.token_max_lifetime_secs,
    })
}

/// Opens or closes anonymous mode for a project (running servers follow within seconds).
pub async fn set_anonymous(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    enabled: bool,
) -> Result<(), AccessError> {
    authorize(actor, Permission::ManageAnonymousAccess)?;
    if !store.set_anonymous_enabled(project_id, enabled).await? {
        return Err(ProjectError::NotFound(project_id.to_owned()).into());
    }
    let action = if enabled { "anonymous.enable" } else { "anonymous.disable" };
    audit::record(
        store,
        actor,
        Change {
            action,
            project_id: Some(project_id),
            object_type: "project",
            object_id: project_id,
            details: json!({}),
        },
    )
    .await?;
    Ok(())
}

/// Checks an allowed origin: `scheme://host[:port]`, the host possibly `*.` and a domain.
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin.len() > ORIGIN_MAX_CHARS {
        return Err("too long");
    }
    let (scheme, rest) = origin.split_once("://").ok_or("it needs a scheme, e.g. https://")?;
    if !matches!(scheme, "http" | "https") {
        return Err("the scheme must be http or https");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if port.is_some_and(|port| port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit())) {
        return Err("the port must be a number");
    }
    let domain = host.strip_prefix("*.").unwrap_or(host);
    let label_ok = |label: &str| {
        !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.is_empty() || !domain.split('.').all(label_ok) {
        return Err(
            "the host must be a domain name or address in lowercase, without a path (a wildcard only as *.domain)",
        );
    }
    if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("browsers send origins in lowercase");
    }
    Ok(())
}

/// Replaces a project's allowed origins (none: every origin).
pub async fn set_origins(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    origins: &[String],
) -> Result<(), AccessError> {
    authorize(actor, Permission::ManageOrigins)?;
    let mut cleaned: Vec<String> = Vec::new();
    for origin in origins.iter().map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()) {
        check_origin(origin).map_err(|reason| AccessError::BadOrigin { origin: origin.to_owned(), reason })?;
        if !cleaned.iter().any(|known| known == origin) {
            cleaned.push(origin.to_owned());
        }
    }
    if cleaned.len() > ORIGINS_MAX {
        return Err(AccessError::TooManyOrigins);
    }
    if !store.set_allowed_origins(project_id, &cleaned).await? {
        return Err(ProjectError::NotFound(project_id.to_owned()).into());
    }
    let details = json!({ "allowed_origins": cleaned });
    audit::record(
        store,
        actor,
        Change {
            action: "origins.update",
            project_id: Some(project_id),
            object_type: "project",
            object_id: project_id,
            details,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins() {
        for ok in ["https://app.example.com", "http://localhost:3000", "https://*.example.com", "http://127.0.0.1:5173"]
        {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        for bad in [
            "app.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://*example.com",
            "https://a.*.example.com",
            "https://Example.com",
            "https://example.com:port",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
