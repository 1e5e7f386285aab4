//! Run leases: a live tab holds a lease on the assistant message it is
//! generating, heartbeats it, and ends it with its final write. Readers see
//! `run: {status, last_heartbeat_ms_ago}` and call a lease stale once its
//! heartbeat is older than their `staleAfter`. The server never expires a lease.
//!
//! Rules the contract leaves open (threadhold's choices, chosen so that a
//! reloading tab or a second tab stays correct):
//! - A plain write (no `lease_id`) to a message whose lease is running and
//!   fresh is refused with 409 `run_in_progress`: the live holder stays the
//!   only writer. Once the lease is stale its holder is presumed gone; the
//!   plain write is accepted and ends the lease (reason `abandoned`).
//! - Plain writes after the lease ended are always accepted.
//! - `open_run` on a message that already has a running lease (a repeated
//!   create under the same external id) is refused with 409 `run_in_progress`.
//! - A lease may be opened on a message of any role.
//! - Ending is idempotent and keeps the first reason; it has no other effect.

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// Returned to the holder as `heartbeat_interval_ms`; always positive.
    pub heartbeat_interval_ms: Millis,
    /// A running lease whose last beat is older than this may be closed by a plain write.
    pub stale_after_ms: Millis,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy { heartbeat_interval_ms: 10_000, stale_after_ms: 30_000 }
    }
}

/// A message's latest lease, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunState {
    pub running: bool,
    pub last_heartbeat_at: Millis,
}

/// A stored lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLease {
    pub id: String,
    pub message_id: String,
    pub running: bool,
    pub end_reason: Option<String>,
    pub created_at: Millis,
    pub last_heartbeat_at: Millis,
    pub ended_at: Option<Millis>,
}

/// What a plain write may do to a message with this run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainWrite {
    Allowed,
    /// Allowed, and the stale running lease is ended.
    EndsAbandonedLease,
    Refused,
}

pub fn plain_write(run: Option<RunState>, now: Millis, policy: LeasePolicy) -> PlainWrite {
    match run {
        Some(RunState { running: true, last_heartbeat_at }) => {
            if now - last_heartbeat_at >= policy.stale_after_ms {
                PlainWrite::EndsAbandonedLease
            } else {
                PlainWrite::Refused
            }
        }
        _ => PlainWrite::Allowed,
    }
}

/// Reasons a lease can end with.
pub const END_REASONS: [&str; 3] = ["done", "cancelled", "error"];
/// The reason recorded when a plain write closes a stale lease.
pub const ABANDONED: &str = "abandoned";

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LeasePolicy = LeasePolicy { heartbeat_interval_ms: 10_000, stale_after_ms: 30_000 };

    #[test]
    fn plain_writes_wait_for_a_live_holder_and_close_an_abandoned_lease() {
        assert_eq!(plain_write(None, 0, POLICY), PlainWrite::Allowed);
        let ended = RunState { running: false, last_heartbeat_at: 100 };
        assert_eq!(plain_write(Some(ended), 101, POLICY), PlainWrite::Allowed);
        let live = RunState { running: true, last_heartbeat_at: 100 };
        assert_eq!(plain_write(Some(live), 100 + 29_999, POLICY), PlainWrite::Refused);
        assert_eq!(plain_write(Some(live), 100 + 30_000, POLICY), PlainWrite::EndsAbandonedLease);
    }

    #[test]
    fn default_interval_is_well_inside_the_client_stale_window() {
        let policy = LeasePolicy::default();
        assert!(policy.heartbeat_interval_ms > 0);
        assert!(policy.heartbeat_interval_ms * 2 < policy.stale_after_ms);
    }
}
