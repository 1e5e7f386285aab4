//! Anonymous mode over HTTP: minting, refresh rotation and reuse, the project
//! switch, rate limits behind proxies, claims and garbage collection.

mod common;

use std::net::IpAddr;
use threadhold_server::service::Actor;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Reply, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use threadhold_domain::now_ms;
use threadhold_server::client_ip::IpNet;
use threadhold_server::{AnonymousConfig, ClientIpPolicy, ServerConfig};

fn payload(token: &str) -> Value {
    let middle = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).expect("base64url")).expect("json")
}

/// Mints like the client does: POST with no headers and no body.
async fn mint(server: &TestServer, prefix: &str) -> Reply {
    Reply::read(
        server.http.post(format!("{}{prefix}/v1/auth/tokens/anonymous", server.url)).send().await.expect("send"),
    )
    .await
}

async fn refresh(server: &TestServer, token: &str) -> Reply {
    server.anonymous().post("/v1/auth/tokens/refresh", json!({"refresh_token": token})).await
}

fn config(anonymous: AnonymousConfig) -> ServerConfig {
    ServerConfig { anonymous, project_cache_secs: 0, ..ServerConfig::default() }
}

#[tokio::test]
async fn mint_creates_an_identity_that_is_its_own_workspace() {
    let server = TestServer::start().await;
    let reply = mint(&server, "").await;
    let body = reply.expect(200).clone();
    let access = body["access_token"].as_str().expect("access token");
    let refresh_token = body["refresh_token"]["token"].as_str().expect("refresh token");
    assert!(refresh_token.starts_with("refresh_") && refresh_token.len() > 40);
    let expires_at = body["refresh_token"]["expires_at"].as_str().expect("expires_at");
    assert!(common::is_canonical_timestamp(expires_at));
    let claims = payload(access);
    let user = claims["sub"].as_str().expect("sub");
    assert!(user.starts_with("usr_anon_") && user.len() <= 48);
    assert_eq!(claims["workspace_id"], user);
    assert!(claims["sid"].as_str().expect("sid").starts_with("sess_"));
    assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 300);
    // The identity's data is ordinary data.
    let client = server.bearer(access);
    let thread = client.new_thread().await;
    client.add_message(&thread, None, "user", "hello").await;
    let listed = client.get(&format!("/v1/threads/{thread}")).await;
    assert_eq!(listed.expect(200)["thread"]["workspace_id"], user);
    // It is not a backend.
    client.post("/v1/auth/tokens", json!({})).await.expect_error(403, "api_key_required");
    assert_ne!(payload(mint(&server, "").await.json["access_token"].as_str().expect("t"))["sub"], user);
}

#[tokio::test]
async fn refresh_rotates_keeps_the_identity_and_revokes_on_late_reuse() {
    let anonymous = AnonymousConfig {
        refresh: threadhold_domain::refresh::RefreshPolicy { grace_ms: 1_500, ..Default::default() },
        ..AnonymousConfig::default()
    };
    let server = TestServer::start_with(config(anonymous)).await;
    let first = mint(&server, "").await.json.clone();
    let user = payload(first["access_token"].as_str().expect("t"))["sub"].clone();
    let token0 = first["refresh_token"]["token"].as_str().expect("token").to_owned();

    let second = refresh(&server, &token0).await;
    let second = second.expect(200).clone();
    let token1 = second["refresh_token"]["token"].as_str().expect("rotated").to_owned();
    assert_ne!(token1, token0, "every refresh rotates");
    assert_eq!(payload(second["access_token"].as_str().expect("t"))["sub"], user);
    // A second tab with the old token, inside the grace window, keeps the identity.
    let racing = refresh(&server, &token0).await;
    assert_eq!(payload(racing.expect(200)["access_token"].as_str().expect("t"))["sub"], user);
    // Outside the window the old token revokes the family: the current one dies too.
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    refresh(&server, &token0).await.expect_error(403, "invalid_refresh_token");
    refresh(&server, &token1).await.expect_error(403, "invalid_refresh_token");
}

#[tokio::test]
async fn refresh_refusals() {
    let server = TestServer::start().await;
    refresh(&server, "refresh_doesnotexist").await.expect_error(403, "invalid_refresh_token");
    refresh(&server, "garbage").await.expect_error(403, "invalid_refresh_token");
    server.anonymous().post("/v1/auth/tokens/refresh", json!({})).await.expect_error(400, "invalid_request");
    server.anonymous().post("/v1/auth/tokens/refresh", json!({"refresh_token": ""})).await.expect(400);
    server.anonymous().post("/v1/auth/tokens/refresh", json!({"refresh_token": 5})).await.expect(400);
}

