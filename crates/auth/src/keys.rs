//! Verification keys: JWKs filtered to the sane ones, each bound to the
//! algorithms its type and curve allow.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Most keys kept from one JWKS document.
pub const MAX_KEYS: usize = 64;
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa {
        bits: usize,
    },
    P256,
    P384,
    Ed25519,
    /// A shared secret (Supabase's legacy projects); never from a JWKS.
    Hmac,
}

pub struct VerifyKey {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's own `alg`, which the token must then use.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("kid", &self.kid).field("kind", &self.kind).field("alg", &self.alg).finish()
    }
}

impl VerifyKey {
    /// A shared HS256/384/512 secret.
    pub fn hmac(secret: &[u8]) -> Self {
        VerifyKey { kid: None, kind: KeyKind::Hmac, alg: None, key: DecodingKey::from_secret(secret) }
    }

    /// An Ed25519 public key (threadhold's own tokens).
    pub fn ed25519(kid: &str, public_raw: &[u8]) -> Self {
        VerifyKey {
            kid: Some(kid.to_owned()),
            kind: KeyKind::Ed25519,
            alg: Some(Algorithm::EdDSA),
            key: DecodingKey::from_ed_der(public_raw),
        }
    }

    /// True when this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        let kind_fits = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                matches!(self.kind, KeyKind::Rsa { .. })
            }
            Algorithm::ES256 => self.kind == KeyKind::P256,
            Algorithm::ES384 => self.kind == KeyKind::P384,
            Algorithm::EdDSA => self.kind == KeyKind::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => self.kind == KeyKind::Hmac,
            _ => false,
        };
        kind_fits && self.alg.is_none_or(|own| own == alg)
    }
}

/// The algorithms threadhold verifies, by their JOSE names. `none` is not one of them.
pub fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Parses a JWKS document, keeping only usable public keys. Fails when the
/// document itself is unusable (not JSON, no `keys` array).
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Arc<VerifyKey>>, String> {
    let document: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
    let keys = document.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
    let mut usable = Vec::new();
    for jwk in keys.iter().take(MAX_KEYS) {
        match from_jwk(jwk) {
            Ok(key) => usable.push(Arc::new(key)),
            Err(reason) => tracing::debug!(reason, "ignoring a JWK"),
        }
    }
    Ok(usable)
}

