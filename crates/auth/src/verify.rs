//! The verification pipeline for a parsed token under one issuer's policy:
//! algorithm allowlist, key binding, signature over the received bytes, then
//! the claims (`exp`, `nbf`, `iat`, lifetime, `iss`, `sub`, `aud`, `azp`, `typ`).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::VerifyError;
use crate::compact::Compact;
use crate::keys::{VerifyKey, algorithm};

/// What one issuer's tokens must satisfy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub issuer: String,
    pub algorithms: Vec<Algorithm>,
    /// Any-of; empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// Clerk's `azp`: when non-empty, a present `azp` must be one of these.
    pub authorized_parties: Vec<String>,
    pub skew_secs: i64,
    pub max_lifetime_secs: Option<i64>,
    /// A required `typ` header (e.g. `at+jwt` for RFC 9068 access tokens).
    pub token_type: Option<String>,
}

/// The claims of a token whose signature and rules checked out, borrowed
/// from the parsed token (a verification copies nothing).
#[derive(Debug, Clone, Copy)]
pub struct Verified<'t> {
    pub subject: &'t str,
    pub claims: &'t BTreeMap<String, Value>,
}

/// The token's algorithm, if the policy allows it.
pub fn allowed_algorithm(token: &Compact, policy: &Policy) -> Result<Algorithm, VerifyError> {
    algorithm(&token.header.alg).filter(|alg| policy.algorithms.contains(alg)).ok_or(VerifyError::AlgorithmNotAllowed)
}

/// Checks the signature with the issuer's keys (those with the token's `kid`;
/// every fitting key when the token has none; a key without a kid, such as a
/// shared secret, stands for any), then the claims.
pub fn verify<'t>(
    token: &'t Compact,
    keys: &[Arc<VerifyKey>],
    policy: &Policy,
    now_secs: i64,
) -> Result<Verified<'t>, VerifyError> {
    let alg = allowed_algorithm(token, policy)?;
    let mut candidates =
        keys.iter().filter(|key| token.kid.is_none() || key.kid.is_none() || key.kid == token.kid).peekable();
    if candidates.peek().is_none() {
        return Err(VerifyError::UnknownKey);
    }
    let mut fitting = candidates.filter(|key| key.accepts(alg)).peekable();
    if fitting.peek().is_none() {
        return Err(VerifyError::AlgorithmNotAllowed);
    }
    let signature = URL_SAFE_NO_PAD.decode(token.signature).map_err(|_| VerifyError::BadSignature)?;
    let signed = fitting.any(|key| key.verifies(alg, token.signing_input.as_bytes(), &signature));
    if !signed {
        return Err(VerifyError::BadSignature);
    }
    check_claims(token, policy, now_secs)
}

fn check_claims<'t>(token: &'t Compact, policy: &Policy, now: i64) -> Result<Verified<'t>, VerifyError> {
    let claims = &token.claims;
    if let Some(required) = &policy.token_type {
        let given = token.header.typ.as_deref().unwrap_or_default().to_ascii_lowercase();
        let given = given.strip_prefix("application/").unwrap_or(&given);
        if given != required.to_ascii_lowercase() {
            return Err(VerifyError::WrongType);
        }
    }
    let exp = numeric_date(claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
    if now > exp.saturating_add(policy.skew_secs) {
        return Err(VerifyError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now.saturating_add(policy.skew_secs)
    {
        return Err(VerifyError::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now.saturating_add(policy.skew_secs)) {
        return Err(VerifyError::NotYetValid);
    }
    if let Some(max) = policy.max_lifetime_secs
        && exp.saturating_sub(iat.unwrap_or(now).min(now)) > max.saturating_add(policy.skew_secs)
    {
        return Err(VerifyError::LifetimeTooLong);
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == policy.issuer => {}
        Some(Value::String(_)) => return Err(VerifyError::UnknownIssuer),
        _ => return Err(VerifyError::MissingClaim("iss")),
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.as_str(),
        _ => return Err(VerifyError::MissingClaim("sub")),
    };
    if !policy.audiences.is_empty() {
        let matches = |aud: &Value| aud.as_str().is_some_and(|aud| policy.audiences.iter().any(|ok| ok == aud));
        let accepted = match claims.get("aud") {
            Some(Value::String(_)) => claims.get("aud").is_some_and(matches),
            Some(Value::Array(list)) => list.iter().any(matches),
            _ => false,
        };
        if !accepted {
            return Err(VerifyError::WrongAudience);
        }
    }
    if !policy.authorized_parties.is_empty() {
        match claims.get("azp") {
            None => {}
            Some(Value::String(azp)) if policy.authorized_parties.iter().any(|ok| ok == azp) => {}
            Some(_) => return Err(VerifyError::WrongAuthorizedParty),
        }
    }
    Ok(Verified { subject, claims })
}

/// The latest time a token may name: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// A NumericDate claim: absent, or a number of seconds from 0 to the end of
/// the year 9999 (fractions allowed, truncated). Anything else is refused as
/// what it is, an invalid time, rather than clamped.
pub fn numeric_date(claims: &BTreeMap<String, Value>, name: &'static str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            let seconds = match number.as_i64() {
                Some(seconds) => Some(seconds),
                None => number
                    .as_f64()
                    .filter(|f| f.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(f))
                    .map(|f| f as i64),
            };
            match seconds {
                Some(seconds) if (0..=MAX_NUMERIC_DATE).contains(&seconds) => Ok(Some(seconds)),
                _ => Err(VerifyError::InvalidTime(name)),
            }
        }
        Some(_) => Err(VerifyError::MissingClaim(name)),
    }
}
