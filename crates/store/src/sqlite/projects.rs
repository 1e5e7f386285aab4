//! Projects and their credentials: signing keys, API keys, auth rules, server
//! secrets, and the settings counter every administrative change moves.

use rusqlite::{Connection, OptionalExtension, params};
use threadhold_domain::Millis;
use threadhold_domain::model::{ApiKey, AuthRule, Project, SigningKey};

use super::rows;
use crate::shared::list_json;
use crate::{StoreError, StoreResult};

/// Moves the settings counter: every node reloads what it caches.
pub(super) fn bump_settings(c: &Connection) -> StoreResult<()> {
    c.prepare_cached("UPDATE settings_version SET version = version + 1 WHERE id = 1")?.execute([])?;
    Ok(())
}

pub(super) fn settings_version(c: &Connection) -> StoreResult<i64> {
    Ok(c.prepare_cached("SELECT version FROM settings_version WHERE id = 1")?.query_row([], |row| row.get(0))?)
}

pub(super) fn ensure_project(c: &Connection, id: &str, name: &str, now: Millis) -> StoreResult<Project> {
    let created = c
        .prepare_cached("INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING")?
        .execute(params![id, name, now])?;
    if created == 1 {
        bump_settings(c)?;
    }
    get_project(c, id)?.ok_or_else(|| StoreError::Database(format!("project {id} vanished")))
}

pub(super) fn create_project(c: &Connection, project: &Project) -> StoreResult<()> {
    let created = c
        .prepare_cached(
            "INSERT INTO projects (id, name, allowed_origins, anonymous_enabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            project.id,
            project.name,
            list_json(&project.allowed_origins),
            project.anonymous_enabled,
            project.created_at
        ])?;
    if created == 0 {
        return Err(StoreError::AlreadyExists(format!("project {}", project.id)));
    }
    bump_settings(c)
}

pub(super) fn get_project(c: &Connection, id: &str) -> StoreResult<Option<Project>> {
    Ok(c.prepare_cached(concat!("SELECT ", rows::project_columns!(), " FROM projects WHERE id = ?1"))?
        .query_row([id], rows::project)
        .optional()?)
}

pub(super) fn list_projects(c: &Connection) -> StoreResult<Vec<Project>> {
    Ok(c.prepare_cached(concat!("SELECT ", rows::project_columns!(), " FROM projects ORDER BY created_at, id"))?
        .query_map([], rows::project)?
        .collect::<Result<_, _>>()?)
}

pub(super) fn set_allowed_origins(c: &Connection, project_id: &str, origins: &[String]) -> StoreResult<bool> {
    let changed = c
        .prepare_cached("UPDATE projects SET allowed_origins = ?2 WHERE id = ?1")?
        .execute(params![project_id, list_json(origins)])?;
    if changed == 1 {
        bump_settings(c)?;
    }
    Ok(changed == 1)
}

pub(super) fn set_anonymous_enabled(c: &Connection, project_id: &str, enabled: bool) -> StoreResult<bool> {
    let changed = c
        .prepare_cached("UPDATE projects SET anonymous_enabled = ?2 WHERE id = ?1")?
        .execute(params![project_id, enabled])?;
    if changed == 1 {
        bump_settings(c)?;
    }
    Ok(changed == 1)
}

pub(super) fn insert_signing_key(c: &Connection, key: &SigningKey) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO signing_keys (kid, project_id, algorithm, private_der, public_raw, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![key.kid, key.project_id, key.algorithm, key.private_der, key.public_raw, key.created_at])?;
    bump_settings(c)
}

pub(super) fn signing_keys(c: &Connection, project_id: &str) -> StoreResult<Vec<SigningKey>> {
    Ok(c.prepare_cached(concat!(
        "SELECT ",
        rows::signing_key_columns!(),
        " FROM signing_keys WHERE project_id = ?1 ORDER BY created_at DESC, kid DESC"
    ))?
    .query_map([project_id], rows::signing_key)?
    .collect::<Result<_, _>>()?)
}

pub(super) fn signing_key(c: &Connection, kid: &str) -> StoreResult<Option<SigningKey>> {
    Ok(c.prepare_cached(concat!("SELECT ", rows::signing_key_columns!(), " FROM signing_keys WHERE kid = ?1"))?
        .query_row([kid], rows::signing_key)
        .optional()?)
}

pub(super) fn insert_api_key(c: &Connection, key: &ApiKey) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO api_keys (id, project_id, name, secret_hash, display_prefix, created_at, expires_at, \
         last_used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        key.id,
        key.project_id,
        key.name,
        key.secret_hash,
        key.display_prefix,
        key.created_at,
        key.expires_at,
        key.last_used_at,
        key.revoked_at
    ])?;
    bump_settings(c)
}

