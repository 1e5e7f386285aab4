//! Auth rules: the identity providers a project trusts. Add, edit, remove
//! (with a preset per provider), each rule's key endpoint as this node's cache
//! sees it, and the token tester: the decision on a pasted token, step by step.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use threadhold_auth::VerifyError;
use threadhold_auth::compact::{self, Compact};
use threadhold_auth::jwks::{JwksCache, KeysStatus};
use threadhold_auth::keys::VerifyKey;
use threadhold_auth::rules::{
    InvalidRule, KeySource, RuleInput, build_rule, display_name, key_source, policy, workspace_for,
};
use threadhold_auth::verify::{allowed_algorithm, numeric_date, verify};
use threadhold_domain::ids::{IdKind, new_id, validate_principal_id};
use threadhold_domain::model::AuthRule;
use threadhold_domain::now_ms;
use threadhold_store::{Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::{Actor, Denied, Failure, FailureClass, Fault, Permission, authorize};
use crate::auth::tokens::{ISSUER_PREFIX, ProjectKeys};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Invalid(#[from] InvalidRule),
    #[error("There is no auth rule {0} in this project")]
    NotFound(String),
    #[error("Rules from the configuration file are changed in the file")]
    Configured,
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for RuleError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            RuleError::Invalid(invalid) => Failure::field(invalid.field, "invalid_rule", message),
            RuleError::NotFound(_) => Failure::new(FailureClass::NotFound, "rule_not_found", message),
            RuleError::Configured => Failure::new(FailureClass::Conflict, "rule_configured", message),
            RuleError::Project(error) => return error.failure(),
            RuleError::Denied(denied) => return denied.failure(),
            RuleError::Store(error) => return Err(error),
        })
    }
}

/// What the form of a provider fills in and explains.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub provider: &'static str,
    pub label: &'static str,
    /// The issuer's pattern, as the provider documents it.
    pub issuer: &'static str,
    /// Where the keys are when the key URL is left empty.
    pub keys: &'static str,
    /// What to put as audience.
    pub audience: &'static str,
    /// The workspace template most apps use.
    pub workspace: &'static str,
}

/// One preset per provider threadhold knows (the order of the form).
pub const PRESETS: [Preset; 5] = [
    Preset {
        provider: "clerk",
        label: "Clerk",
        issuer: "https://<your-app>.clerk.accounts.dev (Frontend API URL)",
        keys: "<issuer>/.well-known/jwks.json",
        audience: "none by default; list your app's origins as authorized parties (azp)",
        workspace: "{sub}, or {o.id}_{sub} with {sub} as fallback for organizations",
    },
    Preset {
        provider: "auth0",
        label: "Auth0",
        issuer: "https://<tenant>.<region>.auth0.com/ (with the trailing slash)",
        keys: "<issuer>.well-known/jwks.json",
        audience: "required: your API's identifier",
        workspace: "{sub}",
    },
    Preset {
        provider: "supabase",
        label: "Supabase",
        issuer: "https://<project-ref>.supabase.co/auth/v1",
        keys: "<issuer>/.well-known/jwks.json (ES256/RS256 signing keys)",
        audience: "authenticated (filled in when empty)",
        workspace: "{sub}",
    },
    Preset {
        provider: "firebase",
        label: "Firebase",
        issuer: "https://securetoken.google.com/<firebase-project-id>",
        keys: "Google's securetoken keys (filled in)",
        audience: "the Firebase project id (filled in when empty)",
        workspace: "{sub}",
    },
    Preset {
        provider: "oidc",
        label: "Any OIDC provider",
        issuer: "the issuer URL of the provider, exactly as in its tokens",
        keys: "from <issuer>/.well-known/openid-configuration (discovery)",
        audience: "the audience your provider puts in access tokens",
        workspace: "{sub}",
    },
];

/// A rule with where it comes from and its key endpoint as this node sees it.
#[derive(Debug, Clone)]
pub struct RuleView {
    pub rule: AuthRule,
    /// From the configuration file (read-only here).
    pub configured: bool,
    /// Where the keys come from, in words.
    pub key_source: String,
    pub keys: KeysStatus,
}

