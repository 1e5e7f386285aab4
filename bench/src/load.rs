//! The load generator: closed-loop keep-alive connections, each sending its
//! next request as soon as the previous answer is read (like `wrk`), on a few
//! generator threads with a single-threaded runtime each. Statistics are taken
//! in windows, so a benchmark discards its warm-up window and a soak run
//! reports every 10 s from the same connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http::{Connection, Request};

/// What the connections send.
pub enum Requests {
    /// Connection `i` sends `requests[i % len]` over and over.
    Repeat(Vec<Request>),
    /// Each request is sent once, by whichever connection is free; connections stop when all are sent.
    Once(Vec<Request>),
}

impl Requests {
    pub fn repeat(request: Request) -> Requests {
        Requests::Repeat(vec![request])
    }
}

/// Which statuses count as the expected answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Success,
    ClientError,
    /// Anything but a 5xx (mixed traffic where refusals are fine, e.g. 429).
    NotServerError,
}

impl Expect {
    pub fn accepts(self, status: u16) -> bool {
        match self {
            Expect::Success => (200..300).contains(&status),
            Expect::ClientError => (400..500).contains(&status),
            Expect::NotServerError => (100..500).contains(&status),
        }
    }
}

pub struct LoadSpec {
    pub address: SocketAddr,
    pub connections: usize,
    pub requests: Requests,
    pub expect: Expect,
    /// Generator threads; one is enough below ~60k requests/s on this kind of machine.
    pub threads: usize,
}

/// What happened in one window.
#[derive(Debug, Default)]
pub struct Window {
    pub latencies_us: Vec<u32>,
    pub expected: u64,
    pub unexpected: u64,
    pub io_errors: u64,
    /// The first unexpected status seen in the window.
    pub unexpected_status: Option<u16>,
    pub elapsed: Duration,
}

impl Window {
    fn absorb(&mut self, other: Window) {
        self.latencies_us.extend(other.latencies_us);
        self.expected += other.expected;
        self.unexpected += other.unexpected;
        self.io_errors += other.io_errors;
        self.unexpected_status = self.unexpected_status.or(other.unexpected_status);
    }

    /// Appends a later window.
    pub fn extend(&mut self, later: Window) {
        self.elapsed += later.elapsed;
        self.absorb(later);
    }

    pub fn requests(&self) -> u64 {
        self.expected + self.unexpected
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn errors(&self) -> u64 {
        self.unexpected + self.io_errors
    }

    /// Latency percentiles in milliseconds; sorts the samples.
    pub fn percentiles(&mut self, quantiles: &[f64]) -> Vec<f64> {
        self.latencies_us.sort_unstable();
        quantiles.iter().map(|q| percentile(&self.latencies_us, *q)).collect()
    }
}

/// The `q` quantile (0..=1) of sorted microsecond samples, in milliseconds.
pub fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted_us[rank.min(sorted_us.len() - 1)]) / 1000.0
}

struct Shared {
    address: SocketAddr,
    requests: Requests,
    expect: Expect,
    next_once: AtomicUsize,
    /// Answers read since the start, expected or not.
    completed: AtomicU64,
    stop: AtomicBool,
    running: AtomicUsize,
    windows: Vec<Mutex<Window>>,
    /// Expected answers since the start, never reset (the acknowledged writes).
    acknowledged: AtomicU64,
}

/// A running load; stops its connections when dropped.
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    window_started: Instant,
}

impl Load {
    pub fn start(spec: LoadSpec) -> Load {
        let connections = spec.connections.max(1);
        let shared = Arc::new(Shared {
            address: spec.address,
            requests: spec.requests,
            expect: spec.expect,
            next_once: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            running: AtomicUsize::new(connections),
            windows: (0..connections).map(|_| Mutex::new(Window::default())).collect(),
            acknowledged: AtomicU64::new(0),
        });
        let thread_count = spec.threads.clamp(1, connections);
        let threads = (0..thread_count)
            .map(|thread| {
                let shared = shared.clone();
                let mine: Vec<usize> = (thread..connections).step_by(thread_count).collect();
                std::thread::Builder::new()
                    .name(format!("loadgen-{thread}"))
                    .spawn(move || generator_thread(shared, mine))
                    .expect("spawning a generator thread")
            })
            .collect();
        Load { shared, threads, window_started: Instant::now() }
    }

    /// Everything since the last window; starts the next one.
    pub fn take_window(&mut self) -> Window {
        let mut total = Window::default();
        for window in &self.shared.windows {
            let taken = std::mem::take(&mut *window.lock().unwrap_or_else(PoisonError::into_inner));
            total.absorb(taken);
        }
        let now = Instant::now();
        total.elapsed = now - self.window_started;
        self.window_started = now;
        total
    }

    /// Waits `length` (or until every connection finished a `Once` list), then takes the window.
    pub async fn window(&mut self, length: Duration) -> Window {
        self.window_of(length, u64::MAX).await
    }

    /// Like [`Load::window`], but also ends once `requests` answers were read since the start.
    pub async fn window_of(&mut self, length: Duration, requests: u64) -> Window {
        let deadline = self.window_started + length;
        while Instant::now() < deadline && !self.finished() && self.shared.completed.load(Ordering::Relaxed) < requests
        {
            tokio::time::sleep(Duration::from_millis(10).min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        self.take_window()
    }

    pub fn finished(&self) -> bool {
        self.shared.running.load(Ordering::Relaxed) == 0
    }

    /// Expected answers since the start (e.g. acknowledged writes).
    pub fn acknowledged(&self) -> u64 {
        self.shared.acknowledged.load(Ordering::Relaxed)
    }

    /// Stops the connections and waits for the generator threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn generator_thread(shared: Arc<Shared>, connections: Vec<usize>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("generator runtime");
    runtime.block_on(async move {
        let tasks: Vec<_> = connections.into_iter().map(|index| tokio::spawn(drive(shared.clone(), index))).collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// One connection's loop; reconnects after errors and `Connection: close`.
async fn drive(shared: Arc<Shared>, index: usize) {
    let mut connection: Option<Connection> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let request = match &shared.requests {
            Requests::Repeat(list) => &list[index % list.len()],
            Requests::Once(list) => match list.get(shared.next_once.fetch_add(1, Ordering::Relaxed)) {
                Some(request) => request,
                None => break,
            },
        };
        let mut open = match connection.take() {
            Some(open) => open,
            None => match Connection::connect(shared.address).await {
                Ok(open) => open,
                Err(_) => {
                    record_io_error(&shared, index);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let result = open.send(request, false).await;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok(response) => {
                shared.completed.fetch_add(1, Ordering::Relaxed);
                let expected = shared.expect.accepts(response.status);
                {
                    let mut window = shared.windows[index].lock().unwrap_or_else(PoisonError::into_inner);
                    window.latencies_us.push(micros);
                    if expected {
                        window.expected += 1;
                    } else {
                        window.unexpected += 1;
                        window.unexpected_status.get_or_insert(response.status);
                    }
                }
                if expected {
                    shared.acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                if !response.closing {
                    connection = Some(open);
                }
            }
            Err(_) => record_io_error(&shared, index),
        }
    }
    shared.running.fetch_sub(1, Ordering::Relaxed);
}

fn record_io_error(shared: &Shared, index: usize) {
    shared.windows[index].lock().unwrap_or_else(PoisonError::into_inner).io_errors += 1;
}
