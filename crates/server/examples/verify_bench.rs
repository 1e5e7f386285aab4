//! Benchmark (not a test): token verification cost per algorithm, request
//! throughput with a warm key cache, and JWKS fetches under a flood of
//! unknown kids. Everything runs on 127.0.0.1 and stops by itself.
//!
//!     cargo run --release -p threadhold-server --example verify_bench

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/issuer.rs"]
mod issuer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use issuer::{JwksServer, Keys};
use serde_json::json;
use threadhold_auth::rules::RuleInput;
use threadhold_auth::{compact, keys, verify};
use threadhold_server::ServerConfig;
use threadhold_server::service::{Actor, rules};

const LOAD_SECONDS: u64 = 3;
const CONNECTIONS: usize = 16;

#[tokio::main]
async fn main() {
    threadhold_auth::install_crypto_provider();
    let signer = Keys::generate("bench");
    let now = threadhold_domain::now_ms() / 1000;
    let claims = json!({"iss": "https://issuer.example", "sub": "user_1", "aud": "api", "exp": now + 3600, "iat": now, "org_id": "org_1"});
    let jwks = keys::parse_jwks(json!({"keys": signer.jwks()}).to_string().as_bytes()).expect("jwks");
    println!("verification cost (parse + signature + claims), one core:");
    for alg in ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let token = signer.token(alg, &claims);
        let key_set =
            if alg == "HS256" { vec![Arc::new(keys::VerifyKey::hmac(&signer.hmac_secret))] } else { jwks.clone() };
        let policy = verify::Policy {
            issuer: "https://issuer.example".into(),
            algorithms: vec![keys::algorithm(alg).expect("alg")],
            audiences: vec!["api".into()],
            authorized_parties: Vec::new(),
            skew_secs: 60,
            max_lifetime_secs: None,
            token_type: None,
        };
        let rounds = if alg == "HS256" { 100_000 } else { 3_000 };
        let started = Instant::now();
        for _ in 0..rounds {
            let parsed = compact::parse(&token).expect("parse");
            verify::verify(&parsed, &key_set, &policy, now).expect("verify");
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        println!("  {alg:<6} {micros:>8.1} µs/token   {:>9.0} tokens/s", 1e6 / micros);
    }

    let jwks_server = JwksServer::start(signer.jwks()).await;
    let server =
        TestServer::start_with(ServerConfig { jwks_allow_hosts: vec!["127.0.0.1".into()], ..ServerConfig::default() })
            .await;
    let input = RuleInput {
        provider: "clerk".into(),
        issuer: jwks_server.base.clone(),
        jwks_url: Some(jwks_server.url.clone()),
        ..RuleInput::default()
    };
    rules::add(server.store.as_ref(), &Actor::Cli, "default", input, &server.state.config.jwks_allow_hosts)
        .await
        .expect("rule");
    let provider_claims = json!({"iss": jwks_server.base, "sub": "user_1", "exp": now + 3600, "iat": now});
    let provider_token = signer.token("RS256", &provider_claims);
    let exchanged = server.bearer(&provider_token).get("/v1/threads").await;
    let threadhold_token =
        exchanged.headers["authorization"].to_str().expect("header").trim_start_matches("Bearer ").to_owned();
    println!("\nauthenticated GET /v1/threads, {CONNECTIONS} connections for {LOAD_SECONDS} s, warm caches:");
    for (label, client) in [
        ("provider RS256 token", server.bearer(&provider_token)),
        ("exchanged threadhold token", server.bearer(&threadhold_token)),
        ("API key", server.workspace("user_1")),
    ] {
        let deadline = Instant::now() + Duration::from_secs(LOAD_SECONDS);
        let mut workers = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = client.clone();
            workers.push(tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    assert!(client.get("/v1/threads").await.status.is_success());
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for worker in workers {
            total += worker.await.expect("worker");
        }
        println!("  {label:<28} {:>8.0} requests/s", total as f64 / LOAD_SECONDS as f64);
    }

    let before = jwks_server.hits();
    let started = Instant::now();
    for i in 0..1_000 {
        let header = json!({"alg": "RS256", "kid": format!("random-{i}"), "typ": "JWT"}).to_string();
        let token = signer.sign_raw("RS256", &header, &provider_claims.to_string());
        assert_eq!(server.bearer(&token).get("/v1/threads").await.status, 403);
    }
    println!(
        "\n1000 tokens with random kids in {:.1} s caused {} JWKS fetch(es) (cooldown 30 s)",
        started.elapsed().as_secs_f64(),
        jwks_server.hits() - before
    );
}