fn describe_source(rule: &AuthRule) -> (String, Option<String>) {
    match key_source(rule) {
        KeySource::Jwks(url) => (url.clone(), Some(url)),
        KeySource::Discovery(issuer) => (format!("OIDC discovery from {issuer}"), None),
        KeySource::Shared(_) => ("shared secret (HS256)".to_owned(), None),
    }
}

/// The project's rules (stored and configured), each with its key status.
pub async fn list(
    store: &dyn Store,
    jwks: &JwksCache,
    configured: &[AuthRule],
    project_id: &str,
) -> Result<Vec<RuleView>, RuleError> {
    projects::require(store, project_id).await?;
    let stored = store.list_auth_rules(Some(project_id)).await?;
    let configured = configured.iter().filter(|rule| rule.project_id == project_id).cloned();
    let views = stored
        .into_iter()
        .map(|rule| (rule, false))
        .chain(configured.map(|rule| (rule, true)))
        .map(|(rule, configured)| {
            let (key_source, url) = describe_source(&rule);
            let keys = url.map(|url| jwks.status(&url)).unwrap_or_default();
            RuleView { rule, configured, key_source, keys }
        })
        .collect();
    Ok(views)
}

/// Adds a rule (provider defaults filled in; its key URL checked against `allow_hosts`).
pub async fn add(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    input: RuleInput,
    allow_hosts: &[String],
) -> Result<AuthRule, RuleError> {
    authorize(actor, Permission::ManageRules)?;
    projects::require(store, project_id).await?;
    let rule = build_rule(input, new_id(IdKind::AuthRule), project_id, now_ms(), allow_hosts)?;
    store.insert_auth_rule(&rule).await?;
    audit::record(store, actor, rule_change("rule.create", &rule)).await?;
    Ok(rule)
}

/// Replaces a stored rule's settings (a Supabase secret not given again is kept).
pub async fn update(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    id: &str,
    mut input: RuleInput,
    allow_hosts: &[String],
) -> Result<AuthRule, RuleError> {
    authorize(actor, Permission::ManageRules)?;
    let current = find(store, project_id, id).await?;
    if input.shared_secret.is_none() && current.provider == input.provider {
        input.shared_secret = current.shared_secret.clone();
    }
    let rule = build_rule(input, current.id.clone(), project_id, current.created_at, allow_hosts)?;
    if !store.update_auth_rule(&rule).await? {
        return Err(RuleError::NotFound(id.to_owned()));
    }
    audit::record(store, actor, rule_change("rule.update", &rule)).await?;
    Ok(rule)
}

/// Removes a rule; `project_id: None` (the CLI) finds it in any project.
pub async fn remove(store: &dyn Store, actor: &Actor, project_id: Option<&str>, id: &str) -> Result<(), RuleError> {
    authorize(actor, Permission::ManageRules)?;
    if id.starts_with("config-") {
        return Err(RuleError::Configured);
    }
    let rule = store.list_auth_rules(project_id).await?.into_iter().find(|rule| rule.id == id);
    let Some(rule) = rule else { return Err(RuleError::NotFound(id.to_owned())) };
    if !store.delete_auth_rule(id).await? {
        return Err(RuleError::NotFound(id.to_owned()));
    }
    audit::record(store, actor, rule_change("rule.delete", &rule)).await?;
    Ok(())
}

/// A stored rule of the project.
pub async fn find(store: &dyn Store, project_id: &str, id: &str) -> Result<AuthRule, RuleError> {
    let rules = store.list_auth_rules(Some(project_id)).await?;
    rules.into_iter().find(|rule| rule.id == id).ok_or_else(|| RuleError::NotFound(id.to_owned()))
}

/// The audit entry of a rule change: its settings, never its secret.
fn rule_change<'a>(action: &'static str, rule: &'a AuthRule) -> Change<'a> {
    Change {
        action,
        project_id: Some(&rule.project_id),
        object_type: "auth_rule",
        object_id: &rule.id,
        details: json!({
            "name": rule.name,
            "provider": rule.provider,
            "issuer": rule.issuer,
            "audiences": rule.audiences,
            "jwks_url": rule.jwks_url,
            "workspace": rule.workspace_template,
            "shared_secret": rule.shared_secret.is_some(),
        }),
    }
}

