//! Anonymous sessions: refresh-token families that rotate on every use, claims,
//! and the collection of identities nobody uses. The single writer serializes
//! every refresh, so two tabs refreshing at once cannot fork a family.

use rusqlite::{Connection, OptionalExtension, params};
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

fn presented(c: &Connection, token_hash: &str) -> StoreResult<Option<PresentedToken>> {
    Ok(c.prepare_cached(
        "SELECT s.id, s.project_id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.claimed_at, t.rotated_at \
         FROM refresh_tokens t JOIN anonymous_sessions s ON s.id = t.session_id WHERE t.token_hash = ?1",
    )?
    .query_row([token_hash], |row| {
        Ok(PresentedToken {
            session_id: row.get(0)?,
            project_id: row.get(1)?,
            user_id: row.get(2)?,
            created_at: row.get(3)?,
            state: TokenState {
                session_expires_at: row.get(4)?,
                session_revoked: row.get::<_, Option<i64>>(5)?.is_some(),
                session_claimed: row.get::<_, Option<i64>>(6)?.is_some(),
                rotated_at: row.get(7)?,
            },
        })
    })
    .optional()?)
}

fn insert_token(c: &Connection, hash: &str, session_id: &str, parent: Option<&str>, now: Millis) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, session_id, parent_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, session_id, parent, now])?;
    Ok(())
}

pub(super) fn create(c: &Connection, session: &AnonymousSession, token_hash: &str) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO anonymous_sessions (id, project_id, user_id, created_at, last_used_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
    )?
    .execute(params![session.id, session.project_id, session.user_id, session.created_at, session.expires_at])?;
    insert_token(c, token_hash, &session.id, None, session.created_at)
}

/// Exchanges a refresh token following [`judge`]. A reuse outside the grace
/// window revokes the session; that revocation is part of the (committed) result.
pub(super) fn refresh(
    c: &Connection,
    project_id: &str,
    token_hash: &str,
    new_token_hash: &str,
    now: Millis,
    policy: RefreshPolicy,
) -> StoreResult<RefreshOutcome> {
    let Some(token) = presented(c, token_hash)?.filter(|token| token.project_id == project_id) else {
        return Ok(RefreshOutcome::Refused(RefreshRefusal::Unknown));
    };
    match judge(token.state, now, policy) {
        Verdict::Rotate | Verdict::ReuseInGrace => {}
        Verdict::Expired => return Ok(RefreshOutcome::Refused(RefreshRefusal::Expired)),
        Verdict::Revoked => return Ok(RefreshOutcome::Refused(RefreshRefusal::Revoked)),
        Verdict::ReuseDetected => {
            c.prepare_cached("UPDATE anonymous_sessions SET revoked_at = ?2 WHERE id = ?1")?
                .execute(params![token.session_id, now])?;
            return Ok(RefreshOutcome::Refused(RefreshRefusal::Reused));
        }
    }
    // The presented token keeps its first rotation time, so the grace window never extends.
    c.prepare_cached("UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, ?2) WHERE token_hash = ?1")?
        .execute(params![token_hash, now])?;
    insert_token(c, new_token_hash, &token.session_id, Some(token_hash), now)?;
    let expires_at = now + policy.ttl_ms;
    c.prepare_cached("UPDATE anonymous_sessions SET last_used_at = ?2, expires_at = ?3 WHERE id = ?1")?
        .execute(params![token.session_id, now, expires_at])?;
    Ok(RefreshOutcome::Refreshed(AnonymousSession {
        id: token.session_id,
        project_id: token.project_id,
        user_id: token.user_id,
        created_at: token.created_at,
        expires_at,
    }))
}

/// Moves the identity's threads (and attachment records) into `target` and closes its session.
pub(super) fn claim(
    c: &Connection,
    token_hash: &str,
    target: &WorkspaceScope,
    now: Millis,
    policy: RefreshPolicy,
) -> StoreResult<ClaimOutcome> {
    let Some(token) = presented(c, token_hash)?.filter(|token| token.project_id == target.project_id) else {
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
    let moved = c
        .prepare_cached(
            "UPDATE threads SET workspace_id = ?3, updated_at = ?4 WHERE project_id = ?1 AND workspace_id = ?2",
        )?
        .execute(params![target.project_id, token.user_id, target.workspace_id, now])?;
    c.prepare_cached("UPDATE attachments SET workspace_id = ?3 WHERE project_id = ?1 AND workspace_id = ?2")?
        .execute(params![target.project_id, token.user_id, target.workspace_id])?;
    c.prepare_cached("UPDATE anonymous_sessions SET claimed_at = ?2 WHERE id = ?1")?
        .execute(params![token.session_id, now])?;
    Ok(ClaimOutcome::Moved(moved as u64))
}

pub(super) fn collect_garbage(c: &Connection, idle_before: Millis, rotated_before: Millis) -> StoreResult<(u64, u64)> {
    let sessions = c
        .prepare_cached(
            "DELETE FROM anonymous_sessions WHERE last_used_at < ?1 AND NOT EXISTS \
               (SELECT 1 FROM threads t WHERE t.project_id = anonymous_sessions.project_id \
                AND t.workspace_id = anonymous_sessions.user_id)",
        )?
        .execute([idle_before])?;
    let tokens = c.prepare_cached("DELETE FROM refresh_tokens WHERE rotated_at < ?1")?.execute([rotated_before])?;
    Ok((sessions as u64, tokens as u64))
}
