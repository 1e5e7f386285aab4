//! The connection loop: HTTP/1.1 over the listener with hyper, with the limits
//! a server facing the open internet needs and `axum::serve` does not offer.
//!
//! - A request's headers must arrive within `header_timeout`, counted from the
//!   connection's start (first request) or from the request's first byte.
//! - A connection waiting for its next request is closed after `keep_alive`.
//! - A request body that pauses for `body_timeout` ends the request with `408`,
//!   and a response the client stops reading for as long ends the connection.
//! - At most `max_connections` are served at once; more wait in the listen
//!   backlog, and while the cap is reached idle keep-alive connections are
//!   closed to make room.
//! - Accept errors (`EMFILE` when the process runs out of descriptors) back off
//!   exponentially instead of retrying at once, and are logged once per episode.
//!
//! Shutdown stops accepting, lets every connection finish the request it is
//! serving (idle ones close at once) and returns when all are gone.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tower::{Service, ServiceExt};

/// Limits on client connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Longest time to send a request's headers (from the connection's start or the request's first byte).
    pub header_timeout: Duration,
    /// A connection with no request in progress is closed after this long without a new one.
    pub keep_alive: Duration,
    /// Longest pause while a request body is read, or while a response waits for the client to read it.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// Descriptors kept free for everything but client connections (database, files, key fetches).
const RESERVED_DESCRIPTORS: usize = 256;
/// Accept errors back off from this to [`ACCEPT_BACKOFF_MAX`], doubling.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connection cap actually used: the configured one, lowered to fit the
/// process's open-file limit (read from `/proc/self/limits` where there is one).
pub fn effective_max_connections(configured: usize) -> usize {
    let configured = configured.clamp(1, u32::MAX as usize);
    let Some(soft_limit) = open_file_limit() else { return configured };
    let fitting = soft_limit.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    if fitting < configured {
        tracing::warn!(
            configured,
            open_file_limit = soft_limit,
            used = fitting,
            "http_max_connections lowered to fit the open-file limit (raise it with ulimit -n or LimitNOFILE)"
        );
    }
    configured.min(fitting)
}

fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let max_connections = effective_max_connections(limits.max_connections);
    let slots = Arc::new(Semaphore::new(max_connections));
    let pressure = Arc::new(Notify::new());
    let (stop, stopping) = watch::channel(false);
    let limits = Arc::new(limits);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    // Since when, and how often, accepting has been failing.
    let mut failing: Option<(Instant, u64)> = None;
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap, idle keep-alive connections are asked to make room.
        let permit = loop {
            if let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                break Some(permit);
            }
            pressure.notify_waiters();
            tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => break permit.ok(),
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = &mut shutdown => break None,
            }
        };
        let Some(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of descriptors or memory: wait for some to be released instead of spinning.
                let (_, count) = failing.get_or_insert((Instant::now(), 0));
                *count += 1;
                if *count == 1 {
                    tracing::error!(%error, "accept failed; backing off");
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if let Some((since, count)) = failing.take() {
            tracing::warn!(failures = count, seconds = since.elapsed().as_secs(), "accepting again");
        }
        backoff = ACCEPT_BACKOFF_MIN;
        let _ = stream.set_nodelay(true);
        let connection =
            serve_connection(stream, peer, app.clone(), Arc::clone(&limits), stopping.clone(), Arc::clone(&pressure));
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all drained.
    let _ = slots.acquire_many(u32::try_from(max_connections).unwrap_or(u32::MAX)).await;
    Ok(())
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No byte of the next request yet (keep-alive).
    Waiting,
    /// Receiving a request's headers.
    Receiving,
    /// A request is being served (until its response has been handed to the socket).
    Busy,
}

struct State {
    phase: Phase,
    since: Instant,
    /// When a write last made progress: a response is still on its way after
    /// hyper took its last frame, so idleness counts from here too.
    last_write: Instant,
    /// Since when a write has been waiting for the client to read.
    write_blocked: Option<Instant>,
}

/// What a connection is doing, shared by its socket, its service and its watchdog.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Self> {
        let now = Instant::now();
        let state = State { phase: Phase::Receiving, since: now, last_write: now, write_blocked: None };
        Arc::new(Activity { state: Mutex::new(state), changed: Notify::new() })
    }

    fn with<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        change(&mut self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn enter(&self, phase: Phase) {
        self.with(|state| {
            state.phase = phase;
            state.since = Instant::now();
        });
        self.changed.notify_one();
    }

    fn bytes_read(&self) {
        let started = self.with(|state| {
            let waiting = state.phase == Phase::Waiting;
            if waiting {
                state.phase = Phase::Receiving;
                state.since = Instant::now();
            }
            waiting
        });
        if started {
            self.changed.notify_one();
        }
    }

    fn write_progress(&self, blocked: bool) {
        let newly_blocked = self.with(|state| {
            if !blocked {
                state.last_write = Instant::now();
                state.write_blocked = None;
                return false;
            }
            let newly = state.write_blocked.is_none();
            state.write_blocked.get_or_insert_with(Instant::now);
            newly
        });
        if newly_blocked {
            self.changed.notify_one();
        }
    }

    /// Between requests with nothing left to write.
    fn is_idle(&self) -> bool {
        self.with(|state| state.phase == Phase::Waiting && state.write_blocked.is_none())
    }

    /// When the connection has to go unless something happens first.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.with(|state| {
            let phase = match state.phase {
                Phase::Waiting if state.write_blocked.is_some() => None,
                Phase::Waiting => Some(state.since.max(state.last_write) + limits.keep_alive),
                Phase::Receiving => Some(state.since + limits.header_timeout),
                Phase::Busy => None,
            };
            let write = state.write_blocked.map(|at| at + limits.body_timeout);
            match (phase, write) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        })
    }
}

async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    limits: Arc<ConnectionLimits>,
    mut stopping: watch::Receiver<bool>,
    pressure: Arc<Notify>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let activity = Activity::new();
    let io = TokioIo::new(Watched { io: stream, activity: Arc::clone(&activity) });
    let service = {
        let activity = Arc::clone(&activity);
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |request: Request<Incoming>| {
            activity.enter(Phase::Busy);
            let mut request = request.map(|body| {
                if body.is_end_stream() { Body::new(body) } else { Body::new(TimedBody::new(body, body_timeout)) }
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            let done = RequestDone(Arc::clone(&activity));
            async move {
                let response = app.oneshot(request).await.unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(response.map(|body| Finishing { body, _done: done }))
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(&limits);
        let sleep = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = sleep => {
                // Timed out: a slow or idle client. The socket closes with the connection.
                if activity.deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that timed out");
                    return;
                }
            }
            () = activity.changed.notified() => {}
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_ok() {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = pressure.notified() => {
                if activity.is_idle() {
                    return;
                }
            }
        }
    }
}

/// Marks the end of a request when its response body is done (or dropped).
struct RequestDone(Arc<Activity>);

impl Drop for RequestDone {
    fn drop(&mut self) {
        self.0.enter(Phase::Waiting);
    }
}

/// A response body that reports its end to the connection.
struct Finishing {
    body: Body,
    _done: RequestDone,
}

impl HttpBody for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails with [`BodyTimeout`] when the client pauses too long.
struct TimedBody {
    body: Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        TimedBody { body, timeout, sleep: Box::pin(tokio::time::sleep(timeout)) }
    }
}

/// The client paused longer than the body timeout while sending a body.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no part of the request body for {0:?}")]
pub struct BodyTimeout(Duration);

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// True when `error` (or one of its causes) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTimeout>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// The socket, reporting reads and stalled writes to the connection's [`Activity`].
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.write_progress(result.is_pending());
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.write_progress(result.is_pending());
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
