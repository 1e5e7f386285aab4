//! Auth rules: provider defaults, validation, and mapping a verified token's
//! claims to a workspace.

use std::time::Duration;

use serde_json::Value;
use threadhold_domain::Millis;
use threadhold_domain::ids::validate_principal_id;
use threadhold_domain::model::AuthRule;

use crate::VerifyError;
use crate::keys::{algorithm, is_hmac};
use crate::ssrf::check_key_url;
use crate::verify::Policy;

pub const PROVIDERS: [&str; 5] = ["clerk", "auth0", "supabase", "firebase", "oidc"];
const FIREBASE_ISSUER_PREFIX: &str = "https://securetoken.google.com/";
const FIREBASE_JWKS: &str = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
const DEFAULT_SKEW_SECS: i64 = 60;
const MAX_SKEW_SECS: i64 = 300;
const MIN_SECRET_BYTES: usize = 32;

/// Why a rule was refused, and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRule {
    /// The name of the [`RuleInput`] field (`issuer`, `jwks_url`, `audiences`, …).
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidRule {
    InvalidRule { field, message: message.into() }
}

/// What an operator gives to create a rule; the rest comes from the provider's defaults.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub provider: String,
    pub name: Option<String>,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_url: Option<String>,
    pub shared_secret: Option<Vec<u8>>,
    pub algorithms: Vec<String>,
    pub clock_skew_secs: Option<i64>,
    pub max_lifetime_secs: Option<i64>,
    pub authorized_parties: Vec<String>,
    pub workspace: Option<String>,
    pub workspace_fallback: Option<String>,
    pub name_claim: Option<String>,
    pub token_type: Option<String>,
}

