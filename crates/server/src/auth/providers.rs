//! Tokens from identity providers (Clerk, Auth0, Supabase, Firebase, any OIDC
//! issuer), verified against the addressed project's auth rules.

use std::sync::Arc;

use threadhold_auth::VerifyError;
use threadhold_auth::compact::Compact;
use threadhold_auth::jwks::{JwksCache, KeyList};
use threadhold_auth::keys::VerifyKey;
use threadhold_auth::rules::{KeySource, RULES_CACHE_TTL, display_name, key_source, policy, workspace_for};
use threadhold_auth::verify::{Policy, allowed_algorithm, verify};
use threadhold_domain::ids::validate_principal_id;
use threadhold_domain::limits::RULES_CACHE_ENTRIES;
use threadhold_domain::model::AuthRule;
use threadhold_store::Store;

use crate::cache::BoundedCache;

/// Who a provider token says the caller is.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub user_id: String,
    pub workspace_id: String,
    pub display_name: Option<String>,
}

/// A rule with what verifying under it needs, built once each time the
/// project's rules are read (not on every token).
struct LoadedRule {
    rule: AuthRule,
    policy: Policy,
    keys: RuleKeys,
}

/// Where a rule's keys come from; a shared secret is already a key.
enum RuleKeys {
    Fixed(KeyList),
    Jwks(String),
    Discovery(String),
}

impl From<AuthRule> for LoadedRule {
    fn from(rule: AuthRule) -> Self {
        let keys = match key_source(&rule) {
            KeySource::Shared(secret) => RuleKeys::Fixed(Arc::new(vec![Arc::new(VerifyKey::hmac(&secret))])),
            KeySource::Jwks(url) => RuleKeys::Jwks(url),
            KeySource::Discovery(issuer) => RuleKeys::Discovery(issuer),
        };
        LoadedRule { policy: policy(&rule), keys, rule }
    }
}

type Rules = Arc<Vec<LoadedRule>>;

pub struct ProviderVerifier {
    store: Arc<dyn Store>,
    pub jwks: JwksCache,
    /// Rules from the configuration file, in addition to those in the database.
    configured: Vec<AuthRule>,
    /// Projects with rules, and apart from them projects (or made-up ids) without any,
    /// each bounded, so a flood of random project ids cannot grow memory or evict real rules.
    rules: BoundedCache<String, Rules>,
    no_rules: BoundedCache<String, Rules>,
}

impl ProviderVerifier {
    pub fn new(store: Arc<dyn Store>, jwks: JwksCache, configured: Vec<AuthRule>) -> Self {
        ProviderVerifier {
            store,
            jwks,
            configured,
            rules: BoundedCache::new(RULES_CACHE_ENTRIES, RULES_CACHE_TTL),
            no_rules: BoundedCache::new(RULES_CACHE_ENTRIES, RULES_CACHE_TTL),
        }
    }

    /// Forgets every project's rules: they changed.
    pub fn forget_rules(&self) {
        self.rules.clear();
        self.no_rules.clear();
    }

    /// Projects whose rules are cached: (with rules, without).
    pub fn cached_projects(&self) -> (usize, usize) {
        (self.rules.len(), self.no_rules.len())
    }

    /// The project's rules, re-read from the store every few seconds so that
    /// `threadhold rules add|remove` reaches running servers.
    async fn rules(&self, project_id: &str) -> Result<Rules, VerifyError> {
        if let Some(rules) = self.rules.get(project_id).or_else(|| self.no_rules.get(project_id)) {
            return Ok(rules);
        }
        let stored = self.store.list_auth_rules(Some(project_id)).await.map_err(|error| {
            tracing::warn!(project_id, %error, "reading auth rules failed");
            VerifyError::KeysUnavailable(format!("reading auth rules: {error}"))
        })?;
        let configured = self.configured.iter().filter(|rule| rule.project_id == project_id).cloned();
        let rules: Rules = Arc::new(stored.into_iter().chain(configured).map(LoadedRule::from).collect());
        if rules.is_empty() {
            self.rules.remove(project_id);
            self.no_rules.insert(project_id.to_owned(), Arc::clone(&rules));
        } else {
            self.no_rules.remove(project_id);
            self.rules.insert(project_id.to_owned(), Arc::clone(&rules));
        }
        Ok(rules)
    }

    /// Verifies a provider token under the rules whose issuer it names.
    pub async fn verify(
        &self,
        project_id: &str,
        token: &Compact<'_>,
        now_secs: i64,
    ) -> Result<ProviderIdentity, VerifyError> {
        let issuer = token.issuer().ok_or(VerifyError::MissingClaim("iss"))?;
        let rules = self.rules(project_id).await?;
        if !rules.iter().any(|loaded| loaded.rule.issuer == issuer) {
            metrics::counter!("threadhold_token_verifications_total", "rule" => "none", "outcome" => "token_issuer_unknown")
                .increment(1);
        }
        let mut outcome = Err(VerifyError::UnknownIssuer);
        for loaded in rules.iter().filter(|loaded| loaded.rule.issuer == issuer) {
            let rule = &loaded.rule;
            outcome = self.verify_with(loaded, token, now_secs).await;
            let reason = outcome.as_ref().map_or_else(VerifyError::code, |_| "accepted");
            metrics::counter!("threadhold_token_verifications_total", "rule" => rule.name.clone(), "outcome" => reason)
                .increment(1);
            match &outcome {
                Ok(_) => {
                    tracing::debug!(rule = %rule.name, "provider token accepted");
                    break;
                }
                Err(VerifyError::KeysUnavailable(detail)) => {
                    tracing::warn!(rule = %rule.name, %detail, "provider token not checked: the rule's keys are unavailable")
                }
                Err(error) => tracing::info!(rule = %rule.name, reason = error.code(), "provider token refused"),
            }
        }
        outcome
    }

    async fn verify_with(
        &self,
        loaded: &LoadedRule,
        token: &Compact<'_>,
        now_secs: i64,
    ) -> Result<ProviderIdentity, VerifyError> {
        let LoadedRule { rule, policy, keys } = loaded;
        allowed_algorithm(token, policy)?;
        let keys: KeyList = match keys {
            RuleKeys::Fixed(keys) => Arc::clone(keys),
            RuleKeys::Jwks(url) => self.jwks.keys(url, token.kid.as_deref()).await?,
            RuleKeys::Discovery(issuer) => {
                let url = self.jwks.discover(issuer).await?;
                self.jwks.keys(&url, token.kid.as_deref()).await?
            }
        };
        let verified = verify(token, &keys, policy, now_secs)?;
        validate_principal_id(verified.subject).map_err(|error| VerifyError::BadPrincipal(format!("sub {error}")))?;
        Ok(ProviderIdentity {
            workspace_id: workspace_for(rule, verified.claims)?,
            display_name: display_name(rule, verified.claims),
            user_id: verified.subject.to_owned(),
        })
    }
}
