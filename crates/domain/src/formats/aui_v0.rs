//! `aui/v0` (an assistant-ui thread message) to an AI SDK UI message.
//!
//! Each part maps to the AI SDK part that `@assistant-ui/ai-sdk`'s converter
//! turns back into the same assistant-ui part, and user attachments become file
//! parts the way the runtime sends them (`toCreateMessage`). What the AI SDK
//! has no place for is kept in message metadata where the runtime looks for it
//! (tool artifacts and interaction logs) or left out (statuses, timings,
//! nested sub-agent messages, part ids). A part that cannot be read is left
//! out; only a row that is not a message at all fails.

use serde_json::{Map, Value, json};

use super::media::{file_media_type, image_media_type, wire_url};
use super::{AiSdk, ConversionError};

/// Metadata keys the runtime keeps in place; every other key of a v6 message's
/// metadata is read back into `custom`.
const THREAD_METADATA_KEYS: &[&str] = &[
    "unstable_state",
    "unstable_annotations",
    "unstable_data",
    "steps",
    "timing",
    "submittedFeedback",
    "isOptimistic",
    "modality",
    "custom",
];
const TOOL_ARTIFACTS_KEY: &str = "__aui_toolArtifacts";
const TOOL_INTERACTIONS_KEY: &str = "__aui_toolInteractions";
/// What a denied tool call reports when its approval gives no reason.
const DENIED_WITHOUT_REASON: &str = "Tool approval denied";

/// Converts one stored `aui/v0` message to an AI SDK UI message without `id`.
pub(super) fn to_ui_message(message: &Value, target: AiSdk) -> Result<Value, ConversionError> {
    let message = message.as_object().ok_or(ConversionError::NotAMessage("not an object"))?;
    let role = match message.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "assistant" | "system")) => role,
        _ => return Err(ConversionError::NotAMessage("no valid role")),
    };
    let content = message.get("content").and_then(Value::as_array).ok_or(ConversionError::NotAMessage("no content"))?;

    let mut tool_data = ToolData::default();
    let mut parts = Vec::with_capacity(content.len() + 1);
    if role == "assistant" {
        // The AI SDK opens every assistant step with a boundary; one message is one step here.
        parts.push(json!({ "type": "step-start" }));
    }
    let settled = role == "assistant";
    parts.extend(content.iter().filter_map(|part| convert_part(part, settled, target, &mut tool_data)));
    if role == "user"
        && let Some(attachments) = message.get("attachments").and_then(Value::as_array)
    {
        parts.extend(attachments.iter().flat_map(attachment_parts));
    }

    let mut out = Map::new();
    out.insert("role".into(), Value::String(role.to_owned()));
    out.insert("parts".into(), Value::Array(parts));
    let metadata = convert_metadata(message.get("metadata"), target, tool_data);
    if !metadata.is_empty() {
        out.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(Value::Object(out))
}

/// Per-tool-call data the AI SDK part has no field for, kept in message metadata by call id.
#[derive(Default)]
struct ToolData {
    artifacts: Map<String, Value>,
    interactions: Map<String, Value>,
}

fn convert_part(part: &Value, settled: bool, target: AiSdk, tool_data: &mut ToolData) -> Option<Value> {
    let part = part.as_object()?;
    let kind = part.get("type")?.as_str()?;
    let text = |key: &str| part.get(key).and_then(Value::as_str);
    let mut out = Map::new();
    match kind {
        "text" | "reasoning" => {
            out.insert("type".into(), kind.into());
            out.insert("text".into(), text("text")?.into());
            if settled {
                out.insert("state".into(), "done".into());
            }
            copy(part, "providerMetadata", &mut out, "providerMetadata");
        }
        "source" => match text("sourceType")? {
            "url" => {
                out.insert("type".into(), "source-url".into());
                out.insert("sourceId".into(), text("id")?.into());
                out.insert("url".into(), text("url")?.into());
                copy(part, "title", &mut out, "title");
                copy(part, "providerMetadata", &mut out, "providerMetadata");
            }
            "document" => {
                out.insert("type".into(), "source-document".into());
                out.insert("sourceId".into(), text("id")?.into());
                out.insert("mediaType".into(), text("mediaType")?.into());
                out.insert("title".into(), text("title")?.into());
                copy(part, "filename", &mut out, "filename");
                copy(part, "providerMetadata", &mut out, "providerMetadata");
            }
            _ => return None,
        },
        "tool-call" => return tool_part(part, target, tool_data),
        "image" => {
            let image = text("image")?;
            let media_type = image_media_type(image, None);
            file_part(&mut out, wire_url(image, &media_type), media_type, text("filename"));
            copy(part, "providerMetadata", &mut out, "providerMetadata");
        }
        "file" => {
            let data = text("data")?;
            let media_type = file_media_type(data, text("mimeType"));
            // An `id` source is a provider's file handle, not a payload to wrap.
            let url = if text("sourceType") == Some("id") { data.to_owned() } else { wire_url(data, &media_type) };
            file_part(&mut out, url, media_type, text("filename"));
            copy(part, "providerMetadata", &mut out, "providerMetadata");
        }
        "audio" => {
            let audio = part.get("audio")?;
            let format = audio.get("format")?.as_str()?;
            let media_type = format!("audio/{format}");
            file_part(&mut out, wire_url(audio.get("data")?.as_str()?, &media_type), media_type, None);
        }
        "data" => {
            out.insert("type".into(), format!("data-{}", text("name")?).into());
            copy(part, "id", &mut out, "id");
            out.insert("data".into(), part.get("data").cloned().unwrap_or(Value::Null));
        }
        "generative-ui" => {
            out.insert("type".into(), "data-generative-ui".into());
            copy(part, "id", &mut out, "id");
            out.insert("data".into(), part.get("spec")?.clone());
        }
        // A part type from a newer writer travels as data, whole.
        other => {
            out.insert("type".into(), format!("data-{other}").into());
            out.insert("data".into(), Value::Object(part.clone()));
        }
    }
    Some(Value::Object(out))
}

