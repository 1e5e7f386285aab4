//! The SQL implementation of [`crate::Store`], written once and instantiated
//! for each backend by [`sql_store!`]: the statements are the same except for
//! the few spots a [`Dialect`] fills in (JSON arrays, locking, `GREATEST`).

/// What differs between the SQL backends.
pub(crate) struct Dialect {
    /// A subquery listing the strings of a JSON array bound as text at `param` (e.g. `$2`).
    pub json_strings: fn(&str) -> String,
    /// The two-argument maximum function.
    pub greatest: &'static str,
    /// The literal `1` as a 64-bit integer.
    pub one: &'static str,
    /// Appended to a SELECT whose rows the transaction goes on to change (empty
    /// where a write transaction already holds the whole database).
    pub lock_rows: &'static str,
    /// Appended to the refresh-token join, to lock the session row.
    pub lock_session: &'static str,
    /// A statement taking a transaction-scoped lock on a text key bound at `$1`.
    pub key_lock: Option<&'static str>,
}

/// Implements [`crate::Store`] for `$store` over sqlx database `$db` (rows `$row`),
/// given its [`Dialect`] and an inherent `async fn write(&self)` that begins a write transaction.
macro_rules! sql_store {
    ($store:ty, $db:ty, $row:ty, $dialect:expr) => {
        use async_trait::async_trait;
        use sqlx::Transaction;
        use threadhold_domain::Millis;
        use threadhold_domain::ids::{IdKind, new_id};
        use threadhold_domain::model::{
            AnonymousSession, ApiKey, Attachment, AuthRule, ClaimOutcome, Feedback, FeedbackKind, LeaseTarget, Message,
            MessageWrite, NewMessage, NewThread, ParentRef, Project, RefreshOutcome, RefreshRefusal, Score, ScoreTarget,
            SigningKey, TelemetryRecord, Thread, ThreadListQuery, ThreadPatch, WorkspaceScope,
        };
        use threadhold_domain::refresh::{RefreshPolicy, Verdict, judge};
        use threadhold_domain::runs::{ABANDONED, LeasePolicy, PlainWrite, RunLease, RunState, plain_write};

        use $crate::rows::*;
        use $crate::{Erasure, ReadScope, Store, StoreError, StoreResult};

fn auth_rule_from_row(row: &$row) -> Result<AuthRule, sqlx::Error> {
    use sqlx::Row;
    Ok(AuthRule {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        provider: row.try_get("provider")?,
        issuer: row.try_get("issuer")?,
        audiences: json_list(row.try_get("audiences")?),
        jwks_url: row.try_get("jwks_url")?,
        discovery: row.try_get("discovery")?,
        shared_secret: row.try_get("shared_secret")?,
        algorithms: json_list(row.try_get("algorithms")?),
        clock_skew_secs: row.try_get("clock_skew_secs")?,
        max_lifetime_secs: row.try_get("max_lifetime_secs")?,
        authorized_parties: json_list(row.try_get("authorized_parties")?),
        workspace_template: row.try_get("workspace_template")?,
        workspace_fallback: row.try_get("workspace_fallback")?,
        name_claim: row.try_get("name_claim")?,
        token_type: row.try_get("token_type")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn thread_in_scope(tx: &mut Transaction<'static, $db>, scope: &WorkspaceScope, id: &str) -> StoreResult<()> {
    let found: Option<(i64,)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM threads WHERE id = $1 AND project_id = $2 AND workspace_id = $3{}",
            $dialect.one, $dialect.lock_rows
        )))
            .bind(id)
            .bind(&scope.project_id)
            .bind(&scope.workspace_id)
            .fetch_optional(&mut **tx)
            .await?;
    found.map(|_| ()).ok_or(StoreError::ThreadNotFound)
}

/// The message of a thread that an external id names: the one stored under
/// that external id or, when there is none, the one whose server id it is.
/// After a reload a runtime knows every loaded message by its server id (spec
/// 5.4, 5.5), and the AI SDK runtime's transcript copy sends those ids as
/// `external_id` and `parent_external_id`; without the fallback each session
/// after a reload would store the loaded branch again as new rows.
async fn message_by_external_id(
    tx: &mut Transaction<'static, $db>,
    thread_id: &str,
    external_id: &str,
) -> StoreResult<Option<String>> {
    let by_external: Option<(String,)> =
        sqlx::query_as("SELECT id FROM messages WHERE thread_id = $1 AND external_id = $2")
            .bind(thread_id)
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await?;
    if by_external.is_some() || !external_id.starts_with(IdKind::Message.prefix()) {
        return Ok(by_external.map(|(id,)| id));
    }
    let by_id: Option<(String,)> = sqlx::query_as("SELECT id FROM messages WHERE thread_id = $1 AND id = $2")
        .bind(thread_id)
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(by_id.map(|(id,)| id))
}

/// Moves the thread to the top of its list: a message was stored.
async fn bump_thread(tx: &mut Transaction<'static, $db>, thread_id: &str, now: Millis) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE threads SET last_message_at = {}(last_message_at, $2), updated_at = $2 WHERE id = $1",
        $dialect.greatest
    )))
        .bind(thread_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_refresh_token(
    tx: &mut Transaction<'static, $db>,
    token_hash: &str,
    session_id: &str,
    parent_hash: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, parent_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(session_id)
        .bind(parent_hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes threads with their messages, feedback, leases (by cascade) and
/// attachment records; returns the attachment keys whose files must go too.
async fn remove_threads(tx: &mut Transaction<'static, $db>, ids: &[String]) -> StoreResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    // Children before parents is not needed: the parent reference is only
    // checked at the end of the statement, and every row of the thread goes.
    let listed = ($dialect.json_strings)("$1");
    for statement in [
        format!("DELETE FROM feedback WHERE message_id IN (SELECT id FROM messages WHERE thread_id IN ({listed}))"),
        format!("DELETE FROM messages WHERE thread_id IN ({listed})"),
        format!("DELETE FROM threads WHERE id IN ({listed})"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).bind(&ids).execute(&mut **tx).await?;
    }
    let keys: Vec<(String,)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("DELETE FROM attachments WHERE thread_id IN ({listed}) RETURNING key")))
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    Ok(keys.into_iter().map(|(key,)| key).collect())
}

/// Opens a running lease on a message and makes it the message's current run.
async fn open_lease(
    tx: &mut Transaction<'static, $db>,
    lease_id: &str,
    message_id: &str,
    thread_id: &str,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO run_leases (id, message_id, thread_id, running, created_at, last_heartbeat_at) VALUES ($1, $2, $3, TRUE, $4, $4)",
    )
    .bind(lease_id)
    .bind(message_id)
    .bind(thread_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE messages SET run_running = TRUE, run_heartbeat_at = $2 WHERE id = $1")
        .bind(message_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A lease route's thread check: an unknown or foreign thread means an unknown lease (404).
async fn lease_thread_in_scope(tx: &mut Transaction<'static, $db>, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<()> {
    match thread_in_scope(tx, scope, thread_id).await {
        Err(StoreError::ThreadNotFound) => Err(StoreError::RunNotFound),
        other => other,
    }
}

/// Replaces a message's content; the thread counts as updated.
async fn write_content(
    tx: &mut Transaction<'static, $db>,
    thread_id: &str,
    message_id: &str,
    content: &str,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("UPDATE messages SET content = $2, updated_at = $3 WHERE id = $1")
        .bind(message_id)
        .bind(content)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE threads SET updated_at = $2 WHERE id = $1").bind(thread_id).bind(now).execute(&mut **tx).await?;
    Ok(())
}

/// Records a beat of a running lease (on the lease and on its message's copy).
async fn renew_lease(tx: &mut Transaction<'static, $db>, lease_id: &str, message_id: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE run_leases SET last_heartbeat_at = $2 WHERE id = $1").bind(lease_id).bind(now).execute(&mut **tx).await?;
    sqlx::query("UPDATE messages SET run_heartbeat_at = $2 WHERE id = $1")
        .bind(message_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends the running lease of a message with `reason`.
async fn close_lease(tx: &mut Transaction<'static, $db>, message_id: &str, reason: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE run_leases SET running = FALSE, end_reason = $2, ended_at = $3 WHERE message_id = $1 AND running")
        .bind(message_id)
        .bind(reason)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE messages SET run_running = FALSE WHERE id = $1").bind(message_id).execute(&mut **tx).await?;
    Ok(())
}

/// The message and running flag of a lease in this thread, or [`StoreError::RunNotFound`].
async fn lease_in_thread(
    tx: &mut Transaction<'static, $db>,
    thread_id: &str,
    lease_id: &str,
) -> StoreResult<(String, bool)> {
    let found: Option<(String, bool)> =
        sqlx::query_as("SELECT message_id, running FROM run_leases WHERE id = $1 AND thread_id = $2")
            .bind(lease_id)
            .bind(thread_id)
            .fetch_optional(&mut **tx)
            .await?;
    found.ok_or(StoreError::RunNotFound)
}

#[async_trait]
impl Store for $store {
    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn ensure_project(&self, id: &str, name: &str, now: Millis) -> StoreResult<Project> {
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&self.writer)
            .await?;
        let row: ProjectRow = sqlx::query_as(select(PROJECT_COLUMNS, "projects", "WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.writer)
            .await?;
        Ok(project_from_row(row))
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let origins = serde_json::to_string(&project.allowed_origins).unwrap_or_else(|_| "[]".into());
        let done = sqlx::query(
            "INSERT INTO projects (id, name, allowed_origins, anonymous_enabled, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(origins)
        .bind(project.anonymous_enabled)
        .bind(project.created_at)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists(format!("project {}", project.id)));
        }
        Ok(())
    }

    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        let row: Option<ProjectRow> = sqlx::query_as(select(PROJECT_COLUMNS, "projects", "WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(project_from_row))
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectRow> = sqlx::query_as(select(PROJECT_COLUMNS, "projects", "ORDER BY created_at, id"))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.into_iter().map(project_from_row).collect())
    }

    async fn set_allowed_origins(&self, project_id: &str, origins: &[String]) -> StoreResult<bool> {
        let origins = serde_json::to_string(origins).unwrap_or_else(|_| "[]".into());
        let done = sqlx::query("UPDATE projects SET allowed_origins = $2 WHERE id = $1")
            .bind(project_id)
            .bind(origins)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_anonymous_enabled(&self, project_id: &str, enabled: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE projects SET anonymous_enabled = $2 WHERE id = $1")
            .bind(project_id)
            .bind(enabled)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, project_id, algorithm, private_der, public_raw, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.project_id)
        .bind(&key.algorithm)
        .bind(&key.private_der)
        .bind(&key.public_raw)
        .bind(key.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn signing_keys(&self, project_id: &str) -> StoreResult<Vec<SigningKey>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, project_id, algorithm, private_der, public_raw, created_at FROM signing_keys WHERE project_id = $1 ORDER BY created_at DESC, kid DESC",
        )
        .bind(project_id)
        .fetch_all(&self.writer)
        .await?;
        Ok(rows.into_iter().map(signing_key_from_row).collect())
    }

    async fn signing_key(&self, kid: &str) -> StoreResult<Option<SigningKey>> {
        let row: Option<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, project_id, algorithm, private_der, public_raw, created_at FROM signing_keys WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(signing_key_from_row))
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, project_id, name, secret_hash, display_prefix, created_at, expires_at, last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(select(API_KEY_COLUMNS, "api_keys", "WHERE secret_hash = $1"))
            .bind(secret_hash)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(api_key_from_row))
    }

    async fn list_api_keys(&self, project_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(select(
            API_KEY_COLUMNS,
            "api_keys",
            "WHERE $1 IS NULL OR project_id = $1 ORDER BY created_at, id",
        ))
        .bind(project_id)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(api_key_from_row).collect())
    }

    async fn revoke_api_key(&self, id: &str, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, now: Millis) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 60000)",
        )
        .bind(id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_threads(&self, query: &ThreadListQuery) -> StoreResult<Vec<Thread>> {
        let workspace_filter = if query.workspace_id.is_some() { "AND workspace_id = $2" } else { "AND $2 IS NULL" };
        let cursor = match &query.after {
            None => None,
            Some(after) => {
                let found: Option<(i64, String)> = sqlx::query_as(select(
                    "last_message_at, id",
                    "threads",
                    &format!("WHERE id = $1 AND project_id = $3 {workspace_filter}"),
                ))
                .bind(after)
                .bind(&query.workspace_id)
                .bind(&query.project_id)
                .fetch_optional(&self.readers)
                .await?;
                // An unknown cursor ends the listing: an empty page is the clean stop for every client.
                match found {
                    Some(position) => Some(position),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let (cursor_at, cursor_id) = cursor.unzip();
        let rows: Vec<ThreadRow> = sqlx::query_as(select(
            THREAD_COLUMNS,
            "threads",
            &format!(
                "WHERE project_id = $1 {workspace_filter} AND is_archived = $3 \
                 AND ($4 IS NULL OR (last_message_at, id) < ($4, $5)) \
                 ORDER BY last_message_at DESC, id DESC LIMIT $6"
            ),
        ))
        .bind(&query.project_id)
        .bind(&query.workspace_id)
        .bind(query.archived)
        .bind(cursor_at)
        .bind(cursor_id)
        .bind(i64::from(query.limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(thread_from_row).collect())
    }

    async fn get_thread(&self, scope: &ReadScope, id: &str) -> StoreResult<Option<Thread>> {
        let row: Option<ThreadRow> = sqlx::query_as(select(
            THREAD_COLUMNS,
            "threads",
            "WHERE id = $1 AND project_id = $2 AND ($3 IS NULL OR workspace_id = $3)",
        ))
        .bind(id)
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(thread_from_row))
    }

    async fn create_thread(&self, thread: &NewThread) -> StoreResult<(String, bool)> {
        let mut tx = self.write().await?;
        if thread.upsert
            && let Some(external_id) = &thread.external_id
        {
            // Upserts of one external id in one workspace wait for each other.
            if let Some(lock) = $dialect.key_lock {
                let key = format!("{}/{}/{}", thread.scope.project_id, thread.scope.workspace_id, external_id);
                sqlx::query(lock).bind(key).execute(&mut *tx).await?;
            }
            let existing: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM threads WHERE project_id = $1 AND workspace_id = $2 AND external_id = $3 ORDER BY created_at, id LIMIT 1",
            )
            .bind(&thread.scope.project_id)
            .bind(&thread.scope.workspace_id)
            .bind(external_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = existing {
                tx.commit().await?;
                return Ok((id, false));
            }
        }
        sqlx::query(
            "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, is_archived, last_message_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9, $9)",
        )
        .bind(&thread.id)
        .bind(&thread.scope.project_id)
        .bind(&thread.scope.workspace_id)
        .bind(&thread.title)
        .bind(thread.title.is_some())
        .bind(&thread.metadata)
        .bind(&thread.external_id)
        .bind(thread.last_message_at)
        .bind(thread.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((thread.id.clone(), true))
    }

    async fn update_thread(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        patch: &ThreadPatch,
        now: Millis,
    ) -> StoreResult<()> {
        // Each present field gets its own flag so one static statement covers every patch.
        let done = sqlx::query(
            "UPDATE threads SET \
               title = CASE WHEN $4 THEN $5 ELSE title END, \
               title_from_user = CASE WHEN $4 THEN $5 IS NOT NULL ELSE title_from_user END, \
               metadata = CASE WHEN $6 THEN $7 ELSE metadata END, \
               is_archived = COALESCE($8, is_archived), \
               last_message_at = COALESCE($9, last_message_at), \
               updated_at = $10 \
             WHERE id = $1 AND project_id = $2 AND workspace_id = $3",
        )
        .bind(id)
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(patch.title.is_some())
        .bind(patch.title.clone().flatten())
        .bind(patch.metadata.is_some())
        .bind(patch.metadata.clone().flatten())
        .bind(patch.is_archived)
        .bind(patch.last_message_at)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ThreadNotFound);
        }
        Ok(())
    }

    async fn delete_thread(&self, scope: &WorkspaceScope, id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, id).await?;
        let keys = remove_threads(&mut tx, &[id.to_owned()]).await?;
        tx.commit().await?;
        Ok(keys)
    }

    async fn erase_user(&self, project_id: &str, user_id: &str) -> StoreResult<Erasure> {
        let mut tx = self.write().await?;
        let threads: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM threads WHERE project_id = $1 AND workspace_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        let threads: Vec<String> = threads.into_iter().map(|(id,)| id).collect();
        let mut attachment_keys = remove_threads(&mut tx, &threads).await?;
        let unlinked: Vec<(String,)> =
            sqlx::query_as("DELETE FROM attachments WHERE project_id = $1 AND workspace_id = $2 RETURNING key")
                .bind(project_id)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        attachment_keys.extend(unlinked.into_iter().map(|(key,)| key));
        for statement in [
            "DELETE FROM feedback WHERE user_id = $2 AND message_id IN \
               (SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.project_id = $1)",
            "DELETE FROM telemetry WHERE project_id = $1 AND (user_id = $2 OR workspace_id = $2)",
            "DELETE FROM scores WHERE project_id = $1 AND (author = $2 OR workspace_id = $2)",
            "DELETE FROM anonymous_sessions WHERE project_id = $1 AND user_id = $2",
        ] {
            sqlx::query(statement).bind(project_id).bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Erasure { threads: threads.len() as u64, attachment_keys })
    }

    async fn purge_threads_before(&self, before: Millis, limit: u32) -> StoreResult<Erasure> {
        let mut tx = self.write().await?;
        let threads: Vec<(String,)> = sqlx::query_as("SELECT id FROM threads WHERE last_message_at < $1 LIMIT $2")
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let threads: Vec<String> = threads.into_iter().map(|(id,)| id).collect();
        let attachment_keys = remove_threads(&mut tx, &threads).await?;
        tx.commit().await?;
        Ok(Erasure { threads: threads.len() as u64, attachment_keys })
    }

    async fn set_auto_title(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        title: Option<&str>,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.write().await?;
        let current: Option<(Option<String>,)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT title FROM threads WHERE id = $1 AND project_id = $2 AND workspace_id = $3{}",
                $dialect.lock_rows
            )))
                .bind(id)
                .bind(&scope.project_id)
                .bind(&scope.workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((current,)) = current else {
            return Err(StoreError::ThreadNotFound);
        };
        if current.is_some() || title.is_none() {
            return Ok(current);
        }
        sqlx::query("UPDATE threads SET title = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(title)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(title.map(str::to_owned))
    }

    async fn list_messages(
        &self,
        scope: &ReadScope,
        thread_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        if self.get_thread(scope, thread_id).await?.is_none() {
            return Ok(Vec::new());
        }
        let cursor = match after {
            None => None,
            Some(after) => {
                let found: Option<(i64, i64, String)> =
                    sqlx::query_as("SELECT height, created_at, id FROM messages WHERE id = $1 AND thread_id = $2")
                        .bind(after)
                        .bind(thread_id)
                        .fetch_optional(&self.readers)
                        .await?;
                match found {
                    Some(position) => Some(position),
                    // An unknown cursor ends the listing (a 400 would break the client's load()).
                    None => return Ok(Vec::new()),
                }
            }
        };
        let (height, created_at, id) = match cursor {
            Some((h, c, i)) => (Some(h), Some(c), Some(i)),
            None => (None, None, None),
        };
        let rows: Vec<MessageRow> = sqlx::query_as(select(
            MESSAGE_COLUMNS,
            "messages",
            "WHERE thread_id = $1 AND ($2 IS NULL OR (height, created_at, id) < ($2, $3, $4)) \
             ORDER BY height DESC, created_at DESC, id DESC LIMIT $5",
        ))
        .bind(thread_id)
        .bind(height)
        .bind(created_at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(message_from_row).collect())
    }

    async fn create_message(&self, scope: &WorkspaceScope, message: &NewMessage) -> StoreResult<MessageWrite> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, &message.thread_id).await?;

        let existing = match &message.external_id {
            Some(external_id) => message_by_external_id(&mut tx, &message.thread_id, external_id).await?,
            None => None,
        };
        if let Some(id) = existing {
            let (format, content, running): (String, String, Option<bool>) =
                sqlx::query_as("SELECT format, content, run_running FROM messages WHERE id = $1")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            if message.open_lease.is_some() && running == Some(true) {
                return Err(StoreError::RunInProgress);
            }
            let unchanged = format == message.format && content == message.content;
            if !unchanged {
                if role_of(&content) != message.role {
                    return Err(StoreError::RoleChanged);
                }
                sqlx::query("UPDATE messages SET format = $2, content = $3, updated_at = $4 WHERE id = $1")
                    .bind(&id)
                    .bind(&message.format)
                    .bind(&message.content)
                    .bind(message.now)
                    .execute(&mut *tx)
                    .await?;
                bump_thread(&mut tx, &message.thread_id, message.now).await?;
            }
            if let Some(lease_id) = &message.open_lease {
                open_lease(&mut tx, lease_id, &id, &message.thread_id, message.now).await?;
            }
            tx.commit().await?;
            return Ok(if unchanged { MessageWrite::Unchanged(id) } else { MessageWrite::Replaced(id) });
        }

        let parent: Option<(String, i64)> = match &message.parent {
            ParentRef::Root => None,
            ParentRef::Id(id) => Some(
                sqlx::query_as("SELECT id, height FROM messages WHERE id = $1 AND thread_id = $2")
                    .bind(id)
                    .bind(&message.thread_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::ParentNotFound)?,
            ),
            ParentRef::External(external_id) => {
                let id = message_by_external_id(&mut tx, &message.thread_id, external_id)
                    .await?
                    .ok_or(StoreError::ParentExternalNotFound)?;
                Some(
                    sqlx::query_as("SELECT id, height FROM messages WHERE id = $1")
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?,
                )
            }
        };
        let (parent_id, height) = match parent {
            Some((id, height)) => (Some(id), height + 1),
            None => (None, 0),
        };
        sqlx::query(
            "INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&message.id)
        .bind(&message.thread_id)
        .bind(parent_id)
        .bind(height)
        .bind(&message.format)
        .bind(&message.content)
        .bind(&message.external_id)
        .bind(message.now)
        .execute(&mut *tx)
        .await?;
        bump_thread(&mut tx, &message.thread_id, message.now).await?;
        if let Some(title) = &message.auto_title {
            sqlx::query("UPDATE threads SET title = $2 WHERE id = $1 AND title IS NULL")
                .bind(&message.thread_id)
                .bind(title)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(lease_id) = &message.open_lease {
            open_lease(&mut tx, lease_id, &message.id, &message.thread_id, message.now).await?;
        }
        tx.commit().await?;
        Ok(MessageWrite::Created(message.id.clone()))
    }

    async fn update_message_content(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        content: &str,
        now: Millis,
        policy: LeasePolicy,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, thread_id).await?;
        let found: Option<(Option<bool>, Option<i64>)> =
            sqlx::query_as("SELECT run_running, run_heartbeat_at FROM messages WHERE id = $1 AND thread_id = $2")
                .bind(message_id)
                .bind(thread_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (running, heartbeat_at) = found.ok_or(StoreError::MessageNotFound)?;
        let run = running.zip(heartbeat_at).map(|(running, last_heartbeat_at)| RunState { running, last_heartbeat_at });
        match plain_write(run, now, policy) {
            PlainWrite::Allowed => {}
            PlainWrite::Refused => return Err(StoreError::RunInProgress),
            PlainWrite::EndsAbandonedLease => close_lease(&mut tx, message_id, ABANDONED, now).await?,
        }
        write_content(&mut tx, thread_id, message_id, content, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_as_lease_holder(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        target: &LeaseTarget,
        lease_id: &str,
        content: &str,
        now: Millis,
    ) -> StoreResult<String> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, thread_id).await?;
        let (lease_message, running) = lease_in_thread(&mut tx, thread_id, lease_id).await?;
        let message_id = match target {
            LeaseTarget::Id(id) => id.clone(),
            LeaseTarget::External(external_id) => {
                let found: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM messages WHERE thread_id = $1 AND external_id = $2")
                        .bind(thread_id)
                        .bind(external_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                found.ok_or(StoreError::LeaseMismatch)?.0
            }
        };
        if message_id != lease_message {
            return Err(StoreError::LeaseMismatch);
        }
        if !running {
            return Err(StoreError::RunEnded);
        }
        // A holder's write counts as a beat.
        write_content(&mut tx, thread_id, &message_id, content, now).await?;
        renew_lease(&mut tx, lease_id, &message_id, now).await?;
        tx.commit().await?;
        Ok(message_id)
    }

    async fn get_run_lease(&self, lease_id: &str) -> StoreResult<Option<RunLease>> {
        let row: Option<(String, String, bool, Option<String>, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, message_id, running, end_reason, created_at, last_heartbeat_at, ended_at FROM run_leases WHERE id = $1",
        )
        .bind(lease_id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(|r| RunLease {
            id: r.0,
            message_id: r.1,
            running: r.2,
            end_reason: r.3,
            created_at: r.4,
            last_heartbeat_at: r.5,
            ended_at: r.6,
        }))
    }

    async fn heartbeat_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        lease_thread_in_scope(&mut tx, scope, thread_id).await?;
        let (message_id, running) = lease_in_thread(&mut tx, thread_id, lease_id).await?;
        if !running {
            return Err(StoreError::RunEnded);
        }
        renew_lease(&mut tx, lease_id, &message_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_run(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        lease_id: &str,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        lease_thread_in_scope(&mut tx, scope, thread_id).await?;
        let (message_id, running) = lease_in_thread(&mut tx, thread_id, lease_id).await?;
        // A message has at most one running lease, so this closes exactly this one.
        if running {
            close_lease(&mut tx, &message_id, reason, now).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn delete_messages(&self, scope: &WorkspaceScope, thread_id: &str, ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, thread_id).await?;
        let ids_json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let (named,): (i64,) = sqlx::query_as(
            sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM messages WHERE thread_id = $1 AND id IN ({})",
                ($dialect.json_strings)("$2")
            )),
        )
        .bind(thread_id)
        .bind(&ids_json)
        .fetch_one(&mut *tx)
        .await?;
        // The named messages and every descendant, found by walking parent links.
        let doomed = format!(
            "WITH RECURSIVE doomed(id) AS ( \
               SELECT id FROM messages WHERE thread_id = $1 AND id IN ({}) \
               UNION SELECT m.id FROM messages m JOIN doomed d ON m.parent_id = d.id) ",
            ($dialect.json_strings)("$2")
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{doomed} DELETE FROM feedback WHERE message_id IN (SELECT id FROM doomed)"
        )))
        .bind(thread_id)
        .bind(&ids_json)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("{doomed} DELETE FROM messages WHERE id IN (SELECT id FROM doomed)")))
            .bind(thread_id)
            .bind(&ids_json)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(u64::try_from(named).unwrap_or(0))
    }

    async fn upsert_feedback(
        &self,
        scope: &WorkspaceScope,
        thread_id: &str,
        message_id: &str,
        user_id: &str,
        kind: FeedbackKind,
        comment: Option<&str>,
        now: Millis,
    ) -> StoreResult<Feedback> {
        let mut tx = self.write().await?;
        thread_in_scope(&mut tx, scope, thread_id).await?;
        let message: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE id = $1 AND thread_id = $2",
            $dialect.one
        )))
            .bind(message_id)
            .bind(thread_id)
            .fetch_optional(&mut *tx)
            .await?;
        if message.is_none() {
            return Err(StoreError::MessageNotFound);
        }
        // Same rating without a comment keeps the stored comment; a new rating without one clears it.
        let (id, stored_kind, stored_comment): (String, String, Option<String>) = sqlx::query_as(
            "INSERT INTO feedback (id, message_id, user_id, kind, comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (message_id, user_id) DO UPDATE SET \
               comment = CASE WHEN excluded.comment IS NOT NULL THEN excluded.comment \
                              WHEN feedback.kind = excluded.kind THEN feedback.comment ELSE NULL END, \
               kind = excluded.kind, updated_at = excluded.updated_at \
             RETURNING id, kind, comment",
        )
        .bind(new_id(IdKind::Feedback))
        .bind(message_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(comment)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let kind = if stored_kind == "negative" { FeedbackKind::Negative } else { FeedbackKind::Positive };
        Ok(Feedback { id, kind, comment: stored_comment })
    }

    async fn create_anonymous_session(&self, session: &AnonymousSession, token_hash: &str) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO anonymous_sessions (id, project_id, user_id, created_at, last_used_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(&session.id)
        .bind(&session.project_id)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_refresh_token(&mut tx, token_hash, &session.id, None, session.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn refresh_anonymous_session(
        &self,
        project_id: &str,
        token_hash: &str,
        new_token_hash: &str,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.write().await?;
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TOKEN_JOIN}{}", $dialect.lock_session))).bind(token_hash).fetch_optional(&mut *tx).await?;
        let Some(row) = row.filter(|row| row.1 == project_id) else {
            return Ok(RefreshOutcome::Refused(RefreshRefusal::Unknown));
        };
        let refusal = match judge(token_state(&row), now, policy) {
            Verdict::Rotate | Verdict::ReuseInGrace => None,
            Verdict::Expired => Some(RefreshRefusal::Expired),
            Verdict::Revoked => Some(RefreshRefusal::Revoked),
            Verdict::ReuseDetected => {
                sqlx::query("UPDATE anonymous_sessions SET revoked_at = $2 WHERE id = $1")
                    .bind(&row.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Refused(RefreshRefusal::Reused));
            }
        };
        if let Some(refusal) = refusal {
            return Ok(RefreshOutcome::Refused(refusal));
        }
        // The presented token keeps its first rotation time, so the grace window never extends.
        sqlx::query("UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, $2) WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_refresh_token(&mut tx, new_token_hash, &row.0, Some(token_hash), now).await?;
        let expires_at = now + policy.ttl_ms;
        sqlx::query("UPDATE anonymous_sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1")
            .bind(&row.0)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Refreshed(AnonymousSession {
            id: row.0,
            project_id: row.1,
            user_id: row.2,
            created_at: row.3,
            expires_at,
        }))
    }

    async fn claim_anonymous_threads(
        &self,
        token_hash: &str,
        target: &WorkspaceScope,
        now: Millis,
        policy: RefreshPolicy,
    ) -> StoreResult<ClaimOutcome> {
        let mut tx = self.write().await?;
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TOKEN_JOIN}{}", $dialect.lock_session))).bind(token_hash).fetch_optional(&mut *tx).await?;
        let Some(row) = row.filter(|row| row.1 == target.project_id) else {
            return Ok(ClaimOutcome::Refused(RefreshRefusal::Unknown));
        };
        let state = token_state(&row);
        if state.session_claimed || row.2 == target.workspace_id {
            return Ok(ClaimOutcome::Moved(0));
        }
        match judge(state, now, policy) {
            Verdict::Rotate | Verdict::ReuseInGrace => {}
            Verdict::Expired => return Ok(ClaimOutcome::Refused(RefreshRefusal::Expired)),
            Verdict::Revoked | Verdict::ReuseDetected => return Ok(ClaimOutcome::Refused(RefreshRefusal::Revoked)),
        }
        let moved = sqlx::query(
            "UPDATE threads SET workspace_id = $3, updated_at = $4 WHERE project_id = $1 AND workspace_id = $2",
        )
        .bind(&target.project_id)
        .bind(&row.2)
        .bind(&target.workspace_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE attachments SET workspace_id = $3 WHERE project_id = $1 AND workspace_id = $2")
            .bind(&target.project_id)
            .bind(&row.2)
            .bind(&target.workspace_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE anonymous_sessions SET claimed_at = $2 WHERE id = $1")
            .bind(&row.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Moved(moved))
    }

    async fn collect_anonymous_garbage(&self, idle_before: Millis, rotated_before: Millis) -> StoreResult<(u64, u64)> {
        let mut tx = self.write().await?;
        let sessions = sqlx::query(
            "DELETE FROM anonymous_sessions WHERE last_used_at < $1 AND NOT EXISTS \
               (SELECT 1 FROM threads t WHERE t.project_id = anonymous_sessions.project_id AND t.workspace_id = anonymous_sessions.user_id)",
        )
        .bind(idle_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE rotated_at < $1")
            .bind(rotated_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((sessions, tokens))
    }

    async fn insert_attachment(&self, a: &Attachment) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO attachments (key, project_id, workspace_id, filename, content_type, size, complete, thread_id, created_at, upload_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&a.key)
        .bind(&a.scope.project_id)
        .bind(&a.scope.workspace_id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(a.complete)
        .bind(&a.thread_id)
        .bind(a.created_at)
        .bind(a.upload_expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_attachment(&self, key: &str) -> StoreResult<Option<Attachment>> {
        let row: Option<AttachmentRow> = sqlx::query_as(select(ATTACHMENT_COLUMNS, "attachments", "WHERE key = $1"))
            .bind(key)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(attachment_from_row))
    }

    async fn complete_attachment(&self, key: &str, size: i64, content_type: &str) -> StoreResult<()> {
        sqlx::query("UPDATE attachments SET complete = TRUE, size = $2, content_type = $3 WHERE key = $1")
            .bind(key)
            .bind(size)
            .bind(content_type)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn link_attachments(&self, scope: &WorkspaceScope, thread_id: &str, keys: &[String]) -> StoreResult<()> {
        let keys_json = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE attachments SET thread_id = $3 WHERE project_id = $1 AND workspace_id = $2 \
             AND key IN ({})",
            ($dialect.json_strings)("$4")
        )))
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(thread_id)
        .bind(keys_json)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn expired_uploads(&self, before: Millis) -> StoreResult<Vec<Attachment>> {
        let rows: Vec<AttachmentRow> = sqlx::query_as(select(
            ATTACHMENT_COLUMNS,
            "attachments",
            "WHERE NOT complete AND upload_expires_at < $1 ORDER BY upload_expires_at LIMIT 500",
        ))
        .bind(before)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(attachment_from_row).collect())
    }

    async fn delete_attachment(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM attachments WHERE key = $1").bind(key).execute(&self.writer).await?;
        Ok(())
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: Millis) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.writer)
        .await?;
        let (value,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
        Ok(value)
    }

    async fn insert_auth_rule(&self, rule: &AuthRule) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO auth_rules ({AUTH_RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_auth_rules(&self, project_id: Option<&str>) -> StoreResult<Vec<AuthRule>> {
        let rows = sqlx::query(select(
            AUTH_RULE_COLUMNS,
            "auth_rules",
            "WHERE $1 IS NULL OR project_id = $1 ORDER BY created_at, id",
        ))
        .bind(project_id)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.iter().map(auth_rule_from_row).collect::<Result<_, _>>()?)
    }

    async fn delete_auth_rule(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM auth_rules WHERE id = $1").bind(id).execute(&self.writer).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn search_titles(&self, scope: &WorkspaceScope, needle: &str, limit: u32) -> StoreResult<Vec<Thread>> {
        let rows: Vec<ThreadRow> = sqlx::query_as(select(
            THREAD_COLUMNS,
            "threads",
            "WHERE project_id = $1 AND workspace_id = $2 AND LOWER(title) LIKE $3 ESCAPE '\\' \
             ORDER BY last_message_at DESC, id DESC LIMIT $4",
        ))
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(like_pattern(needle))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(thread_from_row).collect())
    }

    async fn search_messages(&self, scope: &WorkspaceScope, needle: &str, limit: u32) -> StoreResult<Vec<Message>> {
        let columns = MESSAGE_COLUMNS.split(", ").map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ");
        let rows: Vec<MessageRow> = sqlx::query_as(select(
            &columns,
            "messages m JOIN threads t ON t.id = m.thread_id",
            "WHERE t.project_id = $1 AND t.workspace_id = $2 AND LOWER(m.content) LIKE $3 ESCAPE '\\' \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $4",
        ))
        .bind(&scope.project_id)
        .bind(&scope.workspace_id)
        .bind(like_pattern(needle))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(message_from_row).collect())
    }

    async fn import_thread(&self, thread: &Thread) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO threads (id, project_id, workspace_id, title, title_from_user, metadata, external_id, is_archived, last_message_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&thread.id)
        .bind(&thread.project_id)
        .bind(&thread.workspace_id)
        .bind(&thread.title)
        .bind(thread.title_from_user)
        .bind(&thread.metadata)
        .bind(&thread.external_id)
        .bind(thread.is_archived)
        .bind(thread.last_message_at)
        .bind(thread.created_at)
        .bind(thread.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn import_message(&self, message: &Message) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&message.id)
        .bind(&message.thread_id)
        .bind(&message.parent_id)
        .bind(message.height)
        .bind(&message.format)
        .bind(&message.content)
        .bind(&message.external_id)
        .bind(message.created_at)
        .bind(message.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_telemetry(&self, record_type: &str, records: &[TelemetryRecord]) -> StoreResult<()> {
        let mut tx = self.write().await?;
        for record in records {
            sqlx::query(
                "INSERT INTO telemetry (id, record_type, project_id, workspace_id, user_id, thread_id, kind, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&record.id)
            .bind(record_type)
            .bind(&record.scope.project_id)
            .bind(&record.scope.workspace_id)
            .bind(&record.user_id)
            .bind(&record.thread_id)
            .bind(&record.kind)
            .bind(&record.body)
            .bind(record.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_score(&self, score: &Score) -> StoreResult<String> {
        let mut tx = self.write().await?;
        let (target_type, target_id, thread_id) = match &score.target {
            ScoreTarget::Message { thread_id, message_id } => ("message", message_id.as_str(), Some(thread_id)),
            ScoreTarget::Run(run_id) => ("run", run_id.as_str(), None),
            ScoreTarget::Thread(thread_id) => ("thread", thread_id.as_str(), Some(thread_id)),
        };
        if let Some(thread_id) = thread_id {
            thread_in_scope(&mut tx, &score.scope, thread_id).await?;
        }
        if let ScoreTarget::Message { thread_id, message_id } = &score.target {
            let found: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE id = $1 AND thread_id = $2",
            $dialect.one
        )))
                .bind(message_id)
                .bind(thread_id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::MessageNotFound);
            }
        }
        let (id,): (String,) = sqlx::query_as(
            "INSERT INTO scores (id, project_id, workspace_id, author, target_type, target_id, thread_id, name, data_type, value, string_value, comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
             ON CONFLICT (project_id, target_type, target_id, author, name) DO UPDATE SET \
               data_type = excluded.data_type, value = excluded.value, string_value = excluded.string_value, \
               comment = excluded.comment, updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(&score.id)
        .bind(&score.scope.project_id)
        .bind(&score.scope.workspace_id)
        .bind(&score.author)
        .bind(target_type)
        .bind(target_id)
        .bind(thread_id)
        .bind(&score.name)
        .bind(score.data_type.as_str())
        .bind(score.value)
        .bind(&score.string_value)
        .bind(&score.comment)
        .bind(score.now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

    };
}

pub(crate) use sql_store;
