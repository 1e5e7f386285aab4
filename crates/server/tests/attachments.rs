//! Attachments on the local store: presigned uploads through threadhold,
//! public and presigned download URLs, limits, scoping and cleanup.

mod common;

use std::time::Duration;

use common::{Client, Reply, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use threadhold_server::{FilesConfig, ServerConfig};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image, but bytes all the same";

fn config(files: FilesConfig) -> ServerConfig {
    ServerConfig { files, ..ServerConfig::default() }
}

async fn presign(ws: &Client, body: Value) -> Value {
    ws.post("/v1/files/attachments/generate-presigned-upload-url", body).await.expect(201).clone()
}

async fn put(server: &TestServer, url: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
    Reply::read(server.http.put(url).header("content-type", content_type).body(bytes).send().await.expect("put")).await
}

async fn fetch(server: &TestServer, url: &str) -> reqwest::Response {
    server.http.get(url).send().await.expect("get")
}

#[tokio::test]
async fn upload_then_read_by_public_and_presigned_urls() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "photo.png"})).await;
    assert_eq!(presigned["success"], true);
    let key = presigned["key"].as_str().expect("key");
    assert!(key.starts_with("attachments/default/") && key.ends_with(".png"));
    let public_url = presigned["publicUrl"].as_str().expect("public url");
    assert_eq!(public_url, format!("{}/files/{key}", server.url));
    assert!(presigned["expiresAt"].as_str().is_some_and(common::is_canonical_timestamp));
    let signed = presigned["signedUrl"].as_str().expect("signed url");

    // Nothing is readable before the bytes arrive.
    assert_eq!(fetch(&server, public_url).await.status(), 404);
    put(&server, signed, "image/png", PNG.to_vec()).await.expect(200);
    let served = fetch(&server, public_url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(served.headers()["content-disposition"].to_str().expect("h").starts_with("inline"));
    assert_eq!(served.bytes().await.expect("bytes").as_ref(), PNG);
    // A second upload to the same URL is refused; the first stays.
    put(&server, signed, "image/png", b"other".to_vec()).await.expect_error(409, "already_uploaded");

    for body in [json!({"key": key}), json!({"url": public_url})] {
        let download = ws.post("/v1/files/attachments/generate-presigned-download-url", body).await;
        let download = download.expect(200).clone();
        assert_eq!(download["key"], key);
        let bytes = fetch(&server, download["signedUrl"].as_str().expect("url")).await.bytes().await.expect("bytes");
        assert_eq!(bytes.as_ref(), PNG);
    }
}

#[tokio::test]
async fn signed_urls_expire_and_cannot_be_forged() {
    let files = FilesConfig { url_ttl: Duration::from_secs(1), ..FilesConfig::default() };
    let server = TestServer::start_with(config(files)).await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "a.txt"})).await;
    let signed = presigned["signedUrl"].as_str().expect("url");
    let tampered = signed.replace("signature=", "signature=A");
    put(&server, &tampered, "text/plain", b"x".to_vec()).await.expect_error(403, "invalid_signature");
    let other_key = signed.replace(".txt?", ".png?");
    put(&server, &other_key, "text/plain", b"x".to_vec()).await.expect_error(403, "invalid_signature");
    let unsigned = signed.split('?').next().expect("path");
    put(&server, unsigned, "text/plain", b"x".to_vec()).await.expect_error(403, "invalid_signature");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    put(&server, signed, "text/plain", b"x".to_vec()).await.expect_error(403, "invalid_signature");
    // Housekeeping removes the upload that never completed.
    assert_eq!(
        threadhold_server::service::housekeeping::settle_expired_uploads(
            server.store.as_ref(),
            server.state.blobs.as_ref(),
            server.state.config.files.max_bytes,
            threadhold_domain::now_ms()
        )
        .await
        .expect("settle"),
        1
    );
    ws.post("/v1/files/attachments/generate-presigned-download-url", json!({"key": presigned["key"]}))
        .await
        .expect_error(404, "attachment_not_found");
}