/// One public JWK, or why it is refused.
pub fn from_jwk(jwk: &Value) -> Result<VerifyKey, &'static str> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|private| jwk.get(*private).is_some()) {
        return Err("a key with private or secret parts is never trusted");
    }
    if text("use").is_some_and(|usage| usage != "sig") {
        return Err("not a signing key");
    }
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array)
        && !ops.iter().any(|op| op == "verify")
    {
        return Err("key_ops does not allow verify");
    }
    let alg = match text("alg") {
        None => None,
        Some(name) => Some(algorithm(name).filter(|alg| !is_hmac(*alg)).ok_or("unsupported alg")?),
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("kid must be a string"),
    };
    let bytes = |name: &str| text(name).and_then(|value| URL_SAFE_NO_PAD.decode(value).ok());
    let (kind, key) = match text("kty") {
        Some("RSA") => {
            let (n, e) = (bytes("n").ok_or("bad n")?, bytes("e").ok_or("bad e")?);
            let n = strip_leading_zeros(&n);
            let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err("RSA keys must have 2048 to 8192 bits");
            }
            if strip_leading_zeros(&e) != [1, 0, 1] {
                return Err("RSA exponent must be 65537");
            }
            (KeyKind::Rsa { bits }, DecodingKey::from_rsa_raw_components(n, &e))
        }
        Some("EC") => {
            let (kind, size) = match text("crv") {
                Some("P-256") => (KeyKind::P256, 32),
                Some("P-384") => (KeyKind::P384, 48),
                _ => return Err("unsupported curve"),
            };
            let (x, y) = (bytes("x").ok_or("bad x")?, bytes("y").ok_or("bad y")?);
            if x.len() != size || y.len() != size {
                return Err("EC coordinates do not fit the curve");
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (kind, DecodingKey::from_ec_der(&point))
        }
        Some("OKP") => {
            if text("crv") != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            let x = bytes("x").ok_or("bad x")?;
            if x.len() != 32 {
                return Err("Ed25519 keys have 32 bytes");
            }
            (KeyKind::Ed25519, DecodingKey::from_ed_der(&x))
        }
        _ => return Err("unsupported key type (symmetric keys are never taken from a JWKS)"),
    };
    let key = VerifyKey { kid, kind, alg, key };
    if let Some(alg) = alg
        && !key.accepts(alg)
    {
        return Err("the JWK's alg does not fit its key type");
    }
    Ok(key)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa(bits: usize, e: &[u8]) -> Value {
        let mut n = vec![0xC5u8; bits / 8];
        n[0] |= 0x80;
        json!({"kty": "RSA", "kid": "r", "n": b64(&n), "e": b64(e)})
    }

    #[test]
    fn rsa_sizes_and_exponents() {
        assert!(from_jwk(&rsa(2048, &[1, 0, 1])).is_ok());
        assert!(from_jwk(&rsa(4096, &[1, 0, 1])).is_ok());
        assert!(from_jwk(&rsa(1024, &[1, 0, 1])).is_err());
        assert!(from_jwk(&rsa(16384, &[1, 0, 1])).is_err());
        assert!(from_jwk(&rsa(2048, &[3])).is_err());
        assert!(from_jwk(&rsa(2048, &[1])).is_err());
    }

    #[test]
    fn refuses_private_symmetric_and_odd_keys() {
        let mut private = rsa(2048, &[1, 0, 1]);
        private["d"] = json!("AAAA");
        assert!(from_jwk(&private).is_err());
        assert!(from_jwk(&json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        let mut encryption = rsa(2048, &[1, 0, 1]);
        encryption["use"] = json!("enc");
        assert!(from_jwk(&encryption).is_err());
        let mut mismatched = rsa(2048, &[1, 0, 1]);
        mismatched["alg"] = json!("ES256");
        assert!(from_jwk(&mismatched).is_err());
        let mut hs = rsa(2048, &[1, 0, 1]);
        hs["alg"] = json!("HS256");
        assert!(from_jwk(&hs).is_err());
        let wrong_curve = json!({"kty": "EC", "crv": "secp256k1", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        assert!(from_jwk(&wrong_curve).is_err());
        let short = json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        assert!(from_jwk(&short).is_err());
        assert!(from_jwk(&json!({"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])})).is_err());
    }

    #[test]
    fn algorithms_bind_to_key_types() {
        let p256 = from_jwk(&json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])})).expect("ec");
        assert!(p256.accepts(Algorithm::ES256));
        assert!(!p256.accepts(Algorithm::ES384));
        assert!(!p256.accepts(Algorithm::RS256));
        assert!(!p256.accepts(Algorithm::HS256));
        let rsa_key = from_jwk(&rsa(2048, &[1, 0, 1])).expect("rsa");
        assert!(rsa_key.accepts(Algorithm::PS256) && rsa_key.accepts(Algorithm::RS512));
        assert!(!rsa_key.accepts(Algorithm::HS256) && !rsa_key.accepts(Algorithm::EdDSA));
        let mut pinned = rsa(2048, &[1, 0, 1]);
        pinned["alg"] = json!("RS256");
        let pinned = from_jwk(&pinned).expect("pinned");
        assert!(pinned.accepts(Algorithm::RS256) && !pinned.accepts(Algorithm::PS256));
        assert!(VerifyKey::hmac(b"0123456789abcdef0123456789abcdef").accepts(Algorithm::HS256));
        assert_eq!(algorithm("none"), None);
        assert_eq!(algorithm("ES512"), None);
    }

    #[test]
    fn jwks_documents() {
        let body =
            json!({"keys": [rsa(2048, &[1, 0, 1]), rsa(1024, &[1, 0, 1]), {"kty": "oct", "k": "AA"}]}).to_string();
        assert_eq!(parse_jwks(body.as_bytes()).expect("parsed").len(), 1);
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).expect("empty").is_empty());
        let many: Vec<Value> = (0..500).map(|_| rsa(2048, &[1, 0, 1])).collect();
        assert_eq!(parse_jwks(json!({"keys": many}).to_string().as_bytes()).expect("many").len(), MAX_KEYS);
    }
}
