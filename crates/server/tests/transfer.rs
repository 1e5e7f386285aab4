//! Export and import: a project's threads and messages survive a round trip
//! into a fresh server byte for byte (ids, timestamps, JSON documents, tree),
//! and a whole deployment moves with its keys, tokens, sessions and rules working.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use threadhold_auth::rules::RuleInput;
use threadhold_server::service::Actor;
use threadhold_server::service::transfer::{self, ExportScope, TransferError};

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
    let counts =
        transfer::export(source.store.as_ref(), ExportScope::Project("default"), &mut exported).await.expect("export");
    assert_eq!((counts.threads, counts.messages), (3, 5));
    let exported_rows = counts.other;
    assert_eq!(exported_rows, 3, "the project, its signing key and its API key");
    let text = String::from_utf8(exported.clone()).expect("utf-8");
    assert!(text.contains(r#""z":1.50"#), "documents are kept verbatim");
    let mut only_bob = Vec::new();
    let bob_only = ExportScope::Workspace { project_id: "default", workspace_id: "bob" };
    let counts = transfer::export(source.store.as_ref(), bob_only, &mut only_bob).await.expect("export");
    assert_eq!((counts.threads, counts.messages, counts.other), (1, 1, 0));

    let target = TestServer::start().await;
    let counts = transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("import");
    assert_eq!((counts.threads, counts.messages), (3, 5));
    assert_eq!(snapshot(&target, &["alice", "bob"]).await, snapshot(&source, &["alice", "bob"]).await);
    // Importing again changes nothing.
    let again = transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("again");
    assert_eq!((again.threads, again.messages, again.skipped), (0, 0, 8 + exported_rows));
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
    threadhold_server::service::projects::create(server.store.as_ref(), &Actor::Cli, "acme", "Acme")
        .await
        .expect("project");
    let thread = bad[2];
    let counts = transfer::import(server.store.as_ref(), Some("acme"), &mut &thread[..]).await.expect("import");
    assert_eq!(counts.threads, 1);
}

#[tokio::test]
async fn exporting_an_unknown_project_fails() {
    let server = TestServer::start().await;
    let outcome = transfer::export(server.store.as_ref(), ExportScope::Project("nope"), &mut Vec::new()).await;
    assert!(matches!(outcome, Err(TransferError::ProjectNotFound(_))), "{outcome:?}");
}

/// Everything of a deployment: two projects, keys, a rule, an anonymous session,
/// threads in both projects, feedback, telemetry and scores.
#[tokio::test]
async fn a_whole_deployment_moves_with_working_keys_tokens_sessions_and_rules() {
    let source = TestServer::start().await;
    let store = source.store.as_ref();
    threadhold_server::service::projects::create(store, &Actor::Cli, "acme", "Acme").await.expect("acme");
    threadhold_server::service::access::set_origins(store, &Actor::Cli, "acme", &["https://app.acme.example".into()])
        .await
        .expect("acme");
    threadhold_server::service::access::set_anonymous(store, &Actor::Cli, "acme", false).await.expect("switch");
    let acme_key = threadhold_server::service::keys::create(store, &Actor::Cli, "acme", "backend", None)
        .await
        .expect("key")
        .secret;
    let rule = RuleInput {
        provider: "auth0".into(),
        issuer: "https://tenant.auth0.example/".into(),
        audiences: vec!["api".into()],
        jwks_url: Some("https://tenant.auth0.example/.well-known/jwks.json".into()),
        ..RuleInput::default()
    };
    threadhold_server::service::rules::add(store, &Actor::Cli, "acme", rule, &[]).await.expect("rule");
    let alice = source.workspace("alice");
    let thread = alice.new_thread().await;
    let message = alice.add_message(&thread, None, "user", "Hello there").await;
    alice
        .post(
            &format!("/v1/threads/{thread}/messages/{message}/feedback"),
            json!({"type": "positive", "comment": "ok"}),
        )
        .await
        .expect(200);
    alice.post("/v1/runs", json!({"thread_id": thread, "status": "completed"})).await.expect(201);
    alice
        .post("/v1/scores", json!({"name": "quality", "data_type": "numeric", "value": 4, "thread_id": thread}))
        .await
        .expect(201);
    let acme = source.bearer(&acme_key);
    let acme_thread = acme
        .request(reqwest::Method::POST, "/v1/threads")
        .header("aui-workspace-id", "team")
        .json(&json!({"title": "Acme notes"}))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json")["thread_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // A workspace token and an anonymous session, both issued by the source.
    let token = alice.post("/v1/auth/tokens", json!({})).await.expect(200)["token"].as_str().expect("token").to_owned();
    let minted = source.anonymous().post("/v1/auth/tokens/anonymous", json!({})).await;
    let refresh_token = minted.expect(200)["refresh_token"]["token"].as_str().expect("refresh token").to_owned();

    let mut exported = Vec::new();
    let counts = transfer::export(store, ExportScope::Deployment, &mut exported).await.expect("export");
    assert_eq!((counts.threads, counts.messages), (2, 1));
    let text = String::from_utf8(exported.clone()).expect("utf-8");
    for kind in [
        "project",
        "signing_key",
        "api_key",
        "auth_rule",
        "server_secret",
        "anonymous_session",
        "refresh_token",
        "feedback",
        "run",
        "score",
    ] {
        assert!(text.contains(&format!(r#"{{"kind":"{kind}""#)), "the export has no {kind}");
    }

    let target = TestServer::start().await;
    transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("import");
    // The source's API keys, workspace tokens and refresh tokens work on the target.
    let on_target = target.bearer(&acme_key);
    let listed = on_target
        .request(reqwest::Method::GET, "/v1/threads")
        .header("aui-workspace-id", "team")
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(listed["threads"][0]["id"], acme_thread.as_str());
    let with_token = target.bearer(&token).get(&format!("/v1/threads/{thread}/messages")).await;
    assert_eq!(with_token.expect(200)["messages"][0]["id"], message.as_str());
    let refreshed = target.anonymous().post("/v1/auth/tokens/refresh", json!({"refresh_token": refresh_token})).await;
    refreshed.expect(200);
    // Run reports came along (a wide row, column by column).
    let runs = target.bearer(&source.api_key).get("/v1/projects/runs").await;
    assert_eq!(runs.expect(200)["runs"].as_array().map(Vec::len), Some(1), "{}", runs.text);
    // Project settings and rules came along.
    let project = target.store.get_project("acme").await.expect("read").expect("acme exists");
    assert_eq!(
        (project.allowed_origins, project.anonymous_enabled),
        (vec!["https://app.acme.example".to_owned()], false)
    );
    assert_eq!(target.store.list_auth_rules(Some("acme")).await.expect("rules").len(), 1);
    // Importing again changes nothing.
    let again = transfer::import(target.store.as_ref(), None, &mut exported.as_slice()).await.expect("again");
    assert_eq!((again.threads, again.messages), (0, 0));
}
