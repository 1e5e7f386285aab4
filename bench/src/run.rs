//! `threadhold-bench run`: seeds each backend, measures the floors and every
//! scenario against a `threadhold` binary, and returns the report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::dataset::{Dataset, Landmarks, SEARCH_TERM, Sizes, Space};
use crate::floors::{self, StorageFloorProcess};
use crate::http::{Client, Request};
use crate::issuer::{JwksServer, Keys};
use crate::load::{Expect, Load, LoadSpec, Requests, Window};
use crate::node::NodeReference;
use crate::postgres::Cluster;
use crate::procstat::{self, CpuSnapshot, RssSampler};
use crate::report::{self, Check, Database, Floor, Report, Row};
use crate::seed;
use crate::server::{self, Durability, Server, ServerOptions, Storage};

/// The user every credential acts as.
pub const USER: &str = "bench-user";
const LIST_LIMITS: [u32; 3] = [1, 20, 100];
/// The dashboard owner the harness signs in as.
const DASHBOARD_EMAIL: &str = "bench@example.com";
const DASHBOARD_PASSWORD: &str = "bench-dashboard-password";
const WRITER_COUNTS: [usize; 3] = [1, 16, 64];
/// Connections the workspace-token list is also measured at, to find the
/// concurrency of peak throughput (and its p99) below the main row's.
const LIST_SWEEP_CONNECTIONS: [usize; 3] = [4, 8, 16];
const MIN_SAMPLES: u64 = 5;
/// A measured window is taken in this many slices; the table shows the median slice's rate.
const SLICES: u32 = 3;
/// A request this slow (ms), and ten times the p99, marks the scenario as stalled in its note.
const STALL_MS: f64 = 1_000.0;
/// Below this many requests in a window, its overall rate is used instead of the median slice's.
const MIN_SLICED_REQUESTS: u64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

pub struct RunConfig {
    pub bin: PathBuf,
    pub mode: String,
    pub backends: Vec<Backend>,
    pub durabilities: Vec<Durability>,
    pub sizes: Sizes,
    pub timing: Timing,
    /// Connections of the throughput scenarios (latency scenarios use one).
    pub connections: usize,
    pub generator_threads: usize,
    /// Pre-signed provider tokens for the fresh-token scenario (each is used once).
    pub fresh_tokens: usize,
    /// Only scenarios whose name contains this (floors and set-up always run).
    pub only: Option<String>,
    pub log_level: Option<String>,
    pub node_reference: PathBuf,
    pub work: PathBuf,
}

/// A seeded database and the credentials the scenarios use.
pub struct Prepared {
    pub backend: Backend,
    pub storage: Storage,
    pub dir: PathBuf,
    pub api_key: String,
    /// PostgreSQL's postmaster, whose CPU counts with the server's.
    pub database_pid: Option<u32>,
    /// A dashboard owner was created (binaries before the dashboard have none).
    pub dashboard: bool,
}

/// The process being measured, with a sampler of its memory.
struct Target {
    process: &'static str,
    pid: u32,
    address: SocketAddr,
    /// PostgreSQL's postmaster, whose CPU (and its backends') counts as the database's.
    database_pid: Option<u32>,
    rss: RssSampler,
}

impl Target {
    fn new(process: &'static str, pid: u32, address: SocketAddr, database_pid: Option<u32>) -> Target {
        Target { process, pid, address, database_pid, rss: RssSampler::start(pid) }
    }

    fn threadhold(server: &Server, prepared: &Prepared) -> Target {
        Target::new("threadhold", server.pid, server.address, prepared.database_pid)
    }
}

/// One scenario: what to send, how many connections, what it is read against.
struct Plan {
    scenario: String,
    connections: usize,
    requests: Requests,
    expect: Expect,
    floor: Floor,
    /// Sent once before the load; the scenario is skipped when it is not answered as expected.
    probe: Option<Request>,
    note: String,
}

impl Plan {
    fn new(scenario: impl Into<String>, connections: usize, requests: Requests) -> Plan {
        Plan {
            scenario: scenario.into(),
            connections,
            requests,
            expect: Expect::Success,
            floor: Floor::None,
            probe: None,
            note: String::new(),
        }
    }

    fn floor(mut self, floor: Floor) -> Plan {
        self.floor = floor;
        self
    }

    fn probe(mut self, request: Request) -> Plan {
        self.probe = Some(request);
        self
    }

    fn note(mut self, note: impl Into<String>) -> Plan {
        self.note = note.into();
        self
    }
}

/// Workspace tokens of the running server, one per workspace.
struct Tokens {
    list: String,
    long: String,
    search: String,
    big: String,
}

