//! Dashboard accounts and their sessions: Argon2id passwords, roles, login
//! with a per-account and per-address guard, sessions stored by the hash of
//! their cookie (so every node knows them) with idle and absolute expiry.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hashlink::LruCache;
use serde_json::json;
use threadhold_domain::dashboard::{AdminAccount, AdminRole, AdminSession};
use threadhold_domain::ids::{IdKind, new_id, random_secret};
use threadhold_domain::limits::{
    ADMIN_PASSWORD_MAX_CHARS, ADMIN_PASSWORD_MIN_CHARS, LOGIN_FAILURE_WINDOW, LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_ADDRESS, LOGIN_GUARD_ENTRIES,
};
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::{Actor, Denied, Failure, FailureClass, Fault, Permission, authorize};
use crate::auth::api_keys;

/// Characters of a session cookie (about 256 bits) and of a CSRF token.
const SESSION_TOKEN_CHARS: usize = 43;
const CSRF_TOKEN_CHARS: usize = 32;
/// A session's last activity is written at most this often.
const SESSION_TOUCH_MS: i64 = 60_000;
/// Verified when an email has no account, so both answers take as long (made once per process).
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> &'static str {
    DUMMY_HASH
        .get_or_init(|| async { hash_password(&random_secret(SESSION_TOKEN_CHARS)).await.unwrap_or_default() })
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("The password must be {ADMIN_PASSWORD_MIN_CHARS} to {ADMIN_PASSWORD_MAX_CHARS} characters")]
    BadPassword,
    #[error("The role must be owner, admin or member")]
    BadRole,
    #[error("An account for {0} exists already")]
    Exists(String),
    #[error("There is no account {0}")]
    NotFound(String),
    #[error("The last owner cannot be removed or demoted; add another owner first")]
    LastOwner,
    #[error("Wrong email or password")]
    BadCredentials,
    #[error("Too many failed logins; try again in {0} s")]
    TooManyAttempts(u64),
    #[error("Sign in first")]
    NoSession,
    #[error("Your session has ended; sign in again")]
    SessionExpired,
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for AdminError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            AdminError::BadEmail(_) => Failure::field("email", "invalid_email", message),
            AdminError::BadPassword => Failure::field("password", "invalid_password", message),
            AdminError::BadRole => Failure::field("role", "invalid_role", message),
            AdminError::Exists(_) => Failure::new(FailureClass::Conflict, "admin_exists", message),
            AdminError::NotFound(_) => Failure::new(FailureClass::NotFound, "admin_not_found", message),
            AdminError::LastOwner => Failure::new(FailureClass::Conflict, "last_owner", message),
            AdminError::BadCredentials => Failure::new(FailureClass::Unauthenticated, "invalid_credentials", message),
            AdminError::TooManyAttempts(secs) => {
                Failure::new(FailureClass::RateLimited { retry_after_secs: secs }, "rate_limited", message)
            }
            AdminError::NoSession => Failure::new(FailureClass::Unauthenticated, "login_required", message),
            AdminError::SessionExpired => Failure::new(FailureClass::Unauthenticated, "session_expired", message),
            AdminError::Hashing(detail) => return Err(StoreError::Database(detail)),
            AdminError::Denied(denied) => return denied.failure(),
            AdminError::Store(error) => return Err(error),
        })
    }
}

/// How long a dashboard session lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ended after this long without a request.
    pub idle: Duration,
    /// Ended this long after the login, whatever the activity.
    pub max: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::from_secs(30 * 60), max: Duration::from_secs(12 * 3600) }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A normalised email address: trimmed and lowercase, with one `@` between non-empty parts.
pub fn normalize_email(email: &str) -> Result<String, AdminError> {
    let email = email.trim().to_lowercase();
    let shaped = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
        });
    if shaped { Ok(email) } else { Err(AdminError::BadEmail(email)) }
}

fn check_password(password: &str) -> Result<(), AdminError> {
    let length = password.chars().count();
    if (ADMIN_PASSWORD_MIN_CHARS..=ADMIN_PASSWORD_MAX_CHARS).contains(&length) {
        Ok(())
    } else {
        Err(AdminError::BadPassword)
    }
}

/// Argon2id with the crate's default parameters, off the async threads.
async fn hash_password(password: &str) -> Result<String, AdminError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|hash| hash.to_string())
    })
    .await
    .map_err(|error| AdminError::Hashing(error.to_string()))?
    .map_err(|error| AdminError::Hashing(error.to_string()))
}