#[tokio::test]
async fn size_and_type_limits() {
    let files = FilesConfig {
        max_bytes: 1024,
        allowed_types: vec!["image/*".into(), "text/plain".into()],
        ..FilesConfig::default()
    };
    let server = TestServer::start_with(config(files)).await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "big.png"})).await;
    let reply = put(&server, presigned["signedUrl"].as_str().expect("url"), "image/png", vec![7u8; 4096]).await;
    reply.expect_error(413, "payload_too_large");
    assert_eq!(fetch(&server, presigned["publicUrl"].as_str().expect("url")).await.status(), 404);
    let leftovers: Vec<_> = walk(&server.dir.path().join("attachments"));
    assert!(leftovers.is_empty(), "nothing left behind: {leftovers:?}");

    put(
        &server,
        presign(&ws, json!({"filename": "exact.png"})).await["signedUrl"].as_str().expect("u"),
        "image/png",
        vec![1u8; 1024],
    )
    .await
    .expect(200);
    ws.post(
        "/v1/files/attachments/generate-presigned-upload-url",
        json!({"filename": "x.png", "content_length": 1025}),
    )
    .await
    .expect_error(413, "payload_too_large");
    ws.post("/v1/files/attachments/generate-presigned-upload-url", json!({"filename": "doc.pdf"}))
        .await
        .expect_error(400, "content_type_not_allowed");
    ws.post("/v1/files/attachments/generate-presigned-upload-url", json!({"filename": ""})).await.expect(400);
    let disguised = presign(&ws, json!({"filename": "a.png"})).await;
    put(&server, disguised["signedUrl"].as_str().expect("u"), "text/html", b"<script>".to_vec())
        .await
        .expect_error(400, "content_type_mismatch");
}

#[tokio::test]
async fn risky_types_are_served_as_downloads_in_a_sandbox() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "page.html", "content_type": "text/html"})).await;
    put(&server, presigned["signedUrl"].as_str().expect("u"), "text/html", b"<script>alert(1)</script>".to_vec())
        .await
        .expect(200);
    let served = fetch(&server, presigned["publicUrl"].as_str().expect("u")).await;
    assert!(served.headers()["content-disposition"].to_str().expect("h").starts_with("attachment"));
    assert!(served.headers()["content-security-policy"].to_str().expect("h").contains("sandbox"));
}

#[tokio::test]
async fn content_types_are_parsed_and_refused_when_invalid() {
    let files = FilesConfig { allowed_types: vec!["image/*".into(), "text/plain".into()], ..FilesConfig::default() };
    let server = TestServer::start_with(config(files)).await;
    let ws = server.workspace("ws");
    let url = "/v1/files/attachments/generate-presigned-upload-url";
    for bad in [
        "text/plain\r\nX-Injected: yes",
        "text/plain\u{0}",
        "image/png, text/html",
        "image/gif,image/svg+xml",
        "image/svg+xml ",
        "image/*",
        "image/",
        "png",
    ] {
        let reply = ws.post(url, json!({"filename": "a.png", "content_type": bad})).await;
        reply.expect_error(400, "invalid_content_type");
    }
    // The allowlist compares the parsed type, parameters aside.
    presign(&ws, json!({"filename": "a.txt", "content_type": "text/plain; charset=utf-8"})).await;
    presign(&ws, json!({"filename": "a.png", "content_type": "IMAGE/PNG"})).await;
    ws.post(url, json!({"filename": "a.html", "content_type": "text/html; charset=utf-8"}))
        .await
        .expect_error(400, "content_type_not_allowed");

    // The upload must carry the presigned type (or none); a list of types is not a type.
    let png = presign(&ws, json!({"filename": "a.png"})).await;
    let signed = png["signedUrl"].as_str().expect("url");
    for (declared, code) in [
        ("image/png, text/html", "invalid_content_type"),
        ("text/plain", "content_type_mismatch"),
        ("image/gif", "content_type_mismatch"),
        ("image/svg+xml", "content_type_mismatch"),
    ] {
        put(&server, signed, declared, PNG.to_vec()).await.expect_error(400, code);
    }
    put(&server, signed, "image/png; charset=binary", PNG.to_vec()).await.expect(200);
    let served = fetch(&server, png["publicUrl"].as_str().expect("url")).await;
    assert_eq!(served.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn only_raster_images_pdf_and_plain_text_are_shown_inline() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let cases = [
        ("a.png", "image/png", "image/png", true),
        ("a.jpg", "image/jpeg", "image/jpeg", true),
        ("a.webp", "image/webp", "image/webp", true),
        ("a.pdf", "application/pdf", "application/pdf", true),
        ("a.txt", "text/plain; charset=UTF-8", "text/plain; charset=utf-8", true),
        ("a.svg", "image/svg+xml; charset=utf-8", "image/svg+xml; charset=utf-8", false),
        ("a.svg", "image/svg+xml", "image/svg+xml", false),
        ("a.html", "text/html", "text/html", false),
        ("a.xhtml", "application/xhtml+xml", "application/xhtml+xml", false),
        ("a.xml", "text/xml", "text/xml", false),
        ("a.mp3", "audio/mpeg", "audio/mpeg", false),
        ("a.mp4", "video/mp4", "video/mp4", false),
        ("a.bin", "application/octet-stream", "application/octet-stream", false),
    ];
    for (filename, declared, served_type, inline) in cases {
        let presigned = presign(&ws, json!({"filename": filename, "content_type": declared})).await;
        put(&server, presigned["signedUrl"].as_str().expect("url"), declared, b"<svg onload=alert(1)>".to_vec())
            .await
            .expect(200);
        let served = fetch(&server, presigned["publicUrl"].as_str().expect("url")).await;
        assert_eq!(served.status(), 200, "{filename}");
        let headers = served.headers();
        assert_eq!(headers["content-type"], served_type, "{declared}");
        let disposition = headers["content-disposition"].to_str().expect("header");
        assert_eq!(disposition.starts_with("inline"), inline, "{declared}: {disposition}");
        assert_eq!(disposition.starts_with("attachment"), !inline, "{declared}: {disposition}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["content-security-policy"].to_str().expect("header").contains("sandbox"));
    }
    // A file presigned as generic bytes takes the type its upload declares, and is served by it.
    let unknown = presign(&ws, json!({"filename": "report.docx"})).await;
    let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    put(&server, unknown["signedUrl"].as_str().expect("url"), docx, b"PK".to_vec()).await.expect(200);
    let served = fetch(&server, unknown["publicUrl"].as_str().expect("url")).await;
    assert_eq!(served.headers()["content-type"], docx);
    assert!(served.headers()["content-disposition"].to_str().expect("h").starts_with("attachment"));
}

#[tokio::test]
async fn a_stored_type_that_does_not_parse_is_served_as_a_download() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "a.txt"})).await;
    put(&server, presigned["signedUrl"].as_str().expect("url"), "text/plain", b"hello".to_vec()).await.expect(200);
    // As written by an older version that stored the type unchecked.
    let key = presigned["key"].as_str().expect("key");
    server.store.complete_attachment(key, 5, "text/plain\r\nX-Injected: yes").await.expect("complete");
    let served = fetch(&server, presigned["publicUrl"].as_str().expect("url")).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "application/octet-stream");
    assert!(served.headers()["content-disposition"].to_str().expect("h").starts_with("attachment"));
    assert!(served.headers().get("x-injected").is_none());
}

