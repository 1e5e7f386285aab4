//! Run leases: opening, holder writes, heartbeats, ends, plain writes around
//! a lease, races, and the `run` state that readers see.

mod common;

use std::time::Duration;

use common::{Client, TestServer};
use serde_json::{Value, json};
use threadhold_domain::runs::LeasePolicy;
use threadhold_server::ServerConfig;

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}

/// Creates a running assistant message; returns (message id, lease id).
async fn open(ws: &Client, thread: &str, external_id: &str) -> (String, String) {
    let reply = ws
        .post(&format!("/v1/threads/{thread}/messages"), json!({"parent_id": null, "format": "aui/v0", "content": assistant(""), "external_id": external_id, "open_run": true}))
        .await;
    let body = reply.expect(201).clone();
    assert!(body["heartbeat_interval_ms"].as_i64().expect("interval") > 0);
    (body["message_id"].as_str().expect("id").to_owned(), body["lease_id"].as_str().expect("lease").to_owned())
}

async fn run_of(ws: &Client, thread: &str, message: &str) -> Value {
    let list = ws.get(&format!("/v1/threads/{thread}/messages")).await.json["messages"].clone();
    list.as_array().expect("list").iter().find(|m| m["id"] == message).expect("message")["run"].clone()
}

fn config(stale_after_ms: i64) -> ServerConfig {
    ServerConfig { leases: LeasePolicy { heartbeat_interval_ms: 10_000, stale_after_ms }, ..ServerConfig::default() }
}

#[tokio::test]
async fn a_lease_runs_until_its_holder_ends_it() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let plain = ws.add_message(&thread, None, "user", "q").await;
    assert!(run_of(&ws, &thread, &plain).await.is_null(), "no lease, no run");
    let (message, lease) = open(&ws, &thread, "local-a").await;
    let run = run_of(&ws, &thread, &message).await;
    assert_eq!(run["status"], "running");
    assert!((0..5_000).contains(&run["last_heartbeat_ms_ago"].as_i64().expect("ms")));

    let path = format!("/v1/threads/{thread}/messages/{message}");
    ws.put(&path, json!({"content": assistant("partial"), "lease_id": lease})).await.expect(200);
    let beat = ws.post(&format!("/v1/threads/{thread}/runs/{lease}/heartbeat"), json!({})).await;
    assert_eq!(beat.expect(200)["heartbeat_interval_ms"], 10_000);
    ws.put(&path, json!({"content": assistant("final"), "lease_id": lease})).await.expect(200);
    ws.post(&format!("/v1/threads/{thread}/runs/{lease}/end"), json!({"reason": "done"})).await.expect(200);
    let run = run_of(&ws, &thread, &message).await;
    assert_eq!(run["status"], "ended");
    let messages = ws.get(&format!("/v1/threads/{thread}/messages")).await.json["messages"].clone();
    let stored = messages.as_array().expect("a").iter().find(|m| m["id"] == message.as_str()).expect("m").clone();
    assert_eq!(stored["content"], assistant("final"));

    // After the end: holder writes and beats are refused for good, plain writes are fine.
    ws.put(&path, json!({"content": assistant("late"), "lease_id": lease})).await.expect_error(409, "run_ended");
    ws.post(&format!("/v1/threads/{thread}/runs/{lease}/heartbeat"), json!({})).await.expect_error(409, "run_ended");
    ws.put(&path, json!({"content": assistant("plain after end")})).await.expect(200);
    // Ending again succeeds and keeps the first reason.
    ws.post(&format!("/v1/threads/{thread}/runs/{lease}/end"), json!({"reason": "error"})).await.expect(200);
    ws.post(&format!("/v1/threads/{thread}/runs/{lease}/end"), json!({})).await.expect(200);
    let stored = server.store.get_run_lease(&lease).await.expect("read").expect("lease");
    assert_eq!(stored.end_reason.as_deref(), Some("done"));
    assert!(!stored.running);
}

#[tokio::test]
async fn unknown_foreign_and_mismatched_leases_are_refused() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let (first, lease_a) = open(&ws, &thread, "a").await;
    let (_, lease_b) = open(&ws, &thread, "b").await;
    let path = format!("/v1/threads/{thread}/messages/{first}");
    ws.put(&path, json!({"content": {}, "lease_id": lease_b})).await.expect_error(409, "lease_mismatch");
    ws.put(&path, json!({"content": {}, "lease_id": "lease_nope"})).await.expect_error(404, "not_found");
    ws.post(&format!("/v1/threads/{thread}/runs/lease_nope/heartbeat"), json!({})).await.expect_error(404, "not_found");
    ws.post(&format!("/v1/threads/{thread}/runs/lease_nope/end"), json!({})).await.expect_error(404, "not_found");
    ws.post(&format!("/v1/threads/{thread}/runs/{lease_a}/end"), json!({"reason": "bored"})).await.expect(400);
    let other_thread = ws.new_thread().await;
    ws.post(&format!("/v1/threads/{other_thread}/runs/{lease_a}/heartbeat"), json!({}))
        .await
        .expect_error(404, "not_found");
    let stranger = server.workspace("stranger");
    stranger
        .post(&format!("/v1/threads/{thread}/runs/{lease_a}/heartbeat"), json!({}))
        .await
        .expect_error(404, "not_found");
    stranger.post(&format!("/v1/threads/{thread}/runs/{lease_a}/end"), json!({})).await.expect_error(404, "not_found");
    // Deleting the thread takes its leases along.
    ws.delete(&format!("/v1/threads/{thread}"), None).await.expect(200);
    ws.post(&format!("/v1/threads/{thread}/runs/{lease_a}/heartbeat"), json!({})).await.expect_error(404, "not_found");
}

