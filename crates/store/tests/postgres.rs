//! The conformance suite against PostgreSQL: each case on a fresh database of
//! the server at `THREADHOLD_TEST_POSTGRES_URL` (`scripts/test` starts a
//! throwaway cluster and sets it).

mod conformance;

use threadhold_store::{PgStore, Store};

fn admin_url() -> String {
    std::env::var("THREADHOLD_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("set THREADHOLD_TEST_POSTGRES_URL to a PostgreSQL server (scripts/test starts a throwaway one)")
    })
}

/// The URL of database `name` on the test server.
fn database_url(name: &str) -> String {
    match admin_url().rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("the test URL names no database"),
    }
}

/// Connects to a new, empty database; the guard is the database's name.
async fn fresh() -> (PgStore, String) {
    let name = format!("threadhold_test_{}", threadhold_domain::ids::random_secret(12).to_lowercase());
    let admin = sqlx::PgPool::connect(&admin_url()).await.expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    (PgStore::connect(&database_url(&name)).await.expect("open"), name)
}

backend_suite!(fresh());

/// Tables, their columns, and indexes with their columns, of one database.
type Schema = std::collections::BTreeMap<String, Vec<String>>;

/// What each backend has alone, by design: SQLite's trigram indexes are FTS5
/// tables linked by `search_rowid` (an index on it leads a match to its
/// message and thread), and the message entries of a write group wait in
/// `pending_message_search` until the group commits; PostgreSQL's are GIN
/// indexes over plain tables (`thread_search` has the same columns on both),
/// with a `search_indexed` flag, and each message entry carries its thread
/// and time. PostgreSQL's
/// writers append their activity counts to a log its nodes fold into the
/// rollups (SQLite's one writer adds to the rollup row directly).
const SQLITE_ONLY: &[&str] = &[
    "column threads.search_rowid",
    "column messages.search_rowid",
    "index messages_by_search_rowid",
    "table message_search",
    "table pending_message_search",
    "column pending_message_search.search_rowid",
    "column pending_message_search.text",
    "column pending_message_search.message_id",
];
const POSTGRES_ONLY: &[&str] = &[
    "column messages.search_indexed",
    "table message_search",
    "column message_search.thread_id",
    "column message_search.created_at",
    "index message_search_text",
    "index thread_search_text",
    "table activity_log",
    "column activity_log.project_id",
    "column activity_log.day",
    "column activity_log.threads",
    "column activity_log.messages",
    "column activity_log.runs",
];

fn sqlite_schema(path: &std::path::Path) -> Schema {
    let connection = rusqlite::Connection::open(path).expect("open");
    let mut schema = Schema::new();
    let objects: Vec<(String, String, Option<String>)> = connection
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (kind, name, sql) in objects {
        let internal = name.starts_with("sqlite_") || name == "_sqlx_migrations";
        let fts_shadow = ["message_search_", "thread_search_"].iter().any(|prefix| name.starts_with(prefix));
        if internal || fts_shadow || sql.is_none() {
            continue;
        }
        let pragma = if kind == "table" { "table_info" } else { "index_info" };
        let columns: Vec<String> = connection
            .prepare(&format!("SELECT name FROM pragma_{pragma}(?1)"))
            .expect("prepare")
            .query_map([&name], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        if kind == "table" {
            for column in &columns {
                schema.insert(format!("column {name}.{column}"), Vec::new());
            }
        }
        schema.insert(format!("{kind} {name}"), if kind == "index" { columns } else { Vec::new() });
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let mut schema = Schema::new();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    for (table, column) in columns {
        schema.insert(format!("table {table}"), Vec::new());
        schema.insert(format!("column {table}.{column}"), Vec::new());
    }
    // Indexes other than the ones behind primary keys and UNIQUE constraints (SQLite names those itself).
    let indexes: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT i.relname::text, array_agg(a.attname::text ORDER BY k.ordinality) \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ordinality) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE n.nspname = 'public' AND NOT x.indisprimary \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
         GROUP BY i.relname",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    for (name, columns) in indexes {
        schema.insert(format!("index {name}"), columns);
    }
    pool.close().await;
    schema
}

#[tokio::test]
async fn both_migration_folders_produce_the_same_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite3");
    threadhold_store::SqliteStore::open(&path).await.expect("sqlite").close().await;
    let mut sqlite = sqlite_schema(&path);
    let (store, name) = fresh().await;
    store.close().await;
    let url = database_url(&name);
    let mut postgres = postgres_schema(&url).await;
    for only in SQLITE_ONLY {
        assert!(sqlite.remove(*only).is_some(), "SQLite no longer has {only}: update SQLITE_ONLY");
    }
    for only in POSTGRES_ONLY {
        assert!(postgres.remove(*only).is_some(), "PostgreSQL no longer has {only}: update POSTGRES_ONLY");
    }
    let missing: Vec<_> = sqlite.keys().filter(|key| !postgres.contains_key(*key)).collect();
    let extra: Vec<_> = postgres.keys().filter(|key| !sqlite.contains_key(*key)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "only in SQLite: {missing:?}\nonly in PostgreSQL: {extra:?}");
    for (key, columns) in &sqlite {
        assert_eq!(Some(columns), postgres.get(key), "{key} differs");
    }
}

