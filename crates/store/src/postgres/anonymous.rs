//! Anonymous sessions: refresh-token families that rotate on every use, claims,
//! and the collection of identities nobody uses. The session row is locked
//! while a token is judged, so two tabs (or two nodes) cannot fork a family.

use sqlx::PgConnection;
use threadhold_domain::Millis;
use threadhold_domain::model::{AnonymousSession, ClaimOutcome, RefreshOutcome, RefreshRefusal, WorkspaceScope};
use threadhold_domain::refresh::{RefreshPolicy, TokenState, Verdict, judge};

use crate::StoreResult;

/// A presented refresh token joined with its session.
struct PresentedToken {
    session_id: String,
    project_id: String,
    user_id: String,
    created_at: Millis,
    state: TokenState,
}

type TokenRow = (String, String, String, i64, i64, Option<i64>, Option<i64>, Option<i64>);

async fn presented(c: &mut PgConnection, token_hash: &str) -> StoreResult<Option<PresentedToken>> {
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT s.id, s.project_id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.claimed_at, t.rotated_at \
         FROM refresh_tokens t JOIN anonymous_sessions s ON s.id = t.session_id WHERE t.token_hash = $1 FOR UPDATE OF s",
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?;
    Ok(row.map(|(session_id, project_id, user_id, created_at, expires_at, revoked_at, claimed_at, rotated_at)| {
        PresentedToken {
            session_id,
            project_id,
            user_id,
            created_at,
            state: TokenState {
                rotated_at,
                session_expires_at: expires_at,
                session_revoked: revoked_at.is_some(),
                session_claimed: claimed_at.is_some(),
            },
        }
    }))
}

async fn insert_token(
    c: &mut PgConnection,
    hash: &str,
    session_id: &str,
    parent: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, parent_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(session_id)
        .bind(parent)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

pub(super) async fn create(c: &mut PgConnection, session: &AnonymousSession, token_hash: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO anonymous_sessions (id, project_id, user_id, created_at, last_used_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(&session.id)
    .bind(&session.project_id)
    .bind(&session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(&mut *c)
    .await?;
    insert_token(c, token_hash, &session.id, None, session.created_at).await
}

/// Exchanges a refresh token following [`judge`]. A reuse outside the grace
/// window revokes the session; that revocation is part of the (committed) result.
pub(super) async fn refresh(
    c: &mut PgConnection,
    project_id: &str,
    token_hash: &str,
    new_token_hash: &str,
    now: Millis,
    policy: RefreshPolicy,
) -> StoreResult<RefreshOutcome> {
    let Some(token) = presented(c, token_hash).await?.filter(|token| token.project_id == project_id) else {
        return Ok(RefreshOutcome::Refused(RefreshRefusal::Unknown));
    };
    match judge(token.state, now, policy) {
        Verdict::Rotate | Verdict::ReuseInGrace => {}
        Verdict::Expired => return Ok(RefreshOutcome::Refused(RefreshRefusal::Expired)),
        Verdict::Revoked => return Ok(RefreshOutcome::Refused(RefreshRefusal::Revoked)),
        Verdict::ReuseDetected => {
            sqlx::query("UPDATE anonymous_sessions SET revoked_at = $2 WHERE id = $1")
                .bind(&token.session_id)
                .bind(now)
                .execute(c)
                .await?;
            return Ok(RefreshOutcome::Refused(RefreshRefusal::Reused));
        }
    }
    // The presented token keeps its first rotation time, so the grace window never extends.
    sqlx::query("UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, $2) WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(&mut *c)
        .await?;
    insert_token(c, new_token_hash, &token.session_id, Some(token_hash), now).await?;
    let expires_at = now + policy.ttl_ms;
    sqlx::query("UPDATE anonymous_sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1")
        .bind(&token.session_id)
        .bind(now)
        .bind(expires_at)
        .execute(c)
        .await?;
    Ok(RefreshOutcome::Refreshed(AnonymousSession {
        id: token.session_id,
        project_id: token.project_id,
        user_id: token.user_id,
        created_at: token.created_at,
        expires_at,
    }))
}

/// Moves the identity's threads (and attachment records) into `target` and closes its session.
pub(super) async fn claim(
    c: &mut PgConnection,
    token_hash: &str,
    target: &WorkspaceScope,
    now: Millis,
    policy: RefreshPolicy,
) -> StoreResult<ClaimOutcome> {
    let Some(token) = presented(c, token_hash).await?.filter(|token| token.project_id == target.project_id) else {
        return Ok(ClaimOutcome::Refused(RefreshRefusal::Unknown));
    };
    if token.state.session_claimed || token.user_id == target.workspace_id {
        return Ok(ClaimOutcome::Moved(0));
    }
    match judge(token.state, now, policy) {
        Verdict::Rotate | Verdict::ReuseInGrace => {}
        Verdict::Expired => return Ok(ClaimOutcome::Refused(RefreshRefusal::Expired)),
        Verdict::Revoked | Verdict::ReuseDetected => return Ok(ClaimOutcome::Refused(RefreshRefusal::Revoked)),
    }
    let moved = sqlx::query(
        "UPDATE threads SET workspace_id = $3, updated_at = $4 WHERE project_id = $1 AND workspace_id = $2",
    )
    .bind(&target.project_id)
    .bind(&token.user_id)
    .bind(&target.workspace_id)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    sqlx::query("UPDATE attachments SET workspace_id = $3 WHERE project_id = $1 AND workspace_id = $2")
        .bind(&target.project_id)
        .bind(&token.user_id)
        .bind(&target.workspace_id)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE anonymous_sessions SET claimed_at = $2 WHERE id = $1")
        .bind(&token.session_id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(ClaimOutcome::Moved(moved))
}

pub(super) async fn collect_garbage(
    c: &mut PgConnection,
    idle_before: Millis,
    rotated_before: Millis,
) -> StoreResult<(u64, u64)> {
    let sessions = sqlx::query(
        "DELETE FROM anonymous_sessions WHERE last_used_at < $1 AND NOT EXISTS \
           (SELECT 1 FROM threads t WHERE t.project_id = anonymous_sessions.project_id \
            AND t.workspace_id = anonymous_sessions.user_id)",
    )
    .bind(idle_before)
    .execute(&mut *c)
    .await?
    .rows_affected();
    let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE rotated_at < $1")
        .bind(rotated_before)
        .execute(c)
        .await?
        .rows_affected();
    Ok((sessions, tokens))
}
