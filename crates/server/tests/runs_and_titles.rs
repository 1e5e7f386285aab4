//! Titles through `/v1/runs/stream`, run reports, engagement events, scores.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn title_stream_answers_plain_text_and_persists_the_title() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let response = ws
        .request(reqwest::Method::POST, "/v1/runs/stream")
        .header("accept", "text/plain")
        .body(
            json!({"thread_id": thread, "assistant_id": "system/thread_title", "messages": [
                {"id": "m1", "createdAt": "2026-01-01T00:00:00.000Z", "role": "user", "content": [{"type": "text", "text": "What is the capital of Portugal?"}], "status": {"type": "complete"}, "attachments": []}
            ]})
            .to_string(),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    let title = response.text().await.expect("text");
    assert_eq!(title, "What is the capital of Portugal");
    assert_eq!(ws.get(&format!("/v1/threads/{thread}")).await.json["thread"]["title"], title.as_str());
}

#[tokio::test]
async fn first_user_message_titles_the_thread_and_users_win() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}");
    ws.add_message(&thread, None, "assistant", "Welcome! How can I help?").await;
    assert!(ws.get(&path).await.json["thread"]["title"].is_null(), "assistant messages do not title");
    ws.add_message(&thread, None, "user", "  Plan a three day trip to Kyoto in spring please").await;
    assert_eq!(ws.get(&path).await.json["thread"]["title"], "Plan a three day trip to Kyoto in");
    ws.add_message(&thread, None, "user", "Something else entirely").await;
    assert_eq!(ws.get(&path).await.json["thread"]["title"], "Plan a three day trip to Kyoto in", "never replaced");

    ws.put(&path, json!({"title": "My trip"})).await.expect(200);
    let streamed = ws.post("/v1/runs/stream", json!({"thread_id": thread, "assistant_id": "system/thread_title", "messages": [{"role": "user", "content": [{"type": "text", "text": "other"}]}]})).await;
    assert_eq!(streamed.text, "My trip", "a titled thread streams its stored title");
    assert_eq!(ws.get(&path).await.json["thread"]["title"], "My trip");
}

#[tokio::test]
async fn title_stream_falls_back_to_stored_messages_then_a_placeholder() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let streamed = ws
        .post("/v1/runs/stream", json!({"thread_id": thread, "assistant_id": "system/thread_title", "messages": []}))
        .await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.text, "New Chat", "never an empty body");
    assert!(
        ws.get(&format!("/v1/threads/{thread}")).await.json["thread"]["title"].is_null(),
        "the placeholder is not stored"
    );
    ws.post(
        "/v1/runs/stream",
        json!({"thread_id": "thread_nope", "assistant_id": "system/thread_title", "messages": []}),
    )
    .await
    .expect_error(404, "thread_not_found");
    ws.post("/v1/runs/stream", json!({"thread_id": thread, "assistant_id": "my/assistant", "messages": []}))
        .await
        .expect_error(400, "unsupported_assistant");
    ws.post("/v1/runs/stream", json!({"assistant_id": "system/thread_title"})).await.expect(400);
}

#[tokio::test]
async fn run_reports_are_stored_and_answer_a_run_id() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let reply = ws
        .post("/v1/runs", json!({"thread_id": thread, "status": "completed", "duration_ms": 120, "tool_calls": [{"tool_name": "t", "tool_call_id": "c"}], "unknown_field": true}))
        .await;
    let run_id = reply.expect(201)["run_id"].as_str().expect("run id").to_owned();
    assert!(run_id.starts_with("run_") && run_id.len() <= 48);
    ws.post("/v1/runs", json!({"thread_id": thread, "status": "weird"})).await.expect(400);
    ws.post("/v1/runs", json!({"status": "completed"})).await.expect(400);
    ws.post("/v1/runs", json!({"thread_id": "thread_x", "status": "error"}))
        .await
        .expect_error(404, "thread_not_found");
    // Scores can target the stored run.
    let score = ws
        .post("/v1/scores", json!({"name": "latency.ok", "data_type": "boolean", "value": true, "run_id": run_id}))
        .await;
    assert_eq!(score.expect(201)["value"], 1.0);
}

#[tokio::test]
async fn events_are_accepted_and_foreign_threads_dropped() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let foreign = server.workspace("other").new_thread().await;
    let reply = ws
        .post(
            "/v1/events",
            json!({"events": [
                {"kind": "message_sent", "thread_id": thread, "props": {"chars": 12, "attachments": 0}, "value": 900},
                {"kind": "thread_switched", "thread_id": foreign},
                {"kind": "suggestions_shown", "value": 3}
            ]}),
        )
        .await;
    assert_eq!(reply.expect(202)["accepted"], 2);
    ws.post("/v1/events", json!({"events": []})).await.expect(400);
    let too_many: Vec<_> = (0..51).map(|_| json!({"kind": "message_copied"})).collect();
    ws.post("/v1/events", json!({"events": too_many})).await.expect(400);
    ws.post("/v1/events", json!({"events": [{"value": 1}]})).await.expect(400);
}

#[tokio::test]
async fn scores_follow_their_type_and_target_rules() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let message = ws.add_message(&thread, None, "assistant", "a").await;
    let numeric = ws.post("/v1/scores", json!({"name": "quality", "data_type": "numeric", "value": 0.75, "thread_id": thread, "message_id": message})).await;
    let body = numeric.expect(201).clone();
    assert_eq!(body["value"], 0.75);
    assert!(body["string_value"].is_null() && body.as_object().expect("o").contains_key("string_value"));
    let again = ws.post("/v1/scores", json!({"name": "quality", "data_type": "numeric", "value": 0.5, "thread_id": thread, "message_id": message})).await;
    assert_eq!(again.expect(201)["score_id"], body["score_id"], "upserted per target, author and name");
    let category = ws
        .post(
            "/v1/scores",
            json!({"name": "topic", "data_type": "categorical", "string_value": "travel", "thread_id": thread}),
        )
        .await;
    let category = category.expect(201).clone();
    assert!(category["value"].is_null());
    assert_eq!(category["string_value"], "travel");
    for bad in [
        json!({"name": "bad name", "data_type": "numeric", "value": 1, "thread_id": thread}),
        json!({"name": "n", "data_type": "numeric", "thread_id": thread}),
        json!({"name": "n", "data_type": "boolean", "value": 2, "thread_id": thread}),
        json!({"name": "n", "data_type": "categorical", "value": 1, "string_value": "x", "thread_id": thread}),
        json!({"name": "n", "data_type": "percent", "value": 1, "thread_id": thread}),
        json!({"name": "n", "data_type": "numeric", "value": 1}),
        json!({"name": "n", "data_type": "numeric", "value": 1, "thread_id": thread, "run_id": "run_x"}),
    ] {
        let reply = ws.post("/v1/scores", bad.clone()).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
    ws.post("/v1/scores", json!({"name": "n", "data_type": "numeric", "value": 1, "thread_id": "thread_x"}))
        .await
        .expect_error(404, "thread_not_found");
    ws.post(
        "/v1/scores",
        json!({"name": "n", "data_type": "numeric", "value": 1, "thread_id": thread, "message_id": "msg_x"}),
    )
    .await
    .expect_error(404, "message_not_found");
}
