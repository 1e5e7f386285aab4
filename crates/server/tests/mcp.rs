//! `POST /v1/mcp`: the MCP tools over Streamable HTTP (stateless, JSON answers), API keys only.

mod common;

use common::{Client, Reply, TestServer};
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-06-18";

async fn rpc(client: &Client, body: Value) -> Reply {
    let request = client
        .request(reqwest::Method::POST, "/v1/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .body(body.to_string());
    Reply::read(request.send().await.expect("send")).await
}

/// Calls a tool; returns the parsed JSON of its text content and whether it is an error.
async fn call(client: &Client, name: &str, arguments: Value) -> (Value, bool) {
    let reply = rpc(
        client,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}),
    )
    .await;
    let result = &reply.expect(200)["result"];
    let text = result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text content: {}", reply.text));
    (serde_json::from_str(text).expect("JSON text"), result["isError"] == true)
}

#[tokio::test]
async fn tools_answer_in_the_hosted_shapes() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws").as_user("alice");
    let thread = ws.create_thread(json!({"last_message_at": "2026-01-01T00:00:00.000Z", "title": "Lisbon trip"})).await;
    let user = ws.add_message(&thread, None, "user", "Plan a day in Lisbon with pastries").await;
    ws.add_message(&thread, Some(&user), "assistant", "Start with a pastel de nata").await;
    let run =
        ws.post("/v1/runs", json!({"thread_id": thread, "status": "completed", "model_id": "m"})).await.json["run_id"]
            .clone();
    ws.post("/v1/scores", json!({"name": "quality", "data_type": "numeric", "value": 0.9, "thread_id": thread}))
        .await
        .expect(201);

    let mcp = server.workspace("mcp-client");
    let init = rpc(
        &mcp,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
    )
    .await;
    assert_eq!(init.headers["content-type"], "application/json", "JSON answers, not an event stream");
    assert!(init.headers.get("mcp-session-id").is_none(), "stateless: no session");
    let result = &init.expect(200)["result"];
    assert_eq!(
        (result["serverInfo"]["name"].as_str(), result["protocolVersion"].as_str()),
        (Some("threadhold"), Some(PROTOCOL))
    );
    assert!(result["capabilities"]["tools"].is_object());
    let initialized = rpc(&mcp, json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(initialized.status.as_u16(), 202);

    let listed = rpc(&mcp, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    let tools = listed.expect(200)["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in [
        "list_threads",
        "list_scores",
        "list_runs",
        "get_thread_messages",
        "search_threads",
        "get_run",
        "usage_daily",
        "usage_period",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(tools.iter().all(|t| t["annotations"]["readOnlyHint"] == true && t["inputSchema"]["type"] == "object"));

    let (runs, failed) = call(&mcp, "list_runs", json!({"limit": 10})).await;
    assert!(!failed);
    assert_eq!((runs["runs"][0]["id"].clone(), runs["next_cursor"].clone()), (run.clone(), Value::Null));
    let (detail, _) = call(&mcp, "get_run", json!({"run_id": run})).await;
    assert_eq!((detail["model_id"].as_str(), detail["spans"].as_array().map(Vec::len)), (Some("m"), Some(0)));
    let (scores, _) = call(&mcp, "list_scores", json!({"name": "quality"})).await;
    assert_eq!((scores["scores"][0]["value"].as_f64(), scores["next_cursor"].clone()), (Some(0.9), Value::Null));
    let (threads, _) = call(&mcp, "list_threads", json!({"created_by": "ws", "limit": 5})).await;
    assert_eq!(
        (threads["threads"][0]["id"].as_str(), threads["threads"][0]["title"].as_str()),
        (Some(thread.as_str()), Some("Lisbon trip"))
    );
    let (messages, _) = call(&mcp, "get_thread_messages", json!({"thread_id": thread, "format": "ai-sdk/v6"})).await;
    assert_eq!(messages["thread"]["id"], thread.as_str());
    let messages = messages["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m["format"] == "ai-sdk/v6"), "converted: {messages:?}");
    let (found, _) = call(&mcp, "search_threads", json!({"query": "pastel", "workspace_id": "ws"})).await;
    assert_eq!(found["results"][0]["thread"]["id"], thread.as_str());
    let (nothing, _) = call(&mcp, "search_threads", json!({"query": "pastel"})).await;
    assert_eq!(nothing["results"], json!([]), "the header's workspace holds no thread");
    let (daily, _) = call(&mcp, "usage_daily", json!({})).await;
    assert_eq!(daily["days"].as_array().map(Vec::len), Some(30));
    let (period, _) = call(&mcp, "usage_period", json!({})).await;
    assert_eq!(period["plan"], "self-hosted");

    // Refused arguments are tool errors with the hosted messages.
    assert_eq!(
        call(&mcp, "list_runs", json!({"cursor": "nope"})).await,
        (json!({"error": "Invalid run cursor"}), true)
    );
    assert_eq!(call(&mcp, "list_threads", json!({"cursor": "nope"})).await, (json!({"error": "Invalid cursor"}), true));
    assert_eq!(call(&mcp, "get_run", json!({"run_id": "run_nope"})).await, (json!({"error": "Run not found"}), true));
    assert_eq!(
        call(&mcp, "get_thread_messages", json!({"thread_id": "thread_nope"})).await,
        (json!({"error": "Thread not found"}), true)
    );
    assert_eq!(
        call(&mcp, "usage_daily", json!({"from": "2026-02-30"})).await,
        (json!({"error": "Invalid usage day range"}), true)
    );
    assert_eq!(
        call(&mcp, "usage_daily", json!({"from": "2020-01-01", "to": "2026-01-01"})).await,
        (json!({"error": "Usage day range must span at most 366 days"}), true)
    );
    assert!(call(&mcp, "list_runs", json!({"limit": 101})).await.1);
    assert!(call(&mcp, "list_scores", json!({"thread_id": ["x"]})).await.1);
    assert!(call(&mcp, "search_threads", json!({})).await.1);
    let unknown = rpc(
        &mcp,
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "drop_tables", "arguments": {}}}),
    )
    .await;
    assert!(unknown.expect(200)["error"]["message"].as_str().is_some_and(|m| m.contains("Unknown tool")));
}

#[tokio::test]
async fn only_api_keys_and_post() {
    let server = TestServer::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let token = server.workspace("ws").post("/v1/auth/tokens", json!({})).await.json["token"]
        .as_str()
        .expect("token")
        .to_owned();
    rpc(&server.bearer(&token), init.clone()).await.expect_error(403, "api_key_required");
    rpc(&server.anonymous(), init.clone()).await.expect_error(401, "missing_authorization");
    let mcp = server.workspace("ws");
    mcp.get("/v1/mcp").await.expect_error(405, "method_not_allowed");
    mcp.delete("/v1/mcp", None).await.expect_error(405, "method_not_allowed");
    // Malformed requests get threadhold's JSON errors, not the transport's plain text.
    let not_json =
        mcp.request(reqwest::Method::POST, "/v1/mcp").header("accept", "application/json, text/event-stream").body("{");
    Reply::read(not_json.send().await.expect("send")).await.expect_error(400, "invalid_json");
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(3 * 1024 * 1024)}});
    rpc(&mcp, huge).await.expect_error(413, "payload_too_large");
    let wrong_accept =
        mcp.request(reqwest::Method::POST, "/v1/mcp").header("accept", "text/html").body(init.to_string());
    let reply = Reply::read(wrong_accept.send().await.expect("send")).await;
    reply.expect_error(406, "not_acceptable");
}
