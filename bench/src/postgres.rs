//! A throwaway PostgreSQL cluster on 127.0.0.1, as `scripts/with-postgres`
//! starts one, but with durable settings (fsync on, synchronous commits): the
//! benchmark measures what a production database would do.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sqlx::Connection as _;

pub struct Cluster {
    bin_dir: PathBuf,
    data: PathBuf,
    /// initdb refuses root: the cluster then belongs to the `postgres` account.
    as_postgres: bool,
    pub port: u16,
}

impl Cluster {
    /// Creates and starts a cluster in `root/postgres`.
    pub fn start(root: &Path) -> anyhow::Result<Cluster> {
        let bin_dir = find_bin_dir()?;
        let data = root.join("pg-cluster");
        std::fs::create_dir_all(&data)?;
        let as_postgres = run_output("id", &["-u"])?.trim() == "0";
        if as_postgres {
            run_checked(Command::new("chown").arg("-R").arg("postgres:").arg(&data))?;
        }
        let port = free_port()?;
        let cluster = Cluster { bin_dir, data, as_postgres, port };
        let db = cluster.data.join("db");
        cluster.run_tool("initdb", &["-D", &path_text(&db), "-U", "postgres", "--auth=trust", "--no-sync"])?;
        let options = format!(
            "-h 127.0.0.1 -p {port} -k {} -c max_connections=300 -c shared_buffers=512MB -c max_wal_size=4GB",
            path_text(&cluster.data)
        );
        let log = cluster.data.join("log");
        cluster.run_tool("pg_ctl", &["-D", &path_text(&db), "-l", &path_text(&log), "-w", "-o", &options, "start"])?;
        Ok(cluster)
    }

    /// The postmaster's process id (its backends are its children).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("db").join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A new, empty database; returns its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url()).await.context("connecting to PostgreSQL")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
        admin.close().await?;
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.port))
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin_dir.join(tool);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        run_checked(command.args(args))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let db = path_text(&self.data.join("db"));
        let _ = self.run_tool("pg_ctl", &["-D", &db, "-m", "fast", "-w", "stop"]);
    }
}

/// Database size as PostgreSQL counts it.
pub async fn database_size(url: &str) -> anyhow::Result<u64> {
    let mut db = sqlx::PgConnection::connect(url).await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut db).await?;
    db.close().await?;
    Ok(u64::try_from(size).unwrap_or(0))
}

/// Waits until the server has indexed every bulk-loaded message for search (it
/// does so in the background after connecting), then vacuums what that
/// indexing wrote; binaries without the `search_indexed` column have nothing to
/// wait for. Returns the seconds waited.
///
/// The indexing marks every seeded message (a million dead row versions) and
/// fills `message_search`; left alone, autovacuum catches up on both minutes
/// later, in the middle of whichever scenarios run then (search p50 7–15 ms
/// alone, 35 ms in a whole run).
pub async fn wait_for_search_index(url: &str, limit: std::time::Duration) -> anyhow::Result<f64> {
    let started = std::time::Instant::now();
    let mut db = sqlx::PgConnection::connect(url).await?;
    let has_column: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_name = 'messages' AND column_name = 'search_indexed')",
    )
    .fetch_one(&mut db)
    .await?;
    if has_column {
        loop {
            let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE NOT search_indexed)")
                .fetch_one(&mut db)
                .await?;
            if !pending {
                break;
            }
            anyhow::ensure!(started.elapsed() < limit, "the server did not index the seeded messages within {limit:?}");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        sqlx::query("VACUUM (ANALYZE) messages, message_search").execute(&mut db).await?;
    }
    db.close().await?;
    Ok(started.elapsed().as_secs_f64())
}

fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(found) = run_output("sh", &["-c", "command -v initdb"]) {
        let found = PathBuf::from(found.trim());
        if let Ok(resolved) = std::fs::canonicalize(&found) {
            candidates.extend(resolved.parent().map(Path::to_path_buf));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .context("PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn run_output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
