//! The floors every figure is read against, measured in the same run:
//! one signature verification per algorithm, one durable commit, and the
//! storage floor (a bare axum handler reading the same thread rows with
//! `rusqlite` on the request's own thread).

use std::cell::RefCell;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sqlx::Connection as _;
use threadhold_auth::{compact, keys, verify};
use threadhold_domain::{MsText, format_ms};

use crate::dataset::PROJECT;
use crate::issuer::Keys;
use crate::load::percentile;
use crate::report::{self, Row};

/// The cost of one verification (parse, signature, claims) of one algorithm, on one core.
pub struct Verification {
    pub algorithm: &'static str,
    pub micros: f64,
}

pub const ALGORITHMS: [&str; 6] = ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"];

/// The pipeline the server runs for every bearer token (what `verify_bench` measures).
pub fn verifications(signer: &Keys, budget: Duration) -> anyhow::Result<Vec<Verification>> {
    let now = unix_seconds();
    let claims = json!({"iss": "https://issuer.example", "sub": "user_1", "aud": "api", "exp": now + 3600, "iat": now});
    let jwks = keys::parse_jwks(json!({"keys": signer.jwks()}).to_string().as_bytes()).map_err(anyhow::Error::msg)?;
    let mut results = Vec::new();
    for algorithm in ALGORITHMS {
        let token = signer.token(algorithm, &claims);
        let key_set = if algorithm == "HS256" {
            vec![Arc::new(keys::VerifyKey::hmac(&signer.hmac_secret))]
        } else {
            jwks.clone()
        };
        let policy = verify::Policy {
            issuer: "https://issuer.example".into(),
            algorithms: vec![keys::algorithm(algorithm).context("algorithm")?],
            audiences: vec!["api".into()],
            authorized_parties: Vec::new(),
            skew_secs: 60,
            max_lifetime_secs: None,
            token_type: None,
        };
        let started = Instant::now();
        let mut rounds = 0u32;
        while started.elapsed() < budget || rounds < 100 {
            for _ in 0..50 {
                let parsed = compact::parse(&token).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                verify::verify(&parsed, &key_set, &policy, now).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            rounds += 50;
        }
        results.push(Verification { algorithm, micros: started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds) });
    }
    Ok(results)
}

pub fn unix_seconds() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(0)
}

/// Single-writer commits: each a small INSERT and its COMMIT, one after the other.
pub struct Commits {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Commits {
    /// The table row of this floor (`setting` names the durability setting).
    pub fn row(&self, setting: &str, backend: &str, note: &str) -> Row {
        let mut row = Row::new(&report::commit_scenario(setting), backend);
        row.per_second = Some(self.per_second);
        row.p50_ms = Some(self.p50_ms);
        row.p99_ms = Some(self.p99_ms);
        row.connections = 1;
        row.note = note.to_owned();
        row
    }

