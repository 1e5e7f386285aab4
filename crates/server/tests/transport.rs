//! Transport rules of the contract: empty JSON bodies, DELETE with a body,
//! percent-encoded paths, form-encoded queries, JSON errors for every
//! malformed request, 404/405 JSON, Cache-Control, body limits and CORS.

mod common;

use common::{Reply, TestServer};
use reqwest::Method;
use serde_json::json;
use threadhold_server::service::Actor;

#[tokio::test]
async fn empty_bodies_under_json_content_type_are_accepted() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    // POST /v1/auth/tokens is sent with Content-Type: application/json and no body.
    let reply = Reply::read(ws.request(Method::POST, "/v1/auth/tokens").send().await.expect("send")).await;
    assert!(reply.expect(200)["token"].is_string());
    let thread = ws.new_thread().await;
    let reply =
        Reply::read(ws.request(Method::DELETE, &format!("/v1/threads/{thread}")).send().await.expect("send")).await;
    reply.expect(200);
    let reply = Reply::read(ws.request(Method::POST, "/v1/threads").body("  \n").send().await.expect("send")).await;
    reply.expect(201);
}

#[tokio::test]
async fn percent_encoded_ids_stay_in_one_segment() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    for id in ["thr%2F1", "thread%20with%20space", "a%3Fb", "%E2%9C%93"] {
        ws.get(&format!("/v1/threads/{id}")).await.expect_error(404, "thread_not_found");
        let reply = ws.get(&format!("/v1/threads/{id}/messages")).await;
        assert_eq!(reply.expect(200)["messages"], json!([]), "{id}");
    }
}

#[tokio::test]
async fn queries_are_form_decoded() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    ws.new_thread().await;
    // `+` is a space and `%2F` a slash: a cursor that matches nothing gives an empty page, not an error.
    let reply = ws.get("/v1/threads?is_archived=false&limit=20&after=thread+a%2Fb").await;
    assert_eq!(reply.expect(200)["threads"], json!([]));
    ws.get("/v1/threads?limit=%32%30").await.expect(200);
}

#[tokio::test]
async fn malformed_json_and_wrong_types_get_400_json() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    for (path, body) in [
        ("/v1/threads".to_owned(), "{\"last_message_at\":"),
        ("/v1/threads".to_owned(), "not json"),
        (format!("/v1/threads/{thread}/messages"), "{\"parent_id\":null,\"format\":1,\"content\":{}}"),
        (format!("/v1/threads/{thread}/messages"), "\u{0}"),
        ("/v1/events".to_owned(), "{\"events\":\"x\"}"),
    ] {
        let reply = Reply::read(ws.request(Method::POST, &path).body(body).send().await.expect("send")).await;
        assert_eq!(reply.status, 400, "{path} {body:?}: {}", reply.text);
        reply.expect(400);
    }
    let reply =
        Reply::read(ws.request(Method::POST, "/v1/threads").body("{\"title\":").send().await.expect("send")).await;
    reply.expect_error(400, "invalid_json");
    let reply =
        Reply::read(ws.request(Method::POST, "/v1/threads").body("{\"title\":5}").send().await.expect("send")).await;
    reply.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    ws.get("/v1/nothing-here").await.expect_error(404, "not_found");
    ws.get("/v2/threads").await.expect_error(404, "not_found");
    let landing = reqwest::get(format!("{}/", server.url)).await.expect("landing");
    assert_eq!(landing.status(), 200, "the root answers a page pointing to the dashboard");
    assert!(landing.text().await.expect("text").contains("/admin"));
    ws.send(Method::PATCH, "/v1/threads", Some(json!({}))).await.expect_error(405, "method_not_allowed");
    ws.post("/v1/files/pdf-to-images", json!({"file_url": "x"})).await.expect_error(404, "not_found");
}

