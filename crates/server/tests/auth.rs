//! Credentials: API keys with Aui headers, workspace tokens, and every way
//! they can be missing, malformed, tampered with, expired or revoked.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Auth, Client, TestServer};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::Method;
use serde_json::{Value, json};
use threadhold_domain::now_ms;
use threadhold_server::auth::api_keys;
use threadhold_server::auth::tokens::{WorkspaceClaims, issuer_for};
use threadhold_server::service::Actor;

fn payload(token: &str) -> Value {
    let middle = token.split('.').nth(1).expect("payload segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).expect("base64url")).expect("json")
}

async fn mint(client: &Client) -> String {
    client.post("/v1/auth/tokens", json!({})).await.expect(200)["token"].as_str().expect("token").to_owned()
}

/// Signs arbitrary claims with the project's real signing key, as the server would.
async fn sign_with_project_key(server: &TestServer, project: &str, claims: &Value) -> String {
    let key = server.store.signing_keys(project).await.expect("keys").into_iter().next().expect("a key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.private_der)).expect("sign")
}

fn token_claims(project: &str, workspace: &str, iat: i64, exp: i64) -> Value {
    json!({"iss": issuer_for(project), "sub": "u1", "workspace_id": workspace, "project_id": project, "iat": iat, "nbf": iat - 10, "exp": exp})
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401() {
    let server = TestServer::start().await;
    let reply = server.anonymous().get("/v1/threads").await;
    reply.expect_error(401, "missing_authorization");
    for value in ["Basic abc", "Bearer", "Bearer    ", "Token x.y.z", "bearerx abc"] {
        let reply = common::Reply::read(
            server
                .http
                .get(format!("{}/v1/threads", server.url))
                .header("authorization", value)
                .send()
                .await
                .expect("send"),
        )
        .await;
        reply.expect_error(401, "invalid_authorization");
    }
    // The scheme is case-insensitive.
    let reply = common::Reply::read(
        server
            .http
            .get(format!("{}/v1/threads", server.url))
            .header("authorization", format!("bearer {}", server.api_key))
            .header("aui-workspace-id", "ws")
            .send()
            .await
            .expect("send"),
    )
    .await;
    reply.expect(200);
}

#[tokio::test]
async fn bad_api_keys_are_403() {
    let server = TestServer::start().await;
    let with_key = |key: &str| Client {
        auth: Auth::ApiKey { key: key.to_owned(), workspace: "ws".into(), user: None },
        ..server.anonymous()
    };
    with_key("sk_aui_proj_nope").get("/v1/threads").await.expect_error(403, "invalid_api_key");
    let forged = format!("sk_aui_proj_default_{}", "A".repeat(32));
    with_key(&forged).get("/v1/threads").await.expect_error(403, "invalid_api_key");
    // A real key with its project part changed does not match.
    let moved = server.api_key.replacen("sk_aui_proj_default_", "sk_aui_proj_other_", 1);
    with_key(&moved).get("/v1/threads").await.expect_error(403, "invalid_api_key");
    server.bearer("not-a-key-or-jwt").get("/v1/threads").await.expect_error(403, "invalid_credential");
}

#[tokio::test]
async fn revoked_and_expired_keys_stop_working() {
    let server = TestServer::start().await;
    let issued =
        threadhold_server::service::keys::create(server.store.as_ref(), &Actor::Cli, "default", "doomed", None)
            .await
            .expect("key");
    let client = Client {
        auth: Auth::ApiKey { key: issued.secret.clone(), workspace: "ws".into(), user: None },
        ..server.anonymous()
    };
    client.get("/v1/threads").await.expect(200);
    threadhold_server::service::keys::revoke(server.store.as_ref(), &Actor::Cli, None, &issued.record.id)
        .await
        .expect("revoke");
    client.get("/v1/threads").await.expect_error(403, "invalid_api_key");
    assert!(
        threadhold_server::service::keys::revoke(server.store.as_ref(), &Actor::Cli, None, &issued.record.id)
            .await
            .is_err(),
        "revoking twice is an error"
    );

    let mut expired = api_keys::generate("default", "old", now_ms() - 10_000, Some(now_ms() - 1));
    expired.record.name = "expired".into();
    server.store.insert_api_key(&expired.record).await.expect("insert");
    let client =
        Client { auth: Auth::ApiKey { key: expired.secret, workspace: "ws".into(), user: None }, ..server.anonymous() };
    client.get("/v1/threads").await.expect_error(403, "invalid_api_key");
}

#[tokio::test]
async fn key_use_is_recorded() {
    let server = TestServer::start().await;
    server.workspace("ws").get("/v1/threads").await.expect(200);
    let keys = server.store.list_api_keys(Some("default")).await.expect("list");
    assert!(keys[0].last_used_at.is_some());
}

#[tokio::test]
async fn aui_headers_are_validated() {
    let server = TestServer::start().await;
    let base = server.http.get(format!("{}/v1/threads", server.url)).bearer_auth(&server.api_key);
    let reply = common::Reply::read(base.try_clone().expect("clone").send().await.expect("send")).await;
    reply.expect_error(403, "invalid_workspace_id");
    // (Leading and trailing blanks are not part of an HTTP field value, so they cannot be sent.)
    for workspace in ["", "a b", "a\tb", &"w".repeat(256)] {
        let reply = common::Reply::read(
            base.try_clone().expect("clone").header("aui-workspace-id", workspace).send().await.expect("send"),
        )
        .await;
        reply.expect_error(403, "invalid_workspace_id");
    }
    let reply = common::Reply::read(
        base.try_clone()
            .expect("clone")
            .header("aui-workspace-id", "org:1|team@x")
            .header("aui-user-id", "bad user")
            .send()
            .await
            .expect("send"),
    )
    .await;
    reply.expect_error(403, "invalid_user_id");
    let ok = server.workspace(&"w".repeat(255)).as_user("user@example.com");
    ok.get("/v1/threads").await.expect(200);
}

#[tokio::test]
async fn workspace_tokens_act_as_the_user_in_the_workspace() {
    let server = TestServer::start().await;
    let backend = server.workspace("team-1").as_user("alice");
    let thread = backend.new_thread().await;
    let token = mint(&backend).await;
    let claims = payload(&token);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["workspace_id"], "team-1");
    assert_eq!(claims["project_id"], "default");
    assert_eq!(claims["iss"], issuer_for("default"));
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["nbf"].as_i64(), Some(iat - 10));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 300));

    let browser = server.bearer(&token);
    assert_eq!(browser.thread_ids("").await, vec![thread.clone()]);
    let root = browser.add_message(&thread, None, "user", "from the browser").await;
    assert_eq!(backend.message_ids(&thread, "").await, vec![root.clone()]);
    // Feedback records the token's user.
    browser
        .post(&format!("/v1/threads/{thread}/messages/{root}/feedback"), json!({"type": "positive"}))
        .await
        .expect(200);
    // Backend-only routes refuse tokens.
    browser.post("/v1/auth/tokens", json!({})).await.expect_error(403, "api_key_required");
    browser.get("/v1/projects/threads").await.expect_error(403, "api_key_required");
    browser.get(&format!("/v1/projects/threads/{thread}/messages")).await.expect_error(403, "api_key_required");
    // The system user is the default for API keys.
    assert_eq!(payload(&mint(&server.workspace("team-1")).await)["sub"], "__SYSTEM__");
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let config = threadhold_server::ServerConfig { workspace_token_ttl_secs: 42, ..Default::default() };
    let server = TestServer::start_with(config).await;
    let claims = payload(&mint(&server.workspace("ws")).await);
    assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 42);
}

