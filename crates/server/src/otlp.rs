//! OTLP/HTTP trace exports as they arrive at `POST /v1/traces`: JSON or
//! protobuf, plain, gzip or deflate, read into the domain's spans; and the
//! export response in the request's encoding.
//!
//! Bodies are at most [`TRACES_BODY_MAX_BYTES`] as sent (the route's body
//! limit) and again once decompressed: inflating stops one byte past the
//! limit, so a small gzip bomb costs no more than a large honest export.

use std::io::Read;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Value, json};
use threadhold_domain::limits::TRACES_BODY_MAX_BYTES;
use threadhold_domain::telemetry::trace::{OtlpSpan, ResourceSpans};

use crate::error::ApiError;
use crate::service::traces::Ingested;

/// How an export is encoded (and how it is answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Protobuf,
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_ascii_lowercase()
}

/// The export's encoding from `Content-Type`.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let content_type = header_text(headers, header::CONTENT_TYPE);
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "application/json" => Ok(Encoding::Json),
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        _ => Err(ApiError::UnsupportedMediaType("Send application/json or application/x-protobuf".into())),
    }
}

/// The body after `Content-Encoding` (`gzip`, `deflate`, `identity` or none).
pub fn decompress(headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    let coding = header_text(headers, header::CONTENT_ENCODING);
    let inflated = match coding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => inflate(flate2::read::MultiGzDecoder::new(&body[..])),
        // HTTP's `deflate` is zlib-wrapped; some senders send a raw stream.
        "deflate" => inflate(flate2::read::ZlibDecoder::new(&body[..]))
            .or_else(|_| inflate(flate2::read::DeflateDecoder::new(&body[..]))),
        other => return Err(ApiError::UnsupportedMediaType(format!("Unsupported content encoding {other}"))),
    };
    let inflated = inflated.map_err(|error| ApiError::InvalidRequest {
        code: "invalid_encoding",
        message: format!("The body is not valid {coding}: {error}"),
    })?;
    if inflated.len() > TRACES_BODY_MAX_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: TRACES_BODY_MAX_BYTES });
    }
    Ok(Bytes::from(inflated))
}

/// Reads at most one byte past the limit.
fn inflate(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(TRACES_BODY_MAX_BYTES as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

fn malformed(message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidRequest { code: "invalid_otlp", message: format!("Invalid OTLP export: {message}") }
}

/// An `ExportTraceServiceRequest` in the OTLP/HTTP protobuf encoding.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<ResourceSpans>, ApiError> {
    let request = ExportTraceServiceRequest::decode(body).map_err(malformed)?;
    Ok(request
        .resource_spans
        .into_iter()
        .map(|resource| ResourceSpans {
            attributes: resource.resource.map(|r| attributes(r.attributes)).unwrap_or_default(),
            spans: resource
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
                .map(|span| OtlpSpan {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id)),
                    name: span.name,
                    start_unix_nano: Some(span.start_time_unix_nano),
                    end_unix_nano: Some(span.end_time_unix_nano),
                    status_code: span.status.as_ref().map_or(0, |s| i64::from(s.code)),
                    status_message: span.status.map(|s| s.message),
                    attributes: attributes(span.attributes),
                })
                .collect(),
        })
        .collect())
}

fn attributes(list: Vec<KeyValue>) -> Map<String, Value> {
    list.into_iter().map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value))).collect()
}

fn any_value(value: AnyValue) -> Value {
    match value.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::from(i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(d),
        Some(any_value::Value::ArrayValue(array)) => Value::Array(array.values.into_iter().map(any_value).collect()),
        Some(any_value::Value::KvlistValue(list)) => Value::Object(attributes(list.values)),
        Some(any_value::Value::BytesValue(bytes)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(any_value::Value::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// An `ExportTraceServiceRequest` in the OTLP/HTTP JSON encoding (hex ids,
/// 64-bit integers as strings or numbers, enums as numbers or names).
pub fn decode_json(body: &[u8]) -> Result<Vec<ResourceSpans>, ApiError> {
    let request: Value = serde_json::from_slice(body).map_err(|error| ApiError::InvalidRequest {
        code: "invalid_json",
        message: format!("Invalid request body: {error}"),
    })?;
    let resources = request
        .get("resourceSpans")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("resourceSpans must be an array"))?;
    Ok(resources
        .iter()
        .map(|resource| ResourceSpans {
            attributes: json_attributes(resource.pointer("/resource/attributes")),
            spans: ["scopeSpans", "instrumentationLibrarySpans"]
                .iter()
                .filter_map(|key| resource.get(*key).and_then(Value::as_array))
                .flatten()
                .filter_map(|scope| scope.get("spans").and_then(Value::as_array))
                .flatten()
                .map(json_span)
                .collect(),
        })
        .collect())
}

fn json_span(span: &Value) -> OtlpSpan {
    let text = |key: &str| span.get(key).and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let parent = text("parentSpanId");
    let status_code = match span.pointer("/status/code") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(name)) => match name.as_str() {
            "STATUS_CODE_OK" => 1,
            "STATUS_CODE_ERROR" => 2,
            _ => 0,
        },
        _ => 0,
    };
    OtlpSpan {
        trace_id: text("traceId"),
        span_id: text("spanId"),
        parent_span_id: (!parent.is_empty()).then_some(parent),
        name: span.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        start_unix_nano: json_u64(span.get("startTimeUnixNano")),
        end_unix_nano: json_u64(span.get("endTimeUnixNano")),
        status_code,
        status_message: span.pointer("/status/message").and_then(Value::as_str).map(str::to_owned),
        attributes: json_attributes(span.get("attributes")),
    }
}

fn json_u64(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn json_attributes(list: Option<&Value>) -> Map<String, Value> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((kv.get("key")?.as_str()?.to_owned(), kv.get("value").map_or(Value::Null, json_any_value)))
        })
        .collect()
}

fn json_any_value(value: &Value) -> Value {
    let Some(object) = value.as_object() else { return Value::Null };
    if let Some(s) = object.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = object.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = object.get("intValue") {
        return match i {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
            other => other.clone(),
        };
    }
    if let Some(d) = object.get("doubleValue") {
        return match d {
            Value::String(s) => s.parse::<f64>().ok().map(Value::from).unwrap_or(Value::Null),
            other => other.clone(),
        };
    }
    if let Some(array) = object.get("arrayValue") {
        return Value::Array(
            array.get("values").and_then(Value::as_array).into_iter().flatten().map(json_any_value).collect(),
        );
    }
    if let Some(list) = object.get("kvlistValue") {
        return Value::Object(json_attributes(list.get("values")));
    }
    object.get("bytesValue").cloned().unwrap_or(Value::Null)
}

/// The export's answer: `{}` or `partialSuccess`, as JSON or as an
/// `ExportTraceServiceResponse` for a protobuf request.
pub fn response(encoding: Encoding, ingested: &Ingested) -> Response {
    let partial = (ingested.rejected > 0).then(|| (ingested.rejected, ingested.message()));
    match encoding {
        Encoding::Json => match partial {
            None => axum::Json(json!({})).into_response(),
            Some((rejected, message)) => axum::Json(json!({ "partialSuccess": {
                "rejectedSpans": rejected,
                "errorMessage": message,
            }}))
            .into_response(),
        },
        Encoding::Protobuf => {
            let answer = ExportTraceServiceResponse {
                partial_success: partial.map(|(rejected, message)| ExportTracePartialSuccess {
                    rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
                    error_message: message,
                }),
            };
            let mut response = answer.encode_to_vec().into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
            response
        }
    }
}