/// Run reports an earlier release kept as raw telemetry become runs when the
/// server connects (ids kept, merged by trace id, unreadable fields kept aside).
#[tokio::test]
async fn stored_run_reports_move_into_runs_on_connect() {
    let (store, name) = fresh().await;
    conformance::prepare(&store).await;
    let records = conformance::legacy_reports(&store).await;
    store.close().await;
    let url = database_url(&name);
    let store = PgStore::connect(&url).await.expect("reconnect");
    conformance::check_legacy_reports_moved(&store, &records).await;
}

/// Messages without a search entry (written before search existed, or by other
/// tools) are indexed in the background after connecting, several batches' worth.
#[tokio::test]
async fn older_messages_become_searchable_after_connecting() {
    use conformance::{message, scope, thread};
    use threadhold_domain::model::ParentRef;
    use threadhold_store::ReadScope;

    let (store, name) = fresh().await;
    conformance::prepare(&store).await;
    let s = scope("w");
    let t = thread(&store, "w", 1).await;
    let content = r#"{"role":"user","content":[{"type":"text","text":"an old kumquat"}]}"#;
    for i in 0..2_500 {
        store.create_message(&s, &message(&t, ParentRef::Root, None, content, i)).await.expect("message");
    }
    let url = database_url(&name);
    let raw = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::query("DELETE FROM message_search").execute(&raw).await.expect("forget the index");
    sqlx::query("UPDATE messages SET search_indexed = FALSE").execute(&raw).await.expect("unindex");
    store.close().await;

    let store = PgStore::connect(&url).await.expect("reconnect");
    let started = std::time::Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE NOT search_indexed")
            .fetch_one(&raw)
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{left} messages still unindexed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let hits = store.search(&ReadScope::from(&s), "kumquat", 10, None).await.expect("search");
    assert_eq!(hits.iter().map(|h| h.thread.id.as_str()).collect::<Vec<_>>(), [t.as_str()]);
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM message_search").fetch_one(&raw).await.expect("n");
    assert_eq!(entries, 2_500);
    let without_thread: i64 =
        sqlx::query_scalar("SELECT count(*) FROM message_search WHERE thread_id IS NULL OR created_at IS NULL")
            .fetch_one(&raw)
            .await
            .expect("n");
    assert_eq!(without_thread, 0, "indexed entries carry their message's thread and time");
}

