//! The `threadhold` command: the server and its admin commands.
#![forbid(unsafe_code)]

mod config;
mod log_writer;
mod titles;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use threadhold_domain::format_ms;
use threadhold_domain::model::DEFAULT_PROJECT_ID;
use threadhold_server::AppState;
use threadhold_server::service::rules::{Decision, Verifiers};
use threadhold_server::service::transfer::{self, ExportScope};
use threadhold_server::service::{Actor, access, admins, keys, projects, rules, users};
use threadhold_store::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{FlagOverrides, LogFormat, Settings};

#[derive(Parser)]
#[command(name = "threadhold", version, about = "A self-hosted server for the Assistant Cloud API of assistant-ui")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The TOML config file.
#[derive(Args, Clone)]
struct ConfigFileArg {
    /// TOML config file (also THREADHOLD_CONFIG).
    #[arg(long, env = config::CONFIG_ENV, global = true)]
    config: Option<PathBuf>,
}

/// Where the data lives; every command takes these, like `serve`.
#[derive(Args, Clone)]
struct StorageArgs {
    #[command(flatten)]
    file: ConfigFileArg,
    /// Data folder holding the SQLite database [default: ./threadhold-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Database URL (`postgres://…` or `sqlite:…`); overrides --data for the database.
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Inspect the configuration: what is in effect, what is wrong, every setting documented.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write the deployment as JSON Lines (a backup, or a move to another database):
    /// every project with its keys, rules, sessions, threads, messages and telemetry.
    Export {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Only the threads and messages of this workspace (of --project, else of the default project).
        #[arg(long)]
        workspace: Option<String>,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Read an export; records already present are skipped.
    Import {
        file: PathBuf,
        /// Put every thread into this project instead of the one it names (other rows are skipped).
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Exit 0 when the server answers /readyz (for container health checks).
    Healthcheck {
        /// The server's URL, or its /readyz URL [default: the configured `listen` address].
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        file: ConfigFileArg,
    },
    /// Manage backend API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage auth rules: the identity providers whose tokens a project accepts.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Erase a user's data: the workspace of the same id (threads, messages, files),
    /// their feedback, scores, telemetry and anonymous session.
    EraseUser {
        user_id: String,
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Switch anonymous mode on or off for a project (on by default).
    Anonymous {
        #[command(subcommand)]
        command: AnonymousCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage projects.
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Titles written by a model (an OpenAI-compatible endpoint) instead of the built-in ones.
    Titles {
        #[command(subcommand)]
        command: titles::TitlesCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage dashboard accounts (the dashboard at /admin is off until one exists).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Create the database (and the default project) without starting the server.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// The flags of `serve` that are settings.
#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long)]
    listen: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective settings (secrets masked), each with its source: default, file, variable or flag.
    Print {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Check the config file and the THREADHOLD_* variables: one line per problem, exit 1 if any.
    Check {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print every setting documented: the example config file (docs/threadhold.example.toml).
    Example {
        #[arg(long, value_enum, default_value = "toml")]
        format: ExampleFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExampleFormat {
    /// A commented TOML file.
    Toml,
    /// The settings table of `docs/reference/configuration.md`.
    Markdown,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add an account; the password comes from a prompt, --password-stdin or --password-file.
    Add {
        email: String,
        /// owner (everything, including accounts), admin (also origins, retention, audit log) or member.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List accounts.
    List,
    /// Remove an account (not the last owner); its sessions end at once.
    Remove { email: String },
    /// Set a new password; the account's sessions end at once.
    Passwd {
        email: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

#[derive(Args)]
struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long, conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the key itself is printed alone on the last line, once.
    Create {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a key by id; requests with it fail from then on.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Trust an identity provider; prints the new rule's id alone on the last line.
    Add(Box<RuleArgs>),
    /// List rules (never their secrets).
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Remove a rule by id; its tokens are refused within seconds.
    Remove { id: String },
    /// Show, step by step, whether the project accepts a token and why (the dashboard's token tester).
    Test {
        token: String,
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
}

#[derive(Args)]
struct RuleArgs {
    #[arg(long, default_value = DEFAULT_PROJECT_ID)]
    project: String,
    /// clerk, auth0, supabase, firebase or oidc.
    #[arg(long)]
    provider: String,
    /// The token's `iss`, matched exactly (Auth0's ends with a slash).
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    name: Option<String>,
    /// Accepted audience (repeatable; any of them).
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// The JWKS URL (default: the provider's; OIDC discovery for `oidc`).
    #[arg(long)]
    jwks_url: Option<String>,
    /// Accepted algorithm (repeatable; default: what the provider uses).
    #[arg(long = "algorithm")]
    algorithms: Vec<String>,
    #[arg(long)]
    clock_skew_secs: Option<i64>,
    #[arg(long)]
    max_lifetime_secs: Option<i64>,
    /// Clerk's `azp`: an allowed origin (repeatable).
    #[arg(long = "authorized-party")]
    authorized_parties: Vec<String>,
    /// Workspace template over claims, e.g. `{sub}` or `{o.id}_{sub}`.
    #[arg(long)]
    workspace: Option<String>,
    /// Used when a claim of the template is missing, e.g. `{sub}`.
    #[arg(long)]
    workspace_fallback: Option<String>,
    /// A claim holding the user's display name.
    #[arg(long)]
    name_claim: Option<String>,
    /// A required `typ` header, e.g. `at+jwt`.
    #[arg(long)]
    token_type: Option<String>,
    /// A file holding Supabase's legacy HS256 JWT secret.
    #[arg(long)]
    shared_secret_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AnonymousCommand {
    /// Allow `POST /v1/auth/tokens/anonymous` and refreshes.
    Enable {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
    /// Refuse new anonymous identities and refreshes (403 `anonymous_disabled`).
    Disable {
        #[arg(long, default_value = DEFAULT_PROJECT_ID)]
        project: String,
    },
}

#[derive(Subcommand)]
enum ProjectsCommand {
    /// Create a project with its own signing key.
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Browser origin allowed by CORS (repeatable; none allows all).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
    /// List projects.
    List,
    /// Replace a project's allowed CORS origins (none allows every origin).
    Origins {
        id: String,
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(log_writer::on_worker_park)
        .on_thread_stop(log_writer::on_thread_stop)
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The whole cause chain on one line, without a backtrace: this is for operators.
            eprintln!("threadhold: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { serve: flags, storage } => {
            let (settings, unknown_env) = config::load(storage.file.config.as_deref(), flags_of(flags, &storage))?;
            init_logging(&settings);
            for name in unknown_env {
                tracing::warn!(variable = %name, "ignoring unknown environment variable");
            }
            serve(settings).await
        }
        Command::Export { project, workspace, out, storage } => {
            let store = open_store(&settings_for(&storage)?).await?;
            let mut output: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let scope = match (&project, &workspace) {
                (None, None) => ExportScope::Deployment,
                (Some(project), None) => ExportScope::Project(project),
                (project, Some(workspace)) => ExportScope::Workspace {
                    project_id: project.as_deref().unwrap_or(DEFAULT_PROJECT_ID),
                    workspace_id: workspace,
                },
            };
            let counts = transfer::export(store.as_ref(), scope, &mut output).await?;
            output.flush()?;
            eprintln!(
                "Exported {} threads, {} messages and {} other rows.",
                counts.threads, counts.messages, counts.other
            );
            Ok(())
        }
        Command::Import { file, project, storage } => {
            let store = open_store(&settings_for(&storage)?).await?;
            let mut input = std::io::BufReader::new(
                std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?,
            );
            let counts = transfer::import(store.as_ref(), project.as_deref(), &mut input).await?;
            println!(
                "Imported {} threads, {} messages and {} other rows ({} already present).",
                counts.threads, counts.messages, counts.other, counts.skipped
            );
            Ok(())
        }
        Command::Config { command } => config_command(command),
        Command::Healthcheck { url, file } => {
            let base = match url {
                Some(url) => url,
                None => local_url(&config::load(file.config.as_deref(), FlagOverrides::default())?.0.listen),
            };
            // A URL that already names a probe is taken as it is.
            let url = if base.ends_with("/readyz") || base.ends_with("/healthz") {
                base
            } else {
                format!("{}/readyz", base.trim_end_matches('/'))
            };
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build()?;
            let response = client.get(&url).send().await.with_context(|| format!("asking {url}"))?;
            if !response.status().is_success() {
                bail!("{url} is not ready: {}", response.status());
            }
            println!("ready");
            Ok(())
        }
        Command::Keys { command, storage } => {
            let store = open_existing_store(&settings_for(&storage)?).await?;
            keys_command(store.as_ref(), command).await
        }
        Command::Rules { command, storage } => {
            let settings = settings_for(&storage)?;
            let store = open_existing_store(&settings).await?;
            rules_command(store, command, &settings).await
        }
        Command::EraseUser { user_id, project, storage } => {
            let settings = settings_for(&storage)?;
            let store = open_existing_store(&settings).await?;
            let blobs = threadhold_server::state::open_blob_store(store.as_ref(), &settings.server_config()?)
                .await
                .context("opening the file storage")?;
            let erasure = users::erase(store.as_ref(), blobs.as_ref(), &Actor::Cli, &project, &user_id).await?;
            println!(
                "Erased user {user_id} in project {project}: {} threads and {} files deleted.",
                erasure.threads,
                erasure.attachment_keys.len()
            );
            Ok(())
        }
        Command::Anonymous { command, storage } => {
            let store = open_existing_store(&settings_for(&storage)?).await?;
            let (project, enabled) = match command {
                AnonymousCommand::Enable { project } => (project, true),
                AnonymousCommand::Disable { project } => (project, false),
            };
            access::set_anonymous(store.as_ref(), &Actor::Cli, &project, enabled).await?;
            let state = if enabled { "enabled" } else { "disabled" };
            println!("Anonymous mode {state} for project {project} (running servers follow within 2 s).");
            Ok(())
        }
        Command::Projects { command, storage } => {
            let store = open_existing_store(&settings_for(&storage)?).await?;
            projects_command(store.as_ref(), command).await
        }
        Command::Admin { command, storage } => {
            let store = open_existing_store(&settings_for(&storage)?).await?;
            admin_command(store.as_ref(), command).await
        }
        Command::Init { storage } => {
            let settings = settings_for(&storage)?;
            open_store(&settings).await?.close().await;
            println!("The database at {} is ready.", database_label(&settings));
            Ok(())
        }
        Command::Titles { command, storage } => {
            let store = open_store(&settings_for(&storage)?).await?;
            titles::run(store.as_ref(), command).await
        }
    }
}

fn storage_flags(storage: &StorageArgs) -> FlagOverrides {
    FlagOverrides { data: storage.data.clone(), database_url: storage.database_url.clone(), ..FlagOverrides::default() }
}

fn flags_of(serve: ServeArgs, storage: &StorageArgs) -> FlagOverrides {
    FlagOverrides { listen: serve.listen, log_format: serve.log_format, ..storage_flags(storage) }
}

fn settings_for(storage: &StorageArgs) -> anyhow::Result<Settings> {
    Ok(config::load(storage.file.config.as_deref(), storage_flags(storage))?.0)
}

fn config_command(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Print { serve, storage } => {
            let flags = flags_of(serve, &storage);
            let layered = config::Layered::new(storage.file.config.as_deref(), &flags, std::env::vars())?;
            print!("{}", config::inspect::print(&layered)?);
        }
        ConfigCommand::Check { serve, storage } => {
            let flags = flags_of(serve, &storage);
            let problems = config::inspect::check(storage.file.config.as_deref(), &flags, std::env::vars());
            if !problems.is_empty() {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                bail!("{} problem(s) in the configuration", problems.len());
            }
            println!("ok");
        }
        ConfigCommand::Example { format } => match format {
            ExampleFormat::Toml => print!("{}", config::inspect::example()?),
            ExampleFormat::Markdown => print!("{}", config::inspect::markdown_table()?),
        },
    }
    Ok(())
}

/// A URL to reach a listen address from this machine (a wildcard address is reached on loopback).
fn local_url(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(mut address) => {
            if address.ip().is_unspecified() {
                let loopback = match address {
                    std::net::SocketAddr::V4(_) => std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
                    std::net::SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                };
                address.set_ip(loopback);
            }
            format!("http://{address}")
        }
        Err(_) => format!("http://{listen}"),
    }
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_level));
    // Colours only for a terminal: escape codes garble files and log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_writer::LogWriter)
        .with_ansi(std::io::stderr().is_terminal());
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// Opens the database of an admin command: it must exist already (a typo in
/// --data must not create an empty database beside the real one).
async fn open_existing_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let file = match &settings.database_url {
        Some(url) if url.starts_with("sqlite:") => Some(threadhold_store::sqlite::path_of_url(url)?),
        Some(_) => None,
        None => Some(settings.database_file()),
    };
    if let Some(file) = file
        && !file.exists()
    {
        bail!(
            "there is no database at {}; check --data / --database-url, or create it with `threadhold init` \
             (or by starting `threadhold serve` once)",
            file.display()
        );
    }
    open_store(settings).await
}

/// Opens the configured database (creating it), runs migrations and makes sure the default project exists.
async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match &settings.database_url {
        Some(url) if url.starts_with("sqlite:") => {
            Arc::new(SqliteStore::open_url(url, settings.sqlite_options()).await.context("opening the database")?)
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            Arc::new(PgStore::connect_with(url, settings.postgres_options()).await.context("connecting to PostgreSQL")?)
        }
        Some(_) => bail!("unsupported database URL: it must start with sqlite: or postgres:"),
        None => {
            std::fs::create_dir_all(&settings.data)
                .with_context(|| format!("creating the data folder {}", settings.data.display()))?;
            Arc::new(
                SqliteStore::open_with(&settings.database_file(), settings.sqlite_options())
                    .await
                    .context("opening the database")?,
            )
        }
    };
    projects::bootstrap(store.as_ref()).await.context("preparing the default project")?;
    Ok(store)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let listener =
        TcpListener::bind(&settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::new(store.clone(), settings.server_config()?).await.context("preparing the server")?;
    if let Some(address) = &settings.metrics_listen {
        serve_metrics(address).await?;
    }
    // The one line on stdout: scripts and tests read the bound address from it.
    println!("threadhold listening on http://{address}");
    std::io::stdout().flush()?;
    tracing::info!(%address, database = %database_label(&settings), "threadhold started");
    // What to do next, in one line: a key for the backend, and the dashboard (or how to open it).
    let url = settings.public_url.clone().unwrap_or_else(|| local_url(&address.to_string()));
    let url = url.trim_end_matches('/');
    if admins::dashboard_enabled(store.as_ref()).await? {
        tracing::info!(
            "next: create an API key for your backend with `threadhold keys create --name NAME` \
             or in the dashboard at {url}/admin"
        );
    } else {
        tracing::info!(
            "next: create an API key for your backend with `threadhold keys create --name NAME`; \
             the dashboard ({url}/admin) is off until an account exists: `threadhold admin add EMAIL --role owner`"
        );
    }
    threadhold_server::launch(state, listener, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("threadhold stopped");
    Ok(())
}

/// Prometheus metrics on their own listener, so they are never exposed with the API by accident.
async fn serve_metrics(address: &str) -> anyhow::Result<()> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let listener = TcpListener::bind(address).await.with_context(|| format!("listening for metrics on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving metrics at /metrics");
    let app = axum::Router::new().route("/metrics", axum::routing::get(move || std::future::ready(handle.render())));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    Ok(())
}

fn database_label(settings: &Settings) -> String {
    match &settings.database_url {
        Some(_) => "database_url".to_owned(),
        None => settings.database_file().display().to_string(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn keys_command(store: &dyn Store, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { project, name, expires_in_days } => {
            let issued = keys::create(store, &Actor::Cli, &project, &name, expires_in_days).await?;
            let record = &issued.record;
            println!("Created API key {} for project {}.", record.id, record.project_id);
            if let Some(expires_at) = record.expires_at {
                println!("It expires at {}.", format_ms(expires_at));
            }
            println!("Store it now: it is shown only once.");
            println!("{}", issued.secret);
        }
        KeysCommand::List { project } => {
            println!(
                "{:<32} {:<16} {:<24} {:<10} {:<24} {:<24} NAME",
                "ID", "PROJECT", "KEY", "STATUS", "EXPIRES", "LAST USED"
            );
            let now = threadhold_domain::now_ms();
            for key in keys::list(store, project.as_deref()).await? {
                let status = keys::status(&key, now);
                println!(
                    "{:<32} {:<16} {:<24} {:<10} {:<24} {:<24} {}",
                    key.id,
                    key.project_id,
                    key.display_prefix,
                    status,
                    key.expires_at.map_or_else(|| "never".to_owned(), format_ms),
                    key.last_used_at.map_or_else(|| "never".to_owned(), format_ms),
                    key.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            keys::revoke(store, &Actor::Cli, None, &id).await?;
            println!("Revoked API key {id}.");
        }
    }
    Ok(())
}

async fn projects_command(store: &dyn Store, command: ProjectsCommand) -> anyhow::Result<()> {
    match command {
        ProjectsCommand::Create { id, name, allowed_origins } => {
            let project = projects::create(store, &Actor::Cli, &id, name.as_deref().unwrap_or(&id)).await?;
            if !allowed_origins.is_empty() {
                access::set_origins(store, &Actor::Cli, &id, &allowed_origins).await?;
            }
            println!("Created project {}.", project.id);
        }
        ProjectsCommand::Origins { id, allowed_origins } => {
            access::set_origins(store, &Actor::Cli, &id, &allowed_origins).await?;
            println!("Project {id} now allows {}.", origins_label(&allowed_origins));
        }
        ProjectsCommand::List => {
            println!("{:<24} {:<24} {:<26} ALLOWED ORIGINS", "ID", "NAME", "CREATED");
            for project in projects::list(store).await? {
                let origins = origins_label(&project.allowed_origins);
                println!("{:<24} {:<24} {:<26} {origins}", project.id, project.name, format_ms(project.created_at));
            }
        }
    }
    Ok(())
}

fn origins_label(origins: &[String]) -> String {
    if origins.is_empty() { "every origin (*)".to_owned() } else { origins.join(" ") }
}

async fn rules_command(shared: Arc<dyn Store>, command: RulesCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = shared.as_ref();
    let jwks_allow_hosts = &settings.jwks_allow_hosts();
    match command {
        RulesCommand::Add(args) => {
            let args = *args;
            let project = args.project.clone();
            let input = config::ConfiguredRule {
                project: args.project,
                provider: args.provider,
                issuer: args.issuer,
                name: args.name,
                audiences: args.audiences,
                jwks_url: args.jwks_url,
                shared_secret_file: args.shared_secret_file,
                algorithms: args.algorithms,
                clock_skew_secs: args.clock_skew_secs,
                max_lifetime_secs: args.max_lifetime_secs,
                authorized_parties: args.authorized_parties,
                workspace: args.workspace,
                workspace_fallback: args.workspace_fallback,
                name_claim: args.name_claim,
                token_type: args.token_type,
            }
            .input()?;
            let rule = rules::add(store, &Actor::Cli, &project, input, jwks_allow_hosts).await?;
            let keys = match (&rule.jwks_url, rule.discovery) {
                (Some(url), _) => url.clone(),
                (None, true) => "OIDC discovery".to_owned(),
                (None, false) => "shared secret".to_owned(),
            };
            println!(
                "Added rule {} ({}) for issuer {} in project {}; keys: {keys}.",
                rule.name, rule.provider, rule.issuer, rule.project_id
            );
            println!("{}", rule.id);
        }
        RulesCommand::List { project } => {
            println!("{:<30} {:<12} {:<10} {:<16} {:<40} WORKSPACE", "ID", "PROJECT", "PROVIDER", "NAME", "ISSUER");
            for rule in store.list_auth_rules(project.as_deref()).await? {
                println!(
                    "{:<30} {:<12} {:<10} {:<16} {:<40} {}",
                    rule.id, rule.project_id, rule.provider, rule.name, rule.issuer, rule.workspace_template
                );
            }
        }
        RulesCommand::Remove { id } => {
            rules::remove(store, &Actor::Cli, None, &id).await?;
            println!("Removed rule {id}.");
        }
        RulesCommand::Test { token, project } => {
            let config = settings.server_config()?;
            let verifiers = threadhold_server::state::TokenVerifiers::new(&config, Arc::clone(&shared))?;
            let verifiers = Verifiers { jwks: &verifiers.jwks, keys: &verifiers.keys, configured: &config.auth_rules };
            let report = rules::test_token(store, &verifiers, &Actor::Cli, &project, &token).await?;
            if let Some(header) = &report.header {
                println!("header: {header}");
            }
            if let Some(claims) = &report.claims {
                println!("claims: {claims}");
            }
            for step in &report.steps {
                println!("{} {}: {}", if step.passed { "ok  " } else { "FAIL" }, step.label, step.detail);
            }
            match report.decision {
                Decision::Accepted { rule, user_id, workspace_id, .. } => {
                    println!("accepted by {rule}: user {user_id} in workspace {workspace_id}");
                }
                Decision::Refused { code, reason } => bail!("refused ({code}): {reason}"),
            }
        }
    }
    Ok(())
}

/// The password of `admin add` / `admin passwd`: from a file, standard input, or a prompt (asked twice).
fn read_password(args: &PasswordArgs) -> anyhow::Result<String> {
    let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(first_line(&text));
    }
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(first_line(&line));
    }
    let password = rpassword::prompt_password("Password: ").context("reading the password")?;
    if rpassword::prompt_password("Again: ").context("reading the password")? != password {
        bail!("the passwords differ");
    }
    Ok(password)
}

async fn admin_command(store: &dyn Store, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Add { email, role, password } => {
            let account = admins::add(store, &Actor::Cli, &email, &role, &read_password(&password)?).await?;
            println!("Added {} ({}); sign in at /admin.", account.email, account.role.as_str());
        }
        AdminCommand::List => {
            println!("{:<40} {:<8} {:<26} LAST LOGIN", "EMAIL", "ROLE", "CREATED");
            for account in admins::list(store, &Actor::Cli).await? {
                let login = account.last_login_at.map_or_else(|| "never".to_owned(), format_ms);
                println!(
                    "{:<40} {:<8} {:<26} {login}",
                    account.email,
                    account.role.as_str(),
                    format_ms(account.created_at)
                );
            }
        }
        AdminCommand::Remove { email } => {
            admins::remove(store, &Actor::Cli, &email).await?;
            println!("Removed {email}.");
        }
        AdminCommand::Passwd { email, password } => {
            admins::set_password(store, &Actor::Cli, &email, &read_password(&password)?).await?;
            println!("Changed the password of {email}; its sessions have ended.");
        }
    }
    Ok(())
}
