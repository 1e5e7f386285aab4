//! Helpers of the binary tests: the compiled server as a child process, admin
//! commands, HTTP calls with an API key, waiting for a condition, and fresh
//! PostgreSQL databases.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_threadhold");

pub struct Server {
    pub child: Child,
    pub url: String,
    /// Everything the server wrote to stderr, read as it comes (an unread
    /// pipe would fill up and stall a busy server on its log lines).
    stderr: Option<std::thread::JoinHandle<String>>,
    stderr_so_far: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    pub fn start(data: &Path, envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::spawn(command)
    }

    pub fn spawn(mut command: Command) -> Server {
        let mut child = command.spawn().expect("spawn threadhold");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("threadhold listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let stderr_so_far = Arc::new(Mutex::new(Vec::new()));
        let so_far = Arc::clone(&stderr_so_far);
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                    if let Ok(mut bytes) = so_far.lock() {
                        bytes.extend_from_slice(&chunk[..read]);
                    }
                }
                so_far.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
            })
        });
        Server { child, url, stderr, stderr_so_far }
    }

    /// What the server has written to stderr so far, while it runs.
    pub fn stderr_so_far(&self) -> String {
        self.stderr_so_far.lock().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    /// What the server wrote to stderr, once it has exited.
    pub fn stderr(&mut self) -> String {
        self.stderr.take().and_then(|reader| reader.join().ok()).unwrap_or_default()
    }

    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        let status = wait_with_deadline(&mut self.child, Duration::from_secs(10));
        let stderr = self.stderr.take().and_then(|reader| reader.join().ok()).unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < deadline, "threadhold did not exit within {deadline:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs an admin command and returns its stdout (asserting success).
pub fn admin(data: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).arg("--data").arg(data).output().expect("run admin command");
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Creates the database (admin commands never do) and a key in it.
pub fn create_key(data: &Path) -> String {
    admin(data, &["init"]);
    admin(data, &["keys", "create", "--name", "test"]).lines().last().expect("key line").to_owned()
}

pub async fn call(url: &str, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(key)
        .header("aui-workspace-id", "ws")
        .header("content-type", "application/json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls `check` every 100 ms until it holds; answers how long that took.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached within {limit:?}");
}

/// A new, empty database on the server at `THREADHOLD_TEST_POSTGRES_URL`; its URL.
pub async fn postgres_database(prefix: &str) -> String {
    let admin_url = std::env::var("THREADHOLD_TEST_POSTGRES_URL")
        .expect("set THREADHOLD_TEST_POSTGRES_URL to a PostgreSQL server (scripts/test starts a throwaway one)");
    let name = format!("{prefix}_{}_{}", std::process::id(), threadhold_domain::ids::random_secret(6).to_lowercase());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create");
    admin.close().await;
    format!("{}/{name}", admin_url.rsplit_once('/').expect("database in URL").0)
}
