//! Verification keys: JWKs filtered to the sane ones, each bound to the
//! algorithms its type and curve allow, and parsed once: a signature check
//! reuses the parsed key (for RSA, with its Montgomery context) instead of
//! building it again from the JWK's numbers.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
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
    material: Material,
}

/// What checks a signature.
enum Material {
    Secret(Vec<u8>),
    /// aws-lc binds a parsed RSA key to one padding and hash, so the key is
    /// parsed on first use for each of the six RSA algorithms (in
    /// [`RSA_ALGORITHMS`] order) and kept.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        parsed: Box<[OnceLock<Option<ParsedPublicKey>>; 6]>,
    },
    /// An EC or Ed25519 key, whose curve fixes its one algorithm; `None` when
    /// the bytes are no key of it (it then verifies nothing).
    Parsed(Option<ParsedPublicKey>),
}

const RSA_ALGORITHMS: [(Algorithm, &RsaParameters); 6] = [
    (Algorithm::RS256, &signature::RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &signature::RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &signature::RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &signature::RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &signature::RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &signature::RSA_PSS_2048_8192_SHA512),
];

fn parsed(algorithm: &'static dyn VerificationAlgorithm, bytes: &[u8]) -> Material {
    Material::Parsed(ParsedPublicKey::new(algorithm, bytes).ok())
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("kid", &self.kid).field("kind", &self.kind).field("alg", &self.alg).finish()
    }
}

impl VerifyKey {
    /// A shared HS256/384/512 secret.
    pub fn hmac(secret: &[u8]) -> Self {
        VerifyKey { kid: None, kind: KeyKind::Hmac, alg: None, material: Material::Secret(secret.to_vec()) }
    }

    /// An Ed25519 public key (threadhold's own tokens).
    pub fn ed25519(kid: &str, public_raw: &[u8]) -> Self {
        VerifyKey {
            kid: Some(kid.to_owned()),
            kind: KeyKind::Ed25519,
            alg: Some(Algorithm::EdDSA),
            material: parsed(&signature::ED25519, public_raw),
        }
    }

    /// True when `signature` (decoded) signs `input` under `alg` with this key.
    pub fn verifies(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        match &self.material {
            Material::Secret(secret) => {
                let algorithm = match alg {
                    Algorithm::HS256 => hmac::HMAC_SHA256,
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::verify(&hmac::Key::new(algorithm, secret), input, signature).is_ok()
            }
            Material::Rsa { n, e, parsed } => {
                let Some(at) = RSA_ALGORITHMS.iter().position(|(rsa, _)| *rsa == alg) else { return false };
                let params = RSA_ALGORITHMS[at].1;
                let key = parsed[at].get_or_init(|| {
                    RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.to_parsed_public_key(params).ok()
                });
                key.as_ref().is_some_and(|key| key.verify_sig(input, signature).is_ok())
            }
            Material::Parsed(key) => key.as_ref().is_some_and(|key| key.verify_sig(input, signature).is_ok()),
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
    let (kind, material) = match text("kty") {
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
            let material = Material::Rsa { n: n.to_vec(), e: e.clone(), parsed: Default::default() };
            (KeyKind::Rsa { bits }, material)
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
            let algorithm: &'static dyn VerificationAlgorithm = match kind {
                KeyKind::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                _ => &signature::ECDSA_P384_SHA384_FIXED,
            };
            (kind, parsed(algorithm, &point))
        }
        Some("OKP") => {
            if text("crv") != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            let x = bytes("x").ok_or("bad x")?;
            if x.len() != 32 {
                return Err("Ed25519 keys have 32 bytes");
            }
            (KeyKind::Ed25519, parsed(&signature::ED25519, &x))
        }
        _ => return Err("unsupported key type (symmetric keys are never taken from a JWKS)"),
    };
    let key = VerifyKey { kid, kind, alg, material };
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

    /// Each algorithm verifies its own signature with the JWK's parsed key,
    /// and nothing else: a changed byte, another message, another algorithm.
    #[test]
    fn signatures_of_every_algorithm() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

        let rng = SystemRandom::new();
        let message = b"header.payload";
        let mut cases: Vec<(Algorithm, VerifyKey, Vec<u8>)> = Vec::new();
        let rsa_pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).expect("rsa");
        let components: PublicKeyComponents<Vec<u8>> = rsa_pair.public_key().into();
        let rsa_jwk = json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)});
        let rsa_key = Arc::new(from_jwk(&rsa_jwk).expect("rsa jwk"));
        for (alg, padding) in [
            (Algorithm::RS256, &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding),
            (Algorithm::RS384, &signature::RSA_PKCS1_SHA384),
            (Algorithm::RS512, &signature::RSA_PKCS1_SHA512),
            (Algorithm::PS256, &signature::RSA_PSS_SHA256),
            (Algorithm::PS384, &signature::RSA_PSS_SHA384),
            (Algorithm::PS512, &signature::RSA_PSS_SHA512),
        ] {
            let mut signed = vec![0; rsa_pair.public_modulus_len()];
            rsa_pair.sign(padding, &rng, message, &mut signed).expect("sign");
            cases.push((alg, from_jwk(&rsa_jwk).expect("rsa jwk"), signed.clone()));
            assert!(rsa_key.verifies(alg, message, &signed), "{alg:?}: one key parsed for each algorithm in turn");
        }
        for (alg, signing, crv) in [
            (Algorithm::ES256, &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            (Algorithm::ES384, &signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
        ] {
            let pair = EcdsaKeyPair::generate(signing).expect("ec");
            let point = pair.public_key().as_ref();
            let size = (point.len() - 1) / 2;
            let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=size]), "y": b64(&point[size + 1..])});
            let signed = pair.sign(&rng, message).expect("sign").as_ref().to_vec();
            cases.push((alg, from_jwk(&jwk).expect("ec jwk"), signed));
        }
        let ed = Ed25519KeyPair::generate().expect("ed25519");
        let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())});
        cases.push((Algorithm::EdDSA, from_jwk(&ed_jwk).expect("okp jwk"), ed.sign(message).as_ref().to_vec()));
        cases.push((
            Algorithm::EdDSA,
            VerifyKey::ed25519("own", ed.public_key().as_ref()),
            ed.sign(message).as_ref().to_vec(),
        ));
        let secret = b"0123456789abcdef0123456789abcdef";
        for (alg, hash) in [
            (Algorithm::HS256, hmac::HMAC_SHA256),
            (Algorithm::HS384, hmac::HMAC_SHA384),
            (Algorithm::HS512, hmac::HMAC_SHA512),
        ] {
            let signed = hmac::sign(&hmac::Key::new(hash, secret), message).as_ref().to_vec();
            cases.push((alg, VerifyKey::hmac(secret), signed));
        }
        for (alg, key, signed) in &cases {
            assert!(key.verifies(*alg, message, signed), "{alg:?} verifies");
            assert!(!key.verifies(*alg, b"header.other", signed), "{alg:?}: another message");
            let mut changed = signed.clone();
            changed[signed.len() / 2] ^= 1;
            assert!(!key.verifies(*alg, message, &changed), "{alg:?}: a changed byte");
            for (other, _, _) in cases.iter().filter(|(other, _, _)| other != alg) {
                assert!(!key.verifies(*other, message, signed), "{alg:?}'s signature is no {other:?} signature");
            }
        }
        assert!(!VerifyKey::ed25519("short", &[1; 31]).verifies(Algorithm::EdDSA, message, &[0; 64]));
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
