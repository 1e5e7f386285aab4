//! Bulk loading of the [`Dataset`] straight into the database the server
//! created: SQLite through `rusqlite` while the server is stopped, PostgreSQL
//! with `COPY`. Only `threads` and `messages` rows, only migration 0001 columns.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use sqlx::Connection as _;

use crate::dataset::{Chunk, Dataset, PROJECT};

const THREAD_COLUMNS: &str = "id, project_id, workspace_id, title, title_from_user, metadata, external_id, \
     is_archived, last_message_at, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at";

/// What a seeding did, for the report.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub threads: u64,
    pub messages: u64,
    pub seconds: f64,
}

/// Waits until the server has indexed every bulk-loaded message of the SQLite
/// file for search and merged the index into one segment (newer servers do
/// both in the background after start-up, older ones before `/readyz`;
/// binaries without the `search_rowid` column have nothing to wait for).
/// Returns the seconds waited.
pub fn wait_for_sqlite_search_index(path: &Path, limit: std::time::Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db =
        rusqlite::Connection::open_with_flags(path, flags).with_context(|| format!("opening {}", path.display()))?;
    let has_column: bool = db.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('messages') WHERE name = 'search_rowid')",
        [],
        |row| row.get(0),
    )?;
    if !has_column {
        return Ok(0.0);
    }
    loop {
        // FTS5 keeps a segment's pages under rowids whose bits from 37 up are the segment id.
        let (pending, segments): (bool, i64) = db.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE search_rowid IS NULL), \
             (SELECT count(DISTINCT id >> 37) FROM message_search_data WHERE id >> 37 > 0)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        if !pending && segments <= 1 {
            break;
        }
        anyhow::ensure!(started.elapsed() < limit, "the server did not index the seeded messages within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Fills a stopped server's SQLite file; the server set up the schema on its first start.
pub fn sqlite(path: &Path, dataset: &Dataset) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let mut db = rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    // A bulk load into a file nobody else has open: no journal, no fsync, a large cache.
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; PRAGMA foreign_keys = OFF;",
    )?;
    let insert_thread = format!(
        "INSERT INTO threads ({THREAD_COLUMNS}) VALUES (?1, '{PROJECT}', ?2, ?3, FALSE, ?4, NULL, FALSE, ?5, ?6, ?6)"
    );
    let insert_message =
        format!("INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'aui/v0', ?5, NULL, ?6, ?6)");
    let mut chunks = produce(dataset);
    while let Some(chunk) = chunks.blocking_recv() {
        let transaction = db.transaction()?;
        {
            let mut statement = transaction.prepare_cached(&insert_thread)?;
            for thread in &chunk.threads {
                statement.execute(rusqlite::params![
                    thread.id,
                    thread.workspace_id,
                    thread.title,
                    thread.metadata,
                    thread.last_message_at,
                    thread.created_at
                ])?;
            }
            let mut statement = transaction.prepare_cached(&insert_message)?;
            for message in &chunk.messages {
                statement.execute(rusqlite::params![
                    message.id,
                    message.thread_id,
                    message.parent_id,
                    message.height,
                    message.content,
                    message.created_at
                ])?;
            }
        }
        transaction.commit()?;
    }
    // Back to what the server expects to find.
    db.execute_batch("PRAGMA journal_mode = WAL;")?;
    let count = |table: &str| -> anyhow::Result<u64> {
        let count: i64 = db.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    };
    let seeded = Seeded { threads: count("threads")?, messages: count("messages")?, seconds: 0.0 };
    check_counts(dataset, &seeded)?;
    Ok(Seeded { seconds: started.elapsed().as_secs_f64(), ..seeded })
}

/// Fills a PostgreSQL database the server migrated, then vacuums and analyzes
/// it as autovacuum would have for a database that grew to this size.
pub async fn postgres(url: &str, dataset: &Dataset) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let mut db = sqlx::PgConnection::connect(url).await.context("connecting to PostgreSQL")?;
    // This session only: commits without waiting for the WAL flush, and no foreign-key
    // triggers (the generated rows are consistent); the server's sessions keep the defaults.
    sqlx::raw_sql("SET synchronous_commit = off; SET session_replication_role = replica").execute(&mut db).await?;
    let mut chunks = produce(dataset);
    let mut text = String::new();
    while let Some(chunk) = chunks.recv().await {
        copy_threads(&chunk, &mut text);
        copy(&mut db, &format!("COPY threads ({THREAD_COLUMNS}) FROM STDIN"), &text).await?;
        copy_messages(&chunk, &mut text);
        copy(&mut db, &format!("COPY messages ({MESSAGE_COLUMNS}) FROM STDIN"), &text).await?;
    }
    for statement in ["VACUUM ANALYZE threads", "VACUUM ANALYZE messages", "CHECKPOINT"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut db).await.with_context(|| statement.to_owned())?;
    }
    let count = |table: &'static str| {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
    };
    let threads = count("threads").fetch_one(&mut db).await?;
    let messages = count("messages").fetch_one(&mut db).await?;
    let seeded = Seeded {
        threads: u64::try_from(threads).unwrap_or(0),
        messages: u64::try_from(messages).unwrap_or(0),
        seconds: 0.0,
    };
    db.close().await?;
    check_counts(dataset, &seeded)?;
    Ok(Seeded { seconds: started.elapsed().as_secs_f64(), ..seeded })
}

/// Generates the chunks on a thread of their own, so generating and loading overlap.
fn produce(dataset: &Dataset) -> tokio::sync::mpsc::Receiver<Chunk> {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let dataset = *dataset;
    std::thread::spawn(move || {
        for chunk in dataset.chunks() {
            if sender.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    receiver
}

fn check_counts(dataset: &Dataset, seeded: &Seeded) -> anyhow::Result<()> {
    let (threads, messages) = dataset.sizes.total_rows();
    if seeded.threads != threads || seeded.messages != messages {
        bail!(
            "seeding left {} threads and {} messages, expected {threads} and {messages} (was the database not fresh?)",
            seeded.threads,
            seeded.messages
        );
    }
    Ok(())
}

async fn copy(db: &mut sqlx::PgConnection, statement: &str, text: &str) -> anyhow::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut copy = db.copy_in_raw(statement).await.with_context(|| statement.to_owned())?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await.with_context(|| statement.to_owned())?;
    Ok(())
}

/// One `COPY … FROM STDIN` text-format field.
fn field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(text) => {
            for character in text.chars() {
                match character {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    other => out.push(other),
                }
            }
        }
    }
}

fn copy_threads(chunk: &Chunk, out: &mut String) {
    out.clear();
    for thread in &chunk.threads {
        field(out, Some(&thread.id));
        let _ = write!(out, "\t{PROJECT}\t{}\t", thread.workspace_id);
        field(out, Some(&thread.title));
        out.push_str("\tf\t");
        field(out, thread.metadata.as_deref());
        let _ = writeln!(out, "\t\\N\tf\t{}\t{}\t{}", thread.last_message_at, thread.created_at, thread.created_at);
    }
}

fn copy_messages(chunk: &Chunk, out: &mut String) {
    out.clear();
    for message in &chunk.messages {
        field(out, Some(&message.id));
        out.push('\t');
        field(out, Some(&message.thread_id));
        out.push('\t');
        field(out, message.parent_id.as_deref());
        let _ = write!(out, "\t{}\taui/v0\t", message.height);
        field(out, Some(&message.content));
        let _ = writeln!(out, "\t\\N\t{}\t{}", message.created_at, message.created_at);
    }
}
