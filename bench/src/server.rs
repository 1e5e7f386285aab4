//! The measured `threadhold` binary, driven only through its command line and
//! HTTP, so binaries of any commit can be compared: `serve`, `keys create`,
//! `rules add`, `/readyz`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::http::{Connection, Request};

/// How long a start may take: a SQLite server indexes older messages before it
/// listens, minutes at the full run's 11 million.
const START_TIMEOUT: Duration = Duration::from_secs(1800);

/// Where a server keeps its data.
#[derive(Clone, Debug)]
pub struct Storage {
    /// The data folder (SQLite's file, local attachments).
    pub data: PathBuf,
    /// A PostgreSQL URL; SQLite in `data` when unset.
    pub database_url: Option<String>,
}

impl Storage {
    pub fn sqlite_file(&self) -> PathBuf {
        self.data.join("threadhold.sqlite3")
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec!["--data".to_owned(), self.data.to_string_lossy().into_owned()];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }
}

/// The durability setting a later server takes (`THREADHOLD_DURABILITY`); older binaries ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum Durability {
    /// Acknowledged writes survive a crash of the process (SQLite synchronous=NORMAL).
    Process,
    /// They also survive power loss (synchronous=FULL, fsync before the answer).
    Power,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Power => "power",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub bin: PathBuf,
    pub storage: Storage,
    pub durability: Option<Durability>,
    /// `THREADHOLD_LOG_LEVEL`; the server's default (`info`, a line per request) when unset.
    pub log_level: Option<String>,
    pub log: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

/// A running `threadhold serve`.
pub struct Server {
    child: Child,
    /// Kept open: the server writes its address there.
    _stdout: BufReader<ChildStdout>,
    pub pid: u32,
    pub address: SocketAddr,
    /// From spawning the process to the first passing `/readyz`.
    pub ready_after: Duration,
    log: PathBuf,
}

impl Server {
    pub async fn start(options: &ServerOptions) -> anyhow::Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&options.log)
            .with_context(|| format!("opening {}", options.log.display()))?;
        let mut command = Command::new(&options.bin);
        command.arg("serve").args(["--listen", "127.0.0.1:0"]).args(options.storage.args());
        clear_threadhold_env(&mut command);
        command
            .env("THREADHOLD_JWKS_ALLOW_HOSTS", "127.0.0.1")
            .env("THREADHOLD_TOKEN_EXCHANGE", "false")
            // Tokens minted at the start stay valid through a long run (an hour: newer
            // binaries refuse TTLs beyond their token_max_lifetime_secs, 3600 by default).
            .env("THREADHOLD_WORKSPACE_TOKEN_TTL_SECS", "3600")
            // Soak traffic mints many anonymous identities from one address.
            .env("THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE", "0");
        if let Some(durability) = options.durability {
            command.env("THREADHOLD_DURABILITY", durability.name());
        }
        if let Some(level) = &options.log_level {
            command.env("THREADHOLD_LOG_LEVEL", level);
        }
        command.envs(options.extra_env.iter().map(|(k, v)| (k, v)));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).kill_on_drop(true);

        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", options.bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let address = tokio::time::timeout(START_TIMEOUT, read_address(&mut stdout))
            .await
            .map_err(|_| anyhow::anyhow!("the server printed no address within {START_TIMEOUT:?}"))?
            .with_context(|| format!("starting the server; see {}", options.log.display()))?;
        wait_ready(address, Duration::from_secs(60)).await?;
        let ready_after = started.elapsed();
        Ok(Server { child, _stdout: stdout, pid, address, ready_after, log: options.log.clone() })
    }

    /// SIGTERM (the server drains and exits), SIGKILL after 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        signal(self.pid, "TERM")?;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            self.child.kill().await?;
        }
        Ok(())
    }

    /// SIGKILL, no draining: what a crash looks like.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Whether the server's log holds `text` (e.g. a warning about an unknown variable).
    pub fn log_mentions(&self, text: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains(text))
    }
}

fn clear_threadhold_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("THREADHOLD_") || text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
}

async fn read_address(stdout: &mut BufReader<ChildStdout>) -> anyhow::Result<SocketAddr> {
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).await? == 0 {
            bail!("the server exited before listening");
        }
        if let Some(address) = line.trim().strip_prefix("threadhold listening on http://") {
            return address.parse().with_context(|| format!("address {address}"));
        }
    }
}

/// Polls `/readyz` every 2 ms until it answers 200.
pub async fn wait_ready(address: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let request = Request::get("/readyz").build();
    loop {
        if let Ok(mut connection) = Connection::connect(address).await
            && let Ok(response) = connection.send(&request, false).await
            && response.status == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{address} not ready after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status()?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

/// Runs an admin command of the binary (`keys create`, `rules add`, …) and
/// returns its last line of output, where the binary prints the new secret or id.
pub async fn admin(bin: &Path, storage: &Storage, args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new(bin);
    command.args(args).args(storage.args());
    clear_threadhold_env(&mut command);
    // `rules add` checks key URLs against the allowlist in newer binaries.
    command.env("THREADHOLD_JWKS_ALLOW_HOSTS", "127.0.0.1");
    let output = command.output().await.with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    if !output.status.success() {
        bail!("{} {} failed: {}", bin.display(), args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().last().unwrap_or("").trim().to_owned())
}

/// `threadhold --version`, for the report.
pub async fn version(bin: &Path) -> String {
    match Command::new(bin).arg("--version").output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(error) => format!("unknown ({error})"),
    }
}