/// Builds a rule with the provider's defaults filled in, or says what is wrong.
/// The URL its keys will be fetched from must pass the SSRF guard's shape
/// check, with `allow_hosts` (the `jwks_allow_hosts` setting) as the allowlist.
pub fn build_rule(
    input: RuleInput,
    id: String,
    project_id: &str,
    now: Millis,
    allow_hosts: &[String],
) -> Result<AuthRule, InvalidRule> {
    let provider = input.provider.to_ascii_lowercase();
    if !PROVIDERS.contains(&provider.as_str()) {
        return Err(invalid("provider", format!("provider must be one of {}", PROVIDERS.join(", "))));
    }
    let issuer = input.issuer.trim().to_owned();
    if issuer.is_empty() || issuer.len() > 512 {
        return Err(invalid("issuer", "issuer must be 1 to 512 characters"));
    }
    let mut audiences = input.audiences;
    let secret = input.shared_secret;
    if let Some(secret) = &secret {
        if provider != "supabase" {
            return Err(invalid("shared_secret", "a shared secret is only for Supabase's legacy (HS256) projects"));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                "shared_secret",
                format!("the shared secret must have at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
    }
    let default_algorithms: &[&str] = match provider.as_str() {
        "clerk" | "auth0" | "firebase" => &["RS256"],
        "supabase" if secret.is_some() => &["HS256"],
        "supabase" => &["ES256", "RS256"],
        _ => &["RS256", "PS256", "ES256", "ES384", "EdDSA"],
    };
    let algorithms: Vec<String> = if input.algorithms.is_empty() {
        default_algorithms.iter().map(|a| (*a).to_owned()).collect()
    } else {
        input.algorithms
    };
    for name in &algorithms {
        let alg = algorithm(name).ok_or_else(|| invalid("algorithms", format!("unsupported algorithm {name:?}")))?;
        if is_hmac(alg) != secret.is_some() {
            return Err(invalid(
                "algorithms",
                if secret.is_some() {
                    "a shared-secret rule accepts HS256/384/512 only".into()
                } else {
                    format!("{name} needs a shared secret; keys from a JWKS are asymmetric only")
                },
            ));
        }
    }
    match provider.as_str() {
        "firebase" => {
            let project = issuer.strip_prefix(FIREBASE_ISSUER_PREFIX).filter(|p| !p.is_empty() && !p.contains('/'));
            let project = project.ok_or_else(|| {
                invalid("issuer", format!("a Firebase issuer is {FIREBASE_ISSUER_PREFIX}<project id>"))
            })?;
            if audiences.is_empty() {
                audiences.push(project.to_owned());
            }
        }
        "supabase" if audiences.is_empty() => audiences.push("authenticated".into()),
        "auth0" if audiences.is_empty() => {
            return Err(invalid("audiences", "Auth0 access tokens carry an audience: give one"));
        }
        _ => {}
    }
    let given_jwks_url = input.jwks_url.is_some();
    let (jwks_url, discovery) = match (input.jwks_url, provider.as_str()) {
        (Some(url), _) => (Some(url.trim().to_owned()), false),
        (None, _) if secret.is_some() => (None, false),
        (None, "firebase") => (Some(FIREBASE_JWKS.to_owned()), false),
        (None, "oidc") => (None, true),
        (None, _) => (Some(format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))), false),
    };
    match (&jwks_url, discovery) {
        (Some(url), _) if given_jwks_url => {
            check_key_url(url, allow_hosts)
                .map_err(|reason| invalid("jwks_url", format!("jwks_url {url:?} is refused: {reason}")))?;
        }
        (Some(url), _) => check_key_url(url, allow_hosts).map_err(|reason| {
            invalid("jwks_url", format!("the keys would come from {url:?} (after the issuer), which is refused: {reason}; give jwks_url"))
        })?,
        (None, true) => check_key_url(&discovery_url(&issuer), allow_hosts).map_err(|reason| {
            invalid("issuer", format!("the issuer must be the URL of an OIDC provider (discovery reads <issuer>/.well-known/openid-configuration): {reason}"))
        })?,
        (None, false) => {}
    }
    let clock_skew_secs = input.clock_skew_secs.unwrap_or(DEFAULT_SKEW_SECS);
    if !(0..=MAX_SKEW_SECS).contains(&clock_skew_secs) {
        return Err(invalid("clock_skew_secs", format!("the clock skew must be 0 to {MAX_SKEW_SECS} seconds")));
    }
    if input.max_lifetime_secs.is_some_and(|max| max <= 0) {
        return Err(invalid("max_lifetime_secs", "the maximum lifetime must be positive"));
    }
    let workspace_template = input.workspace.unwrap_or_else(|| "{sub}".to_owned());
    check_template(&workspace_template).map_err(|message| invalid("workspace", message))?;
    if let Some(fallback) = &input.workspace_fallback {
        check_template(fallback).map_err(|message| invalid("workspace_fallback", message))?;
    }
    Ok(AuthRule {
        id,
        project_id: project_id.to_owned(),
        name: input.name.unwrap_or_else(|| provider.clone()),
        provider,
        issuer,
        audiences,
        jwks_url,
        discovery,
        shared_secret: secret,
        algorithms,
        clock_skew_secs,
        max_lifetime_secs: input.max_lifetime_secs,
        authorized_parties: input.authorized_parties,
        workspace_template,
        workspace_fallback: input.workspace_fallback,
        name_claim: input.name_claim,
        token_type: input.token_type,
        created_at: now,
    })
}

/// The verification policy of a rule.
pub fn policy(rule: &AuthRule) -> Policy {
    Policy {
        issuer: rule.issuer.clone(),
        algorithms: rule.algorithms.iter().filter_map(|name| algorithm(name)).collect(),
        audiences: rule.audiences.clone(),
        authorized_parties: rule.authorized_parties.clone(),
        skew_secs: rule.clock_skew_secs,
        max_lifetime_secs: rule.max_lifetime_secs,
        token_type: rule.token_type.clone(),
    }
}

/// Where a rule's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Jwks(String),
    Discovery(String),
    Shared(Vec<u8>),
}

/// Where an OIDC issuer publishes its discovery document.
pub fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

pub fn key_source(rule: &AuthRule) -> KeySource {
    match (&rule.shared_secret, &rule.jwks_url) {
        (Some(secret), _) => KeySource::Shared(secret.clone()),
        (None, Some(url)) => KeySource::Jwks(url.clone()),
        (None, None) => KeySource::Discovery(rule.issuer.clone()),
    }
}

/// The workspace a verified token acts in: the template over its claims, or
/// the fallback when a placeholder is missing.
pub fn workspace_for(
    rule: &AuthRule,
    claims: &std::collections::BTreeMap<String, Value>,
) -> Result<String, VerifyError> {
    let workspace = render(&rule.workspace_template, claims)
        .or_else(|| rule.workspace_fallback.as_deref().and_then(|fallback| render(fallback, claims)))
        .ok_or_else(|| VerifyError::BadPrincipal("the workspace claims are missing".into()))?;
    validate_principal_id(&workspace).map_err(|error| VerifyError::BadPrincipal(format!("workspace {error}")))?;
    Ok(workspace)
}