#[tokio::test]
async fn tokens_verify_against_the_published_jwks() {
    let server = TestServer::start().await;
    let token = mint(&server.workspace("ws")).await;
    let jwks = server.anonymous().get("/.well-known/jwks.json").await.expect(200).clone();
    let kid = jsonwebtoken::decode_header(&token).expect("header").kid.expect("kid");
    let jwk =
        jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid.as_str()).expect("kid in jwks").clone();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk.get("d").is_none(), "no private part");
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().expect("x")).expect("key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer_for("default")]);
    validation.validate_aud = false;
    let decoded = jsonwebtoken::decode::<WorkspaceClaims>(&token, &key, &validation).expect("verifies");
    assert_eq!(decoded.claims.workspace_id, "ws");
    server.anonymous().get("/projects/default/.well-known/jwks.json").await.expect(200);
    server.anonymous().get("/projects/nope/.well-known/jwks.json").await.expect_error(404, "project_not_found");
}

#[tokio::test]
async fn tampered_forged_and_expired_tokens_are_refused() {
    let server = TestServer::start().await;
    let backend = server.workspace("victim");
    backend.new_thread().await;
    let token = mint(&server.workspace("attacker")).await;
    let parts: Vec<&str> = token.split('.').collect();

    // Payload swapped to another workspace, original signature kept.
    let mut claims = payload(&token);
    claims["workspace_id"] = json!("victim");
    let swapped = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    server.bearer(&swapped).get("/v1/threads").await.expect_error(403, "token_signature_invalid");
    // Signature bytes flipped.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
    signature[0] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
    server.bearer(&flipped).get("/v1/threads").await.expect_error(403, "token_signature_invalid");
    // alg: none, with and without a signature.
    let none_header = URL_SAFE_NO_PAD.encode(
        json!({"alg": "none", "typ": "JWT", "kid": jsonwebtoken::decode_header(&token).expect("h").kid}).to_string(),
    );
    for forged in [format!("{none_header}.{}.", parts[1]), format!("{none_header}.{}.{}", parts[1], parts[2])] {
        let reply = server.bearer(&forged).get("/v1/threads").await;
        assert_eq!(reply.status, 403, "{}", reply.text);
    }
    // HS256 with the public key as the secret (key confusion).
    let key = server.store.signing_keys("default").await.expect("keys").remove(0);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let confused = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.public_raw)).expect("sign");
    server.bearer(&confused).get("/v1/threads").await.expect_error(403, "token_algorithm_not_allowed");
    // Unknown kid, garbage segments.
    let unknown_kid =
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"kid_missing"}"#), parts[1], parts[2]);
    server.bearer(&unknown_kid).get("/v1/threads").await.expect_error(403, "token_key_unknown");
    server.bearer("a.b.c").get("/v1/threads").await.expect_error(403, "token_malformed");
    server.bearer("!!.??.**").get("/v1/threads").await.expect_error(403, "token_malformed");

    // Properly signed but expired, not yet valid, foreign project, wrong issuer, bad ids.
    let now = now_ms() / 1000;
    let expired =
        sign_with_project_key(&server, "default", &token_claims("default", "victim", now - 600, now - 300)).await;
    server.bearer(&expired).get("/v1/threads").await.expect_error(401, "token_expired");
    let mut future = token_claims("default", "victim", now, now + 600);
    future["nbf"] = json!(now + 300);
    let future = sign_with_project_key(&server, "default", &future).await;
    server.bearer(&future).get("/v1/threads").await.expect_error(401, "token_not_yet_valid");
    threadhold_server::service::projects::create(server.store.as_ref(), &Actor::Cli, "other", "Other")
        .await
        .expect("project");
    let cross = sign_with_project_key(&server, "other", &token_claims("default", "victim", now, now + 300)).await;
    server.bearer(&cross).get("/v1/threads").await.expect_error(403, "token_key_unknown");
    let mut wrong_issuer = token_claims("default", "victim", now, now + 300);
    wrong_issuer["iss"] = json!("https://evil.example.com");
    let wrong_issuer = sign_with_project_key(&server, "default", &wrong_issuer).await;
    server.bearer(&wrong_issuer).get("/v1/threads").await.expect_error(403, "token_issuer_unknown");
    let bad_workspace =
        sign_with_project_key(&server, "default", &token_claims("default", "has space", now, now + 300)).await;
    server.bearer(&bad_workspace).get("/v1/threads").await.expect_error(403, "token_principal_invalid");
    let mut missing_exp = token_claims("default", "victim", now, now + 300);
    missing_exp.as_object_mut().expect("o").remove("exp");
    let missing_exp = sign_with_project_key(&server, "default", &missing_exp).await;
    server.bearer(&missing_exp).get("/v1/threads").await.expect_error(403, "token_claim_missing");
    // And the genuine article still works.
    let genuine = sign_with_project_key(&server, "default", &token_claims("default", "victim", now, now + 300)).await;
    assert_eq!(server.bearer(&genuine).thread_ids("").await.len(), 1);
}