    fn from_latencies(mut micros: Vec<u32>, elapsed: Duration) -> Commits {
        micros.sort_unstable();
        Commits {
            per_second: micros.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: percentile(&micros, 0.5),
            p99_ms: percentile(&micros, 0.99),
        }
    }
}

const COMMIT_BODY: &str = r#"{"role":"user","content":[{"type":"text","text":"a message of about two hundred bytes, written and committed on its own, as one durable write costs on this disk"}]}"#;

/// SQLite commits in WAL mode at `synchronous` = `FULL` or `NORMAL`, in a file of `dir`.
pub fn sqlite_commits(dir: &Path, synchronous: &str, length: Duration) -> anyhow::Result<Commits> {
    let path = dir.join(format!("commit-floor-{}.sqlite3", synchronous.to_lowercase()));
    let db = rusqlite::Connection::open(&path)?;
    db.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};
         CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL);"
    ))?;
    let mut statement = db.prepare("INSERT INTO floor (body, created_at) VALUES (?1, ?2)")?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < length {
        let one = Instant::now();
        statement.execute(rusqlite::params![COMMIT_BODY, unix_seconds()])?;
        latencies.push(u32::try_from(one.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    let commits = Commits::from_latencies(latencies, started.elapsed());
    drop(statement);
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(commits)
}

/// PostgreSQL commits (synchronous_commit on) over one connection.
pub async fn postgres_commits(url: &str, length: Duration) -> anyhow::Result<Commits> {
    let mut db = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_commit_floor (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)")
        .execute(&mut db)
        .await?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < length {
        let one = Instant::now();
        sqlx::query("INSERT INTO bench_commit_floor (body, created_at) VALUES ($1, $2)")
            .bind(COMMIT_BODY)
            .bind(unix_seconds())
            .execute(&mut db)
            .await?;
        latencies.push(u32::try_from(one.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    let commits = Commits::from_latencies(latencies, started.elapsed());
    sqlx::raw_sql("DROP TABLE bench_commit_floor").execute(&mut db).await?;
    db.close().await?;
    Ok(commits)
}

// ---- the storage floor -------------------------------------------------------------------------

/// The same columns, order and filter as the server's thread list, first page.
const STORAGE_FLOOR_SQL: &str = "SELECT id, project_id, workspace_id, title, metadata, external_id, is_archived, \
     last_message_at, created_at, updated_at FROM threads \
     WHERE project_id = ?1 AND workspace_id = ?2 AND is_archived = FALSE \
     ORDER BY last_message_at DESC, id DESC LIMIT ?3 + 0";

struct FloorConfig {
    database: PathBuf,
    workspace: String,
}

static FLOOR: OnceLock<FloorConfig> = OnceLock::new();

thread_local! {
    /// One read-only connection per runtime worker thread, its statement cached.
    static READER: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

#[derive(serde::Deserialize)]
struct FloorQuery {
    limit: Option<u32>,
}

/// `threadhold-bench storage-floor`: serves `GET /v1/threads?limit=N` for one
/// workspace of a seeded database until killed; prints its address first.
pub async fn serve_storage_floor(database: PathBuf, workspace: String) -> anyhow::Result<()> {
    FLOOR.set(FloorConfig { database, workspace }).map_err(|_| anyhow::anyhow!("storage floor configured twice"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    println!("storage floor listening on http://{address}");
    std::io::stdout().flush()?;
    let app = Router::new().route("/v1/threads", get(storage_floor_list));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn storage_floor_list(Query(query): Query<FloorQuery>) -> Response {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    match READER.with(|cell| read_page(&mut cell.borrow_mut(), limit)) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn read_page(reader: &mut Option<rusqlite::Connection>, limit: u32) -> anyhow::Result<Vec<u8>> {
    let config = FLOOR.get().context("storage floor not configured")?;
    if reader.is_none() {
        let db = rusqlite::Connection::open_with_flags(
            &config.database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.execute_batch("PRAGMA mmap_size = 268435456;")?;
        *reader = Some(db);
    }
    let db = reader.as_ref().context("reader")?;
    let mut statement = db.prepare_cached(STORAGE_FLOOR_SQL)?;
    let mut rows = statement.query(rusqlite::params![PROJECT, config.workspace, limit])?;
    let mut out = Vec::with_capacity(512 * limit as usize);
    out.extend_from_slice(b"{\"threads\":[");
    let mut first = true;
    while let Some(row) = rows.next()? {
        if !first {
            out.push(b',');
        }
        first = false;
        // Field order and shapes of the server's thread view; text straight from SQLite's buffers.
        out.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut out, row.get_ref(0)?.as_str()?)?;
        out.extend_from_slice(b",\"project_id\":");
        serde_json::to_writer(&mut out, row.get_ref(1)?.as_str()?)?;
        out.extend_from_slice(b",\"workspace_id\":");
        serde_json::to_writer(&mut out, row.get_ref(2)?.as_str()?)?;
        out.extend_from_slice(b",\"title\":");
        serde_json::to_writer(&mut out, &row.get_ref(3)?.as_str_or_null()?)?;
        out.extend_from_slice(b",\"external_id\":");
        serde_json::to_writer(&mut out, &row.get_ref(5)?.as_str_or_null()?)?;
        out.extend_from_slice(b",\"metadata\":");
        // Stored JSON documents go out as the exact text stored.
        out.extend_from_slice(row.get_ref(4)?.as_str_or_null()?.unwrap_or("null").as_bytes());
        out.extend_from_slice(if row.get_ref(6)?.as_i64()? != 0 {
            b",\"is_archived\":true"
        } else {
            b",\"is_archived\":false"
        });
        for (name, column) in [("last_message_at", 7), ("created_at", 8), ("updated_at", 9)] {
            write!(out, ",\"{name}\":\"")?;
            write_timestamp(&mut out, row.get_ref(column)?.as_i64()?);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from Unix milliseconds (the contract's timestamp format, as the server renders it).
fn write_timestamp(out: &mut Vec<u8>, millis: i64) {
    match MsText::new(millis) {
        Some(text) => out.extend_from_slice(text.as_str().as_bytes()),
        None => out.extend_from_slice(format_ms(millis).as_bytes()),
    }
}

/// The storage floor as a child process of this binary, so its CPU and memory are its own.
pub struct StorageFloorProcess {
    child: tokio::process::Child,
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
    pub pid: u32,
    pub address: SocketAddr,
}

impl StorageFloorProcess {
    pub async fn start(database: &Path, workspace: &str) -> anyhow::Result<StorageFloorProcess> {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("storage-floor")
            .arg(database)
            .arg(workspace)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("storage floor exited")?;
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line).await?;
        let address = line
            .trim()
            .strip_prefix("storage floor listening on http://")
            .context("storage floor did not start")?
            .parse()?;
        Ok(StorageFloorProcess { child, _stdout: stdout, pid, address })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
