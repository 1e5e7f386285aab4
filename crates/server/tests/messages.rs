//! Message routes over HTTP: tree heights, the contract's order, pagination,
//! parent resolution, external-id idempotency, updates, deletes, feedback.

mod common;

use common::{TestServer, is_canonical_timestamp};
use serde_json::{Value, json};

fn aui(role: &str, text: &str) -> Value {
    json!({"role": role, "content": [{"type": "text", "text": text}]})
}

#[tokio::test]
async fn message_object_shape_and_heights() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let root = ws.add_message(&thread, None, "user", "q").await;
    let reply = ws.add_message(&thread, Some(&root), "assistant", "a").await;
    let again = ws.add_message(&thread, Some(&reply), "user", "q2").await;
    let messages = ws.get(&format!("/v1/threads/{thread}/messages")).await.json["messages"].clone();
    let list = messages.as_array().expect("array");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["id"], again.as_str());
    assert_eq!(list[0]["height"], 2);
    assert_eq!(list[1]["height"], 1);
    assert_eq!(list[1]["parent_id"], root.as_str());
    assert_eq!(list[2]["height"], 0);
    assert!(list[2]["parent_id"].is_null() && list[2].as_object().expect("o").contains_key("parent_id"));
    assert_eq!(list[2]["content"], aui("user", "q"));
    assert_eq!(list[2]["format"], "aui/v0");
    assert!(list[2].as_object().expect("o").contains_key("external_id"));
    assert!(list[2].get("run").is_none() && list[2].get("lease_id").is_none());
    for message in list {
        assert!(is_canonical_timestamp(message["created_at"].as_str().unwrap_or_default()));
        assert!(is_canonical_timestamp(message["updated_at"].as_str().unwrap_or_default()));
    }
}

#[tokio::test]
async fn content_comes_back_byte_for_byte() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let raw = r#"{"role":"user","z":1.50,"a":"\u00e9","content":[{"type":"text","text":"x"}]}"#;
    let body = format!(r#"{{"parent_id":null,"format":"aui/v0","content":{raw}}}"#);
    let reply = ws
        .request(reqwest::Method::POST, &format!("/v1/threads/{thread}/messages"))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), 201);
    let text = ws.get(&format!("/v1/threads/{thread}/messages")).await.text;
    assert!(text.contains(raw), "{text}");
}

#[tokio::test]
async fn branches_order_by_height_then_newest() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let q1 = ws.add_message(&thread, None, "user", "q").await;
    let a1 = ws.add_message(&thread, Some(&q1), "assistant", "a1").await;
    // An edit: a sibling root, then its own reply; then a regenerated reply to q1.
    let q2 = ws.add_message(&thread, None, "user", "q edited").await;
    let a2 = ws.add_message(&thread, Some(&q2), "assistant", "a2").await;
    let a1b = ws.add_message(&thread, Some(&q1), "assistant", "a1 regenerated").await;
    assert_eq!(ws.message_ids(&thread, "").await, vec![a1b, a2, a1, q2, q1]);
}

#[tokio::test]
async fn pagination_covers_thousands_of_messages_with_ties() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    // Many siblings at each height: bursts inside one millisecond tie on created_at.
    let mut parent: Option<String> = None;
    let mut expected: Vec<(i64, String)> = Vec::new();
    for height in 0..25_i64 {
        let mut first = None;
        for i in 0..45 {
            let id = ws.add_message(&thread, parent.as_deref(), "user", &format!("{height}-{i}")).await;
            expected.push((height, id.clone()));
            first.get_or_insert(id);
        }
        parent = first;
    }
    // Height descending, then created_at/id descending (ids are time-ordered).
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(expected.len(), 1125);

    let mut seen = Vec::new();
    let mut query = "?limit=200".to_owned();
    loop {
        let page = ws.message_ids(&thread, &query).await;
        seen.extend(page.iter().cloned());
        if page.len() < 200 {
            break;
        }
        query = format!("?limit=200&after={}", page.last().expect("last"));
    }
    assert_eq!(seen.len(), expected.len());
    assert_eq!(seen, expected);
    assert_eq!(ws.message_ids(&thread, "").await.len(), 200, "default limit is 200");
    for bad in ["?limit=0", "?limit=201", "?limit=x"] {
        ws.get(&format!("/v1/threads/{thread}/messages{bad}")).await.expect(400);
    }
    assert!(ws.message_ids(&thread, "?after=msg_unknown").await.is_empty(), "unknown cursor: empty page");
}

