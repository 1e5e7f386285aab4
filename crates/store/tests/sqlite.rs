//! The conformance suite against the SQLite backend, each case on a fresh file.

mod conformance;

use threadhold_store::{SqliteStore, Store, StoreError};

async fn fresh() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).await.expect("open");
    (store, dir)
}

backend_suite!(fresh());

#[tokio::test]
async fn reopening_runs_no_migration_twice_and_keeps_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    let store = SqliteStore::open(&path).await.expect("open");
    conformance::prepare(&store).await;
    let thread = conformance::thread(&store, "w", 1).await;
    store.close().await;
    let store = SqliteStore::open(&path).await.expect("reopen");
    let read = threadhold_store::ReadScope::from(&conformance::scope("w"));
    assert!(store.get_thread(&read, &thread).await.expect("get").is_some());
}

/// A write that fails half way inside a group (its lease id is taken after its
/// message was inserted) rolls back to its savepoint and leaves nothing behind;
/// the group's other write commits. Each write's own result across a whole
/// group is the conformance case `concurrent_creates_keep_their_own_results`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_failing_half_way_leaves_nothing_in_its_group() {
    use threadhold_domain::model::ParentRef;

    let (store, _dir) = fresh().await;
    conformance::prepare(&store).await;
    let thread = conformance::thread(&store, "w", 1).await;
    let mut first = conformance::message(&thread, ParentRef::Root, None, "{}", 500);
    first.open_lease = Some("lease_taken".into());
    let mut second = conformance::message(&thread, ParentRef::Root, None, "{}", 501);
    second.open_lease = Some("lease_taken".into());
    let scope = conformance::scope("w");
    let (a, b) = tokio::join!(store.create_message(&scope, &first), store.create_message(&scope, &second));
    assert!(a.is_ok() != b.is_ok(), "exactly one of the two takes the lease: {a:?} {b:?}");
    let (winner, loser) = if a.is_ok() { (&first.id, &second.id) } else { (&second.id, &first.id) };
    let read = threadhold_store::ReadScope::from(&scope);
    let listed: Vec<String> =
        store.list_messages(&read, &thread, None, 200).await.expect("list").into_iter().map(|m| m.id).collect();
    assert_eq!(listed, [winner.as_str()], "the failed write left no message: {loser}");
}

#[tokio::test]
async fn writes_after_close_are_refused_as_unavailable() {
    let (store, _dir) = fresh().await;
    conformance::prepare(&store).await;
    store.close().await;
    let refused = store.ensure_project("p9", "Nine", 1).await;
    assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
}

