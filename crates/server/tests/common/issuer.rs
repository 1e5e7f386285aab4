//! A test identity provider: real key pairs (RSA, P-256, P-384, Ed25519, an
//! HMAC secret), a signer for arbitrary header and payload text (so tests can
//! build malformed tokens), and a programmable JWKS server on 127.0.0.1.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signing keys of one test issuer.
pub struct Keys {
    pub kid: String,
    rsa: aws_lc_rs::rsa::KeyPair,
    p256: EcdsaKeyPair,
    p256_pkcs8: Vec<u8>,
    p384: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    pub hmac_secret: Vec<u8>,
}

impl Keys {
    pub fn generate(kid: &str) -> Keys {
        let rng = SystemRandom::new();
        let p256 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("p256");
        let p384 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng).expect("p384");
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
        Keys {
            kid: kid.to_owned(),
            rsa: aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa"),
            p256: EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, p256.as_ref()).expect("p256"),
            p256_pkcs8: p256.as_ref().to_vec(),
            p384: EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, p384.as_ref()).expect("p384"),
            ed: Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed"),
            hmac_secret: b"a-supabase-legacy-secret-of-32+bytes!".to_vec(),
        }
    }

    /// The public JWKs, one per key type, each with `kid` `<kid>-<alg family>`.
    pub fn jwks(&self) -> Vec<Value> {
        let public = self.rsa.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let point = |pair: &EcdsaKeyPair| {
            let bytes = pair.public_key().as_ref().to_vec();
            let size = (bytes.len() - 1) / 2;
            (b64(&bytes[1..=size]), b64(&bytes[1 + size..]))
        };
        let (x256, y256) = point(&self.p256);
        let (x384, y384) = point(&self.p384);
        vec![
            json!({"kty": "RSA", "kid": self.kid_for("RS256"), "use": "sig", "n": b64(n), "e": b64(e)}),
            json!({"kty": "EC", "kid": self.kid_for("ES256"), "crv": "P-256", "x": x256, "y": y256}),
            json!({"kty": "EC", "kid": self.kid_for("ES384"), "crv": "P-384", "x": x384, "y": y384}),
            json!({"kty": "OKP", "kid": self.kid_for("EdDSA"), "crv": "Ed25519", "x": b64(self.ed.public_key().as_ref())}),
        ]
    }

    /// The kid of the key that signs `alg`.
    pub fn kid_for(&self, alg: &str) -> String {
        let family = match alg {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "rsa",
            "ES256" => "p256",
            "ES384" => "p384",
            "EdDSA" => "ed",
            _ => "hmac",
        };
        format!("{}-{family}", self.kid)
    }

    /// The RSA public key in the encodings an attacker might use as an HMAC secret.
    pub fn rsa_public_encodings(&self) -> Vec<Vec<u8>> {
        let public = self.rsa.public_key();
        let spki = public.as_der().expect("der").as_ref().to_vec();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let jwk = self.jwks()[0].to_string();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        vec![spki, pem.clone().into_bytes(), pem.trim().as_bytes().to_vec(), jwk.into_bytes(), n]
    }

    /// Signs `header.payload` (both JSON text) with the key for `alg`.
    pub fn sign_raw(&self, alg: &str, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.signature(alg, input.as_bytes());
        format!("{input}.{}", b64(signature))
    }

    pub fn signature(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let rsa = |padding: &'static dyn signature::RsaEncoding| {
            let mut out = vec![0; self.rsa.public_modulus_len()];
            self.rsa.sign(padding, &rng, message, &mut out).expect("rsa sign");
            out
        };
        match alg {
            "RS256" => rsa(&signature::RSA_PKCS1_SHA256),
            "RS384" => rsa(&signature::RSA_PKCS1_SHA384),
            "RS512" => rsa(&signature::RSA_PKCS1_SHA512),
            "PS256" => rsa(&signature::RSA_PSS_SHA256),
            "ES256" => self.p256.sign(&rng, message).expect("es256").as_ref().to_vec(),
            // An ES256 signature in ASN.1 DER form instead of JOSE's fixed r||s.
            "ES256-DER" => EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &self.p256_pkcs8)
                .expect("p256 asn1")
                .sign(&rng, message)
                .expect("es256 der")
                .as_ref()
                .to_vec(),
            "ES384" => self.p384.sign(&rng, message).expect("es384").as_ref().to_vec(),
            "EdDSA" => self.ed.sign(message).as_ref().to_vec(),
            "HS256" => hmac(&self.hmac_secret, message),
            other => panic!("no signer for {other}"),
        }
    }

    /// A well-formed token: header `{alg, kid, typ}` and the given claims.
    pub fn token(&self, alg: &str, claims: &Value) -> String {
        let header = json!({"alg": alg, "kid": self.kid_for(alg), "typ": "JWT"});
        self.sign_raw(alg, &header.to_string(), &claims.to_string())
    }
}

pub fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// How the JWKS server answers; tests change it while it runs.
#[derive(Clone)]
pub struct Behaviour {
    pub keys: Vec<Value>,
    pub status: u16,
    pub cache_control: Option<String>,
    pub delay: Duration,
    /// Raw body instead of the key set.
    pub body: Option<String>,
    pub redirect_to: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            keys: Vec::new(),
            status: 200,
            cache_control: None,
            delay: Duration::ZERO,
            body: None,
            redirect_to: None,
        }
    }
}

/// A JWKS endpoint on 127.0.0.1 that counts its hits.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    pub base: String,
    behaviour: Arc<Mutex<Behaviour>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(keys: Vec<Value>) -> JwksServer {
        let behaviour = Arc::new(Mutex::new(Behaviour { keys, ..Behaviour::default() }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (behaviour.clone(), hits.clone());
        let app = Router::new().route(
            "/jwks",
            get(move || {
                let (b, h) = (b.clone(), h.clone());
                async move { serve(b, h).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address: SocketAddr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = format!("http://127.0.0.1:{}", address.port());
        JwksServer { url: format!("{base}/jwks"), base, behaviour, hits }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().expect("lock"));
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve(behaviour: Arc<Mutex<Behaviour>>, hits: Arc<AtomicUsize>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let now = behaviour.lock().expect("lock").clone();
    if !now.delay.is_zero() {
        tokio::time::sleep(now.delay).await;
    }
    let mut headers = HeaderMap::new();
    if let Some(cache_control) = &now.cache_control {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(cache_control).expect("header"));
    }
    if let Some(target) = &now.redirect_to {
        headers.insert(header::LOCATION, HeaderValue::from_str(target).expect("header"));
        return (StatusCode::FOUND, headers).into_response();
    }
    let body = now.body.clone().unwrap_or_else(|| json!({"keys": now.keys}).to_string());
    (StatusCode::from_u16(now.status).expect("status"), headers, body).into_response()
}
