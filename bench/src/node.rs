//! The Node reference server (`bench/node-reference`): a typical Fastify +
//! jose + better-sqlite3 service for the same thread list, run as one process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::dataset::PROJECT;

pub struct NodeReference {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub pid: u32,
    pub address: SocketAddr,
}

impl NodeReference {
    /// Starts `server.mjs` of `dir` on the SQLite file, trusting `jwks` (threadhold's public keys).
    pub async fn start(dir: &Path, database: &Path, jwks: &Value) -> anyhow::Result<NodeReference> {
        if !dir.join("node_modules").exists() {
            bail!("{} has no node_modules: run `npm ci` there (bench/run does)", dir.display());
        }
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .env("DB", database)
            .env("JWKS", jwks.to_string())
            .env("ISSUER", format!("urn:threadhold:{PROJECT}"))
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node")?;
        let pid = child.id().context("node exited at once")?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line).await?;
        let address = line
            .trim()
            .strip_prefix("node reference listening on http://")
            .with_context(|| format!("node reference did not start: {line:?}"))?
            .parse()?;
        Ok(NodeReference { child, _stdout: stdout, pid, address })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
