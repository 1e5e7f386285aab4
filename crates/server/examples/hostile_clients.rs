//! Hostile traffic against a running threadhold on loopback, to measure what
//! it costs the server (issue 8): resident memory and open file descriptors of
//! the server process, read from `/proc/<pid>`, before and after.
//!
//! ```sh
//! cargo build --release --bin threadhold
//! target/release/threadhold serve --listen 127.0.0.1:8787 --data /tmp/th &
//! cargo run --release -p threadhold-server --example hostile_clients -- <mode> <pid> [count]
//! ```
//!
//! Modes (the address is `THREADHOLD_URL`, default `127.0.0.1:8787`; loopback only):
//! - `projects N`: `GET /projects/<random id>/healthz` with an `Origin`, N times (the project cache).
//! - `rules N`: `GET /projects/<random id>/v1/threads` with a JWT naming an issuer (the rules cache).
//! - `slow N`: N connections that send half a request line and then nothing; reports how many
//!   the server still holds open after 5, 15 and 30 s, and whether `/healthz` still answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 64;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(pid)) = (args.first(), args.get(1)) else {
        return Err("usage: hostile_clients projects|rules|slow <server pid> [count]".into());
    };
    let count: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let address: SocketAddr = std::env::var("THREADHOLD_URL").unwrap_or_else(|_| "127.0.0.1:8787".into()).parse()?;
    if !address.ip().is_loopback() {
        return Err("hostile traffic goes to loopback only".into());
    }
    report(pid, "before");
    let started = Instant::now();
    match mode.as_str() {
        "projects" => flood(address, count, |id| project_request(&id)).await?,
        "rules" => flood(address, count, |id| rules_request(&id)).await?,
        "slow" => slow(address, pid, count).await?,
        other => return Err(format!("unknown mode {other}").into()),
    }
    println!("{mode}: {count} in {:.1} s", started.elapsed().as_secs_f64());
    report(pid, "after");
    Ok(())
}

/// VmRSS and the number of open descriptors of the server.
fn report(pid: &str, label: &str) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap_or("VmRSS: ?").trim().to_owned();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|dir| dir.count()).unwrap_or(0);
    println!("{label}: {rss}, {fds} open fds");
}

fn random_id() -> String {
    threadhold_domain::ids::random_secret(20).to_ascii_lowercase()
}

fn project_request(id: &str) -> String {
    format!("GET /projects/{id}/healthz HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n")
}

fn rules_request(id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"https://idp-{id}.example","sub":"u","exp":9999999999}}"#));
    let token = format!("{header}.{claims}.c2ln");
    format!("GET /projects/{id}/v1/threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
}

/// `count` requests over keep-alive connections, each with a fresh random id.
async fn flood(address: SocketAddr, count: usize, request: fn(String) -> String) -> std::io::Result<()> {
    let per_connection = count.div_ceil(CONNECTIONS);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await?;
            let mut buffer = Vec::with_capacity(4096);
            for _ in 0..per_connection {
                stream.write_all(request(random_id()).as_bytes()).await?;
                read_response(&mut stream, &mut buffer).await?;
            }
            Ok::<(), std::io::Error>(())
        }));
    }
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// Reads one response (headers and a `Content-Length` body).
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Opens `count` connections that each send half a request line, then watches them.
async fn slow(address: SocketAddr, pid: &str, count: usize) -> std::io::Result<()> {
    let mut held = Vec::new();
    let mut refused = 0usize;
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(address)).await {
            Ok(Ok(mut stream)) => {
                let _ = stream.write_all(b"GET /healthz HT").await;
                held.push(stream);
            }
            _ => refused += 1,
        }
    }
    println!("opened {} half-sent requests ({refused} not connected)", held.len());
    let started = Instant::now();
    for mark in [5u64, 15, 30] {
        tokio::time::sleep(Duration::from_secs(mark).saturating_sub(started.elapsed())).await;
        let mut open = 0;
        for stream in &mut held {
            let mut byte = [0u8; 1];
            // Closed by the server: EOF (or a reset); still held: the read times out.
            if let Err(_elapsed) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
                open += 1;
            }
        }
        let health = health(address).await;
        report(pid, &format!("after {mark} s: {open} still open, /healthz {health}"));
    }
    Ok(())
}

async fn health(address: SocketAddr) -> String {
    let started = Instant::now();
    let attempt = async {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
        let mut buffer = Vec::new();
        read_response(&mut stream, &mut buffer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buffer[..12.min(buffer.len())]).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(status)) => format!("answered {status:?} in {} ms", started.elapsed().as_millis()),
        Ok(Err(error)) => format!("failed: {error}"),
        Err(_) => "timed out after 3 s".to_owned(),
    }
}
