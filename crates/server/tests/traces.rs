//! `POST /v1/traces`: OTLP/HTTP JSON from the client's trace exporter.

mod common;

use common::{Auth, Client, Reply, TestServer};
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

#[tokio::test]
async fn model_spans_are_stored_and_others_counted_as_rejected() {
    let server = TestServer::start().await;
    let reply = exporter(&server)
        .post("/v1/traces", export(vec![span("ai.generateText", TRACE), span("gen_ai.chat", TRACE)]))
        .await;
    assert_eq!(reply.expect(200), &json!({}));
    let mut other = span("http.request", TRACE);
    let reply = exporter(&server).post("/v1/traces", export(vec![other.clone(), span("llm.call", "not-hex")])).await;
    assert_eq!(reply.expect(200)["partialSuccess"]["rejectedSpans"], 2);
    other["attributes"] = json!([{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]);
    assert_eq!(exporter(&server).post("/v1/traces", export(vec![other])).await.expect(200), &json!({}));
    let many: Vec<Value> = (0..501).map(|_| span("ai.step", TRACE)).collect();
    assert_eq!(
        exporter(&server).post("/v1/traces", export(many)).await.expect(200)["partialSuccess"]["rejectedSpans"],
        1
    );
}

#[tokio::test]
async fn refusals() {
    let server = TestServer::start().await;
    let token =
        server.workspace("ws").post("/v1/auth/tokens", json!({})).await.json["token"].as_str().expect("t").to_owned();
    server.bearer(&token).post("/v1/traces", export(vec![])).await.expect_error(403, "api_key_required");
    let url = format!("{}/v1/traces", server.url);
    let protobuf = server
        .http
        .post(&url)
        .bearer_auth(&server.api_key)
        .header("content-type", "application/x-protobuf")
        .body(vec![1u8, 2, 3]);
    Reply::read(protobuf.send().await.expect("send")).await.expect_error(415, "unsupported_media_type");
    let gzip =
        exporter(&server).request(reqwest::Method::POST, "/v1/traces").header("content-encoding", "gzip").body("{}");
    Reply::read(gzip.send().await.expect("send")).await.expect_error(415, "unsupported_media_type");
    exporter(&server).post("/v1/traces", json!({"resourceSpans": 5})).await.expect(400);
    let huge = json!({"resourceSpans": [], "pad": "x".repeat(5 * 1024 * 1024)});
    let too_large = exporter(&server).post("/v1/traces", huge).await;
    too_large.expect_error(413, "payload_too_large");
    assert!(too_large.json["message"].as_str().is_some_and(|m| m.contains("4194304")), "{}", too_large.text);
    let three_mib = json!({"resourceSpans": [], "pad": "x".repeat(3 * 1024 * 1024)});
    exporter(&server).post("/v1/traces", three_mib).await.expect(200);
    // Elsewhere an API key still needs its workspace header.
    let keyed = Client { auth: Auth::Bearer(server.api_key.clone()), ..server.anonymous() };
    keyed.get("/v1/threads").await.expect_error(403, "invalid_workspace_id");
}
