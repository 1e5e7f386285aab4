//! Projects and their credentials: signing keys, API keys, auth rules, server
//! secrets, and the settings counter every administrative change moves.

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::model::{ApiKey, AuthRule, Project, SigningKey};

use super::rows::{self, api_key_columns, auth_rule_columns, project_columns, signing_key_columns};
use crate::shared::list_json;
use crate::{StoreError, StoreResult};

/// Moves the settings counter: every node reloads what it caches.
pub(super) async fn bump_settings(c: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("UPDATE settings_version SET version = version + 1 WHERE id = 1").execute(c).await?;
    Ok(())
}

pub(super) async fn settings_version(c: &mut PgConnection) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT version FROM settings_version WHERE id = 1").fetch_one(c).await?)
}

pub(super) async fn ensure_project(c: &mut PgConnection, id: &str, name: &str, now: Millis) -> StoreResult<Project> {
    let created =
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *c)
            .await?
            .rows_affected();
    if created == 1 {
        bump_settings(c).await?;
    }
    get_project(c, id).await?.ok_or_else(|| StoreError::Database(format!("project {id} vanished")))
}

pub(super) async fn create_project(c: &mut PgConnection, project: &Project) -> StoreResult<()> {
    let created = sqlx::query(
        "INSERT INTO projects (id, name, allowed_origins, anonymous_enabled, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&project.id)
    .bind(&project.name)
    .bind(list_json(&project.allowed_origins))
    .bind(project.anonymous_enabled)
    .bind(project.created_at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if created == 0 {
        return Err(StoreError::AlreadyExists(format!("project {}", project.id)));
    }
    bump_settings(c).await
}

pub(super) async fn get_project(c: &mut PgConnection, id: &str) -> StoreResult<Option<Project>> {
    let row = sqlx::query(concat!("SELECT ", project_columns!(), " FROM projects WHERE id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::project).transpose()?)
}

pub(super) async fn list_projects(c: &mut PgConnection) -> StoreResult<Vec<Project>> {
    let found = sqlx::query(concat!("SELECT ", project_columns!(), " FROM projects ORDER BY created_at, id"))
        .fetch_all(c)
        .await?;
    Ok(found.iter().map(rows::project).collect::<Result<_, _>>()?)
}

pub(super) async fn set_allowed_origins(
    c: &mut PgConnection,
    project_id: &str,
    origins: &[String],
) -> StoreResult<bool> {
    let changed = sqlx::query("UPDATE projects SET allowed_origins = $2 WHERE id = $1")
        .bind(project_id)
        .bind(list_json(origins))
        .execute(&mut *c)
        .await?
        .rows_affected();
    if changed == 1 {
        bump_settings(c).await?;
    }
    Ok(changed == 1)
}

pub(super) async fn set_anonymous_enabled(c: &mut PgConnection, project_id: &str, enabled: bool) -> StoreResult<bool> {
    let changed = sqlx::query("UPDATE projects SET anonymous_enabled = $2 WHERE id = $1")
        .bind(project_id)
        .bind(enabled)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if changed == 1 {
        bump_settings(c).await?;
    }
    Ok(changed == 1)
}

pub(super) async fn insert_signing_key(c: &mut PgConnection, key: &SigningKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, project_id, algorithm, private_der, public_raw, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.kid)
    .bind(&key.project_id)
    .bind(&key.algorithm)
    .bind(&key.private_der)
    .bind(&key.public_raw)
    .bind(key.created_at)
    .execute(&mut *c)
    .await?;
    bump_settings(c).await
}

pub(super) async fn signing_keys(c: &mut PgConnection, project_id: &str) -> StoreResult<Vec<SigningKey>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        signing_key_columns!(),
        " FROM signing_keys WHERE project_id = $1 ORDER BY created_at DESC, kid DESC"
    ))
    .bind(project_id)
    .fetch_all(c)
    .await?;
    Ok(found.iter().map(rows::signing_key).collect::<Result<_, _>>()?)
}

pub(super) async fn signing_key(c: &mut PgConnection, kid: &str) -> StoreResult<Option<SigningKey>> {
    let row = sqlx::query(concat!("SELECT ", signing_key_columns!(), " FROM signing_keys WHERE kid = $1"))
        .bind(kid)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::signing_key).transpose()?)
}

pub(super) async fn insert_api_key(c: &mut PgConnection, key: &ApiKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, name, secret_hash, display_prefix, created_at, expires_at, \
         last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&key.id)
    .bind(&key.project_id)
    .bind(&key.name)
    .bind(&key.secret_hash)
    .bind(&key.display_prefix)
    .bind(key.created_at)
    .bind(key.expires_at)
    .bind(key.last_used_at)
    .bind(key.revoked_at)
    .execute(&mut *c)
    .await?;
    bump_settings(c).await
}

