//! The conformance suite every `Store` backend must pass. Each case takes a
//! fresh, migrated store; `backend_suite!` instantiates them for a backend.

use serde_json::json;
use threadhold_domain::dashboard::{
    AdminAccount, AdminRole, AdminSession, AdminThreadQuery, AuditEntry, AuditQuery, DAY_MS, ProjectPage, UserQuery,
    UserSighting,
};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{
    AnonymousSession, ApiKey, Attachment, AuthRule, ClaimOutcome, FeedbackKind, LeaseTarget, Message, MessageBody,
    MessageWrite, NewMessage, NewThread, ParentRef, Project, RefreshOutcome, RefreshRefusal, Score, ScoreSource,
    ScoreTarget, ScoreType, SigningKey, TelemetryRecord, Thread, ThreadListQuery, ThreadPatch, WorkspaceScope,
};
use threadhold_domain::model::{
    MessageUsage, Position, Run, RunQuery, ScoreAfter, ScoreQuery, SpanRecord, ThreadCreationQuery, TraceBatch,
    TraceHints,
};
use threadhold_domain::refresh::RefreshPolicy;
use threadhold_domain::runs::LeasePolicy;
use threadhold_domain::telemetry::report;
use threadhold_domain::title::settings::{ApiKeySource, ApiStyle, TitleSettings};
use threadhold_domain::title::state::{TitleCandidate, TitleOrigin};
use threadhold_domain::transfer::{ExportRow, ExportTable, ProjectRow};
use threadhold_store::{ReadScope, Store, StoreError};

pub fn scope(workspace: &str) -> WorkspaceScope {
    WorkspaceScope { project_id: "p1".into(), workspace_id: workspace.into() }
}

pub async fn prepare(store: &dyn Store) {
    store.ensure_project("p1", "Project one", 1).await.expect("project");
}

pub async fn thread(store: &dyn Store, workspace: &str, last_message_at: i64) -> String {
    let new = NewThread {
        id: new_id(IdKind::Thread),
        scope: scope(workspace),
        title: None,
        metadata: None,
        external_id: None,
        last_message_at,
        now: 1,
        upsert: false,
    };
    store.create_thread(&new).await.expect("thread").0
}

pub fn message(thread_id: &str, parent: ParentRef, external_id: Option<&str>, content: &str, now: i64) -> NewMessage {
    NewMessage {
        id: new_id(IdKind::Message),
        thread_id: thread_id.into(),
        parent,
        format: "aui/v0".into(),
        content: content.into(),
        search_text: threadhold_domain::search::search_text_of(content),
        role: serde_json::from_str::<serde_json::Value>(content)
            .ok()
            .and_then(|v| v.get("role").and_then(|r| r.as_str()).map(str::to_owned)),
        external_id: external_id.map(str::to_owned),
        auto_title: None,
        open_lease: None,
        now,
    }
}

fn list(workspace: Option<&str>, archived: bool, after: Option<String>, limit: u32) -> ThreadListQuery {
    ThreadListQuery { project_id: "p1".into(), workspace_id: workspace.map(str::to_owned), archived, after, limit }
}

pub async fn projects_are_created_once(store: &dyn Store) {
    let again = store.ensure_project("p1", "renamed", 99).await.expect("ensure");
    assert_eq!(again.name, "Project one");
    let project = Project {
        id: "p2".into(),
        name: "Two".into(),
        allowed_origins: vec!["https://a.test".into()],
        anonymous_enabled: false,
        created_at: 5,
    };
    store.create_project(&project).await.expect("create");
    assert!(matches!(store.create_project(&project).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.get_project("p2").await.expect("get"), Some(project));
    assert!(store.set_allowed_origins("p2", &[]).await.expect("set"));
    assert!(!store.set_allowed_origins("nope", &[]).await.expect("set"));
    assert_eq!(store.list_projects().await.expect("list").len(), 2);
}

pub async fn threads_page_in_order_with_ties(store: &dyn Store) {
    let mut expected = Vec::new();
    for i in 0..30 {
        let at = i64::from(i % 4);
        expected.push((at, thread(store, "w", at).await));
    }
    thread(store, "other", 10).await;
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_threads(&list(Some("w"), false, after.clone(), 7)).await.expect("page");
        seen.extend(page.iter().map(|t| t.id.clone()));
        if page.len() < 7 {
            break;
        }
        after = page.last().map(|t| t.id.clone());
    }
    assert_eq!(seen, expected);
    assert_eq!(store.list_threads(&list(None, false, None, 100)).await.expect("all").len(), 31);
    assert!(store.list_threads(&list(Some("w"), false, Some("thread_x".into()), 7)).await.expect("x").is_empty());
}

pub async fn thread_patches_and_archive(store: &dyn Store) {
    let id = thread(store, "w", 5).await;
    let patch = ThreadPatch { title: Some(Some("T".into())), metadata: Some(Some("[1]".into())), ..Default::default() };
    store.update_thread(&scope("w"), &id, &patch, 9).await.expect("patch");
    let read = ReadScope::from(&scope("w"));
    let stored = store.get_thread(&read, &id).await.expect("get").expect("thread");
    assert_eq!(
        (stored.title.as_deref(), stored.title_from_user, stored.metadata.as_deref()),
        (Some("T"), true, Some("[1]"))
    );
    assert_eq!((stored.last_message_at, stored.updated_at), (5, 9));
    let archive = ThreadPatch { is_archived: Some(true), metadata: Some(None), ..Default::default() };
    store.update_thread(&scope("w"), &id, &archive, 10).await.expect("archive");
    let stored = store.get_thread(&read, &id).await.expect("get").expect("thread");
    assert!(stored.is_archived && stored.metadata.is_none() && stored.title.is_some());
    assert!(store.list_threads(&list(Some("w"), false, None, 10)).await.expect("active").is_empty());
    assert_eq!(store.list_threads(&list(Some("w"), true, None, 10)).await.expect("archived").len(), 1);
    let foreign = store.update_thread(&scope("x"), &id, &archive, 11).await;
    assert!(matches!(foreign, Err(StoreError::ThreadNotFound)));
    assert!(store.get_thread(&ReadScope::from(&scope("x")), &id).await.expect("get").is_none());
}

pub async fn upsert_returns_the_oldest_match(store: &dyn Store) {
    let mut new = NewThread {
        id: new_id(IdKind::Thread),
        scope: scope("w"),
        title: None,
        metadata: None,
        external_id: Some("e".into()),
        last_message_at: 1,
        now: 1,
        upsert: false,
    };
    let first = store.create_thread(&new).await.expect("first");
    new.id = new_id(IdKind::Thread);
    store.create_thread(&new).await.expect("second");
    new.id = new_id(IdKind::Thread);
    new.upsert = true;
    assert_eq!(store.create_thread(&new).await.expect("upsert"), (first.0, false));
}