/// A display name, when the rule names a claim for it.
pub fn display_name(rule: &AuthRule, claims: &std::collections::BTreeMap<String, Value>) -> Option<String> {
    rule.name_claim.as_deref().and_then(|path| claim_text(claims, path))
}

/// `{a.b}` placeholders replaced by claim values (strings or numbers); `None` when one is missing.
fn render(template: &str, claims: &std::collections::BTreeMap<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        out.push_str(&claim_text(claims, &rest[open + 1..close])?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn claim_text(claims: &std::collections::BTreeMap<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    let mut placeholders = 0;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("unclosed { in the workspace template")? + open;
        let path = &rest[open + 1..close];
        if path.is_empty() || !path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(format!("bad placeholder {{{path}}} in the workspace template"));
        }
        placeholders += 1;
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("stray } in the workspace template".into());
    }
    if placeholders == 0 {
        return Err("the workspace template must use at least one claim, e.g. {sub}".into());
    }
    Ok(())
}

/// How long rules are cached by a running server before re-reading them.
pub const RULES_CACHE_TTL: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(provider: &str, issuer: &str) -> RuleInput {
        RuleInput { provider: provider.into(), issuer: issuer.into(), ..RuleInput::default() }
    }

    fn claims(value: Value) -> std::collections::BTreeMap<String, Value> {
        serde_json::from_value(value).expect("object")
    }

    #[test]
    fn provider_defaults() {
        let clerk = build_rule(input("clerk", "https://clerk.example.com"), "r".into(), "p", 0, &[]).expect("clerk");
        assert_eq!(clerk.algorithms, ["RS256"]);
        assert_eq!(clerk.jwks_url.as_deref(), Some("https://clerk.example.com/.well-known/jwks.json"));
        let firebase = build_rule(input("firebase", "https://securetoken.google.com/my-app"), "r".into(), "p", 0, &[])
            .expect("fb");
        assert_eq!(firebase.audiences, ["my-app"]);
        assert_eq!(firebase.jwks_url.as_deref(), Some(FIREBASE_JWKS));
        let supabase =
            build_rule(input("supabase", "https://ref.supabase.co/auth/v1"), "r".into(), "p", 0, &[]).expect("sb");
        assert_eq!(supabase.audiences, ["authenticated"]);
        assert_eq!(supabase.algorithms, ["ES256", "RS256"]);
        assert_eq!(supabase.jwks_url.as_deref(), Some("https://ref.supabase.co/auth/v1/.well-known/jwks.json"));
        let legacy =
            RuleInput { shared_secret: Some(vec![7; 32]), ..input("supabase", "https://ref.supabase.co/auth/v1") };
        let legacy = build_rule(legacy, "r".into(), "p", 0, &[]).expect("legacy");
        assert_eq!((legacy.algorithms.as_slice(), legacy.jwks_url.as_deref()), (["HS256".to_owned()].as_slice(), None));
        let oidc = build_rule(input("oidc", "https://idp.example.com"), "r".into(), "p", 0, &[]).expect("oidc");
        assert!(oidc.discovery && oidc.jwks_url.is_none());
        assert_eq!(key_source(&oidc), KeySource::Discovery("https://idp.example.com".into()));
        let auth0 = RuleInput { audiences: vec!["https://api".into()], ..input("auth0", "https://t.auth0.com/") };
        assert_eq!(
            build_rule(auth0, "r".into(), "p", 0, &[]).expect("a0").jwks_url.as_deref(),
            Some("https://t.auth0.com/.well-known/jwks.json")
        );
    }

    #[test]
    fn refusals() {
        let bad = [
            input("okta", "https://x"),
            input("clerk", ""),
            input("auth0", "https://t.auth0.com/"),
            input("firebase", "https://accounts.google.com"),
            RuleInput { algorithms: vec!["none".into()], ..input("oidc", "https://x") },
            RuleInput { algorithms: vec!["HS256".into()], ..input("oidc", "https://x") },
            RuleInput { algorithms: vec!["ES512".into()], ..input("oidc", "https://x") },
            RuleInput { shared_secret: Some(vec![1; 31]), ..input("supabase", "https://x") },
            RuleInput { shared_secret: Some(vec![1; 40]), ..input("clerk", "https://x") },
            RuleInput {
                shared_secret: Some(vec![1; 40]),
                algorithms: vec!["RS256".into()],
                ..input("supabase", "https://x")
            },
            RuleInput { clock_skew_secs: Some(301), ..input("clerk", "https://x") },
            RuleInput { clock_skew_secs: Some(-1), ..input("clerk", "https://x") },
            RuleInput { max_lifetime_secs: Some(0), ..input("clerk", "https://x") },
            RuleInput { workspace: Some("static".into()), ..input("clerk", "https://x") },
            RuleInput { workspace: Some("{sub".into()), ..input("clerk", "https://x") },
            RuleInput { workspace: Some("{a b}".into()), ..input("clerk", "https://x") },
        ];
        for case in bad {
            assert!(build_rule(case.clone(), "r".into(), "p", 0, &[]).is_err(), "{case:?}");
        }
    }

    #[test]
    fn key_urls_are_checked_when_the_rule_is_added() {
        let jwks = |url: &str| RuleInput { jwks_url: Some(url.into()), ..input("clerk", "https://clerk.example.com") };
        for (case, reason) in [
            (jwks("file:///etc/passwd"), "https"),
            (jwks("not a url"), "not a valid URL"),
            (jwks("gopher://clerk.example.com/keys"), "https"),
            (jwks("http://10.0.0.8/jwks"), "jwks_allow_hosts"),
            (jwks("https://192.168.1.1/jwks"), "not a public address"),
            (jwks("https://localhost/jwks"), "loopback"),
            (jwks("https://user:pw@clerk.example.com/jwks"), "credentials"),
            (input("clerk", "not a url"), "give jwks_url"),
            (input("clerk", "http://127.0.0.1:3000"), "give jwks_url"),
            (input("oidc", "idp.example.com"), "OIDC provider"),
            (input("oidc", "https://127.0.0.1"), "OIDC provider"),
        ] {
            let error = build_rule(case.clone(), "r".into(), "p", 0, &[]).expect_err("refused");
            assert!(error.message.contains(reason), "{case:?}: {error}");
            let field = if reason == "OIDC provider" { "issuer" } else { "jwks_url" };
            assert_eq!(error.field, field, "{case:?}");
        }
        let allow = ["127.0.0.1".to_owned(), "localhost".to_owned()];
        for case in [
            jwks("http://127.0.0.1:9000/jwks"),
            input("clerk", "http://127.0.0.1:3000"),
            input("oidc", "http://localhost:4000"),
        ] {
            assert!(build_rule(case.clone(), "r".into(), "p", 0, &allow).is_ok(), "{case:?}");
        }
        // Shared secrets fetch nothing; their issuer is only compared.
        let legacy = RuleInput { shared_secret: Some(vec![7; 32]), ..input("supabase", "supabase") };
        assert!(build_rule(legacy, "r".into(), "p", 0, &[]).is_ok());
    }

    #[test]
    fn workspace_templates() {
        let rule = RuleInput {
            workspace: Some("{o.id}_{sub}".into()),
            workspace_fallback: Some("{sub}".into()),
            name_claim: Some("name".into()),
            ..input("clerk", "https://x")
        };
        let rule = build_rule(rule, "r".into(), "p", 0, &[]).expect("rule");
        let in_org = claims(json!({"sub": "user_1", "o": {"id": "org_9", "rol": "admin"}, "name": "Ada"}));
        assert_eq!(workspace_for(&rule, &in_org).expect("ws"), "org_9_user_1");
        assert_eq!(display_name(&rule, &in_org).as_deref(), Some("Ada"));
        let personal = claims(json!({"sub": "user_1"}));
        assert_eq!(workspace_for(&rule, &personal).expect("ws"), "user_1");
        let no_fallback = RuleInput { workspace: Some("{org_id}".into()), ..input("clerk", "https://x") };
        let no_fallback = build_rule(no_fallback, "r".into(), "p", 0, &[]).expect("rule");
        assert!(workspace_for(&no_fallback, &personal).is_err());
        let spaced = claims(json!({"sub": "user 1"}));
        assert!(workspace_for(&rule, &spaced).is_err(), "workspace ids are validated");
        let numeric = claims(json!({"sub": 42}));
        assert_eq!(workspace_for(&rule, &numeric).expect("ws"), "42");
    }
}
