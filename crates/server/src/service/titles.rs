//! Titles written by a model, for projects that name one (`threadhold titles
//! set`); the built-in generator stays the default and the fallback.
//!
//! Three triggers share one budget per thread (see
//! [`threadhold_domain::title::state`]):
//! - the runtime's title request (`POST /v1/runs/stream`), which waits for the
//!   model at most [`TitleSettings::budget`] and otherwise answers the built-in
//!   title;
//! - a user message stored on a thread whose title is still automatic: the
//!   built-in title is stored with the message as before, and the model
//!   replaces it in the background;
//! - the hourly sweep over recent threads a request missed or failed on.
//!
//! A request makes only a thread's first attempt; the sweep retries up to
//! [`ATTEMPTS_MAX`]. Every attempt is claimed in the store first, so the
//! triggers (on any number of nodes) never call the model twice at once for a
//! thread, and the model's title is written only while no user has set one.

pub mod client;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use threadhold_domain::limits::MESSAGE_PAGE_MAX;
use threadhold_domain::model::{Thread, WorkspaceScope};
use threadhold_domain::title::prompt::TitleSource;
use threadhold_domain::title::settings::{
    ATTEMPT_STALE_MS, ATTEMPTS_MAX, REQUEST_ATTEMPTS_MAX, SWEEP_CONCURRENCY, SWEEP_THREADS_MAX, SWEEP_WINDOW_MS,
    TitleSettings,
};
use threadhold_domain::title::state::TitleState;
use threadhold_domain::title::title_from_messages;
use threadhold_domain::{Millis, now_ms};
use threadhold_store::{ReadScope, Store, StoreError, StoreResult};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::state::AppState;
use client::ModelClient;

/// How often a request waiting for another trigger's attempt looks at the thread.
const WAIT_POLL: Duration = Duration::from_millis(100);
/// A request waits the settings' budget plus this, for the database work around the calls.
const WAIT_MARGIN: Duration = Duration::from_secs(1);

/// What starts an attempt (logged, and a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The runtime's title request (`POST /v1/runs/stream`).
    Request,
    /// A user message stored on a thread with an automatic title.
    Message,
    /// The hourly sweep.
    Sweep,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Request => "request",
            Trigger::Message => "message",
            Trigger::Sweep => "sweep",
        }
    }
}

/// Cached settings: when they were read, and the project's settings if its titles are on.
type CachedSettings = (Instant, Option<Arc<TitleSettings>>);

/// The title model machinery a server holds: the HTTP client, a short-lived
/// cache of each project's settings, and when the sweep last ran.
pub struct Titles {
    client: ModelClient,
    settings: RwLock<HashMap<String, CachedSettings>>,
    last_sweep: Mutex<Option<Instant>>,
}

impl Titles {
    pub fn new() -> Result<Self, String> {
        Ok(Titles { client: ModelClient::new()?, settings: RwLock::default(), last_sweep: Mutex::default() })
    }

