//! Readings from `/proc`: a process's memory, open files and CPU time, the
//! machine's busy CPU time and load. Linux only, like the harness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Kernel clock ticks per second for `/proc` CPU times (USER_HZ, 100 on every Linux the harness runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// A `VmRSS:`-style line of `/proc/PID/status`, in bytes.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory now.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Open file descriptors (sockets, database files, …).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// User plus system CPU seconds a process used so far (its threads included).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// CPU seconds of a process and its direct children (PostgreSQL's postmaster and its backends).
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let mut total = cpu_seconds(root).unwrap_or(0.0);
    let Ok(entries) = std::fs::read_dir("/proc") else { return total };
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if parent_of(pid) == Some(root) {
            total += cpu_seconds(pid).unwrap_or(0.0);
        }
    }
    total
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds all cores spent outside idle and I/O wait so far.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4)?;
    Some((total - idle) / TICKS_PER_SECOND)
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// CPU counters at one instant: the measured server, its database server (PostgreSQL), this
/// harness (the load generator), the whole machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSnapshot {
    pub server: f64,
    pub database: f64,
    pub harness: f64,
    pub machine: f64,
}

impl CpuSnapshot {
    pub fn take(server_pid: u32, database_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            server: cpu_seconds(server_pid).unwrap_or(0.0),
            database: database_pid.map_or(0.0, tree_cpu_seconds),
            harness: cpu_seconds(std::process::id()).unwrap_or(0.0),
            machine: machine_busy_seconds().unwrap_or(0.0),
        }
    }

    pub fn since(self, earlier: CpuSnapshot) -> CpuSnapshot {
        CpuSnapshot {
            server: self.server - earlier.server,
            database: self.database - earlier.database,
            harness: self.harness - earlier.harness,
            machine: self.machine - earlier.machine,
        }
    }

    /// The generator's part of the CPU this benchmark used (generator, server, database).
    pub fn generator_share(&self) -> Option<f64> {
        let total = self.harness + self.server + self.database;
        (total > 0.0).then(|| self.harness / total)
    }
}

/// Samples a process's resident memory every 50 ms and keeps the peak since the last reset.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss_bytes(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (sampled, stopped) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    sampled.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssSampler { peak, stop }
    }

    /// The peak since the last call, then starts a new period at the current value.
    pub fn take_peak(&self, pid: u32) -> u64 {
        let now = rss_bytes(pid).unwrap_or(0);
        self.peak.swap(now, Ordering::Relaxed).max(now)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
