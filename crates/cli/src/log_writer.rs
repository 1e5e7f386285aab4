//! Where log lines go: stderr, batched on the runtime's worker threads.
//!
//! Each access-log line used to be a `write` to stderr of its own: 6% of the
//! server's CPU on a list of one thread (perf), beside 5% for formatting it. A worker thread now keeps its lines
//! and writes them in one go when it runs out of work (tokio's park hook) or
//! when they fill [`FLUSH_AT_BYTES`]: under load many lines share one write,
//! and a quiet server still writes each line as soon as its request is done.
//! Every other thread (the main thread, the blocking pool, the SQLite writer)
//! writes its lines straight away. tracing-appender's non-blocking writer was
//! measured too: a channel send and a wake-up of its writer thread per line
//! made short requests slower on two cores, not faster.

use std::cell::RefCell;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of lines after which a busy worker writes them without waiting to run out of work.
const FLUSH_AT_BYTES: usize = 16 * 1024;

thread_local! {
    /// A worker thread's lines not written yet; `None` on threads that write at once.
    static PENDING: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The runtime's park hook: writes this worker's lines, and keeps its later
/// ones until the next park (only worker threads park).
pub fn on_worker_park() {
    let _ = PENDING.try_with(|pending| {
        let mut pending = pending.borrow_mut();
        match pending.as_mut() {
            Some(lines) => write_out(lines),
            None => *pending = Some(Vec::with_capacity(FLUSH_AT_BYTES)),
        }
    });
}

/// The runtime's thread-stop hook: no line outlives its thread unwritten.
pub fn on_thread_stop() {
    let _ = PENDING.try_with(|pending| {
        if let Some(lines) = pending.borrow_mut().take().as_mut() {
            write_out(lines);
        }
    });
}

fn write_out(lines: &mut Vec<u8>) {
    if !lines.is_empty() {
        // A failed log write has nowhere better to go (as with `eprintln!`).
        let _ = io::stderr().lock().write_all(lines);
        lines.clear();
    }
}

/// The writer of the log subscriber: one `write_all` per formatted event.
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineSink;

    fn make_writer(&'a self) -> LineSink {
        LineSink
    }
}

pub struct LineSink;

impl Write for LineSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let kept = PENDING
            .try_with(|pending| match pending.try_borrow_mut().ok()?.as_mut() {
                Some(lines) => {
                    lines.extend_from_slice(bytes);
                    if lines.len() >= FLUSH_AT_BYTES {
                        write_out(lines);
                    }
                    Some(())
                }
                None => None,
            })
            .ok()
            .flatten();
        match kept {
            Some(()) => Ok(bytes.len()),
            None => io::stderr().lock().write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
