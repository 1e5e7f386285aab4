//! `POST /v1/traces`: OTLP/HTTP exports in JSON or protobuf, plain, gzip or deflate.

mod common;

use std::io::Write;

use common::{Auth, Client, Reply, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};

fn span(name: &str, trace: &str) -> Value {
    json!({"traceId": trace, "spanId": "00f067aa0ba902b7", "name": name, "kind": 3,
           "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
           "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt"}}]})
}

fn export(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "ai"}, "spans": spans}]}]})
}

/// The exporter sends only the API key: no Aui headers at all.
fn exporter(server: &TestServer) -> Client {
    server.bearer(&server.api_key)
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..KeyValue::default()
    }
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..KeyValue::default()
    }
}

/// A protobuf export of `count` model-call spans of one trace (span ids 1…count).
fn protobuf_export(trace: &str, count: u64) -> Vec<u8> {
    let spans = (1..=count)
        .map(|i| Span {
            trace_id: unhex(trace),
            span_id: i.to_be_bytes().to_vec(),
            name: "ai.generateText.doGenerate".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000,
            end_time_unix_nano: 1_700_000_000_500_000_000 + i * 1_000_000,
            attributes: vec![
                string_attribute("ai.model.id", "proto-model"),
                int_attribute("gen_ai.usage.input_tokens", 7),
                int_attribute("gen_ai.usage.output_tokens", 3),
            ],
            status: Some(Status { code: 1, ..Status::default() }),
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "proto-svc")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("deflate");
    encoder.finish().expect("deflate")
}

async fn post_raw(server: &TestServer, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = server
        .http
        .post(format!("{}/v1/traces", server.url))
        .bearer_auth(&server.api_key)
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.expect("send")
}

/// The runs of the project, newest first.
async fn runs(server: &TestServer) -> Vec<Value> {
    let reply = server.workspace("reader").get("/v1/projects/runs").await;
    reply.expect(200)["runs"].as_array().expect("runs").clone()
}

#[tokio::test]
async fn model_spans_are_stored_and_others_counted_as_rejected() {
    let server = TestServer::start().await;
    let reply = exporter(&server)
        .post("/v1/traces", export(vec![span("ai.generateText", TRACE), span("gen_ai.chat", TRACE)]))
        .await;
    assert_eq!(reply.expect(200), &json!({}));
    let mut other = span("http.request", TRACE);
    let reply = exporter(&server).post("/v1/traces", export(vec![other.clone(), span("llm.call", "not-hex")])).await;
    let partial = &reply.expect(200)["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], 2);
    assert!(partial["errorMessage"].as_str().is_some_and(|m| m.starts_with("2 spans were rejected")), "{partial}");
    other["attributes"] = json!([{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]);
    other["spanId"] = json!("00f067aa0ba902b8");
    assert_eq!(exporter(&server).post("/v1/traces", export(vec![other])).await.expect(200), &json!({}));
    let many: Vec<Value> = (0..501)
        .map(|i| {
            let mut s = span("ai.step", "0af7651916cd43dd8448eb211c80319c");
            s["spanId"] = json!(format!("{:016x}", i + 1));
            s
        })
        .collect();
    let reply = exporter(&server).post("/v1/traces", export(many)).await;
    let partial = &reply.expect(200)["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], 1);
    assert_eq!(partial["errorMessage"], "Trace 0af7651916cd43dd8448eb211c80319c exceeds the 500 span limit");
    let runs = runs(&server).await;
    assert_eq!(runs.len(), 2, "one run per trace: {runs:?}");
    assert_eq!(runs[1]["trace_id"], TRACE);
    assert_eq!(runs[1]["workspace_id"], "__OTLP__");
    let detail =
        server.workspace("reader").get(&format!("/v1/projects/runs/{}", runs[0]["id"].as_str().expect("id"))).await;
    assert_eq!(detail.expect(200)["spans"].as_array().map(Vec::len), Some(500));
}

#[tokio::test]
async fn protobuf_and_compressed_exports_are_read() {
    let server = TestServer::start().await;
    let response = post_raw(&server, "application/x-protobuf", None, protobuf_export(TRACE, 2)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(response.bytes().await.expect("body")).expect("an OTLP response");
    assert_eq!(answer.partial_success, None, "everything accepted");
    let run = &runs(&server).await[0];
    assert_eq!(
        (run["model_id"].as_str(), run["input_tokens"].as_i64(), run["service_name"].as_str()),
        (Some("proto-model"), Some(14), Some("proto-svc"))
    );

    // gzip and deflate, protobuf and JSON; a protobuf partial success is protobuf.
    let other = "0af7651916cd43dd8448eb211c80319c";
    let response = post_raw(&server, "application/protobuf", Some("gzip"), gzip(&protobuf_export(other, 501))).await;
    assert_eq!(response.status(), 200);
    let answer = ExportTraceServiceResponse::decode(response.bytes().await.expect("body")).expect("an OTLP response");
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (1, format!("Trace {other} exceeds the 500 span limit").as_str())
    );
    let json_export = export(vec![span("ai.generateText", "1af7651916cd43dd8448eb211c80319c")]).to_string();
    let response =
        post_raw(&server, "application/json; charset=utf-8", Some("gzip"), gzip(json_export.as_bytes())).await;
    assert_eq!(Reply::read(response).await.expect(200), &json!({}));
    let json_export = export(vec![span("ai.generateText", "2af7651916cd43dd8448eb211c80319c")]).to_string();
    let response = post_raw(&server, "application/json", Some("deflate"), zlib(json_export.as_bytes())).await;
    assert_eq!(Reply::read(response).await.expect(200), &json!({}));
    assert_eq!(runs(&server).await.len(), 4);
}

#[tokio::test]
async fn refusals() {
    let server = TestServer::start().await;
    let token =
        server.workspace("ws").post("/v1/auth/tokens", json!({})).await.json["token"].as_str().expect("t").to_owned();
    server.bearer(&token).post("/v1/traces", export(vec![])).await.expect_error(403, "api_key_required");
    let read = |response| Reply::read(response);
    read(post_raw(&server, "text/plain", None, b"{}".to_vec()).await).await.expect_error(415, "unsupported_media_type");
    read(post_raw(&server, "application/json", Some("br"), b"{}".to_vec()).await)
        .await
        .expect_error(415, "unsupported_media_type");
    read(post_raw(&server, "application/x-protobuf", None, vec![0xff, 0xff, 0xff]).await)
        .await
        .expect_error(400, "invalid_otlp");
    read(post_raw(&server, "application/json", Some("gzip"), b"{}".to_vec()).await)
        .await
        .expect_error(400, "invalid_encoding");
    exporter(&server).post("/v1/traces", json!({"resourceSpans": 5})).await.expect(400);
    exporter(&server).post("/v1/traces", json!([1])).await.expect(400);
    let huge = json!({"resourceSpans": [], "pad": "x".repeat(5 * 1024 * 1024)});
    let too_large = exporter(&server).post("/v1/traces", huge).await;
    too_large.expect_error(413, "payload_too_large");
    assert!(too_large.json["message"].as_str().is_some_and(|m| m.contains("4194304")), "{}", too_large.text);
    let three_mib = json!({"resourceSpans": [], "pad": "x".repeat(3 * 1024 * 1024)});
    exporter(&server).post("/v1/traces", three_mib).await.expect(200);
    // A gzip bomb: 5 MiB of zeros in a few KiB; it is refused once inflating passes 4 MiB.
    let bomb = gzip(&vec![b' '; 5 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let refused = read(post_raw(&server, "application/json", Some("gzip"), bomb).await).await;
    refused.expect_error(413, "payload_too_large");
    // Elsewhere an API key still needs its workspace header.
    let keyed = Client { auth: Auth::Bearer(server.api_key.clone()), ..server.anonymous() };
    keyed.get("/v1/threads").await.expect_error(403, "invalid_workspace_id");
}
