//! Bounded resources under hostile traffic: caches keyed by what clients send
//! stay within their size bound however many distinct keys arrive, and slow,
//! idle or too many connections are timed out or kept waiting (raw sockets).

mod common;

use std::time::{Duration, Instant};
use threadhold_server::service::Actor;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use threadhold_domain::ids::random_secret;
use threadhold_domain::limits::{MISSING_PROJECT_CACHE_ENTRIES, PROJECT_CACHE_ENTRIES, RULES_CACHE_ENTRIES};
use threadhold_server::{ConnectionLimits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `count` requests built by `request` (from a fresh random project id), 16 at a time.
async fn flood(server: &TestServer, count: usize, request: fn(&TestServer, &str) -> reqwest::RequestBuilder) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let requests: Vec<reqwest::RequestBuilder> =
            (0..count / 16).map(|_| request(server, &random_secret(16).to_ascii_lowercase())).collect();
        tasks.spawn(async move {
            for request in requests {
                let status = request.send().await.expect("send").status();
                assert!(status.is_client_error() || status.is_success(), "{status}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}

#[tokio::test]
async fn random_project_ids_with_an_origin_do_not_grow_the_project_cache() {
    let server = TestServer::start().await;
    let browser = server.http.get(format!("{}/healthz", server.url)).header("origin", "https://app.example");
    assert_eq!(browser.send().await.expect("send").status(), 200);
    let count = MISSING_PROJECT_CACHE_ENTRIES * 3;
    flood(&server, count, |server, id| {
        server.http.get(format!("{}/projects/{id}/healthz", server.url)).header("origin", "https://evil.example")
    })
    .await;
    let (found, missing) = server.state.projects.entries();
    assert!(found <= PROJECT_CACHE_ENTRIES, "{found}");
    assert_eq!(missing, MISSING_PROJECT_CACHE_ENTRIES, "unknown ids are bounded");
    // The real project is still served from the cache after the flood.
    assert_eq!(found, 1, "the default project was not evicted");
}

#[tokio::test]
async fn random_project_ids_with_a_provider_token_do_not_grow_the_rules_cache() {
    let server = TestServer::start().await;
    let count = RULES_CACHE_ENTRIES * 2 + 64;
    flood(&server, count, |server, id| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"https://{id}.example","sub":"u","exp":9999999999}}"#));
        server
            .http
            .get(format!("{}/projects/{id}/v1/threads", server.url))
            .bearer_auth(format!("{header}.{claims}.c2ln"))
    })
    .await;
    let (with_rules, without) = server.state.verifier.cached_projects();
    assert_eq!(with_rules, 0);
    assert_eq!(without, RULES_CACHE_ENTRIES, "bounded");
}

/// A server with short connection timeouts (and the given cap).
async fn strict_server(max_connections: usize) -> TestServer {
    TestServer::start_with(ServerConfig {
        connections: ConnectionLimits {
            header_timeout: Duration::from_millis(600),
            keep_alive: Duration::from_millis(600),
            body_timeout: Duration::from_millis(600),
            max_connections,
        },
        ..ServerConfig::default()
    })
    .await
}

fn address(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// True when the server closed the connection within `within` (EOF or reset; data read first is skipped).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Reads one response (head and a `Content-Length` body) as text.
async fn response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {text:?}");
        received.extend_from_slice(&buffer[..n]);
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn headers_that_never_finish_are_cut_off() {
    let server = strict_server(100).await;
    // Half a request line, then nothing.
    let mut half = TcpStream::connect(address(&server)).await.expect("connect");
    half.write_all(b"GET /healthz HT").await.expect("write");
    // Nothing at all.
    let mut silent = TcpStream::connect(address(&server)).await.expect("connect");
    // Header lines trickling in, each well within the timeout, never ending.
    let mut trickle = TcpStream::connect(address(&server)).await.expect("connect");
    trickle.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    let trickling = tokio::spawn(async move {
        for i in 0..20 {
            if trickle.write_all(format!("X-{i}: y\r\n").as_bytes()).await.is_err() {
                return (trickle, true);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        (trickle, false)
    });
    let started = Instant::now();
    assert!(closed_within(&mut half, Duration::from_secs(3)).await, "half-sent request");
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await, "silent connection");
    let (mut trickle, write_failed) = trickling.await.expect("task");
    assert!(write_failed || closed_within(&mut trickle, Duration::from_millis(100)).await, "trickled headers");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A client that sends its request in time is served as ever.
    let mut prompt = TcpStream::connect(address(&server)).await.expect("connect");
    prompt.write_all(HEALTH).await.expect("write");
    assert!(response(&mut prompt).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_kept() {
    let server = strict_server(100).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    // Requests within the keep-alive time reuse the connection, beyond the header timeout in total.
    for _ in 0..4 {
        stream.write_all(HEALTH).await.expect("write");
        assert!(response(&mut stream).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Then idle: closed.
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_stalled_body_ends_with_408() {
    let server = strict_server(100).await;
    let head = format!(
        "POST /v1/threads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nAui-Workspace-Id: ws\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        server.api_key
    );
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let answer = response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await, "the connection is not reused");
    // The same for an upload to the local store.
    let presigned = server
        .workspace("ws")
        .post("/v1/files/attachments/generate-presigned-upload-url", serde_json::json!({"filename": "a.txt"}))
        .await;
    let signed = presigned.expect(201)["signedUrl"].as_str().expect("url").to_owned();
    let path = signed.trim_start_matches(&server.url);
    let mut upload = TcpStream::connect(address(&server)).await.expect("connect");
    let head =
        format!("PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nhello");
    upload.write_all(head.as_bytes()).await.expect("write");
    let answer = response(&mut upload).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_and_idle_ones_make_room() {
    let server = strict_server(4).await;
    // Four clients hold every slot with half-sent requests: the fifth waits in the backlog.
    let mut holders = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
        stream.write_all(b"GET /healthz HT").await.expect("write");
        holders.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(address(&server)).await.expect("the backlog takes it");
    waiting.write_all(HEALTH).await.expect("write");
    let mut buffer = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buffer)).await;
    assert!(early.is_err(), "not served while the cap is reached");
    // The holders time out; the waiting client is served.
    assert!(response(&mut waiting).await.starts_with("HTTP/1.1 200"));

    // Idle keep-alive connections are closed for a newcomer at once.
    let server = TestServer::start_with(ServerConfig {
        connections: ConnectionLimits { max_connections: 4, ..ConnectionLimits::default() },
        ..ServerConfig::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
        stream.write_all(HEALTH).await.expect("write");
        response(&mut stream).await;
        idle.push(stream);
    }
    let started = Instant::now();
    let mut newcomer = TcpStream::connect(address(&server)).await.expect("connect");
    newcomer.write_all(HEALTH).await.expect("write");
    assert!(response(&mut newcomer).await.starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let store: std::sync::Arc<dyn threadhold_store::Store> =
        std::sync::Arc::new(threadhold_store::SqliteStore::open(&dir.path().join("db.sqlite3")).await.expect("store"));
    threadhold_server::service::projects::bootstrap(store.as_ref()).await.expect("bootstrap");
    let key =
        threadhold_server::service::keys::create(store.as_ref(), &Actor::Cli, "default", "k", None).await.expect("key");
    let config = ServerConfig {
        attachments: threadhold_server::AttachmentBackend::Local(dir.path().join("files")),
        ..ServerConfig::default()
    };
    let state = threadhold_server::AppState::new(store, config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threadhold_server::launch(state, listener, async move {
        let _ = stopped.await;
    }));
    let mut idle = TcpStream::connect(address).await.expect("connect");
    idle.write_all(HEALTH).await.expect("write");
    response(&mut idle).await;
    // A request whose body is still on its way when shutdown begins.
    let body = r#"{"title":"finished during shutdown"}"#;
    let head = format!(
        "POST /v1/threads HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nAui-Workspace-Id: ws\r\n\
         Content-Length: {}\r\n\r\n",
        key.secret,
        body.len()
    );
    let mut busy = TcpStream::connect(address).await.expect("connect");
    busy.write_all(head.as_bytes()).await.expect("write");
    busy.write_all(&body.as_bytes()[..5]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).expect("stop");
    assert!(closed_within(&mut idle, Duration::from_secs(2)).await, "idle connections close at once");
    busy.write_all(&body.as_bytes()[5..]).await.expect("write");
    assert!(response(&mut busy).await.starts_with("HTTP/1.1 201"));
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("drained").expect("task").expect("served");
    assert!(TcpStream::connect(address).await.is_err(), "no longer listening");
}

/// A thread with about 18 MB of messages (far more than the socket buffers on both sides
/// hold) and the raw request that lists them.
async fn large_listing(server: &TestServer) -> String {
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let text = "x".repeat(300_000);
    for _ in 0..60 {
        ws.add_message(&thread, None, "user", &text).await;
    }
    format!(
        "GET /v1/threads/{thread}/messages HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nAui-Workspace-Id: ws\r\n\r\n",
        server.api_key
    )
}

/// Reads until the server closes (or `pause` between reads), returning the byte count.
async fn read_all(stream: &mut TcpStream, pause: Duration, until: usize) -> usize {
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    while received < until {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the server neither sent nor closed"),
        }
        tokio::time::sleep(pause).await;
    }
    received
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_dropped() {
    let server = TestServer::start_with(ServerConfig {
        connections: ConnectionLimits { body_timeout: Duration::from_millis(600), ..ConnectionLimits::default() },
        ..ServerConfig::default()
    })
    .await;
    let request = large_listing(&server).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    // Read nothing for a while, then everything that comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = read_all(&mut stream, Duration::ZERO, usize::MAX).await;
    assert!(received < 18_000_000, "the stalled response was cut off: {received} bytes arrived");
}

#[tokio::test]
async fn a_slow_but_steady_reader_gets_the_whole_response() {
    // The keep-alive timer must not run while a response is still being written.
    let server = TestServer::start_with(ServerConfig {
        connections: ConnectionLimits {
            keep_alive: Duration::from_millis(300),
            header_timeout: Duration::from_millis(300),
            ..ConnectionLimits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let request = large_listing(&server).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let started = Instant::now();
    let received = read_all(&mut stream, Duration::from_millis(5), 18_000_000).await;
    assert!(received >= 18_000_000, "only {received} bytes arrived in {:?}", started.elapsed());
    assert!(started.elapsed() > Duration::from_millis(300), "the reading took longer than the keep-alive time");
}
