//! The conformance suite against the SQLite backend, each case on a fresh file.

mod conformance;

use threadhold_store::{SqliteStore, Store};

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