async fn password_matches(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        .await
        .unwrap_or(false)
}

/// Whether any account exists: the dashboard is off until one does.
pub async fn dashboard_enabled(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(!store.list_admins().await?.is_empty())
}

pub async fn list(store: &dyn Store, actor: &Actor) -> Result<Vec<AdminAccount>, AdminError> {
    authorize(actor, Permission::ManageAdmins)?;
    Ok(store.list_admins().await?)
}

async fn find(store: &dyn Store, email: &str) -> Result<AdminAccount, AdminError> {
    let email = normalize_email(email)?;
    store.admin_by_email(&email).await?.ok_or(AdminError::NotFound(email))
}

pub async fn add(
    store: &dyn Store,
    actor: &Actor,
    email: &str,
    role: &str,
    password: &str,
) -> Result<AdminAccount, AdminError> {
    authorize(actor, Permission::ManageAdmins)?;
    let email = normalize_email(email)?;
    let role = AdminRole::parse(role.trim()).ok_or(AdminError::BadRole)?;
    check_password(password)?;
    let account = AdminAccount {
        id: new_id(IdKind::Admin),
        email: email.clone(),
        role,
        password_hash: hash_password(password).await?,
        created_at: now_ms(),
        last_login_at: None,
    };
    match store.insert_admin(&account).await {
        Err(StoreError::AlreadyExists(_)) => return Err(AdminError::Exists(email)),
        other => other?,
    }
    audit::record(
        store,
        actor,
        Change {
            action: "admin.create",
            project_id: None,
            object_type: "admin",
            object_id: &email,
            details: json!({ "role": role.as_str() }),
        },
    )
    .await?;
    Ok(account)
}

pub async fn remove(store: &dyn Store, actor: &Actor, email: &str) -> Result<(), AdminError> {
    authorize(actor, Permission::ManageAdmins)?;
    let account = find(store, email).await?;
    let owners = store.list_admins().await?.iter().filter(|a| a.role == AdminRole::Owner).count();
    if account.role == AdminRole::Owner && owners <= 1 {
        return Err(AdminError::LastOwner);
    }
    if !store.delete_admin(&account.id).await? {
        return Err(AdminError::NotFound(account.email));
    }
    audit::record(
        store,
        actor,
        Change {
            action: "admin.delete",
            project_id: None,
            object_type: "admin",
            object_id: &account.email,
            details: json!({}),
        },
    )
    .await?;
    Ok(())
}

/// Sets a new password (owners for anyone, everyone for themselves) and ends the account's sessions.
pub async fn set_password(store: &dyn Store, actor: &Actor, email: &str, password: &str) -> Result<(), AdminError> {
    let account = find(store, email).await?;
    let own = matches!(actor, Actor::Admin { id, .. } if *id == account.id);
    if !own {
        authorize(actor, Permission::ManageAdmins)?;
    }
    check_password(password)?;
    let hash = hash_password(password).await?;
    if !store.set_admin_password(&account.id, &hash).await? {
        return Err(AdminError::NotFound(account.email));
    }
    audit::record(
        store,
        actor,
        Change {
            action: "admin.password",
            project_id: None,
            object_type: "admin",
            object_id: &account.email,
            details: json!({}),
        },
    )
    .await?;
    Ok(())
}

/// Counts failed logins per account and per client address, per node; a
/// bounded map, so a flood of made-up accounts costs a fixed amount of memory.
pub struct LoginGuard {
    failures: Mutex<LruCache<String, (Instant, u32)>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard { failures: Mutex::new(LruCache::new(LOGIN_GUARD_ENTRIES)) }
    }
}

impl LoginGuard {
    fn keys(email: &str, client: IpAddr) -> [(String, u32); 2] {
        [
            (format!("account:{email}"), LOGIN_FAILURES_PER_ACCOUNT),
            (format!("address:{client}"), LOGIN_FAILURES_PER_ADDRESS),
        ]
    }

    /// Refuses when either key failed too often within the window; says for how long.
    fn check(&self, email: &str, client: IpAddr) -> Result<(), AdminError> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, max) in Self::keys(email, client) {
            if let Some((since, count)) = failures.get(&key)
                && since.elapsed() < LOGIN_FAILURE_WINDOW
                && *count >= max
            {
                let wait = LOGIN_FAILURE_WINDOW.saturating_sub(since.elapsed()).as_secs().max(1);
                return Err(AdminError::TooManyAttempts(wait));
            }
        }
        Ok(())
    }

    fn failed(&self, email: &str, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _) in Self::keys(email, client) {
            let entry = match failures.get(&key) {
                Some((since, count)) if since.elapsed() < LOGIN_FAILURE_WINDOW => (*since, count + 1),
                _ => (Instant::now(), 1),
            };
            failures.insert(key, entry);
        }
    }

    fn succeeded(&self, email: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&format!("account:{email}"));
    }
}