#[tokio::test]
async fn anonymous_mode_can_be_switched_off_per_project_and_server_wide() {
    let server = TestServer::start_with(config(AnonymousConfig::default())).await;
    let token = mint(&server, "").await.json["refresh_token"]["token"].as_str().expect("t").to_owned();
    threadhold_server::service::access::set_anonymous(server.store.as_ref(), &Actor::Cli, "default", false)
        .await
        .expect("disable");
    mint(&server, "").await.expect_error(403, "anonymous_disabled");
    refresh(&server, &token).await.expect_error(403, "anonymous_disabled");
    threadhold_server::service::access::set_anonymous(server.store.as_ref(), &Actor::Cli, "default", true)
        .await
        .expect("enable");
    refresh(&server, &token).await.expect(200);

    let off = TestServer::start_with(config(AnonymousConfig { enabled: false, ..AnonymousConfig::default() })).await;
    mint(&off, "").await.expect_error(403, "anonymous_disabled");
}

#[tokio::test]
async fn mints_are_rate_limited_per_client_with_retry_after() {
    let server =
        TestServer::start_with(config(AnonymousConfig { mints_per_minute: 3, ..AnonymousConfig::default() })).await;
    for _ in 0..3 {
        mint(&server, "").await.expect(200);
    }
    let limited = mint(&server, "").await;
    limited.expect_error(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"].to_str().expect("header").parse().expect("seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // An X-Forwarded-For from an untrusted client changes nothing.
    let spoofed = server
        .http
        .post(format!("{}/v1/auth/tokens/anonymous", server.url))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("send");
    assert_eq!(spoofed.status(), 429);
}

#[tokio::test]
async fn refreshes_are_rate_limited_too() {
    let server =
        TestServer::start_with(config(AnonymousConfig { refreshes_per_minute: 2, ..AnonymousConfig::default() })).await;
    let mut token = mint(&server, "").await.json["refresh_token"]["token"].as_str().expect("t").to_owned();
    for _ in 0..2 {
        token = refresh(&server, &token).await.expect(200)["refresh_token"]["token"].as_str().expect("t").to_owned();
    }
    let limited = refresh(&server, &token).await;
    limited.expect_error(429, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_trusted_proxy_header_separates_clients() {
    let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
    let server = TestServer::start_with(ServerConfig {
        anonymous: AnonymousConfig { mints_per_minute: 1, ..AnonymousConfig::default() },
        client_ip: ClientIpPolicy {
            header: Some("x-forwarded-for".into()),
            trusted_proxies: vec![IpNet::parse(&loopback.to_string()).expect("net")],
        },
        ..ServerConfig::default()
    })
    .await;
    let from = |client: &'static str| {
        server.http.post(format!("{}/v1/auth/tokens/anonymous", server.url)).header("x-forwarded-for", client).send()
    };
    assert_eq!(from("198.51.100.1").await.expect("send").status(), 200);
    assert_eq!(from("198.51.100.1").await.expect("send").status(), 429);
    assert_eq!(from("198.51.100.2").await.expect("send").status(), 200, "another client behind the proxy");
    // The client cannot pick its own bucket: only the rightmost (proxy-written) entry counts.
    assert_eq!(from("198.51.100.9, 198.51.100.2").await.expect("send").status(), 429);
    // IPv6 clients count per /64: one host easily owns the whole network.
    assert_eq!(from("2001:db8:1:2::1").await.expect("send").status(), 200);
    for same_network in ["2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:DB8:1:2:0:0:0:9"] {
        assert_eq!(from(same_network).await.expect("send").status(), 429, "{same_network}");
    }
    assert_eq!(from("2001:db8:1:3::1").await.expect("send").status(), 200, "the next /64 is another client");
    // An IPv4 address written as IPv6 is the IPv4 client.
    assert_eq!(from("::ffff:198.51.100.2").await.expect("send").status(), 429);
}

#[tokio::test]
async fn claim_moves_threads_to_the_signed_in_caller() {
    let server = TestServer::start().await;
    let minted = mint(&server, "").await.json.clone();
    let visitor = server.bearer(minted["access_token"].as_str().expect("t"));
    let token = minted["refresh_token"]["token"].as_str().expect("t").to_owned();
    let first = visitor.new_thread().await;
    let root = visitor.add_message(&first, None, "user", "before signing up").await;
    visitor.add_message(&first, Some(&root), "assistant", "welcome").await;
    visitor.new_thread().await;

    visitor
        .post("/v1/threads/claim", json!({"refresh_token": token}))
        .await
        .expect_error(403, "anonymous_cannot_claim");
    let account = server.workspace("alice");
    account.post("/v1/threads/claim", json!({})).await.expect(400);
    account
        .post("/v1/threads/claim", json!({"refresh_token": "refresh_unknown"}))
        .await
        .expect_error(403, "invalid_refresh_token");
    let claimed = account.post("/v1/threads/claim", json!({"refresh_token": token})).await;
    assert_eq!(claimed.expect(200)["moved"], 2);
    assert_eq!(account.thread_ids("").await.len(), 2);
    assert_eq!(account.message_ids(&first, "").await.len(), 2, "messages intact");
    assert!(visitor.thread_ids("").await.is_empty());
    let again = account.post("/v1/threads/claim", json!({"refresh_token": token})).await;
    assert_eq!(again.expect(200)["moved"], 0);
    refresh(&server, &token).await.expect_error(403, "invalid_refresh_token");
    // A workspace token (signed-in user) may claim too.
    let other = mint(&server, "").await.json.clone();
    server.bearer(other["access_token"].as_str().expect("t")).new_thread().await;
    let user_token = account.post("/v1/auth/tokens", json!({})).await.json["token"].as_str().expect("t").to_owned();
    let moved = server
        .bearer(&user_token)
        .post("/v1/threads/claim", json!({"refresh_token": other["refresh_token"]["token"]}))
        .await;
    assert_eq!(moved.expect(200)["moved"], 1);
}

#[tokio::test]
async fn projects_answer_under_their_prefix() {
    let server = TestServer::start().await;
    threadhold_server::service::projects::create(server.store.as_ref(), &Actor::Cli, "acme", "Acme")
        .await
        .expect("project");
    let minted = mint(&server, "/projects/acme").await.json.clone();
    let claims = payload(minted["access_token"].as_str().expect("t"));
    assert_eq!(claims["project_id"], "acme");
    let client = server.bearer(minted["access_token"].as_str().expect("t"));
    let prefixed = common::Client { base: format!("{}/projects/acme", server.url), ..client.clone() };
    let thread = prefixed.new_thread().await;
    assert_eq!(prefixed.thread_ids("").await, vec![thread.clone()]);
    assert_eq!(client.thread_ids("").await, vec![thread], "the root accepts any project's credential");
    // A default-project key under acme's prefix is refused.
    let key_client = common::Client { base: format!("{}/projects/acme", server.url), ..server.workspace("ws") };
    key_client.get("/v1/threads").await.expect_error(403, "project_mismatch");
    let refreshed = Reply::read(
        server
            .http
            .post(format!("{}/projects/acme/v1/auth/tokens/refresh", server.url))
            .body(json!({"refresh_token": minted["refresh_token"]["token"]}).to_string())
            .send()
            .await
            .expect("send"),
    )
    .await;
    refreshed.expect(200);
    // Refresh tokens are bound to their project.
    refresh(&server, refreshed.json["refresh_token"]["token"].as_str().expect("t")).await.expect(403);
    mint(&server, "/projects/nope").await.expect_error(404, "project_not_found");
    server.anonymous().get("/projects/acme/.well-known/jwks.json").await.expect(200);
    server.anonymous().get("/projects/nope/.well-known/jwks.json").await.expect_error(404, "project_not_found");
}

#[tokio::test]
async fn identities_that_stored_nothing_are_collected() {
    let server = TestServer::start().await;
    let idle = mint(&server, "").await.json.clone();
    let busy = mint(&server, "").await.json.clone();
    server.bearer(busy["access_token"].as_str().expect("t")).new_thread().await;
    let later = now_ms() + 2 * 86_400_000;
    let (sessions, _) = threadhold_server::service::housekeeping::collect_anonymous_garbage(
        server.store.as_ref(),
        later,
        &AnonymousConfig::default(),
    )
    .await
    .expect("gc");
    assert_eq!(sessions, 1);
    refresh(&server, idle["refresh_token"]["token"].as_str().expect("t"))
        .await
        .expect_error(403, "invalid_refresh_token");
    refresh(&server, busy["refresh_token"]["token"].as_str().expect("t")).await.expect(200);
}

#[tokio::test]
async fn cors_lets_browsers_mint_without_a_preflight() {
    let server = TestServer::start().await;
    let reply = server
        .http
        .request(Method::POST, format!("{}/v1/auth/tokens/anonymous", server.url))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("send");
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
}