/// A full database refuses writes with `StorageFull`, keeps serving reads, and
/// loses nothing it acknowledged.
#[tokio::test]
async fn a_full_database_refuses_writes_and_keeps_what_it_acknowledged() {
    use threadhold_domain::model::ParentRef;
    use threadhold_store::SqliteOptions;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    let options = SqliteOptions { max_database_bytes: Some(1024 * 1024), ..SqliteOptions::default() };
    let store = SqliteStore::open_with(&path, options).await.expect("open");
    conformance::prepare(&store).await;
    let thread = conformance::thread(&store, "w", 1).await;
    let scope = conformance::scope("w");
    let text = "x".repeat(4000);
    let mut acknowledged = 0;
    let mut refused = None;
    for i in 0..2_000 {
        let content = format!(r#"{{"role":"user","content":[{{"type":"text","text":"{i} {text}"}}]}}"#);
        match store.create_message(&scope, &conformance::message(&thread, ParentRef::Root, None, &content, i)).await {
            Ok(_) => acknowledged += 1,
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    assert!(matches!(refused, Some(StoreError::StorageFull(_))), "{refused:?} after {acknowledged} writes");
    assert!(acknowledged > 10, "the cap left room for some writes: {acknowledged}");
    let read = threadhold_store::ReadScope::from(&scope);
    assert_eq!(store.list_messages(&read, &thread, None, 200).await.expect("reads go on").len(), acknowledged.min(200));
    store.close().await;
    let reopened = SqliteStore::open(&path).await.expect("reopen without the cap");
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let page = reopened.list_messages(&read, &thread, after.as_deref(), 200).await.expect("page");
        count += page.len();
        match page.last() {
            Some(last) if page.len() == 200 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    assert_eq!(count, acknowledged, "every acknowledged write is there");
}

/// Run reports an earlier release kept as raw telemetry become runs when the
/// database is opened (ids kept, merged by trace id, unreadable fields kept aside).
#[tokio::test]
async fn stored_run_reports_move_into_runs_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    let store = SqliteStore::open(&path).await.expect("open");
    conformance::prepare(&store).await;
    let records = conformance::legacy_reports(&store).await;
    store.close().await;
    let store = SqliteStore::open(&path).await.expect("reopen");
    conformance::check_legacy_reports_moved(&store, &records).await;
}

/// A database at `path` with `count` messages saying `text` in one thread,
/// none of them in the search index (as written before search existed); returns
/// the scope and the thread.
async fn unindexed_messages(
    path: &std::path::Path,
    count: i64,
    text: &str,
) -> (threadhold_domain::model::WorkspaceScope, String) {
    use conformance::{message, scope, thread};
    use threadhold_domain::model::ParentRef;

    let store = SqliteStore::open(path).await.expect("open");
    conformance::prepare(&store).await;
    let s = scope("w");
    let t = thread(&store, "w", 1).await;
    let content = format!(r#"{{"role":"user","content":[{{"type":"text","text":"{text}"}}]}}"#);
    for i in 0..count {
        store.create_message(&s, &message(&t, ParentRef::Root, None, &content, i)).await.expect("message");
    }
    store.close().await;
    let raw = rusqlite::Connection::open(path).expect("raw");
    raw.execute_batch("DELETE FROM message_search; UPDATE messages SET search_rowid = NULL").expect("unindex");
    (s, t)
}

/// Counts of the search index at `path`: messages not indexed yet, entries,
/// and segments (FTS5 keeps a segment's pages under rowids whose bits from 37
/// up are the segment id).
fn index_counts(path: &std::path::Path) -> (i64, i64, i64) {
    let raw = rusqlite::Connection::open(path).expect("raw");
    raw.query_row(
        "SELECT (SELECT count(*) FROM messages WHERE search_rowid IS NULL), (SELECT count(*) FROM message_search), \
         (SELECT count(DISTINCT id >> 37) FROM message_search_data WHERE id >> 37 > 0)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .expect("count")
}

/// Waits until the background indexer leaves the index at `path` as `done` says.
async fn wait_for_index(path: &std::path::Path, mut done: impl FnMut((i64, i64, i64)) -> bool) -> (i64, i64, i64) {
    let started = std::time::Instant::now();
    loop {
        let counts = index_counts(path);
        if done(counts) {
            return counts;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the indexer left {counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Messages without a search entry (written before search existed, or by other
/// tools) are indexed in the background after the database opens, over several
/// batches, while new messages are written and indexed as usual.
#[tokio::test]
async fn older_messages_become_searchable_after_opening() {
    use conformance::message;
    use threadhold_domain::model::ParentRef;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    let (s, t) = unindexed_messages(&path, 2_500, "an old kumquat").await;

    let store = SqliteStore::open(&path).await.expect("reopen");
    let content = r#"{"role":"user","content":[{"type":"text","text":"a new kumquat"}]}"#;
    store.create_message(&s, &message(&t, ParentRef::Root, None, content, 9_999)).await.expect("new message");
    let (left, entries, _) = wait_for_index(&path, |(left, _, _)| left == 0).await;
    assert_eq!((left, entries), (0, 2_501), "every message indexed once");
    let scope = threadhold_store::ReadScope::from(&s);
    let hits = store.search(&scope, "old kumquat", 10, None).await.expect("search");
    assert_eq!(hits.iter().map(|h| h.thread.id.as_str()).collect::<Vec<_>>(), [t.as_str()]);
    let hits = store.search(&scope, "new kumquat", 10, None).await.expect("search");
    assert_eq!(hits.len(), 1);
    store.close().await;
}

/// A large database is served before its older messages are indexed, and the
/// bulk indexing ends with one merged segment, not levels of batches that a
/// later write would merge inline (a stall of seconds at a million messages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_indexing_runs_after_opening_and_leaves_one_merged_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    // Texts of about 2 KB, so that a batch holds the write lock for a while.
    let (s, _) = unindexed_messages(&path, 12_000, &"a bulk of kumquats ".repeat(100)).await;

    let store = SqliteStore::open(&path).await.expect("reopen");
    let (left, _, _) = index_counts(&path);
    assert!(left > 0, "open waited for the indexing of {left} messages");
    let query = threadhold_domain::model::ThreadListQuery {
        project_id: s.project_id.clone(),
        workspace_id: Some(s.workspace_id.clone()),
        archived: false,
        after: None,
        limit: 10,
    };
    assert_eq!(store.list_threads(&query).await.expect("served meanwhile").len(), 1);

    // Another process (the CLI) gets the write lock between the indexer's
    // writes well within a short busy timeout, not only after the indexing.
    let cli = rusqlite::Connection::open(&path).expect("cli");
    cli.busy_timeout(std::time::Duration::from_secs(1)).expect("busy timeout");
    let mut attempts = 0;
    wait_for_index(&path, |counts| {
        if counts == (0, 12_000, 1) {
            return true;
        }
        cli.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap_or_else(|error| panic!("write lock {attempts}: {error}"));
        attempts += 1;
        false
    })
    .await;
    assert!(attempts > 0, "the indexing ended before the first attempt");
    store.close().await;
}

/// Statements bind page sizes as `LIMIT ?n + 0`: SQLite re-compiles a cached
/// statement on every execution whose bare `LIMIT ?n` was bound again.
#[test]
fn page_sizes_are_bound_without_recompiling_statements() {
    use rusqlite::StatementStatus;

    let connection = rusqlite::Connection::open_in_memory().expect("open");
    connection
        .execute_batch("CREATE TABLE t (a INTEGER); CREATE INDEX t_a ON t (a); INSERT INTO t VALUES (1), (2), (3);")
        .expect("table");
    let recompiles = |sql: &str| {
        let mut statement = connection.prepare(sql).expect("prepare");
        for limit in [1_i64, 2, 2, 3] {
            statement.query_map([limit], |row| row.get::<_, i64>(0)).expect("query").for_each(drop);
        }
        statement.get_status(StatementStatus::RePrepare)
    };
    assert!(recompiles("SELECT a FROM t ORDER BY a DESC LIMIT ?1") > 0, "a bare bound LIMIT recompiles");
    assert_eq!(recompiles("SELECT a FROM t ORDER BY a DESC LIMIT ?1 + 0"), 0);

    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sqlite");
    for entry in std::fs::read_dir(&sources).expect("sources") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        for (at, _) in text.match_indices("LIMIT ?") {
            let rest = &text[at + "LIMIT ?".len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            // `?n` in prose is not a statement.
            assert!(
                digits == 0 || rest[digits..].starts_with(" + 0"),
                "{}: a bare `LIMIT ?` near byte {at}",
                path.display()
            );
        }
    }
}

/// The CLI opens the database a running server writes to: opening (migration
/// checks, start-up indexing) must wait for the server's commits, never fail
/// with "database is locked". A second store on the same file takes SQLite's
/// file locks as a second process would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opening_succeeds_while_another_store_writes_to_the_file() {
    use threadhold_domain::model::ParentRef;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    let server = std::sync::Arc::new(SqliteStore::open(&path).await.expect("open"));
    conformance::prepare(&*server).await;
    let thread = conformance::thread(&*server, "w", 1).await;
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (server, thread, writing) = (server.clone(), thread.clone(), writing.clone());
            tokio::spawn(async move {
                let mut i = writer * 1_000_000;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    let message = conformance::message(&thread, ParentRef::Root, None, r#"{"role":"user"}"#, i);
                    server.create_message(&conformance::scope("w"), &message).await.expect("server write");
                    i += 1;
                }
            })
        })
        .collect();
    for attempt in 0..20 {
        let cli = SqliteStore::open(&path).await.unwrap_or_else(|error| panic!("open {attempt}: {error}"));
        cli.close().await;
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
}
