//! Thread routes over HTTP: shapes, ordering, pagination, upsert, updates,
//! archive semantics, deletes and workspace scoping.

mod common;

use common::{TestServer, is_canonical_timestamp};
use serde_json::json;

#[tokio::test]
async fn thread_object_has_every_field_the_client_validates() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws-shape");
    let id = ws.create_thread(json!({"last_message_at": "2026-03-04T05:06:07.089Z"})).await;
    let reply = ws.get(&format!("/v1/threads/{id}")).await;
    let thread = &reply.expect(200)["thread"];
    assert_eq!(thread["id"], id.as_str());
    assert!(thread["title"].is_null(), "title key present and null: {thread}");
    assert!(thread["external_id"].is_null());
    assert_eq!(thread["is_archived"], false);
    assert_eq!(thread["workspace_id"], "ws-shape");
    assert_eq!(thread["project_id"], "default");
    assert_eq!(thread["last_message_at"], "2026-03-04T05:06:07.089Z");
    for field in ["created_at", "updated_at", "last_message_at"] {
        assert!(is_canonical_timestamp(thread[field].as_str().unwrap_or_default()), "{field}: {thread}");
    }
    let object = thread.as_object().expect("object");
    for key in ["title", "external_id", "metadata"] {
        assert!(object.contains_key(key), "{key} missing: {thread}");
    }
}

#[tokio::test]
async fn create_answers_201_and_accepts_title_metadata_external_id() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let reply = ws
        .post("/v1/threads", json!({"last_message_at": "2026-01-01T00:00:00Z", "title": "Hello", "metadata": {"a": [1, true, null], "b": {"c": 2}}, "external_id": "ext-1"}))
        .await;
    let id = reply.expect(201)["thread_id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("thread_") && id.len() <= 48);
    let thread = ws.get(&format!("/v1/threads/{id}")).await.json["thread"].clone();
    assert_eq!(thread["title"], "Hello");
    assert_eq!(thread["metadata"], json!({"a": [1, true, null], "b": {"c": 2}}));
    assert_eq!(thread["external_id"], "ext-1");
    // Offsets and sub-millisecond digits are normalised.
    let other = ws.create_thread(json!({"last_message_at": "2026-01-01T01:00:00.123999+01:00"})).await;
    let thread = ws.get(&format!("/v1/threads/{other}")).await.json["thread"].clone();
    assert_eq!(thread["last_message_at"], "2026-01-01T00:00:00.123Z");
}

#[tokio::test]
async fn upsert_returns_the_oldest_thread_with_the_external_id() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let plain = ws.create_thread(json!({"last_message_at": "2026-01-01T00:00:00.000Z", "external_id": "x"})).await;
    ws.create_thread(json!({"last_message_at": "2026-01-01T00:00:00.000Z", "external_id": "x"})).await;
    let reply = ws
        .post("/v1/threads", json!({"last_message_at": "2026-01-01T00:00:00.000Z", "external_id": "x", "upsert": true}))
        .await;
    assert_eq!(reply.expect(200)["thread_id"], plain.as_str());
    // Another workspace's external id is not shared.
    let other = server.workspace("other");
    let reply = other
        .post("/v1/threads", json!({"last_message_at": "2026-01-01T00:00:00.000Z", "external_id": "x", "upsert": true}))
        .await;
    assert_ne!(reply.expect(201)["thread_id"], plain.as_str());
    ws.post("/v1/threads", json!({"last_message_at": "2026-01-01T00:00:00.000Z", "upsert": true}))
        .await
        .expect_error(400, "upsert_requires_external_id");
}

#[tokio::test]
async fn concurrent_upserts_create_one_thread() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let ws = ws.clone();
        tasks.push(tokio::spawn(async move {
            ws.post(
                "/v1/threads",
                json!({"last_message_at": "2026-01-01T00:00:00.000Z", "external_id": "same", "upsert": true}),
            )
            .await
            .json["thread_id"]
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
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ws.thread_ids("").await.len(), 1);
}

#[tokio::test]
async fn bad_create_bodies_get_400() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    for body in [
        json!({"last_message_at": "not a date"}),
        json!({"last_message_at": "2026-02-30T00:00:00.000Z"}),
        json!({"last_message_at": 5}),
        json!({"title": ""}),
        json!({"title": "x".repeat(256)}),
        json!({"external_id": ""}),
        json!({"upsert": "yes", "external_id": "a"}),
        json!({"metadata": {"big": "x".repeat(70_000)}}),
        json!([1, 2]),
    ] {
        let reply = ws.post("/v1/threads", body.clone()).await;
        assert_eq!(reply.status.as_u16(), 400, "{body} -> {}", reply.text);
        reply.expect(400);
    }
    assert!(ws.thread_ids("").await.is_empty(), "nothing half-written");
}

