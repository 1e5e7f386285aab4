//! `POST /v1/traces`: the OTLP/HTTP JSON receiver behind the client's
//! `assistant-cloud/telemetry` exporter (API keys only). Spans of model calls
//! (`gen_ai.*`, `ai.*`, `llm.*`, or with a `gen_ai.operation.name` attribute)
//! are stored for later analysis, at most 500 per trace; others are rejected
//! and counted in `partialSuccess`. Protobuf and compressed bodies answer 415.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::TelemetryRecord;
use threadhold_domain::now_ms;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::state::AppState;

/// Largest accepted trace export.
pub const TRACES_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;
const SPANS_PER_TRACE_MAX: usize = 500;

pub async fn receive(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Value>> {
    caller.require_api_key("Sending traces")?;
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    if !header_text(header::CONTENT_TYPE).starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "Send OTLP/HTTP JSON (application/json); protobuf is not read".into(),
        ));
    }
    if !matches!(header_text(header::CONTENT_ENCODING).as_str(), "" | "identity") {
        return Err(ApiError::UnsupportedMediaType("Send the traces uncompressed".into()));
    }
    let body: Value = serde_json::from_slice(&body).map_err(|error| ApiError::InvalidRequest {
        code: "invalid_json",
        message: format!("Invalid request body: {error}"),
    })?;
    let resource_spans = body
        .get("resourceSpans")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("resourceSpans must be an array"))?;
    let now = now_ms();
    let mut records = Vec::new();
    let mut rejected = 0usize;
    let mut per_trace: HashMap<String, usize> = HashMap::new();
    let spans = resource_spans
        .iter()
        .flat_map(|resource| resource.get("scopeSpans").and_then(Value::as_array).into_iter().flatten())
        .flat_map(|scope| scope.get("spans").and_then(Value::as_array).into_iter().flatten());
    for span in spans {
        let name = span.get("name").and_then(Value::as_str).unwrap_or_default();
        let trace_id = span.get("traceId").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let count = per_trace.entry(trace_id.clone()).or_default();
        let wanted = is_model_span(name, span) && is_hex(&trace_id, 32) && *count < SPANS_PER_TRACE_MAX;
        if !wanted {
            rejected += 1;
            continue;
        }
        *count += 1;
        records.push(TelemetryRecord {
            id: new_id(IdKind::Event),
            scope: caller.scope.clone(),
            user_id: caller.user_id.clone(),
            thread_id: None,
            kind: name.chars().take(64).collect(),
            body: span.to_string(),
            created_at: now,
        });
    }
    if !records.is_empty() {
        state.store.insert_telemetry("span", &records).await?;
    }
    if rejected == 0 {
        Ok(Json(json!({})))
    } else {
        Ok(Json(json!({ "partialSuccess": {
            "rejectedSpans": rejected,
            "errorMessage": "only model-call spans (gen_ai.*, ai.*, llm.*) with a 32-hex traceId are kept, at most 500 per trace",
        }})))
    }
}

fn is_model_span(name: &str, span: &Value) -> bool {
    ["gen_ai.", "ai.", "llm."].iter().any(|prefix| name.starts_with(prefix))
        || span.get("attributes").and_then(Value::as_array).is_some_and(|attributes| {
            attributes.iter().any(|a| a.get("key").and_then(Value::as_str) == Some("gen_ai.operation.name"))
        })
}

fn is_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|b| b.is_ascii_hexdigit())
}
