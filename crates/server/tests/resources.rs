//! Bounded resources under hostile traffic: caches keyed by what clients send
//! stay within their size bound however many distinct keys arrive.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use threadhold_domain::ids::random_secret;
use threadhold_domain::limits::{MISSING_PROJECT_CACHE_ENTRIES, PROJECT_CACHE_ENTRIES, RULES_CACHE_ENTRIES};

/// Sends `count` requests built by `request` (from a fresh random project id), 16 at a time.
async fn flood(server: &TestServer, count: usize, request: fn(&TestServer, &str) -> reqwest::RequestBuilder) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let requests: Vec<reqwest::RequestBuilder> =
            (0..count / 16).map(|_| request(server, &random_secret(16).to_ascii_lowercase())).collect();
        tasks.spawn(async move {
            for request in requests {
                let status = request.send().await.expect("send").status();
                assert!(status.is_client_error() || status.is_success(), "{status}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}

#[tokio::test]
async fn random_project_ids_with_an_origin_do_not_grow_the_project_cache() {
    let server = TestServer::start().await;
    let browser = server.http.get(format!("{}/healthz", server.url)).header("origin", "https://app.example");
    assert_eq!(browser.send().await.expect("send").status(), 200);
    let count = MISSING_PROJECT_CACHE_ENTRIES * 3;
    flood(&server, count, |server, id| {
        server.http.get(format!("{}/projects/{id}/healthz", server.url)).header("origin", "https://evil.example")
    })
    .await;
    let (found, missing) = server.state.projects.entries();
    assert!(found <= PROJECT_CACHE_ENTRIES, "{found}");
    assert_eq!(missing, MISSING_PROJECT_CACHE_ENTRIES, "unknown ids are bounded");
    // The real project is still served from the cache after the flood.
    assert_eq!(found, 1, "the default project was not evicted");
}

#[tokio::test]
async fn random_project_ids_with_a_provider_token_do_not_grow_the_rules_cache() {
    let server = TestServer::start().await;
    let count = RULES_CACHE_ENTRIES * 2 + 64;
    flood(&server, count, |server, id| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"https://{id}.example","sub":"u","exp":9999999999}}"#));
        server
            .http
            .get(format!("{}/projects/{id}/v1/threads", server.url))
            .bearer_auth(format!("{header}.{claims}.c2ln"))
    })
    .await;
    let (with_rules, without) = server.state.verifier.cached_projects();
    assert_eq!(with_rules, 0);
    assert_eq!(without, RULES_CACHE_ENTRIES, "bounded");
}
