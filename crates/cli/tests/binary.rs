//! The compiled `threadhold` binary: start, admin commands against a running
//! server, SIGTERM, and durability of acknowledged writes across `kill -9`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, admin, call, create_key, postgres_database, wait_with_deadline, within};
use serde_json::{Value, json};

#[test]
fn admin_commands_refuse_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("typo");
    for args in [&["keys", "list"][..], &["admin", "list"], &["rules", "list"], &["erase-user", "u1"]] {
        let output = Command::new(BIN).args(args).arg("--data").arg(&missing).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(&missing.join("threadhold.sqlite3").display().to_string()), "{args:?}: {stderr}");
    }
    assert!(!missing.exists(), "nothing was created");
    admin(&missing, &["init"]);
    assert!(admin(&missing, &["keys", "list"]).starts_with("ID"));
}

#[test]
fn admin_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    admin(dir.path(), &["init"]);
    let password = dir.path().join("password");
    std::fs::write(&password, "a long enough password\n").expect("write");
    let add = |email: &str, role: &str| {
        Command::new(BIN)
            .args(["admin", "add", email, "--role", role, "--password-file"])
            .arg(&password)
            .arg("--data")
            .arg(dir.path())
            .output()
            .expect("run")
    };
    assert!(add("Owner@Example.com", "owner").status.success());
    let twice = add("owner@example.com", "member");
    assert!(!twice.status.success() && String::from_utf8_lossy(&twice.stderr).contains("exists already"));
    let bad_role = add("x@example.com", "root");
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("owner, admin or member"));
    let listed = admin(dir.path(), &["admin", "list"]);
    assert!(listed.contains("owner@example.com") && listed.contains("owner"), "{listed}");
    let last = Command::new(BIN)
        .args(["admin", "remove", "owner@example.com", "--data"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&last.stderr).contains("last owner"), "the last owner stays");
    let audit = rusqlite_audit(&dir.path().join("threadhold.sqlite3"));
    assert!(audit.contains(&("cli".to_owned(), "admin.create".to_owned())), "{audit:?}");
}