pub(super) async fn api_key_by_hash(c: &mut PgConnection, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
    let row = sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE secret_hash = $1"))
        .bind(secret_hash)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::api_key).transpose()?)
}

pub(super) async fn list_api_keys(c: &mut PgConnection, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
    let found = match project_id {
        Some(project_id) => {
            sqlx::query(concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE project_id = $1 ORDER BY created_at, id"
            ))
            .bind(project_id)
            .fetch_all(c)
            .await?
        }
        None => {
            sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys ORDER BY created_at, id"))
                .fetch_all(c)
                .await?
        }
    };
    Ok(found.iter().map(rows::api_key).collect::<Result<_, _>>()?)
}

pub(super) async fn revoke_api_key(c: &mut PgConnection, id: &str, now: Millis) -> StoreResult<bool> {
    let changed = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if changed == 1 {
        bump_settings(c).await?;
    }
    Ok(changed == 1)
}

pub(super) async fn touch_api_key(c: &mut PgConnection, id: &str, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 60000)",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

pub(super) async fn server_secret(
    c: &mut PgConnection,
    name: &str,
    candidate: &[u8],
    now: Millis,
) -> StoreResult<Vec<u8>> {
    sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(c).await?)
}

pub(super) async fn insert_auth_rule(c: &mut PgConnection, rule: &AuthRule) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO auth_rules (",
        auth_rule_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&rule.id)
    .bind(&rule.project_id)
    .bind(&rule.name)
    .bind(&rule.provider)
    .bind(&rule.issuer)
    .bind(list_json(&rule.audiences))
    .bind(&rule.jwks_url)
    .bind(rule.discovery)
    .bind(&rule.shared_secret)
    .bind(list_json(&rule.algorithms))
    .bind(rule.clock_skew_secs)
    .bind(rule.max_lifetime_secs)
    .bind(list_json(&rule.authorized_parties))
    .bind(&rule.workspace_template)
    .bind(&rule.workspace_fallback)
    .bind(&rule.name_claim)
    .bind(&rule.token_type)
    .bind(rule.created_at)
    .execute(&mut *c)
    .await?;
    bump_settings(c).await
}

/// Replaces every field of a rule but its id, project and creation time.
pub(super) async fn update_auth_rule(c: &mut PgConnection, rule: &AuthRule) -> StoreResult<bool> {
    let changed = sqlx::query(
        "UPDATE auth_rules SET name = $3, provider = $4, issuer = $5, audiences = $6, jwks_url = $7, \
         discovery = $8, shared_secret = $9, algorithms = $10, clock_skew_secs = $11, max_lifetime_secs = $12, \
         authorized_parties = $13, workspace_template = $14, workspace_fallback = $15, name_claim = $16, \
         token_type = $17 WHERE id = $1 AND project_id = $2",
    )
    .bind(&rule.id)
    .bind(&rule.project_id)
    .bind(&rule.name)
    .bind(&rule.provider)
    .bind(&rule.issuer)
    .bind(list_json(&rule.audiences))
    .bind(&rule.jwks_url)
    .bind(rule.discovery)
    .bind(&rule.shared_secret)
    .bind(list_json(&rule.algorithms))
    .bind(rule.clock_skew_secs)
    .bind(rule.max_lifetime_secs)
    .bind(list_json(&rule.authorized_parties))
    .bind(&rule.workspace_template)
    .bind(&rule.workspace_fallback)
    .bind(&rule.name_claim)
    .bind(&rule.token_type)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if changed == 1 {
        bump_settings(c).await?;
    }
    Ok(changed == 1)
}

pub(super) async fn list_auth_rules(c: &mut PgConnection, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>> {
    let found = match project_id {
        Some(project_id) => {
            sqlx::query(concat!(
                "SELECT ",
                auth_rule_columns!(),
                " FROM auth_rules WHERE project_id = $1 ORDER BY created_at, id"
            ))
            .bind(project_id)
            .fetch_all(c)
            .await?
        }
        None => {
            sqlx::query(concat!("SELECT ", auth_rule_columns!(), " FROM auth_rules ORDER BY created_at, id"))
                .fetch_all(c)
                .await?
        }
    };
    Ok(found.iter().map(rows::auth_rule).collect::<Result<_, _>>()?)
}

pub(super) async fn delete_auth_rule(c: &mut PgConnection, id: &str) -> StoreResult<bool> {
    let deleted = sqlx::query("DELETE FROM auth_rules WHERE id = $1").bind(id).execute(&mut *c).await?.rows_affected();
    if deleted == 1 {
        bump_settings(c).await?;
    }
    Ok(deleted == 1)
}