pub struct Harness {
    pub config: RunConfig,
    pub signer: Keys,
    jwks: JwksServer,
    dataset: Dataset,
    landmarks: Landmarks,
    report: Report,
    server_starts: usize,
}

impl Harness {
    pub async fn new(config: RunConfig) -> anyhow::Result<Harness> {
        std::fs::create_dir_all(&config.work)?;
        let signer = Keys::generate("bench");
        let jwks = JwksServer::start(signer.jwks()).await;
        let dataset = Dataset::new(config.sizes);
        let mut report = Report::default();
        report.meta = report::Meta {
            started: started_text(),
            mode: config.mode.clone(),
            binary: config.bin.display().to_string(),
            binary_version: server::version(&config.bin).await,
            harness_commit: std::env::var("THREADHOLD_BENCH_COMMIT").unwrap_or_default(),
            cores: procstat::cores(),
            load_before: procstat::load_average(),
            ..report::Meta::default()
        };
        report.meta.notes.push(format!(
            "the server logs at {} to a file; durability levels are passed as THREADHOLD_DURABILITY, which older binaries ignore",
            config.log_level.as_deref().unwrap_or("its default level (info: one line per request)")
        ));
        Ok(Harness { landmarks: dataset.landmarks(), config, signer, jwks, dataset, report, server_starts: 0 })
    }

    pub async fn run(mut self) -> anyhow::Result<Report> {
        let started = Instant::now();
        self.backend_free_floors()?;
        // The SQLite database is always seeded: the storage floor and the Node reference read it.
        let sqlite = self.prepare(Backend::Sqlite, None).await?;
        if self.config.backends.contains(&Backend::Sqlite) {
            self.run_backend(&sqlite).await?;
        } else {
            self.storage_floors(&sqlite).await?;
        }
        if self.config.backends.contains(&Backend::Postgres) {
            let cluster = Cluster::start(&self.config.work)?;
            let postgres = self.prepare(Backend::Postgres, Some(&cluster)).await?;
            self.run_backend(&postgres).await?;
            drop(cluster);
        }
        self.report.meta.load_after = procstat::load_average();
        self.report.meta.minutes = started.elapsed().as_secs_f64() / 60.0;
        Ok(self.report)
    }

    fn selected(&self, scenario: &str) -> bool {
        self.config.only.as_deref().is_none_or(|only| scenario.contains(only))
    }

    fn push(&mut self, row: Row) {
        progress(&row);
        self.report.rows.push(row);
    }

    /// One verification per algorithm, and single-writer SQLite commits on this disk.
    fn backend_free_floors(&mut self) -> anyhow::Result<()> {
        eprintln!("floors: signature verification, durable commits");
        let budget = Duration::from_millis(300);
        for verification in floors::verifications(&self.signer, budget)? {
            let mut row = Row::new(&report::verify_scenario(verification.algorithm), "-");
            row.per_second = Some(1e6 / verification.micros);
            row.note = format!("{:.1} µs per token (parse, signature, claims)", verification.micros);
            self.push(row);
        }
        for level in ["FULL", "NORMAL"] {
            let commits = floors::sqlite_commits(&self.config.work, level, self.config.timing.measure)?;
            self.push(commits.row(&format!("synchronous={level}"), "sqlite", "one INSERT + COMMIT at a time, WAL"));
        }
        Ok(())
    }

    pub fn server_options(&mut self, prepared: &Prepared, durability: Option<Durability>) -> ServerOptions {
        self.server_starts += 1;
        ServerOptions {
            bin: self.config.bin.clone(),
            storage: prepared.storage.clone(),
            durability,
            log_level: self.config.log_level.clone(),
            log: prepared.dir.join(format!("server-{}.log", self.server_starts)),
            // The search scenario measures the search, not the per-workspace rate limit (older binaries ignore it).
            extra_env: vec![("THREADHOLD_SEARCHES_PER_MINUTE".into(), "0".into())],
        }
    }

