//! The conformance suite against PostgreSQL: each case on a fresh database of
//! the server at `THREADHOLD_TEST_POSTGRES_URL` (`scripts/test` starts a
//! throwaway cluster and sets it).

mod conformance;

use threadhold_store::PgStore;

/// Connects to a new, empty database; the guard is the database's name.
async fn fresh() -> (PgStore, String) {
    let admin_url = std::env::var("THREADHOLD_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("set THREADHOLD_TEST_POSTGRES_URL to a PostgreSQL server (scripts/test starts a throwaway one)")
    });
    let name = format!("threadhold_test_{}", threadhold_domain::ids::random_secret(12).to_lowercase());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("the test URL names no database"),
    };
    (PgStore::connect(&url).await.expect("open"), name)
}

backend_suite!(fresh());
