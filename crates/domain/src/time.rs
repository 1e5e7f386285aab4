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
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
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
        fn round_trip(ms in MIN_MS..=MAX_MS) {
            let text = format_ms(ms);
            prop_assert_eq!(text.len(), 24);
            prop_assert_eq!(parse_timestamp(&text), Some(ms));
        }
    }
}
