//! The project read API: runs (from reports and traces) with their spans,
//! scores and usage, in the hosted service's shapes, for API keys only.

mod common;

use common::{Client, TestServer, is_canonical_timestamp};
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A workspace token for `ws` (a credential that is not an API key).
async fn token_client(server: &TestServer, ws: &str) -> Client {
    let token =
        server.workspace(ws).post("/v1/auth/tokens", json!({})).await.json["token"].as_str().expect("token").to_owned();
    server.bearer(&token)
}

async fn report(ws: &Client, body: Value) -> String {
    let reply = ws.post("/v1/runs", body).await;
    reply.expect(201)["run_id"].as_str().unwrap_or_else(|| panic!("no run_id: {}", reply.text)).to_owned()
}

#[tokio::test]
async fn reports_are_validated_stored_and_merged_by_trace() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws").as_user("alice");
    let thread = ws.new_thread().await;
    let message = ws.add_message(&thread, None, "assistant", "Hi").await;
    let run_id = report(&ws, json!({
        "thread_id": thread, "status": "completed", "message_id": message, "model_id": "gpt-test",
        "provider_type": "openai", "input_tokens": 42, "output_tokens": 17, "duration_ms": 1234.4,
        "first_token_ms": 90, "tags": ["beta", " beta "], "environment": "prod", "release": "1.2.3",
        "tool_calls": [{"tool_name": "search", "tool_call_id": "call_1", "tool_args": "{}", "tool_source": "frontend"}],
        "steps": [{"input_tokens": 42, "output_tokens": 17, "start_ms": 0, "end_ms": 1234}],
        "metadata": {"custom": {"plan": "pro"}}, "unknown_field": true
    })).await;
    let run = server.workspace("any").get(&format!("/v1/projects/runs/{run_id}")).await;
    let run = run.expect(200);
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(
        (run["thread_id"].as_str(), run["message_id"].as_str()),
        (Some(thread.as_str()), Some(message.as_str()))
    );
    assert_eq!((run["created_by"].as_str(), run["workspace_id"].as_str()), (Some("alice"), Some("ws")));
    assert_eq!(
        (run["status"].as_str(), run["provider"].as_str(), run["model_id"].as_str()),
        (Some("completed"), Some("openai"), Some("gpt-test"))
    );
    assert_eq!(
        (run["input_tokens"].as_i64(), run["duration_ms"].as_i64(), run["total_steps"].as_i64()),
        (Some(42), Some(1234), Some(1))
    );
    assert_eq!(run["tags"], json!(["beta"]));
    assert_eq!(
        run["attributes"],
        json!({"custom": {"plan": "pro"}, "unknown_field": true, "client.first_token_ms": 90})
    );
    assert_eq!(run["metadata"], run["attributes"]);
    assert!(run["created_at"].as_str().is_some_and(is_canonical_timestamp), "{run}");
    let spans = run["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "a step and a tool call: {run}");
    assert_eq!(
        (spans[0]["type"].as_str(), spans[0]["step_type"].as_str(), spans[0]["span_index"].as_i64()),
        (Some("generation"), Some("initial"), Some(0))
    );
    assert_eq!(
        (spans[1]["type"].as_str(), spans[1]["tool_name"].as_str(), spans[1]["input"].as_str()),
        (Some("tool_call"), Some("search"), Some("{}"))
    );

    // The refusals of the contract.
    let other_thread = ws.new_thread().await;
    ws.post("/v1/runs", json!({"thread_id": other_thread, "status": "completed", "message_id": message}))
        .await
        .expect_error(400, "message_not_in_thread");
    ws.post("/v1/runs", json!({"thread_id": "thread_nope", "status": "completed"}))
        .await
        .expect_error(404, "thread_not_found");
    server
        .workspace("elsewhere")
        .post("/v1/runs", json!({"thread_id": thread, "status": "completed"}))
        .await
        .expect_error(404, "thread_not_found");
    ws.post("/v1/runs", json!({"thread_id": thread, "status": "completed", "attributes": {"pad": "x".repeat(16_400)}}))
        .await
        .expect_error(400, "attributes_too_large");
    for bad in [
        json!({"thread_id": thread, "status": "done"}),
        json!({"thread_id": thread, "status": "completed", "outcome_type": "nope"}),
        json!({"thread_id": thread, "status": "completed", "duration_ms": -5}),
        json!({"thread_id": thread, "status": "completed", "tags": "beta"}),
        json!({"thread_id": thread, "status": "completed", "root_span_id": "xyz"}),
        json!({"thread_id": thread, "status": "completed", "tool_calls": [{"tool_call_id": "c"}]}),
        json!({"thread_id": thread, "status": "completed", "input_tokens": 100_000_001}),
        json!({"thread_id": thread, "status": "completed", "metadata": "x"}),
    ] {
        ws.post("/v1/runs", bad.clone()).await.expect_error(400, "invalid_request");
    }

    // Reports carrying one trace id are one run; a later one wins field by field.
    let first =
        report(&ws, json!({"thread_id": thread, "status": "incomplete", "trace_id": TRACE, "model_id": "m1"})).await;
    let second =
        report(&ws, json!({"thread_id": thread, "status": "completed", "trace_id": TRACE, "duration_ms": 5})).await;
    assert_eq!(first, second);
    let merged = server.workspace("any").get(&format!("/v1/projects/runs/{first}")).await;
    assert_eq!(
        (merged.json["status"].as_str(), merged.json["model_id"].as_str(), merged.json["duration_ms"].as_i64()),
        (Some("completed"), Some("m1"), Some(5))
    );
    assert_eq!(merged.json["trace_id"], TRACE);
}