#[tokio::test]
async fn titles_and_external_ids_refuse_control_characters() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    for bad in ["nul\u{0}byte", "line\nbreak", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
        ws.post("/v1/threads", json!({"title": bad})).await.expect_error(400, "invalid_request");
        ws.post("/v1/threads", json!({"external_id": bad})).await.expect_error(400, "invalid_request");
    }
    assert!(ws.thread_ids("").await.is_empty());
    let thread = ws.new_thread().await;
    ws.put(&format!("/v1/threads/{thread}"), json!({"title": "a\u{0}b"})).await.expect_error(400, "invalid_request");
    let messages = format!("/v1/threads/{thread}/messages");
    let content = json!({"role": "user", "content": [{"type": "text", "text": "hello\u{0}world"}]});
    for body in [
        json!({"parent_id": null, "format": "aui/v0", "content": content, "external_id": "x\u{0}"}),
        json!({"parent_id": null, "format": "aui/\u{0}v0", "content": content}),
        json!({"parent_external_id": "p\u{0}", "format": "aui/v0", "content": content}),
    ] {
        ws.post(&messages, body).await.expect_error(400, "invalid_request");
    }
    // The automatic title of a message with a NUL in its text holds no NUL either.
    ws.post(&messages, json!({"parent_id": null, "format": "aui/v0", "content": content})).await.expect(201);
    let title = ws.get(&format!("/v1/threads/{thread}")).await.expect(200)["thread"]["title"].clone();
    assert_eq!(title, "Hello world");
}

#[tokio::test]
async fn deeply_nested_metadata_is_refused() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    for levels in [101, 30_000] {
        let body = format!(r#"{{"metadata":{}}}"#, nested(levels));
        let reply = common::Reply::read(
            ws.request(reqwest::Method::POST, "/v1/threads").body(body).send().await.expect("send"),
        )
        .await;
        reply.expect_error(400, "json_too_deep");
    }
    assert!(ws.thread_ids("").await.is_empty());
    let thread = ws
        .create_thread(json!({"metadata": serde_json::from_str::<serde_json::Value>(&nested(90)).expect("json")}))
        .await;
    let update = ws
        .request(reqwest::Method::PUT, &format!("/v1/threads/{thread}"))
        .body(format!(r#"{{"metadata":{}}}"#, nested(101)))
        .send()
        .await
        .expect("send");
    common::Reply::read(update).await.expect_error(400, "json_too_deep");
    let update = ws
        .request(reqwest::Method::PUT, &format!("/v1/threads/{thread}"))
        .body(format!(r#"{{"metadata":{}}}"#, nested(100)))
        .send()
        .await
        .expect("send");
    common::Reply::read(update).await.expect(200);
}

#[tokio::test]
async fn list_is_newest_first_and_pages_without_gaps_through_same_millisecond_ties() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let mut created = Vec::new();
    for i in 0..1_234 {
        // Groups of threads share one last_message_at, so the id breaks the tie.
        let at = format!("2026-01-01T00:00:{:02}.000Z", i % 7);
        created.push((at.clone(), ws.create_thread(json!({"last_message_at": at})).await));
    }
    created.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = created.into_iter().map(|(_, id)| id).collect();

    for page_size in [20, 100] {
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let cursor = if after.is_empty() { String::new() } else { format!("&after={after}") };
            let page = ws.thread_ids(&format!("?limit={page_size}{cursor}")).await;
            seen.extend(page.iter().cloned());
            if page.len() < page_size {
                break;
            }
            after = page.last().expect("last").clone();
        }
        assert_eq!(seen, expected, "pages of {page_size}");
    }
    assert_eq!(ws.thread_ids("").await, expected[..20], "default limit is 20");
    assert_eq!(ws.thread_ids("?limit=100").await.len(), 100);
}

#[tokio::test]
async fn limit_and_is_archived_are_validated() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    for query in ["?limit=0", "?limit=101", "?limit=abc", "?limit=-1", "?is_archived=yes"] {
        let reply = ws.get(&format!("/v1/threads{query}")).await;
        assert_eq!(reply.status.as_u16(), 400, "{query}");
        reply.expect(400);
    }
    ws.get("/v1/threads?limit=1&is_archived=false").await.expect(200);
}

#[tokio::test]
async fn unknown_cursor_gives_an_empty_page() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    ws.new_thread().await;
    assert!(ws.thread_ids("?after=thread_nope").await.is_empty());
}

