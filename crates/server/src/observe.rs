//! Access logs and request metrics: one line per request with the route
//! template (never the raw URI, never a header), status and latency; counters
//! and a latency histogram labelled the same way (low cardinality).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let labels = [("method", method.to_string()), ("route", route.clone()), ("status", status.to_string())];
    metrics::counter!("threadhold_http_requests_total", &labels).increment(1);
    metrics::histogram!("threadhold_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(%method, route, status, latency_ms, "request");
    } else {
        tracing::info!(%method, route, status, latency_ms, "request");
    }
    response
}