/// One step of the tester's decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub label: String,
    pub passed: bool,
    pub detail: String,
}

/// What the tester decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Decision {
    Accepted {
        /// The rule that accepted it (`threadhold` for the server's own tokens).
        rule: String,
        key: Option<String>,
        user_id: String,
        workspace_id: String,
        display_name: Option<String>,
    },
    Refused {
        /// The code the API answers with.
        code: String,
        reason: String,
    },
}

/// The tester's report: what the token says and the decision, step by step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenReport {
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub steps: Vec<Step>,
    pub decision: Decision,
}

/// What the tester needs of a running server (or of the CLI's own).
pub struct Verifiers<'a> {
    pub jwks: &'a JwksCache,
    pub keys: &'a ProjectKeys,
    /// Rules from the configuration file.
    pub configured: &'a [AuthRule],
}

/// The decision the API would take on `token` for the project, step by step.
/// Reading keys may fetch them (through the same guarded cache as requests).
pub async fn test_token(
    store: &dyn Store,
    verifiers: &Verifiers<'_>,
    actor: &Actor,
    project_id: &str,
    token: &str,
) -> Result<TokenReport, RuleError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, project_id).await?;
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let mut report = Tester { steps: Vec::new(), now: now_ms() / 1000 };
    let parsed = match compact::parse(token) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.step("Read the token", false, error.to_string());
            return Ok(report.finish(None, None, refused(&error, error.to_string())));
        }
    };
    let header = json!({ "alg": parsed.header.alg, "kid": parsed.kid, "typ": parsed.header.typ });
    let claims = Value::Object(parsed.claims.clone().into_iter().collect());
    report.step("Read the token", true, "three segments, a known header, claims without duplicates".into());
    let decision = report.decide(store, verifiers, project_id, &parsed).await?;
    Ok(report.finish(Some(header), Some(claims), decision))
}

struct Tester {
    steps: Vec<Step>,
    now: i64,
}

fn refused(error: &VerifyError, reason: String) -> Decision {
    Decision::Refused { code: error.code().to_owned(), reason }
}

impl Tester {
    fn step(&mut self, label: &str, passed: bool, detail: String) {
        self.steps.push(Step { label: label.to_owned(), passed, detail });
    }

    fn finish(self, header: Option<Value>, claims: Option<Value>, decision: Decision) -> TokenReport {
        TokenReport { header, claims, steps: self.steps, decision }
    }

    async fn decide(
        &mut self,
        store: &dyn Store,
        verifiers: &Verifiers<'_>,
        project_id: &str,
        token: &Compact<'_>,
    ) -> Result<Decision, RuleError> {
        let Some(issuer) = token.issuer() else {
            let error = VerifyError::MissingClaim("iss");
            self.step("Find the issuer", false, "the token has no iss claim".into());
            return Ok(refused(&error, error.to_string()));
        };
        if let Some(own) = issuer.strip_prefix(ISSUER_PREFIX) {
            self.step("Find the issuer", true, format!("{issuer}: a token this server signed for project {own}"));
            return Ok(match verifiers.keys.verify(token).await {
                Ok(claims) => {
                    self.step(
                        "Check it with the project's signing keys",
                        true,
                        "signature and lifetime are valid".into(),
                    );
                    Decision::Accepted {
                        rule: "threadhold".into(),
                        key: token.kid.clone(),
                        user_id: claims.sub,
                        workspace_id: claims.workspace_id,
                        display_name: None,
                    }
                }
                Err(error) => {
                    let reason = error.to_string();
                    self.step("Check it with the project's signing keys", false, reason.clone());
                    Decision::Refused { code: error.code().to_owned(), reason }
                }
            });
        }
        let mut rules = store.list_auth_rules(Some(project_id)).await?;
        rules.extend(verifiers.configured.iter().filter(|rule| rule.project_id == project_id).cloned());
        let matching: Vec<&AuthRule> = rules.iter().filter(|rule| rule.issuer == issuer).collect();
        if matching.is_empty() {
            let trusted: Vec<&str> = rules.iter().map(|rule| rule.issuer.as_str()).collect();
            let detail = if trusted.is_empty() {
                format!("no rule of project {project_id} trusts {issuer}: the project has no rules")
            } else {
                format!("no rule trusts {issuer}; the rules trust {}", trusted.join(", "))
            };
            self.step("Find a rule for the issuer", false, detail.clone());
            return Ok(refused(&VerifyError::UnknownIssuer, detail));
        }
        let names: Vec<&str> = matching.iter().map(|rule| rule.name.as_str()).collect();
        self.step("Find a rule for the issuer", true, format!("{issuer} is trusted by {}", names.join(", ")));
        let mut decision = refused(&VerifyError::UnknownIssuer, String::new());
        for rule in matching {
            decision = self.under_rule(verifiers.jwks, rule, token).await;
            if matches!(decision, Decision::Accepted { .. }) {
                break;
            }
        }
        Ok(decision)
    }