    /// A fresh database: the server creates the schema, the CLI adds an API key
    /// and the provider rule, then the rows are loaded in bulk with the server stopped.
    pub async fn prepare(&mut self, backend: Backend, cluster: Option<&Cluster>) -> anyhow::Result<Prepared> {
        let dir = self.config.work.join(backend.name());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(dir.join("data"))?;
        let database_url = match cluster {
            Some(cluster) => Some(cluster.create_database("threadhold_bench").await?),
            None => None,
        };
        let storage = Storage { data: dir.join("data"), database_url };
        let database_pid = cluster.and_then(Cluster::postmaster_pid);
        let mut prepared = Prepared { backend, storage, dir, api_key: String::new(), database_pid, dashboard: false };
        eprintln!("{}: creating the schema", backend.name());
        let options = self.server_options(&prepared, None);
        let server = Server::start(&options).await?;
        let bin = self.config.bin.clone();
        prepared.api_key = server::admin(&bin, &prepared.storage, &["keys", "create", "--name", "bench"]).await?;
        let rule = [
            "rules",
            "add",
            "--provider",
            "clerk",
            "--issuer",
            &self.jwks.base,
            "--jwks-url",
            &self.jwks.url,
            "--workspace",
            "{org_id}",
        ];
        server::admin(&bin, &prepared.storage, &rule).await?;
        let password = prepared.dir.join("dashboard-password");
        std::fs::write(&password, DASHBOARD_PASSWORD)?;
        let password = password.display().to_string();
        let owner = ["admin", "add", DASHBOARD_EMAIL, "--role", "owner", "--password-file", &password];
        prepared.dashboard = server::admin(&bin, &prepared.storage, &owner).await.is_ok();
        server.stop().await?;
        let (threads, messages) = self.config.sizes.total_rows();
        eprintln!("{}: seeding {threads} threads and {messages} messages", backend.name());
        let seeded = match &prepared.storage.database_url {
            None => {
                let file = prepared.storage.sqlite_file();
                let dataset = self.dataset;
                tokio::task::spawn_blocking(move || seed::sqlite(&file, &dataset)).await??
            }
            Some(url) => seed::postgres(url, &self.dataset).await?,
        };
        let bytes = match &prepared.storage.database_url {
            None => sqlite_size(&prepared.storage.sqlite_file()),
            Some(url) => crate::postgres::database_size(url).await?,
        };
        self.report.databases.push(Database {
            backend: backend.name().into(),
            bytes,
            threads: seeded.threads,
            messages: seeded.messages,
            seed_seconds: seeded.seconds,
        });
        Ok(prepared)
    }

    /// Every scenario on one backend.
    async fn run_backend(&mut self, prepared: &Prepared) -> anyhow::Result<()> {
        let backend = prepared.backend.name();
        eprintln!("{backend}: start-up");
        let server = self.startups(prepared).await?;
        let target = Target::threadhold(&server, prepared);
        let tokens = self.mint_tokens(server.address, &prepared.api_key).await?;

        self.measure(
            &target,
            backend,
            Plan::new(report::HEALTHZ, self.config.connections, Requests::repeat(Request::get("/healthz").build())),
        )
        .await;
        if prepared.backend == Backend::Sqlite {
            self.storage_floors(prepared).await?;
        }
        self.list_scenarios(&target, backend, prepared, &tokens).await?;
        if prepared.backend == Backend::Sqlite {
            self.node_reference(prepared, server.address, &tokens.list).await;
        }
        self.page_scenarios(&target, backend, &tokens).await;
        self.read_scenarios(&target, backend, &tokens).await;
        if prepared.dashboard {
            self.dashboard_scenarios(&target, backend).await?;
        }
        drop(target);
        server.stop().await?;

        if let Some(url) = &prepared.storage.database_url {
            let commits = floors::postgres_commits(url, self.config.timing.measure).await?;
            self.push(commits.row("synchronous_commit=on", "postgres", "one INSERT + COMMIT at a time"));
        }
        for durability in self.config.durabilities.clone() {
            self.write_scenarios(prepared, durability).await?;
        }
        Ok(())
    }