    /// The project's settings when its model titles are on, cached for `ttl`
    /// (changes reach running servers sooner, through the settings watch).
    pub async fn enabled_settings(
        &self,
        store: &dyn Store,
        project_id: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Arc<TitleSettings>>> {
        if let Some((at, settings)) = self.settings.read().ok().and_then(|cache| cache.get(project_id).cloned())
            && at.elapsed() < ttl
        {
            return Ok(settings);
        }
        let settings = store.title_settings(project_id).await?.filter(|s| s.enabled).map(Arc::new);
        if let Ok(mut cache) = self.settings.write() {
            cache.insert(project_id.to_owned(), (Instant::now(), settings.clone()));
        }
        Ok(settings)
    }

    /// Forgets the projects' settings: they changed.
    pub fn forget_settings(&self) {
        if let Ok(mut cache) = self.settings.write() {
            cache.clear();
        }
    }

    /// True (and the clock reset) when `interval` passed since the last sweep.
    fn sweep_due(&self, interval: Duration) -> bool {
        let Ok(mut last) = self.last_sweep.lock() else { return false };
        if last.is_some_and(|at| at.elapsed() < interval) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

async fn settings_of(state: &AppState, project_id: &str) -> StoreResult<Option<Arc<TitleSettings>>> {
    let ttl = Duration::from_secs(state.config.project_cache_secs);
    state.titles.enabled_settings(state.store.as_ref(), project_id, ttl).await
}

/// The title `POST /v1/runs/stream` answers for `thread`: a user's title as
/// stored; with a title model, the model's title, waiting at most the
/// settings' budget for it (also for an attempt another trigger runs);
/// otherwise, or when the model fails, the built-in title, stored if the
/// thread had none. `None` when nothing has text to title from.
pub async fn requested_title(
    state: &AppState,
    scope: &WorkspaceScope,
    thread: &Thread,
    messages: &[Value],
) -> StoreResult<Option<String>> {
    if thread.title_from_user {
        return Ok(thread.title.clone());
    }
    let Some(settings) = settings_of(state, &scope.project_id).await? else {
        return match &thread.title {
            Some(title) => Ok(Some(title.clone())),
            None => store_builtin(state, scope, &thread.id, messages).await,
        };
    };
    let deadline = tokio::time::Instant::now() + settings.budget() + WAIT_MARGIN;
    // The request may arrive before the first message is stored: title from its messages first.
    let source = TitleSource::from_messages(messages);
    // Detached, so a client that hangs up does not cancel the model call (its title is kept).
    let task = tokio::spawn(attempt(
        state.clone(),
        settings,
        scope.clone(),
        thread.id.clone(),
        Trigger::Request,
        REQUEST_ATTEMPTS_MAX,
        source,
    ));
    let outcome = match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(outcome)) => outcome?,
        Ok(Err(error)) => {
            tracing::error!(%error, "a title attempt panicked");
            Outcome::Failed
        }
        Err(_) => {
            tracing::warn!(thread_id = %thread.id, "the title model is too slow; answering the built-in title");
            Outcome::Failed
        }
    };
    match outcome {
        Outcome::Titled(title) => Ok(title),
        Outcome::NotStarted(current) if current.origin.is_final() => Ok(current.title),
        Outcome::NotStarted(current) if current.is_running(now_ms() - ATTEMPT_STALE_MS) => {
            match wait_for_attempt(state, scope, &thread.id, deadline).await? {
                Some(done) if done.origin.is_final() => Ok(done.title),
                _ => store_builtin(state, scope, &thread.id, messages).await,
            }
        }
        // The budget is spent: the built-in title stays.
        Outcome::NotStarted(TitleState { title: Some(title), .. }) => Ok(Some(title)),
        Outcome::NotStarted(_) | Outcome::NoText | Outcome::Failed => {
            store_builtin(state, scope, &thread.id, messages).await
        }
    }
}

/// Polls the thread until the attempt another trigger runs ends (or `deadline`).
async fn wait_for_attempt(
    state: &AppState,
    scope: &WorkspaceScope,
    thread_id: &str,
    deadline: tokio::time::Instant,
) -> StoreResult<Option<TitleState>> {
    loop {
        let current = state.store.title_state(scope, thread_id).await?;
        let running = current.as_ref().is_some_and(|s| s.is_running(now_ms() - ATTEMPT_STALE_MS));
        if !running || tokio::time::Instant::now() >= deadline {
            return Ok(current);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// The built-in title from the request's messages (else the stored ones),
/// stored unless the thread has a title; returns the title the thread ends with.
async fn store_builtin(
    state: &AppState,
    scope: &WorkspaceScope,
    thread_id: &str,
    messages: &[Value],
) -> StoreResult<Option<String>> {
    let generated = match title_from_messages(messages) {
        Some(title) => Some(title),
        None => title_from_messages(&stored_messages(state.store.as_ref(), scope, thread_id).await?),
    };
    state.store.set_auto_title(scope, thread_id, generated.as_deref(), now_ms()).await
}

/// The message trigger: after a user message is stored, a model title in the
/// background when the project has a title model and the thread's title is
/// still automatic (the claim decides; it is cheap when there is nothing to do).
pub async fn user_message_stored(state: &AppState, scope: &WorkspaceScope, thread_id: &str) {
    let settings = match settings_of(state, &scope.project_id).await {
        Ok(Some(settings)) => settings,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "reading the title settings failed");
            return;
        }
    };
    let task = attempt(
        state.clone(),
        settings,
        scope.clone(),
        thread_id.to_owned(),
        Trigger::Message,
        REQUEST_ATTEMPTS_MAX,
        None,
    );
    tokio::spawn(async move {
        if let Err(error) = task.await {
            tracing::warn!(%error, "a model title attempt failed in the database");
        }
    });
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Threads whose attempt started.
    pub attempted: usize,
    pub titled: usize,
    pub failed: usize,
}

/// One sweep: recent threads (created within 7 days, at `now`) of projects
/// with a title model whose title is still automatic and whose attempts are
/// not spent, newest first, at most [`SWEEP_THREADS_MAX`], a few at a time.
pub async fn sweep(state: &AppState, now: Millis) -> StoreResult<SweepReport> {
    let candidates = state
        .store
        .title_candidates(now - SWEEP_WINDOW_MS, ATTEMPTS_MAX, now - ATTEMPT_STALE_MS, SWEEP_THREADS_MAX)
        .await?;
    let permits = Arc::new(Semaphore::new(SWEEP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for candidate in candidates {
        // A failed read skips one thread; the attempts already running go on.
        let settings = match settings_of(state, &candidate.project_id).await {
            Ok(Some(settings)) => settings,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "reading the title settings failed");
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
        let scope = WorkspaceScope { project_id: candidate.project_id, workspace_id: candidate.workspace_id };
        let task = attempt(state.clone(), settings, scope, candidate.thread_id, Trigger::Sweep, ATTEMPTS_MAX, None);
        tasks.spawn(async move {
            let outcome = task.await;
            drop(permit);
            outcome
        });
    }
    let mut report = SweepReport::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(Outcome::Titled(_))) => (report.attempted, report.titled) = (report.attempted + 1, report.titled + 1),
            Ok(Ok(Outcome::Failed)) => (report.attempted, report.failed) = (report.attempted + 1, report.failed + 1),
            Ok(Ok(Outcome::NotStarted(_) | Outcome::NoText)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "a swept title attempt failed in the database"),
            Err(error) => tracing::error!(%error, "a swept title attempt panicked"),
        }
    }
    Ok(report)
}

/// Housekeeping's hook: a sweep when `config.title_sweep_interval_secs` passed since the last one.
pub async fn sweep_when_due(state: &AppState) {
    if !state.titles.sweep_due(Duration::from_secs(state.config.title_sweep_interval_secs)) {
        return;
    }
    match sweep(state, now_ms()).await {
        Ok(SweepReport { attempted: 0, .. }) => {}
        Ok(report) => tracing::info!(
            attempted = report.attempted,
            titled = report.titled,
            failed = report.failed,
            "title sweep done"
        ),
        Err(error) => tracing::warn!(%error, "the title sweep failed"),
    }
}

/// How an attempt ended.
enum Outcome {
    /// No attempt started (the title is final, the budget spent, or another attempt runs).
    NotStarted(TitleState),
    /// No user text to title from yet: no attempt spent.
    NoText,
    /// The model answered; the title the thread ends with (a user's, if one renamed it meanwhile).
    Titled(Option<String>),
    /// No title from the model (logged); the built-in title stays or was stored.
    Failed,
}

/// One attempt: claim it, read the conversation (`source`, else the stored
/// messages), ask the model, store its title or, when it fails, the built-in one.
async fn attempt(
    state: AppState,
    settings: Arc<TitleSettings>,
    scope: WorkspaceScope,
    thread_id: String,
    trigger: Trigger,
    max_attempts: u32,
    source: Option<TitleSource>,
) -> StoreResult<Outcome> {
    let now = now_ms();
    let (project_id, trigger_label) = (scope.project_id.as_str(), trigger.as_str());
    let source = match source {
        Some(source) => source,
        None => {
            // Read the text before claiming: with nothing to ask the model no
            // attempt is spent (a sweep passing before the first user message
            // must not use up the attempt that message is due).
            let current = state.store.title_state(&scope, &thread_id).await?.ok_or(StoreError::ThreadNotFound)?;
            if !current.may_start(max_attempts, now - ATTEMPT_STALE_MS) {
                return Ok(Outcome::NotStarted(current));
            }
            match TitleSource::from_messages(&stored_messages(state.store.as_ref(), &scope, &thread_id).await?) {
                Some(source) => source,
                None => {
                    metrics::counter!("threadhold_model_titles_total", "trigger" => trigger_label, "outcome" => "no_text")
                        .increment(1);
                    tracing::debug!(project_id, thread_id, trigger = trigger_label, "no user text to title from");
                    return Ok(Outcome::NoText);
                }
            }
        }
    };
    let claim = state.store.claim_title_attempt(&scope, &thread_id, max_attempts, now - ATTEMPT_STALE_MS, now).await?;
    let Some(started_at) = claim.started_at else { return Ok(Outcome::NotStarted(claim.state)) };
    let attempt = claim.state.attempts;
    let outcome = state.titles.client.title(&settings, &source).await;
    let finish_title = outcome.as_ref().ok().map(String::as_str);
    // The attempt ends whatever the model answered, so it never blocks the next.
    let finished = state.store.finish_title_attempt(&scope, &thread_id, started_at, finish_title, now_ms()).await;
    match outcome {
        Ok(title) => {
            let stored = finished?;
            metrics::counter!("threadhold_model_titles_total", "trigger" => trigger_label, "outcome" => "titled")
                .increment(1);
            tracing::info!(project_id, thread_id, trigger = trigger_label, attempt, model = %settings.model, "thread titled by the model");
            if stored.as_deref() != Some(title.as_str()) {
                tracing::info!(project_id, thread_id, "a title set meanwhile was kept");
            }
            Ok(Outcome::Titled(stored))
        }
        Err(error) => {
            finished?;
            metrics::counter!("threadhold_model_titles_total", "trigger" => trigger_label, "outcome" => "failed")
                .increment(1);
            tracing::warn!(
                project_id,
                thread_id,
                trigger = trigger_label,
                attempt,
                model = %settings.model,
                %error,
                "the title model failed; the built-in title stays"
            );
            let fallback = source.builtin_title();
            state.store.set_auto_title(&scope, &thread_id, fallback.as_deref(), now_ms()).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// The thread's stored messages, oldest first, as their JSON content (the
/// newest page: a thread being titled is young).
async fn stored_messages(store: &dyn Store, scope: &WorkspaceScope, thread_id: &str) -> StoreResult<Vec<Value>> {
    let mut messages = store.list_messages(&ReadScope::from(scope), thread_id, None, MESSAGE_PAGE_MAX).await?;
    messages.reverse();
    Ok(messages.iter().filter_map(|m| serde_json::from_str::<Value>(&m.content).ok()).collect())
}

/// Why title settings were not changed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid title settings: {0}")]
    Invalid(String),
    #[error("no project {0}")]
    ProjectNotFound(String),
    #[error("project {0} has no title model; set one with `threadhold titles set`")]
    NotConfigured(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks and stores a project's title settings (switched on); returns them as stored.
pub async fn configure(store: &dyn Store, settings: TitleSettings) -> Result<TitleSettings, SettingsError> {
    let settings =
        TitleSettings { enabled: true, updated_at: now_ms(), ..settings }.checked().map_err(SettingsError::Invalid)?;
    if !store.put_title_settings(&settings).await? {
        return Err(SettingsError::ProjectNotFound(settings.project_id));
    }
    Ok(settings)
}

/// Switches a configured project's model titles on or off.
pub async fn switch(store: &dyn Store, project_id: &str, enabled: bool) -> Result<(), SettingsError> {
    if store.set_titles_enabled(project_id, enabled, now_ms()).await? {
        return Ok(());
    }
    match store.get_project(project_id).await? {
        Some(_) => Err(SettingsError::NotConfigured(project_id.to_owned())),
        None => Err(SettingsError::ProjectNotFound(project_id.to_owned())),
    }
}

/// A title for `text` from the project's model (switched on or not), without
/// storing anything: the operator's check of the settings.
pub async fn try_settings(settings: &TitleSettings, text: &str) -> Result<String, String> {
    let client = ModelClient::new()?;
    let source = TitleSource { user: text.to_owned(), reply: None };
    client.title(settings, &source).await.map_err(|error| error.to_string())
}
