//! Attachments on S3-compatible storage, against a real S3-compatible server
//! (moto, from PyPI) started on 127.0.0.1 by the test.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Reply, TestServer};
use serde_json::json;
use threadhold_server::{AttachmentBackend, FilesConfig, S3Settings, ServerConfig};

const BUCKET: &str = "threadhold-test";

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("moto_server is needed for the S3 tests ({error}); install it with: pip install 'moto[server]'")
        });
    let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    let started = Instant::now();
    // moto needs a moment to import; poll its HTTP port until it answers.
    loop {
        if http.put(format!("{}/{BUCKET}", moto.endpoint)).send().await.is_ok_and(|r| r.status().is_success()) {
            return moto;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(moto: &Moto, files: FilesConfig) -> TestServer {
    TestServer::start_with(ServerConfig {
        files,
        attachments: AttachmentBackend::S3(S3Settings {
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            endpoint: Some(moto.endpoint.clone()),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            allow_http: true,
        }),
        ..ServerConfig::default()
    })
    .await
}

#[tokio::test]
async fn presigned_urls_go_straight_to_the_bucket() {
    let moto = start_moto().await;
    let server = start(&moto, FilesConfig::default()).await;
    let ws = server.workspace("ws");
    let presigned =
        ws.post("/v1/files/attachments/generate-presigned-upload-url", json!({"filename": "cat.png"})).await;
    let presigned = presigned.expect(201).clone();
    let signed = presigned["signedUrl"].as_str().expect("signed");
    assert!(signed.starts_with(&moto.endpoint) && signed.contains("X-Amz-Signature"), "{signed}");
    let bytes = b"\x89PNG pretend".to_vec();
    let uploaded =
        server.http.put(signed).header("content-type", "image/png").body(bytes.clone()).send().await.expect("put");
    assert!(uploaded.status().is_success(), "{}", uploaded.text().await.unwrap_or_default());

    // The public URL stays on threadhold and redirects to a fresh presigned read.
    let public_url = presigned["publicUrl"].as_str().expect("public");
    assert!(public_url.starts_with(&server.url));
    let read = server.http.get(public_url).send().await.expect("get");
    assert_eq!(read.status(), 200);
    assert_eq!(read.bytes().await.expect("bytes").to_vec(), bytes);

    let download =
        ws.post("/v1/files/attachments/generate-presigned-download-url", json!({"key": presigned["key"]})).await;
    let download_url = download.expect(200)["signedUrl"].as_str().expect("url").to_owned();
    assert!(download_url.starts_with(&moto.endpoint));
    assert_eq!(server.http.get(&download_url).send().await.expect("get").bytes().await.expect("b").to_vec(), bytes);
    server
        .workspace("other")
        .post("/v1/files/attachments/generate-presigned-download-url", json!({"key": presigned["key"]}))
        .await
        .expect_error(404, "attachment_not_found");

    // Deleting the thread that references it deletes the object in the bucket.
    let thread = ws.new_thread().await;
    let content = json!({"role": "user", "content": [{"type": "image", "image": public_url}]});
    ws.post(
        &format!("/v1/threads/{thread}/messages"),
        json!({"parent_id": null, "format": "aui/v0", "content": content}),
    )
    .await
    .expect(201);
    ws.delete(&format!("/v1/threads/{thread}"), None).await.expect(200);
    assert_eq!(server.http.get(&download_url).send().await.expect("get").status(), 404, "object deleted");
    assert_eq!(Reply::read(server.http.get(public_url).send().await.expect("get")).await.status, 404);
}

#[tokio::test]
async fn oversized_or_missing_uploads_leave_nothing_behind() {
    let moto = start_moto().await;
    let files = FilesConfig { max_bytes: 100, url_ttl: Duration::from_secs(1), ..FilesConfig::default() };
    let server = start(&moto, files).await;
    let ws = server.workspace("ws");
    let presign =
        |name: &'static str| ws.post("/v1/files/attachments/generate-presigned-upload-url", json!({"filename": name}));
    let big = presign("big.bin").await.json.clone();
    let fine = presign("fine.bin").await.json.clone();
    presign("never.bin").await.expect(201);
    for (upload, size) in [(&big, 500), (&fine, 50)] {
        let url = upload["signedUrl"].as_str().expect("url");
        assert!(server.http.put(url).body(vec![0u8; size]).send().await.expect("put").status().is_success());
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let removed = threadhold_server::service::housekeeping::settle_expired_uploads(
        server.store.as_ref(),
        server.state.blobs.as_ref(),
        server.state.config.files.max_bytes,
        threadhold_domain::now_ms(),
    )
    .await
    .expect("settle");
    assert_eq!(removed, 2, "the oversized and the never-uploaded files");
    let read = |upload: &serde_json::Value| server.http.get(upload["publicUrl"].as_str().expect("u").to_owned()).send();
    assert_eq!(read(&big).await.expect("get").status(), 404);
    let kept = read(&fine).await.expect("get");
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.bytes().await.expect("bytes").len(), 50);
}
