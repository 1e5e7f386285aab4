//! `threadhold-bench soak`: mixed traffic for minutes (reads, writes,
//! anonymous mints, bad tokens, slow clients trickling their headers) with the
//! server's memory, open files and latency printed every 10 s, so leaks and
//! slow drifts show as trends.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dataset::Space;
use crate::floors::unix_seconds;
use crate::http::Request;
use crate::load::{Expect, Load, LoadSpec, Requests, Window};
use crate::postgres::Cluster;
use crate::procstat::{self, CpuSnapshot};
use crate::run::{Backend, Harness, api_key_request, mint_token};
use crate::server::Server;

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Workspace tokens are minted for an hour; the loads get new ones after this.
const TOKEN_REFRESH: Duration = Duration::from_secs(50 * 60);
const SLOW_CLIENTS: usize = 16;
/// A slow client sends one byte of its header this often.
const TRICKLE_EVERY: Duration = Duration::from_millis(500);

pub struct SoakConfig {
    pub minutes: f64,
    pub backend: Backend,
    pub json: Option<PathBuf>,
}

/// One kind of traffic and its load.
struct Traffic {
    name: &'static str,
    load: Load,
    /// The part of the current sample measured on a load replaced since.
    carried: Option<Window>,
}

/// Builds the mixed traffic; called again with fresh tokens before the old ones expire.
struct TrafficSources<'a> {
    harness: &'a Harness,
    address: SocketAddr,
    api_key: &'a str,
}

impl TrafficSources<'_> {
    async fn start(&self) -> anyhow::Result<Vec<Traffic>> {
        let (address, api_key, harness) = (self.address, self.api_key, self.harness);
        let list_token = mint_token(address, api_key, Space::List).await?;
        let write_token = mint_token(address, api_key, Space::Write).await?;
        let threads = harness.config.generator_threads;
        let load = |connections: usize, requests: Requests, expect: Expect| {
            Load::start(LoadSpec { address, connections, requests, expect, threads })
        };
        let reads = vec![
            Request::get("/v1/threads?limit=20").bearer(&list_token).build(),
            api_key_request(Request::get("/v1/threads?limit=20"), api_key, Space::List.workspace()).build(),
            Request::get("/v1/threads?limit=20").bearer(&harness.provider_token(1)).build(),
        ];
        let expired = harness.provider_token_at(2, unix_seconds() - 7200);
        let bad_tokens = vec![
            Request::get("/v1/threads").bearer("not-a-token").build(),
            Request::get("/v1/threads").bearer(&expired).build(),
            Request::get("/v1/threads").bearer(&format!("{list_token}x")).build(),
        ];
        let writes = harness.write_requests(&write_token, 4, false);
        let mint = Request::post("/v1/auth/tokens/anonymous").build();
        let traffic = |name, load| Traffic { name, load, carried: None };
        Ok(vec![
            traffic("reads", load(8, Requests::Repeat(reads), Expect::Success)),
            traffic("writes", load(4, Requests::Repeat(writes), Expect::Success)),
            traffic("anon mints", load(1, Requests::repeat(mint), Expect::NotServerError)),
            traffic("bad tokens", load(2, Requests::Repeat(bad_tokens), Expect::ClientError)),
        ])
    }
}

/// One 10-second sample.
#[derive(Serialize)]
struct Sample {
    seconds: f64,
    rss_bytes: u64,
    open_fds: usize,
    server_cpu_cores: f64,
    classes: Vec<ClassSample>,
    slow_open: u64,
    slow_closed_by_server: u64,
}

#[derive(Serialize)]
struct ClassSample {
    name: &'static str,
    per_second: f64,
    p99_ms: f64,
    errors: u64,
    unexpected_status: Option<u16>,
}