pub async fn messages_form_a_tree_and_page_in_order(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let root = store
        .create_message(&s, &message(&t, ParentRef::Root, Some("r"), r#"{"role":"user"}"#, 10))
        .await
        .expect("root");
    let root = root.message_id().to_owned();
    let mut children = Vec::new();
    for i in 0..5 {
        let child = message(&t, ParentRef::Id(root.clone()), None, r#"{"role":"assistant"}"#, 20 + i64::from(i % 2));
        children.push(store.create_message(&s, &child).await.expect("child").message_id().to_owned());
    }
    let by_external = message(&t, ParentRef::External("r".into()), None, r#"{"role":"assistant"}"#, 30);
    let last = store.create_message(&s, &by_external).await.expect("by external").message_id().to_owned();
    let read = ReadScope::from(&s);
    let all = store.list_messages(&read, &t, None, 200).await.expect("list");
    let order: Vec<(i64, i64)> = all.iter().map(|m| (m.height, m.created_at)).collect();
    assert_eq!(order, vec![(1, 30), (1, 21), (1, 21), (1, 20), (1, 20), (1, 20), (0, 10)]);
    assert_eq!(all[0].id, last);
    assert_eq!(all[0].parent_id.as_deref(), Some(root.as_str()));
    let page = store.list_messages(&read, &t, Some(&all[2].id), 3).await.expect("page");
    assert_eq!(
        page.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        all[3..6].iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    );
    let stored = store.get_thread(&read, &t).await.expect("get").expect("thread");
    assert_eq!(stored.last_message_at, 30, "every stored message advances last_message_at");
    let missing = store.create_message(&s, &message(&t, ParentRef::Id("msg_x".into()), None, "{}", 40)).await;
    assert!(matches!(missing, Err(StoreError::ParentNotFound)));
    let missing = store.create_message(&s, &message(&t, ParentRef::External("nope".into()), None, "{}", 40)).await;
    assert!(matches!(missing, Err(StoreError::ParentExternalNotFound)));
    let foreign = store.create_message(&scope("x"), &message(&t, ParentRef::Root, None, "{}", 40)).await;
    assert!(matches!(foreign, Err(StoreError::ThreadNotFound)));
    let unknown = store.create_message(&s, &message("thread_x", ParentRef::Root, None, "{}", 40)).await;
    assert!(matches!(unknown, Err(StoreError::ThreadNotFound)));
    let other = thread(store, "w", 1).await;
    let elsewhere = store.create_message(&s, &message(&other, ParentRef::Id(root.clone()), None, "{}", 40)).await;
    assert!(matches!(elsewhere, Err(StoreError::ParentNotFound)), "a message of another thread is no parent");
    assert_eq!(
        store.list_messages(&read, &t, None, 200).await.expect("list").len(),
        7,
        "a refused create writes nothing"
    );
    assert!(store.list_messages(&read, &other, None, 200).await.expect("list").is_empty());
    let stored = store.get_thread(&read, &t).await.expect("get").expect("thread");
    assert_eq!(stored.last_message_at, 30, "a refused create does not bump its thread");
    assert!(store.list_messages(&ReadScope::from(&scope("x")), &t, None, 200).await.expect("foreign").is_empty());
    assert!(store.list_messages(&read, &t, Some("msg_unknown"), 200).await.expect("unknown cursor").is_empty());
}

pub async fn external_ids_are_idempotent(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let first = store
        .create_message(&s, &message(&t, ParentRef::Root, Some("x"), r#"{"role":"user","v":1}"#, 5))
        .await
        .expect("1");
    let MessageWrite::Created(id) = first else { panic!("expected a create: {first:?}") };
    let same = store
        .create_message(&s, &message(&t, ParentRef::Root, Some("x"), r#"{"role":"user","v":1}"#, 6))
        .await
        .expect("2");
    assert_eq!(same, MessageWrite::Unchanged(id.clone()));
    let changed = store
        .create_message(&s, &message(&t, ParentRef::Root, Some("x"), r#"{"role":"user","v":2}"#, 7))
        .await
        .expect("3");
    assert_eq!(changed, MessageWrite::Replaced(id.clone()));
    let role = store.create_message(&s, &message(&t, ParentRef::Root, Some("x"), r#"{"role":"assistant"}"#, 8)).await;
    assert!(matches!(role, Err(StoreError::RoleChanged)));
    let all = store.list_messages(&ReadScope::from(&s), &t, None, 10).await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].content.as_str(), all[0].updated_at, all[0].created_at), (r#"{"role":"user","v":2}"#, 7, 5));
}

/// Creates sent at once. SQLite commits them in one transaction; PostgreSQL
/// writes the plain ones in one statement. Each keeps its own result, and one
/// that fails takes none of its neighbours down.
pub async fn concurrent_creates_keep_their_own_results(store: &dyn Store) {
    let s = scope("w");
    let text = |i: usize| format!(r#"{{"role":"user","content":[{{"type":"text","text":"zebra{i:02}x"}}]}}"#);
    let a = thread(store, "w", 1).await;
    let b = thread(store, "w", 1).await;
    let foreign = thread(store, "x", 1).await;
    let root = store.create_message(&s, &message(&a, ParentRef::Root, None, "{}", 2)).await.expect("root");
    let root = root.message_id().to_owned();
    let creates: Vec<NewMessage> = (0..60)
        .map(|i| {
            let (target, parent) = match i % 6 {
                0 | 1 => (a.as_str(), ParentRef::Id(root.clone())),
                2 | 3 => (b.as_str(), ParentRef::Root),
                4 => ("thread_missing", ParentRef::Root),
                _ if i % 12 == 5 => (foreign.as_str(), ParentRef::Root),
                _ => (b.as_str(), ParentRef::Id(root.clone())),
            };
            let mut create = message(target, parent, None, &text(i), 100 + i as i64);
            create.auto_title = (i % 6 == 2).then(|| format!("title {i}"));
            create
        })
        .collect();
    let results = futures_util::future::join_all(creates.iter().map(|create| store.create_message(&s, create))).await;
    for (i, result) in results.iter().enumerate() {
        match (i % 6, result) {
            (0..=3, Ok(MessageWrite::Created(id))) if *id == creates[i].id => {}
            (4, Err(StoreError::ThreadNotFound)) => {}
            (5, Err(StoreError::ThreadNotFound)) if i % 12 == 5 => {}
            (5, Err(StoreError::ParentNotFound)) => {}
            (_, other) => panic!("create {i}: {other:?}"),
        }
    }
    let read = ReadScope::from(&s);
    let in_a = store.list_messages(&read, &a, None, 100).await.expect("a");
    assert_eq!(in_a.len(), 21);
    assert!(in_a.iter().filter(|m| m.id != root).all(|m| m.height == 1 && m.parent_id.as_deref() == Some(&root)));
    let in_b = store.list_messages(&read, &b, None, 100).await.expect("b");
    assert_eq!(in_b.len(), 20);
    assert!(in_b.iter().all(|m| m.height == 0 && m.parent_id.is_none()));
    let foreign_read = ReadScope::from(&scope("x"));
    assert!(store.list_messages(&foreign_read, &foreign, None, 100).await.expect("foreign").is_empty());
    let thread_b = store.get_thread(&read, &b).await.expect("get").expect("b");
    assert_eq!((thread_b.last_message_at, thread_b.updated_at), (157, 157), "bumped to its newest message");
    assert_eq!(thread_b.title.as_deref(), Some("title 2"), "the first automatic title");
    let thread_a = store.get_thread(&read, &a).await.expect("get").expect("a");
    assert_eq!((thread_a.last_message_at, thread_a.title), (155, None));
    for i in [2, 57] {
        let hits = store.search(&read, &format!("zebra{i:02}x"), 10, None).await.expect("search");
        let found: Vec<_> = hits.iter().map(|h| (h.thread.id.as_str(), h.message_id.as_deref())).collect();
        assert_eq!(found, [(b.as_str(), Some(creates[i].id.as_str()))], "search entry of create {i}");
    }

    // A reused message id (no request can send one) fails PostgreSQL's whole
    // statement: the other creates are written again, each on its own.
    let mut creates: Vec<NewMessage> = (0..10).map(|i| message(&b, ParentRef::Root, None, "{}", 200 + i)).collect();
    creates[3].id = root.clone();
    let results = futures_util::future::join_all(creates.iter().map(|create| store.create_message(&s, create))).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(i == 3, result.is_err(), "create {i}: {result:?}");
    }
    assert_eq!(store.list_messages(&read, &b, None, 100).await.expect("b").len(), 29);
    let thread_b = store.get_thread(&read, &b).await.expect("get").expect("b");
    assert_eq!(thread_b.last_message_at, 209);
    let days = store.daily_activity("p1", 0, 1).await.expect("activity");
    assert_eq!(days.iter().map(|d| d.messages).sum::<i64>(), 50, "each written create, once");
}

pub async fn deletes_cascade(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let mut parent = ParentRef::Root;
    let mut ids = Vec::new();
    for i in 0..50 {
        let id =
            store.create_message(&s, &message(&t, parent, None, "{}", i)).await.expect("m").message_id().to_owned();
        parent = ParentRef::Id(id.clone());
        ids.push(id);
    }
    let sibling = store
        .create_message(&s, &message(&t, ParentRef::Root, None, "{}", 99))
        .await
        .expect("s")
        .message_id()
        .to_owned();
    store.upsert_feedback(&s, &t, &ids[30], "u", FeedbackKind::Positive, None, 100).await.expect("feedback");
    assert_eq!(store.delete_messages(&s, &t, &[ids[10].clone(), "msg_none".into()]).await.expect("delete"), 1);
    let left = store.list_messages(&ReadScope::from(&s), &t, None, 200).await.expect("list");
    assert_eq!(left.len(), 11, "ten ancestors and the sibling remain");
    assert!(left.iter().any(|m| m.id == sibling));
    assert_eq!(store.delete_messages(&s, &t, &["msg_none".into()]).await.expect("none"), 0);
    store.delete_thread(&s, &t).await.expect("thread delete");
    assert!(store.list_messages(&ReadScope::from(&s), &t, None, 200).await.expect("list").is_empty());
    assert!(matches!(store.delete_thread(&s, &t).await, Err(StoreError::ThreadNotFound)));
}

pub async fn automatic_titles_never_replace_titles(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    assert_eq!(store.set_auto_title(&s, &t, None, 2).await.expect("none"), None);
    assert_eq!(store.set_auto_title(&s, &t, Some("Auto"), 2).await.expect("auto").as_deref(), Some("Auto"));
    assert_eq!(store.set_auto_title(&s, &t, Some("Other"), 3).await.expect("again").as_deref(), Some("Auto"));
    let mut titled = message(&t, ParentRef::Root, None, r#"{"role":"user"}"#, 4);
    titled.auto_title = Some("From message".into());
    store.create_message(&s, &titled).await.expect("message");
    let stored = store.get_thread(&ReadScope::from(&s), &t).await.expect("get").expect("thread");
    assert_eq!(stored.title.as_deref(), Some("Auto"));
    assert!(matches!(store.set_auto_title(&scope("x"), &t, Some("x"), 5).await, Err(StoreError::ThreadNotFound)));
}

pub async fn api_keys_revoke_and_touch(store: &dyn Store) {
    let key = threadhold_domain::model::ApiKey {
        id: new_id(IdKind::ApiKey),
        project_id: "p1".into(),
        name: "k".into(),
        secret_hash: "ab".repeat(32),
        display_prefix: "sk…".into(),
        created_at: 1,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key).await.expect("insert");
    store.touch_api_key(&key.id, 100_000).await.expect("touch");
    store.touch_api_key(&key.id, 100_500).await.expect("touch within a minute");
    let found = store.api_key_by_hash(&key.secret_hash).await.expect("find").expect("key");
    assert_eq!(found.last_used_at, Some(100_000));
    assert!(store.revoke_api_key(&key.id, 200_000).await.expect("revoke"));
    assert!(!store.revoke_api_key(&key.id, 200_001).await.expect("again"));
    let found = store.api_key_by_hash(&key.secret_hash).await.expect("find").expect("key");
    assert!(!found.is_usable_at(200_002));
    assert_eq!(store.list_api_keys(Some("p1")).await.expect("list").len(), 1);
    assert!(store.list_api_keys(Some("p9")).await.expect("list").is_empty());
}

const POLICY: RefreshPolicy = RefreshPolicy { grace_ms: 10_000, ttl_ms: 1_000_000 };

async fn anonymous(store: &dyn Store, name: &str, now: i64) -> AnonymousSession {
    let session = AnonymousSession {
        id: format!("sess_{name}"),
        project_id: "p1".into(),
        user_id: format!("usr_anon_{name}"),
        created_at: now,
        expires_at: now + POLICY.ttl_ms,
    };
    store.create_anonymous_session(&session, &format!("h-{name}-0")).await.expect("session");
    session
}

async fn refresh(store: &dyn Store, presented: &str, next: &str, now: i64) -> RefreshOutcome {
    store.refresh_anonymous_session("p1", presented, next, now, POLICY).await.expect("refresh")
}

pub async fn refresh_tokens_rotate_with_a_grace_window(store: &dyn Store) {
    let session = anonymous(store, "a", 1_000).await;
    let RefreshOutcome::Refreshed(refreshed) = refresh(store, "h-a-0", "h-a-1", 2_000).await else {
        panic!("the current token refreshes")
    };
    assert_eq!((refreshed.id.as_str(), refreshed.user_id.as_str()), (session.id.as_str(), session.user_id.as_str()));
    assert_eq!(refreshed.expires_at, 2_000 + POLICY.ttl_ms, "expiry slides");
    // The rotated token, within the grace window: a sibling, same identity.
    let RefreshOutcome::Refreshed(again) = refresh(store, "h-a-0", "h-a-2", 12_000).await else {
        panic!("reuse inside the grace window is tolerated")
    };
    assert_eq!(again.user_id, session.user_id);
    // Both children are live; using one rotates only it.
    assert!(matches!(refresh(store, "h-a-1", "h-a-3", 13_000).await, RefreshOutcome::Refreshed(_)));
    assert!(matches!(refresh(store, "h-a-2", "h-a-4", 14_000).await, RefreshOutcome::Refreshed(_)));
    // The first token, long after its rotation: the family is revoked for everyone.
    assert_eq!(
        refresh(store, "h-a-0", "h-a-5", 12_001 + POLICY.grace_ms).await,
        RefreshOutcome::Refused(RefreshRefusal::Reused)
    );
    assert_eq!(refresh(store, "h-a-3", "h-a-6", 30_000).await, RefreshOutcome::Refused(RefreshRefusal::Revoked));
    assert_eq!(refresh(store, "h-a-5", "h-a-7", 30_000).await, RefreshOutcome::Refused(RefreshRefusal::Unknown));
    assert_eq!(refresh(store, "h-none", "h-x", 30_000).await, RefreshOutcome::Refused(RefreshRefusal::Unknown));
    // Another project's token is unknown here.
    let foreign = store.refresh_anonymous_session("p2", "h-a-4", "h-a-8", 30_000, POLICY).await.expect("refresh");
    assert_eq!(foreign, RefreshOutcome::Refused(RefreshRefusal::Unknown));
}

pub async fn anonymous_sessions_expire_unless_used(store: &dyn Store) {
    anonymous(store, "b", 0).await;
    assert!(matches!(refresh(store, "h-b-0", "h-b-1", POLICY.ttl_ms - 1).await, RefreshOutcome::Refreshed(_)));
    // Used just before expiry, the session lives another full lifetime.
    assert!(matches!(refresh(store, "h-b-1", "h-b-2", 2 * POLICY.ttl_ms - 2).await, RefreshOutcome::Refreshed(_)));
    assert_eq!(
        refresh(store, "h-b-2", "h-b-3", 3 * POLICY.ttl_ms).await,
        RefreshOutcome::Refused(RefreshRefusal::Expired)
    );
}

pub async fn concurrent_refreshes_keep_one_family(store: &dyn Store) {
    let session = anonymous(store, "c", 0).await;
    let (first, second) = tokio::join!(refresh(store, "h-c-0", "h-c-1", 5), refresh(store, "h-c-0", "h-c-2", 5));
    for outcome in [first, second] {
        let RefreshOutcome::Refreshed(refreshed) = outcome else { panic!("both racers keep the identity") };
        assert_eq!(refreshed.id, session.id, "one family");
    }
}

pub async fn claims_move_threads_once(store: &dyn Store) {
    let session = anonymous(store, "d", 0).await;
    let anon = scope(&session.user_id);
    let t = thread(store, &session.user_id, 1).await;
    store.create_message(&anon, &message(&t, ParentRef::Root, None, "{}", 2)).await.expect("message");
    thread(store, &session.user_id, 2).await;
    let signed_in = scope("alice");
    let moved = store.claim_anonymous_threads("h-d-0", &signed_in, 10, POLICY).await.expect("claim");
    assert_eq!(moved, ClaimOutcome::Moved(2));
    assert_eq!(store.list_messages(&ReadScope::from(&signed_in), &t, None, 10).await.expect("messages").len(), 1);
    assert!(store.list_threads(&list(Some(&session.user_id), false, None, 10)).await.expect("left").is_empty());
    assert_eq!(
        store.claim_anonymous_threads("h-d-0", &signed_in, 11, POLICY).await.expect("again"),
        ClaimOutcome::Moved(0)
    );
    assert_eq!(
        refresh(store, "h-d-0", "h-d-1", 12).await,
        RefreshOutcome::Refused(RefreshRefusal::Revoked),
        "claimed sessions end"
    );
    let unknown = store.claim_anonymous_threads("h-nope", &signed_in, 11, POLICY).await.expect("unknown");
    assert_eq!(unknown, ClaimOutcome::Refused(RefreshRefusal::Unknown));
    let own = anonymous(store, "e", 0).await;
    let itself = store.claim_anonymous_threads("h-e-0", &scope(&own.user_id), 1, POLICY).await.expect("self");
    assert_eq!(itself, ClaimOutcome::Moved(0));
}

pub async fn unused_anonymous_identities_are_collected(store: &dyn Store) {
    anonymous(store, "f", 0).await;
    let busy = anonymous(store, "g", 0).await;
    thread(store, &busy.user_id, 1).await;
    anonymous(store, "h", 5_000).await;
    assert!(matches!(refresh(store, "h-h-0", "h-h-1", 6_000).await, RefreshOutcome::Refreshed(_)));
    let (sessions, tokens) = store.collect_anonymous_garbage(4_000, 6_500).await.expect("gc");
    assert_eq!((sessions, tokens), (1, 1), "only the idle, empty identity and one rotated token go");
    assert_eq!(refresh(store, "h-f-0", "h-f-1", 7_000).await, RefreshOutcome::Refused(RefreshRefusal::Unknown));
    assert!(matches!(refresh(store, "h-g-0", "h-g-1", 7_000).await, RefreshOutcome::Refreshed(_)));
    assert!(matches!(refresh(store, "h-h-1", "h-h-2", 7_000).await, RefreshOutcome::Refreshed(_)));
}

pub async fn erasure_and_retention(store: &dyn Store) {
    let old = thread(store, "u1", 10).await;
    let recent = thread(store, "u1", 1_000).await;
    let other = thread(store, "u2", 10).await;
    store.create_message(&scope("u1"), &message(&recent, ParentRef::Root, None, "{}", 1_000)).await.expect("message");
    store.ensure_project("p2", "Two", 1).await.expect("p2");
    let elsewhere = NewThread {
        id: new_id(IdKind::Thread),
        scope: WorkspaceScope { project_id: "p2".into(), workspace_id: "u1".into() },
        title: None,
        metadata: None,
        external_id: None,
        last_message_at: 10,
        now: 1,
        upsert: false,
    };
    store.create_thread(&elsewhere).await.expect("thread of p2");
    assert_eq!(store.count_threads_before("p1", 100, 100).await.expect("count"), 2);
    assert_eq!(store.count_threads_before("p1", 100, 1).await.expect("capped"), 1);
    let purged = store.purge_threads_before("p1", 100, 10).await.expect("purge");
    assert_eq!(purged.threads, 2);
    let p2 = ReadScope { project_id: "p2".into(), workspace_id: None };
    assert!(store.get_thread(&p2, &elsewhere.id).await.expect("get").is_some(), "another project keeps its threads");
    for (workspace, id, kept) in [("u1", &old, false), ("u2", &other, false), ("u1", &recent, true)] {
        assert_eq!(store.get_thread(&ReadScope::from(&scope(workspace)), id).await.expect("get").is_some(), kept);
    }
    store.record_user_activity(&sighting("u1", "u1", 5_000)).await.expect("seen");
    let erased = store.erase_user("p1", "u1").await.expect("erase");
    assert_eq!(erased.threads, 1);
    assert_eq!(store.get_user("p1", "u1").await.expect("user"), None, "erasure removes the registry entry");
    assert_eq!(store.count_active_users("p1", 0, 10).await.expect("active"), 0);
    assert!(store.list_messages(&ReadScope::from(&scope("u1")), &recent, None, 10).await.expect("list").is_empty());
    assert_eq!(store.erase_user("p1", "u1").await.expect("again").threads, 0);
}

pub async fn signing_keys_and_server_secrets(store: &dyn Store) {
    for (kid, at) in [("k1", 1), ("k2", 2)] {
        let key = SigningKey {
            kid: kid.into(),
            project_id: "p1".into(),
            algorithm: "EdDSA".into(),
            private_der: vec![1, 2, 3],
            public_raw: vec![4, 5],
            created_at: at,
        };
        store.insert_signing_key(&key).await.expect("key");
    }
    let keys = store.signing_keys("p1").await.expect("keys");
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k2", "k1"], "newest first");
    assert_eq!(store.signing_key("k1").await.expect("one").map(|k| k.private_der), Some(vec![1, 2, 3]));
    assert!(store.signing_key("nope").await.expect("none").is_none());
    let first = store.server_secret("s", b"first", 1).await.expect("secret");
    assert_eq!(first, b"first");
    assert_eq!(store.server_secret("s", b"second", 2).await.expect("again"), b"first", "the first secret stays");
}

pub async fn administrative_changes_move_the_settings_version(store: &dyn Store) {
    let mut version = store.settings_version().await.expect("version");
    let mut moved = async |what: &str| {
        let now = store.settings_version().await.expect("version");
        assert!(now > version, "{what} moves the settings version");
        version = now;
    };
    let project = Project {
        id: "p3".into(),
        name: "Three".into(),
        allowed_origins: vec![],
        anonymous_enabled: true,
        created_at: 1,
    };
    store.create_project(&project).await.expect("project");
    moved("a new project").await;
    store.set_allowed_origins("p3", &["https://a.test".into()]).await.expect("origins");
    moved("allowed origins").await;
    store.set_anonymous_enabled("p3", false).await.expect("anonymous");
    moved("the anonymous switch").await;
    let rule = auth_rule("r1");
    store.insert_auth_rule(&rule).await.expect("rule");
    moved("a new rule").await;
    store.delete_auth_rule("r1").await.expect("delete rule");
    moved("a removed rule").await;
    let key = api_key("k");
    store.insert_api_key(&key).await.expect("key");
    moved("a new key").await;
    store.revoke_api_key(&key.id, 5).await.expect("revoke");
    moved("a revoked key").await;
    let before = store.settings_version().await.expect("version");
    thread(store, "w", 1).await;
    assert_eq!(store.settings_version().await.expect("version"), before, "data writes leave it alone");
}

fn auth_rule(id: &str) -> AuthRule {
    AuthRule {
        id: id.into(),
        project_id: "p1".into(),
        name: "Clerk".into(),
        provider: "clerk".into(),
        issuer: "https://clerk.example".into(),
        audiences: vec!["a".into(), "b".into()],
        jwks_url: Some("https://clerk.example/jwks".into()),
        discovery: false,
        shared_secret: Some(vec![7; 32]),
        algorithms: vec!["RS256".into()],
        clock_skew_secs: 60,
        max_lifetime_secs: Some(3600),
        authorized_parties: vec!["https://app.example".into()],
        workspace_template: "{o.id}_{sub}".into(),
        workspace_fallback: Some("{sub}".into()),
        name_claim: Some("name".into()),
        token_type: Some("at+jwt".into()),
        created_at: 3,
    }
}

fn api_key(name: &str) -> ApiKey {
    ApiKey {
        id: new_id(IdKind::ApiKey),
        project_id: "p1".into(),
        name: name.into(),
        secret_hash: format!("{name:0>64}"),
        display_prefix: "sk…".into(),
        created_at: 1,
        expires_at: Some(99),
        last_used_at: None,
        revoked_at: None,
    }
}

pub async fn auth_rules_round_trip(store: &dyn Store) {
    let rule = auth_rule("r1");
    store.insert_auth_rule(&rule).await.expect("insert");
    assert_eq!(store.list_auth_rules(Some("p1")).await.expect("list"), vec![rule.clone()]);
    assert_eq!(store.list_auth_rules(None).await.expect("all"), vec![rule]);
    assert!(store.list_auth_rules(Some("p2")).await.expect("other").is_empty());
    assert!(store.delete_auth_rule("r1").await.expect("delete"));
    assert!(!store.delete_auth_rule("r1").await.expect("again"));
    assert!(store.list_auth_rules(None).await.expect("empty").is_empty());
}

const LEASES: LeasePolicy = LeasePolicy { heartbeat_interval_ms: 10, stale_after_ms: 100 };

fn body(content: &str) -> MessageBody {
    MessageBody::new(content.into())
}

pub async fn run_leases_follow_their_rules(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let mut leased = message(&t, ParentRef::Root, Some("ext"), r#"{"role":"assistant"}"#, 10);
    leased.open_lease = Some("lease_1".into());
    let id = store.create_message(&s, &leased).await.expect("leased").message_id().to_owned();
    let lease = store.get_run_lease("lease_1").await.expect("lease").expect("exists");
    assert_eq!((lease.message_id.as_str(), lease.running, lease.last_heartbeat_at), (id.as_str(), true, 10));
    // The holder writes by id and by external id; each write is a beat.
    let by_id = LeaseTarget::Id(id.clone());
    let first_write = body(r#"{"role":"assistant","v":1}"#);
    let written = store.write_as_lease_holder(&s, &t, &by_id, "lease_1", &first_write, 20).await;
    assert_eq!(written.expect("holder write"), id);
    let by_external = LeaseTarget::External("ext".into());
    store
        .write_as_lease_holder(&s, &t, &by_external, "lease_1", &body(r#"{"role":"assistant","v":2}"#), 30)
        .await
        .expect("by external");
    store.heartbeat_run(&s, &t, "lease_1", 40).await.expect("beat");
    assert_eq!(store.get_run_lease("lease_1").await.expect("lease").map(|l| l.last_heartbeat_at), Some(40));
    // A plain write is refused while the lease is fresh, and ends it once stale.
    let plain = store.update_message_content(&s, &t, &id, &body(r#"{"role":"assistant"}"#), 50, LEASES).await;
    assert!(matches!(plain, Err(StoreError::RunInProgress)));
    store
        .update_message_content(&s, &t, &id, &body(r#"{"role":"assistant","v":3}"#), 200, LEASES)
        .await
        .expect("stale");
    let ended = store.get_run_lease("lease_1").await.expect("lease").expect("exists");
    assert_eq!((ended.running, ended.end_reason.as_deref()), (false, Some("abandoned")));
    let after = store.write_as_lease_holder(&s, &t, &by_id, "lease_1", &body("{}"), 210).await;
    assert!(matches!(after, Err(StoreError::RunEnded)));
    assert!(matches!(store.heartbeat_run(&s, &t, "lease_1", 210).await, Err(StoreError::RunEnded)));
    // A second lease on the message; ending is idempotent and keeps the first reason.
    let mut reopened = message(&t, ParentRef::Root, Some("ext"), r#"{"role":"assistant","v":3}"#, 300);
    reopened.open_lease = Some("lease_2".into());
    store.create_message(&s, &reopened).await.expect("reopen");
    let mut again = reopened.clone();
    again.open_lease = Some("lease_3".into());
    assert!(matches!(store.create_message(&s, &again).await, Err(StoreError::RunInProgress)));
    store.end_run(&s, &t, "lease_2", "done", 310).await.expect("end");
    store.end_run(&s, &t, "lease_2", "error", 320).await.expect("end again");
    assert_eq!(
        store.get_run_lease("lease_2").await.expect("lease").and_then(|l| l.end_reason).as_deref(),
        Some("done")
    );
    // Unknown leases, other messages' leases, and foreign threads.
    let other = store.create_message(&s, &message(&t, ParentRef::Root, None, "{}", 400)).await.expect("other");
    let mismatch = LeaseTarget::Id(other.message_id().to_owned());
    let wrong = store.write_as_lease_holder(&s, &t, &mismatch, "lease_2", &body("{}"), 410).await;
    assert!(matches!(wrong, Err(StoreError::LeaseMismatch)));
    assert!(matches!(store.heartbeat_run(&s, &t, "lease_x", 410).await, Err(StoreError::RunNotFound)));
    assert!(matches!(store.end_run(&scope("x"), &t, "lease_2", "done", 410).await, Err(StoreError::RunNotFound)));
    let listed = store.list_messages(&ReadScope::from(&s), &t, None, 10).await.expect("list");
    let run = listed.iter().find(|m| m.id == id).and_then(|m| m.run).expect("the message's run");
    assert!(!run.running);
}

pub async fn attachments_link_and_expire(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let attachment = |key: &str, expires: i64| Attachment {
        key: key.into(),
        scope: s.clone(),
        filename: "a.png".into(),
        content_type: "image/png".into(),
        size: None,
        complete: false,
        thread_id: None,
        created_at: 1,
        upload_expires_at: expires,
    };
    store.insert_attachment(&attachment("attachments/p1/a", 100)).await.expect("a");
    store.insert_attachment(&attachment("attachments/p1/b", 100)).await.expect("b");
    store.insert_attachment(&attachment("attachments/p1/c", 900)).await.expect("c");
    store.complete_attachment("attachments/p1/a", 12, "image/png").await.expect("complete");
    let a = store.get_attachment("attachments/p1/a").await.expect("get").expect("a");
    assert_eq!((a.complete, a.size), (true, Some(12)));
    let expired = store.expired_uploads(500).await.expect("expired");
    assert_eq!(expired.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["attachments/p1/b"]);
    store.delete_attachment("attachments/p1/b").await.expect("delete");
    assert!(store.get_attachment("attachments/p1/b").await.expect("get").is_none());
    // Linking needs the file's own workspace.
    let keys = vec!["attachments/p1/a".to_owned(), "attachments/p1/c".to_owned()];
    store.link_attachments(&scope("x"), &t, &keys).await.expect("foreign link");
    assert!(store.get_attachment("attachments/p1/a").await.expect("get").and_then(|a| a.thread_id).is_none());
    store.link_attachments(&s, &t, &keys).await.expect("link");
    let mut deleted = store.delete_thread(&s, &t).await.expect("delete thread");
    deleted.sort();
    assert_eq!(deleted, keys, "a thread's files go with it");
    assert!(store.get_attachment("attachments/p1/a").await.expect("get").is_none());
}

pub async fn search_finds_titles_and_text(store: &dyn Store) {
    let s = scope("w");
    let text = |words: &str| format!(r#"{{"role":"user","content":[{{"type":"text","text":"{words}"}}]}}"#);
    let cats = thread(store, "w", 10).await;
    let first = store
        .create_message(&s, &message(&cats, ParentRef::Root, None, &text("I like Cats a lot"), 10))
        .await
        .expect("m");
    let first = first.message_id().to_owned();
    let dogs = thread(store, "w", 20).await;
    store.create_message(&s, &message(&dogs, ParentRef::Root, None, &text("dogs only"), 20)).await.expect("m");
    let titled = thread(store, "w", 30).await;
    let patch = ThreadPatch { title: Some(Some("Concatenation notes".into())), ..Default::default() };
    store.update_thread(&s, &titled, &patch, 30).await.expect("title");
    let foreign = thread(store, "other", 40).await;
    store
        .create_message(&scope("other"), &message(&foreign, ParentRef::Root, None, &text("cats elsewhere"), 40))
        .await
        .expect("m");

    let s = ReadScope::from(&s);
    let hits = store.search(&s, "CAT", 10, None).await.expect("search");
    let ids: Vec<&str> = hits.iter().map(|h| h.thread.id.as_str()).collect();
    assert_eq!(ids, [titled.as_str(), cats.as_str()], "newest thread first, other workspaces never");
    assert_eq!(hits[0].message_id, None);
    assert_eq!(hits[0].snippet, "Concatenation notes");
    assert_eq!(hits[1].message_id.as_deref(), Some(first.as_str()));
    assert!(hits[1].snippet.contains("Cats"), "{:?}", hits[1].snippet);
    // Pages continue after a thread; an unknown cursor ends the list.
    let next = store.search(&s, "cat", 1, Some(&titled)).await.expect("page 2");
    assert_eq!(next.iter().map(|h| h.thread.id.as_str()).collect::<Vec<_>>(), [cats.as_str()]);
    assert!(store.search(&s, "cat", 10, Some("thread_nope")).await.expect("unknown").is_empty());
    // Short queries match titles only.
    assert_eq!(store.search(&s, "on", 10, None).await.expect("short").len(), 1);
    // New text is found, old text is not, deleted messages are gone.
    let written = scope("w");
    store
        .update_message_content(&written, &cats, &first, &body(&text("now about birds")), 50, LEASES)
        .await
        .expect("edit");
    assert!(store.search(&s, "cats a", 10, None).await.expect("old text").is_empty());
    assert_eq!(store.search(&s, "birds", 10, None).await.expect("new text").len(), 1);
    store.delete_thread(&written, &cats).await.expect("delete");
    let project = ReadScope { project_id: "p1".into(), workspace_id: None };
    let across = store.search(&project, "cats", 10, None).await.expect("project-wide");
    assert_eq!(across.iter().map(|h| h.thread.id.as_str()).collect::<Vec<_>>(), [foreign.as_str()], "every workspace");
    assert!(store.search(&s, "birds", 10, None).await.expect("deleted").is_empty());
    // A title given at creation is found; a renamed one by its new words only; a cleared one not at all.
    let created = NewThread {
        id: new_id(IdKind::Thread),
        scope: written.clone(),
        title: Some("Pelican field notes".into()),
        metadata: None,
        external_id: None,
        last_message_at: 60,
        now: 60,
        upsert: false,
    };
    let pelicans = store.create_thread(&created).await.expect("titled thread").0;
    assert_eq!(store.search(&s, "pelican", 10, None).await.expect("created title")[0].thread.id, pelicans);
    let rename = ThreadPatch { title: Some(Some("Heron sightings".into())), ..Default::default() };
    store.update_thread(&written, &pelicans, &rename, 70).await.expect("rename");
    assert!(store.search(&s, "pelican", 10, None).await.expect("old title").is_empty());
    assert_eq!(store.search(&s, "heron", 10, None).await.expect("new title").len(), 1);
    let clear = ThreadPatch { title: Some(None), ..Default::default() };
    store.update_thread(&written, &pelicans, &clear, 80).await.expect("clear");
    assert!(store.search(&s, "heron", 10, None).await.expect("cleared").is_empty());
}

pub async fn imports_keep_ids_and_are_idempotent(store: &dyn Store) {
    let thread = Thread {
        id: "thread_imported".into(),
        project_id: "p1".into(),
        workspace_id: "w".into(),
        title: Some("Old".into()),
        title_from_user: true,
        metadata: Some(r#"{"a":1}"#.into()),
        external_id: Some("e".into()),
        is_archived: true,
        last_message_at: 5,
        created_at: 1,
        updated_at: 6,
    };
    assert!(store.import_thread(&thread).await.expect("import"));
    assert!(!store.import_thread(&thread).await.expect("again"));
    let message = Message {
        id: "msg_imported".into(),
        thread_id: thread.id.clone(),
        parent_id: None,
        height: 0,
        format: "aui/v0".into(),
        content: r#"{"role":"user","content":[{"type":"text","text":"imported words"}]}"#.into(),
        external_id: None,
        created_at: 2,
        updated_at: 3,
        run: None,
    };
    assert!(store.import_message(&message, "imported words").await.expect("import"));
    assert!(!store.import_message(&message, "imported words").await.expect("again"));
    let read = ReadScope::from(&scope("w"));
    assert_eq!(store.get_thread(&read, &thread.id).await.expect("get"), Some(thread.clone()));
    assert_eq!(store.list_messages(&read, &thread.id, None, 10).await.expect("list"), vec![message]);
    assert_eq!(store.search(&ReadScope::from(&scope("w")), "imported", 10, None).await.expect("search").len(), 1);
}

pub async fn scores_are_kept_per_workspace(store: &dyn Store) {
    let score = |workspace: &str, value: f64| Score {
        id: new_id(IdKind::Score),
        scope: scope(workspace),
        author: "user".into(),
        target: ScoreTarget::Run("run_shared".into()),
        name: "quality".into(),
        data_type: ScoreType::Numeric,
        value: Some(value),
        string_value: None,
        comment: None,
        source: ScoreSource::Api,
        now: 1,
    };
    let a = store.upsert_score(&score("a", 5.0)).await.expect("a");
    let b = store.upsert_score(&score("b", 0.0)).await.expect("b");
    assert_ne!(a, b, "another workspace's score on the same run is another score");
    assert_eq!(store.upsert_score(&score("a", 4.0)).await.expect("a again"), a, "same workspace: upserted");
    let t = thread(store, "a", 1).await;
    let on_message = Score {
        target: ScoreTarget::Message { thread_id: t.clone(), message_id: "msg_none".into() },
        ..score("a", 1.0)
    };
    assert!(matches!(store.upsert_score(&on_message).await, Err(StoreError::MessageNotFound)));
    let foreign = Score { target: ScoreTarget::Thread(t), ..score("b", 1.0) };
    assert!(matches!(store.upsert_score(&foreign).await, Err(StoreError::ThreadNotFound)));
    let record = TelemetryRecord {
        id: new_id(IdKind::Run),
        scope: scope("a"),
        user_id: "user".into(),
        thread_id: None,
        kind: "completed".into(),
        body: "{}".into(),
        created_at: 1,
    };
    store
        .insert_telemetry("run", &[record.clone(), TelemetryRecord { id: new_id(IdKind::Run), ..record }])
        .await
        .expect("telemetry");
}

pub async fn feedback_keeps_one_rating_per_user(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let s = scope("w");
    let m = store.create_message(&s, &message(&t, ParentRef::Root, None, "{}", 2)).await.expect("m");
    let m = m.message_id();
    let first = store.upsert_feedback(&s, &t, m, "u", FeedbackKind::Negative, Some("bad"), 3).await.expect("first");
    let same = store.upsert_feedback(&s, &t, m, "u", FeedbackKind::Negative, None, 4).await.expect("same");
    assert_eq!(
        (same.id.as_str(), same.comment.as_deref()),
        (first.id.as_str(), Some("bad")),
        "same rating keeps the comment"
    );
    let flipped = store.upsert_feedback(&s, &t, m, "u", FeedbackKind::Positive, None, 5).await.expect("flip");
    assert_eq!((flipped.kind, flipped.comment), (FeedbackKind::Positive, None), "a new rating clears it");
    let missing = store.upsert_feedback(&s, &t, "msg_none", "u", FeedbackKind::Positive, None, 6).await;
    assert!(matches!(missing, Err(StoreError::MessageNotFound)));
    let foreign = store.upsert_feedback(&scope("x"), &t, m, "u", FeedbackKind::Positive, None, 6).await;
    assert!(matches!(foreign, Err(StoreError::ThreadNotFound)));
}

pub async fn export_pages_and_imports_rows(store: &dyn Store) {
    for name in ["a", "b", "c", "d", "e"] {
        store.insert_api_key(&api_key(name)).await.expect("key");
    }
    let mut keys = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.export_rows(ExportTable::ApiKeys, Some("p1"), &after, 2).await.expect("page");
        keys.extend(page.iter().map(|row| row.key().to_owned()));
        match page.last() {
            Some(last) if page.len() == 2 => after = last.key().to_owned(),
            _ => break,
        }
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!((keys.len(), &keys), (5, &sorted), "every key once, in key order");
    assert!(store.export_rows(ExportTable::ApiKeys, Some("p2"), "", 10).await.expect("other").is_empty());
    // Secrets belong to the deployment: never in a project's export.
    store.server_secret("s", b"v", 1).await.expect("secret");
    assert!(store.export_rows(ExportTable::ServerSecrets, Some("p1"), "", 10).await.expect("p1").is_empty());
    let secrets = store.export_rows(ExportTable::ServerSecrets, None, "", 10).await.expect("all");
    assert_eq!(secrets.iter().map(ExportRow::key).collect::<Vec<_>>(), ["s"]);
    // Importing an existing row changes nothing; a new one is written and readable.
    let first = store.export_rows(ExportTable::ApiKeys, None, "", 1).await.expect("one").remove(0);
    assert!(!store.import_row(&first).await.expect("again"));
    let ExportRow::ApiKey(mut row) = first else { panic!("an API key row") };
    row.id = "key_imported".into();
    row.secret_hash = "f".repeat(64);
    assert!(store.import_row(&ExportRow::ApiKey(row)).await.expect("new"));
    assert!(store.api_key_by_hash(&"f".repeat(64)).await.expect("find").is_some());
    // A project row takes over the target's settings.
    let project = ExportRow::Project(ProjectRow {
        id: "p1".into(),
        name: "Renamed".into(),
        allowed_origins: vec!["https://x.test".into()],
        anonymous_enabled: false,
        created_at: 1,
    });
    assert!(store.import_row(&project).await.expect("project"));
    assert!(!store.import_row(&project).await.expect("same again"));
    let stored = store.get_project("p1").await.expect("get").expect("p1");
    assert_eq!((stored.name.as_str(), stored.anonymous_enabled), ("Renamed", false));
}

fn title_settings(project: &str) -> TitleSettings {
    let mut settings = TitleSettings::new(project, "http://127.0.0.1:11434/v1", "llama3.2", ApiKeySource::None);
    settings.updated_at = 5;
    settings
}

pub async fn title_settings_round_trip(store: &dyn Store) {
    assert_eq!(store.title_settings("p1").await.expect("none"), None);
    assert!(!store.put_title_settings(&title_settings("nope")).await.expect("no project"), "unknown project");
    assert!(!store.set_titles_enabled("p1", false, 6).await.expect("no settings"), "nothing to switch");
    let version = store.settings_version().await.expect("version");
    let plain = title_settings("p1");
    assert!(store.put_title_settings(&plain).await.expect("put"));
    assert_eq!(store.title_settings("p1").await.expect("get"), Some(plain));
    assert!(store.settings_version().await.expect("version") > version, "nodes notice new title settings");
    let azure = TitleSettings {
        api_key: ApiKeySource::Env("AZURE_OPENAI_API_KEY".into()),
        api_style: ApiStyle::Azure,
        api_version: Some("2024-10-21".into()),
        language: Some("pt-BR".into()),
        words: 12,
        instructions: "Name the product Acme.".into(),
        timeout_ms: 300_000,
        ..title_settings("p1")
    };
    assert!(store.put_title_settings(&azure).await.expect("replace"));
    assert_eq!(store.title_settings("p1").await.expect("get").as_ref(), Some(&azure));
    let file = TitleSettings { api_key: ApiKeySource::File("/run/secrets/key".into()), ..title_settings("p1") };
    assert!(store.put_title_settings(&file).await.expect("replace"));
    assert_eq!(store.title_settings("p1").await.expect("get").map(|s| s.api_key), Some(file.api_key.clone()));
    let version = store.settings_version().await.expect("version");
    assert!(store.set_titles_enabled("p1", false, 9).await.expect("off"));
    let off = store.title_settings("p1").await.expect("get").expect("kept");
    assert!(!off.enabled && off.updated_at == 9 && off.model == "llama3.2", "off keeps the settings");
    assert!(store.settings_version().await.expect("version") > version, "nodes notice the switch");

    // Exported with the deployment (the key's location, never a key) and imported once.
    let rows = store.export_rows(ExportTable::TitleSettings, Some("p1"), "", 10).await.expect("export");
    assert_eq!(rows.iter().map(ExportRow::key).collect::<Vec<_>>(), ["p1"]);
    assert!(store.export_rows(ExportTable::TitleSettings, Some("p2"), "", 10).await.expect("export").is_empty());
    assert!(!store.import_row(&rows[0]).await.expect("present"), "present rows are skipped");
    let ExportRow::TitleSettings(mut row) = rows[0].clone() else { panic!("a title settings row") };
    store.ensure_project("p2", "Two", 1).await.expect("project");
    row.project_id = "p2".into();
    let version = store.settings_version().await.expect("version");
    assert!(store.import_row(&ExportRow::TitleSettings(row)).await.expect("import"));
    assert!(store.settings_version().await.expect("version") > version, "nodes notice imported settings");
    let imported = store.title_settings("p2").await.expect("get").expect("imported");
    assert_eq!(imported, TitleSettings { project_id: "p2".into(), ..off });
}

pub async fn title_attempts_share_one_budget(store: &dyn Store) {
    let s = scope("w");
    let t = thread(store, "w", 1).await;
    let state = store.title_state(&s, &t).await.expect("state").expect("thread");
    assert_eq!((state.origin, state.attempts, state.running_since), (TitleOrigin::None, 0, None));
    let claim = store.claim_title_attempt(&s, &t, 1, 50, 100).await.expect("claim");
    assert_eq!(claim.started_at, Some(100));
    assert_eq!((claim.state.attempts, claim.state.running_since), (1, Some(100)));
    let again = store.claim_title_attempt(&s, &t, 3, 50, 101).await.expect("claim");
    assert_eq!(again.started_at, None, "one attempt runs at a time");
    let title = store.finish_title_attempt(&s, &t, 100, Some("Model title"), 102).await.expect("finish");
    assert_eq!(title.as_deref(), Some("Model title"));
    let state = store.title_state(&s, &t).await.expect("state").expect("thread");
    assert_eq!((state.origin, state.running_since), (TitleOrigin::Model, None));
    assert_eq!(store.claim_title_attempt(&s, &t, 3, 200, 300).await.expect("claim").started_at, None, "final");

    // A built-in title is replaced; a failed attempt keeps it and spends the request budget.
    let builtin = thread(store, "w", 1).await;
    store.set_auto_title(&s, &builtin, Some("Built in"), 2).await.expect("auto");
    assert_eq!(store.title_state(&s, &builtin).await.expect("state").expect("t").origin, TitleOrigin::Builtin);
    let claim = store.claim_title_attempt(&s, &builtin, 1, 0, 10).await.expect("claim");
    assert_eq!(claim.started_at, Some(10));
    assert_eq!(
        store.finish_title_attempt(&s, &builtin, 10, None, 11).await.expect("fail").as_deref(),
        Some("Built in")
    );
    let state = store.title_state(&s, &builtin).await.expect("state").expect("t");
    assert_eq!((state.origin, state.attempts, state.running_since), (TitleOrigin::Builtin, 1, None));
    assert_eq!(store.claim_title_attempt(&s, &builtin, 1, 0, 12).await.expect("claim").started_at, None);
    // The sweep's budget is three; an abandoned attempt does not block the next.
    assert_eq!(store.claim_title_attempt(&s, &builtin, 3, 0, 20).await.expect("claim").started_at, Some(20));
    assert_eq!(store.claim_title_attempt(&s, &builtin, 3, 21, 30).await.expect("stale").started_at, Some(30));
    store.finish_title_attempt(&s, &builtin, 20, None, 31).await.expect("late finish");
    let state = store.title_state(&s, &builtin).await.expect("state").expect("t");
    assert_eq!((state.attempts, state.running_since), (3, Some(30)), "a late finish leaves the newer attempt alone");
    store.finish_title_attempt(&s, &builtin, 30, Some("Third time"), 32).await.expect("finish");
    assert_eq!(store.claim_title_attempt(&s, &builtin, 9, 100, 40).await.expect("claim").started_at, None);
    assert_eq!(store.title_state(&s, &builtin).await.expect("s").expect("t").title.as_deref(), Some("Third time"));

    // A user's title set while the model runs wins; clearing it makes the thread untitled again.
    let renamed = thread(store, "w", 1).await;
    assert!(store.claim_title_attempt(&s, &renamed, 1, 0, 10).await.expect("claim").started_at.is_some());
    let rename = ThreadPatch { title: Some(Some("Mine".into())), ..ThreadPatch::default() };
    store.update_thread(&s, &renamed, &rename, 11).await.expect("rename");
    let title = store.finish_title_attempt(&s, &renamed, 10, Some("Model"), 12).await.expect("finish");
    assert_eq!(title.as_deref(), Some("Mine"));
    let state = store.title_state(&s, &renamed).await.expect("state").expect("t");
    assert_eq!((state.origin, state.running_since), (TitleOrigin::User, None));
    assert_eq!(store.claim_title_attempt(&s, &renamed, 3, 0, 20).await.expect("claim").started_at, None);
    let clear = ThreadPatch { title: Some(None), ..ThreadPatch::default() };
    store.update_thread(&s, &renamed, &clear, 21).await.expect("clear");
    assert_eq!(store.title_state(&s, &renamed).await.expect("state").expect("t").origin, TitleOrigin::None);
    // A user's rename also ends a model title's protection from nothing: it is the user's now.
    store.update_thread(&s, &t, &rename, 22).await.expect("rename model title");
    assert_eq!(store.title_state(&s, &t).await.expect("state").expect("t").origin, TitleOrigin::User);

    let other = scope("other");
    assert_eq!(store.title_state(&other, &t).await.expect("state"), None);
    assert!(matches!(store.claim_title_attempt(&other, &t, 3, 0, 1).await, Err(StoreError::ThreadNotFound)));
    assert!(matches!(store.finish_title_attempt(&other, &t, 1, Some("x"), 2).await, Err(StoreError::ThreadNotFound)));
}

/// Concurrent claims on one thread start one attempt.
pub async fn concurrent_title_claims_start_one_attempt(store: &dyn Store) {
    let s = scope("w");
    let t = thread(store, "w", 1).await;
    let claims = (0..16).map(|i| store.claim_title_attempt(&s, &t, 3, 0, 100 + i)).collect();
    let started =
        join_all(claims).await.into_iter().filter(|claim| claim.as_ref().expect("claim").started_at.is_some());
    assert_eq!(started.count(), 1);
    assert_eq!(store.title_state(&s, &t).await.expect("state").expect("t").attempts, 1);
}

/// Polls every future until all are done (no executor needed beyond the test's).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("ready")).collect()
}

async fn thread_created_at(store: &dyn Store, workspace: &str, created_at: i64) -> String {
    let new = NewThread {
        id: new_id(IdKind::Thread),
        scope: scope(workspace),
        title: None,
        metadata: None,
        external_id: None,
        last_message_at: created_at,
        now: created_at,
        upsert: false,
    };
    store.create_thread(&new).await.expect("thread").0
}

pub async fn title_candidates_are_recent_untitled_threads_of_enabled_projects(store: &dyn Store) {
    let s = scope("w");
    let text = |thread: &str, now: i64| {
        message(
            thread,
            ParentRef::Root,
            None,
            r#"{"role":"user","content":[{"type":"text","text":"Bake bread"}]}"#,
            now,
        )
    };
    let mut threads = Vec::new();
    for created_at in [1_000, 2_000, 3_000, 4_000] {
        let t = thread_created_at(store, "w", created_at).await;
        store.create_message(&s, &text(&t, created_at)).await.expect("message");
        threads.push(t);
    }
    let silent = thread_created_at(store, "w", 5_000).await;
    let image = r#"{"role":"user","content":[{"type":"image","image":"data:image/png;base64,AA"}]}"#;
    store.create_message(&s, &message(&silent, ParentRef::Root, None, image, 5_000)).await.expect("message");
    let old = thread_created_at(store, "w", 10).await;
    store.create_message(&s, &text(&old, 10)).await.expect("message");

    let ids = |found: Vec<TitleCandidate>| found.into_iter().map(|c| c.thread_id).collect::<Vec<_>>();
    assert!(store.title_candidates(500, 3, 0, 10).await.expect("none").is_empty(), "no project has titles on");
    assert!(store.put_title_settings(&title_settings("p1")).await.expect("settings"));
    let found = store.title_candidates(500, 3, 0, 10).await.expect("candidates");
    assert_eq!(found.first().map(|c| (c.project_id.as_str(), c.workspace_id.as_str())), Some(("p1", "w")));
    let newest_first: Vec<_> = threads.iter().rev().cloned().collect();
    assert_eq!(ids(found), newest_first, "recent threads with text, newest first");
    assert_eq!(ids(store.title_candidates(500, 3, 0, 2).await.expect("limited")), newest_first[..2].to_vec());

    let [a, b, c, d] = [&threads[0], &threads[1], &threads[2], &threads[3]];
    store.set_auto_title(&s, a, Some("Built in"), 6_000).await.expect("built-in titles stay candidates");
    let rename = ThreadPatch { title: Some(Some("Mine".into())), ..ThreadPatch::default() };
    store.update_thread(&s, b, &rename, 6_000).await.expect("user title");
    let claim = store.claim_title_attempt(&s, c, 3, 0, 6_000).await.expect("claim");
    store
        .finish_title_attempt(&s, c, claim.started_at.expect("started"), Some("By model"), 6_001)
        .await
        .expect("model");
    store.claim_title_attempt(&s, d, 3, 0, 7_000).await.expect("running");
    assert_eq!(ids(store.title_candidates(500, 3, 6_500, 10).await.expect("candidates")), vec![a.clone()]);
    assert_eq!(ids(store.title_candidates(500, 3, 7_001, 10).await.expect("stale")), vec![d.clone(), a.clone()]);
    for now in [8_000, 8_001] {
        let claim = store.claim_title_attempt(&s, a, 3, now, now).await.expect("claim");
        store.finish_title_attempt(&s, a, claim.started_at.expect("started"), None, now).await.expect("failed");
    }
    assert_eq!(store.claim_title_attempt(&s, a, 3, 9_000, 9_000).await.expect("third").started_at, Some(9_000));
    store.finish_title_attempt(&s, a, 9_000, None, 9_001).await.expect("failed");
    assert!(ids(store.title_candidates(500, 3, 7_001, 10).await.expect("spent")).iter().all(|id| id != a));
    assert!(store.set_titles_enabled("p1", false, 10_000).await.expect("off"));
    assert!(store.title_candidates(0, 3, 99_999, 10).await.expect("off").is_empty(), "switched off");
}

// ---------------------------------------------------------------------------
// Runs, traces and the project read API.

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A client report of `thread` in `workspace` as `user`, received at `now`.
pub fn reported(workspace: &str, user: &str, body: serde_json::Value, now: i64) -> Run {
    let body = body.as_object().cloned().expect("an object");
    report::parse(body).expect("a valid report").into_run(new_id(IdKind::Run), scope(workspace), user, now)
}

fn span(span_id: &str, parent: Option<&str>, start: i64, end: i64, tokens: Option<i64>) -> SpanRecord {
    SpanRecord {
        trace_id: TRACE.into(),
        span_id: span_id.into(),
        parent_span_id: parent.map(str::to_owned),
        name: "ai.streamText.doStream".into(),
        operation: None,
        span_type: "generation".into(),
        provider: Some("openai".into()),
        model_id: Some("gpt-test".into()),
        tool_name: None,
        tool_call_id: None,
        tool_source: None,
        input_tokens: tokens,
        cached_input_tokens: None,
        output_tokens: tokens.map(|t| t / 2),
        reasoning_tokens: None,
        started_at: Some(start),
        ended_at: Some(end),
        first_chunk_ms: None,
        status_code: Some("ok".into()),
        error: None,
        error_type: None,
        finish_reason: Some("stop".into()),
        input: Some("in".into()),
        output: Some("out".into()),
        attributes: "{\"k\":1}".into(),
    }
}

fn batch(spans: Vec<SpanRecord>, hints: TraceHints, now: i64) -> TraceBatch {
    TraceBatch { scope: scope("__OTLP__"), trace_id: TRACE.into(), spans, hints, new_run_id: new_id(IdKind::Run), now }
}

pub async fn reports_merge_by_trace_and_check_their_thread(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let other = thread(store, "w", 1).await;
    let m = store.create_message(&scope("w"), &message(&t, ParentRef::Root, None, "{}", 2)).await.expect("m");
    let plain = reported("w", "u", json!({"thread_id": t, "status": "completed", "message_id": m.message_id()}), 10);
    let id = store.record_run(&plain).await.expect("report");
    assert_eq!(id, plain.id);
    let stored = store.get_run("p1", &id).await.expect("get").expect("run");
    assert_eq!(stored, plain, "stored exactly");
    assert!(store.get_run("p2", &id).await.expect("other project").is_none());
    let foreign = reported("x", "u", json!({"thread_id": t, "status": "completed"}), 11);
    assert!(matches!(store.record_run(&foreign).await, Err(StoreError::ThreadNotFound)));
    let wrong =
        reported("w", "u", json!({"thread_id": other, "status": "completed", "message_id": m.message_id()}), 11);
    assert!(matches!(store.record_run(&wrong).await, Err(StoreError::MessageNotFound)));
    let first =
        reported("w", "u", json!({"thread_id": t, "status": "incomplete", "trace_id": TRACE, "model_id": "a"}), 12);
    let second =
        reported("w", "u", json!({"thread_id": t, "status": "completed", "trace_id": TRACE, "duration_ms": 5}), 13);
    let first_id = store.record_run(&first).await.expect("first");
    assert_eq!(store.record_run(&second).await.expect("second"), first_id, "one run per trace");
    let merged = store.get_run("p1", &first_id).await.expect("get").expect("run");
    assert_eq!(
        (merged.status.as_deref(), merged.model_id.as_deref(), merged.duration_ms),
        (Some("completed"), Some("a"), Some(5))
    );
    assert_eq!((merged.created_at, merged.updated_at), (12, 13));
    assert!(store.run_spans("p1", &first_id).await.expect("spans").is_empty());
}

pub async fn traces_make_runs_and_keep_at_most_500_spans(store: &dyn Store) {
    let t = thread(store, "alice", 1).await;
    let hints = TraceHints { conversation_id: Some(t.clone()), user_id: Some("alice".into()), ..TraceHints::default() };
    let spans = vec![
        span("0000000000000002", Some("0000000000000001"), 1_010, 1_400, Some(10)),
        span("0000000000000001", None, 1_000, 2_000, Some(100)),
        span("0000000000000003", Some("0000000000000001"), 1_500, 1_990, Some(20)),
    ];
    let outcome = store.record_trace(&batch(spans.clone(), hints.clone(), 50)).await.expect("trace");
    assert_eq!((outcome.accepted, outcome.rejected), (3, 0));
    let run = store.get_run("p1", &outcome.run_id).await.expect("get").expect("run");
    assert_eq!(
        (run.thread_id.as_deref(), run.scope.workspace_id.as_str()),
        (Some(t.as_str()), "alice"),
        "joined its thread"
    );
    assert_eq!((run.input_tokens, run.output_tokens, run.total_steps), (Some(30), Some(15), Some(2)));
    assert_eq!(
        (run.created_by.as_deref(), run.status.as_deref(), run.traced, run.reported),
        (Some("alice"), Some("completed"), true, false)
    );
    let stored = store.run_spans("p1", &outcome.run_id).await.expect("spans");
    assert_eq!(
        stored.iter().map(|s| s.span_id.as_str()).collect::<Vec<_>>(),
        ["0000000000000001", "0000000000000002", "0000000000000003"]
    );
    assert_eq!(stored[1], spans[0], "stored exactly");
    assert!(store.run_spans("p2", &outcome.run_id).await.expect("other project").is_empty());

    // A re-export replaces its spans; the client's report then merges in.
    let mut again = spans[0].clone();
    again.input_tokens = Some(40);
    let outcome2 = store.record_trace(&batch(vec![again], TraceHints::default(), 60)).await.expect("again");
    assert_eq!(outcome2.run_id, outcome.run_id);
    assert_eq!(store.run_spans("p1", &outcome.run_id).await.expect("spans").len(), 3);
    let m = store.create_message(&scope("alice"), &message(&t, ParentRef::Root, None, "{}", 2)).await.expect("m");
    let report = reported(
        "alice",
        "alice",
        json!({"thread_id": t, "status": "incomplete", "outcome_type": "aborted",
        "trace_id": TRACE, "message_id": m.message_id(), "model_id": "client", "first_token_ms": 7}),
        70,
    );
    assert_eq!(store.record_run(&report).await.expect("report"), outcome.run_id);
    let run = store.get_run("p1", &outcome.run_id).await.expect("get").expect("run");
    assert_eq!((run.input_tokens, run.model_id.as_deref()), (Some(60), Some("gpt-test")), "spans stay authoritative");
    assert_eq!((run.outcome_type.as_deref(), run.message_id.as_deref()), (Some("aborted"), Some(m.message_id())));
    assert!(run.reported && run.traced);
    assert_eq!(run.created_at, 50);

    // At most 500 spans per trace.
    let many: Vec<SpanRecord> =
        (10..600).map(|i| span(&format!("{i:016x}"), None, 3_000 + i, 3_001 + i, None)).collect();
    let outcome3 = store.record_trace(&batch(many, TraceHints::default(), 80)).await.expect("many");
    assert_eq!((outcome3.accepted, outcome3.rejected), (497, 93));
    assert_eq!(store.run_spans("p1", &outcome.run_id).await.expect("spans").len(), 500);
}

async fn seed_runs(store: &dyn Store) -> (Vec<Run>, String) {
    let t = thread(store, "w", 1).await;
    let t2 = thread(store, "v", 1).await;
    let mut runs = Vec::new();
    for i in 0..40i64 {
        let (workspace, thread_id) = if i % 5 == 0 { ("v", &t2) } else { ("w", &t) };
        let status = ["completed", "error", "incomplete"][(i % 3) as usize];
        let body = json!({"thread_id": thread_id, "status": status, "model_id": format!("m{}", i % 2),
            "provider": "openai", "tags": if i % 4 == 0 { json!(["beta", "x"]) } else { json!(["x"]) },
            "environment": if i % 2 == 0 { "prod" } else { "dev" }, "release": "r1",
            "outcome_type": if status == "incomplete" { json!("aborted") } else { json!(null) }});
        // Ties on created_at: pairs of runs share a millisecond.
        let run = reported(workspace, &format!("user{}", i % 3), body, 1_000 + i / 2);
        store.record_run(&run).await.expect("run");
        runs.push(run);
    }
    runs.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    (runs, t)
}

async fn all_pages(store: &dyn Store, query: RunQuery) -> Vec<String> {
    let mut seen = Vec::new();
    let mut query = query;
    loop {
        let page = store.list_runs(&query).await.expect("page");
        seen.extend(page.iter().map(|r| r.id.clone()));
        if page.len() < query.limit as usize {
            return seen;
        }
        let last = page.last().expect("a full page");
        query.after = Some(Position { created_at: last.created_at, id: last.id.clone() });
    }
}

pub async fn runs_page_newest_first_with_filters(store: &dyn Store) {
    let (runs, t) = seed_runs(store).await;
    let query = |limit| RunQuery { project_id: "p1".into(), limit, ..RunQuery::default() };
    let expect =
        |keep: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| keep(r)).map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(all_pages(store, query(7)).await, expect(&|_| true));
    assert_eq!(
        all_pages(store, RunQuery { thread_id: Some(t.clone()), ..query(4) }).await,
        expect(&|r| r.thread_id.as_deref() == Some(t.as_str()))
    );
    assert_eq!(
        all_pages(store, RunQuery { created_by: Some("user1".into()), ..query(3) }).await,
        expect(&|r| r.created_by.as_deref() == Some("user1"))
    );
    assert_eq!(
        all_pages(store, RunQuery { thread_id: Some(t.clone()), created_by: Some("user2".into()), ..query(3) }).await,
        expect(&|r| r.thread_id.as_deref() == Some(t.as_str()) && r.created_by.as_deref() == Some("user2"))
    );
    assert_eq!(
        all_pages(store, RunQuery { status: Some("error".into()), model_id: Some("m1".into()), ..query(5) }).await,
        expect(&|r| r.status.as_deref() == Some("error") && r.model_id.as_deref() == Some("m1"))
    );
    assert_eq!(
        all_pages(store, RunQuery { tag: Some("beta".into()), ..query(2) }).await,
        expect(&|r| r.tags.contains(&"beta".to_owned()))
    );
    assert_eq!(
        all_pages(store, RunQuery { tag: Some("bet".into()), ..query(2) }).await,
        Vec::<String>::new(),
        "whole tags only"
    );
    assert_eq!(
        all_pages(
            store,
            RunQuery { outcome_type: Some("aborted".into()), environment: Some("prod".into()), ..query(50) }
        )
        .await,
        expect(&|r| r.outcome_type.as_deref() == Some("aborted") && r.environment.as_deref() == Some("prod"))
    );
    assert_eq!(
        all_pages(store, RunQuery { workspace_id: Some("v".into()), ..query(3) }).await,
        expect(&|r| r.scope.workspace_id == "v")
    );
    assert_eq!(all_pages(store, RunQuery { release: Some("r2".into()), ..query(3) }).await, Vec::<String>::new());
    assert_eq!(all_pages(store, RunQuery { provider: Some("openai".into()), ..query(100) }).await.len(), 40);
    assert_eq!(
        all_pages(store, RunQuery { from: Some(1_005), to: Some(1_010), ..query(3) }).await,
        expect(&|r| (1_005..=1_010).contains(&r.created_at)),
        "from and to are inclusive"
    );
    assert!(store.list_runs(&RunQuery { project_id: "p2".into(), ..query(100) }).await.expect("other").is_empty());
}

fn score(workspace: &str, target: ScoreTarget, name: &str, source: ScoreSource, now: i64) -> Score {
    Score {
        id: new_id(IdKind::Score),
        scope: scope(workspace),
        author: "author".into(),
        target,
        name: name.into(),
        data_type: ScoreType::Numeric,
        value: Some(now as f64),
        string_value: None,
        comment: Some("c".into()),
        source,
        now,
    }
}

pub async fn scores_page_newest_first_with_filters(store: &dyn Store) {
    let t = thread(store, "w", 1).await;
    let mut ids = Vec::new();
    for i in 0..12i64 {
        let target = match i % 3 {
            0 => ScoreTarget::Thread(t.clone()),
            1 => ScoreTarget::Run(format!("run_{}", i % 2)),
            _ => ScoreTarget::Thread(t.clone()),
        };
        let name = format!("n{i}");
        let source = if i % 2 == 0 { ScoreSource::Api } else { ScoreSource::EndUser };
        ids.push((i / 2, store.upsert_score(&score("w", target, &name, source, 100 + i / 2)).await.expect("score")));
    }
    let query = |limit| ScoreQuery {
        project_id: "p1".into(),
        name: None,
        thread_id: None,
        run_id: None,
        source: None,
        since: None,
        after: None,
        limit,
    };
    let mut all = Vec::new();
    let mut q = query(5);
    loop {
        let page = store.list_scores(&q).await.expect("page");
        all.extend(page.iter().cloned());
        if page.len() < 5 {
            break;
        }
        q.after = Some(ScoreAfter::Id(page.last().expect("last").id.clone()));
    }
    let mut expected = ids.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        expected.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
    );
    let first = &all[0];
    assert_eq!(
        (first.name.as_str(), first.data_type.as_str(), first.comment.as_deref(), first.author_id.as_str()),
        ("n11", "numeric", Some("c"), "author")
    );
    assert_eq!(
        (first.source.as_deref(), first.run_id.as_deref(), first.thread_id.as_deref()),
        (Some("end_user"), None, Some(t.as_str()))
    );
    let on_run = store.list_scores(&ScoreQuery { run_id: Some("run_1".into()), ..query(50) }).await.expect("run");
    assert_eq!(on_run.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["n7", "n1"]);
    assert!(on_run.iter().all(|s| s.run_id.as_deref() == Some("run_1") && s.thread_id.is_none()));
    let on_thread = store
        .list_scores(&ScoreQuery { thread_id: Some(t.clone()), source: Some("api".into()), ..query(50) })
        .await
        .expect("thread");
    assert_eq!(on_thread.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["n8", "n6", "n2", "n0"]);
    let named = store.list_scores(&ScoreQuery { name: Some("n3".into()), ..query(50) }).await.expect("name");
    assert_eq!(named.len(), 1);
    let since = store.list_scores(&ScoreQuery { since: Some(104), ..query(50) }).await.expect("since");
    assert_eq!(since.len(), 4);
    let unknown =
        store.list_scores(&ScoreQuery { after: Some(ScoreAfter::Id("score_nope".into())), ..query(50) }).await;
    assert!(unknown.expect("unknown after").is_empty());
    let position = Position { created_at: all[2].created_at, id: all[2].id.clone() };
    let after = store
        .list_scores(&ScoreQuery { after: Some(ScoreAfter::Position(position)), ..query(2) })
        .await
        .expect("after");
    assert_eq!(after.iter().map(|s| &s.id).collect::<Vec<_>>(), [&all[3].id, &all[4].id]);
    let both = ScoreQuery { thread_id: Some(t), run_id: Some("run_1".into()), ..query(50) };
    assert!(store.list_scores(&both).await.expect("both").is_empty());
}

pub async fn threads_page_by_creation(store: &dyn Store) {
    let mut made = Vec::new();
    for i in 0..9i64 {
        let workspace = if i % 3 == 0 { "a" } else { "b" };
        let new = NewThread {
            id: new_id(IdKind::Thread),
            scope: scope(workspace),
            title: None,
            metadata: None,
            external_id: None,
            last_message_at: 1,
            now: 10 + i / 2,
            upsert: false,
        };
        made.push((10 + i / 2, store.create_thread(&new).await.expect("thread").0, workspace));
    }
    store
        .update_thread(&scope("a"), &made[0].1, &ThreadPatch { is_archived: Some(true), ..Default::default() }, 99)
        .await
        .expect("archive");
    made.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let query = |workspace: Option<&str>, limit| ThreadCreationQuery {
        project_id: "p1".into(),
        workspace_id: workspace.map(str::to_owned),
        from: None,
        to: None,
        after: None,
        limit,
    };
    let mut seen = Vec::new();
    let mut q = query(None, 4);
    loop {
        let page = store.list_threads_by_creation(&q).await.expect("page");
        seen.extend(page.iter().map(|t| t.id.clone()));
        if page.len() < 4 {
            break;
        }
        let last = page.last().expect("last");
        q.after = Some(Position { created_at: last.created_at, id: last.id.clone() });
    }
    assert_eq!(seen, made.iter().map(|m| m.1.clone()).collect::<Vec<_>>(), "archived threads included");
    let a = store.list_threads_by_creation(&query(Some("a"), 50)).await.expect("a");
    assert_eq!(
        a.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        made.iter().filter(|m| m.2 == "a").map(|m| m.1.clone()).collect::<Vec<_>>()
    );
    let window = store
        .list_threads_by_creation(&ThreadCreationQuery { from: Some(11), to: Some(12), ..query(None, 50) })
        .await
        .expect("window");
    assert_eq!(window.len(), 4);
}

pub async fn usage_counts_days_models_and_messages(store: &dyn Store) {
    const DAY: i64 = 86_400_000;
    let start = 20_000 * DAY;
    let t = thread(store, "w", 1).await;
    let t2 = thread(store, "v", 1).await;
    for (at, model, status, tokens) in [
        (start + 5, "a", "completed", 10),
        (start + DAY - 1, "b", "error", 20),
        (start + DAY, "a", "completed", 30),
        (start + 3 * DAY, "a", "completed", 1_000),
    ] {
        let run = reported(
            "w",
            "u",
            json!({"thread_id": t, "status": status, "model_id": model, "provider": "p",
            "input_tokens": tokens, "output_tokens": 1, "cost_usd": 0.5}),
            at,
        );
        store.record_run(&run).await.expect("run");
    }
    for (workspace, thread_id, at) in
        [("w", &t, start + 1), ("w", &t, start + 2), ("v", &t2, start + 3), ("v", &t2, start + DAY + 1)]
    {
        store
            .create_message(&scope(workspace), &message(thread_id, ParentRef::Root, None, "{}", at))
            .await
            .expect("message");
    }
    let (runs, messages) = store.usage_by_day("p1", start, start + 3 * DAY, false).await.expect("daily");
    let mut runs = runs;
    runs.sort_by_key(|r| r.day);
    assert_eq!(
        runs.iter().map(|r| (r.day, r.runs, r.errors, r.input_tokens)).collect::<Vec<_>>(),
        [(0, 2, 1, 30), (1, 1, 0, 30)]
    );
    assert_eq!(runs[0].cost_usd, 1.0);
    let mut messages = messages;
    messages.sort_by_key(|m| m.day);
    assert_eq!(
        messages,
        [MessageUsage { day: 0, messages: 3, active_users: 2 }, MessageUsage { day: 1, messages: 1, active_users: 1 }]
    );
    let (models, none) = store.usage_by_day("p1", start, start + 3 * DAY, true).await.expect("by model");
    assert!(none.is_empty());
    let mut models: Vec<(i64, Option<String>, i64)> = models.into_iter().map(|r| (r.day, r.model_id, r.runs)).collect();
    models.sort();
    assert_eq!(models, [(0, Some("a".into()), 1), (0, Some("b".into()), 1), (1, Some("a".into()), 1)]);
    let totals = store.usage_totals("p1", start, start + 4 * DAY).await.expect("totals");
    assert_eq!((totals.messages, totals.active_users, totals.runs.runs, totals.runs.errors), (4, 2, 4, 1));
    assert_eq!((totals.runs.input_tokens, totals.runs.output_tokens), (1_060, 4));
    let empty = store.usage_totals("p2", start, start + DAY).await.expect("empty");
    assert_eq!((empty.messages, empty.runs.runs, empty.runs.cost_usd, empty.titled_threads), (0, 0, 0.0, 0));
}

pub async fn erasure_takes_runs_along(store: &dyn Store) {
    let t = thread(store, "gone", 1).await;
    let run = reported("gone", "gone", json!({"thread_id": t, "status": "completed", "trace_id": TRACE}), 5);
    store.record_run(&run).await.expect("run");
    store
        .record_trace(&batch(vec![span("0000000000000001", None, 1, 2, Some(1))], TraceHints::default(), 6))
        .await
        .expect("trace");
    let kept = reported("w", "other", json!({"thread_id": thread(store, "w", 1).await, "status": "completed"}), 5);
    store.record_run(&kept).await.expect("kept");
    store.erase_user("p1", "gone").await.expect("erase");
    assert!(store.get_run("p1", &run.id).await.expect("get").is_none());
    assert!(store.run_spans("p1", &run.id).await.expect("spans").is_empty());
    assert!(store.get_run("p1", &kept.id).await.expect("get").is_some());
}

/// Stores run reports the way releases before runs existed did (raw telemetry rows).
pub async fn legacy_reports(store: &dyn Store) -> Vec<TelemetryRecord> {
    let t = thread(store, "w", 1).await;
    let record = |body: serde_json::Value, kind: &str, at: i64| TelemetryRecord {
        id: new_id(IdKind::Run),
        scope: scope("w"),
        user_id: "u".into(),
        thread_id: Some(t.clone()),
        kind: kind.into(),
        body: body.to_string(),
        created_at: at,
    };
    let records = vec![
        record(
            json!({"thread_id": t, "status": "completed", "model_id": "m", "duration_ms": 12.6, "extra": 1}),
            "completed",
            5,
        ),
        record(json!({"thread_id": t, "status": "error", "duration_ms": "slow"}), "error", 6),
        record(json!({"thread_id": t, "status": "incomplete", "trace_id": TRACE}), "incomplete", 7),
        record(json!({"thread_id": t, "status": "completed", "trace_id": TRACE, "input_tokens": 3}), "completed", 8),
    ];
    store.insert_telemetry("run", &records).await.expect("legacy reports");
    store
        .insert_telemetry("event", &[record(json!({"kind": "message_copied"}), "message_copied", 9)])
        .await
        .expect("event");
    records
}

pub async fn check_legacy_reports_moved(store: &dyn Store, records: &[TelemetryRecord]) {
    let page =
        store.list_runs(&RunQuery { project_id: "p1".into(), limit: 100, ..RunQuery::default() }).await.expect("runs");
    assert_eq!(page.len(), 3, "two reports of one trace are one run: {page:?}");
    let first = store.get_run("p1", &records[0].id).await.expect("get").expect("kept its id");
    assert_eq!((first.model_id.as_deref(), first.duration_ms, first.created_at), (Some("m"), Some(13), 5));
    assert_eq!((first.created_by.as_deref(), first.scope.workspace_id.as_str()), (Some("u"), "w"));
    assert!(first.attributes.contains("\"extra\":1"), "{}", first.attributes);
    let unreadable = store.get_run("p1", &records[1].id).await.expect("get").expect("kept");
    assert_eq!((unreadable.status.as_deref(), unreadable.duration_ms), (Some("error"), None));
    assert!(unreadable.attributes.contains("slow"), "the body is kept aside: {}", unreadable.attributes);
    let traced = store.get_run("p1", &records[2].id).await.expect("get").expect("merged");
    assert_eq!((traced.status.as_deref(), traced.input_tokens), (Some("completed"), Some(3)));
}

pub fn sighting(user: &str, workspace: &str, at: i64) -> UserSighting {
    UserSighting {
        project_id: "p1".into(),
        user_id: user.into(),
        workspace_id: workspace.into(),
        display_name: None,
        anonymous: false,
        at,
    }
}

fn admin_account(email: &str, role: AdminRole) -> AdminAccount {
    AdminAccount {
        id: new_id(IdKind::Admin),
        email: email.into(),
        role,
        password_hash: "$argon2id$stand-in".into(),
        created_at: 1,
        last_login_at: None,
    }
}

fn admin_session(token_hash: &str, admin_id: &str, now: i64) -> AdminSession {
    AdminSession {
        token_hash: token_hash.into(),
        admin_id: admin_id.into(),
        csrf_token: "csrf".into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + 1_000,
    }
}

pub async fn admin_accounts_and_sessions(store: &dyn Store) {
    let owner = admin_account("owner@example.com", AdminRole::Owner);
    store.insert_admin(&owner).await.expect("owner");
    let twin = admin_account("owner@example.com", AdminRole::Member);
    assert!(matches!(store.insert_admin(&twin).await, Err(StoreError::AlreadyExists(_))), "emails are unique");
    let member = admin_account("member@example.com", AdminRole::Member);
    store.insert_admin(&member).await.expect("member");
    assert_eq!(store.list_admins().await.expect("list").len(), 2);
    assert_eq!(store.admin_by_email("owner@example.com").await.expect("by email"), Some(owner.clone()));
    assert_eq!(store.admin_by_email("nobody@example.com").await.expect("by email"), None);

    store.insert_admin_session(&admin_session("h1", &owner.id, 100)).await.expect("session");
    let (session, account) = store.admin_session("h1").await.expect("read").expect("found");
    assert_eq!((session.csrf_token.as_str(), account.id.as_str()), ("csrf", owner.id.as_str()));
    assert_eq!(account.last_login_at, Some(100), "a session records the login");
    store.touch_admin_session("h1", 150).await.expect("touch");
    store.touch_admin_session("h1", 120).await.expect("touch backwards");
    assert_eq!(store.admin_session("h1").await.expect("read").expect("found").0.last_seen_at, 150);
    store.insert_admin_session(&admin_session("h2", &owner.id, 100)).await.expect("session 2");
    store.insert_admin_session(&admin_session("h3", &member.id, 900)).await.expect("session 3");
    // h2 idle since 100, h1 touched at 150: an idle cut at 120 removes h2 only; the absolute end removes h1 later.
    assert_eq!(store.delete_expired_admin_sessions(120, 500).await.expect("expire idle"), 1);
    assert!(store.admin_session("h2").await.expect("read").is_none());
    assert_eq!(store.delete_expired_admin_sessions(0, 1_100).await.expect("expire absolute"), 1);
    assert!(store.admin_session("h1").await.expect("read").is_none());
    assert!(store.set_admin_password(&member.id, "$argon2id$new").await.expect("passwd"));
    assert!(store.admin_session("h3").await.expect("read").is_none(), "a new password ends the sessions");
    store.insert_admin_session(&admin_session("h4", &member.id, 900)).await.expect("session 4");
    store.delete_admin_session("h4").await.expect("logout");
    assert!(store.admin_session("h4").await.expect("read").is_none());
    store.insert_admin_session(&admin_session("h5", &member.id, 900)).await.expect("session 5");
    assert!(store.delete_admin(&member.id).await.expect("delete"));
    assert!(!store.delete_admin(&member.id).await.expect("again"));
    assert!(store.admin_session("h5").await.expect("read").is_none(), "sessions go with their account");
    assert!(!store.set_admin_password("adm_missing", "x").await.expect("passwd of nobody"));
}

pub async fn the_audit_log_pages_and_filters(store: &dyn Store) {
    let mut ids = Vec::new();
    for (i, (actor, action, project)) in [
        ("cli", "api_key.create", Some("p1")),
        ("admin:a@example.com", "api_key.delete", Some("p1")),
        ("admin:a@example.com", "rule.create", Some("p2")),
        ("cli", "admin.create", None),
        ("cli", "api_key.create", Some("p2")),
    ]
    .into_iter()
    .enumerate()
    {
        let entry = AuditEntry {
            id: new_id(IdKind::Audit),
            at: i as i64,
            actor: actor.into(),
            action: action.into(),
            project_id: project.map(str::to_owned),
            object_type: "thing".into(),
            object_id: format!("o{i}"),
            details: "{}".into(),
        };
        store.insert_audit(&entry).await.expect("audit");
        ids.push(entry.id);
    }
    let page = |query: AuditQuery| async move {
        store.list_audit(&query).await.expect("list").into_iter().map(|e| e.object_id).collect::<Vec<_>>()
    };
    assert_eq!(page(AuditQuery { limit: 10, ..Default::default() }).await, ["o4", "o3", "o2", "o1", "o0"]);
    assert_eq!(page(AuditQuery { limit: 2, before: Some(ids[3].clone()), ..Default::default() }).await, ["o2", "o1"]);
    assert_eq!(page(AuditQuery { limit: 10, project_id: Some("p1".into()), ..Default::default() }).await, ["o1", "o0"]);
    assert_eq!(
        page(AuditQuery { limit: 10, actor: Some("cli".into()), ..Default::default() }).await,
        ["o4", "o3", "o0"]
    );
    assert_eq!(
        page(AuditQuery { limit: 10, action: Some("api_key.".into()), ..Default::default() }).await,
        ["o4", "o1", "o0"],
        "a prefix ending in a dot"
    );
    assert_eq!(
        page(AuditQuery { limit: 10, action: Some("api_key.create".into()), ..Default::default() }).await,
        ["o4", "o0"]
    );
    assert!(page(AuditQuery { limit: 10, action: Some("api_key".into()), ..Default::default() }).await.is_empty());
}

pub async fn the_users_registry_keeps_first_and_last_activity(store: &dyn Store) {
    let mut named = sighting("alice", "alice", 1_000);
    named.display_name = Some("Alice".into());
    store.record_user_activity(&named).await.expect("first");
    store.record_user_activity(&sighting("alice", "org-1", 2 * DAY_MS)).await.expect("second");
    store.record_user_activity(&sighting("alice", "alice", 2 * DAY_MS + 5)).await.expect("third");
    let mut anon = sighting("usr_anon_1", "usr_anon_1", DAY_MS);
    anon.anonymous = true;
    store.record_user_activity(&anon).await.expect("anonymous");
    store.record_user_activity(&sighting("bob", "bob", 500)).await.expect("bob");

    let alice = store.get_user("p1", "alice").await.expect("get").expect("alice");
    assert_eq!(alice.display_name.as_deref(), Some("Alice"), "a later request without a name keeps it");
    assert_eq!((alice.first_seen_at, alice.last_seen_at), (1_000, 2 * DAY_MS + 5));
    assert_eq!(alice.workspaces, ["alice", "org-1"], "most recent first");
    assert!(store.get_user("p1", "usr_anon_1").await.expect("get").expect("anon").anonymous);

    let list = |search: Option<&str>, after: Option<&str>, limit: u32| {
        let query = UserQuery {
            project_id: "p1".into(),
            search: search.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        };
        async move { store.list_users(&query).await.expect("users").into_iter().map(|u| u.user_id).collect::<Vec<_>>() }
    };
    assert_eq!(list(None, None, 10).await, ["alice", "usr_anon_1", "bob"], "most recently active first");
    assert_eq!(list(None, Some("alice"), 1).await, ["usr_anon_1"]);
    assert_eq!(list(None, Some("nobody"), 10).await, Vec::<String>::new());
    assert_eq!(list(Some("ALI"), None, 10).await, ["alice"], "by id or name, any case");
    assert_eq!(list(Some("_"), None, 10).await, ["usr_anon_1"], "LIKE wildcards are literal");

    assert_eq!(store.count_active_users("p1", 0, 0).await.expect("day 0"), 2);
    assert_eq!(store.count_active_users("p1", 0, 2).await.expect("days 0-2"), 3);
    let days = store.daily_activity("p1", 0, 2).await.expect("days");
    assert_eq!(days.iter().map(|d| (d.day, d.active_users)).collect::<Vec<_>>(), [(0, 2), (1, 1), (2, 1)]);
}

pub async fn activity_rollups_count_what_was_written(store: &dyn Store) {
    let s = scope("w");
    let new = |at: i64| NewThread {
        id: new_id(IdKind::Thread),
        scope: s.clone(),
        title: None,
        metadata: None,
        external_id: None,
        last_message_at: at,
        now: at,
        upsert: false,
    };
    let first = store.create_thread(&new(10)).await.expect("t1").0;
    store.create_thread(&new(DAY_MS + 10)).await.expect("t2");
    for i in 0..3 {
        store.create_message(&s, &message(&first, ParentRef::Root, None, "{}", DAY_MS + i)).await.expect("message");
    }
    let run = reported("w", "u", json!({"thread_id": first, "status": "completed"}), 2 * DAY_MS);
    store.record_run(&run).await.expect("run");
    // A second report of the same trace merges into one run, counted once.
    let traced = json!({"thread_id": first, "status": "incomplete", "trace_id": TRACE});
    store.record_run(&reported("w", "u", traced.clone(), 2 * DAY_MS)).await.expect("traced");
    store.record_run(&reported("w", "u", traced, 2 * DAY_MS + 1)).await.expect("merged");
    let event = TelemetryRecord {
        id: new_id(IdKind::Event),
        scope: s.clone(),
        user_id: "u".into(),
        thread_id: Some(first.clone()),
        kind: "message_copied".into(),
        body: "{}".into(),
        created_at: 2 * DAY_MS,
    };
    store.insert_telemetry("event", &[event]).await.expect("event");
    let days = store.daily_activity("p1", 0, 5).await.expect("days");
    let summary: Vec<_> = days.iter().map(|d| (d.day, d.threads, d.messages, d.runs)).collect();
    assert_eq!(summary, [(0, 1, 0, 0), (1, 1, 3, 0), (2, 0, 0, 2)], "events are not runs");
    assert_eq!(store.daily_activity("p1", 1, 1).await.expect("one day").len(), 1);
    assert!(store.daily_activity("p2", 0, 5).await.expect("other project").is_empty());
}

pub async fn the_dashboard_lists_a_projects_threads(store: &dyn Store) {
    let mut made = Vec::new();
    for (i, workspace) in ["a", "b", "a", "c", "b"].into_iter().enumerate() {
        made.push(thread(store, workspace, (i as i64 + 1) * 10).await);
    }
    let archive = ThreadPatch { is_archived: Some(true), ..Default::default() };
    store.update_thread(&scope("c"), &made[3], &archive, 99).await.expect("archive");
    let query =
        |workspaces: &[&str], archived: Option<bool>, from: Option<i64>, until: Option<i64>, after: Option<&str>| {
            AdminThreadQuery {
                project_id: "p1".into(),
                workspaces: workspaces.iter().map(|w| (*w).to_owned()).collect(),
                archived,
                from,
                until,
                after: after.map(str::to_owned),
                limit: 2,
            }
        };
    let ids = |threads: Vec<Thread>| threads.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let page = ids(store.admin_list_threads(&query(&[], None, None, None, None)).await.expect("page"));
    assert_eq!(page, [made[4].clone(), made[3].clone()], "every workspace, archived or not, newest first");
    let next = ids(store.admin_list_threads(&query(&[], None, None, None, Some(&made[3]))).await.expect("next"));
    assert_eq!(next, [made[2].clone(), made[1].clone()]);
    let active = ids(store.admin_list_threads(&query(&[], Some(false), None, None, None)).await.expect("active"));
    assert_eq!(active, [made[4].clone(), made[2].clone()]);
    let of_a = ids(store.admin_list_threads(&query(&["a"], None, None, None, None)).await.expect("a"));
    assert_eq!(of_a, [made[2].clone(), made[0].clone()]);
    let of_ab = ids(store.admin_list_threads(&query(&["a", "b"], None, None, None, Some(&made[4]))).await.expect("ab"));
    assert_eq!(of_ab, [made[2].clone(), made[1].clone()]);
    let range = ids(store.admin_list_threads(&query(&[], None, Some(20), Some(40), None)).await.expect("range"));
    assert_eq!(range, [made[2].clone(), made[1].clone()], "from inclusive, until exclusive");
    assert!(store.admin_list_threads(&query(&[], None, None, None, Some("thread_x"))).await.expect("x").is_empty());
    assert_eq!(store.count_workspace_threads("p1", "a", 10).await.expect("count"), 2);
    assert_eq!(store.count_workspace_threads("p1", "a", 1).await.expect("capped"), 1);
}

pub async fn feedback_lists_per_project(store: &dyn Store) {
    let s = scope("w");
    let t = thread(store, "w", 1).await;
    let m = store.create_message(&s, &message(&t, ParentRef::Root, None, "{}", 1)).await.expect("m");
    store
        .upsert_feedback(&s, &t, m.message_id(), "u1", FeedbackKind::Negative, Some("wrong"), 5)
        .await
        .expect("feedback");
    let page = ProjectPage { project_id: "p1".into(), thread_id: None, before: None, limit: 10 };
    let feedback = store.list_feedback(&page).await.expect("feedback");
    assert_eq!(feedback.len(), 1);
    assert_eq!((feedback[0].kind.as_str(), feedback[0].comment.as_deref()), ("negative", Some("wrong")));
    assert_eq!(feedback[0].thread_id, t);
    let elsewhere = ProjectPage { project_id: "p2".into(), ..page.clone() };
    assert!(store.list_feedback(&elsewhere).await.expect("p2").is_empty());
    let other_thread = ProjectPage { thread_id: Some("thread_x".into()), ..page };
    assert!(store.list_feedback(&other_thread).await.expect("x").is_empty());
}

pub async fn project_settings_of_the_dashboard(store: &dyn Store) {
    let version = store.settings_version().await.expect("version");
    assert!(store.rename_project("p1", "Renamed").await.expect("rename"));
    assert!(!store.rename_project("nope", "x").await.expect("unknown"));
    assert_eq!(store.get_project("p1").await.expect("get").expect("p1").name, "Renamed");
    assert!(store.set_retention_days("p1", Some(30)).await.expect("retention"));
    assert!(!store.set_retention_days("nope", Some(30)).await.expect("unknown"));
    assert_eq!(store.retention_days().await.expect("list"), [("p1".to_owned(), 30)]);
    assert!(store.set_retention_days("p1", None).await.expect("clear"));
    assert!(store.retention_days().await.expect("list").is_empty());
    assert!(store.settings_version().await.expect("version") > version, "running servers notice");
}

pub async fn auth_rules_are_edited_in_place(store: &dyn Store) {
    let mut rule = auth_rule("rule_edit");
    store.insert_auth_rule(&rule).await.expect("insert");
    rule.issuer = "https://new.example.com".into();
    rule.audiences = vec!["new-aud".into()];
    rule.name_claim = Some("name".into());
    assert!(store.update_auth_rule(&rule).await.expect("update"));
    assert_eq!(store.list_auth_rules(Some("p1")).await.expect("list"), [rule.clone()]);
    let foreign = AuthRule { id: "rule_missing".into(), ..rule };
    assert!(!store.update_auth_rule(&foreign).await.expect("unknown"));
}

/// Instantiates every conformance case for a backend: `$open` is an async
/// expression producing a fresh store (plus anything that must live as long).
#[macro_export]
macro_rules! backend_suite {
    ($open:expr) => {
        $crate::backend_suite!(@cases $open;
            projects_are_created_once, threads_page_in_order_with_ties, thread_patches_and_archive,
            upsert_returns_the_oldest_match, messages_form_a_tree_and_page_in_order, external_ids_are_idempotent,
            concurrent_creates_keep_their_own_results, deletes_cascade, automatic_titles_never_replace_titles, api_keys_revoke_and_touch,
            refresh_tokens_rotate_with_a_grace_window, anonymous_sessions_expire_unless_used,
            concurrent_refreshes_keep_one_family, claims_move_threads_once, unused_anonymous_identities_are_collected,
            erasure_and_retention, signing_keys_and_server_secrets, administrative_changes_move_the_settings_version,
            auth_rules_round_trip, run_leases_follow_their_rules, attachments_link_and_expire,
            search_finds_titles_and_text, imports_keep_ids_and_are_idempotent, scores_are_kept_per_workspace,
            feedback_keeps_one_rating_per_user, export_pages_and_imports_rows, title_settings_round_trip,
            title_attempts_share_one_budget, concurrent_title_claims_start_one_attempt,
            title_candidates_are_recent_untitled_threads_of_enabled_projects, reports_merge_by_trace_and_check_their_thread,
            traces_make_runs_and_keep_at_most_500_spans, runs_page_newest_first_with_filters,
            scores_page_newest_first_with_filters, threads_page_by_creation, usage_counts_days_models_and_messages,
            erasure_takes_runs_along, admin_accounts_and_sessions,
            the_audit_log_pages_and_filters, the_users_registry_keeps_first_and_last_activity,
            activity_rollups_count_what_was_written, the_dashboard_lists_a_projects_threads,
            feedback_lists_per_project, project_settings_of_the_dashboard, auth_rules_are_edited_in_place);
    };
    (@cases $open:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $open.await;
                conformance::prepare(&store).await;
                conformance::$case(&store).await;
            }
        )*
    };
}
