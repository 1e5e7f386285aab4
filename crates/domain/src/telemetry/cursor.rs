//! Page cursors of the project read API: the strict base64url encoding (no
//! padding) of `{"created_at": "<canonical timestamp>", "id": "<id>"}`, the
//! hosted service's format. Clients treat them as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::limits::{CURSOR_MAX_CHARS, SERVER_ID_MAX_CHARS};
use crate::model::Position;
use crate::{format_ms, parse_timestamp};

/// The cursor continuing after `position`.
pub fn encode(position: &Position) -> String {
    let mut object = Map::new();
    object.insert("created_at".into(), Value::String(format_ms(position.created_at)));
    object.insert("id".into(), Value::String(position.id.clone()));
    URL_SAFE_NO_PAD.encode(Value::Object(object).to_string())
}

/// The position a cursor names; `None` unless it is exactly what [`encode`] makes.
pub fn decode(text: &str) -> Option<Position> {
    if text.is_empty() || text.len() > CURSOR_MAX_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let Value::Object(object) = serde_json::from_slice::<Value>(&bytes).ok()? else {
        return None;
    };
    if object.len() != 2 {
        return None;
    }
    let created_at = parse_timestamp(object.get("created_at")?.as_str()?)?;
    let id = object.get("id")?.as_str()?;
    if id.is_empty() || id.chars().count() > SERVER_ID_MAX_CHARS {
        return None;
    }
    Some(Position { created_at, id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_shape() {
        let position = Position { created_at: 1_790_000_000_123, id: "run_0abc".into() };
        let cursor = encode(&position);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&cursor).expect("base64url")).expect("utf8");
        assert_eq!(json, r#"{"created_at":"2026-09-21T14:13:20.123Z","id":"run_0abc"}"#);
        assert_eq!(decode(&cursor), Some(position));
    }

    #[test]
    fn refuses_anything_else() {
        let good = encode(&Position { created_at: 5, id: "run_x".into() });
        let b64 = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in [
            String::new(),
            format!("{good}="),
            format!("{good}!"),
            "x".repeat(CURSOR_MAX_CHARS + 1),
            good.replacen(|c: char| c.is_ascii_alphabetic(), "+", 1),
            b64("[]"),
            b64(r#"{"created_at":"yesterday","id":"run_x"}"#),
            b64(r#"{"created_at":"1970-01-01T00:00:00.005Z"}"#),
            b64(r#"{"created_at":"1970-01-01T00:00:00.005Z","id":""}"#),
            b64(r#"{"created_at":"1970-01-01T00:00:00.005Z","id":7}"#),
            b64(r#"{"created_at":"1970-01-01T00:00:00.005Z","id":"r","x":1}"#),
            b64(&format!(r#"{{"created_at":"1970-01-01T00:00:00.005Z","id":"{}"}}"#, "r".repeat(49))),
        ] {
            assert_eq!(decode(&bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_position_round_trips(ms in 0i64..253_402_300_799_999, id in "[A-Za-z0-9_]{1,48}") {
            let position = Position { created_at: ms, id };
            prop_assert_eq!(decode(&encode(&position)), Some(position));
        }

        #[test]
        fn garbage_never_panics(text in ".{0,600}") {
            let _ = decode(&text);
        }
    }
}
