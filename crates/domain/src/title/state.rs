//! Who wrote a thread's title, and the model attempts made on it: the rule
//! that lets three triggers (the runtime's title request, the first user
//! message, the hourly sweep) share one budget and never title a thread twice.

use crate::Millis;

/// Who wrote a thread's title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleOrigin {
    /// The thread has no title.
    None,
    /// The built-in generator (from the first user message); a model may replace it.
    Builtin,
    /// A title model.
    Model,
    /// A user or an app (`PUT /v1/threads/{id}`, a create with a title); never replaced.
    User,
}

impl TitleOrigin {
    /// From the stored columns.
    pub fn of(title: Option<&str>, from_user: bool, by_model: bool) -> Self {
        match (title, from_user, by_model) {
            (None, _, _) => TitleOrigin::None,
            (Some(_), true, _) => TitleOrigin::User,
            (Some(_), false, true) => TitleOrigin::Model,
            (Some(_), false, false) => TitleOrigin::Builtin,
        }
    }

    /// A title no automatic attempt touches again.
    pub fn is_final(self) -> bool {
        matches!(self, TitleOrigin::Model | TitleOrigin::User)
    }
}

/// A thread's title and its model attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleState {
    pub title: Option<String>,
    pub origin: TitleOrigin,
    /// Model attempts started on the thread so far.
    pub attempts: u32,
    /// When the running attempt started (`None`: none runs).
    pub running_since: Option<Millis>,
}

impl TitleState {
    /// Whether a new attempt may start: the title is still automatic, fewer
    /// than `max_attempts` were made, and none runs unless it started before
    /// `stale_before` (abandoned).
    pub fn may_start(&self, max_attempts: u32, stale_before: Millis) -> bool {
        !self.origin.is_final()
            && self.attempts < max_attempts
            && self.running_since.is_none_or(|started| started < stale_before)
    }

    /// Whether an attempt is running now.
    pub fn is_running(&self, stale_before: Millis) -> bool {
        self.running_since.is_some_and(|started| started >= stale_before)
    }
}

/// What [`TitleState::may_start`] decided, with the state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleClaim {
    /// The attempt's start (its token for finishing it), when one started.
    pub started_at: Option<Millis>,
    pub state: TitleState,
}

/// A thread the sweep may title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleCandidate {
    pub project_id: String,
    pub workspace_id: String,
    pub thread_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(origin: TitleOrigin, attempts: u32, running_since: Option<Millis>) -> TitleState {
        TitleState { title: None, origin, attempts, running_since }
    }

    #[test]
    fn origins() {
        assert_eq!(TitleOrigin::of(None, false, true), TitleOrigin::None);
        assert_eq!(TitleOrigin::of(Some("t"), true, true), TitleOrigin::User);
        assert_eq!(TitleOrigin::of(Some("t"), false, true), TitleOrigin::Model);
        assert_eq!(TitleOrigin::of(Some("t"), false, false), TitleOrigin::Builtin);
    }

    #[test]
    fn attempts_start_on_automatic_titles_within_the_budget() {
        assert!(state(TitleOrigin::None, 0, None).may_start(1, 100));
        assert!(state(TitleOrigin::Builtin, 2, None).may_start(3, 100));
        assert!(!state(TitleOrigin::Builtin, 1, None).may_start(1, 100), "a request makes only the first");
        assert!(!state(TitleOrigin::User, 0, None).may_start(3, 100));
        assert!(!state(TitleOrigin::Model, 0, None).may_start(3, 100));
        assert!(!state(TitleOrigin::None, 1, Some(100)).may_start(3, 100), "one runs");
        assert!(state(TitleOrigin::None, 1, Some(99)).may_start(3, 100), "an abandoned one does not count");
        assert!(state(TitleOrigin::None, 1, Some(100)).is_running(100));
        assert!(!state(TitleOrigin::None, 1, Some(99)).is_running(100));
    }
}