#[tokio::test]
async fn files_belong_to_their_workspace() {
    let server = TestServer::start().await;
    let owner = server.workspace("owner");
    let presigned = presign(&owner, json!({"filename": "a.png"})).await;
    put(&server, presigned["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let stranger = server.workspace("stranger");
    for body in [json!({"key": presigned["key"]}), json!({"url": presigned["publicUrl"]})] {
        stranger
            .post("/v1/files/attachments/generate-presigned-download-url", body)
            .await
            .expect_error(404, "attachment_not_found");
    }
    for body in [
        json!({"key": "attachments/../../etc/passwd"}),
        json!({"key": "/attachments/default/x"}),
        json!({"key": "attachments/default/x?y"}),
        json!({"url": "https://elsewhere.example/x"}),
    ] {
        owner
            .post("/v1/files/attachments/generate-presigned-download-url", body)
            .await
            .expect_error(404, "attachment_not_found");
    }
    owner.post("/v1/files/attachments/generate-presigned-download-url", json!({})).await.expect(400);
    owner
        .post(
            "/v1/files/attachments/generate-presigned-download-url",
            json!({"key": presigned["key"], "url": presigned["publicUrl"]}),
        )
        .await
        .expect(400);
    assert_eq!(fetch(&server, &format!("{}/files/attachments/default/unknown.png", server.url)).await.status(), 404);
    assert_eq!(fetch(&server, &format!("{}/files/attachments/..%2F..%2Fetc%2Fpasswd", server.url)).await.status(), 404);
}

#[tokio::test]
async fn deleting_a_thread_deletes_its_files() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "a.png"})).await;
    let public_url = presigned["publicUrl"].as_str().expect("u").to_owned();
    put(&server, presigned["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let kept = presign(&ws, json!({"filename": "kept.png"})).await;
    put(&server, kept["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let thread = ws.new_thread().await;
    let content = json!({"role": "user", "content": [{"type": "image", "image": public_url, "filename": "a.png"}, {"type": "text", "text": "look"}]});
    ws.post(
        &format!("/v1/threads/{thread}/messages"),
        json!({"parent_id": null, "format": "aui/v0", "content": content}),
    )
    .await
    .expect(201);
    assert_eq!(walk(&server.dir.path().join("attachments")).len(), 2);
    ws.delete(&format!("/v1/threads/{thread}"), None).await.expect(200);
    assert_eq!(fetch(&server, &public_url).await.status(), 404);
    assert_eq!(walk(&server.dir.path().join("attachments")).len(), 1, "only the unlinked file remains");
    assert_eq!(fetch(&server, kept["publicUrl"].as_str().expect("u")).await.status(), 200);
}

#[tokio::test]
async fn the_upload_target_answers_browser_preflights() {
    let server = TestServer::start().await;
    let ws = server.workspace("ws");
    let presigned = presign(&ws, json!({"filename": "a.png"})).await;
    let preflight = server
        .http
        .request(Method::OPTIONS, presigned["signedUrl"].as_str().expect("u"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    assert!(preflight.headers()["access-control-allow-methods"].to_str().expect("h").contains("PUT"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|entry| if entry.path().is_dir() { walk(&entry.path()) } else { vec![entry.path()] })
        .collect()
}

#[tokio::test]
async fn erasing_a_user_deletes_their_workspace_and_files() {
    let server = TestServer::start().await;
    let user = server.workspace("user_42").as_user("user_42");
    let presigned = presign(&user, json!({"filename": "a.png"})).await;
    put(&server, presigned["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let unlinked = presign(&user, json!({"filename": "b.png"})).await;
    put(&server, unlinked["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let thread = user.new_thread().await;
    let content = json!({"role": "user", "content": [{"type": "image", "image": presigned["publicUrl"]}]});
    let message = user
        .post(
            &format!("/v1/threads/{thread}/messages"),
            json!({"parent_id": null, "format": "aui/v0", "content": content}),
        )
        .await
        .json["message_id"]
        .as_str()
        .expect("id")
        .to_owned();
    user.post(&format!("/v1/threads/{thread}/messages/{message}/feedback"), json!({"type": "positive"}))
        .await
        .expect(200);
    let bystander = server.workspace("someone_else");
    let kept = bystander.new_thread().await;

    // Only a backend may erase, and only with a valid id.
    let token = user.post("/v1/auth/tokens", json!({})).await.json["token"].as_str().expect("t").to_owned();
    server.bearer(&token).delete("/v1/projects/users/user_42", None).await.expect_error(403, "api_key_required");
    bystander.delete("/v1/projects/users/bad%20id", None).await.expect(400);
    let erased = bystander.delete("/v1/projects/users/user_42", None).await;
    assert_eq!(erased.expect(200)["deleted_threads"], 1);
    assert_eq!(erased.json["deleted_files"], 2);
    user.get(&format!("/v1/threads/{thread}")).await.expect_error(404, "thread_not_found");
    for upload in [&presigned, &unlinked] {
        assert_eq!(fetch(&server, upload["publicUrl"].as_str().expect("u")).await.status(), 404);
    }
    assert!(walk(&server.dir.path().join("attachments")).is_empty());
    assert_eq!(bystander.thread_ids("").await, vec![kept]);
}

#[tokio::test]
async fn threads_past_the_retention_period_go_with_their_files() {
    // The server's own housekeeping applies the retention period at start,
    // beside this test: the threads are inside the period today, and the
    // sweep under test runs 25 days from now, when only the old one is past it.
    let server = TestServer::start_with(ServerConfig { retention_days: Some(30), ..ServerConfig::default() }).await;
    let ws = server.workspace("ws");
    let now = threadhold_domain::now_ms();
    let ten_days_ago = threadhold_domain::format_ms(now - 10 * 86_400_000);
    let presigned = presign(&ws, json!({"filename": "old.png"})).await;
    put(&server, presigned["signedUrl"].as_str().expect("u"), "image/png", PNG.to_vec()).await.expect(200);
    let old = ws.create_thread(json!({"last_message_at": ten_days_ago})).await;
    let content = json!({"role": "user", "content": [{"type": "image", "image": presigned["publicUrl"]}]});
    ws.post(&format!("/v1/threads/{old}/messages"), json!({"parent_id": null, "format": "aui/v0", "content": content}))
        .await
        .expect(201);
    // Storing the message moved last_message_at to now; put it back in the past.
    ws.put(&format!("/v1/threads/{old}"), json!({"last_message_at": ten_days_ago})).await.expect(200);
    let recent = ws.create_thread(json!({"last_message_at": threadhold_domain::format_ms(now)})).await;
    let purged = threadhold_server::service::retention::apply(
        server.store.as_ref(),
        server.state.blobs.as_ref(),
        server.state.config.retention_days,
        now + 25 * 86_400_000,
    )
    .await
    .expect("retention");
    assert_eq!(purged, 1);
    assert_eq!(ws.thread_ids("").await, vec![recent]);
    assert_eq!(fetch(&server, presigned["publicUrl"].as_str().expect("u")).await.status(), 404);
}
