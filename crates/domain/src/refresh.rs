//! The refresh-token state machine of anonymous sessions (modelled on
//! GoTrue's token families, storing only hashes).
//!
//! Every refresh rotates: the presented token is marked rotated and a child
//! is issued. A rotated token presented again within the grace window gets a
//! new child too (two tabs racing, or a lost response), so the identity
//! survives; presented after the window, it revokes the whole family, since
//! someone is replaying an old token. Each use slides the session's expiry.

use crate::Millis;

/// Tunables of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// How long a rotated token may still be used.
    pub grace_ms: Millis,
    /// Session lifetime after each use (sliding).
    pub ttl_ms: Millis,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy { grace_ms: 10_000, ttl_ms: 30 * 86_400_000 }
    }
}

/// What the store knows about a presented token and its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenState {
    pub rotated_at: Option<Millis>,
    pub session_expires_at: Millis,
    pub session_revoked: bool,
    pub session_claimed: bool,
}

/// The decision for one presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The current token: rotate it.
    Rotate,
    /// Rotated moments ago: issue another child, keep the family.
    ReuseInGrace,
    /// Rotated long ago: revoke the family.
    ReuseDetected,
    /// The session outlived its (sliding) lifetime.
    Expired,
    /// The family was revoked, or its threads claimed.
    Revoked,
}

pub fn judge(state: TokenState, now: Millis, policy: RefreshPolicy) -> Verdict {
    if state.session_revoked || state.session_claimed {
        return Verdict::Revoked;
    }
    if now >= state.session_expires_at {
        return Verdict::Expired;
    }
    match state.rotated_at {
        None => Verdict::Rotate,
        Some(rotated_at) if now - rotated_at <= policy.grace_ms => Verdict::ReuseInGrace,
        Some(_) => Verdict::ReuseDetected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RefreshPolicy = RefreshPolicy { grace_ms: 10_000, ttl_ms: 1_000_000 };

    fn state(rotated_at: Option<Millis>) -> TokenState {
        TokenState { rotated_at, session_expires_at: 1_000_000, session_revoked: false, session_claimed: false }
    }

    #[test]
    fn current_tokens_rotate() {
        assert_eq!(judge(state(None), 5_000, POLICY), Verdict::Rotate);
    }

    #[test]
    fn reuse_inside_and_outside_the_grace_window() {
        assert_eq!(judge(state(Some(100_000)), 100_000, POLICY), Verdict::ReuseInGrace);
        assert_eq!(judge(state(Some(100_000)), 110_000, POLICY), Verdict::ReuseInGrace);
        assert_eq!(judge(state(Some(100_000)), 110_001, POLICY), Verdict::ReuseDetected);
    }

    #[test]
    fn expiry_and_revocation_win() {
        let expired = TokenState { session_expires_at: 5_000, ..state(None) };
        assert_eq!(judge(expired, 5_000, POLICY), Verdict::Expired);
        let revoked = TokenState { session_revoked: true, ..state(None) };
        assert_eq!(judge(revoked, 1, POLICY), Verdict::Revoked);
        let claimed = TokenState { session_claimed: true, ..state(Some(1)) };
        assert_eq!(judge(claimed, 2, POLICY), Verdict::Revoked);
    }

    #[test]
    fn zero_grace_means_any_reuse_revokes() {
        let strict = RefreshPolicy { grace_ms: 0, ..POLICY };
        assert_eq!(judge(state(Some(10)), 10, strict), Verdict::ReuseInGrace);
        assert_eq!(judge(state(Some(10)), 11, strict), Verdict::ReuseDetected);
    }
}
