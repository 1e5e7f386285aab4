//! `POST /v1/traces`: the OTLP/HTTP receiver (API keys only) behind the
//! client's `assistant-cloud/telemetry` exporter and any OpenTelemetry SDK.
//! JSON or protobuf, plain, gzip or deflate, up to 4 MiB as sent and once
//! decompressed. Spans of model calls (`gen_ai.*`, `ai.*`, `llm.*`, or with a
//! `gen_ai.operation.name` attribute) are stored per trace for its run, at
//! most 500 per trace; others are rejected and counted in `partialSuccess`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::RawBody;
use crate::otlp::{self, Encoding};
use crate::service;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/traces", tag = "runs", request_body(description = "An OTLP/HTTP trace export (JSON or protobuf; `Content-Encoding` gzip or deflate allowed), up to 4 MiB", content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))), responses((status = 200, description = "OTLP `ExportTraceServiceResponse` in the request's encoding; rejected spans are counted in `partialSuccess`", content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))), (status = 413, description = "`payload_too_large`"), (status = 415, description = "`unsupported_media_type`")))]
pub async fn receive(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    caller.require_api_key("Sending traces")?;
    let encoding = otlp::encoding(&headers)?;
    let body = otlp::decompress(&headers, body)?;
    let export = match encoding {
        Encoding::Json => otlp::decode_json(&body)?,
        Encoding::Protobuf => otlp::decode_protobuf(&body)?,
    };
    let ingested = service::traces::ingest(state.store.as_ref(), &caller.scope, export).await?;
    Ok(otlp::response(encoding, &ingested))
}