#[tokio::test]
async fn archive_moves_threads_between_the_two_lists() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let a = ws.new_thread().await;
    let b = ws.new_thread().await;
    ws.put(&format!("/v1/threads/{a}"), json!({"is_archived": true})).await.expect(200);
    assert_eq!(ws.thread_ids("").await, vec![b.clone()], "absent is_archived lists active threads only");
    assert_eq!(ws.thread_ids("?is_archived=false").await, vec![b.clone()]);
    assert_eq!(ws.thread_ids("?is_archived=true").await, vec![a.clone()]);
    ws.put(&format!("/v1/threads/{a}"), json!({"is_archived": false})).await.expect(200);
    assert!(ws.thread_ids("?is_archived=true").await.is_empty());
}

#[tokio::test]
async fn update_changes_only_the_fields_sent() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let id = ws
        .create_thread(json!({"last_message_at": "2026-01-01T00:00:00.000Z", "title": "T", "metadata": {"k": 1}}))
        .await;
    let path = format!("/v1/threads/{id}");
    let before = ws.get(&path).await.json["thread"].clone();
    ws.put(&path, json!({"title": "Renamed"})).await.expect(200);
    let after = ws.get(&path).await.json["thread"].clone();
    assert_eq!(after["title"], "Renamed");
    assert_eq!(after["metadata"], json!({"k": 1}));
    assert_eq!(after["last_message_at"], before["last_message_at"]);
    assert!(after["updated_at"].as_str() >= before["updated_at"].as_str());

    ws.put(&path, json!({"metadata": ["any", "json"], "last_message_at": "2027-01-01T00:00:00.000Z"}))
        .await
        .expect(200);
    let after = ws.get(&path).await.json["thread"].clone();
    assert_eq!(after["metadata"], json!(["any", "json"]));
    assert_eq!(after["last_message_at"], "2027-01-01T00:00:00.000Z");
    ws.put(&path, json!({"metadata": null})).await.expect(200);
    assert!(ws.get(&path).await.json["thread"]["metadata"].is_null());
    // An empty body (the client's Content-Type is still JSON) changes nothing.
    let reply = ws.request(reqwest::Method::PUT, &path).send().await.expect("send");
    assert_eq!(reply.status(), 200);

    ws.put(&path, json!({"title": ""})).await.expect(400);
    ws.put(&path, json!({"is_archived": "true"})).await.expect(400);
    ws.put("/v1/threads/thread_missing", json!({"title": "x"})).await.expect_error(404, "thread_not_found");
}

#[tokio::test]
async fn delete_removes_the_thread_and_its_messages() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let id = ws.new_thread().await;
    let root = ws.add_message(&id, None, "user", "hi").await;
    ws.add_message(&id, Some(&root), "assistant", "hello").await;
    ws.delete(&format!("/v1/threads/{id}"), None).await.expect(200);
    ws.get(&format!("/v1/threads/{id}")).await.expect_error(404, "thread_not_found");
    assert!(ws.message_ids(&id, "").await.is_empty());
    ws.delete(&format!("/v1/threads/{id}"), None).await.expect_error(404, "thread_not_found");
}

#[tokio::test]
async fn other_workspaces_cannot_see_or_touch_a_thread() {
    let server = TestServer::start().await;
    let owner = server.workspace("alice-ws");
    let stranger = server.workspace("bob-ws");
    let id = owner.new_thread().await;
    owner.add_message(&id, None, "user", "secret").await;
    stranger.get(&format!("/v1/threads/{id}")).await.expect_error(404, "thread_not_found");
    stranger.put(&format!("/v1/threads/{id}"), json!({"title": "x"})).await.expect_error(404, "thread_not_found");
    stranger.delete(&format!("/v1/threads/{id}"), None).await.expect_error(404, "thread_not_found");
    assert!(stranger.thread_ids("").await.is_empty());
    let reply = stranger.get(&format!("/v1/threads/{id}/messages")).await;
    assert_eq!(reply.expect(200)["messages"], json!([]), "foreign thread reads as an empty message list");
    stranger
        .post(&format!("/v1/threads/{id}/messages"), json!({"parent_id": null, "format": "aui/v0", "content": {}}))
        .await
        .expect_error(404, "thread_not_found");
    assert_eq!(owner.thread_ids("").await, vec![id]);
}

