//! Timestamps: stored as integer milliseconds since the Unix epoch, rendered in
//! the one form the client's validator accepts, `YYYY-MM-DDTHH:MM:SS.mmmZ`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// Renders `ms` canonically. Values outside years 0000–9999 cannot be rendered
/// canonically; parsing refuses them, so stored values never are.
pub fn format_ms(ms: Millis) -> String {
    match MsText::new(ms) {
        Some(text) => text.as_str().to_owned(),
        None => {
            DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
        }
    }
}

/// A timestamp of years 0000–9999 in its canonical text, on the stack: pages
/// render three per row, and chrono's formatter and a `String` each cost more
/// than the rest of the row's timestamp work (checked against chrono in the tests).
#[derive(Clone, Copy)]
pub struct MsText([u8; 24]);

impl MsText {
    pub fn new(ms: Millis) -> Option<MsText> {
        if !(MIN_MS..=MAX_MS).contains(&ms) {
            return None;
        }
        let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (year, month, day) = civil_from_days(days);
        // In range, every field fits a u32 (the year is 0..=9999, the day's milliseconds under 86.4M).
        let [year, month, day, in_day] = [year, month, day, in_day].map(|field| u32::try_from(field).unwrap_or(0));
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut pair = |at: usize, value: u32| {
            text[at] = b'0' + (value / 10 % 10) as u8;
            text[at + 1] = b'0' + (value % 10) as u8;
        };
        pair(0, year / 100);
        pair(2, year % 100);
        pair(5, month);
        pair(8, day);
        pair(11, in_day / 3_600_000);
        pair(14, in_day / 60_000 % 60);
        pair(17, in_day / 1000 % 60);
        pair(20, in_day % 1000 / 10);
        text[22] = b'0' + (in_day % 10) as u8;
        Some(MsText(text))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The earliest and latest instants with a canonical four-digit-year rendering.
const MIN_MS: Millis = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const MAX_MS: Millis = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// Parses an RFC 3339 timestamp (any offset, any fraction) to milliseconds,
/// truncating sub-millisecond digits.
pub fn parse_timestamp(text: &str) -> Option<Millis> {
    let ms = DateTime::parse_from_rfc3339(text).ok()?.timestamp_millis();
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_form() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_790_000_000_123), "2026-09-21T14:13:20.123Z");
        assert_eq!(format_ms(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_ms(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        assert!(MsText::new(MIN_MS - 1).is_none() && MsText::new(MAX_MS + 1).is_none());
        assert_eq!(format_ms(MAX_MS + 1), "+10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.000Z"), Some(1_767_225_600_000));
        assert_eq!(parse_timestamp("2026-01-01T01:00:00.000+01:00"), Some(1_767_225_600_000));
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.123456Z"), Some(1_767_225_600_123));
        assert_eq!(parse_timestamp("2026-02-30T00:00:00.000Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("+10000-01-01T00:00:00Z"), None);
    }

    proptest! {
        #[test]
        fn the_stack_rendering_is_chronos(ms in MIN_MS..=MAX_MS) {
            let chrono = DateTime::<Utc>::from_timestamp_millis(ms).map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true));
            prop_assert_eq!(MsText::new(ms).map(|text| text.as_str().to_owned()), chrono);
        }

        #[test]
        fn round_trip(ms in MIN_MS..=MAX_MS) {
            let text = format_ms(ms);
            prop_assert_eq!(text.len(), 24);
            prop_assert_eq!(parse_timestamp(&text), Some(ms));
        }
    }
}
