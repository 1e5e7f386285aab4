//! The admin JSON API and the service layer under it, on the real server
//! (SQLite, or PostgreSQL with THREADHOLD_TEST_STORE=postgres): sessions and
//! their cookie, CSRF, roles, the error envelope with its field, and each
//! area's operations with their audit entries.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use threadhold_server::service::{Actor, admins};

const PASSWORD: &str = "correct horse battery staple";

/// A signed-in API client: the session cookie and the CSRF token.
struct Admin {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Admin {
    async fn login(server: &TestServer, email: &str) -> Admin {
        let response = server
            .http
            .post(format!("{}/admin/api/login", server.url))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = response.headers().get(SET_COOKIE).expect("cookie").to_str().expect("text").to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        assert!(!set_cookie.contains("Secure"), "plain http on loopback");
        let cookie = set_cookie.split(';').next().expect("pair").to_owned();
        let body: Value = response.json().await.expect("json");
        Admin {
            base: server.url.clone(),
            http: server.http.clone(),
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/admin/api{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status();
        let text = response.text().await.expect("text");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn with_accounts() -> TestServer {
    let server = TestServer::start().await;
    let store = server.store.as_ref();
    admins::add(store, &Actor::Cli, "owner@example.com", "owner", PASSWORD).await.expect("owner");
    admins::add(store, &Actor::Cli, "admin@example.com", "admin", PASSWORD).await.expect("admin");
    admins::add(store, &Actor::Cli, "member@example.com", "member", PASSWORD).await.expect("member");
    server
}

#[tokio::test]
async fn the_dashboard_is_off_until_an_account_exists() {
    let server = TestServer::start().await;
    let page = server.http.get(format!("{}/admin", server.url)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.expect("text").contains("threadhold admin add"));
    let api = server.http.get(format!("{}/admin/api/projects", server.url)).send().await.expect("api");
    let body: Value = api.json().await.expect("json");
    assert_eq!(body["error"], "dashboard_off");
    admins::add(server.store.as_ref(), &Actor::Cli, "o@example.com", "owner", PASSWORD).await.expect("owner");
    let page = server.http.get(format!("{}/admin/login", server.url)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers();
    assert!(headers["content-security-policy"].to_str().expect("csp").contains("default-src 'self'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn logins_are_checked_and_limited() {
    let server = with_accounts().await;
    let login = |email: &'static str, password: &'static str| {
        let request = server
            .http
            .post(format!("{}/admin/api/login", server.url))
            .json(&json!({ "email": email, "password": password }));
        async move {
            let response = request.send().await.expect("send");
            (response.status(), response.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = login("owner@example.com", "wrong password!").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
    let (status, _) = login("nobody@example.com", "wrong password!").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unknown account answers the same");
    for _ in 0..4 {
        login("owner@example.com", "wrong password!").await;
    }
    let (status, body) = login("owner@example.com", PASSWORD).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{body}");
    let (status, _) = login("admin@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "other accounts are not locked");
}

#[tokio::test]
async fn sessions_need_their_csrf_token_and_end_at_logout() {
    let server = with_accounts().await;
    let admin = Admin::login(&server, "owner@example.com").await;
    let without = server
        .http
        .post(format!("{}/admin/api/projects/default/keys", server.url))
        .header(COOKIE, &admin.cookie)
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .expect("send");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(without.json::<Value>().await.expect("json")["error"], "csrf_failed");
    let anonymous = server.http.get(format!("{}/admin/api/projects", server.url)).send().await.expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = admin.post("/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin.get("/projects").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("login_required")));
}

#[tokio::test]
async fn keys_are_shown_once_and_their_refusals_name_the_field() {
    let server = with_accounts().await;
    let member = Admin::login(&server, "member@example.com").await;
    let (status, created) =
        member.post("/projects/default/keys", json!({ "name": "backend", "expires_in_days": 30 })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(created["key"].as_str().expect("key").ends_with(&secret[secret.len() - 4..]));
    let (_, listed) = member.get("/projects/default/keys").await;
    assert!(!listed.to_string().contains(&secret), "the secret is never listed");
    let client = server.bearer(&secret);
    let reply =
        client.request(reqwest::Method::GET, "/v1/threads").header("aui-workspace-id", "w").send().await.expect("send");
    assert_eq!(reply.status(), StatusCode::OK, "the new key works");

    let (status, body) = member.post("/projects/default/keys", json!({ "name": "x", "expires_in_days": 0 })).await;
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_expiry"), Some("expires_in_days"))
    );
    let (status, body) = member.post("/projects/default/keys", json!({ "name": "bad\nname" })).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")));
    let (status, body) = member.post("/projects/nope/keys", json!({ "name": "x" })).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("project_not_found")));

    let id = created["id"].as_str().expect("id");
    let (status, _) = member.call(reqwest::Method::DELETE, &format!("/projects/default/keys/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let reply =
        client.request(reqwest::Method::GET, "/v1/threads").header("aui-workspace-id", "w").send().await.expect("send");
    assert_eq!(reply.status(), StatusCode::FORBIDDEN, "revoked at once");
    let (status, _) = member.call(reqwest::Method::DELETE, &format!("/projects/default/keys/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_decide_who_may_do_what() {
    let server = with_accounts().await;
    let member = Admin::login(&server, "member@example.com").await;
    let admin = Admin::login(&server, "admin@example.com").await;
    let owner = Admin::login(&server, "owner@example.com").await;
    let origins = json!({ "allowed_origins": ["https://app.example.com", "https://*.example.org"] });
    let (status, body) =
        member.call(reqwest::Method::PUT, "/projects/default/access/origins", Some(origins.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (status, _) = member
        .call(reqwest::Method::PUT, "/projects/default/access/anonymous", Some(json!({ "enabled": false })))
        .await;
    assert_eq!(status, StatusCode::OK, "members switch anonymous access");
    assert_eq!(member.get("/audit").await.0, StatusCode::FORBIDDEN);
    let (status, _) = admin.call(reqwest::Method::PUT, "/projects/default/access/origins", Some(origins)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            "/projects/default/access/origins",
            Some(json!({ "allowed_origins": ["app.example.com"] })),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("allowed_origins")));
    let (_, settings) = admin.get("/projects/default/access").await;
    assert_eq!(
        settings["allowed_origins"],
        json!(["https://app.example.com", "https://*.example.org"]),
        "nothing half-written"
    );
    assert_eq!(settings["anonymous_enabled"], false);
    let account = json!({ "email": "new@example.com", "role": "member", "password": PASSWORD });
    assert_eq!(admin.post("/accounts", account.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(owner.post("/accounts", account).await.0, StatusCode::CREATED);
    let (status, body) = owner.call(reqwest::Method::DELETE, "/accounts/owner@example.com", None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("last_owner")));

    let (_, log) = owner.get("/audit?action=origins.").await;
    let entries = log["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], "admin:admin@example.com");
    let (_, log) = owner.get("/audit?actor=cli").await;
    let actions: Vec<&str> =
        log["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "admin.create").count(), 3, "{actions:?}");
    assert!(actions.contains(&"api_key.create"), "the harness's key, made as the CLI: {actions:?}");
}

#[tokio::test]
async fn threads_search_transcripts_exports_and_erasure() {
    let server = with_accounts().await;
    let ws = server.workspace("u1").as_user("u1");
    let thread = ws.create_thread(json!({ "title": "Plans" })).await;
    let root = ws.add_message(&thread, None, "user", "where is the lighthouse").await;
    ws.add_message(&thread, Some(&root), "assistant", "on the north cape").await;
    let second = ws.add_message(&thread, Some(&root), "assistant", "by the harbour").await;
    server.workspace("u2").as_user("u2").create_thread(json!({ "title": "Other" })).await;
    let admin = Admin::login(&server, "admin@example.com").await;

    let (_, found) = admin.get("/projects/default/threads?q=lighthouse").await;
    let items = found["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["thread"]["id"], thread.as_str());
    let (_, all) = admin.get("/projects/default/threads?limit=1").await;
    assert_eq!(all["items"].as_array().expect("items").len(), 1);
    assert!(all["next"].is_string(), "a second page follows");
    let (_, next) =
        admin.get(&format!("/projects/default/threads?limit=1&after={}", all["next"].as_str().expect("next"))).await;
    assert_eq!(next["items"].as_array().expect("items").len(), 1);
    assert!(next["next"].is_null());
    let (status, body) = admin.get("/projects/default/threads?from=yesterday").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("from")));

    let (_, transcript) = admin.get(&format!("/projects/default/threads/{thread}")).await;
    let messages = transcript["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["id"], second.as_str(), "the newest branch");
    assert_eq!(messages[1]["siblings"].as_array().expect("siblings").len(), 2);
    let other = messages[1]["siblings"][0].as_str().expect("sibling").to_owned();
    let (_, switched) = admin.get(&format!("/projects/default/threads/{thread}?branch={other}")).await;
    assert_eq!(switched["messages"][1]["parts"][0]["text"], "on the north cape");
    let (status, markdown) = admin.get(&format!("/projects/default/threads/{thread}/export?format=markdown")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(markdown.as_str().expect("text").starts_with("# Plans"));
    let (_, jsonl) = admin.get(&format!("/projects/default/threads/{thread}/export")).await;
    assert_eq!(jsonl.as_str().expect("text").lines().count(), 4, "the thread and its three messages");

    let (_, users) = admin.get("/projects/default/users").await;
    let ids: Vec<&str> =
        users["items"].as_array().expect("items").iter().filter_map(|u| u["user_id"].as_str()).collect();
    assert!(ids.contains(&"u1") && ids.contains(&"u2"), "the registry saw both: {ids:?}");
    let (_, preview) = admin.get("/projects/default/users/u1/erasure").await;
    assert_eq!(preview["threads"], 1);
    let (status, erased) = admin.call(reqwest::Method::DELETE, "/projects/default/users/u1", None).await;
    assert_eq!((status, erased["deleted_threads"].as_u64()), (StatusCode::OK, Some(1)));
    assert!(ws.thread_ids("").await.is_empty(), "the user's threads are gone");
    let (_, users) = admin.get("/projects/default/users?q=u1").await;
    assert!(users["items"].as_array().expect("items").is_empty(), "and their registry entry");
    let (_, log) = admin.get("/audit?action=user.erase").await;
    assert_eq!(log["items"][0]["object_id"], "u1");
}

#[tokio::test]
async fn rules_retention_overview_and_projects() {
    let server = with_accounts().await;
    let owner = Admin::login(&server, "owner@example.com").await;
    let (status, body) =
        owner.post("/projects/default/rules", json!({ "provider": "auth0", "issuer": "https://t.auth0.com/" })).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("audiences")));
    let rule = json!({ "provider": "clerk", "issuer": "https://clerk.example.com", "name_claim": "name" });
    let (status, created) = owner.post("/projects/default/rules", rule).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    let edit = json!({ "provider": "clerk", "issuer": "https://clerk.example.com", "audiences": ["app"] });
    let (status, updated) =
        owner.call(reqwest::Method::PUT, &format!("/projects/default/rules/{id}"), Some(edit)).await;
    assert_eq!((status, updated["audiences"].clone()), (StatusCode::OK, json!(["app"])));
    let (_, listed) = owner.get("/projects/default/rules").await;
    assert_eq!(listed["items"][0]["keys"]["fetched_secs_ago"], Value::Null, "not fetched on this node yet");
    let (_, report) = owner.post("/projects/default/rules/test", json!({ "token": "not-a-token" })).await;
    assert_eq!(report["decision"]["decision"], "refused");
    assert_eq!(report["decision"]["code"], "token_malformed");

    let (status, body) =
        owner.call(reqwest::Method::PUT, "/projects/default/retention", Some(json!({ "days": 0 }))).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("days")));
    assert_eq!(
        owner.call(reqwest::Method::PUT, "/projects/default/retention", Some(json!({ "days": 30 }))).await.0,
        StatusCode::OK
    );
    let (_, retention) = owner.get("/projects/default/retention").await;
    assert_eq!(retention["effective_days"], 30);
    let (_, preview) = owner.get("/projects/default/retention/preview?days=1").await;
    assert_eq!(preview["threads"], 0);

    server.workspace("w").new_thread().await;
    let (_, overview) = owner.get("/projects/default/overview?days=7").await;
    assert_eq!(overview["threads"], 1);
    assert_eq!(overview["per_day"].as_array().expect("days").len(), 7);
    let (status, body) = owner.get("/projects/default/overview?days=8").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("days")));

    let (status, body) = owner.post("/projects", json!({ "id": "Bad Id" })).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("id")));
    assert_eq!(owner.post("/projects", json!({ "id": "acme", "name": "Acme" })).await.0, StatusCode::CREATED);
    assert_eq!(owner.post("/projects", json!({ "id": "acme" })).await.0, StatusCode::CONFLICT);
    let (_, projects) = owner.get("/projects").await;
    assert_eq!(projects["items"].as_array().expect("items").len(), 2);
}