    /// Three starts on the seeded database; the last server keeps running.
    async fn startups(&mut self, prepared: &Prepared) -> anyhow::Result<Server> {
        let backend = prepared.backend.name();
        let mut times = Vec::new();
        let options = self.server_options(prepared, None);
        let mut server = Server::start(&options).await?;
        times.push(server.ready_after.as_secs_f64() * 1000.0);
        // Newer servers index bulk-loaded rows in the background; measure after that.
        let limit = Duration::from_secs(1800);
        let indexed = match &prepared.storage.database_url {
            Some(url) => crate::postgres::wait_for_search_index(url, limit).await?,
            None => {
                let file = prepared.storage.sqlite_file();
                tokio::task::spawn_blocking(move || seed::wait_for_sqlite_search_index(&file, limit)).await??
            }
        };
        eprintln!("{backend}: {:.0} s after the first /readyz, the seeded messages were indexed for search", indexed);
        for _ in 0..2 {
            server.stop().await?;
            let options = self.server_options(prepared, None);
            server = Server::start(&options).await?;
            times.push(server.ready_after.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let mut row = Row::new(report::STARTUP, backend);
        row.p50_ms = Some(times[1]);
        row.p99_ms = times.last().copied();
        row.note = format!(
            "3 starts: {}; the seeded messages were searchable {indexed:.0} s after the first start",
            times.iter().map(|t| format!("{t:.0} ms")).collect::<Vec<_>>().join(", ")
        );
        self.push(row);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut row = Row::new(report::IDLE_RSS, backend);
        row.peak_rss_bytes = procstat::rss_bytes(server.pid);
        row.note = "1 s after start-up, before any request".into();
        self.push(row);
        Ok(server)
    }

    async fn mint_tokens(&self, address: SocketAddr, api_key: &str) -> anyhow::Result<Tokens> {
        Ok(Tokens {
            list: mint_token(address, api_key, Space::List).await?,
            long: mint_token(address, api_key, Space::Long).await?,
            search: mint_token(address, api_key, Space::Search).await?,
            big: mint_token(address, api_key, Space::Big).await?,
        })
    }

    async fn storage_floors(&mut self, prepared: &Prepared) -> anyhow::Result<()> {
        let floor = StorageFloorProcess::start(&prepared.storage.sqlite_file(), Space::List.workspace()).await?;
        let target = Target::new("storage floor", floor.pid, floor.address, None);
        for limit in LIST_LIMITS {
            let request = Request::get(format!("/v1/threads?limit={limit}")).build();
            let plan =
                Plan::new(report::storage_floor_scenario(limit), self.config.connections, Requests::repeat(request))
                    .note("rusqlite on the request's thread, no auth");
            self.measure(&target, "sqlite", plan).await;
        }
        floor.stop().await;
        Ok(())
    }

    async fn list_scenarios(
        &mut self,
        target: &Target,
        backend: &str,
        prepared: &Prepared,
        tokens: &Tokens,
    ) -> anyhow::Result<()> {
        let connections = self.config.connections;
        let list = |limit: u32| format!("/v1/threads?limit={limit}");
        let storage_floor = |limit: u32| Floor::throughput(&report::storage_floor_scenario(limit), "sqlite");
        let by_token = Request::get(list(20)).bearer(&tokens.list).build();
        self.measure(
            target,
            backend,
            Plan::new(report::LIST_WORKSPACE_TOKEN, connections, Requests::repeat(by_token)).floor(storage_floor(20)),
        )
        .await;
        for sweep in LIST_SWEEP_CONNECTIONS.into_iter().filter(|&sweep| sweep < connections) {
            let by_token = Request::get(list(20)).bearer(&tokens.list).build();
            let scenario = report::list_at_connections_scenario(sweep);
            let plan = Plan::new(scenario, sweep, Requests::repeat(by_token)).floor(storage_floor(20));
            self.measure(target, backend, plan).await;
        }
        let by_key = api_key_request(Request::get(list(20)), &prepared.api_key, Space::List.workspace()).build();
        self.measure(
            target,
            backend,
            Plan::new(report::LIST_API_KEY, connections, Requests::repeat(by_key)).floor(storage_floor(20)),
        )
        .await;

        let reused = Request::get(list(20)).bearer(&self.provider_token(0)).build();
        let plan = Plan::new(report::LIST_PROVIDER_REUSED, connections, Requests::repeat(reused))
            .floor(Floor::throughput(report::LIST_WORKSPACE_TOKEN, backend));
        self.measure(target, backend, plan).await;
        if self.selected(report::LIST_PROVIDER_FRESH) {
            let fresh = self.fresh_provider_requests(&list(20));
            let probe = Request::get(list(20)).bearer(&self.provider_token(u64::MAX)).build();
            let plan = Plan::new(report::LIST_PROVIDER_FRESH, connections, Requests::Once(fresh))
                .floor(Floor::ExtraVerification {
                    scenario: report::LIST_WORKSPACE_TOKEN.into(),
                    backend: backend.into(),
                    algorithm: "RS256".into(),
                })
                .probe(probe)
                .note(format!("{} pre-signed tokens, each used once", self.config.fresh_tokens));
            self.measure(target, backend, plan).await;
        }
        for (limit, scenario) in [(1, report::LIST_LIMIT_1), (100, report::LIST_LIMIT_100)] {
            let request = Request::get(list(limit)).bearer(&tokens.list).build();
            self.measure(
                target,
                backend,
                Plan::new(scenario, connections, Requests::repeat(request)).floor(storage_floor(limit)),
            )
            .await;
        }
        Ok(())
    }

    /// A provider (Clerk-style RS256) token for the list workspace; `n` makes it unique.
    pub fn provider_token(&self, n: u64) -> String {
        self.provider_token_at(n, floors::unix_seconds())
    }

    /// A provider token issued at `now` (Unix seconds), valid for an hour.
    pub fn provider_token_at(&self, n: u64, now: i64) -> String {
        let claims = json!({
            "iss": self.jwks.base, "sub": USER, "org_id": Space::List.workspace(),
            "iat": now, "exp": now + 3600, "jti": n.to_string(),
        });
        self.signer.token("RS256", &claims)
    }

    /// Requests with a distinct, freshly signed token each (signed on every core before the load).
    fn fresh_provider_requests(&self, path: &str) -> Vec<Request> {
        let count = self.config.fresh_tokens;
        let workers = procstat::cores();
        let started = Instant::now();
        let requests: Vec<Request> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    scope.spawn(move || {
                        (worker..count)
                            .step_by(workers)
                            .map(|n| Request::get(path).bearer(&self.provider_token(n as u64 + 1)).build())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|handle| handle.join().unwrap_or_default()).collect()
        });
        eprintln!("  signed {} RS256 tokens in {:.1} s", requests.len(), started.elapsed().as_secs_f64());
        requests
    }

    /// First page and a page half way down, one connection (latency).
    async fn page_scenarios(&mut self, target: &Target, backend: &str, tokens: &Tokens) {
        let mut pages = vec![
            (report::PAGE_FIRST_1K, None, &tokens.list),
            (report::PAGE_MIDDLE_1K, Some(self.landmarks.list_middle.clone()), &tokens.list),
        ];
        if let Some(middle) = &self.landmarks.big_middle {
            pages.push((report::PAGE_FIRST_1M, None, &tokens.big));
            pages.push((report::PAGE_MIDDLE_1M, Some(middle.clone()), &tokens.big));
        }
        for (scenario, after, token) in pages {
            let path = match &after {
                Some(after) => format!("/v1/threads?limit=20&after={after}"),
                None => "/v1/threads?limit=20".to_owned(),
            };
            let mut plan = Plan::new(scenario, 1, Requests::repeat(Request::get(path).bearer(token).build()));
            if scenario != report::PAGE_FIRST_1K {
                plan = plan.floor(Floor::latency(report::PAGE_FIRST_1K, backend));
            }
            self.measure(target, backend, plan).await;
        }
    }

    async fn read_scenarios(&mut self, target: &Target, backend: &str, tokens: &Tokens) {
        let messages = Request::get(format!("/v1/threads/{}/messages?limit=200", self.landmarks.long_thread))
            .bearer(&tokens.long)
            .build();
        let plan = Plan::new(report::MESSAGES_200, self.config.connections, Requests::repeat(messages));
        self.measure(target, backend, plan).await;
        let search = Request::get(format!("/v1/threads/search?q={SEARCH_TERM}")).bearer(&tokens.search).build();
        let (threads, per_thread) = self.config.sizes.of(Space::Search);
        let plan = Plan::new(report::SEARCH, 1, Requests::repeat(search))
            .note(format!("{} messages; q matches ~1 in 1000", report::thousands((threads * per_thread) as f64)));
        self.measure(target, backend, plan).await;
    }

    /// Dashboard pages and the admin API over the whole project (every seeded
    /// workspace, 1,000,000 threads or more with `--full`), one connection:
    /// the budget is 100 ms of server time per page.
    async fn dashboard_scenarios(&mut self, target: &Target, backend: &str) -> anyhow::Result<()> {
        let login = Request::post("/admin/api/login")
            .json(&json!({"email": DASHBOARD_EMAIL, "password": DASHBOARD_PASSWORD}))
            .build();
        let response = Client::new(target.address).send(&login).await?;
        let cookie = response.cookie.clone().context("the dashboard login set no cookie")?;
        response.expect_json(200).context("dashboard login")?;
        let big = self.landmarks.big_middle.is_some();
        let workspace = if big { Space::Big } else { Space::Search }.workspace();
        let pages = [
            (report::DASHBOARD_OVERVIEW, "/admin/p/default".to_owned()),
            (report::DASHBOARD_THREADS, "/admin/p/default/threads".to_owned()),
            (report::DASHBOARD_THREADS_WORKSPACE, format!("/admin/p/default/threads?workspace={workspace}")),
            (report::DASHBOARD_THREADS_SEARCH, format!("/admin/p/default/threads?q={SEARCH_TERM}")),
            (report::DASHBOARD_THREAD, format!("/admin/p/default/threads/{}", self.landmarks.long_thread)),
            (report::DASHBOARD_USERS, "/admin/p/default/users".to_owned()),
            (report::DASHBOARD_RUNS, "/admin/p/default/runs".to_owned()),
            (report::DASHBOARD_API_THREADS, "/admin/api/projects/default/threads?limit=50".to_owned()),
        ];
        for (scenario, path) in pages {
            let request = Request::get(path).header("cookie", &cookie).build();
            self.measure(target, backend, Plan::new(scenario, 1, Requests::repeat(request))).await;
        }
        Ok(())
    }

    /// Message creates with 1, 16 and 64 writers, each on its own thread and all
    /// on one, at one durability level; then a kill -9 in the middle of writes.
    async fn write_scenarios(&mut self, prepared: &Prepared, durability: Durability) -> anyhow::Result<()> {
        let backend = prepared.backend.name();
        let level = durability.name();
        eprintln!("{backend}: writes [{level}]");
        let options = self.server_options(prepared, Some(durability));
        let server = Server::start(&options).await?;
        let ignored = server.log_mentions("THREADHOLD_DURABILITY");
        let note = if ignored { "durability setting ignored by this binary" } else { "" };
        let target = Target::threadhold(&server, prepared);
        let token = mint_token(server.address, &prepared.api_key, Space::Write).await?;
        let floor = match (prepared.backend, durability) {
            (Backend::Postgres, _) => Floor::throughput(&report::commit_scenario("synchronous_commit=on"), "postgres"),
            (Backend::Sqlite, Durability::Power) => {
                Floor::throughput(&report::commit_scenario("synchronous=FULL"), "sqlite")
            }
            (Backend::Sqlite, Durability::Process) => {
                Floor::throughput(&report::commit_scenario("synchronous=NORMAL"), "sqlite")
            }
        };
        for writers in WRITER_COUNTS {
            for shared in [false, true] {
                if writers == 1 && shared {
                    continue;
                }
                let requests = self.write_requests(&token, writers, shared);
                let plan =
                    Plan::new(report::write_scenario(writers, shared, level), writers, Requests::Repeat(requests))
                        .floor(floor.clone())
                        .note(note);
                self.measure(&target, backend, plan).await;
            }
        }
        drop(target);
        self.kill_check(prepared, server, &token, level).await
    }

    /// One create request per writer: on the writer's own thread, or all on the shared one.
    pub fn write_requests(&self, token: &str, writers: usize, shared: bool) -> Vec<Request> {
        let body = json!({
            "format": "aui/v0",
            "content": {"role": "user", "content": [{"type": "text", "text": "A benchmark message of about one hundred bytes, the size of a short chat turn."}]},
        });
        (0..writers)
            .map(|writer| {
                let thread =
                    if shared { &self.landmarks.shared_write_thread } else { &self.landmarks.write_threads[writer] };
                Request::post(format!("/v1/threads/{thread}/messages")).bearer(token).json(&body).build()
            })
            .collect()
    }

    /// SIGKILL while 64 writers write, then count: every acknowledged create must be in the database.
    async fn kill_check(
        &mut self,
        prepared: &Prepared,
        server: Server,
        token: &str,
        level: &str,
    ) -> anyhow::Result<()> {
        let name = format!("kill -9 during 64 writers [{level}]");
        if !self.selected(&name) {
            return server.stop().await;
        }
        let before = count_write_messages(&prepared.storage).await?;
        let load = Load::start(LoadSpec {
            address: server.address,
            connections: 64,
            requests: Requests::Repeat(self.write_requests(token, 64, false)),
            expect: Expect::Success,
            threads: self.config.generator_threads,
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let acknowledged = load.acknowledged();
        load.stop();
        let after = count_write_messages(&prepared.storage).await?;
        let lost = (before + acknowledged).saturating_sub(after);
        self.report.checks.push(Check {
            name,
            backend: prepared.backend.name().into(),
            passed: lost == 0 && acknowledged > 0,
            detail: format!(
                "{acknowledged} creates acknowledged, {} rows added, {lost} lost",
                after.saturating_sub(before)
            ),
        });
        Ok(())
    }

    async fn node_reference(&mut self, prepared: &Prepared, threadhold: SocketAddr, token: &str) {
        if !self.selected(report::NODE_REFERENCE) {
            return;
        }
        let result = async {
            let mut client = Client::new(threadhold);
            let jwks = client.send(&Request::get("/.well-known/jwks.json").build()).await?.expect_json(200)?;
            let node =
                NodeReference::start(&self.config.node_reference, &prepared.storage.sqlite_file(), &jwks).await?;
            self.same_page_check(threadhold, node.address, token, prepared).await;
            let target = Target::new("node", node.pid, node.address, None);
            let request = Request::get("/v1/threads?limit=20").bearer(token).build();
            let plan = Plan::new(report::NODE_REFERENCE, self.config.connections, Requests::repeat(request))
                .floor(Floor::throughput(&report::storage_floor_scenario(20), "sqlite"))
                .note("Fastify + jose (EdDSA) + better-sqlite3, one process");
            self.measure(&target, "sqlite", plan).await;
            node.stop().await;
            anyhow::Ok(())
        }
        .await;
        if let Err(error) = result {
            let mut row = Row::new(report::NODE_REFERENCE, "sqlite");
            row.note = format!("not measured: {error:#}");
            self.push(row);
        }
    }

    /// threadhold, the storage floor and the Node reference must serve the very same page.
    async fn same_page_check(&mut self, threadhold: SocketAddr, node: SocketAddr, token: &str, prepared: &Prepared) {
        let result = async {
            let request = Request::get("/v1/threads?limit=20").bearer(token).build();
            let ours = Client::new(threadhold).send(&request).await?.expect_json(200)?;
            let theirs = Client::new(node).send(&request).await?.expect_json(200)?;
            let floor = StorageFloorProcess::start(&prepared.storage.sqlite_file(), Space::List.workspace()).await?;
            let bare = Client::new(floor.address).send(&request).await?.expect_json(200)?;
            floor.stop().await;
            let rows = ours["threads"].as_array().map_or(0, Vec::len);
            if rows != 20 {
                bail!("threadhold answered {rows} threads, expected 20");
            }
            anyhow::Ok((ours == theirs, ours == bare))
        }
        .await;
        let (passed, detail) = match result {
            Ok((node_same, floor_same)) => (
                node_same && floor_same,
                format!("node reference {}, storage floor {}", same(node_same), same(floor_same)),
            ),
            Err(error) => (false, format!("{error:#}")),
        };
        self.report.checks.push(Check {
            name: "same 20 threads from threadhold, storage floor and node".into(),
            backend: "sqlite".into(),
            passed,
            detail,
        });
    }

    /// Probes, warms up, measures one window and records the row.
    async fn measure(&mut self, target: &Target, backend: &str, plan: Plan) {
        if !self.selected(&plan.scenario) {
            return;
        }
        let mut row = Row::new(&plan.scenario, backend);
        row.process = target.process.to_owned();
        row.connections = plan.connections;
        row.floor = plan.floor.clone();
        row.note = plan.note.clone();
        let probe = plan.probe.clone().or_else(|| match &plan.requests {
            Requests::Repeat(list) => list.first().cloned(),
            Requests::Once(_) => None,
        });
        if let Some(probe) = probe {
            match Client::new(target.address).send(&probe).await {
                Ok(response) if plan.expect.accepts(response.status) => {}
                Ok(response) => {
                    row.errors = 1;
                    row.note =
                        format!("skipped: probe answered {}: {}", response.status, truncate(&response.text(), 160));
                    self.push(row);
                    return;
                }
                Err(error) => {
                    row.errors = 1;
                    row.note = format!("skipped: probe failed: {error:#}");
                    self.push(row);
                    return;
                }
            }
        }
        let plan_requests_len = match &plan.requests {
            Requests::Once(list) => Some(list.len()),
            Requests::Repeat(_) => None,
        };
        let mut load = Load::start(LoadSpec {
            address: target.address,
            connections: plan.connections,
            requests: plan.requests,
            expect: plan.expect,
            threads: self.config.generator_threads,
        });
        // A list of one-use requests spends at most a fifth of itself on warming up.
        let warmup_requests = plan_requests_len.map_or(u64::MAX, |len| len as u64 / 5);
        let _ = load.window_of(self.config.timing.warmup, warmup_requests).await;
        target.rss.take_peak(target.pid);
        let cpu_before = CpuSnapshot::take(target.pid, target.database_pid);
        // The window in slices: the median slice's rate resists a passing stall of the machine.
        let measure = self.config.timing.measure;
        let mut window = Window::default();
        let mut slice_rates = Vec::new();
        for _ in 0..SLICES {
            let slice = load.window(measure / SLICES).await;
            slice_rates.push(slice.per_second());
            window.extend(slice);
            if load.finished() {
                break;
            }
        }
        // A scenario of slow requests (a search of seconds) gets up to 4× the time, for at least 5 samples.
        while window.requests() < MIN_SAMPLES && window.elapsed < measure * 4 && !load.finished() {
            let later = load.window(measure).await;
            window.extend(later);
        }
        let cpu = CpuSnapshot::take(target.pid, target.database_pid).since(cpu_before);
        let peak = target.rss.take_peak(target.pid);
        load.stop();

        let requests = window.requests();
        let percentiles = window.percentiles(&[0.5, 0.99]);
        row.requests = requests;
        row.seconds = window.elapsed.as_secs_f64();
        row.per_second = Some(window.per_second());
        let stalled_slices = slice_rates.iter().filter(|rate| **rate == 0.0).count();
        let longest_ms = window.percentiles(&[1.0])[0];
        if stalled_slices > 0 || (longest_ms >= STALL_MS && longest_ms > 10.0 * percentiles[1]) {
            // A stall is the server's, not noise: the overall rate stands, and the note says so.
            row.note = format!(
                "{} (stalled: {stalled_slices} of {} slices without an answer; longest request {longest_ms:.0} ms)",
                row.note,
                slice_rates.len()
            )
            .trim()
            .to_owned();
        }
        if stalled_slices == 0 && slice_rates.len() == SLICES as usize && requests >= MIN_SLICED_REQUESTS {
            slice_rates.sort_by(f64::total_cmp);
            row.per_second = Some(slice_rates[slice_rates.len() / 2]);
            let (low, high) = (slice_rates[0], slice_rates[slice_rates.len() - 1]);
            if high > low * 1.5 {
                row.note = format!(
                    "{} (noisy: slices {}–{} req/s)",
                    row.note,
                    report::thousands(low),
                    report::thousands(high)
                )
                .trim()
                .to_owned();
            }
            row.slice_rates = slice_rates;
        }
        row.p50_ms = Some(percentiles[0]);
        row.p99_ms = Some(percentiles[1]);
        row.errors = window.errors();
        row.peak_rss_bytes = Some(peak);
        if requests > 0 {
            row.server_cpu_us = Some(cpu.server * 1e6 / requests as f64);
            if target.database_pid.is_some() {
                row.database_cpu_us = Some(cpu.database * 1e6 / requests as f64);
            }
        }
        row.generator_share = cpu.generator_share();
        row.generator_cores = Some(cpu.harness / row.seconds.max(1e-9));
        if let Some(status) = window.unexpected_status {
            row.note = format!("{} (unexpected status {status})", row.note).trim().to_owned();
        }
        if requests == 0 {
            row.per_second = None;
            row.note = format!("{} (no request completed)", row.note).trim().to_owned();
        }
        self.push(row);
    }
}

/// A workspace token for `space`, minted with the API key (`POST /v1/auth/tokens`).
pub async fn mint_token(address: SocketAddr, api_key: &str, space: Space) -> anyhow::Result<String> {
    let request =
        api_key_request(Request::post("/v1/auth/tokens"), api_key, space.workspace()).json(&json!({})).build();
    let body = Client::new(address).send(&request).await?.expect_json(200).context("minting a workspace token")?;
    body["token"].as_str().map(str::to_owned).context("no token in the answer")
}

pub fn api_key_request(
    builder: crate::http::RequestBuilder,
    api_key: &str,
    workspace: &str,
) -> crate::http::RequestBuilder {
    builder.bearer(api_key).header("aui-workspace-id", workspace).header("aui-user-id", USER)
}

/// Messages in the writers' workspace, counted in the database itself.
async fn count_write_messages(storage: &Storage) -> anyhow::Result<u64> {
    let sql = format!(
        "SELECT count(*) FROM messages WHERE thread_id IN (SELECT id FROM threads WHERE workspace_id = '{}')",
        Space::Write.workspace()
    );
    match &storage.database_url {
        None => {
            let file = storage.sqlite_file();
            tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
                let db = rusqlite::Connection::open(&file)?;
                db.busy_timeout(Duration::from_secs(10))?;
                let count: i64 = db.query_row(&sql, [], |row| row.get(0))?;
                Ok(u64::try_from(count).unwrap_or(0))
            })
            .await?
        }
        Some(url) => {
            use sqlx::Connection as _;
            let mut db = sqlx::PgConnection::connect(url).await?;
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut db).await?;
            db.close().await?;
            Ok(u64::try_from(count).unwrap_or(0))
        }
    }
}

fn sqlite_size(file: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", file.display())).ok())
        .map(|metadata| metadata.len())
        .sum()
}

fn same(equal: bool) -> &'static str {
    if equal { "identical" } else { "DIFFERENT" }
}

fn truncate(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

fn started_text() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// One line per finished scenario on stderr, so a long run shows progress.
fn progress(row: &Row) {
    let value = |v: Option<f64>, unit: &str| v.map(|v| format!(" {v:.2}{unit}")).unwrap_or_default();
    eprintln!(
        "  {:<44} {:<8}{}{}{}{}",
        row.scenario,
        row.backend,
        value(row.per_second, " req/s"),
        value(row.p50_ms, " ms p50"),
        value(row.p99_ms, " ms p99"),
        if row.note.is_empty() { String::new() } else { format!("  ({})", row.note) }
    );
}