/// Search entries written before they carried their message's thread and time
/// (migration 13) are found as before, newest message first, beside new ones.
#[tokio::test]
async fn search_entries_without_their_thread_are_still_found() {
    use conformance::{message, scope, thread};
    use threadhold_domain::model::ParentRef;
    use threadhold_store::ReadScope;

    let (store, name) = fresh().await;
    conformance::prepare(&store).await;
    let s = scope("w");
    let text = |words: &str| format!(r#"{{"role":"user","content":[{{"type":"text","text":"{words}"}}]}}"#);
    let older = thread(&store, "w", 1).await;
    let newer = thread(&store, "w", 2).await;
    let mut ids = Vec::new();
    for (t, words, at) in [(&older, "kumquat one", 10), (&newer, "kumquat two", 20), (&older, "kumquat three", 30)] {
        let written = store.create_message(&s, &message(t, ParentRef::Root, None, &text(words), at)).await;
        ids.push(written.expect("message").message_id().to_owned());
    }
    let url = database_url(&name);
    let raw = sqlx::PgPool::connect(&url).await.expect("connect");
    let carried: i64 = sqlx::query_scalar("SELECT count(*) FROM message_search WHERE thread_id IS NOT NULL")
        .fetch_one(&raw)
        .await
        .expect("n");
    assert_eq!(carried, 3, "new entries carry their thread");
    // The first two entries as an earlier release wrote them.
    sqlx::query("UPDATE message_search SET thread_id = NULL, created_at = NULL WHERE message_id = ANY($1)")
        .bind(&ids[..2])
        .execute(&raw)
        .await
        .expect("age the entries");

    let hits = store.search(&ReadScope::from(&s), "kumquat", 10, None).await.expect("search");
    let found: Vec<(&str, Option<&str>, &str)> =
        hits.iter().map(|h| (h.thread.id.as_str(), h.message_id.as_deref(), h.snippet.as_str())).collect();
    assert_eq!(
        found,
        [
            (older.as_str(), Some(ids[2].as_str()), "kumquat three"),
            (newer.as_str(), Some(ids[1].as_str()), "kumquat two")
        ]
    );
    let elsewhere = store.search(&ReadScope::from(&scope("other")), "kumquat", 10, None).await.expect("other");
    assert!(elsewhere.is_empty(), "an aged entry stays in its workspace");
}

/// Writers append activity to a log; every node folds it into the rollups,
/// and the counts read the same before, during and after a fold, with two
/// nodes folding at once.
#[tokio::test]
async fn the_activity_log_is_folded_into_the_rollups_without_changing_counts() {
    use conformance::{message, scope, thread};
    use threadhold_domain::model::ParentRef;

    let (store, name) = fresh().await;
    conformance::prepare(&store).await;
    let url = database_url(&name);
    let other_node = PgStore::connect(&url).await.expect("second node");
    let raw = sqlx::PgPool::connect(&url).await.expect("connect");
    let s = scope("w");
    let t = thread(&store, "w", 1).await;
    let mut written = 0;
    let started = std::time::Instant::now();
    // Keep writing across several fold rounds of both nodes.
    while started.elapsed() < std::time::Duration::from_millis(2_500) {
        let node: &PgStore = if written % 2 == 0 { &store } else { &other_node };
        node.create_message(&s, &message(&t, ParentRef::Root, None, "{}", 5)).await.expect("message");
        written += 1;
        let days = store.daily_activity("p1", 0, 0).await.expect("days");
        assert_eq!((days[0].threads, days[0].messages), (1, written), "counts while folding");
    }
    let folded: i64 = sqlx::query_scalar("SELECT coalesce(sum(messages), 0)::bigint FROM activity_days")
        .fetch_one(&raw)
        .await
        .expect("n");
    assert!(folded > 0, "nothing was folded in 2.5 s");
    other_node.close().await;
    store.close().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM activity_log").fetch_one(&raw).await.expect("left");
    assert_eq!(left, 0, "closing folds what is left");
    let store = PgStore::connect(&url).await.expect("reconnect");
    let days = store.daily_activity("p1", 0, 0).await.expect("days");
    assert_eq!((days[0].threads, days[0].messages), (1, written));
}

/// The writer of plain creates never waits for a thread locked elsewhere (here
/// by a transaction that also deletes one of them): creates on other threads
/// go on, alone and in groups, and the locked threads' creates are written,
/// or refused, once the lock is gone.
#[tokio::test]
async fn a_thread_locked_elsewhere_holds_up_only_its_own_creates() {
    use std::time::Duration;

    use sqlx::Connection;
    use threadhold_domain::model::{MessageWrite, ParentRef};
    use threadhold_store::{ReadScope, StoreError};

    let (store, name) = fresh().await;
    conformance::prepare(&store).await;
    let s = conformance::scope("w");
    let locked = conformance::thread(&store, "w", 1).await;
    let deleted = conformance::thread(&store, "w", 1).await;
    let free = conformance::thread(&store, "w", 1).await;
    let mut other = sqlx::PgConnection::connect(&database_url(&name)).await.expect("connect");
    let mut transaction = other.begin().await.expect("begin");
    sqlx::query("SELECT id FROM threads WHERE id = ANY($1) FOR UPDATE")
        .bind([&locked, &deleted])
        .execute(&mut *transaction)
        .await
        .expect("lock");
    sqlx::query("DELETE FROM threads WHERE id = $1").bind(&deleted).execute(&mut *transaction).await.expect("delete");

    let create_on = |thread_id: &str, now: i64| {
        let (store, s) = (store.clone(), s.clone());
        let create = conformance::message(thread_id, ParentRef::Root, None, "{}", now);
        tokio::spawn(async move { store.create_message(&s, &create).await })
    };
    let alone_on_locked = create_on(&locked, 10);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = [create_on(&locked, 11), create_on(&deleted, 12)];
    let on_free: Vec<_> = (0..8).map(|i| create_on(&free, 20 + i)).collect();
    let on_free = tokio::time::timeout(Duration::from_secs(5), futures_util::future::join_all(on_free))
        .await
        .expect("creates on a free thread wait for a lock on other threads");
    assert!(on_free.into_iter().all(|result| matches!(result, Ok(Ok(MessageWrite::Created(_))))));
    for now in 30..33 {
        let alone = tokio::time::timeout(Duration::from_secs(5), create_on(&free, now)).await.expect("alone");
        assert!(matches!(alone, Ok(Ok(MessageWrite::Created(_)))), "{alone:?}");
    }
    assert!(!alone_on_locked.is_finished() && waiting.iter().all(|create| !create.is_finished()));

    transaction.commit().await.expect("commit");
    let [second_on_locked, on_deleted] = waiting;
    for create in [alone_on_locked, second_on_locked] {
        let result = tokio::time::timeout(Duration::from_secs(5), create).await.expect("written after the lock");
        assert!(matches!(result, Ok(Ok(MessageWrite::Created(_)))), "{result:?}");
    }
    let result = tokio::time::timeout(Duration::from_secs(5), on_deleted).await.expect("answered after the lock");
    assert!(matches!(result, Ok(Err(StoreError::ThreadNotFound))), "{result:?}");
    let read = ReadScope::from(&s);
    assert_eq!(store.list_messages(&read, &locked, None, 100).await.expect("list").len(), 2);
    assert_eq!(store.list_messages(&read, &free, None, 100).await.expect("list").len(), 11);
}