#[tokio::test]
async fn runs_page_by_cursor_with_filters() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let other = server.workspace("other").as_user("bob");
    let other_thread = other.new_thread().await;
    let mut made = Vec::new();
    for i in 0..23 {
        let (client, thread_id) = if i % 4 == 0 { (&other, &other_thread) } else { (&ws, &thread) };
        let status = if i % 3 == 0 { "error" } else { "completed" };
        let tags = if i % 5 == 0 { json!(["beta"]) } else { json!([]) };
        made.push(
            report(client, json!({"thread_id": thread_id, "status": status, "tags": tags, "model_id": "m"})).await,
        );
    }
    made.reverse();
    let api = server.workspace("reader");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit=10&cursor={cursor}"),
            None => "?limit=10".into(),
        };
        let page = api.get(&format!("/v1/projects/runs{query}")).await;
        let page = page.expect(200).clone();
        seen.extend(common::ids(&page["runs"]));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(
                    page["next_cursor"].is_null() && page.as_object().is_some_and(|o| o.contains_key("next_cursor"))
                );
                break;
            }
        }
    }
    assert_eq!(seen, made, "newest first, every run once");
    let count = |query: &str| {
        let api = api.clone();
        let query = query.to_owned();
        async move {
            api.get(&format!("/v1/projects/runs?limit=100&{query}")).await.expect(200)["runs"]
                .as_array()
                .expect("runs")
                .len()
        }
    };
    assert_eq!(count("status=error").await, 8);
    assert_eq!(count(&format!("thread_id={other_thread}")).await, 6);
    assert_eq!(count("created_by=bob").await, 6);
    assert_eq!(count("created_by=bob&status=error").await, 2);
    assert_eq!(count("tag=beta").await, 5);
    assert_eq!(count("workspace_id=other").await, 6);
    assert_eq!(count("model_id=zzz").await, 0);
    assert_eq!(count("from=2000-01-01T00:00:00.000Z&to=2000-01-02T00:00:00.000Z").await, 0);
    assert_eq!(count("from=2000-01-01T00:00:00Z").await, 23);
    assert_eq!(
        api.get("/v1/projects/runs").await.expect(200)["runs"].as_array().map(Vec::len),
        Some(23),
        "default limit 50"
    );

    api.get("/v1/projects/runs?cursor=nope").await.expect_error(400, "invalid_cursor");
    for bad in ["limit=0", "limit=101", "limit=ten"] {
        api.get(&format!("/v1/projects/runs?{bad}")).await.expect_error(400, "invalid_limit");
    }
    for bad in [
        "status=done",
        "outcome_type=x",
        "from=yesterday",
        "to=2026-09-01",
        "environment=",
        &format!("thread_id={}", "t".repeat(49)),
    ] {
        api.get(&format!("/v1/projects/runs?{bad}")).await.expect_error(400, "invalid_query");
    }
    api.get("/v1/projects/runs?status=a&status=b").await.expect(400);
    api.get("/v1/projects/runs/run_nope").await.expect_error(404, "run_not_found");
    api.get(&format!("/v1/projects/runs/{}", "r".repeat(49))).await.expect_error(400, "invalid_query");

    // Browser credentials are refused; another project sees nothing.
    let browser = token_client(&server, "ws").await;
    for path in [
        "/v1/projects/runs",
        "/v1/projects/runs/run_x",
        "/v1/projects/scores",
        "/v1/projects/usage/daily",
        "/v1/projects/usage/period",
    ] {
        browser.get(path).await.expect_error(403, "api_key_required");
    }
    let cli = threadhold_server::service::Actor::Cli;
    threadhold_server::service::projects::create(server.store.as_ref(), &cli, "acme", "Acme").await.expect("project");
    let acme_key = threadhold_server::service::keys::create(server.store.as_ref(), &cli, "acme", "k", None)
        .await
        .expect("key")
        .secret;
    let acme =
        Client { auth: common::Auth::ApiKey { key: acme_key, workspace: "w".into(), user: None }, ..api.clone() };
    assert_eq!(acme.get("/v1/projects/runs").await.expect(200)["runs"], json!([]));
    acme.get(&format!("/v1/projects/runs/{}", made[0])).await.expect_error(404, "run_not_found");
    // As on the hosted service, project-wide routes need no workspace header.
    let bare = server.bearer(&server.api_key);
    assert_eq!(bare.get("/v1/projects/runs?limit=100").await.expect(200)["runs"].as_array().map(Vec::len), Some(23));
    bare.get("/v1/projects/threads").await.expect(200);
    bare.get("/v1/threads").await.expect_error(403, "invalid_workspace_id");
}