#[tokio::test]
async fn parent_resolution_and_coercion() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    // A client's local id (never mapped) is stored as a root.
    let reply =
        ws.post(&path, json!({"parent_id": "VZ3kqLocal", "format": "aui/v0", "content": aui("user", "x")})).await;
    let local_child = reply.expect(201)["message_id"].as_str().expect("id").to_owned();
    let messages = ws.get(&path).await.json["messages"].clone();
    assert!(messages[0]["parent_id"].is_null());
    assert_eq!(messages[0]["height"], 0);
    // A server-shaped id that does not exist in this thread is refused.
    ws.post(&path, json!({"parent_id": "msg_00000000000000000000000", "format": "aui/v0", "content": {}}))
        .await
        .expect_error(400, "parent_not_found");
    let other_thread = ws.new_thread().await;
    ws.post(
        &format!("/v1/threads/{other_thread}/messages"),
        json!({"parent_id": local_child, "format": "aui/v0", "content": {}}),
    )
    .await
    .expect_error(400, "parent_not_found");
    // parent_external_id wins over parent_id.
    ws.post(
        &path,
        json!({"parent_id": null, "external_id": "e-root", "format": "aui/v0", "content": aui("user", "r")}),
    )
    .await
    .expect(201);
    let reply = ws
        .post(&path, json!({"parent_id": local_child, "parent_external_id": "e-root", "external_id": "e-child", "format": "aui/v0", "content": aui("assistant", "c")}))
        .await;
    let child = reply.expect(201)["message_id"].as_str().expect("id").to_owned();
    let messages = ws.get(&path).await.json["messages"].clone();
    let stored = messages.as_array().expect("a").iter().find(|m| m["id"] == child.as_str()).expect("child").clone();
    assert_eq!(stored["height"], 1);
    assert_eq!(stored["external_id"], "e-child");
    ws.post(&path, json!({"parent_id": null, "parent_external_id": "nope", "format": "aui/v0", "content": {}}))
        .await
        .expect_error(400, "parent_not_found");
}

#[tokio::test]
async fn external_id_makes_creates_idempotent() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    let body = json!({"parent_id": null, "format": "aui/v0", "content": aui("user", "v1"), "external_id": "local-1"});
    let first = ws.post(&path, body.clone()).await;
    let id = first.expect(201)["message_id"].as_str().expect("id").to_owned();
    let before = ws.get(&path).await.json["messages"][0].clone();

    let repeat = ws.post(&path, body).await;
    assert_eq!(repeat.expect(200)["message_id"], id.as_str());
    assert_eq!(ws.get(&path).await.json["messages"][0], before, "identical repeat writes nothing");

    let changed = ws
        .post(
            &path,
            json!({"parent_id": null, "format": "aui/v0", "content": aui("user", "v2"), "external_id": "local-1"}),
        )
        .await;
    assert_eq!(changed.expect(200)["message_id"], id.as_str());
    let messages = ws.get(&path).await.json["messages"].clone();
    assert_eq!(messages.as_array().expect("a").len(), 1);
    assert_eq!(messages[0]["content"], aui("user", "v2"));

    ws.post(
        &path,
        json!({"parent_id": null, "format": "aui/v0", "content": aui("assistant", "v3"), "external_id": "local-1"}),
    )
    .await
    .expect_error(409, "message_role_changed");
}

/// A create as the transcript copy sends it: `aui/v0` under `external_id`, chained by `parent_external_id`.
fn copied(parent_external_id: Option<&str>, external_id: &str, content: Value) -> Value {
    let mut body = json!({"parent_id": null, "format": "aui/v0", "content": content, "external_id": external_id});
    if let Some(parent) = parent_external_id {
        body["parent_external_id"] = parent.into();
    }
    body
}

fn message_id(reply: &Value) -> String {
    reply["message_id"].as_str().expect("message_id").to_owned()
}

