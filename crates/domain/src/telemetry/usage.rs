//! Usage windows: the UTC day ranges of `GET /v1/projects/usage/daily` and
//! the calendar month of `…/usage/period`, and the zero-filled day list.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate};

use crate::Millis;
use crate::limits::{USAGE_DEFAULT_DAYS, USAGE_SPAN_MAX_DAYS};
use crate::model::{MessageUsage, RunUsage};

const DAY_MS: Millis = 86_400_000;

/// Why a day range was refused (the hosted service's messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DayRangeError {
    /// A date that is not `YYYY-MM-DD` or not a real day.
    #[error("Invalid usage day range")]
    InvalidDay,
    /// `to` before `from`, or more than [`USAGE_SPAN_MAX_DAYS`] apart.
    #[error("Usage day range must span at most 366 days")]
    Span,
}

/// Whole UTC days from `from` through `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The range of a usage request: `to` defaults to today (UTC), `from` to 29
/// days before `to`; the span `to − from` is 0 to 366 days.
pub fn day_range(from: Option<&str>, to: Option<&str>, now: Millis) -> Result<DayRange, DayRangeError> {
    let to = match to {
        Some(text) => parse_day(text).ok_or(DayRangeError::InvalidDay)?,
        None => day_of(now),
    };
    let from = match from {
        Some(text) => parse_day(text).ok_or(DayRangeError::InvalidDay)?,
        None => to.checked_sub_days(Days::new(USAGE_DEFAULT_DAYS as u64 - 1)).ok_or(DayRangeError::Span)?,
    };
    let span = (to - from).num_days();
    if !(0..=USAGE_SPAN_MAX_DAYS).contains(&span) {
        return Err(DayRangeError::Span);
    }
    Ok(DayRange { from, to })
}

/// A strict `YYYY-MM-DD` calendar day (years 0001–9999).
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok().filter(|year| *year >= 1)?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// The UTC day an instant falls on.
pub fn day_of(ms: Millis) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().date_naive()
}

fn start_of(day: NaiveDate) -> Millis {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis()
}

impl DayRange {
    /// The first instant of `from`.
    pub fn start_ms(&self) -> Millis {
        start_of(self.from)
    }

    /// The first instant after `to`.
    pub fn end_ms(&self) -> Millis {
        self.start_ms() + self.days() * DAY_MS
    }

    /// Days in the range (1 to 367).
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// `YYYY-MM-DD` of the day `index` days after `from`.
    pub fn label(&self, index: i64) -> String {
        let day = u64::try_from(index).ok().and_then(|index| self.from.checked_add_days(Days::new(index)));
        day.unwrap_or(self.from).format("%Y-%m-%d").to_string()
    }
}

/// The day index (days since the range's start) of an instant inside it.
pub fn day_index(range_start: Millis, at: Millis) -> i64 {
    (at - range_start).div_euclid(DAY_MS)
}

/// A UTC calendar month: its first instant and the first instant of the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: Millis,
    pub end: Millis,
}

/// The calendar month (UTC) an instant falls in.
pub fn month_of(now: Millis) -> Period {
    let day = day_of(now);
    let first = day.with_day(1).unwrap_or(day);
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    Period { start: start_of(first), end: start_of(next) }
}

/// One day of `GET /v1/projects/usage/daily`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DailyUsage {
    pub day: String,
    pub runs: RunUsage,
    pub messages: i64,
    pub active_users: i64,
}

/// Every day of the range in order, with the stored totals and zeros elsewhere.
pub fn zero_filled(range: &DayRange, runs: &[RunUsage], messages: &[MessageUsage]) -> Vec<DailyUsage> {
    let mut days: Vec<DailyUsage> = (0..range.days())
        .map(|index| DailyUsage {
            day: range.label(index),
            runs: RunUsage { day: index, ..RunUsage::default() },
            ..DailyUsage::default()
        })
        .collect();
    let count = days.len();
    let slot = |index: i64| usize::try_from(index).ok().filter(|i| *i < count);
    for row in runs {
        if let Some(i) = slot(row.day) {
            let day = &mut days[i].runs;
            day.runs += row.runs;
            day.errors += row.errors;
            day.input_tokens += row.input_tokens;
            day.cached_input_tokens += row.cached_input_tokens;
            day.output_tokens += row.output_tokens;
            day.reasoning_tokens += row.reasoning_tokens;
            day.cost_usd += row.cost_usd;
        }
    }
    for row in messages {
        if let Some(i) = slot(row.day) {
            days[i].messages += row.messages;
            days[i].active_users += row.active_users;
        }
    }
    days
}