fn otlp(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chat-api"}}]},
        "scopeSpans": [{"scope": {"name": "ai"}, "spans": spans}]
    }]})
}

fn span(id: &str, parent: Option<&str>, name: &str, start_ms: u64, end_ms: u64, attributes: Value) -> Value {
    json!({"traceId": TRACE, "spanId": id, "parentSpanId": parent.unwrap_or(""), "name": name, "kind": 1,
           "startTimeUnixNano": (start_ms * 1_000_000).to_string(), "endTimeUnixNano": (end_ms * 1_000_000).to_string(),
           "attributes": attributes, "status": {"code": 1}})
}

fn attr(key: &str, value: Value) -> Value {
    match value {
        Value::String(s) => json!({"key": key, "value": {"stringValue": s}}),
        Value::Number(n) => json!({"key": key, "value": {"intValue": n.to_string()}}),
        other => json!({"key": key, "value": {"stringValue": other.to_string()}}),
    }
}

#[tokio::test]
async fn trace_spans_make_a_run_that_a_report_joins() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws").as_user("alice");
    let thread = ws.new_thread().await;
    let message = ws.add_message(&thread, None, "assistant", "Hi").await;
    let exporter = server.bearer(&server.api_key);
    let spans = vec![
        span(
            "00000000000000a2",
            Some("00000000000000a1"),
            "ai.streamText.doStream",
            1_000_010,
            1_000_400,
            json!([
                attr("ai.model.id", json!("gpt-4o-mini")),
                attr("ai.model.provider", json!("openai.chat")),
                attr("gen_ai.usage.input_tokens", json!(10)),
                attr("gen_ai.usage.output_tokens", json!(4)),
                attr("ai.response.msToFirstChunk", json!(50))
            ]),
        ),
        span(
            "00000000000000a1",
            None,
            "ai.streamText",
            1_000_000,
            1_001_000,
            json!([
                attr("ai.model.id", json!("gpt-4o-mini")),
                attr("ai.usage.inputTokens", json!(30)),
                attr("gen_ai.conversation.id", json!(thread.clone())),
                attr("user.id", json!("alice"))
            ]),
        ),
        span(
            "00000000000000a3",
            Some("00000000000000a1"),
            "ai.toolCall",
            1_000_400,
            1_000_500,
            json!([
                attr("ai.toolCall.name", json!("weather")),
                attr("ai.toolCall.id", json!("call_1")),
                attr("ai.toolCall.args", json!("{\"city\":\"Oslo\"}"))
            ]),
        ),
        span(
            "00000000000000a4",
            Some("00000000000000a1"),
            "ai.streamText.doStream",
            1_000_500,
            1_000_990,
            json!([
                attr("ai.model.id", json!("gpt-4o-mini")),
                attr("gen_ai.usage.input_tokens", json!(20)),
                attr("gen_ai.usage.output_tokens", json!(6))
            ]),
        ),
    ];
    assert_eq!(exporter.post("/v1/traces", otlp(spans)).await.expect(200), &json!({}));
    let api = server.workspace("reader");
    let runs = api.get(&format!("/v1/projects/runs?thread_id={thread}")).await.expect(200).clone();
    let runs = runs["runs"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), 1, "the trace made one run on its thread: {runs:?}");
    let run_id = runs[0]["id"].as_str().expect("id").to_owned();
    let run = api.get(&format!("/v1/projects/runs/{run_id}")).await.expect(200).clone();
    assert_eq!(
        (run["workspace_id"].as_str(), run["created_by"].as_str(), run["service_name"].as_str()),
        (Some("ws"), Some("alice"), Some("chat-api"))
    );
    assert_eq!(
        (run["input_tokens"].as_i64(), run["output_tokens"].as_i64(), run["total_steps"].as_i64()),
        (Some(30), Some(10), Some(2))
    );
    assert_eq!(
        (run["duration_ms"].as_i64(), run["first_token_ms"].as_i64(), run["status"].as_str()),
        (Some(1_000), Some(60), Some("completed"))
    );
    let order: Vec<(&str, i64, Option<&str>)> = run["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| (s["span_id"].as_str().unwrap_or(""), s["start_ms"].as_i64().unwrap_or(-1), s["step_type"].as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("00000000000000a1", 0, Some("initial")),
            ("00000000000000a2", 10, Some("continue")),
            ("00000000000000a3", 400, None),
            ("00000000000000a4", 500, Some("tool-result")),
        ]
    );
    let tool = &run["spans"][2];
    assert_eq!(
        (tool["type"].as_str(), tool["tool_name"].as_str(), tool["input"].as_str()),
        (Some("tool_call"), Some("weather"), Some("{\"city\":\"Oslo\"}"))
    );
    assert_eq!(tool["id"], format!("{TRACE}00000000000000a3"));
    assert!(tool["started_at"].as_str().is_some_and(is_canonical_timestamp));

    // The browser's report lands on the same run: it adds the message and an aborted outcome.
    let joined = report(
        &ws,
        json!({"thread_id": thread, "status": "incomplete", "outcome_type": "aborted",
        "trace_id": TRACE, "message_id": message, "model_id": "client-says", "input_tokens": 1}),
    )
    .await;
    assert_eq!(joined, run_id);
    let run = api.get(&format!("/v1/projects/runs/{run_id}")).await.expect(200).clone();
    assert_eq!(
        (run["model_id"].as_str(), run["input_tokens"].as_i64()),
        (Some("gpt-4o-mini"), Some(30)),
        "spans stay authoritative"
    );
    assert_eq!((run["outcome_type"].as_str(), run["message_id"].as_str()), (Some("aborted"), Some(message.as_str())));
    assert_eq!(run["spans"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn scores_are_listed_newest_first() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let run_id = report(&ws, json!({"thread_id": thread, "status": "completed"})).await;
    let mut made = Vec::new();
    for i in 0..7 {
        let body = if i % 2 == 0 {
            json!({"name": format!("quality{i}"), "data_type": "numeric", "value": i, "thread_id": thread, "comment": "ok"})
        } else {
            json!({"name": "latency", "data_type": "boolean", "value": true, "run_id": run_id})
        };
        let reply = ws.as_user(&format!("u{i}")).post("/v1/scores", body).await;
        made.push(reply.expect(201)["score_id"].as_str().expect("id").to_owned());
    }
    let browser = token_client(&server, "ws").await;
    let end_user = browser
        .post(
            "/v1/scores",
            json!({"name": "stars", "data_type": "categorical", "string_value": "five", "thread_id": thread}),
        )
        .await;
    made.push(end_user.expect(201)["score_id"].as_str().expect("id").to_owned());
    made.reverse();
    let api = server.workspace("reader");
    let all = api.get("/v1/projects/scores").await.expect(200).clone();
    assert_eq!(common::ids(&all["scores"]), made);
    assert!(all.as_object().is_some_and(|o| !o.contains_key("next_cursor")), "the REST list has no cursor");
    let newest = &all["scores"][0];
    assert_eq!(
        (newest["name"].as_str(), newest["data_type"].as_str(), newest["string_value"].as_str()),
        (Some("stars"), Some("categorical"), Some("five"))
    );
    assert_eq!(
        (newest["source"].as_str(), newest["value"].is_null(), newest["thread_id"].as_str()),
        (Some("end_user"), true, Some(thread.as_str()))
    );
    let on_run = api.get(&format!("/v1/projects/scores?run_id={run_id}")).await.expect(200).clone();
    assert_eq!(on_run["scores"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        (on_run["scores"][0]["value"].as_f64(), on_run["scores"][0]["source"].as_str()),
        (Some(1.0), Some("api"))
    );
    let named = api.get("/v1/projects/scores?name=quality2").await.expect(200).clone();
    assert_eq!(
        (named["scores"][0]["comment"].as_str(), named["scores"][0]["author_id"].as_str()),
        (Some("ok"), Some("u2"))
    );
    let page = api.get(&format!("/v1/projects/scores?limit=3&after={}", made[2])).await.expect(200).clone();
    assert_eq!(common::ids(&page["scores"]), made[3..6].to_vec());
    assert_eq!(api.get("/v1/projects/scores?after=score_unknown").await.expect(200)["scores"], json!([]));
    assert_eq!(api.get("/v1/projects/scores?since=2999-01-01T00:00:00Z").await.expect(200)["scores"], json!([]));
    assert!(api.get("/v1/projects/scores?limit=200").await.status.is_success());
    api.get("/v1/projects/scores?limit=201").await.expect_error(400, "invalid_limit");
    api.get("/v1/projects/scores?since=soon").await.expect_error(400, "invalid_query");
}

#[tokio::test]
async fn usage_is_reported_per_day_and_per_month() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Hello there").await;
    server.workspace("other").add_message(&server.workspace("other").new_thread().await, None, "user", "Hi").await;
    for (model, status, tokens) in [("a", "completed", 10), ("a", "error", 5), ("b", "completed", 100)] {
        report(
            &ws,
            json!({"thread_id": thread, "status": status, "model_id": model, "provider": "openai",
            "input_tokens": tokens, "output_tokens": 1, "cost_usd": 0.25}),
        )
        .await;
    }
    let api = server.workspace("reader");
    let daily = api.get("/v1/projects/usage/daily").await.expect(200).clone();
    let days = daily["days"].as_array().expect("days");
    assert_eq!(days.len(), 30, "the default window: today and the 29 days before");
    let today = threadhold_domain::telemetry::usage::day_of(threadhold_domain::now_ms()).format("%Y-%m-%d").to_string();
    let last = &days[29];
    assert_eq!(last["day"], today.as_str());
    assert_eq!(
        (last["runs"].as_i64(), last["errors"].as_i64(), last["input_tokens"].as_i64()),
        (Some(3), Some(1), Some(115))
    );
    assert_eq!(
        (last["output_tokens"].as_i64(), last["total_tokens"].as_i64(), last["cost_usd"].as_f64()),
        (Some(3), Some(118), Some(0.75))
    );
    assert_eq!((last["messages"].as_i64(), last["active_users"].as_i64()), (Some(2), Some(2)));
    assert!(last["provider"].is_null() && last["model_id"].is_null());
    assert_eq!((days[0]["runs"].as_i64(), days[0]["messages"].as_i64()), (Some(0), Some(0)), "zero-filled");
    let grouped =
        api.get(&format!("/v1/projects/usage/daily?from={today}&to={today}&group_by=model")).await.expect(200).clone();
    let rows: Vec<(Option<&str>, Option<i64>)> = grouped["days"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["model_id"].as_str(), r["runs"].as_i64()))
        .collect();
    assert_eq!(rows, [(Some("a"), Some(2)), (Some("b"), Some(1))]);
    assert!(grouped["days"][0].get("messages").is_none(), "messages are per day, not per model");
    let one = api.get("/v1/projects/usage/daily?from=2026-01-01&to=2026-01-01").await.expect(200).clone();
    assert_eq!(one["days"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        api.get("/v1/projects/usage/daily?from=2026-01-01&to=2027-01-02").await.expect(200)["days"]
            .as_array()
            .map(Vec::len),
        Some(367)
    );
    api.get("/v1/projects/usage/daily?from=2026-01-01&to=2027-01-03").await.expect_error(400, "invalid_day_range");
    api.get("/v1/projects/usage/daily?from=2026-01-02&to=2026-01-01").await.expect_error(400, "invalid_day_range");
    api.get("/v1/projects/usage/daily?from=2026-02-30").await.expect_error(400, "invalid_day");
    api.get("/v1/projects/usage/daily?to=2026-1-1").await.expect_error(400, "invalid_day");
    api.get("/v1/projects/usage/daily?group_by=provider").await.expect_error(400, "invalid_query");

    let period = api.get("/v1/projects/usage/period").await.expect(200).clone();
    assert_eq!(period["plan"], "self-hosted");
    assert!(period["included"].is_null() && period["cap"].is_null() && period["capped_at"].is_null());
    let start = period["period_start"].as_str().expect("start");
    assert!(
        is_canonical_timestamp(start) && start.ends_with("-01T00:00:00.000Z") && start.starts_with(&today[..7]),
        "{start}"
    );
    assert!(period["period_end"].as_str().is_some_and(|end| end.ends_with("-01T00:00:00.000Z") && end > start));
    assert_eq!(
        (period["active_users"].as_i64(), period["messages"].as_i64(), period["runs"].as_i64()),
        (Some(2), Some(2), Some(3))
    );
    assert_eq!(
        (period["thread_titles"]["used"].as_i64(), period["thread_titles"]["cap"].is_null()),
        (Some(2), true),
        "both threads got a built-in title"
    );
}
