//! Test harness: the real server on 127.0.0.1:0 over a fresh SQLite file,
//! driven through HTTP like any client.
#![allow(dead_code)]

use std::sync::Arc;
use threadhold_server::service::Actor;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use threadhold_server::{AppState, AttachmentBackend, ServerConfig};
use threadhold_store::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub api_key: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    pub dir: TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(mut config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if let AttachmentBackend::Local(root) = &mut config.attachments {
            *root = dir.path().join("attachments");
        }
        let store = open_store(&dir).await;
        threadhold_server::service::projects::bootstrap(store.as_ref()).await.expect("bootstrap");
        let api_key = threadhold_server::service::keys::create(store.as_ref(), &Actor::Cli, "default", "tests", None)
            .await
            .expect("key")
            .secret;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stop) = oneshot::channel::<()>();
        let state = AppState::new(store.clone(), config).await.expect("state");
        tokio::spawn(threadhold_server::launch(state.clone(), listener, async move {
            let _ = stop.await;
        }));
        TestServer { url, state, store, api_key, http: reqwest::Client::new(), shutdown: Some(shutdown), dir }
    }

    /// A client acting as `user` in `workspace` with the server's API key.
    pub fn workspace(&self, workspace: &str) -> Client {
        Client {
            base: self.url.clone(),
            http: self.http.clone(),
            auth: Auth::ApiKey { key: self.api_key.clone(), workspace: workspace.to_owned(), user: None },
        }
    }

    /// A client with a raw bearer value and no Aui headers.
    pub fn bearer(&self, token: &str) -> Client {
        Client { base: self.url.clone(), http: self.http.clone(), auth: Auth::Bearer(token.to_owned()) }
    }

    pub fn anonymous(&self) -> Client {
        Client { base: self.url.clone(), http: self.http.clone(), auth: Auth::None }
    }
}

/// A fresh store: SQLite in the temporary folder, or with
/// `THREADHOLD_TEST_STORE=postgres` a new database on the server at
/// `THREADHOLD_TEST_POSTGRES_URL`, so the whole HTTP suite runs on either backend.
async fn open_store(dir: &TempDir) -> Arc<dyn Store> {
    if std::env::var("THREADHOLD_TEST_STORE").as_deref() != Ok("postgres") {
        return Arc::new(SqliteStore::open(&dir.path().join("test.sqlite3")).await.expect("open store"));
    }
    let admin_url = std::env::var("THREADHOLD_TEST_POSTGRES_URL").expect("THREADHOLD_TEST_POSTGRES_URL");
    let name = format!("threadhold_http_{}", threadhold_domain::ids::random_secret(12).to_lowercase());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    let (server, _) = admin_url.rsplit_once('/').expect("a database in the URL");
    Arc::new(PgStore::connect(&format!("{server}/{name}")).await.expect("open store"))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    ApiKey { key: String, workspace: String, user: Option<String> },
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: Auth,
}

/// A response read whole: status, headers and JSON (or `Value::Null` for an empty body).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json =
            if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Reply { status, headers, text, json }
    }

    /// Asserts the status and, for errors, the contract's `{"error", "message"}` envelope.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        if status >= 400 {
            assert!(self.json["error"].is_string(), "error body lacks `error`: {}", self.text);
            assert!(self.json["message"].is_string(), "error body lacks `message`: {}", self.text);
        }
        &self.json
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        self.expect(status);
        assert_eq!(self.json["error"], code, "body: {}", self.text);
    }
}

impl Client {
    pub fn as_user(&self, user: &str) -> Client {
        let mut client = self.clone();
        if let Auth::ApiKey { user: slot, .. } = &mut client.auth {
            *slot = Some(user.to_owned());
        }
        client
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder =
            self.http.request(method, format!("{}{}", self.base, path)).header("content-type", "application/json");
        match &self.auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token),
            Auth::ApiKey { key, workspace, user } => {
                let builder = builder.bearer_auth(key).header("aui-workspace-id", workspace);
                match user {
                    Some(user) => builder.header("aui-user-id", user),
                    None => builder,
                }
            }
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut builder = self.request(method, path);
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        Reply::read(builder.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> Reply {
        self.send(Method::DELETE, path, body).await
    }

    /// Creates a thread and returns its id.
    pub async fn create_thread(&self, body: Value) -> String {
        let reply = self.post("/v1/threads", body).await;
        reply.json["thread_id"].as_str().unwrap_or_else(|| panic!("no thread_id: {}", reply.text)).to_owned()
    }

    pub async fn new_thread(&self) -> String {
        self.create_thread(json!({"last_message_at": "2026-01-01T00:00:00.000Z"})).await
    }

    /// Creates an `aui/v0` message and returns its id.
    pub async fn add_message(&self, thread: &str, parent: Option<&str>, role: &str, text: &str) -> String {
        let reply = self
            .post(
                &format!("/v1/threads/{thread}/messages"),
                json!({
                    "parent_id": parent,
                    "format": "aui/v0",
                    "content": {"role": role, "content": [{"type": "text", "text": text}]},
                }),
            )
            .await;
        reply.json["message_id"].as_str().unwrap_or_else(|| panic!("no message_id: {}", reply.text)).to_owned()
    }

    pub async fn thread_ids(&self, query: &str) -> Vec<String> {
        let reply = self.get(&format!("/v1/threads{query}")).await;
        ids(&reply.expect(200)["threads"])
    }

    pub async fn message_ids(&self, thread: &str, query: &str) -> Vec<String> {
        let reply = self.get(&format!("/v1/threads/{thread}/messages{query}")).await;
        ids(&reply.expect(200)["messages"])
    }
}

pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

/// True when `text` is exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_canonical_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23]
            .into_iter()
            .all(|range| b[range].iter().all(u8::is_ascii_digit))
}
