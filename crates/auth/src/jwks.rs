//! Fetching and caching an issuer's keys.
//!
//! One entry per key source (a JWKS URL), shared by every request. Keys are
//! kept for the `Cache-Control: max-age` of the response, clamped to
//! [5 min, 24 h] (10 min without one). A token with an unknown `kid` triggers
//! one refetch, single-flight, at most once per cooldown (30 s), and the set of
//! recently missed kids is capped, so a flood of random kids costs at most one
//! fetch per cooldown. When the endpoint fails, the last good keys keep serving
//! for up to 24 h. Fetches time out, never follow redirects, cap the body and
//! go through the SSRF guard.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{CACHE_CONTROL, CONTENT_LENGTH};
use serde_json::Value;
use url::Url;

use crate::VerifyError;
use crate::keys::{VerifyKey, parse_jwks};
use crate::ssrf::UrlGuard;

/// Tunables of the cache (the defaults are the documented policy; tests shrink them).
#[derive(Debug, Clone)]
pub struct CachePolicy {
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    pub default_ttl: Duration,
    /// Least time between two refetches caused by unknown kids.
    pub unknown_kid_cooldown: Duration,
    /// Distinct unknown kids remembered per cooldown window.
    pub max_unknown_kids: usize,
    /// How long the last good keys serve while the endpoint fails.
    pub stale_limit: Duration,
    /// Least time between two fetches after a failure.
    pub failure_backoff: Duration,
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            min_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(86_400),
            default_ttl: Duration::from_secs(600),
            unknown_kid_cooldown: Duration::from_secs(30),
            max_unknown_kids: 32,
            stale_limit: Duration::from_secs(86_400),
            failure_backoff: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
        }
    }
}

pub type KeyList = Arc<Vec<Arc<VerifyKey>>>;

#[derive(Clone)]
struct KeySet {
    keys: KeyList,
    fetched_at: Instant,
    ttl: Duration,
}

#[derive(Default)]
struct Source {
    current: RwLock<Option<KeySet>>,
    /// Held while fetching: concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<(Instant, bool)>>,
    /// When an unknown kid last caused a refetch: the cooldown runs from here,
    /// so a key rotated in right after a routine fetch is still found at once.
    last_kid_refetch: Mutex<Option<Instant>>,
    missed_kids: Mutex<(Option<Instant>, HashSet<String>)>,
    /// The last failed fetch and why, for the dashboard.
    last_error: Mutex<Option<(Instant, String)>>,
}

/// What a node's cache knows of one key URL, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysStatus {
    /// How long ago the keys in use were fetched (`None`: never on this node).
    pub fetched_ago: Option<Duration>,
    /// How long they are used before the next fetch.
    pub ttl: Option<Duration>,
    /// The key ids on offer (`None` for keys without one).
    pub kids: Vec<Option<String>>,
    /// The last failed fetch: how long ago, and why.
    pub last_error: Option<(Duration, String)>,
}

/// Counts of what the cache did, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FetchStats {
    pub fetches: u64,
    pub failures: u64,
}

pub struct JwksCache {
    http: reqwest::Client,
    guard: UrlGuard,
    policy: CachePolicy,
    sources: Mutex<HashMap<String, Arc<Source>>>,
    discovered: Mutex<HashMap<String, (Instant, String)>>,
    stats: Mutex<FetchStats>,
}

impl JwksCache {
    pub fn new(guard: UrlGuard, policy: CachePolicy) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .dns_resolver(Arc::new(guard.clone()))
            .user_agent(concat!("threadhold/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("building the HTTP client: {error}"))?;
        Ok(JwksCache {
            http,
            guard,
            policy,
            sources: Mutex::default(),
            discovered: Mutex::default(),
            stats: Mutex::default(),
        })
    }

    /// What this node's cache holds for `url` (nothing is fetched).
    pub fn status(&self, url: &str) -> KeysStatus {
        let Some(source) = self.sources.lock().unwrap_or_else(|p| p.into_inner()).get(url).cloned() else {
            return KeysStatus::default();
        };
        let current = source.current.read().map(|c| c.clone()).unwrap_or(None);
        let last_error = source.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        KeysStatus {
            fetched_ago: current.as_ref().map(|set| set.fetched_at.elapsed()),
            ttl: current.as_ref().map(|set| set.ttl),
            kids: current.map(|set| set.keys.iter().map(|key| key.kid.clone()).collect()).unwrap_or_default(),
            last_error: last_error.map(|(at, error)| (at.elapsed(), error)),
        }
    }

    pub fn stats(&self) -> FetchStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn source(&self, url: &str) -> Arc<Source> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(sources.entry(url.to_owned()).or_default())
    }

    /// The keys at `url` for a token with `kid`: cached while fresh; refetched
    /// when stale, or (rate-limited) when the kid is unknown.
    pub async fn keys(&self, url: &str, kid: Option<&str>) -> Result<KeyList, VerifyError> {
        let source = self.source(url);
        let current = source.current.read().map(|c| c.clone()).unwrap_or(None);
        match current {
            Some(set) if set.fetched_at.elapsed() < set.ttl => {
                let known = kid.is_none_or(|kid| set.keys.iter().any(|key| key.kid.as_deref() == Some(kid)));
                if known || !self.may_refetch_for(&source, kid.unwrap_or_default()) {
                    return Ok(set.keys);
                }
                Ok(self.refresh(url, &source).await.unwrap_or(set.keys))
            }
            Some(stale) => match self.refresh(url, &source).await {
                Ok(keys) => Ok(keys),
                Err(_) if stale.fetched_at.elapsed() < self.policy.stale_limit => Ok(stale.keys),
                Err(error) => Err(error),
            },
            None => self.refresh(url, &source).await,
        }
    }

