//! The OpenAPI document: `docs/openapi.json` matches the code
//! (`THREADHOLD_BLESS=1` rewrites it after a deliberate change), it is served
//! at `/openapi.json`, and it describes exactly the methods every route of the
//! router answers: each path of the route tables is probed with every method.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::TestServer;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use threadhold_server::service::{Actor, admins};

const PASSWORD: &str = "correct horse battery staple";
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

#[test]
fn the_committed_document_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = threadhold_server::openapi::document_json();
    if std::env::var_os("THREADHOLD_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `THREADHOLD_BLESS=1 cargo test -p threadhold-server --test openapi`"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_the_error_envelope() {
    let document: Value = serde_json::from_str(&threadhold_server::openapi::document_json()).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let error = &document["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message"]));
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object().expect("responses");
            for range in ["4XX", "5XX"] {
                assert_eq!(
                    responses[range]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path}"
                );
            }
            let template_names = path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(n, _)| n);
            for name in template_names {
                let parameters = operation["parameters"].as_array().expect("parameters");
                assert!(parameters.iter().any(|p| p["name"] == name && p["in"] == "path"), "{method} {path}: {name}");
            }
        }
    }
}

/// The document's operations as (method, path) pairs.
fn documented() -> BTreeSet<(String, String)> {
    let document: Value = serde_json::from_str(&threadhold_server::openapi::document_json()).expect("JSON");
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys().filter(|m| METHODS.contains(&m.as_str())) {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

/// A concrete path for a template (`{name}` and `{*name}` filled in).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { "probe" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_is_described_and_every_operation_is_routed() {
    let server = TestServer::start().await;
    admins::add(server.store.as_ref(), &Actor::Cli, "owner@example.com", "owner", PASSWORD).await.expect("owner");
    let login = server
        .http
        .post(format!("{}/admin/api/login", server.url))
        .json(&json!({ "email": "owner@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    let cookie = login.headers()[SET_COOKIE].to_str().expect("text").split(';').next().expect("pair").to_owned();
    let csrf = login.json::<Value>().await.expect("json")["csrf_token"].as_str().expect("csrf").to_owned();

    let mut probes: Vec<(String, &str)> = threadhold_server::route_paths()
        .into_iter()
        .flat_map(|path| METHODS.map(|method| (path.clone(), method)))
        .collect();
    // Signing out ends the probing session: last.
    probes.sort_by_key(|(path, method)| path.ends_with("/logout") && *method == "post");
    let mut routed = BTreeSet::new();
    for (template, method) in &probes {
        let url = format!("{}{}", server.url, concrete(template));
        let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut request = server.http.request(http_method, url);
        if template.starts_with("/admin/api/") {
            request = request.header(COOKIE, &cookie).header("x-csrf-token", &csrf);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let code = response.json::<Value>().await.ok().and_then(|v| v["error"].as_str().map(str::to_owned));
        // A route that does not take this method answers 405; an unknown path 404 `not_found` from the fallback
        // (only `/v1/files/pdf-to-images` answers that code by design, and it is routed).
        let unrouted = status == 405 || (code.as_deref() == Some("not_found") && !template.contains("pdf-to-images"));
        if !unrouted {
            routed.insert(((*method).to_owned(), template.replace("{*", "{")));
        }
    }
    let documented = documented();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented operations the router does not answer: {unrouted:?}");
}

#[tokio::test]
async fn the_document_is_served_as_json_at_the_root_and_under_a_project() {
    let server = TestServer::start().await;
    for path in ["/openapi.json", "/projects/default/openapi.json"] {
        let response = server.http.get(format!("{}{path}", server.url)).send().await.expect("send");
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()[CONTENT_TYPE].to_str().expect("text").starts_with("application/json"));
        let served: Value = response.json().await.expect("json");
        let generated: Value = serde_json::from_str(&threadhold_server::openapi::document_json()).expect("JSON");
        assert_eq!(served, generated, "{path}");
    }
}