pub(super) fn api_key_by_hash(c: &Connection, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
    Ok(c.prepare_cached(concat!("SELECT ", rows::api_key_columns!(), " FROM api_keys WHERE secret_hash = ?1"))?
        .query_row([secret_hash], rows::api_key)
        .optional()?)
}

pub(super) fn list_api_keys(c: &Connection, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
    let rows = match project_id {
        Some(project_id) => c
            .prepare_cached(concat!(
                "SELECT ",
                rows::api_key_columns!(),
                " FROM api_keys WHERE project_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([project_id], rows::api_key)?
            .collect::<Result<_, _>>()?,
        None => c
            .prepare_cached(concat!("SELECT ", rows::api_key_columns!(), " FROM api_keys ORDER BY created_at, id"))?
            .query_map([], rows::api_key)?
            .collect::<Result<_, _>>()?,
    };
    Ok(rows)
}

pub(super) fn revoke_api_key(c: &Connection, id: &str, now: Millis) -> StoreResult<bool> {
    let changed = c
        .prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id, now])?;
    if changed == 1 {
        bump_settings(c)?;
    }
    Ok(changed == 1)
}

pub(super) fn touch_api_key(c: &Connection, id: &str, now: Millis) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
    )?
    .execute(params![id, now])?;
    Ok(())
}

pub(super) fn server_secret(c: &Connection, name: &str, candidate: &[u8], now: Millis) -> StoreResult<Vec<u8>> {
    c.prepare_cached(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, candidate, now])?;
    Ok(c.prepare_cached("SELECT value FROM server_secrets WHERE name = ?1")?.query_row([name], |row| row.get(0))?)
}

pub(super) fn insert_auth_rule(c: &Connection, rule: &AuthRule) -> StoreResult<()> {
    c.prepare_cached(concat!(
        "INSERT INTO auth_rules (",
        rows::auth_rule_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))?
    .execute(params![
        rule.id,
        rule.project_id,
        rule.name,
        rule.provider,
        rule.issuer,
        list_json(&rule.audiences),
        rule.jwks_url,
        rule.discovery,
        rule.shared_secret,
        list_json(&rule.algorithms),
        rule.clock_skew_secs,
        rule.max_lifetime_secs,
        list_json(&rule.authorized_parties),
        rule.workspace_template,
        rule.workspace_fallback,
        rule.name_claim,
        rule.token_type,
        rule.created_at
    ])?;
    bump_settings(c)
}

/// Replaces every field of a rule but its id, project and creation time.
pub(super) fn update_auth_rule(c: &Connection, rule: &AuthRule) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE auth_rules SET name = ?3, provider = ?4, issuer = ?5, audiences = ?6, jwks_url = ?7, \
             discovery = ?8, shared_secret = ?9, algorithms = ?10, clock_skew_secs = ?11, max_lifetime_secs = ?12, \
             authorized_parties = ?13, workspace_template = ?14, workspace_fallback = ?15, name_claim = ?16, \
             token_type = ?17 WHERE id = ?1 AND project_id = ?2",
        )?
        .execute(params![
            rule.id,
            rule.project_id,
            rule.name,
            rule.provider,
            rule.issuer,
            list_json(&rule.audiences),
            rule.jwks_url,
            rule.discovery,
            rule.shared_secret,
            list_json(&rule.algorithms),
            rule.clock_skew_secs,
            rule.max_lifetime_secs,
            list_json(&rule.authorized_parties),
            rule.workspace_template,
            rule.workspace_fallback,
            rule.name_claim,
            rule.token_type
        ])?;
    if changed == 1 {
        bump_settings(c)?;
    }
    Ok(changed == 1)
}

pub(super) fn list_auth_rules(c: &Connection, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>> {
    let rules = match project_id {
        Some(project_id) => c
            .prepare_cached(concat!(
                "SELECT ",
                rows::auth_rule_columns!(),
                " FROM auth_rules WHERE project_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([project_id], rows::auth_rule)?
            .collect::<Result<_, _>>()?,
        None => c
            .prepare_cached(concat!("SELECT ", rows::auth_rule_columns!(), " FROM auth_rules ORDER BY created_at, id"))?
            .query_map([], rows::auth_rule)?
            .collect::<Result<_, _>>()?,
    };
    Ok(rules)
}

pub(super) fn delete_auth_rule(c: &Connection, id: &str) -> StoreResult<bool> {
    let deleted = c.prepare_cached("DELETE FROM auth_rules WHERE id = ?1")?.execute([id])?;
    if deleted == 1 {
        bump_settings(c)?;
    }
    Ok(deleted == 1)
}