#[tokio::test]
async fn a_stored_message_moves_its_thread_to_the_top() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let old = ws.create_thread(json!({"last_message_at": "2020-01-01T00:00:00.000Z"})).await;
    let new = ws.create_thread(json!({"last_message_at": "2025-01-01T00:00:00.000Z"})).await;
    assert_eq!(ws.thread_ids("").await, vec![new.clone(), old.clone()]);
    ws.add_message(&old, None, "user", "bump").await;
    assert_eq!(ws.thread_ids("").await, vec![old, new]);
}

#[tokio::test]
async fn search_finds_titles_and_message_text_in_the_callers_workspace_only() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let bread = ws.create_thread(json!({"title": "Baking notes"})).await;
    ws.add_message(&bread, None, "user", "How long should Sourdough proof overnight in the fridge?").await;
    let trip = ws.create_thread(json!({"title": "Lisbon trip"})).await;
    let hit = ws.add_message(&trip, None, "assistant", "Try the pastel de nata; no sourdough needed.").await;
    ws.create_thread(json!({"title": "Text and role"})).await;
    let stranger = server.workspace("other");
    let theirs = stranger.new_thread().await;
    stranger.add_message(&theirs, None, "user", "my sourdough secret").await;

    let found = ws.get("/v1/threads/search?q=SOURDOUGH").await;
    let results = found.expect(200)["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0]["thread"]["id"], trip.as_str(), "newest first");
    assert_eq!(results[0]["message_id"], hit.as_str());
    assert!(results[0]["snippet"].as_str().expect("snippet").contains("sourdough"));
    assert_eq!(results[1]["thread"]["id"], bread.as_str());
    let by_title = ws.get("/v1/threads/search?q=lisbon").await.json["results"].clone();
    assert_eq!(by_title[0]["thread"]["id"], trip.as_str());
    // JSON keys of the stored documents never match; LIKE wildcards are literal.
    let keys = ws.get("/v1/threads/search?q=role").await.json["results"].clone();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "only the title 'Text and role': {keys}");
    assert_eq!(ws.get("/v1/threads/search?q=%25").await.json["results"], json!([]));
    assert_eq!(ws.get("/v1/threads/search?q=zzz").await.json["results"], json!([]));
    ws.get("/v1/threads/search").await.expect_error(400, "invalid_query");
    ws.get("/v1/threads/search?q=x&limit=0").await.expect(400);
}

#[tokio::test]
async fn searches_are_rate_limited_per_workspace() {
    let config = threadhold_server::ServerConfig { searches_per_minute: 2, ..Default::default() };
    let server = TestServer::start_with(config).await;
    let ws = server.workspace("ws");
    for _ in 0..2 {
        ws.get("/v1/threads/search?q=anything").await.expect(200);
    }
    let refused = ws.get("/v1/threads/search?q=anything").await;
    refused.expect_error(429, "rate_limited");
    assert!(refused.headers.get("retry-after").is_some(), "a wait is named");
    server.workspace("other").get("/v1/threads/search?q=anything").await.expect(200);
}

/// Whatever the documents hold, a search reads bounded text: 1 MiB messages
/// are indexed by their first 32 KiB and answered with a short snippet.
#[tokio::test]
async fn searches_over_huge_messages_stay_small() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let words = "lorem ipsum dolor ".repeat(55_000);
    for i in 0..5 {
        ws.add_message(&thread, None, "user", &format!("needle{i} {words} tailmarker")).await;
    }
    let started = std::time::Instant::now();
    let found = ws.get("/v1/threads/search?q=needle3").await;
    let results = found.expect(200)["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 1);
    let snippet = results[0]["snippet"].as_str().expect("snippet");
    assert!(snippet.contains("needle3") && snippet.chars().count() <= 120, "{snippet}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "bounded time: {:?}", started.elapsed());
    // Text past the indexed beginning is not searched.
    let tail = ws.get("/v1/threads/search?q=tailmarker").await;
    assert_eq!(tail.expect(200)["results"], json!([]));
}