fn file_part(out: &mut Map<String, Value>, url: String, media_type: String, filename: Option<&str>) {
    out.insert("type".into(), "file".into());
    out.insert("mediaType".into(), media_type.into());
    if let Some(filename) = filename {
        out.insert("filename".into(), filename.into());
    }
    out.insert("url".into(), url.into());
}

/// A tool call as a typed tool part (`dynamic-tool` for MCP tools), its state
/// taken from the stored result, error flag and approval.
fn tool_part(part: &Map<String, Value>, target: AiSdk, tool_data: &mut ToolData) -> Option<Value> {
    let call_id = part.get("toolCallId")?.as_str()?;
    let name = part.get("toolName")?.as_str()?;
    let input = match part.get("args") {
        Some(args @ Value::Object(_)) => args.clone(),
        _ => part
            .get("argsText")
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({})),
    };
    let result = part.get("result");
    let approval = part.get("approval").and_then(Value::as_object);
    let approved = approval.and_then(|a| a.get("approved")).and_then(Value::as_bool);
    let is_error = part.get("isError").and_then(Value::as_bool) == Some(true);

    let mut out = Map::new();
    if part.get("mcp").is_some() {
        out.insert("type".into(), "dynamic-tool".into());
        out.insert("toolName".into(), name.into());
    } else {
        out.insert("type".into(), format!("tool-{name}").into());
    }
    out.insert("toolCallId".into(), call_id.into());
    // The state, and the result fields that come with it.
    let (state, outcome): (&str, Option<(&str, Value)>) = match (approved, target) {
        (Some(false), AiSdk::V6) => ("output-denied", None),
        (Some(false), AiSdk::V5) => {
            let reason = approval.and_then(|a| a.get("reason")).and_then(Value::as_str);
            ("output-error", Some(("errorText", reason.unwrap_or(DENIED_WITHOUT_REASON).into())))
        }
        _ if is_error => ("output-error", Some(("errorText", error_text(result).into()))),
        _ if result.is_some() => ("output-available", Some(("output", output(result, part.get("modelContent"))))),
        (Some(true), AiSdk::V6) => ("approval-responded", None),
        (None, AiSdk::V6) if approval.is_some() => ("approval-requested", None),
        _ => ("input-available", None),
    };
    out.insert("state".into(), state.into());
    out.insert("input".into(), input);
    if let Some((key, value)) = outcome {
        out.insert(key.into(), value);
    }
    if state == "output-available" && part.get("isPreliminary").and_then(Value::as_bool) == Some(true) {
        out.insert("preliminary".into(), true.into());
    }
    if target == AiSdk::V6
        && let Some(approval) = approval
    {
        out.insert("approval".into(), Value::Object(approval.clone()));
    }
    if let Some(metadata) = provider_metadata(part) {
        out.insert("callProviderMetadata".into(), metadata);
    }
    if let Some(artifact) = part.get("artifact") {
        tool_data.artifacts.insert(call_id.to_owned(), artifact.clone());
    }
    if let Some(interactions) = part.get("unstable_interactions") {
        tool_data.interactions.insert(call_id.to_owned(), interactions.clone());
    }
    Some(Value::Object(out))
}

/// The call's provider metadata; an MCP app pointer rides along under `mcp.app`,
/// where the runtime reads it back.
fn provider_metadata(part: &Map<String, Value>) -> Option<Value> {
    let app = part.get("mcp").and_then(|mcp| mcp.get("app")).cloned();
    let mut metadata = part.get("providerMetadata").cloned();
    if let Some(app) = app {
        let object = metadata.get_or_insert_with(|| json!({}));
        if let Value::Object(object) = object {
            object.insert("mcp".into(), json!({ "app": app }));
        }
    }
    metadata
}

/// A tool result with model content travels in the runtime's envelope.
fn output(result: Option<&Value>, model_content: Option<&Value>) -> Value {
    let result = result.cloned().unwrap_or(Value::Null);
    match model_content {
        Some(parts @ Value::Array(_)) => json!({ "__aui_modelContent": parts, "value": result }),
        _ => result,
    }
}

