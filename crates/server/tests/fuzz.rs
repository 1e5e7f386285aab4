//! Property-based fuzzing of the JSON body extractors through the real server:
//! random bytes, random JSON, and objects with the right member names but any
//! values, sent to every route that reads a body. Nothing may answer 5xx, and
//! every refusal is the `{"error", "message"}` envelope.
//!
//! Runs briefly in `cargo test`; for a longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p threadhold-server --test fuzz`.

mod common;

use std::sync::OnceLock;

use common::{Client, Reply, TestServer};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// One server for every case, on its own runtime.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    thread: String,
    message: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let (server, thread, message) = runtime.block_on(async {
            let server = TestServer::start().await;
            let ws = server.workspace("ws");
            let thread = ws.new_thread().await;
            let message = ws.add_message(&thread, None, "user", "hello").await;
            (server, thread, message)
        });
        Fixture { runtime, server, thread, message }
    })
}

/// Every route that reads a JSON body, with a body it accepts.
fn routes(f: &Fixture) -> Vec<(Method, String, Value)> {
    let (t, m) = (&f.thread, &f.message);
    let content = json!({"role": "user", "content": [{"type": "text", "text": "hi"}]});
    vec![
        (
            Method::POST,
            "/v1/threads".into(),
            json!({"title": "t", "metadata": {"a": 1}, "external_id": "e", "last_message_at": "2026-01-01T00:00:00.000Z"}),
        ),
        (
            Method::PUT,
            format!("/v1/threads/{t}"),
            json!({"title": "t", "metadata": {"a": 1}, "is_archived": false, "last_message_at": "2026-01-01T00:00:00.000Z"}),
        ),
        (
            Method::POST,
            format!("/v1/threads/{t}/messages"),
            json!({"parent_id": null, "format": "aui/v0", "content": content, "external_id": "x"}),
        ),
        (Method::PUT, format!("/v1/threads/{t}/messages/{m}"), json!({"content": content})),
        (Method::DELETE, format!("/v1/threads/{t}/messages"), json!({"message_ids": ["msg_none"]})),
        (Method::POST, format!("/v1/threads/{t}/messages/{m}/feedback"), json!({"type": "positive", "comment": "c"})),
        (Method::POST, format!("/v1/threads/{t}/runs/lease_x/heartbeat"), json!({})),
        (Method::POST, format!("/v1/threads/{t}/runs/lease_x/end"), json!({"reason": "completed"})),
        (Method::POST, "/v1/runs".into(), json!({"thread_id": t, "status": "completed", "steps": [], "metadata": {}})),
        (
            Method::POST,
            "/v1/runs/stream".into(),
            json!({"thread_id": t, "assistant_id": "system/thread_title", "messages": [content]}),
        ),
        (Method::POST, "/v1/events".into(), json!({"events": [{"type": "x", "thread_id": t}]})),
        (Method::POST, "/v1/scores".into(), json!({"name": "q", "data_type": "numeric", "value": 1, "thread_id": t})),
        (Method::POST, "/v1/auth/tokens".into(), json!({})),
        (Method::POST, "/v1/auth/tokens/anonymous".into(), json!({})),
        (Method::POST, "/v1/auth/tokens/refresh".into(), json!({"refresh_token": "r"})),
        (Method::POST, "/v1/threads/claim".into(), json!({"refresh_token": "r"})),
        (
            Method::POST,
            "/v1/files/attachments/generate-presigned-upload-url".into(),
            json!({"filename": "a.png", "content_type": "image/png", "content_length": 10}),
        ),
        (Method::POST, "/v1/files/attachments/generate-presigned-download-url".into(), json!({"key": "attachments/x"})),
        (Method::POST, "/v1/traces".into(), json!({"resourceSpans": []})),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[ -~]{0,20}".prop_map(Value::String),
        Just(json!("2026-01-01T00:00:00.000Z")),
        Just(json!("aui/v0")),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: raw bytes, any JSON, or the route's accepted body with one member
/// replaced by any value (or by a document nested `levels` deep).
#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    Json(Value),
    Member(usize, Value),
    Deep(usize, usize),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        1 => json().prop_map(Body::Json),
        3 => (0usize..8, json()).prop_map(|(i, v)| Body::Member(i, v)),
        1 => (0usize..8, 90usize..3000).prop_map(|(i, levels)| Body::Deep(i, levels)),
    ]
}

fn render(body: &Body, template: &Value) -> Vec<u8> {
    let replaced = |index: usize, value: String| {
        let Value::Object(members) = template else { return value.into_bytes() };
        let mut members: Vec<(String, String)> = members.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        if members.is_empty() {
            return format!("{{\"x\":{value}}}").into_bytes();
        }
        let slot = index % members.len();
        members[slot].1 = value;
        let text: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", Value::from(k.as_str()))).collect();
        format!("{{{}}}", text.join(",")).into_bytes()
    };
    match body {
        Body::Bytes(bytes) => bytes.clone(),
        Body::Json(value) => value.to_string().into_bytes(),
        Body::Member(index, value) => replaced(*index, value.to_string()),
        Body::Deep(index, levels) => {
            replaced(*index, format!("{{\"a\":{}{}}}", "[".repeat(*levels), "]".repeat(*levels)))
        }
    }
}

async fn send(client: &Client, method: Method, path: &str, body: Vec<u8>) -> Reply {
    Reply::read(client.request(method, path).body(body).send().await.expect("send")).await
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn no_body_makes_the_server_fail(body in body()) {
        let f = fixture();
        let clients = [f.server.workspace("ws"), f.server.anonymous()];
        for (method, path, template) in routes(f) {
            for client in &clients {
                let reply = f.runtime.block_on(send(client, method.clone(), &path, render(&body, &template)));
                prop_assert!(reply.status.as_u16() < 500, "{} {} -> {}: {}", method, path, reply.status, reply.text);
                if reply.status.as_u16() >= 400 {
                    prop_assert!(reply.json["error"].is_string() && reply.json["message"].is_string(),
                        "{} {}: not the error envelope: {}", method, path, reply.text);
                }
            }
        }
    }
}