/// Rows grouped by day, provider and model (no zero fill), ordered by day,
/// then provider and model with unknown ones first.
pub fn by_model(range: &DayRange, mut runs: Vec<RunUsage>) -> Vec<(String, RunUsage)> {
    runs.sort_by(|a, b| (a.day, &a.provider, &a.model_id).cmp(&(b.day, &b.provider, &b.model_id)));
    runs.into_iter().filter(|row| (0..range.days()).contains(&row.day)).map(|row| (range.label(row.day), row)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_timestamp;

    fn at(text: &str) -> Millis {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn days_are_strict() {
        assert_eq!(parse_day("2026-09-17"), NaiveDate::from_ymd_opt(2026, 9, 17));
        assert_eq!(parse_day("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
        for bad in [
            "2026-02-29",
            "2026-9-17",
            "2026-09-17T00:00:00Z",
            "0000-01-01",
            "2026-13-01",
            "２０２６-09-17",
            "",
            "+026-09-17",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn defaults_and_limits() {
        let now = at("2026-09-17T23:59:59.999Z");
        let range = day_range(None, None, now).expect("default");
        assert_eq!((range.label(0), range.label(29), range.days()), ("2026-08-19".into(), "2026-09-17".into(), 30));
        let range = day_range(None, Some("2026-01-10"), now).expect("to only");
        assert_eq!(range.label(0), "2025-12-12");
        let range = day_range(Some("2026-01-01"), Some("2027-01-02"), now).expect("366 days apart");
        assert_eq!(range.days(), 367);
        assert_eq!(range.end_ms() - range.start_ms(), 367 * DAY_MS);
        assert_eq!(day_range(Some("2026-01-01"), Some("2027-01-03"), now), Err(DayRangeError::Span));
        assert_eq!(day_range(Some("2026-01-02"), Some("2026-01-01"), now), Err(DayRangeError::Span));
        assert_eq!(day_range(Some("2026-02-30"), None, now), Err(DayRangeError::InvalidDay));
        assert_eq!(day_range(None, Some("tomorrow"), now), Err(DayRangeError::InvalidDay));
        let one = day_range(Some("2026-09-17"), Some("2026-09-17"), now).expect("one day");
        assert_eq!((one.start_ms(), one.end_ms()), (at("2026-09-17T00:00:00Z"), at("2026-09-18T00:00:00Z")));
        assert_eq!(day_index(one.start_ms(), at("2026-09-17T23:59:59.999Z")), 0);
        assert_eq!(day_index(one.start_ms(), at("2026-09-18T00:00:00Z")), 1);
    }

    #[test]
    fn months() {
        let period = month_of(at("2026-12-31T23:59:59.999Z"));
        assert_eq!((period.start, period.end), (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")));
        let period = month_of(at("2028-02-29T12:00:00Z"));
        assert_eq!((period.start, period.end), (at("2028-02-01T00:00:00Z"), at("2028-03-01T00:00:00Z")));
    }

    #[test]
    fn every_day_appears_once() {
        let range = day_range(Some("2026-09-01"), Some("2026-09-03"), 0).expect("range");
        let runs = [
            RunUsage {
                day: 1,
                runs: 2,
                errors: 1,
                input_tokens: 10,
                output_tokens: 5,
                cost_usd: 0.5,
                ..RunUsage::default()
            },
            RunUsage { day: 1, runs: 1, input_tokens: 1, model_id: Some("m".into()), ..RunUsage::default() },
            RunUsage { day: 7, runs: 100, ..RunUsage::default() },
        ];
        let messages = [MessageUsage { day: 2, messages: 4, active_users: 2 }];
        let days = zero_filled(&range, &runs, &messages);
        assert_eq!(days.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(), ["2026-09-01", "2026-09-02", "2026-09-03"]);
        assert_eq!((days[0].runs.runs, days[0].messages), (0, 0));
        assert_eq!((days[1].runs.runs, days[1].runs.errors, days[1].runs.input_tokens), (3, 1, 11));
        assert_eq!((days[2].messages, days[2].active_users), (4, 2));
        let grouped = by_model(&range, runs.to_vec());
        assert_eq!(grouped.len(), 2, "rows outside the range are dropped");
        assert_eq!(grouped[0].1.model_id, None, "unknown models first");
    }
}
