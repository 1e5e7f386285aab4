//! Export and import: a project's threads and messages survive a round trip
//! into a fresh server byte for byte (ids, timestamps, JSON documents, tree).

mod common;

use common::TestServer;
use serde_json::{Value, json};
use threadhold_server::{admin, transfer};

async fn snapshot(server: &TestServer, workspaces: &[&str]) -> Vec<Value> {
    let mut all = Vec::new();
    for workspace in workspaces {
        let client = server.workspace(workspace);
        for archived in ["false", "true"] {
            let threads =
                client.get(&format!("/v1/threads?limit=100&is_archived={archived}")).await.json["threads"].clone();
            for thread in threads.as_array().expect("threads") {
                let id = thread["id"].as_str().expect("id");
                let messages = client.get(&format!("/v1/threads/{id}/messages")).await.json["messages"].clone();
                all.push(json!({"thread": thread, "messages": messages}));
            }
        }
    }
    all
}

#[tokio::test]
async fn a_project_round_trips_through_export_and_import() {
    let source = TestServer::start().await;
    let alice = source.workspace("alice");
    let first =
        alice.create_thread(json!({"title": "Trip", "metadata": {"tags": ["a", 1]}, "external_id": "ext-1"})).await;
    let root = alice.add_message(&first, None, "user", "Plan a trip").await;
    let reply = alice.add_message(&first, Some(&root), "assistant", "Sure").await;
    alice.add_message(&first, Some(&reply), "user", "Thanks").await;
    alice.add_message(&first, None, "user", "An edit: another branch").await;
    let archived = alice.new_thread().await;
    alice.put(&format!("/v1/threads/{archived}"), json!({"is_archived": true})).await.expect(200);
    let bob = source.workspace("bob");
    let theirs = bob.new_thread().await;
    let raw = r#"{"parent_id":null,"format":"ai-sdk/v6","content":{"role":"user","parts":[],"z":1.50}}"#;
    let created = bob.request(reqwest::Method::POST, &format!("/v1/threads/{theirs}/messages")).body(raw).send().await;
    assert_eq!(created.expect("send").status(), 201);

    let mut exported = Vec::new();
    let counts = transfer::export(source.store.as_ref(), "default", None, &mut exported).await.expect("export");
    assert_eq!((counts.threads, counts.messages), (3, 5));
    let text = String::from_utf8(exported.clone()).expect("utf-8");
    assert!(text.contains(r#""z":1.50"#), "documents are kept verbatim");
    let mut only_bob = Vec::new();
    let counts = transfer::export(source.store.as_ref(), "default", Some("bob"), &mut only_bob).await.expect("export");
    assert_eq!((counts.threads, counts.messages), (1, 1));

    let target = TestServer::start().await;
    let counts = transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("import");
    assert_eq!((counts.threads, counts.messages, counts.skipped), (3, 5, 0));
    assert_eq!(snapshot(&target, &["alice", "bob"]).await, snapshot(&source, &["alice", "bob"]).await);
    // Importing again changes nothing.
    let again = transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("again");
    assert_eq!((again.threads, again.messages, again.skipped), (0, 0, 8));
    // The copy is live data: the tree continues where it stopped.
    let next = target.workspace("alice").add_message(&first, Some(&reply), "user", "More").await;
    assert_eq!(target.workspace("alice").message_ids(&first, "?limit=1").await, vec![next]);
}

#[tokio::test]
async fn imports_refuse_what_does_not_fit() {
    let server = TestServer::start().await;
    let bad: [&[u8]; 3] = [
        b"not json\n",
        br#"{"kind":"message","id":"msg_x","thread_id":"thread_missing","parent_id":null,"height":0,"format":"aui/v0","content":{},"external_id":null,"created_at":1,"updated_at":1}"#,
        br#"{"kind":"thread","id":"thread_x","project_id":"nope","workspace_id":"w","title":null,"title_from_user":false,"metadata":null,"external_id":null,"is_archived":false,"last_message_at":1,"created_at":1,"updated_at":1}"#,
    ];
    for input in bad {
        let outcome = transfer::import(server.store.as_ref(), None, &mut &input[..]).await;
        assert!(outcome.is_err(), "{}", String::from_utf8_lossy(input));
    }
    // A project override moves the data into another project.
    admin::create_project(server.store.as_ref(), "acme", "Acme", vec![]).await.expect("project");
    let thread = bad[2];
    let counts = transfer::import(server.store.as_ref(), Some("acme"), &mut &thread[..]).await.expect("import");
    assert_eq!(counts.threads, 1);
}
