//! threadhold's benchmark harness (issue 12 item 7; soak: issue 8 item 14).
//! Run it through `bench/run`; see `bench/README.md`. Everything listens on
//! 127.0.0.1 and stops by itself; nothing here runs in `cargo test` or CI.

mod dataset;
mod floors;
mod http;
#[path = "../../crates/server/tests/common/issuer.rs"]
mod issuer;
mod load;
mod node;
mod postgres;
mod procstat;
mod report;
mod run;
mod seed;
mod server;
mod soak;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::dataset::Sizes;
use crate::report::Report;
use crate::run::{Backend, Harness, RunConfig, Timing};
use crate::server::Durability;

#[derive(Parser)]
#[command(name = "threadhold-bench", about = "Benchmarks a threadhold binary over HTTP on 127.0.0.1")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed, warm up and measure every scenario; print the table and optionally write JSON.
    Run(RunArgs),
    /// Mixed traffic for minutes, sampling RSS, open files and p99 every 10 s.
    Soak(SoakArgs),
    /// Compare two JSON results side by side.
    Compare { a: PathBuf, b: PathBuf },
    /// Print the table of a JSON result again.
    Show { file: PathBuf },
    /// (internal) The storage floor server over a seeded SQLite file.
    #[command(hide = true)]
    StorageFloor { database: PathBuf, workspace: String },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityChoice {
    Process,
    Power,
    Both,
}

/// What every mode shares.
#[derive(Args)]
struct Common {
    /// The threadhold binary to measure.
    #[arg(long)]
    bin: PathBuf,
    /// Scratch folder for databases and logs [default: a new folder under /tmp].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the scratch folder afterwards.
    #[arg(long)]
    keep: bool,
    /// Load generator threads (one single-threaded runtime each).
    #[arg(long, default_value_t = 1)]
    generator_threads: usize,
    /// THREADHOLD_LOG_LEVEL for the server [default: the server's own default].
    #[arg(long)]
    server_log_level: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// The short run (the default): 1 s warm-up and 3 s per scenario, no 1,000,000-thread workspace.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full run: 2 s warm-up and 8 s per scenario, plus 1,000,000 threads / 10,000,000 messages.
    #[arg(long)]
    full: bool,
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// Durability levels of the write scenarios (THREADHOLD_DURABILITY; older binaries ignore it).
    #[arg(long, value_enum, default_value = "both")]
    durability: DurabilityChoice,
    /// Write the results as JSON (for `compare`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Connections of the throughput scenarios.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds per scenario (overrides the mode's).
    #[arg(long)]
    seconds: Option<f64>,
    /// Only scenarios whose name contains this text (set-up and floors always run).
    #[arg(long)]
    only: Option<String>,
    /// Threads of the 1,000,000-thread workspace (for trying the full data at a smaller size).
    #[arg(long)]
    big_threads: Option<u64>,
    /// The Node reference server's folder.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/node-reference"))]
    node_reference: PathBuf,
}

#[derive(Args)]
struct SoakArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Write the 10-second samples as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let result = runtime.map_err(anyhow::Error::from).and_then(|runtime| runtime.block_on(dispatch(cli.command)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("threadhold-bench: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Soak(args) => soak(args).await,
        Command::Compare { a, b } => {
            report::compare(&Report::read(&a)?, &Report::read(&b)?);
            Ok(())
        }
        Command::Show { file } => {
            Report::read(&file)?.print();
            Ok(())
        }
        Command::StorageFloor { database, workspace } => floors::serve_storage_floor(database, workspace).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let full = args.full;
    let mut sizes = if full { Sizes::full() } else { Sizes::quick() };
    if let Some(threads) = args.big_threads {
        sizes.big_threads = threads;
        sizes.big_messages_per_thread = 10;
    }
    let mut timing = if full {
        Timing { warmup: Duration::from_secs(2), measure: Duration::from_secs(8) }
    } else {
        Timing { warmup: Duration::from_secs(1), measure: Duration::from_secs(3) }
    };
    if let Some(seconds) = args.seconds {
        timing.measure = Duration::from_secs_f64(seconds);
    }
    let backends = match args.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    let durabilities = match args.durability {
        DurabilityChoice::Process => vec![Durability::Process],
        DurabilityChoice::Power => vec![Durability::Power],
        DurabilityChoice::Both => vec![Durability::Process, Durability::Power],
    };
    let work = WorkDir::new(&args.common)?;
    let config = RunConfig {
        bin: absolute(&args.common.bin)?,
        mode: if full { "full" } else { "quick" }.into(),
        backends,
        durabilities,
        sizes,
        timing,
        connections: args.connections,
        generator_threads: args.common.generator_threads,
        fresh_tokens: if full { 40_000 } else { 30_000 },
        only: args.only,
        log_level: args.common.server_log_level.clone(),
        node_reference: args.node_reference,
        work: work.path.clone(),
    };
    let report = Harness::new(config).await?.run().await?;
    report.print();
    if let Some(path) = &args.json {
        report.write(path)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let work = WorkDir::new(&args.common)?;
    let sizes = Sizes { long_thread_messages: 0, search_threads: 0, ..Sizes::quick() };
    let config = RunConfig {
        bin: absolute(&args.common.bin)?,
        mode: "soak".into(),
        backends: vec![args.backend],
        durabilities: Vec::new(),
        sizes,
        timing: Timing { warmup: Duration::ZERO, measure: Duration::ZERO },
        connections: 0,
        generator_threads: args.common.generator_threads,
        fresh_tokens: 0,
        only: None,
        log_level: args.common.server_log_level.clone(),
        node_reference: PathBuf::new(),
        work: work.path.clone(),
    };
    let harness = Harness::new(config).await?;
    soak::soak(harness, soak::SoakConfig { minutes: args.minutes, backend: args.backend, json: args.json }).await
}

fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("no binary at {}", path.display()))
}

/// The scratch folder: removed afterwards unless `--keep` (or given by `--work-dir`).
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(common: &Common) -> anyhow::Result<WorkDir> {
        let (path, remove) = match &common.work_dir {
            Some(path) => (path.clone(), false),
            None => (std::env::temp_dir().join(format!("threadhold-bench.{}", std::process::id())), !common.keep),
        };
        std::fs::create_dir_all(&path)?;
        // The PostgreSQL cluster runs as `postgres` when the harness runs as root: it must reach its folder.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        eprintln!("work folder: {}", path.display());
        Ok(WorkDir { path, remove })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