#[tokio::test]
async fn own_tokens_live_no_longer_than_the_configured_cap() {
    let server =
        TestServer::start_with(threadhold_server::ServerConfig { token_max_lifetime_secs: 600, ..Default::default() })
            .await;
    server.workspace("ws").new_thread().await;
    let now = now_ms() / 1000;
    let server = &server;
    let sign = |exp: i64| async move {
        sign_with_project_key(server, "default", &token_claims("default", "ws", now, exp)).await
    };
    // A properly signed token that would stay valid until the year 3000.
    let year_3000 = sign(32_503_680_000).await;
    server.bearer(&year_3000).get("/v1/threads").await.expect_error(403, "token_lifetime_too_long");
    let too_long = sign(now + 3600).await;
    server.bearer(&too_long).get("/v1/threads").await.expect_error(403, "token_lifetime_too_long");
    let within = sign(now + 600).await;
    assert_eq!(server.bearer(&within).thread_ids("").await.len(), 1);
    // The tokens the server mints itself stay within the cap.
    let minted = mint(&server.workspace("ws")).await;
    assert_eq!(server.bearer(&minted).thread_ids("").await.len(), 1);
}

#[tokio::test]
async fn out_of_range_times_are_named_as_such() {
    let server = TestServer::start().await;
    let now = now_ms() / 1000;
    for (claim, value) in [("exp", json!(1e300)), ("exp", json!(-5)), ("nbf", json!(1e19)), ("iat", json!(f64::MAX))] {
        let mut claims = token_claims("default", "ws", now, now + 60);
        claims[claim] = value.clone();
        let token = sign_with_project_key(&server, "default", &claims).await;
        let reply = server.bearer(&token).get("/v1/threads").await;
        reply.expect_error(403, "token_claim_invalid");
        let message = reply.json["message"].as_str().expect("message");
        assert!(message.contains(claim) && !message.contains("workspace_id"), "{claim}={value}: {message}");
    }
}

