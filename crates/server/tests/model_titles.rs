//! Titles written by a model, against a fake OpenAI-compatible server on
//! 127.0.0.1 that each test scripts: answers, errors, malformed bodies, slow
//! answers; on either store backend.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::{Client, TestServer};
use serde_json::{Value, json};
use threadhold_domain::model::WorkspaceScope;
use threadhold_domain::title::settings::{ApiKeySource, ApiStyle, TitleSettings};
use threadhold_domain::title::state::TitleOrigin;
use threadhold_server::ServerConfig;
use threadhold_server::service::titles;

const KEY: &str = "sk-test-4c8f2e91d7b3a605-secret";

/// What the fake model does with one request.
#[derive(Clone, Debug)]
enum Reply {
    /// 200 with a chat completion whose content is this text.
    Title(String),
    /// This status with this JSON body.
    Status(u16, Value),
    /// 200 with this body, as is.
    Raw(String),
    /// A title after a pause.
    Slow(Duration, String),
}

fn title(text: &str) -> Reply {
    Reply::Title(text.to_owned())
}

/// One request the fake model received.
#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn system(&self) -> &str {
        self.body["messages"][0]["content"].as_str().unwrap_or_default()
    }

    fn input(&self) -> &str {
        self.body["messages"][1]["content"].as_str().unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    otherwise: Arc<Mutex<Option<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A fake OpenAI-compatible server: scripted replies first, then `otherwise`.
struct FakeModel {
    url: String,
    script: Script,
}

impl FakeModel {
    async fn start(otherwise: Reply) -> Self {
        let script = Script::default();
        *script.otherwise.lock().expect("lock") = Some(otherwise);
        let app = axum::Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeModel { url, script }
    }

    /// Replies for the next requests, in order.
    fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.replies.lock().expect("lock").extend(replies);
    }

    fn otherwise(&self, reply: Reply) {
        *self.script.otherwise.lock().expect("lock") = Some(reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().expect("lock").clone()
    }

    fn calls(&self) -> usize {
        self.script.seen.lock().expect("lock").len()
    }
}

async fn answer(
    State(script): State<Script>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    script.seen.lock().expect("lock").push(Seen { uri: uri.0.to_string(), headers, body });
    let next = script.replies.lock().expect("lock").pop_front();
    let reply = next.or_else(|| script.otherwise.lock().expect("lock").clone()).expect("a reply");
    let completion = |content: &str| {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
        })
        .to_string()
    };
    let json_response = |status: StatusCode, body: String| {
        (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    match reply {
        Reply::Title(text) => json_response(StatusCode::OK, completion(&text)),
        Reply::Status(status, body) => json_response(StatusCode::from_u16(status).expect("status"), body.to_string()),
        Reply::Raw(body) => json_response(StatusCode::OK, body),
        Reply::Slow(pause, text) => {
            tokio::time::sleep(pause).await;
            json_response(StatusCode::OK, completion(&text))
        }
    }
}

/// Settings for the fake model, with the key in a file of the test's folder.
fn settings_for(server: &TestServer, model: &FakeModel) -> TitleSettings {
    let key_file = server.dir.path().join("model-key");
    std::fs::write(&key_file, format!("{KEY}\n")).expect("key file");
    let mut settings = TitleSettings::new(
        "default",
        &format!("{}/v1", model.url),
        "fake-model",
        ApiKeySource::File(key_file.display().to_string()),
    );
    settings.timeout_ms = 10_000; // generous: a loaded CI machine must not fail the model call
    settings
}

async fn configure(server: &TestServer, settings: TitleSettings) {
    titles::configure(server.store.as_ref(), settings).await.expect("configure");
}

/// A server whose default project titles with `model`.
async fn server_with(model: &FakeModel) -> TestServer {
    let server = TestServer::start().await;
    configure(&server, settings_for(&server, model)).await;
    server
}

fn scope(workspace: &str) -> WorkspaceScope {
    WorkspaceScope { project_id: "default".into(), workspace_id: workspace.into() }
}

async fn stream_title(ws: &Client, thread: &str, messages: Value) -> String {
    let reply = ws
        .post(
            "/v1/runs/stream",
            json!({"thread_id": thread, "assistant_id": "system/thread_title", "messages": messages}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
    reply.text
}

async fn stored_title(ws: &Client, thread: &str) -> Value {
    ws.get(&format!("/v1/threads/{thread}")).await.json["thread"]["title"].clone()
}

/// Waits until a model attempt was made on the thread and none runs; returns its title.
async fn settled_title(server: &TestServer, ws: &str, thread: &str) -> (Option<String>, TitleOrigin, u32) {
    let started = Instant::now();
    loop {
        let state = server.store.title_state(&scope(ws), thread).await.expect("state").expect("thread");
        if (state.attempts > 0 && state.running_since.is_none()) || started.elapsed() > Duration::from_secs(15) {
            return (state.title, state.origin, state.attempts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sourdough() -> Value {
    json!([
        {"id": "m1", "role": "user", "content": [{"type": "text", "text": "How do I bake sourdough bread at home?"}], "status": {"type": "complete"}, "attachments": []},
        {"id": "m2", "role": "assistant", "content": [{"type": "text", "text": "Start with an active starter."}, {"type": "tool-call", "toolCallId": "c", "toolName": "search", "args": {}}], "status": {"type": "complete", "reason": "stop"}}
    ])
}

#[tokio::test]
async fn the_title_request_answers_the_models_title_and_stores_it() {
    let model = FakeModel::start(title("  \"Sourdough Baking at Home.\"  ")).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "Sourdough Baking at Home");
    assert_eq!(stored_title(&ws, &thread).await, "Sourdough Baking at Home");

    let seen = model.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}").as_str());
    assert_eq!(seen[0].body["model"], "fake-model");
    assert!(
        seen[0]
            .system()
            .starts_with("Write a title for this conversation. At most 6 words, in the language the user writes in")
    );
    assert_eq!(
        seen[0].input(),
        "User: How do I bake sourdough bread at home?\n\nAssistant: Start with an active starter."
    );

    // Titled: streamed back without another call; a user's rename wins from then on.
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "Sourdough Baking at Home");
    ws.put(&format!("/v1/threads/{thread}"), json!({"title": "My bread"})).await.expect(200);
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "My bread");
    ws.add_message(&thread, None, "user", "More about flour").await;
    assert_eq!(settled_title(&server, "ws", &thread).await.1, TitleOrigin::User);
    assert_eq!(model.calls(), 1, "a titled thread never calls the model again");
}

#[tokio::test]
async fn the_first_user_message_stores_the_builtin_title_and_the_model_replaces_it() {
    let model = FakeModel::start(Reply::Slow(Duration::from_millis(300), "Kyoto in Spring".into())).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "assistant", "Welcome! Where to?").await;
    assert!(stored_title(&ws, &thread).await.is_null(), "assistant messages do not title");
    ws.add_message(&thread, None, "user", "Plan a three day trip to Kyoto in spring please").await;
    assert_eq!(stored_title(&ws, &thread).await, "Plan a three day trip to Kyoto in", "the built-in title at once");
    let (title, origin, attempts) = settled_title(&server, "ws", &thread).await;
    assert_eq!((title.as_deref(), origin, attempts), (Some("Kyoto in Spring"), TitleOrigin::Model, 1));
    assert_eq!(
        model.seen()[0].input(),
        "User: Plan a three day trip to Kyoto in spring please\n\nAssistant: Welcome! Where to?"
    );
    ws.add_message(&thread, None, "user", "Something else entirely").await;
    assert_eq!(settled_title(&server, "ws", &thread).await.0.as_deref(), Some("Kyoto in Spring"));
    assert_eq!(model.calls(), 1, "later messages do not retitle");
}

#[tokio::test]
async fn a_title_set_while_the_model_runs_wins() {
    let model = FakeModel::start(Reply::Slow(Duration::from_millis(400), "Model title".into())).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Help me write a cover letter").await;
    let started = Instant::now();
    while model.calls() == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the model was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ws.put(&format!("/v1/threads/{thread}"), json!({"title": "Cover letter"})).await.expect(200);
    let (title, origin, _) = settled_title(&server, "ws", &thread).await;
    assert_eq!(model.calls(), 1, "the model ran");
    assert_eq!((title.as_deref(), origin), (Some("Cover letter"), TitleOrigin::User));
    assert_eq!(stream_title(&ws, &thread, json!([])).await, "Cover letter");
}

#[tokio::test]
async fn a_title_request_during_a_running_attempt_waits_for_it_instead_of_calling_again() {
    let model = FakeModel::start(Reply::Slow(Duration::from_millis(500), "Rust Lifetimes".into())).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Explain lifetimes in Rust").await;
    let messages = json!([{"role": "user", "content": [{"type": "text", "text": "Explain lifetimes in Rust"}]}]);
    assert_eq!(stream_title(&ws, &thread, messages).await, "Rust Lifetimes");
    assert_eq!(model.calls(), 1);
}

#[tokio::test]
async fn retries_once_and_falls_back_to_the_builtin_title_on_any_failure() {
    let model = FakeModel::start(title("unused")).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let cases: Vec<(&str, Vec<Reply>, usize, &str)> = vec![
        ("a retry that succeeds", vec![Reply::Status(500, json!({"error": {"message": "boom"}})), title("Retried Title")], 2, "Retried Title"),
        ("two server errors", vec![Reply::Status(503, json!({})), Reply::Status(500, json!({}))], 2, "Bake bread"),
        ("rate limited twice", vec![Reply::Status(429, json!({})), Reply::Status(429, json!({}))], 2, "Bake bread"),
        ("a refused key is not retried", vec![Reply::Status(401, json!({"error": {"code": "invalid_api_key"}}))], 1, "Bake bread"),
        ("an unknown model is not retried", vec![Reply::Status(404, json!({"error": {"code": "model_not_found"}}))], 1, "Bake bread"),
        ("not JSON", vec![Reply::Raw("<html>oops".into()), Reply::Raw("{".into())], 2, "Bake bread"),
        ("no choices", vec![Reply::Raw(r#"{"choices":[]}"#.into()), Reply::Raw(r#"{"object":"error"}"#.into())], 2, "Bake bread"),
        ("empty answers", vec![title(""), title("  \"\" ")], 2, "Bake bread"),
        ("null content and no tool call", vec![Reply::Raw(r#"{"choices":[{"message":{"content":null}}]}"#.into()), title("   ")], 2, "Bake bread"),
        ("content parts", vec![Reply::Raw(r#"{"choices":[{"message":{"content":[{"type":"text","text":"Bread Basics"}]}}]}"#.into())], 1, "Bread Basics"),
        ("a tool call", vec![Reply::Raw(r#"{"choices":[{"message":{"content":null,"tool_calls":[{"type":"function","function":{"name":"setTitle","arguments":"{\"title\":\"Bread by Tool\"}"}}]}}]}"#.into())], 1, "Bread by Tool"),
    ];
    for (case, replies, calls, expected) in cases {
        let before = model.calls();
        model.then(replies);
        let thread = ws.new_thread().await;
        let messages = json!([{"role": "user", "content": [{"type": "text", "text": "bake bread"}]}]);
        assert_eq!(stream_title(&ws, &thread, messages).await, expected, "{case}");
        assert_eq!(stored_title(&ws, &thread).await, expected, "{case}: stored");
        assert_eq!(model.calls() - before, calls, "{case}: calls");
    }
}

#[tokio::test]
async fn slow_and_unreachable_models_answer_the_builtin_title_in_bounded_time() {
    let model = FakeModel::start(Reply::Slow(Duration::from_secs(3), "Too late".into())).await;
    let server = TestServer::start().await;
    let mut settings = settings_for(&server, &model);
    settings.timeout_ms = 300;
    configure(&server, settings.clone()).await;
    let ws = server.workspace("ws");
    let messages = json!([{"role": "user", "content": [{"type": "text", "text": "Why is the sky blue?"}]}]);
    let thread = ws.new_thread().await;
    let started = Instant::now();
    assert_eq!(stream_title(&ws, &thread, messages.clone()).await, "Why is the sky blue");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2_500),
        "two calls of 300 ms and a pause, not the model's 3 s: {elapsed:?}"
    );
    assert_eq!(model.calls(), 2, "timed out, retried once");
    assert_eq!(settled_title(&server, "ws", &thread).await.1, TitleOrigin::Builtin);

    // Nothing listens at the endpoint.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    settings.base_url = format!("http://{address}/v1");
    let fresh = TestServer::start().await;
    configure(&fresh, TitleSettings { api_key: ApiKeySource::None, ..settings }).await;
    let ws = fresh.workspace("ws");
    let thread = ws.new_thread().await;
    assert_eq!(stream_title(&ws, &thread, messages).await, "Why is the sky blue");
}

#[tokio::test(flavor = "current_thread")]
async fn failures_are_logged_without_key_material() {
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = Arc::clone(&logs);
        move || LogWriter(Arc::clone(&logs))
    };
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(writer).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // OpenAI's 401 quotes part of the key; a server could echo it whole.
    let echo = json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error", "code": "invalid_api_key"}});
    let model = FakeModel::start(Reply::Status(401, echo)).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Bake bread").await;
    assert_eq!(settled_title(&server, "ws", &thread).await.0.as_deref(), Some("Bake bread"));
    // A code made of a piece of the key is not logged either.
    model.otherwise(Reply::Status(500, json!({"error": {"message": KEY, "code": &KEY[8..24]}})));
    let thread = ws.new_thread().await;
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "How do I bake sourdough bread at home");

    let logs = String::from_utf8_lossy(&logs.lock().expect("lock")).into_owned();
    assert!(logs.contains("the title model failed; the built-in title stays"), "{logs}");
    assert!(logs.contains("HTTP 401 (invalid_api_key)"), "the provider's error code is logged: {logs}");
    assert!(logs.contains("HTTP 500"), "{logs}");
    for piece in [KEY, &KEY[..12], &KEY[8..24], &KEY[KEY.len() - 8..]] {
        assert!(!logs.contains(piece), "key material ({piece}) in the logs: {logs}");
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_missing_key_falls_back_without_calling_the_model() {
    let model = FakeModel::start(title("Never")).await;
    let server = server_with(&model).await;
    std::fs::remove_file(server.dir.path().join("model-key")).expect("remove key");
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "How do I bake sourdough bread at home");
    assert_eq!(model.calls(), 0);
}

#[tokio::test]
async fn the_sweep_retitles_recent_threads_with_at_most_three_attempts() {
    let model = FakeModel::start(Reply::Status(500, json!({}))).await;
    let server = server_with(&model).await;
    let ws = server.workspace("ws");
    let failing = ws.new_thread().await;
    ws.add_message(&failing, None, "user", "Compare Postgres and SQLite").await;
    assert_eq!(
        settled_title(&server, "ws", &failing).await,
        (Some("Compare Postgres and SQLite".into()), TitleOrigin::Builtin, 1)
    );
    assert_eq!(model.calls(), 2, "the message's attempt called twice");

    // Threads the sweep leaves alone: a user's title, one without text, another project's.
    let renamed = ws.new_thread().await;
    ws.add_message(&renamed, None, "user", "Name me").await;
    settled_title(&server, "ws", &renamed).await;
    ws.put(&format!("/v1/threads/{renamed}"), json!({"title": "Mine"})).await.expect(200);
    let empty = ws.new_thread().await;
    threadhold_server::service::projects::create(
        server.store.as_ref(),
        &threadhold_server::service::Actor::Cli,
        "other",
        "Other",
    )
    .await
    .expect("project");

    let now = threadhold_domain::now_ms();
    let calls = model.calls();
    let report = titles::sweep(&server.state, now).await.expect("sweep");
    assert_eq!((report.attempted, report.titled, report.failed), (1, 0, 1), "attempt 2 of the failing thread");
    let report = titles::sweep(&server.state, now).await.expect("sweep");
    assert_eq!((report.attempted, report.failed), (1, 1), "attempt 3");
    assert_eq!(settled_title(&server, "ws", &failing).await.2, 3);
    let report = titles::sweep(&server.state, now).await.expect("sweep");
    assert_eq!(report.attempted, 0, "three attempts, then it gives up");
    assert_eq!(model.calls() - calls, 4, "two sweeps, each a call and its retry");
    assert_eq!(stored_title(&ws, &failing).await, "Compare Postgres and SQLite", "the built-in title stays");
    let calls = model.calls();
    assert_eq!(
        stream_title(&ws, &failing, json!([])).await,
        "Compare Postgres and SQLite",
        "spent: the built-in title"
    );
    assert_eq!(model.calls(), calls, "a spent budget calls no model");
    assert!(stored_title(&ws, &empty).await.is_null());

    // A thread the message trigger failed on is titled by the next sweep once the model answers.
    let second = ws.new_thread().await;
    ws.add_message(&second, None, "user", "What is a monad in Haskell?").await;
    settled_title(&server, "ws", &second).await;
    model.otherwise(title("Monads in Haskell"));
    let report = titles::sweep(&server.state, threadhold_domain::now_ms()).await.expect("sweep");
    assert_eq!((report.attempted, report.titled), (1, 1));
    assert_eq!(stored_title(&ws, &second).await, "Monads in Haskell");
    assert_eq!(stored_title(&ws, &renamed).await, "Mine");

    // Only threads of the last seven days.
    let later = threadhold_domain::now_ms() + 8 * 86_400_000;
    let third = ws.new_thread().await;
    ws.add_message(&third, None, "user", "Old news").await;
    settled_title(&server, "ws", &third).await;
    assert_eq!(titles::sweep(&server.state, later).await.expect("sweep").attempted, 0);
}

#[tokio::test]
async fn housekeeping_runs_the_sweep() {
    let model = FakeModel::start(Reply::Status(500, json!({}))).await;
    let config = ServerConfig { maintenance_interval_secs: 1, title_sweep_interval_secs: 1, ..ServerConfig::default() };
    let server = TestServer::start_with(config).await;
    configure(&server, settings_for(&server, &model)).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Teach me chess openings").await;
    assert_eq!(settled_title(&server, "ws", &thread).await.1, TitleOrigin::Builtin);
    model.otherwise(title("Chess Openings"));
    let started = Instant::now();
    while stored_title(&ws, &thread).await != "Chess Openings" {
        assert!(started.elapsed() < Duration::from_secs(10), "the sweep never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn settings_reach_the_prompt_and_the_request() {
    let model = FakeModel::start(title("Pão de Queijo")).await;
    let server = TestServer::start().await;
    let mut settings = settings_for(&server, &model);
    settings.base_url = format!("{}/openai/deployments/titles/", model.url);
    settings.api_style = ApiStyle::Azure;
    settings.api_version = Some("2024-10-21".into());
    settings.language = Some("pt-BR".into());
    settings.words = 3;
    settings.instructions = "  Never mention the assistant.  ".into();
    configure(&server, settings).await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let long = "queijo ".repeat(3_000);
    let messages = json!([{"role": "user", "content": [{"type": "text", "text": long}]}]);
    assert_eq!(stream_title(&ws, &thread, messages).await, "Pão de Queijo");
    let seen = &model.seen()[0];
    assert_eq!(seen.uri, "/openai/deployments/titles/chat/completions?api-version=2024-10-21");
    assert_eq!(seen.headers["api-key"], KEY);
    assert!(!seen.headers.contains_key("authorization"));
    assert!(seen.system().contains("At most 3 words, in the language with code pt-BR,"), "{}", seen.system());
    assert!(seen.system().ends_with("\nNever mention the assistant."), "{}", seen.system());
    assert_eq!(seen.input().chars().count(), "User: ".len() + 8_000, "the input is cut to 8,000 characters");

    // No key (a local Ollama): no credential header at all.
    let local = TestServer::start().await;
    configure(&local, TitleSettings { api_key: ApiKeySource::None, ..settings_for(&local, &model) }).await;
    let ws = local.workspace("ws");
    let thread = ws.new_thread().await;
    stream_title(&ws, &thread, sourdough()).await;
    let seen = model.seen();
    let last = seen.last().expect("a call");
    assert!(!last.headers.contains_key("authorization") && !last.headers.contains_key("api-key"));
}

#[tokio::test]
async fn switched_off_or_unconfigured_projects_keep_the_builtin_titles() {
    let model = FakeModel::start(title("Model")).await;
    let server = server_with(&model).await;
    titles::switch(server.store.as_ref(), "default", false).await.expect("off");
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    ws.add_message(&thread, None, "user", "Bake bread").await;
    assert_eq!(stream_title(&ws, &thread, sourdough()).await, "Bake bread");
    assert_eq!(titles::sweep(&server.state, threadhold_domain::now_ms()).await.expect("sweep").attempted, 0);
    assert_eq!(model.calls(), 0);
    assert!(matches!(
        titles::switch(server.store.as_ref(), "nope", true).await,
        Err(titles::SettingsError::ProjectNotFound(_))
    ));
    threadhold_server::service::projects::create(
        server.store.as_ref(),
        &threadhold_server::service::Actor::Cli,
        "bare",
        "Bare",
    )
    .await
    .expect("project");
    assert!(matches!(
        titles::switch(server.store.as_ref(), "bare", true).await,
        Err(titles::SettingsError::NotConfigured(_))
    ));
    let invalid = TitleSettings { words: 20, ..settings_for(&server, &model) };
    assert!(matches!(titles::configure(server.store.as_ref(), invalid).await, Err(titles::SettingsError::Invalid(_))));
}
