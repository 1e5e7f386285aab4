//! Property-based fuzzing of the validators every request passes through: ids,
//! timestamps, content types, JSON nesting, titles and attachment keys. Nothing
//! may panic, and what is accepted keeps its documented shape.
//!
//! Runs briefly in `cargo test`; for a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p threadhold-domain --test fuzz`.

use proptest::prelude::*;
use serde_json::Value;
use threadhold_domain::attachments::{ContentType, check_type_pattern, is_valid_key, key_from_url, keys_in};
use threadhold_domain::ids::{looks_like_message_id, validate_principal_id, validate_project_id, validate_text_id};
use threadhold_domain::json::nesting_depth;
use threadhold_domain::title::title_from_text;
use threadhold_domain::{format_ms, parse_timestamp};

/// `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Any text, weighted towards the characters validators care about.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,80}", "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f} a-z/;=\"\\\\.,*+-]{0,40}",]
}

/// RFC 3339 look-alikes with every field possibly out of range.
fn timestamp_like() -> impl Strategy<Value = String> {
    (
        0u32..=10_999,
        0u32..=13,
        0u32..=32,
        0u32..=25,
        0u32..=61,
        0u32..=61,
        proptest::option::of("[0-9]{0,12}"),
        prop_oneof![Just("Z".to_owned()), "[+-][0-9]{2}:[0-9]{2}", "[a-z ]{0,3}"],
    )
        .prop_map(|(y, mo, d, h, mi, s, fraction, zone)| {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{zone}")
        })
}

/// Arbitrary JSON values, nested up to a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn identifiers(value in text(), max in 0usize..300) {
        if validate_principal_id(&value).is_ok() {
            prop_assert!(!value.is_empty() && value.chars().count() <= 255);
            prop_assert!(!value.chars().any(|c| c.is_whitespace() || c.is_control()));
        }
        if validate_text_id(&value, max).is_ok() {
            prop_assert!(!value.is_empty() && value.chars().count() <= max);
            prop_assert!(!value.chars().any(char::is_control));
        }
        if validate_project_id(&value).is_ok() {
            prop_assert!(value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        let _ = looks_like_message_id(&value);
    }

    #[test]
    fn timestamps(text in prop_oneof![timestamp_like(), text()], ms in any::<i64>()) {
        if let Some(parsed) = parse_timestamp(&text) {
            let canonical = format_ms(parsed);
            prop_assert_eq!(canonical.len(), 24, "{}", canonical);
            prop_assert_eq!(parse_timestamp(&canonical), Some(parsed));
        }
        let _ = format_ms(ms);
    }

    #[test]
    fn content_types(text in text()) {
        if let Ok(parsed) = ContentType::parse(&text) {
            let header = parsed.header_value();
            prop_assert!(header.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{:?}", header);
            let again = ContentType::parse(&header).expect("a stored type parses again");
            prop_assert_eq!(again.header_value(), header);
            let _ = (parsed.is_inline_safe(), parsed.allowed_by(std::slice::from_ref(&text)));
        }
        let stored = ContentType::stored(&text).header_value();
        prop_assert!(ContentType::parse(&stored).is_ok());
        let _ = check_type_pattern(&text);
    }

    #[test]
    fn json_nesting(value in json(), noise in text()) {
        let text = value.to_string();
        prop_assert_eq!(nesting_depth(&text), depth(&value));
        let _ = nesting_depth(&noise);
    }

    #[test]
    fn titles(text in text()) {
        if let Some(title) = title_from_text(&text) {
            prop_assert!(!title.is_empty() && title.chars().count() <= 60, "{:?}", title);
            prop_assert!(!title.chars().any(char::is_control), "{:?}", title);
        }
    }

    #[test]
    fn attachment_keys(text in text()) {
        if let Some(key) = key_from_url(&text) {
            prop_assert!(is_valid_key(key));
        }
        for key in keys_in(&text) {
            prop_assert!(is_valid_key(&key));
        }
    }
}