pub async fn soak(mut harness: Harness, config: SoakConfig) -> anyhow::Result<()> {
    let cluster = match config.backend {
        Backend::Postgres => Some(Cluster::start(&harness.config.work)?),
        Backend::Sqlite => None,
    };
    let prepared = harness.prepare(config.backend, cluster.as_ref()).await?;
    let database_pid = prepared.database_pid;
    let options = harness.server_options(&prepared, None);
    let server = Server::start(&options).await?;
    let address = server.address;
    let sources = TrafficSources { harness: &harness, address, api_key: &prepared.api_key };
    let mut traffic = sources.start().await?;
    let mut tokens_minted = Instant::now();
    let slow = SlowClients::start(address, SLOW_CLIENTS);

    println!(
        "soak: {} min on {}, {} slow clients trickling a header byte every {} ms",
        config.minutes,
        config.backend.name(),
        SLOW_CLIENTS,
        TRICKLE_EVERY.as_millis()
    );
    print!("{:>6} {:>8} {:>5} {:>5}", "time", "RSS", "fds", "CPU");
    for class in &traffic {
        print!("  {:>22}", format!("{} req/s p99 err", class.name));
    }
    println!("  {:>14}", "slow open/closed");

    let started = Instant::now();
    let end = started + Duration::from_secs_f64(config.minutes * 60.0);
    let mut samples = Vec::new();
    let mut cpu = CpuSnapshot::take(server.pid, database_pid);
    let mut sampled = Instant::now();
    for class in &mut traffic {
        let _ = class.load.take_window();
    }
    while Instant::now() < end {
        tokio::time::sleep(SAMPLE_EVERY.min(end.saturating_duration_since(Instant::now()))).await;
        if tokens_minted.elapsed() > TOKEN_REFRESH {
            // Workspace tokens live an hour: new ones, on new connections, before they expire.
            let fresh = sources.start().await?;
            for (class, replacement) in traffic.iter_mut().zip(fresh) {
                let window = class.load.take_window();
                std::mem::replace(&mut class.load, replacement.load).stop();
                class.carried = Some(window);
            }
            tokens_minted = Instant::now();
        }
        let now = CpuSnapshot::take(server.pid, database_pid);
        let used = now.since(cpu);
        let seconds = sampled.elapsed().as_secs_f64().max(1e-3);
        (cpu, sampled) = (now, Instant::now());
        let mut sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            rss_bytes: procstat::rss_bytes(server.pid).unwrap_or(0),
            open_fds: procstat::open_fds(server.pid).unwrap_or(0),
            server_cpu_cores: used.server / seconds,
            classes: Vec::new(),
            slow_open: slow.open.load(Ordering::Relaxed),
            slow_closed_by_server: slow.closed.swap(0, Ordering::Relaxed),
        };
        for class in &mut traffic {
            let mut window = class.carried.take().unwrap_or_default();
            window.extend(class.load.take_window());
            sample.classes.push(class_sample(class.name, window));
        }
        print_sample(&sample);
        samples.push(sample);
    }
    slow.stop();
    for class in traffic {
        class.load.stop();
    }
    summarize(&samples);
    if let Some(path) = &config.json {
        std::fs::write(path, serde_json::to_string_pretty(&samples)?)?;
        println!("samples written to {}", path.display());
    }
    server.stop().await?;
    drop(cluster);
    Ok(())
}

fn class_sample(name: &'static str, mut window: Window) -> ClassSample {
    let p99 = window.percentiles(&[0.99])[0];
    ClassSample {
        name,
        per_second: window.per_second(),
        p99_ms: p99,
        errors: window.errors(),
        unexpected_status: window.unexpected_status,
    }
}

fn print_sample(sample: &Sample) {
    print!(
        "{:>5.0}s {:>8} {:>5} {:>5.2}",
        sample.seconds,
        crate::report::megabytes(sample.rss_bytes),
        sample.open_fds,
        sample.server_cpu_cores
    );
    for class in &sample.classes {
        let errors = match class.unexpected_status {
            Some(status) => format!("{}({status})", class.errors),
            None => class.errors.to_string(),
        };
        print!("  {:>8.0} {:>7.2} {:>5}", class.per_second, class.p99_ms, errors);
    }
    println!("  {:>7}/{:<6}", sample.slow_open, sample.slow_closed_by_server);
}

fn summarize(samples: &[Sample]) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else { return };
    let peak_rss = samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0);
    let peak_fds = samples.iter().map(|s| s.open_fds).max().unwrap_or(0);
    println!();
    println!(
        "RSS {} → {} (peak {}); open fds {} → {} (peak {}); server errors (5xx or I/O) in any class: {}",
        crate::report::megabytes(first.rss_bytes),
        crate::report::megabytes(last.rss_bytes),
        crate::report::megabytes(peak_rss),
        first.open_fds,
        last.open_fds,
        peak_fds,
        samples.iter().flat_map(|s| &s.classes).map(|c| c.errors).sum::<u64>()
    );
}

/// Clients that open a request and send its header one byte at a time, never finishing it.
struct SlowClients {
    stop: Arc<AtomicBool>,
    /// Connections currently open.
    open: Arc<AtomicU64>,
    /// Connections the server closed (timed out) since the last sample.
    closed: Arc<AtomicU64>,
}

impl SlowClients {
    fn start(address: SocketAddr, count: usize) -> SlowClients {
        let clients = SlowClients {
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(AtomicU64::new(0)),
        };
        for _ in 0..count {
            let (stop, open, closed) = (clients.stop.clone(), clients.open.clone(), clients.closed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(address).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    open.fetch_add(1, Ordering::Relaxed);
                    let closed_by_server = trickle(&mut stream, &stop).await;
                    open.fetch_sub(1, Ordering::Relaxed);
                    if closed_by_server {
                        closed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        clients
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Trickles a header that never ends; true when the server closed the connection (or answered).
async fn trickle(stream: &mut TcpStream, stop: &AtomicBool) -> bool {
    let head = b"GET /v1/threads HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ";
    let mut position = 0;
    let mut scratch = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            read = stream.read(&mut scratch) => {
                // EOF, a reset or an answer (e.g. 408): the server ended it.
                let _ = read;
                return true;
            }
            () = tokio::time::sleep(TRICKLE_EVERY) => {
                let byte = if position < head.len() { head[position] } else { b'a' };
                position += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    return true;
                }
            }
        }
    }
    false
}
