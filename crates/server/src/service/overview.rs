//! The Overview page: where the client connects, and what happened in the
//! project over a range of days, from the daily rollups (never a count over
//! the big tables, so it costs the same with a million threads).

use threadhold_domain::dashboard::{Day, DayActivity, day_of};
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, Fault, Permission, authorize};

/// The ranges the page offers, in days.
pub const RANGE_CHOICES: [u32; 4] = [7, 30, 90, 365];
pub const RANGE_DEFAULT: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error("The range must be one of {RANGE_CHOICES:?} days")]
    BadRange,
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for OverviewError {
    fn failure(self) -> Result<Failure, StoreError> {
        match self {
            OverviewError::BadRange => Ok(Failure::field("days", "invalid_range", self.to_string())),
            OverviewError::Project(error) => error.failure(),
            OverviewError::Denied(denied) => denied.failure(),
            OverviewError::Store(error) => Err(error),
        }
    }
}

/// What the project did over the range, day by day (every day present, oldest first).
#[derive(Debug, Clone)]
pub struct Activity {
    pub days: Vec<DayActivity>,
    pub threads: i64,
    pub messages: i64,
    pub runs: i64,
    /// Distinct users active on any day of the range.
    pub active_users: u64,
}

pub async fn activity(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    range_days: u32,
) -> Result<Activity, OverviewError> {
    authorize(actor, Permission::Read)?;
    if !RANGE_CHOICES.contains(&range_days) {
        return Err(OverviewError::BadRange);
    }
    projects::require(store, project_id).await?;
    let until = day_of(now_ms());
    let from = until - Day::from(range_days) + 1;
    let sparse = store.daily_activity(project_id, from, until).await?;
    let days = dense(&sparse, from, until);
    Ok(Activity {
        threads: days.iter().map(|d| d.threads).sum(),
        messages: days.iter().map(|d| d.messages).sum(),
        runs: days.iter().map(|d| d.runs).sum(),
        active_users: store.count_active_users(project_id, from, until).await?,
        days,
    })
}

/// Every day of `from..=until`, zero where nothing happened.
fn dense(sparse: &[DayActivity], from: Day, until: Day) -> Vec<DayActivity> {
    let mut known = sparse.iter().peekable();
    (from..=until)
        .map(|day| match known.peek() {
            Some(found) if found.day == day => {
                let found = **found;
                known.next();
                found
            }
            _ => DayActivity { day, ..Default::default() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_are_zero() {
        let sparse = [DayActivity { day: 11, messages: 4, ..Default::default() }];
        let days = dense(&sparse, 10, 12);
        assert_eq!(days.iter().map(|d| (d.day, d.messages)).collect::<Vec<_>>(), [(10, 0), (11, 4), (12, 0)]);
    }
}
