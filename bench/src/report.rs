//! The results: rows with their floors, the table, the issue's targets
//! checked against the rows, the JSON file and the comparison of two files.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Which row a scenario is read against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Floor {
    #[default]
    None,
    /// Requests per second ÷ the other row's.
    Throughput { scenario: String, backend: String },
    /// p50 ÷ the other row's p50 (lower is better).
    Latency { scenario: String, backend: String },
    /// (server CPU per request − the other row's) ÷ one verification of `algorithm`.
    ExtraVerification { scenario: String, backend: String, algorithm: String },
}

impl Floor {
    pub fn throughput(scenario: &str, backend: &str) -> Floor {
        Floor::Throughput { scenario: scenario.to_owned(), backend: backend.to_owned() }
    }

    pub fn latency(scenario: &str, backend: &str) -> Floor {
        Floor::Latency { scenario: scenario.to_owned(), backend: backend.to_owned() }
    }
}

/// One line of the table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Row {
    pub scenario: String,
    pub backend: String,
    /// The measured process: `threadhold`, `storage floor`, `node`; empty for rows that are not a load.
    #[serde(default)]
    pub process: String,
    pub connections: usize,
    pub requests: u64,
    pub seconds: f64,
    /// The median of `slice_rates` when the window was sliced, else requests ÷ seconds.
    pub per_second: Option<f64>,
    /// Requests per second in each slice of the measured window.
    #[serde(default)]
    pub slice_rates: Vec<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub errors: u64,
    /// Peak resident memory of the measured process during the window.
    pub peak_rss_bytes: Option<u64>,
    /// The measured process's CPU time per request.
    pub server_cpu_us: Option<f64>,
    /// PostgreSQL's CPU time per request (its postmaster and backends).
    #[serde(default)]
    pub database_cpu_us: Option<f64>,
    /// The load generator's (this harness's) CPU ÷ the CPU of generator, server and database.
    pub generator_share: Option<f64>,
    pub generator_cores: Option<f64>,
    pub floor: Floor,
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, backend: &str) -> Row {
        Row { scenario: scenario.to_owned(), backend: backend.to_owned(), ..Row::default() }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    pub started: String,
    pub mode: String,
    pub binary: String,
    pub binary_version: String,
    pub harness_commit: String,
    pub cores: usize,
    pub load_before: String,
    pub load_after: String,
    pub minutes: f64,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Database {
    pub backend: String,
    pub bytes: u64,
    pub threads: u64,
    pub messages: u64,
    pub seed_seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub backend: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub rows: Vec<Row>,
    pub databases: Vec<Database>,
    pub checks: Vec<Check>,
}

impl Report {
    fn find(&self, scenario: &str, backend: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.scenario == scenario && row.backend == backend)
    }

    /// The row's figure against its floor, and how to read it.
    pub fn floor_ratio(&self, row: &Row) -> Option<(f64, String)> {
        match &row.floor {
            Floor::None => None,
            Floor::Throughput { scenario, backend } => {
                let floor = self.find(scenario, backend)?;
                Some((row.per_second? / floor.per_second?, floor_label(scenario, backend, &row.backend)))
            }
            Floor::Latency { scenario, backend } => {
                let floor = self.find(scenario, backend)?;
                Some((row.p50_ms? / floor.p50_ms?, format!("p50 ÷ {}", floor_label(scenario, backend, &row.backend))))
            }
            Floor::ExtraVerification { scenario, backend, algorithm } => {
                let base = self.find(scenario, backend)?;
                let verification = self.find(&verify_scenario(algorithm), "-")?;
                let extra = row.server_cpu_us? - base.server_cpu_us?;
                let one = 1e6 / verification.per_second?;
                Some((extra / one, format!("CPU over ws-token ÷ 1 {algorithm}")))
            }
        }
    }

    /// The workspace-token list row (main or sweep) at the concurrency of peak
    /// throughput: the fewest connections that serve at least
    /// [`PEAK_THROUGHPUT_SHARE`] of the most requests/s any of them served (past
    /// the knee, more connections only queue). `None` unless the run measured the sweep.
    fn peak_list_row(&self, backend: &str) -> Option<&Row> {
        let prefix = format!("{LIST_WORKSPACE_TOKEN} @");
        let sweep = self.rows.iter().filter(|row| row.backend == backend && row.scenario.starts_with(&prefix));
        let rows: Vec<&Row> =
            sweep.chain(self.find(LIST_WORKSPACE_TOKEN, backend)).filter(|row| row.per_second.is_some()).collect();
        if rows.len() < 2 {
            return None;
        }
        let most = rows.iter().filter_map(|row| row.per_second).fold(0.0, f64::max);
        rows.into_iter()
            .filter(|row| row.per_second.is_some_and(|rate| rate >= most * PEAK_THROUGHPUT_SHARE))
            .min_by_key(|row| row.connections)
    }

    pub fn vs_healthz(&self, row: &Row) -> Option<f64> {
        let healthz = self.find(HEALTHZ, &row.backend)?;
        if row.scenario == HEALTHZ {
            return None;
        }
        Some(row.per_second? / healthz.per_second?)
    }

    /// A thread-list figure (threadhold's on either backend, or the Node reference's) against the
    /// storage floor at the same `limit` and the same number of connections.
    pub fn vs_storage_floor(&self, row: &Row) -> Option<f64> {
        if !matches!(row.process.as_str(), "threadhold" | "node") {
            return None;
        }
        let limit = row.scenario.split("limit=").nth(1)?.split_whitespace().next()?.parse::<u32>().ok()?;
        let floor = self.find(&storage_floor_scenario(limit), "sqlite")?;
        (floor.connections == row.connections).then_some(row.per_second? / floor.per_second?)
    }

    /// The table, then databases, checks and the issue's targets.
    pub fn print(&self) {
        println!();
        println!(
            "{:<34} {:<8} {:>5} {:>9} {:>7} {:>7}  {:<32} {:>8} {:>8} {:>8} {:>7} {:>8} {:>5} {:>6}",
            "scenario",
            "backend",
            "conns",
            "req/s",
            "p50 ms",
            "p99 ms",
            "vs floor",
            "÷storage",
            "÷healthz",
            "CPU µs/r",
            "DB µs/r",
            "peak RSS",
            "gen%",
            "errors"
        );
        for row in &self.rows {
            let floor = self.floor_ratio(row).map(|(ratio, label)| format!("{ratio:.2}× {label}")).unwrap_or_default();
            let micros = |value: Option<f64>| value.map(|us| format!("{us:.0}")).unwrap_or_default();
            println!(
                "{:<34} {:<8} {:>5} {:>9} {:>7} {:>7}  {:<32} {:>8} {:>8} {:>8} {:>7} {:>8} {:>5} {:>6}{}",
                row.scenario,
                row.backend,
                if row.connections > 0 { row.connections.to_string() } else { String::new() },
                row.per_second.map(thousands).unwrap_or_default(),
                row.p50_ms.map(millis).unwrap_or_default(),
                row.p99_ms.map(millis).unwrap_or_default(),
                floor,
                self.vs_storage_floor(row).map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_default(),
                self.vs_healthz(row).map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_default(),
                micros(row.server_cpu_us),
                micros(row.database_cpu_us),
                row.peak_rss_bytes.map(megabytes).unwrap_or_default(),
                row.generator_share.map(|share| format!("{:.0}%", share * 100.0)).unwrap_or_default(),
                row.errors,
                if row.note.is_empty() { String::new() } else { format!("  {}", row.note) },
            );
        }
        println!();
        for database in &self.databases {
            println!(
                "database {:<8} {} ({} threads, {} messages, seeded in {:.0} s)",
                database.backend,
                megabytes(database.bytes),
                thousands(database.threads as f64),
                thousands(database.messages as f64),
                database.seed_seconds
            );
        }
        for check in &self.checks {
            println!(
                "check {} [{}] {}: {}",
                if check.passed { "ok  " } else { "FAIL" },
                check.backend,
                check.name,
                check.detail
            );
        }
        println!();
        println!("targets of issue 12 (✓ met, ✗ missed, · not measured in this run):");
        for line in self.targets() {
            println!("  {line}");
        }
        let worst_share = self.rows.iter().filter_map(|row| row.generator_share).fold(0.0f64, f64::max);
        let worst_cores = self.rows.iter().filter_map(|row| row.generator_cores).fold(0.0f64, f64::max);
        println!();
        println!(
            "load generator: at most {:.0}% of the CPU a scenario used (gen%: generator ÷ generator + server + database) and {worst_cores:.2} cores; load average {} before, {} after; {} cores",
            worst_share * 100.0,
            self.meta.load_before,
            self.meta.load_after,
            self.meta.cores
        );
        println!("the run took {:.1} minutes", self.meta.minutes);
        for note in &self.meta.notes {
            println!("note: {note}");
        }
    }

    /// The targets of issue 12 that this run measured.
    pub fn targets(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for backend in ["sqlite", "postgres"] {
            if !self.rows.iter().any(|row| row.backend == backend && row.process == "threadhold") {
                continue;
            }
            let rps = |scenario: &str| self.find(scenario, backend).and_then(|row| row.per_second);
            let p50 = |scenario: &str| self.find(scenario, backend).and_then(|row| row.p50_ms);
            let p99 = |scenario: &str| self.find(scenario, backend).and_then(|row| row.p99_ms);
            let ratio =
                |scenario: &str| self.find(scenario, backend).and_then(|row| self.floor_ratio(row)).map(|r| r.0);
            let healthz = |scenario: &str| self.find(scenario, backend).and_then(|row| self.vs_healthz(row));
            let mut target = |met: Option<bool>, text: String| {
                let mark = match met {
                    Some(true) => "✓",
                    Some(false) => "✗",
                    None => "·",
                };
                lines.push(format!("{mark} [{backend}] {text}"));
            };
            if backend == "sqlite" {
                for scenario in [LIST_WORKSPACE_TOKEN, LIST_API_KEY] {
                    let value = ratio(scenario);
                    target(
                        value.map(|v| v >= 0.8),
                        format!("{scenario} ≥ 80% of the storage floor: {}", percent(value)),
                    );
                }
                let node = self.find(NODE_REFERENCE, "sqlite").and_then(|row| row.per_second);
                let times = rps(LIST_WORKSPACE_TOKEN).zip(node).map(|(ours, theirs)| ours / theirs);
                target(
                    times.map(|v| v >= 5.0),
                    format!("{LIST_WORKSPACE_TOKEN} ≥ 5× the Node reference: {}", times_text(times)),
                );
            } else {
                let value = healthz(LIST_WORKSPACE_TOKEN);
                target(
                    value.map(|v| v >= 0.12),
                    format!("{LIST_WORKSPACE_TOKEN} ≥ 12% of /healthz: {}", percent(value)),
                );
            }
            let wide = rps(LIST_LIMIT_100).zip(rps(LIST_LIMIT_1)).map(|(a, b)| a / b);
            // The storage floor's own ratio in this run: how much of the rate the rows themselves take here.
            let floor_rps = |limit| self.find(&storage_floor_scenario(limit), "sqlite").and_then(|row| row.per_second);
            let floor_wide = floor_rps(100).zip(floor_rps(1)).map(|(a, b)| a / b);
            target(
                wide.map(|v| v >= 0.4),
                format!(
                    "limit=100 ≥ 40% of limit=1: {} (the storage floor's own: {})",
                    percent(wide),
                    percent(floor_wide)
                ),
            );
            let tail = p99(LIST_WORKSPACE_TOKEN);
            target(tail.map(|v| v < 5.0), format!("{LIST_WORKSPACE_TOKEN} p99 < 5 ms: {}", ms_text(tail)));
            if let Some(peak) = self.peak_list_row(backend) {
                let tail = peak.p99_ms;
                target(
                    tail.map(|v| v < 5.0),
                    format!(
                        "{LIST_WORKSPACE_TOKEN} p99 < 5 ms at the concurrency of peak throughput (fewest connections within 5% of the most req/s): {} at {} connections ({} req/s)",
                        ms_text(tail),
                        peak.connections,
                        peak.per_second.map_or_else(|| "-".into(), thousands),
                    ),
                );
            }
            let reused = rps(LIST_WORKSPACE_TOKEN).zip(rps(LIST_PROVIDER_REUSED)).map(|(a, b)| a / b);
            target(
                reused.map(|v| v <= 1.2),
                format!("RS256 token reused within 1.2× of the workspace token: {}", times_text(reused)),
            );
            let fresh = ratio(LIST_PROVIDER_FRESH);
            target(
                fresh.map(|v| v <= 1.3),
                format!("fresh RS256 token costs ≤ 1.3 verifications more: {}", times_text(fresh)),
            );
            for durability in ["process", "power"] {
                let many = write_scenario(64, false, durability);
                if self.find(&many, backend).is_none() {
                    continue;
                }
                if durability == "process" {
                    let value = healthz(&many);
                    target(value.map(|v| v >= 0.12), format!("{many} ≥ 12% of /healthz: {}", percent(value)));
                } else {
                    let one = write_scenario(1, false, durability);
                    let value = rps(&many).zip(rps(&one)).map(|(a, b)| a / b);
                    // Where one durable commit is cheap, the default durability's rate (bound by CPU, not
                    // by syncs) caps the ratio below 10×: shown beside it.
                    let ceiling = rps(&write_scenario(64, false, "process")).zip(rps(&one)).map(|(a, b)| a / b);
                    target(
                        value.map(|v| v >= 10.0),
                        format!(
                            "{many} ≥ 10× one writer: {} (64 writers [process]: {} one [power] writer)",
                            times_text(value),
                            times_text(ceiling)
                        ),
                    );
                }
                let tail = p99(&many);
                target(tail.map(|v| v < 20.0), format!("{many} p99 < 20 ms: {}", ms_text(tail)));
            }
            for scenario in [PAGE_MIDDLE_1K, PAGE_FIRST_1M, PAGE_MIDDLE_1M] {
                let value = p50(scenario).zip(p50(PAGE_FIRST_1K)).map(|(a, b)| a / b);
                target(
                    value.map(|v| v <= 1.5),
                    format!("{scenario} p50 within 1.5× of {PAGE_FIRST_1K}: {}", times_text(value)),
                );
            }
            let search = p50(SEARCH);
            target(search.map(|v| v < 20.0), format!("{SEARCH} p50 < 20 ms: {}", ms_text(search)));
            for page in DASHBOARD_PAGES {
                if self.find(page, backend).is_some() {
                    let value = p50(page);
                    target(value.map(|v| v < 100.0), format!("{page} p50 < 100 ms: {}", ms_text(value)));
                }
            }
            let idle = self.find(IDLE_RSS, backend).and_then(|row| row.peak_rss_bytes);
            target(
                idle.map(|v| v < 30 << 20),
                format!("idle RSS < 30 MB: {}", idle.map(megabytes).unwrap_or("-".into())),
            );
            let busy = self
                .rows
                .iter()
                .filter(|row| row.backend == backend && row.process == "threadhold")
                .filter_map(|row| row.peak_rss_bytes)
                .max();
            target(
                busy.map(|v| v < 150 << 20),
                format!("RSS under load < 150 MB: {}", busy.map(megabytes).unwrap_or("-".into())),
            );
            let ready = p50(STARTUP);
            target(ready.map(|v| v < 300.0), format!("ready < 300 ms on an existing database: {}", ms_text(ready)));
        }
        lines
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?).with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// `bench/run --compare a.json b.json`: the rows of both runs side by side,
/// with each run's ratio to its own floors (robust to a busier machine).
pub fn compare(a: &Report, b: &Report) {
    println!("a: {} ({}), {}, load {}", a.meta.binary, a.meta.binary_version, a.meta.started, a.meta.load_before);
    println!("b: {} ({}), {}, load {}", b.meta.binary, b.meta.binary_version, b.meta.started, b.meta.load_before);
    println!();
    println!(
        "{:<34} {:<8} {:>9} {:>9} {:>6}  {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7}  {:>8} {:>8}",
        "scenario",
        "backend",
        "a req/s",
        "b req/s",
        "b/a",
        "a p50",
        "b p50",
        "a p99",
        "b p99",
        "a floor×",
        "b floor×",
        "a RSS",
        "b RSS"
    );
    let mut b_rows: BTreeMap<(&str, &str), &Row> =
        b.rows.iter().map(|row| ((row.scenario.as_str(), row.backend.as_str()), row)).collect();
    let text = |value: Option<f64>, format: fn(f64) -> String| value.map(format).unwrap_or_else(|| "-".into());
    let ratio = |value: f64| format!("{value:.2}");
    let print = |scenario: &str, backend: &str, x: Option<&Row>, y: Option<&Row>| {
        let rps = |row: Option<&Row>| row.and_then(|r| r.per_second);
        let floor = |report: &Report, row: Option<&Row>| row.and_then(|r| report.floor_ratio(r)).map(|(v, _)| v);
        let rss = |row: Option<&Row>| row.and_then(|r| r.peak_rss_bytes).map(megabytes).unwrap_or_else(|| "-".into());
        println!(
            "{:<34} {:<8} {:>9} {:>9} {:>6}  {:>7} {:>7}  {:>7} {:>7}  {:>7} {:>7}  {:>8} {:>8}",
            scenario,
            backend,
            text(rps(x), thousands),
            text(rps(y), thousands),
            text(rps(x).zip(rps(y)).map(|(a, b)| b / a), ratio),
            text(x.and_then(|r| r.p50_ms), millis),
            text(y.and_then(|r| r.p50_ms), millis),
            text(x.and_then(|r| r.p99_ms), millis),
            text(y.and_then(|r| r.p99_ms), millis),
            text(floor(a, x), ratio),
            text(floor(b, y), ratio),
            rss(x),
            rss(y),
        );
    };
    for row in &a.rows {
        let other = b_rows.remove(&(row.scenario.as_str(), row.backend.as_str()));
        print(&row.scenario, &row.backend, Some(row), other);
    }
    for ((scenario, backend), row) in b_rows {
        print(scenario, backend, None, Some(row));
    }
}

// Scenario names the targets refer to.
pub const HEALTHZ: &str = "healthz";
pub const STARTUP: &str = "start-up to /readyz";
pub const IDLE_RSS: &str = "idle RSS";
pub const LIST_WORKSPACE_TOKEN: &str = "list limit=20 workspace token";
pub const LIST_API_KEY: &str = "list limit=20 API key";
pub const LIST_PROVIDER_REUSED: &str = "list limit=20 RS256 token reused";
pub const LIST_PROVIDER_FRESH: &str = "list limit=20 RS256 token fresh";
pub const LIST_LIMIT_1: &str = "list limit=1 workspace token";
pub const LIST_LIMIT_100: &str = "list limit=100 workspace token";
pub const NODE_REFERENCE: &str = "node reference list limit=20";
pub const PAGE_FIRST_1K: &str = "page 1 @1k threads";
pub const PAGE_MIDDLE_1K: &str = "page mid @1k threads";
pub const PAGE_FIRST_1M: &str = "page 1 @1M threads";
pub const PAGE_MIDDLE_1M: &str = "page mid @1M threads";
pub const MESSAGES_200: &str = "messages 200 of 10k";
pub const SEARCH: &str = "search @100k threads";
pub const DASHBOARD_OVERVIEW: &str = "dashboard overview";
pub const DASHBOARD_THREADS: &str = "dashboard threads page";
pub const DASHBOARD_THREADS_WORKSPACE: &str = "dashboard threads of a big workspace";
pub const DASHBOARD_THREADS_SEARCH: &str = "dashboard thread search";
pub const DASHBOARD_THREAD: &str = "dashboard thread of 10k messages";
pub const DASHBOARD_USERS: &str = "dashboard users page";
pub const DASHBOARD_RUNS: &str = "dashboard runs page";
pub const DASHBOARD_API_THREADS: &str = "admin API threads limit=50";
/// Issue 9's budget: each under 100 ms of server time over the whole project.
const DASHBOARD_PAGES: [&str; 8] = [
    DASHBOARD_OVERVIEW,
    DASHBOARD_THREADS,
    DASHBOARD_THREADS_WORKSPACE,
    DASHBOARD_THREADS_SEARCH,
    DASHBOARD_THREAD,
    DASHBOARD_USERS,
    DASHBOARD_RUNS,
    DASHBOARD_API_THREADS,
];

/// The workspace-token list at another number of connections than the main row's.
pub fn list_at_connections_scenario(connections: usize) -> String {
    format!("{LIST_WORKSPACE_TOKEN} @{connections}")
}

/// Within this share of the most requests/s, a concurrency counts as peak throughput
/// (single runs vary by more than the remaining 5% on a shared 2-core machine).
const PEAK_THROUGHPUT_SHARE: f64 = 0.95;

pub fn storage_floor_scenario(limit: u32) -> String {
    format!("storage floor limit={limit}")
}

pub fn verify_scenario(algorithm: &str) -> String {
    format!("verify {algorithm} (1 core)")
}

pub fn commit_scenario(level: &str) -> String {
    format!("commit floor {level}")
}

pub fn write_scenario(writers: usize, shared_thread: bool, durability: &str) -> String {
    let threads = match (writers, shared_thread) {
        (1, _) => "",
        (_, true) => " one thread",
        (_, false) => " own threads",
    };
    format!("create ×{writers}{threads} [{durability}]")
}

/// A short name for a floor row in the "vs floor" column.
fn floor_label(scenario: &str, backend: &str, row_backend: &str) -> String {
    let short = if let Some(limit) = scenario.strip_prefix("storage floor limit=") {
        format!("storage floor @{limit}")
    } else if let Some(setting) = scenario.strip_prefix("commit floor ") {
        format!("1 commit {setting}").replace("synchronous=", "").replace("synchronous_commit=on", "(pg)")
    } else {
        match scenario {
            LIST_WORKSPACE_TOKEN => "ws-token list".to_owned(),
            PAGE_FIRST_1K => "page 1 @1k".to_owned(),
            other => other.to_owned(),
        }
    };
    if backend == row_backend || backend == "-" { short } else { format!("{short} ({backend})") }
}

pub fn thousands(value: f64) -> String {
    let whole = value.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub fn millis(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb >= 10_240.0 { format!("{:.1} GB", mb / 1024.0) } else { format!("{mb:.0} MB") }
}

fn percent(value: Option<f64>) -> String {
    value.map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| "-".into())
}

fn times_text(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "-".into())
}

fn ms_text(value: Option<f64>) -> String {
    value.map(|v| format!("{} ms", millis(v))).unwrap_or_else(|| "-".into())
}