/// The text of a failed call: the runtime stores `{error: text}`, writers also a bare string.
fn error_text(result: Option<&Value>) -> String {
    match result {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(object)) if object.get("error").is_some_and(Value::is_string) => {
            object.get("error").and_then(Value::as_str).unwrap_or_default().to_owned()
        }
        Some(other) => other.to_string(),
        None => "Tool call failed".to_owned(),
    }
}

/// An attachment as the file (and text) parts the runtime sends for it, each named after the attachment.
fn attachment_parts(attachment: &Value) -> Vec<Value> {
    let Some(content) = attachment.get("content").and_then(Value::as_array) else {
        return Vec::new();
    };
    let name = attachment.get("name").and_then(Value::as_str);
    let content_type = attachment.get("contentType").and_then(Value::as_str);
    content
        .iter()
        .filter_map(|part| {
            let text = |key: &str| part.get(key).and_then(Value::as_str);
            let mut out = Map::new();
            match text("type")? {
                "text" => {
                    out.insert("type".into(), "text".into());
                    out.insert("text".into(), text("text")?.into());
                }
                "image" => {
                    let image = text("image")?;
                    let media_type = image_media_type(image, content_type);
                    file_part(&mut out, wire_url(image, &media_type), media_type, name);
                }
                "file" => {
                    let data = text("data")?;
                    let media_type = file_media_type(data, text("mimeType"));
                    let url =
                        if text("sourceType") == Some("id") { data.to_owned() } else { wire_url(data, &media_type) };
                    file_part(&mut out, url, media_type, name);
                }
                "audio" => {
                    let audio = part.get("audio")?;
                    let media_type = format!("audio/{}", audio.get("format")?.as_str()?);
                    file_part(&mut out, wire_url(audio.get("data")?.as_str()?, &media_type), media_type, name);
                }
                "data" => {
                    out.insert("type".into(), format!("data-{}", text("name")?).into());
                    out.insert("data".into(), part.get("data").cloned().unwrap_or(Value::Null));
                }
                _ => return None,
            }
            Some(Value::Object(out))
        })
        .collect()
}

/// Message metadata: v6 spreads the app's `custom` values at the top (the
/// runtime files unknown keys back under `custom`), v5 keeps the stored shape;
/// empty defaults are left out, and tool data goes under the runtime's keys.
fn convert_metadata(metadata: Option<&Value>, target: AiSdk, tool_data: ToolData) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(stored)) = metadata {
        for (key, value) in stored {
            let empty = match value {
                Value::Null => true,
                Value::Array(items) => items.is_empty(),
                Value::Object(fields) => fields.is_empty(),
                _ => false,
            };
            // `isOptimistic` marks a message still streaming in one tab: never true of a stored row.
            if empty || key == "isOptimistic" {
                continue;
            }
            match (key.as_str(), value, target) {
                ("custom", Value::Object(custom), AiSdk::V6) => {
                    for (custom_key, custom_value) in custom {
                        if THREAD_METADATA_KEYS.contains(&custom_key.as_str()) {
                            // A custom value named like a reserved key stays under `custom`.
                            let nested = out.entry("custom").or_insert_with(|| json!({}));
                            if let Value::Object(nested) = nested {
                                nested.insert(custom_key.clone(), custom_value.clone());
                            }
                        } else {
                            out.insert(custom_key.clone(), custom_value.clone());
                        }
                    }
                }
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }
    if !tool_data.artifacts.is_empty() {
        out.insert(TOOL_ARTIFACTS_KEY.into(), Value::Object(tool_data.artifacts));
    }
    if !tool_data.interactions.is_empty() {
        out.insert(TOOL_INTERACTIONS_KEY.into(), Value::Object(tool_data.interactions));
    }
    out
}

/// An AI SDK 4 `toolInvocation` (`partial-call` / `call` / `result`) as a typed tool part.
pub(super) fn tool_invocation_to_v6(invocation: &Map<String, Value>) -> Option<Value> {
    let name = invocation.get("toolName")?.as_str()?;
    let mut out = Map::new();
    out.insert("type".into(), format!("tool-{name}").into());
    out.insert("toolCallId".into(), invocation.get("toolCallId")?.as_str()?.into());
    let state = match invocation.get("state").and_then(Value::as_str) {
        Some("result") => {
            out.insert("output".into(), invocation.get("result").cloned().unwrap_or(Value::Null));
            "output-available"
        }
        Some("partial-call") => "input-streaming",
        _ => "input-available",
    };
    out.insert("state".into(), state.into());
    out.insert("input".into(), invocation.get("args").cloned().unwrap_or_else(|| json!({})));
    Some(Value::Object(out))
}

fn copy(from: &Map<String, Value>, key: &str, to: &mut Map<String, Value>, as_key: &str) {
    if let Some(value) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(as_key.into(), value.clone());
    }
}