/// After a reload a runtime knows the loaded messages by their server ids, and
/// the AI SDK runtime's transcript copy sends those ids as `external_id` and
/// `parent_external_id` (spec 5.5): they name the stored messages, so the copy
/// rewrites them in place instead of storing the branch a second time.
#[tokio::test]
async fn server_ids_sent_as_external_ids_name_the_stored_messages() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    // The first session stores each message under the runtime's local id.
    let user = message_id(ws.post(&path, copied(None, "local-u", aui("user", "q"))).await.expect(201));
    let reply = message_id(ws.post(&path, copied(Some("local-u"), "local-a", aui("assistant", "a"))).await.expect(201));
    let before = ws.get(&path).await.json["messages"].clone();

    // After a reload the copy sends the same branch under the server ids.
    let again = ws.post(&path, copied(None, &user, aui("user", "q"))).await;
    assert_eq!(message_id(again.expect(200)), user);
    assert_eq!(ws.get(&path).await.json["messages"], before, "an identical repeat writes nothing");
    let recopied = aui("assistant", "a, copied again");
    let again = ws.post(&path, copied(Some(&user), &reply, recopied.clone())).await;
    assert_eq!(message_id(again.expect(200)), reply);
    // A new message chains under the loaded reply, named by its server id.
    let next = message_id(ws.post(&path, copied(Some(&reply), "local-u2", aui("user", "q2"))).await.expect(201));

    let messages = ws.get(&path).await.json["messages"].clone();
    let rows: Vec<(&str, &Value, &Value)> = messages
        .as_array()
        .expect("array")
        .iter()
        .map(|m| (m["id"].as_str().expect("id"), &m["height"], &m["external_id"]))
        .collect();
    assert_eq!(
        rows,
        [
            (next.as_str(), &json!(2), &json!("local-u2")),
            (reply.as_str(), &json!(1), &json!("local-a")),
            (user.as_str(), &json!(0), &json!("local-u")),
        ],
        "no copies: the stored messages keep their external ids"
    );
    assert_eq!(messages[1]["content"], recopied);
    assert_eq!(messages[0]["parent_id"], reply.as_str());

    // A server id cannot change a message's role either.
    ws.post(&path, copied(None, &user, aui("assistant", "q"))).await.expect_error(409, "message_role_changed");
    // It names a message of its own thread only; elsewhere it is just an external id.
    let other = format!("/v1/threads/{}/messages", ws.new_thread().await);
    let elsewhere = message_id(ws.post(&other, copied(None, &user, aui("user", "q"))).await.expect(201));
    assert_ne!(elsewhere, user);
    ws.post(&other, copied(Some(&reply), "x", aui("user", "x"))).await.expect_error(400, "parent_not_found");
}

#[tokio::test]
async fn concurrent_creates_with_one_external_id_store_one_message() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (ws, path) = (ws.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            ws.post(
                &path,
                json!({"parent_id": null, "format": "aui/v0", "content": aui("user", "x"), "external_id": "dup"}),
            )
            .await
            .json["message_id"]
                .as_str()
                .expect("id")
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(ws.message_ids(&thread, "").await.len(), 1);
}

#[tokio::test]
async fn bad_message_bodies_are_refused_without_writing() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    for body in [
        json!({"parent_id": null, "format": "aui/v0", "content": []}),
        json!({"parent_id": null, "format": "aui/v0", "content": "text"}),
        json!({"parent_id": null, "format": "aui/v0", "content": null}),
        json!({"parent_id": null, "format": "aui/v0"}),
        json!({"parent_id": null, "content": {}}),
        json!({"parent_id": null, "format": "", "content": {}}),
        json!({"parent_id": 5, "format": "aui/v0", "content": {}}),
        json!({"parent_id": null, "format": "aui/v0", "content": {}, "external_id": "x".repeat(256)}),
        json!({"parent_id": null, "format": "aui/v0", "content": {"text": "x".repeat(1_048_577)}}),
    ] {
        let reply = ws.post(&path, body).await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
        reply.expect(400);
    }
    assert!(ws.message_ids(&thread, "").await.is_empty());
    ws.post("/v1/threads/thread_missing/messages", json!({"parent_id": null, "format": "aui/v0", "content": {}}))
        .await
        .expect_error(404, "thread_not_found");
}

/// `{"a": [ … ]}` nesting `levels` arrays and objects in all.
fn nested(levels: usize) -> String {
    format!("{{\"a\":{}{}}}", "[".repeat(levels - 1), "]".repeat(levels - 1))
}