/// A new session: the cookie value (shown to the browser only) and its CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub account: AdminAccount,
}

pub async fn login(
    store: &dyn Store,
    guard: &LoginGuard,
    policy: SessionPolicy,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<NewSession, AdminError> {
    let email = normalize_email(email).map_err(|_| AdminError::BadCredentials)?;
    guard.check(&email, client)?;
    let account = store.admin_by_email(&email).await?;
    let hash = match &account {
        Some(account) => account.password_hash.as_str(),
        None => dummy_hash().await,
    };
    let matches = password_matches(password, hash).await;
    let Some(account) = account.filter(|_| matches) else {
        guard.failed(&email, client);
        return Err(AdminError::BadCredentials);
    };
    guard.succeeded(&email);
    let now = now_ms();
    let token = random_secret(SESSION_TOKEN_CHARS);
    let session = AdminSession {
        token_hash: api_keys::hash(&token),
        admin_id: account.id.clone(),
        csrf_token: random_secret(CSRF_TOKEN_CHARS),
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(millis(policy.max)),
    };
    store.insert_admin_session(&session).await?;
    let actor = actor_of(&account);
    audit::record(
        store,
        &actor,
        Change {
            action: "admin.login",
            project_id: None,
            object_type: "admin",
            object_id: &account.email,
            details: json!({}),
        },
    )
    .await?;
    Ok(NewSession { token, csrf_token: session.csrf_token, account })
}

fn actor_of(account: &AdminAccount) -> Actor {
    Actor::Admin { id: account.id.clone(), email: account.email.clone(), role: account.role }
}

/// The actor behind a session cookie, and the session (for its CSRF token).
pub async fn authenticate(
    store: &dyn Store,
    policy: SessionPolicy,
    token: &str,
) -> Result<(Actor, AdminSession), AdminError> {
    let hash = api_keys::hash(token);
    let (session, account) = store.admin_session(&hash).await?.ok_or(AdminError::NoSession)?;
    let now = now_ms();
    if now.saturating_sub(session.last_seen_at) > millis(policy.idle) || now >= session.expires_at {
        store.delete_admin_session(&hash).await?;
        return Err(AdminError::SessionExpired);
    }
    if now - session.last_seen_at > SESSION_TOUCH_MS {
        store.touch_admin_session(&hash, now).await?;
    }
    Ok((actor_of(&account), session))
}

pub async fn logout(store: &dyn Store, actor: &Actor, token: &str) -> Result<(), AdminError> {
    store.delete_admin_session(&api_keys::hash(token)).await?;
    if let Actor::Admin { email, .. } = actor {
        audit::record(
            store,
            actor,
            Change {
                action: "admin.logout",
                project_id: None,
                object_type: "admin",
                object_id: email,
                details: json!({}),
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(normalize_email(" Owner@Example.COM ").expect("email"), "owner@example.com");
        for bad in ["", "owner", "@example.com", "owner@", "a b@example.com", "a@b@c", "a@.example.com"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_guard_counts_failures_per_account_and_address() {
        let guard = LoginGuard::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..LOGIN_FAILURES_PER_ACCOUNT {
            assert!(guard.check("a@x.test", ip).is_ok());
            guard.failed("a@x.test", ip);
        }
        assert!(matches!(guard.check("a@x.test", ip), Err(AdminError::TooManyAttempts(_))));
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(matches!(guard.check("a@x.test", other), Err(AdminError::TooManyAttempts(_))), "per account");
        assert!(guard.check("b@x.test", ip).is_ok(), "another account from the same address");
        for i in 0..LOGIN_FAILURES_PER_ADDRESS {
            guard.failed(&format!("u{i}@x.test"), other);
        }
        assert!(matches!(guard.check("new@x.test", other), Err(AdminError::TooManyAttempts(_))), "per address");
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash).await);
        assert!(!password_matches("wrong horse battery", &hash).await);
        assert!(!password_matches("anything", dummy_hash().await).await);
        assert!(check_password("short").is_err() && check_password("long enough pw").is_ok());
    }
}
