//! Faults, on the compiled binary: `kill -9` in the middle of a burst of
//! writes on both backends and at both durability levels (every acknowledged
//! write must be there afterwards), a node killed mid-burst while another node
//! on the same PostgreSQL database keeps serving, and a PostgreSQL server that
//! goes away (requests answer 503 within the configured time) and comes back
//! (requests succeed again without a restart).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Server, admin, call, postgres_database, within};
use serde_json::{Value, json};

/// Creates a message; its id when the server acknowledged it, `None` once the server is gone.
async fn post_message(client: &reqwest::Client, url: &str, key: &str, thread: &str, i: usize) -> Option<String> {
    let body = json!({"parent_id": null, "format": "aui/v0", "content": {"role": "user", "content": [{"type": "text", "text": format!("m{i}")}]}});
    let response = client
        .post(format!("{url}/v1/threads/{thread}/messages"))
        .bearer_auth(key)
        .header("aui-workspace-id", "ws")
        .json(&body)
        .send()
        .await
        .ok()?;
    if response.status() != 201 {
        return None;
    }
    let reply: Value = response.json().await.ok()?;
    reply["message_id"].as_str().map(str::to_owned)
}

/// Writes from `writers` concurrent clients until the server dies; returns every acknowledged id.
async fn burst_until_killed(server: &mut Server, key: &str, thread: &str, writers: usize) -> Vec<String> {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (url, key, thread) = (server.url.clone(), key.to_owned(), thread.to_owned());
            let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    match post_message(&client, &url, &key, &thread, writer * 1_000_000 + i).await {
                        Some(id) => {
                            acknowledged.push(id);
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        None if stop.load(Ordering::Relaxed) => break,
                        None => panic!("a write failed before the kill"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Kill once the burst is well under way (however slow the machine), then a little later.
    within(Duration::from_secs(30), || async { written.load(Ordering::Relaxed) >= 4 * writers }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.expect("writer"));
    }

    assert!(acknowledged.len() > writers, "the burst was under way: {} writes", acknowledged.len());
    acknowledged
}

/// Every message id of the thread, through the API.
async fn stored_ids(url: &str, key: &str, thread: &str) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let after = ids.last().map(|id: &String| format!("&after={id}")).unwrap_or_default();
        let (status, body) =
            call(url, key, reqwest::Method::GET, &format!("/v1/threads/{thread}/messages?limit=200{after}"), None)
                .await;
        assert_eq!(status, 200, "{body}");
        let page: Vec<String> = body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
        let full = page.len() == 200;
        ids.extend(page);
        if !full {
            return ids;
        }
    }
}

fn assert_all_stored(acknowledged: &[String], stored: &[String], what: &str) {
    let stored: std::collections::HashSet<&String> = stored.iter().collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "{what}: {} of {} acknowledged writes lost", lost.len(), acknowledged.len());
}

fn key_for(args: &[&str]) -> String {
    let output = Command::new(BIN).args(["keys", "create", "--name", "faults"]).args(args).output().expect("keys");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").lines().last().expect("key").to_owned()
}

async fn new_thread(url: &str, key: &str) -> String {
    let (status, body) = call(url, key, reqwest::Method::POST, "/v1/threads", Some(json!({}))).await;
    assert_eq!(status, 201, "{body}");
    body["thread_id"].as_str().expect("thread id").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_keeps_every_acknowledged_write_across_kill_9_at_both_durability_levels() {
    for durability in ["process", "power"] {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().to_str().expect("path");
        admin(dir.path(), &["init"]);
        let key = key_for(&["--data", data]);
        let env = [("THREADHOLD_DURABILITY", durability)];
        let mut server = Server::start(dir.path(), &env);
        let thread = new_thread(&server.url, &key).await;
        let acknowledged = burst_until_killed(&mut server, &key, &thread, 32).await;
        drop(server);
        let restarted = Server::start(dir.path(), &env);
        assert_all_stored(&acknowledged, &stored_ids(&restarted.url, &key, &thread).await, durability);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_keeps_every_acknowledged_write_across_kill_9() {
    let url = postgres_database("threadhold_kill").await;
    let key = key_for(&["--database-url", &url]);
    let dir = tempfile::tempdir().expect("dir");
    let env = [("THREADHOLD_DATABASE_URL", url.as_str())];
    let mut server = Server::start(dir.path(), &env);
    let thread = new_thread(&server.url, &key).await;
    let acknowledged = burst_until_killed(&mut server, &key, &thread, 32).await;
    drop(server);
    let restarted = Server::start(dir.path(), &env);
    assert_all_stored(&acknowledged, &stored_ids(&restarted.url, &key, &thread).await, "restarted node");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_burst_loses_nothing_the_other_node_cannot_see() {
    let url = postgres_database("threadhold_nodes_kill").await;
    let key = key_for(&["--database-url", &url]);
    let env = [("THREADHOLD_DATABASE_URL", url.as_str())];
    let (one, two) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let mut doomed = Server::start(one.path(), &env);
    let survivor = Server::start(two.path(), &env);
    let thread = new_thread(&survivor.url, &key).await;
    let acknowledged = burst_until_killed(&mut doomed, &key, &thread, 32).await;
    assert_all_stored(&acknowledged, &stored_ids(&survivor.url, &key, &thread).await, "the other node");
    // The survivor keeps writing to the same thread.
    let client = reqwest::Client::new();
    assert!(post_message(&client, &survivor.url, &key, &thread, 0).await.is_some());
}

/// A PostgreSQL cluster of this test alone, so it can be stopped and started.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start_new() -> Cluster {
        let bin =
            postgres_bin_dir().expect("PostgreSQL's server binaries (initdb, pg_ctl): apt-get install postgresql");
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        if is_root() {
            assert!(Command::new("chown").arg("postgres:").arg(dir.path()).status().expect("chown").success());
        }
        let cluster = Cluster { bin, dir, port };
        cluster.pg("initdb", &["-D", &cluster.data(), "-U", "postgres", "--auth=trust", "--no-sync"]);
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("db").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!("-h 127.0.0.1 -p {} -k {}", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.pg("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    fn stop(&self) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command.args(args).output().expect(program);
        assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(if is_root() { "runuser" } else { "true" })
            .args(if is_root() { vec!["-u", "postgres", "--"] } else { vec![] })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0"))
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PATH").map(|path| std::env::split_paths(&path).collect()).unwrap_or_default();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(versions.filter_map(Result::ok).map(|entry| entry.path().join("bin")));
    }
    candidates.into_iter().find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_fail_fast_while_postgresql_is_away_and_recover_when_it_returns() {
    let cluster = Cluster::start_new();
    let url = cluster.url();
    let key = key_for(&["--database-url", &url]);
    let dir = tempfile::tempdir().expect("dir");
    let server =
        Server::start(dir.path(), &[("THREADHOLD_DATABASE_URL", &url), ("THREADHOLD_DATABASE_TIMEOUT_SECS", "2")]);
    let thread = new_thread(&server.url, &key).await;

    cluster.stop();
    for path in ["/v1/threads", &format!("/v1/threads/{thread}/messages")] {
        let started = Instant::now();
        let (status, body) = call(&server.url, &key, reqwest::Method::GET, path, None).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("unavailable")), "{path}: {body}");
        assert!(started.elapsed() < Duration::from_secs(4), "{path} answered after {:?}", started.elapsed());
    }
    let (status, _) = call(&server.url, "", reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(status, 503);

    cluster.start();
    within(Duration::from_secs(15), || async {
        call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await.0 == 200
    })
    .await;
    let (status, body) = call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["threads"][0]["id"], thread.as_str(), "the data is back");
}