#[tokio::test]
async fn deeply_nested_content_is_refused() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let path = format!("/v1/threads/{thread}/messages");
    let body = |content: &str| format!(r#"{{"parent_id":null,"format":"aui/v0","content":{content}}}"#);
    let send = |body: String| {
        let request = ws.request(reqwest::Method::POST, &path).body(body);
        async move { common::Reply::read(request.send().await.expect("send")).await }
    };
    for levels in [101, 1_000, 500_000] {
        send(body(&nested(levels))).await.expect_error(400, "json_too_deep");
    }
    assert!(ws.message_ids(&thread, "").await.is_empty());
    send(body(&nested(100))).await.expect(201);
    let id = ws.message_ids(&thread, "").await.remove(0);
    let update = ws
        .request(reqwest::Method::PUT, &format!("{path}/{id}"))
        .body(format!(r#"{{"content":{}}}"#, nested(101)))
        .send()
        .await
        .expect("send");
    common::Reply::read(update).await.expect_error(400, "json_too_deep");
}

#[tokio::test]
async fn update_replaces_content_and_keeps_the_tree() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let root = ws.add_message(&thread, None, "user", "q").await;
    let child = ws.add_message(&thread, Some(&root), "assistant", "a").await;
    let thread_before = ws.get(&format!("/v1/threads/{thread}")).await.json["thread"].clone();
    ws.put(&format!("/v1/threads/{thread}/messages/{root}"), json!({"content": aui("user", "edited")}))
        .await
        .expect(200);
    let messages = ws.get(&format!("/v1/threads/{thread}/messages")).await.json["messages"].clone();
    assert_eq!(messages[1]["content"], aui("user", "edited"));
    assert_eq!(messages[0]["id"], child.as_str());
    assert_eq!(messages[0]["parent_id"], root.as_str());
    assert_eq!(messages[1]["format"], "aui/v0");
    let thread_after = ws.get(&format!("/v1/threads/{thread}")).await.json["thread"].clone();
    assert_eq!(thread_after["last_message_at"], thread_before["last_message_at"], "updates do not reorder threads");

    ws.put(&format!("/v1/threads/{thread}/messages/msg_missing"), json!({"content": {}}))
        .await
        .expect_error(404, "message_not_found");
    ws.put(&format!("/v1/threads/{thread}/messages/{root}"), json!({"content": [1]})).await.expect(400);
    ws.put(&format!("/v1/threads/{thread}/messages/{root}"), json!({})).await.expect(400);
    let other = server.workspace("other");
    other
        .put(&format!("/v1/threads/{thread}/messages/{root}"), json!({"content": {}}))
        .await
        .expect_error(404, "thread_not_found");
}

#[tokio::test]
async fn delete_cascades_to_descendants() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let root = ws.add_message(&thread, None, "user", "q").await;
    let a = ws.add_message(&thread, Some(&root), "assistant", "a").await;
    let b = ws.add_message(&thread, Some(&a), "user", "b").await;
    ws.add_message(&thread, Some(&b), "assistant", "c").await;
    let other_root = ws.add_message(&thread, None, "user", "other").await;
    let path = format!("/v1/threads/{thread}/messages");
    ws.post(&format!("{path}/{b}/feedback"), json!({"type": "positive"})).await.expect(200);
    ws.delete(&path, Some(json!({"message_ids": [a, "msg_not_there"]}))).await.expect(200);
    assert_eq!(ws.message_ids(&thread, "").await, vec![other_root, root]);
    ws.delete(&path, Some(json!({"message_ids": ["msg_not_there"]}))).await.expect_error(404, "messages_not_found");
    ws.delete(&path, Some(json!({"message_ids": []}))).await.expect(400);
    ws.delete(&path, None).await.expect(400);
}

#[tokio::test]
async fn deleting_a_deep_chain_works() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let root = ws.add_message(&thread, None, "user", "0").await;
    let mut parent = root.clone();
    for i in 1..1500 {
        parent = ws.add_message(&thread, Some(&parent), if i % 2 == 0 { "user" } else { "assistant" }, "x").await;
    }
    let deepest = ws.message_ids(&thread, "?limit=1").await;
    assert_eq!(ws.get(&format!("/v1/threads/{thread}/messages?limit=1")).await.json["messages"][0]["height"], 1499);
    assert_eq!(deepest, vec![parent]);
    ws.delete(&format!("/v1/threads/{thread}/messages"), Some(json!({"message_ids": [root]}))).await.expect(200);
    assert!(ws.message_ids(&thread, "").await.is_empty());
}

#[tokio::test]
async fn feedback_upserts_per_user() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let m = ws.add_message(&thread, None, "assistant", "a").await;
    let path = format!("/v1/threads/{thread}/messages/{m}/feedback");
    let first = ws.post(&path, json!({"type": "positive", "comment": "  great  "})).await;
    let body = first.expect(200).clone();
    assert_eq!(body["type"], "positive");
    assert_eq!(body["comment"], "great");
    assert!(body["feedback_id"].as_str().expect("id").starts_with("score_"));
    let same = ws.post(&path, json!({"type": "positive"})).await;
    assert_eq!(same.json["comment"], "great", "same rating without comment keeps it");
    assert_eq!(same.json["feedback_id"], body["feedback_id"]);
    let switched = ws.post(&path, json!({"type": "negative"})).await;
    assert!(switched.json["comment"].is_null(), "a new rating without comment clears it");
    let other_user = ws.as_user("u2").post(&path, json!({"type": "negative"})).await;
    assert_ne!(other_user.json["feedback_id"], body["feedback_id"]);
    ws.post(&path, json!({"type": "meh"})).await.expect(400);
    ws.post(&format!("/v1/threads/{thread}/messages/msg_x/feedback"), json!({"type": "positive"}))
        .await
        .expect_error(404, "message_not_found");
}