    /// Whether an unknown kid may cause a refetch now (cooldown, capped set).
    fn may_refetch_for(&self, source: &Source, kid: &str) -> bool {
        let mut last_refetch = source.last_kid_refetch.lock().unwrap_or_else(|p| p.into_inner());
        if last_refetch.is_some_and(|at| at.elapsed() < self.policy.unknown_kid_cooldown) {
            return false;
        }
        let mut missed = source.missed_kids.lock().unwrap_or_else(|p| p.into_inner());
        if missed.0.is_none_or(|since| since.elapsed() >= self.policy.unknown_kid_cooldown) {
            *missed = (Some(Instant::now()), HashSet::new());
        }
        if missed.1.contains(kid) || missed.1.len() >= self.policy.max_unknown_kids {
            return false;
        }
        missed.1.insert(kid.to_owned());
        *last_refetch = Some(Instant::now());
        true
    }

    async fn refresh(&self, url: &str, source: &Source) -> Result<KeyList, VerifyError> {
        let waited_since = Instant::now();
        let _single_flight = source.fetching.lock().await;
        // Someone else fetched while this task waited: use their result.
        if let Some(set) = source.current.read().ok().and_then(|c| c.clone())
            && set.fetched_at >= waited_since
        {
            return Ok(set.keys);
        }
        let last = *source.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, false)) = last
            && at.elapsed() < self.policy.failure_backoff
        {
            return Err(VerifyError::KeysUnavailable("the key endpoint failed moments ago".into()));
        }
        let outcome = self.fetch_keys(url).await;
        *source.last_attempt.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), outcome.is_ok()));
        metrics::counter!("threadhold_jwks_fetches_total", "outcome" => if outcome.is_ok() { "ok" } else { "error" })
            .increment(1);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.fetches += 1;
        match outcome {
            Ok((keys, ttl)) => {
                drop(stats);
                let set = KeySet { keys: Arc::new(keys), fetched_at: Instant::now(), ttl };
                if let Ok(mut current) = source.current.write() {
                    *current = Some(set.clone());
                }
                Ok(set.keys)
            }
            Err(error) => {
                stats.failures += 1;
                tracing::warn!(url, %error, "fetching keys failed");
                *source.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), error.clone()));
                Err(VerifyError::KeysUnavailable(error))
            }
        }
    }

    async fn fetch_keys(&self, url: &str) -> Result<(Vec<Arc<VerifyKey>>, Duration), String> {
        let (body, max_age) = self.get(url).await?;
        let keys = parse_jwks(&body)?;
        let ttl = max_age.unwrap_or(self.policy.default_ttl).clamp(self.policy.min_ttl, self.policy.max_ttl);
        Ok((keys, ttl))
    }

    /// GET with the guard, no redirects, a timeout and a body cap.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let parsed = Url::parse(url).map_err(|error| format!("bad URL: {error}"))?;
        self.guard.check_url(&parsed)?;
        let mut response =
            self.http.get(parsed).send().await.map_err(|error| format!("request failed: {}", chain(&error)))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(format!("{status}: redirects are not followed"));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("status {status}"));
        }
        let declared =
            response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > self.policy.max_body_bytes) {
            return Err("the response is too large".into());
        }
        let max_age = response.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(cache_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| format!("reading failed: {error}"))? {
            if body.len() + chunk.len() > self.policy.max_body_bytes {
                return Err("the response is too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age.flatten()))
    }

    /// The JWKS URL an OIDC issuer publishes, from its discovery document,
    /// whose `issuer` must equal the configured one exactly.
    pub async fn discover(&self, issuer: &str) -> Result<String, VerifyError> {
        if let Some((at, url)) = self.discovered.lock().unwrap_or_else(|p| p.into_inner()).get(issuer).cloned()
            && at.elapsed() < self.policy.max_ttl
        {
            return Ok(url);
        }
        let document_url = crate::rules::discovery_url(issuer);
        let unavailable = |error: String| {
            tracing::warn!(issuer, %error, "OIDC discovery failed");
            VerifyError::KeysUnavailable(format!("discovery: {error}"))
        };
        let (body, _) = self.get(&document_url).await.map_err(unavailable)?;
        let document: Value = serde_json::from_slice(&body).map_err(|e| unavailable(format!("not JSON: {e}")))?;
        if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(unavailable("the document's issuer differs from the configured one".into()));
        }
        let jwks_uri =
            document.get("jwks_uri").and_then(Value::as_str).ok_or_else(|| unavailable("no jwks_uri".into()))?;
        self.discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(issuer.to_owned(), (Instant::now(), jwks_uri.to_owned()));
        Ok(jwks_uri.to_owned())
    }
}

/// An error with its causes (reqwest hides the guard's refusal in a source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// `max-age` (or `s-maxage`) of a Cache-Control value; `no-store`/`no-cache` mean 0.
pub fn cache_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=").or_else(|| directive.strip_prefix("s-maxage=")) {
            max_age = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs).or(max_age);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::cache_max_age;
    use std::time::Duration;

    #[test]
    fn cache_control() {
        assert_eq!(cache_max_age("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(cache_max_age("s-maxage=60"), Some(Duration::from_secs(60)));
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("max-age=abc"), None);
        assert_eq!(cache_max_age("private"), None);
    }
}