#[tokio::test]
async fn plain_writes_wait_for_a_live_holder_and_close_an_abandoned_lease() {
    let server = TestServer::start_with(config(1_500)).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let (message, lease) = open(&ws, &thread, "a").await;
    let path = format!("/v1/threads/{thread}/messages/{message}");
    ws.put(&path, json!({"content": assistant("from another tab")})).await.expect_error(409, "run_in_progress");
    // The holder disappears: no beats. The run stays readable and turns stale.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let run = run_of(&ws, &thread, &message).await;
    assert_eq!(run["status"], "running");
    assert!(run["last_heartbeat_ms_ago"].as_i64().expect("ms") >= 1_500);
    ws.put(&path, json!({"content": assistant("recovered")})).await.expect(200);
    assert_eq!(run_of(&ws, &thread, &message).await["status"], "ended");
    let stored = server.store.get_run_lease(&lease).await.expect("read").expect("lease");
    assert_eq!(stored.end_reason.as_deref(), Some("abandoned"));
    // If the holder was only slow, it learns it lost the lease.
    ws.put(&path, json!({"content": assistant("too late"), "lease_id": lease})).await.expect_error(409, "run_ended");
}

#[tokio::test]
async fn reopening_a_message_and_holder_creates() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let (message, lease) = open(&ws, &thread, "local-1").await;
    let path = format!("/v1/threads/{thread}/messages");
    // open_run again on the same external id while it runs: refused.
    ws.post(&path, json!({"parent_id": null, "format": "aui/v0", "content": assistant(""), "external_id": "local-1", "open_run": true}))
        .await
        .expect_error(409, "run_in_progress");
    // A create carrying lease_id writes the external id's message as holder.
    let holder = ws.post(&path, json!({"parent_id": null, "format": "aui/v0", "content": assistant("via create"), "external_id": "local-1", "lease_id": lease})).await;
    assert_eq!(holder.expect(200)["message_id"], message.as_str());
    ws.post(&path, json!({"parent_id": null, "format": "aui/v0", "content": {}, "lease_id": lease})).await.expect(400);
    ws.post(
        &path,
        json!({"parent_id": null, "format": "aui/v0", "content": {}, "external_id": "other", "lease_id": lease}),
    )
    .await
    .expect_error(409, "lease_mismatch");
    ws.post(&format!("/v1/threads/{thread}/runs/{lease}/end"), json!({"reason": "cancelled"})).await.expect(200);
    // After the end, the message can be reopened (a continued run) with a new lease.
    let again = ws.post(&path, json!({"parent_id": null, "format": "aui/v0", "content": assistant(""), "external_id": "local-1", "open_run": true})).await;
    let again = again.expect(200).clone();
    assert_eq!(again["message_id"], message.as_str());
    assert_ne!(again["lease_id"], lease.as_str());
    assert_eq!(run_of(&ws, &thread, &message).await["status"], "running");
}

#[tokio::test]
async fn racing_opens_and_writers_stay_consistent() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    let mut opens = Vec::new();
    for _ in 0..8 {
        let (ws, path) = (ws.clone(), path.clone());
        opens.push(tokio::spawn(async move {
            ws.post(&path, json!({"parent_id": null, "format": "aui/v0", "content": assistant(""), "external_id": "race", "open_run": true})).await
        }));
    }
    let mut leases = Vec::new();
    for open in opens {
        let reply = open.await.expect("task");
        if reply.status.is_success() {
            leases.push(reply.json["lease_id"].as_str().expect("lease").to_owned());
        } else {
            reply.expect_error(409, "run_in_progress");
        }
    }
    assert_eq!(leases.len(), 1, "exactly one racer holds the lease");
    let lease = leases.remove(0);
    let message = ws.message_ids(&thread, "").await.remove(0);
    // Two writers holding the same lease: every write lands, serialized, none is lost or torn.
    let mut writers = Vec::new();
    for i in 0..10 {
        let (ws, lease) = (ws.clone(), lease.clone());
        let target = format!("{path}/{message}");
        writers.push(tokio::spawn(async move {
            ws.put(&target, json!({"content": assistant(&format!("w{i}")), "lease_id": lease})).await.status.as_u16()
        }));
    }
    for writer in writers {
        assert_eq!(writer.await.expect("task"), 200);
    }
    let (end_path, write_path) = (format!("/v1/threads/{thread}/runs/{lease}/end"), format!("{path}/{message}"));
    let end = ws.post(&end_path, json!({}));
    let write = ws.put(&write_path, json!({"content": assistant("racing the end"), "lease_id": lease}));
    let (end, write) = tokio::join!(end, write);
    end.expect(200);
    assert!(write.status == 200 || (write.status == 409 && write.json["error"] == "run_ended"), "{}", write.text);
    let content = ws.get(&path).await.json["messages"][0]["content"]["content"][0]["text"].clone();
    assert!(content.as_str().is_some_and(|text| text.starts_with('w') || text == "racing the end"), "{content}");
}

#[tokio::test]
async fn writes_without_open_run_never_carry_a_lease() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let reply = ws
        .post(&format!("/v1/threads/{thread}/messages"), json!({"parent_id": null, "format": "aui/v0", "content": {}}))
        .await;
    let body = reply.expect(201);
    assert!(body.get("lease_id").is_none() && body.get("heartbeat_interval_ms").is_none(), "{body}");
}