#[tokio::test]
async fn workspace_data_is_never_cached() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    for reply in
        [ws.get("/v1/threads").await, ws.get(&format!("/v1/threads/{thread}")).await, ws.get("/v1/threads/x").await]
    {
        assert_eq!(reply.headers["cache-control"], "private, no-store");
        assert!(reply.headers["content-type"].to_str().unwrap_or_default().starts_with("application/json"));
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let thread = ws.new_thread().await;
    let huge = format!(
        "{{\"parent_id\":null,\"format\":\"aui/v0\",\"content\":{{\"x\":\"{}\"}}}}",
        "a".repeat(3 * 1024 * 1024)
    );
    let reply = Reply::read(
        ws.request(Method::POST, &format!("/v1/threads/{thread}/messages")).body(huge).send().await.expect("send"),
    )
    .await;
    reply.expect_error(413, "payload_too_large");
    assert!(ws.message_ids(&thread, "").await.is_empty());
}

#[tokio::test]
async fn cors_preflight_and_exposed_headers() {
    let server = TestServer::start().await;
    let preflight = server
        .http
        .request(Method::OPTIONS, format!("{}/v1/threads/abc/messages", server.url))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization, content-type, aui-sdk")
        .send()
        .await
        .expect("send");
    assert!(preflight.status().is_success());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap_or_default();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers["access-control-allow-headers"].to_str().unwrap_or_default();
    for header in ["authorization", "content-type", "aui-sdk", "aui-user-id", "aui-workspace-id", "accept"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    let ws = server.workspace("ws");
    let reply =
        ws.request(Method::GET, "/v1/threads").header("origin", "http://localhost:3000").send().await.expect("send");
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
    assert_eq!(reply.headers()["access-control-expose-headers"], "Authorization");
    // Errors carry CORS headers too, so the browser can read them.
    let reply = server
        .anonymous()
        .request(Method::GET, "/v1/threads")
        .header("origin", "http://a.test")
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn cors_follows_the_projects_allowed_origins() {
    let server =
        TestServer::start_with(threadhold_server::ServerConfig { project_cache_secs: 0, ..Default::default() }).await;
    // Restrict the default project's origins directly in the store, as `projects` admin commands do.
    let mut project = server.store.get_project("default").await.expect("get").expect("default project");
    project.allowed_origins = vec!["https://app.example.com".into(), "https://*.preview.example.com".into()];
    server.store.set_allowed_origins(&project.id, &project.allowed_origins).await.expect("set origins");
    let ask = |origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, format!("{}/v1/threads", server.url))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let allowed = ask("https://app.example.com").await.expect("send");
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(allowed.headers()["vary"], "Origin");
    let deeper = ask("https://pr-1.preview.example.com").await.expect("send");
    assert_eq!(deeper.headers()["access-control-allow-origin"], "https://pr-1.preview.example.com");
    let refused = ask("https://evil.example.org").await.expect("send");
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

const ACME_APP: &str = "https://app.acme.example";
const EVIL: &str = "https://evil.example";

/// Project `acme` allows only its app's origin; the default project allows every origin.
async fn acme_server() -> (TestServer, common::Client, String) {
    let server = TestServer::start().await;
    threadhold_server::service::projects::create(server.store.as_ref(), &Actor::Cli, "acme", "Acme")
        .await
        .expect("project");
    threadhold_server::service::access::set_origins(server.store.as_ref(), &Actor::Cli, "acme", &[ACME_APP.into()])
        .await
        .expect("project");
    let key = threadhold_server::service::keys::create(server.store.as_ref(), &Actor::Cli, "acme", "k", None)
        .await
        .expect("key")
        .secret;
    let acme =
        common::Client { auth: common::Auth::ApiKey { key, workspace: "ws".into(), user: None }, ..server.anonymous() };
    let token = acme.post("/v1/auth/tokens", json!({})).await.expect(200)["token"].as_str().expect("t").to_owned();
    (server, acme, token)
}

#[tokio::test]
async fn a_projects_origins_govern_its_credentials_at_the_root_too() {
    let (server, acme, token) = acme_server().await;
    let browser = server.bearer(&token);
    for base in ["", "/projects/acme"] {
        let path = format!("{base}/v1/threads");
        // A foreign origin gets no Access-Control-Allow-Origin, and the request does not run.
        let reply =
            Reply::read(browser.request(Method::GET, &path).header("origin", EVIL).send().await.expect("send")).await;
        reply.expect_error(403, "origin_not_allowed");
        assert!(reply.headers.get("access-control-allow-origin").is_none(), "{path}");
        assert_eq!(reply.headers["vary"], "Origin");
        let write = browser.request(Method::POST, &path).header("origin", EVIL).body("{}").send().await.expect("send");
        Reply::read(write).await.expect_error(403, "origin_not_allowed");
        // The API key of the project is governed the same way.
        let keyed = acme.request(Method::GET, &path).header("origin", EVIL).send().await.expect("send");
        Reply::read(keyed).await.expect_error(403, "origin_not_allowed");
        // The project's own app is allowed, by name.
        let reply =
            Reply::read(browser.request(Method::GET, &path).header("origin", ACME_APP).send().await.expect("send"))
                .await;
        reply.expect(200);
        assert_eq!(reply.headers["access-control-allow-origin"], ACME_APP);
    }
    assert!(acme.thread_ids("").await.is_empty(), "no refused write ran");
    // Without an Origin (a backend), nothing changes.
    browser.get("/v1/threads").await.expect(200);
    // The default project's credentials still follow the default project's (open) list.
    let default = server.workspace("ws");
    let reply = default.request(Method::GET, "/v1/threads").header("origin", EVIL).send().await.expect("send");
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn preflights_follow_their_path() {
    let (server, _acme, _token) = acme_server().await;
    let preflight = |path: String, origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, format!("{}{path}", server.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let refused = preflight("/projects/acme/v1/threads".into(), EVIL).await.expect("send");
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let allowed = preflight("/projects/acme/v1/threads".into(), ACME_APP).await.expect("send");
    assert_eq!(allowed.headers()["access-control-allow-origin"], ACME_APP);
    // At the root a preflight carries no credential: the default project's (open) list answers,
    // and the request after it is checked against its credential's project (see above).
    let root = preflight("/v1/threads".into(), EVIL).await.expect("send");
    assert_eq!(root.headers()["access-control-allow-origin"], "*");
    // An attachment's URL names its project, so its preflight follows that project.
    let upload = preflight("/files/upload/attachments/acme/abc.png".into(), EVIL).await.expect("send");
    assert!(upload.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn attachments_follow_the_origins_of_their_project() {
    let (server, acme, _token) = acme_server().await;
    let presigned = acme
        .post("/v1/files/attachments/generate-presigned-upload-url", json!({"filename": "a.png"}))
        .await
        .expect(201)
        .clone();
    let signed = presigned["signedUrl"].as_str().expect("url");
    let upload = server.http.put(signed).header("origin", EVIL).header("content-type", "image/png").body("x");
    Reply::read(upload.send().await.expect("put")).await.expect_error(403, "origin_not_allowed");
    let upload = server.http.put(signed).header("origin", ACME_APP).header("content-type", "image/png").body("x");
    Reply::read(upload.send().await.expect("put")).await.expect(200);
    let public_url = presigned["publicUrl"].as_str().expect("url");
    assert!(public_url.contains("/files/attachments/acme/"));
    let foreign = server.http.get(public_url).header("origin", EVIL).send().await.expect("get");
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
    let own = server.http.get(public_url).header("origin", ACME_APP).send().await.expect("get");
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["access-control-allow-origin"], ACME_APP);
    // An <img> without crossorigin sends no Origin and still loads.
    assert_eq!(server.http.get(public_url).send().await.expect("get").status(), 200);
    // The file is acme's whichever project's path reaches it.
    let key = presigned["key"].as_str().expect("key");
    let via_default = format!("{}/projects/default/files/{key}", server.url);
    let foreign = server.http.get(&via_default).header("origin", EVIL).send().await.expect("get");
    assert_eq!(foreign.status(), 403);
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let client = server.anonymous();
    assert_eq!(client.get("/healthz").await.expect(200)["status"], "ok");
    assert_eq!(client.get("/readyz").await.expect(200)["status"], "ready");
}