    /// The pipeline of one rule, with the reason of a refusal spelled out.
    async fn under_rule(&mut self, jwks: &JwksCache, rule: &AuthRule, token: &Compact<'_>) -> Decision {
        let policy = policy(rule);
        let name = &rule.name;
        if let Err(error) = allowed_algorithm(token, &policy) {
            let reason =
                format!("rule {name} accepts {}, the token uses {}", rule.algorithms.join(", "), token.header.alg);
            self.step("Check the algorithm", false, reason.clone());
            return refused(&error, reason);
        }
        self.step("Check the algorithm", true, format!("{} is accepted by rule {name}", token.header.alg));
        let keys: Arc<Vec<Arc<VerifyKey>>> = match key_source(rule) {
            KeySource::Shared(secret) => Arc::new(vec![Arc::new(VerifyKey::hmac(&secret))]),
            KeySource::Jwks(url) => match jwks.keys(&url, token.kid.as_deref()).await {
                Ok(keys) => keys,
                Err(error) => return self.keys_unavailable(&url, jwks, &error),
            },
            KeySource::Discovery(issuer) => {
                let fetched = match jwks.discover(&issuer).await {
                    Ok(url) => jwks.keys(&url, token.kid.as_deref()).await.map_err(|error| (url, error)),
                    Err(error) => Err((format!("{issuer} (discovery)"), error)),
                };
                match fetched {
                    Ok(keys) => keys,
                    Err((url, error)) => return self.keys_unavailable(&url, jwks, &error),
                }
            }
        };
        let kids: Vec<String> = keys.iter().map(|key| key.kid.clone().unwrap_or_else(|| "(no kid)".into())).collect();
        let verified = match verify(token, &keys, &policy, self.now) {
            Ok(verified) => verified,
            Err(error) => {
                let reason = self.explain(&error, rule, token, &kids);
                let label = match error {
                    VerifyError::UnknownKey | VerifyError::BadSignature => "Check the signature",
                    _ => "Check the claims",
                };
                self.step(label, false, reason.clone());
                return refused(&error, reason);
            }
        };
        let key = token.kid.clone().or_else(|| keys.first().and_then(|key| key.kid.clone()));
        self.step(
            "Check the signature",
            true,
            format!("signed by key {} (on offer: {})", key.as_deref().unwrap_or("without a kid"), kids.join(", ")),
        );
        self.step("Check the claims", true, self.lifetime(verified.claims));
        if let Err(error) = validate_principal_id(verified.subject) {
            let reason = format!("sub {:?} is not a valid user id: it {error}", verified.subject);
            self.step("Map the user", false, reason.clone());
            return refused(&VerifyError::BadPrincipal(String::new()), reason);
        }
        match workspace_for(rule, verified.claims) {
            Ok(workspace_id) => {
                let display_name = display_name(rule, verified.claims);
                self.step(
                    "Map the user and workspace",
                    true,
                    format!(
                        "user {} in workspace {workspace_id} (template {})",
                        verified.subject, rule.workspace_template
                    ),
                );
                Decision::Accepted {
                    rule: name.clone(),
                    key,
                    user_id: verified.subject.to_owned(),
                    workspace_id,
                    display_name,
                }
            }
            Err(error) => {
                let reason = format!("{error} (template {})", rule.workspace_template);
                self.step("Map the user and workspace", false, reason.clone());
                refused(&error, reason)
            }
        }
    }

