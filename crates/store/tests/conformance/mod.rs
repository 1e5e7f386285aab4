//! The conformance suite every `Store` backend must pass. Each case takes a
//! fresh, migrated store; `backend_suite!` instantiates them for a backend.

use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{
    AnonymousSession, ClaimOutcome, FeedbackKind, MessageWrite, NewMessage, NewThread, ParentRef, Project,
    RefreshOutcome, RefreshRefusal, ThreadListQuery, ThreadPatch, WorkspaceScope,
};
use threadhold_domain::refresh::RefreshPolicy;
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
    let purged = store.purge_threads_before(100, 10).await.expect("purge");
    assert_eq!(purged.threads, 2);
    for (workspace, id, kept) in [("u1", &old, false), ("u2", &other, false), ("u1", &recent, true)] {
        assert_eq!(store.get_thread(&ReadScope::from(&scope(workspace)), id).await.expect("get").is_some(), kept);
    }
    let erased = store.erase_user("p1", "u1").await.expect("erase");
    assert_eq!(erased.threads, 1);
    assert!(store.list_messages(&ReadScope::from(&scope("u1")), &recent, None, 10).await.expect("list").is_empty());
    assert_eq!(store.erase_user("p1", "u1").await.expect("again").threads, 0);
}

/// Instantiates every conformance case for a backend: `$open` is an async
/// expression producing a fresh store (plus anything that must live as long).
#[macro_export]
macro_rules! backend_suite {
    ($open:expr) => {
        $crate::backend_suite!(@cases $open;
            projects_are_created_once, threads_page_in_order_with_ties, thread_patches_and_archive,
            upsert_returns_the_oldest_match, messages_form_a_tree_and_page_in_order, external_ids_are_idempotent,
            deletes_cascade, automatic_titles_never_replace_titles, api_keys_revoke_and_touch,
            refresh_tokens_rotate_with_a_grace_window, anonymous_sessions_expire_unless_used,
            concurrent_refreshes_keep_one_family, claims_move_threads_once, unused_anonymous_identities_are_collected,
            erasure_and_retention);
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