#[test]
fn rules_test_prints_the_decision_step_by_step() {
    let dir = tempfile::tempdir().expect("dir");
    admin(dir.path(), &["init"]);
    let run =
        |token: &str| Command::new(BIN).args(["rules", "test", token, "--data"]).arg(dir.path()).output().expect("run");
    let garbage = run("not-a-token");
    assert!(!garbage.status.success(), "a refused token exits non-zero");
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("refused (token_malformed)"));
    // A well-formed token of an issuer no rule trusts: the steps say so.
    let encode = |json: &str| {
        use std::fmt::Write;
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (mut out, bytes) = (String::new(), json.as_bytes());
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                let _ = out.write_char(char::from(table[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    };
    let token = format!(
        "{}.{}.{}",
        encode(r#"{"alg":"RS256","kid":"k1"}"#),
        encode(r#"{"iss":"https://idp.example.com","sub":"u1","exp":4102444800}"#),
        encode("signature")
    );
    let unknown = run(&token);
    let stdout = String::from_utf8_lossy(&unknown.stdout);
    assert!(stdout.contains("ok   Read the token"), "{stdout}");
    assert!(stdout.contains("FAIL Find a rule for the issuer"), "{stdout}");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("token_issuer_unknown"));
}

/// (actor, action) of every audit entry, read straight from the file.
fn rusqlite_audit(path: &Path) -> Vec<(String, String)> {
    let connection = rusqlite::Connection::open(path).expect("open");
    let mut statement = connection.prepare("SELECT actor, action FROM audit_log ORDER BY id").expect("prepare");
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_admin_commands_work_while_running_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("THREADHOLD_NOT_A_SETTING", "1")]);
    let key = create_key(dir.path());
    assert!(key.starts_with("sk_aui_proj_default_"), "{key}");
    let (status, body) = call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await;
    assert_eq!((status, body), (200, json!({"threads": []})));

    let listing = admin(dir.path(), &["keys", "list"]);
    let key_id = listing.lines().nth(1).and_then(|line| line.split_whitespace().next()).expect("key id").to_owned();
    assert!(listing.contains("active") && !listing.contains(&key), "the secret is never listed: {listing}");
    admin(dir.path(), &["keys", "revoke", &key_id]);
    // The running server follows within 2 s (the settings watch).
    within(Duration::from_secs(2), || async {
        call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await.0 == 403
    })
    .await;

    let (status, _) = call(&server.url, "", reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(status, 200);
    let health = Command::new(BIN).args(["healthcheck", "--url", &server.url]).output().expect("healthcheck");
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stderr));
    let server_url = server.url.clone();
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "exit status {exit:?}; stderr: {stderr}");
    assert!(stderr.contains("THREADHOLD_NOT_A_SETTING"), "unknown variable is reported: {stderr}");
    assert!(!stderr.contains(&key), "the key never reaches the log");
    let down = Command::new(BIN).args(["healthcheck", "--url", &server_url]).output().expect("healthcheck");
    assert!(!down.status.success(), "a stopped server is not healthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("dir");
    let key = create_key(dir.path());
    let mut server = Server::start(dir.path(), &[]);
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let (status, body) =
            call(&server.url, &key, reqwest::Method::POST, "/v1/threads", Some(json!({"title": format!("t{i}")})))
                .await;
        assert_eq!(status, 201);
        acknowledged.push(body["thread_id"].as_str().expect("id").to_owned());
    }
    let thread = acknowledged[0].clone();
    let (status, _) = call(
        &server.url,
        &key,
        reqwest::Method::POST,
        &format!("/v1/threads/{thread}/messages"),
        Some(json!({"parent_id": null, "format": "aui/v0", "content": {"role": "user", "content": []}})),
    )
    .await;
    assert_eq!(status, 201);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(server);

    let server = Server::start(dir.path(), &[]);
    let (_, body) = call(&server.url, &key, reqwest::Method::GET, "/v1/threads?limit=100", None).await;
    let mut listed: Vec<String> =
        body["threads"].as_array().expect("threads").iter().map(|t| t["id"].as_str().expect("id").to_owned()).collect();
    listed.sort();
    acknowledged.sort();
    assert_eq!(listed, acknowledged);
    let (_, body) =
        call(&server.url, &key, reqwest::Method::GET, &format!("/v1/threads/{thread}/messages"), None).await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_env_and_secret_files_are_layered() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("elsewhere.sqlite3");
    let secret = dir.path().join("db-url");
    std::fs::write(&secret, format!("sqlite://{}\n", db.display())).expect("write secret");
    let config = dir.path().join("threadhold.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nworkspace_token_ttl_secs = 77\n").expect("write config");
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("THREADHOLD_DATABASE_URL_FILE", &secret)
        .env("THREADHOLD_DATA", dir.path().join("unused"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let server = Server::spawn(command);
    let output = Command::new(BIN)
        .args(["keys", "create", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .expect("keys create");
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).expect("utf8").lines().last().expect("line").to_owned();
    let (status, body) = call(&server.url, &key, reqwest::Method::POST, "/v1/auth/tokens", None).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token");
    let payload: Value =
        serde_json::from_slice(&base64_url_decode(token.split('.').nth(1).expect("payload"))).expect("json");
    assert_eq!(
        payload["exp"].as_i64().expect("exp") - payload["iat"].as_i64().expect("iat"),
        77,
        "TOML setting applied"
    );
    assert!(db.exists(), "the database URL from the secret file was used");
    assert!(!dir.path().join("unused").exists());
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[test]
fn bad_settings_fail_with_a_message() {
    let dir = tempfile::tempdir().expect("dir");
    let output = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(dir.path())
        .env("THREADHOLD_WORKSPACE_TOKEN_TTL_SECS", "soon")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.to_lowercase().contains("workspace_token_ttl_secs"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    admin(dir.path(), &["init"]);
    let output = Command::new(BIN)
        .args(["keys", "create", "--project", "nope", "--data"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("There is no project nope"));
}

#[test]
fn rules_add_refuses_key_urls_the_server_would_never_fetch() {
    let dir = tempfile::tempdir().expect("dir");
    admin(dir.path(), &["init"]);
    let add = |jwks_url: &str, env: &[(&str, &str)]| {
        Command::new(BIN)
            .args([
                "rules",
                "add",
                "--provider",
                "clerk",
                "--issuer",
                "https://clerk.example.com",
                "--jwks-url",
                jwks_url,
            ])
            .arg("--data")
            .arg(dir.path())
            .env_remove("THREADHOLD_JWKS_ALLOW_HOSTS")
            .envs(env.iter().copied())
            .output()
            .expect("run")
    };
    for (url, reason) in [
        ("file:///etc/passwd", "must be https"),
        ("not a url", "not a valid URL"),
        ("gopher://clerk.example.com/keys", "must be https"),
        ("http://10.0.0.8/jwks", "jwks_allow_hosts"),
        ("https://169.254.169.254/latest", "not a public address"),
        ("http://localhost:8080/jwks", "jwks_allow_hosts"),
        ("https://user:pw@clerk.example.com/jwks", "credentials"),
    ] {
        let output = add(url, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url} was accepted");
        assert!(stderr.contains("jwks_url") && stderr.contains(reason), "{url}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{stderr}");
    }
    let listed = admin(dir.path(), &["rules", "list"]);
    assert_eq!(listed.lines().count(), 1, "nothing was stored: {listed}");
    // An allowlisted on-premises host may be private and plain http.
    let output = add("http://localhost:8080/jwks", &[("THREADHOLD_JWKS_ALLOW_HOSTS", "localhost")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(add("https://clerk.example.com/.well-known/jwks.json", &[]).status.success());
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").expect("comm").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

#[test]
fn running_out_of_descriptors_backs_off_and_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let address = line.trim().trim_start_matches("threadhold listening on http://").to_owned();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("log").push_str(&(line + "\n"));
        }
    });
    let pid = child.id();
    let up = Command::new(BIN).args(["healthcheck", "--url", &format!("http://{address}")]).output().expect("run");
    assert!(up.status.success(), "serving");
    // Leave the running server (its connection cap already set) only a few descriptors beyond its own.
    let limited =
        Command::new("prlimit").args(["--pid", &pid.to_string(), "--nofile=48:48"]).status().expect("prlimit");
    assert!(limited.success());
    let before = cpu_seconds(pid);
    let clients: Vec<std::net::TcpStream> =
        (0..80).map(|_| std::net::TcpStream::connect(&address).expect("the backlog takes it")).collect();
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_seconds(pid) - before;
    let failures =
        log.lock().expect("log").lines().filter(|l| l.contains("accept failed") || l.contains("accept error")).count();
    assert_eq!(failures, 1, "logged once per episode, not on every attempt:\n{}", log.lock().expect("log"));
    assert!(used < 0.5, "no busy loop while out of descriptors: {used} s of CPU in 3 s");
    // The clients leave: the server accepts again by itself.
    drop(clients);
    let started = Instant::now();
    let healthy = loop {
        let answer = Command::new(BIN)
            .args(["healthcheck", "--url", &format!("http://{address}")])
            .output()
            .expect("healthcheck");
        if answer.status.success() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(healthy, "not serving again: {}", log.lock().expect("log"));
    assert!(log.lock().expect("log").contains("accepting again"));
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill").success());
    assert!(wait_with_deadline(&mut child, Duration::from_secs(10)).success());
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_on_their_own_listener() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let metrics_address = format!("127.0.0.1:{port}");
    let server = Server::start(dir.path(), &[("THREADHOLD_METRICS_LISTEN", metrics_address.as_str())]);
    let key = create_key(dir.path());
    call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await;
    call(&server.url, "not-a-key", reqwest::Method::GET, "/v1/threads", None).await;
    let body =
        reqwest::get(format!("http://{metrics_address}/metrics")).await.expect("metrics").text().await.expect("text");
    assert!(body.contains("threadhold_http_requests_total"), "{body}");
    assert!(body.contains(r#"route="/v1/threads""#) && body.contains(r#"status="403""#), "{body}");
    assert!(!body.contains(&key), "no secrets in metrics");
    let api = reqwest::get(format!("{}/metrics", server.url)).await.expect("api");
    assert_eq!(api.status(), 404, "metrics are not on the API listener");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_from_postgresql_with_admin_commands_on_the_same_database() {
    let url = postgres_database("threadhold_bin").await;
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("THREADHOLD_DATABASE_URL", url.as_str())]);
    let output = Command::new(BIN).args(["keys", "create", "--database-url", &url]).output().expect("keys create");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).expect("utf8").lines().last().expect("line").to_owned();
    let (status, body) =
        call(&server.url, &key, reqwest::Method::POST, "/v1/threads", Some(json!({"title": "on postgres"}))).await;
    assert_eq!(status, 201, "{body}");
    let (_, listed) = call(&server.url, &key, reqwest::Method::GET, "/v1/threads", None).await;
    assert_eq!(listed["threads"][0]["title"], "on postgres");
    assert!(!dir.path().join("threadhold.sqlite3").exists(), "no SQLite file when a database URL is set");
    let (exit, _) = server.terminate();
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn export_and_import_move_a_deployment_from_sqlite_to_postgresql() {
    let dir = tempfile::tempdir().expect("dir");
    let key = create_key(dir.path());
    let server = Server::start(dir.path(), &[]);
    let (_, created) =
        call(&server.url, &key, reqwest::Method::POST, "/v1/threads", Some(json!({"title": "moving"}))).await;
    let thread = created["thread_id"].as_str().expect("id").to_owned();
    let message = json!({"parent_id": null, "format": "aui/v0", "content": {"role": "user", "content": [{"type": "text", "text": "hi"}]}});
    call(&server.url, &key, reqwest::Method::POST, &format!("/v1/threads/{thread}/messages"), Some(message)).await;
    let report = json!({"thread_id": thread, "status": "completed", "input_tokens": 7, "tags": ["a"]});
    let (status, _) = call(&server.url, &key, reqwest::Method::POST, "/v1/runs", Some(report)).await;
    assert_eq!(status, 201);
    let (_, runs_before) = call(&server.url, &key, reqwest::Method::GET, "/v1/projects/runs", None).await;
    let (_, before) =
        call(&server.url, &key, reqwest::Method::GET, &format!("/v1/threads/{thread}/messages"), None).await;
    let (exit, _) = server.terminate();
    assert!(exit.success());

    let export = dir.path().join("export.jsonl");
    admin(dir.path(), &["export", "--out", export.to_str().expect("path")]);
    let url = postgres_database("threadhold_move").await;
    let imported = Command::new(BIN)
        .args(["import", export.to_str().expect("path"), "--database-url", &url])
        .output()
        .expect("import");
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stdout).contains("Imported 1 threads, 1 messages"));

    // The deployment moved whole: the old API key works against PostgreSQL.
    let moved = Server::start(dir.path(), &[("THREADHOLD_DATABASE_URL", url.as_str())]);
    let (_, after) =
        call(&moved.url, &key, reqwest::Method::GET, &format!("/v1/threads/{thread}/messages"), None).await;
    assert_eq!(after, before, "the same messages, ids and timestamps");
    let (_, runs_after) = call(&moved.url, &key, reqwest::Method::GET, "/v1/projects/runs", None).await;
    assert_eq!(runs_after, runs_before, "run reports move column by column");
    let (exit, _) = moved.terminate();
    assert!(exit.success());
}

async fn mint_status(url: &str) -> u16 {
    let response = reqwest::Client::new().post(format!("{url}/v1/auth/tokens/anonymous")).send().await.expect("mint");
    response.status().as_u16()
}

/// Administrative changes made with the CLI reach running servers within 2 s:
/// every node reads the settings counter once a second.
async fn settings_reach(nodes: &[&Server], cli: &[&str]) {
    let run = |args: &[&str]| {
        let output = Command::new(BIN).args(args).args(cli).output().expect("cli");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let key = run(&["keys", "create", "--name", "followed"]).lines().last().expect("key").to_owned();
    for node in nodes {
        assert_eq!(mint_status(&node.url).await, 200);
        // Warm every cache: the project, the key.
        assert_eq!(call(&node.url, &key, reqwest::Method::GET, "/v1/threads", None).await.0, 200);
    }
    run(&["anonymous", "disable"]);
    for node in nodes {
        within(Duration::from_secs(2), || async { mint_status(&node.url).await == 403 }).await;
    }
    let listing = run(&["keys", "list"]);
    let key_id = listing.lines().find(|line| line.contains("followed")).and_then(|line| line.split_whitespace().next());
    run(&["keys", "revoke", key_id.expect("key id")]);
    for node in nodes {
        within(Duration::from_secs(2), || async {
            call(&node.url, &key, reqwest::Method::GET, "/v1/threads", None).await.0 == 403
        })
        .await;
    }
    run(&["anonymous", "enable"]);
    for node in nodes {
        within(Duration::from_secs(2), || async { mint_status(&node.url).await == 200 }).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_reach_a_running_sqlite_server_within_two_seconds() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE", "0")]);
    let data = dir.path().to_str().expect("path");
    settings_reach(&[&server], &["--data", data]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_reach_every_node_on_postgresql_within_two_seconds() {
    let url = postgres_database("threadhold_nodes").await;
    let env = [("THREADHOLD_DATABASE_URL", url.as_str()), ("THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE", "0")];
    let (one, two) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let first = Server::start(one.path(), &env);
    let second = Server::start(two.path(), &env);
    settings_reach(&[&first, &second], &["--database-url", &url]).await;
}

/// A stand-in for an OpenAI-compatible endpoint: answers every chat completion
/// with `title` and records the credential it was sent.
async fn fake_model(title: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let recorded = std::sync::Arc::clone(&recorded);
            async move {
                let credential = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                recorded.lock().expect("lock").push(credential);
                axum::Json(json!({"choices": [{"message": {"role": "assistant", "content": title}}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn titles_commands_configure_the_model_a_running_server_uses() {
    const MODEL_KEY: &str = "sk-binary-test-7d1e5a";
    let dir = tempfile::tempdir().expect("dir");
    let (model_url, seen) = fake_model("\"Lisbon Weekend Plan.\"").await;
    let server = Server::start(dir.path(), &[("TITLES_TEST_KEY", MODEL_KEY)]);
    let set = admin(
        dir.path(),
        &[
            "titles",
            "set",
            "--base-url",
            &model_url,
            "--model",
            "small",
            "--api-key-env",
            "TITLES_TEST_KEY",
            "--length",
            "4",
        ],
    );
    assert!(set.contains("now titles threads with small"), "{set}");
    let shown = admin(dir.path(), &["titles", "show"]);
    assert!(shown.contains("model titles on") && shown.contains("environment variable TITLES_TEST_KEY"), "{shown}");
    assert!(shown.contains("at most 4 words") && shown.contains("/v1/chat/completions (openai)"), "{shown}");

    let key = create_key(dir.path());
    let (_, created) = call(&server.url, &key, reqwest::Method::POST, "/v1/threads", Some(json!({}))).await;
    let thread = created["thread_id"].as_str().expect("thread").to_owned();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(&key)
        .header("aui-workspace-id", "ws")
        .header("accept", "text/plain")
        .json(&json!({"thread_id": thread, "assistant_id": "system/thread_title", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Plan a weekend in Lisbon"}]}
        ]}))
        .send()
        .await
        .expect("stream");
    assert_eq!(response.text().await.expect("text"), "Lisbon Weekend Plan");
    assert_eq!(*seen.lock().expect("lock"), vec![format!("Bearer {MODEL_KEY}")], "the server's variable holds the key");

    let refused = Command::new(BIN)
        .args(["titles", "set", "--base-url", &model_url, "--model", "m", "--length", "13", "--data"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("2 to 12 words"), "{refused:?}");
    let unsafe_variable = Command::new(BIN)
        .args(["titles", "set", "--base-url", &model_url, "--model", "m", "--api-key-env", "THREADHOLD_DATABASE_URL"])
        .arg("--data")
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!unsafe_variable.status.success(), "threadhold's own secrets never become a model key");
    admin(dir.path(), &["titles", "off"]);
    assert!(admin(dir.path(), &["titles", "show"]).contains("model titles off"));
    let unknown = Command::new(BIN).args(["titles", "show", "--project", "nope", "--data"]).arg(dir.path()).output();
    assert!(!unknown.expect("run").status.success());
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains(MODEL_KEY), "the model key never reaches the log");
}

/// The binary without the test runner's own `THREADHOLD_*` variables (they would be unknown settings).
fn threadhold() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("THREADHOLD_")) {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG");
    command
}

fn repository_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

#[test]
fn the_example_config_and_the_readme_table_are_generated_and_valid() {
    let generated = threadhold().args(["config", "example"]).output().expect("run");
    assert!(generated.status.success());
    let committed = std::fs::read_to_string(repository_file("docs/threadhold.example.toml")).expect("example file");
    assert_eq!(
        String::from_utf8_lossy(&generated.stdout),
        committed,
        "docs/threadhold.example.toml is stale: run scripts/regenerate-config-docs"
    );
    let check = threadhold()
        .args(["config", "check", "--config"])
        .arg(repository_file("docs/threadhold.example.toml"))
        .output()
        .expect("run");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(String::from_utf8_lossy(&check.stdout), "ok\n");
    let table = threadhold().args(["config", "example", "--format", "markdown"]).output().expect("run");
    let table = String::from_utf8(table.stdout).expect("utf-8");
    assert!(table.contains("| `jwks_allow_hosts` | list of strings, or one comma-separated string |"), "{table}");
    let reference = std::fs::read_to_string(repository_file("docs/reference/configuration.md")).expect("reference");
    assert!(
        reference.contains(&table),
        "the settings table in docs/reference is stale: run scripts/regenerate-config-docs"
    );
}

#[test]
fn config_check_names_every_problem_on_its_own_line() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("threadhold.toml");
    std::fs::write(&file, "listen_addr = \"0.0.0.0:80\"\nworkspace_token_ttl_secs = \"soon\"\njwks_allow_hosts = 5\n")
        .expect("write");
    let output = threadhold()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("THREADHOLD_LISTN", "0.0.0.0:80")
        .env("THREADHOLD_ANONYMOUS_ENABLED", "maybe")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let file = file.display().to_string();
    for expected in [
        format!("{file}: unknown setting listen_addr (did you mean listen?)"),
        "THREADHOLD_LISTN: unknown variable (did you mean THREADHOLD_LISTEN?)".to_owned(),
        format!("{file}: workspace_token_ttl_secs: invalid type: found string \"soon\", expected u64"),
        format!("{file}: jwks_allow_hosts: invalid type: found signed int `5`, expected a list of strings"),
        "THREADHOLD_ANONYMOUS_ENABLED: anonymous_enabled: invalid type: found string \"maybe\", expected a boolean"
            .to_owned(),
        "threadhold: error: 5 problem(s) in the configuration".to_owned(),
    ] {
        assert!(lines.iter().any(|line| line.starts_with(&expected)), "missing {expected:?} in:\n{stderr}");
    }
    assert_eq!(lines.len(), 6, "{stderr}");
    // Values of the right type that the server would refuse.
    let output = threadhold()
        .args(["config", "check"])
        .env("THREADHOLD_WORKSPACE_TOKEN_TTL_SECS", "7200")
        .env("THREADHOLD_METRICS_LISTEN", "9090")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("metrics_listen: \"9090\" is not host:port"), "{stderr}");
    assert!(stderr.contains("workspace_token_ttl_secs (7200) is longer than token_max_lifetime_secs"), "{stderr}");
    let clean =
        threadhold().args(["config", "check"]).env("THREADHOLD_JWKS_ALLOW_HOSTS", "a, b").output().expect("run");
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
}

#[test]
fn config_print_shows_each_source_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("threadhold.toml");
    std::fs::write(&file, "workspace_token_ttl_secs = 77\njwks_allow_hosts = [\"idp.internal\"]\n").expect("write");
    let secret = dir.path().join("db-url");
    std::fs::write(&secret, "postgres://app:hunter2@db.internal:5432/threadhold\n").expect("write");
    let output = threadhold()
        .args(["config", "print", "--data", "/srv/threadhold", "--config"])
        .arg(&file)
        .env("THREADHOLD_DATABASE_URL_FILE", &secret)
        .env("THREADHOLD_S3_SECRET_ACCESS_KEY", "s3-hunter2")
        .env("THREADHOLD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.1")
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("hunter2"), "a secret leaked:\n{stdout}");
    let line = |key: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(&format!("{key} = ")) || line.starts_with(&format!("# {key} is unset")))
            .unwrap_or_else(|| panic!("no line for {key}:\n{stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let file = file.display().to_string();
    assert_eq!(line("listen"), "listen = \"127.0.0.1:8787\" # default");
    assert_eq!(line("data"), "data = \"/srv/threadhold\" # --data");
    assert_eq!(line("workspace_token_ttl_secs"), format!("workspace_token_ttl_secs = 77 # {file}"));
    assert_eq!(line("jwks_allow_hosts"), format!("jwks_allow_hosts = [\"idp.internal\"] # {file}"));
    assert_eq!(
        line("database_url"),
        format!(
            "database_url = \"postgres://app:********@db.internal:5432/threadhold\" # THREADHOLD_DATABASE_URL_FILE ({})",
            secret.display()
        )
    );
    assert_eq!(line("s3_secret_access_key"), "s3_secret_access_key = \"********\" # THREADHOLD_S3_SECRET_ACCESS_KEY");
    assert_eq!(
        line("trusted_proxies"),
        "trusted_proxies = [\"10.0.0.0/8\", \"192.168.0.1\"] # THREADHOLD_TRUSTED_PROXIES"
    );
    assert_eq!(line("retention_days"), "# retention_days is unset # default");
}

/// A port free a moment ago (the server binds it by name, as a deployment would).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

#[test]
fn healthcheck_finds_the_configured_server_and_the_log_says_what_next() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let file = dir.path().join("threadhold.toml");
    std::fs::write(&file, format!("listen = \"0.0.0.0:{port}\"\n")).expect("write");
    let mut command = threadhold();
    command
        .args(["serve", "--config"])
        .arg(&file)
        .arg("--data")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let server = Server::spawn(command);
    let healthcheck = |args: &[&str], env: &[(&str, &str)]| {
        let output = threadhold().arg("healthcheck").args(args).envs(env.iter().copied()).output().expect("run");
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let config = file.display().to_string();
    let (ok, stderr) = healthcheck(&["--config", &config], &[]);
    assert!(ok, "from the config file's wildcard address: {stderr}");
    let (ok, stderr) = healthcheck(&[], &[("THREADHOLD_LISTEN", &format!("127.0.0.1:{port}"))]);
    assert!(ok, "from THREADHOLD_LISTEN: {stderr}");
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let (ok, stderr) = healthcheck(&["--url", &readyz], &[]);
    assert!(ok, "a /readyz URL is used as it is: {stderr}");
    let (ok, _) = healthcheck(&[], &[]);
    assert!(!ok, "the default address has no server");
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {stderr}");
    assert!(
        stderr.contains("`threadhold keys create --name NAME`")
            && stderr.contains(&format!("the dashboard (http://127.0.0.1:{port}/admin) is off"))
            && stderr.contains("`threadhold admin add EMAIL --role owner`"),
        "{stderr}"
    );
}

/// Worker threads keep their log lines until they run out of work: every
/// request's access-log line is out once the server is idle, without waiting
/// for more traffic or for the server to stop, and none is lost at shutdown.
#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_logged_once_the_server_is_idle_and_at_shutdown() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("THREADHOLD_LOG_LEVEL", "info")]);
    let key = create_key(dir.path());
    let logged = |stderr: &str| stderr.lines().filter(|line| line.contains(r#"route="/v1/threads""#)).count();
    let burst = |requests: usize| {
        let (url, key) = (server.url.clone(), key.clone());
        async move {
            let calls = (0..requests).map(|_| {
                let (url, key) = (url.clone(), key.clone());
                tokio::spawn(async move { call(&url, &key, reqwest::Method::GET, "/v1/threads", None).await.0 })
            });
            for call in calls.collect::<Vec<_>>() {
                assert_eq!(call.await.expect("request"), 200);
            }
        }
    };

    burst(300).await;
    within(Duration::from_secs(2), || async { logged(&server.stderr_so_far()) == 300 }).await;
    burst(200).await;
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "exit status {exit:?}; stderr: {stderr}");
    assert_eq!(logged(&stderr), 500, "one line per request: {stderr}");
    assert!(stderr.trim_end().ends_with("threadhold stopped"), "the last line is the last event: {stderr}");
}
