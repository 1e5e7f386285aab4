//! Stored message formats and their conversion on read.
//!
//! Every message is stored in the format its writer chose (`aui/v0` from the
//! assistant-ui history adapter and transcript copies, `ai-sdk/v6` from the AI
//! SDK runtime, `ai-sdk/v5` from older writers). A read that names a `format`
//! gets compatible rows converted, as the hosted service does: the AI SDK
//! runtime keeps only rows whose `format` is the one it asked for, so without
//! conversion a thread copied as `aui/v0` would open empty after a reload.
//!
//! | requested   | stored      | result                    |
//! |-------------|-------------|---------------------------|
//! | `ai-sdk/v6` | `aui/v0`    | converted to `ai-sdk/v6`  |
//! | `ai-sdk/v6` | `ai-sdk/v5` | converted to `ai-sdk/v6`  |
//! | `ai-sdk/v5` | `aui/v0`    | converted to `ai-sdk/v5`  |
//! | any other pair            || returned as stored       |
//!
//! The mapping is the inverse of the AI SDK runtime's own message converter
//! (`@assistant-ui/ai-sdk`), so a message written by one runtime reads back
//! in the other as the same message; `tests/format_golden.rs` checks it
//! against messages encoded by the official packages.

mod aui_v0;
mod media;

use serde_json::Value;

pub const AUI_V0: &str = "aui/v0";
pub const AI_SDK_V5: &str = "ai-sdk/v5";
pub const AI_SDK_V6: &str = "ai-sdk/v6";

/// Why a stored row could not be converted (the row is then left out of the page).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConversionError {
    #[error("stored content is not JSON")]
    NotJson,
    #[error("stored content is not a message: {0}")]
    NotAMessage(&'static str),
}

/// The AI SDK message generation a conversion produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiSdk {
    V5,
    V6,
}

/// The content a read of a row stored as `stored` returns when the caller asked
/// for `requested`: `Ok(None)` when the row is returned as stored, the
/// converted JSON text (in the `requested` format) otherwise.
pub fn convert_for_read(stored: &str, requested: &str, content: &str) -> Result<Option<String>, ConversionError> {
    let target = match (stored, requested) {
        (AUI_V0, AI_SDK_V6) | (AI_SDK_V5, AI_SDK_V6) => AiSdk::V6,
        (AUI_V0, AI_SDK_V5) => AiSdk::V5,
        _ => return Ok(None),
    };
    let value: Value = serde_json::from_str(content).map_err(|_| ConversionError::NotJson)?;
    let converted = if stored == AUI_V0 { aui_v0::to_ui_message(&value, target)? } else { v5_to_v6(value)? };
    Ok(Some(converted.to_string()))
}

/// Whether a read asking for `requested` may change a row stored as `stored`.
pub fn converts(stored: &str, requested: &str) -> bool {
    matches!((stored, requested), (AUI_V0, AI_SDK_V6) | (AI_SDK_V5, AI_SDK_V6) | (AUI_V0, AI_SDK_V5))
}

/// An `ai-sdk/v5` row as `ai-sdk/v6`: the same `role`, `parts` and `metadata`
/// (tool parts have the same shape); an `id` that older writers stored inside
/// the content is dropped, since the row id is the message id.
fn v5_to_v6(value: Value) -> Result<Value, ConversionError> {
    let Value::Object(mut message) = value else {
        return Err(ConversionError::NotAMessage("not an object"));
    };
    if !matches!(message.get("role").and_then(Value::as_str), Some("user" | "assistant" | "system")) {
        return Err(ConversionError::NotAMessage("no role"));
    }
    let Some(Value::Array(parts)) = message.remove("parts") else {
        return Err(ConversionError::NotAMessage("no parts"));
    };
    message.remove("id");
    let parts = parts.into_iter().filter(Value::is_object).map(v5_part_to_v6).collect();
    message.insert("parts".into(), Value::Array(parts));
    Ok(Value::Object(message))
}

/// v5 tool parts are v6 tool parts; an AI SDK 4 `tool-invocation` part becomes one.
fn v5_part_to_v6(part: Value) -> Value {
    let Value::Object(mut part) = part else { return part };
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    if kind == "tool-invocation"
        && let Some(Value::Object(invocation)) = part.remove("toolInvocation")
    {
        return aui_v0::tool_invocation_to_v6(&invocation).unwrap_or(Value::Object(part));
    }
    if kind.starts_with("tool-") {
        // Some v5 writers repeated the name beside the typed part; v6 reads it from the type.
        part.remove("toolName");
    }
    Value::Object(part)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_the_documented_pairs_convert() {
        let aui = r#"{"role":"user","content":[{"type":"text","text":"hi"}],"metadata":{"custom":{}}}"#;
        for (stored, requested) in [(AUI_V0, AUI_V0), (AI_SDK_V6, AUI_V0), (AI_SDK_V6, AI_SDK_V5), ("x/y", AI_SDK_V6)] {
            assert_eq!(convert_for_read(stored, requested, aui), Ok(None), "{stored} as {requested}");
            assert!(!converts(stored, requested));
        }
        let converted = convert_for_read(AUI_V0, AI_SDK_V6, aui).unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&converted).unwrap(),
            json!({"role":"user","parts":[{"type":"text","text":"hi"}]})
        );
    }

    #[test]
    fn unreadable_rows_are_errors() {
        assert_eq!(convert_for_read(AUI_V0, AI_SDK_V6, "{"), Err(ConversionError::NotJson));
        assert!(convert_for_read(AUI_V0, AI_SDK_V6, r#"{"role":"robot","content":[]}"#).is_err());
        assert!(convert_for_read(AUI_V0, AI_SDK_V6, r#"{"role":"user","content":"hi"}"#).is_err());
        assert!(convert_for_read(AI_SDK_V5, AI_SDK_V6, r#"{"role":"user"}"#).is_err());
        assert!(convert_for_read(AI_SDK_V5, AI_SDK_V6, "[]").is_err());
    }

    #[test]
    fn v5_rows_drop_their_id_and_keep_their_parts() {
        let v5 = json!({
            "id": "local-1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {"type": "tool-weather", "toolName": "weather", "toolCallId": "c1", "state": "output-error", "input": {"city": "Oslo"}, "errorText": "down"},
                {"type": "text", "text": "Sorry.", "state": "done"}
            ],
            "metadata": {"modelId": "m"}
        });
        let converted = convert_for_read(AI_SDK_V5, AI_SDK_V6, &v5.to_string()).unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&converted).unwrap(),
            json!({
                "role": "assistant",
                "parts": [
                    {"type": "step-start"},
                    {"type": "tool-weather", "toolCallId": "c1", "state": "output-error", "input": {"city": "Oslo"}, "errorText": "down"},
                    {"type": "text", "text": "Sorry.", "state": "done"}
                ],
                "metadata": {"modelId": "m"}
            })
        );
    }

    #[test]
    fn ai_sdk_4_tool_invocations_become_typed_tool_parts() {
        let v5 = json!({"role": "assistant", "parts": [{"type": "tool-invocation", "toolInvocation": {
            "state": "result", "toolCallId": "c1", "toolName": "search", "args": {"q": "x"}, "result": [1]
        }}]});
        let converted = convert_for_read(AI_SDK_V5, AI_SDK_V6, &v5.to_string()).unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&converted).unwrap()["parts"][0],
            json!({"type": "tool-search", "toolCallId": "c1", "state": "output-available", "input": {"q": "x"}, "output": [1]})
        );
    }
}