#[test]
fn token_lifetimes_longer_than_the_cap_are_a_configuration_error() {
    let config = threadhold_server::ServerConfig { workspace_token_ttl_secs: 7200, ..Default::default() };
    let error = config.check().expect_err("refused");
    assert!(error.contains("workspace_token_ttl_secs") && error.contains("token_max_lifetime_secs"), "{error}");
    assert!(threadhold_server::ServerConfig::default().check().is_ok());
}

#[tokio::test]
async fn projects_are_isolated_from_each_other() {
    let server = TestServer::start().await;
    threadhold_server::service::projects::create(server.store.as_ref(), &Actor::Cli, "acme", "Acme")
        .await
        .expect("project");
    let acme_key = threadhold_server::service::keys::create(server.store.as_ref(), &Actor::Cli, "acme", "k", None)
        .await
        .expect("key")
        .secret;
    let acme =
        Client { auth: Auth::ApiKey { key: acme_key, workspace: "ws".into(), user: None }, ..server.anonymous() };
    let default = server.workspace("ws");
    let thread = default.new_thread().await;
    assert!(acme.thread_ids("").await.is_empty());
    acme.get(&format!("/v1/threads/{thread}")).await.expect_error(404, "thread_not_found");
    let acme_thread = acme.new_thread().await;
    let listed = acme.get("/v1/projects/threads").await.expect(200)["threads"].clone();
    assert_eq!(common::ids(&listed), vec![acme_thread.clone()]);
    let acme_token = mint(&acme).await;
    assert_eq!(payload(&acme_token)["iss"], issuer_for("acme"));
    assert_eq!(server.bearer(&acme_token).thread_ids("").await, vec![acme_thread]);
    let request = default.request(Method::GET, "/v1/projects/threads").send().await.expect("send");
    let listed = common::Reply::read(request).await.json["threads"].clone();
    assert_eq!(common::ids(&listed), vec![thread]);
}