    fn keys_unavailable(&mut self, url: &str, jwks: &JwksCache, error: &VerifyError) -> Decision {
        let why = match error {
            VerifyError::KeysUnavailable(detail) => detail.clone(),
            other => other.to_string(),
        };
        let last = jwks.status(url).last_error.map(|(_, error)| error).unwrap_or(why);
        let reason = format!("the keys at {url} could not be fetched: {last}");
        self.step("Fetch the keys", false, reason.clone());
        refused(error, reason)
    }

    /// A refusal in words, with the numbers that explain it.
    fn explain(&self, error: &VerifyError, rule: &AuthRule, token: &Compact<'_>, kids: &[String]) -> String {
        let claims = &token.claims;
        let date = |name: &'static str| numeric_date(claims, name).ok().flatten();
        match error {
            VerifyError::Expired => match date("exp") {
                Some(exp) => format!(
                    "expired {} ago (exp {exp}; {} s of clock skew allowed)",
                    human_secs(self.now - exp),
                    rule.clock_skew_secs
                ),
                None => error.to_string(),
            },
            VerifyError::NotYetValid => {
                let start = date("nbf").into_iter().chain(date("iat")).max().unwrap_or(self.now);
                format!("not valid for another {} (nbf/iat {start})", human_secs(start - self.now))
            }
            VerifyError::WrongAudience => format!(
                "the audience is {}, rule {} expects {}",
                claims.get("aud").map_or_else(|| "missing".to_owned(), Value::to_string),
                rule.name,
                rule.audiences.join(" or ")
            ),
            VerifyError::WrongAuthorizedParty => format!(
                "azp is {}, rule {} allows {}",
                claims.get("azp").map_or_else(|| "missing".to_owned(), Value::to_string),
                rule.name,
                rule.authorized_parties.join(", ")
            ),
            VerifyError::UnknownKey => format!(
                "no key with kid {} at the issuer; the kids on offer are {}",
                token.kid.as_deref().unwrap_or("(none)"),
                if kids.is_empty() { "none".to_owned() } else { kids.join(", ") }
            ),
            VerifyError::LifetimeTooLong => format!(
                "valid for {}, rule {} allows at most {}",
                match (date("exp"), date("iat")) {
                    (Some(exp), Some(iat)) => human_secs(exp - iat),
                    _ => "longer".to_owned(),
                },
                rule.name,
                human_secs(rule.max_lifetime_secs.unwrap_or_default())
            ),
            VerifyError::WrongType => format!(
                "the typ header is {}, rule {} requires {}",
                token.header.typ.as_deref().unwrap_or("missing"),
                rule.name,
                rule.token_type.as_deref().unwrap_or_default()
            ),
            other => other.to_string(),
        }
    }

    fn lifetime(&self, claims: &BTreeMap<String, Value>) -> String {
        match numeric_date(claims, "exp").ok().flatten() {
            Some(exp) => format!("valid for another {}; audience and issuer match", human_secs(exp - self.now)),
            None => "the claims are valid".to_owned(),
        }
    }
}

/// `3725` → `1 h 2 min 5 s`.
pub fn human_secs(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, hours, minutes, seconds) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() { "0 s".to_owned() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::human_secs;

    #[test]
    fn every_provider_has_a_preset() {
        for provider in threadhold_auth::rules::PROVIDERS {
            assert!(super::PRESETS.iter().any(|preset| preset.provider == provider), "{provider}");
        }
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(human_secs(0), "0 s");
        assert_eq!(human_secs(59), "59 s");
        assert_eq!(human_secs(3725), "1 h 2 min 5 s");
        assert_eq!(human_secs(90_000), "1 d 1 h");
        assert_eq!(human_secs(-5), "0 s");
    }
}
