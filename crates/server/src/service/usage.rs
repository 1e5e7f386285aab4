//! Usage: runs, errors, tokens and cost per UTC day (or per day, provider and
//! model), messages and active users per day, and the current month's totals.
//! threadhold has no plans or metering: the period reports `self-hosted` with
//! no allowance or cap.

use threadhold_domain::Millis;
use threadhold_domain::model::{RunUsage, UsageTotals};
use threadhold_domain::telemetry::usage::{self, DailyUsage, DayRangeError, Period};
use threadhold_store::Store;

use super::{ServiceError, ServiceResult};

/// The days of a usage read.
pub enum Daily {
    /// Every day of the range, zero-filled.
    Days(Vec<DailyUsage>),
    /// Stored (day, provider, model) rows only.
    ByModel(Vec<(String, RunUsage)>),
}

/// `group_by` must be absent or `model`.
pub async fn daily(
    store: &dyn Store,
    project_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    group_by: Option<&str>,
    now: Millis,
) -> ServiceResult<Daily> {
    let by_model = match group_by {
        None => false,
        Some("model") => true,
        Some(_) => {
            return Err(ServiceError::Invalid { code: "invalid_query", message: "group_by must be model".into() });
        }
    };
    let range = usage::day_range(from, to, now).map_err(|error| ServiceError::Invalid {
        code: match error {
            DayRangeError::InvalidDay => "invalid_day",
            DayRangeError::Span => "invalid_day_range",
        },
        message: error.to_string(),
    })?;
    let (runs, messages) = store.usage_by_day(project_id, range.start_ms(), range.end_ms(), by_model).await?;
    Ok(if by_model {
        Daily::ByModel(usage::by_model(&range, runs))
    } else {
        Daily::Days(usage::zero_filled(&range, &runs, &messages))
    })
}

/// The calendar month (UTC) `now` falls in, and the project's totals in it.
pub async fn period(store: &dyn Store, project_id: &str, now: Millis) -> ServiceResult<(Period, UsageTotals)> {
    let period = usage::month_of(now);
    let totals = store.usage_totals(project_id, period.start, period.end).await?;
    Ok((period, totals))
}
