//! Property-based fuzzing of the token pipeline: the compact JWS parser, the
//! claim checks behind a valid signature, workspace templates, key-set parsing
//! and the SSRF guard. Nothing may panic, and refusals stay refusals.
//!
//! Runs briefly in `cargo test`; for a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p threadhold-auth --test fuzz`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;
use threadhold_auth::compact::{self, MAX_TOKEN_BYTES};
use threadhold_auth::keys::{VerifyKey, parse_jwks};
use threadhold_auth::rules::{RuleInput, build_rule, workspace_for};
use threadhold_auth::ssrf::{check_key_url, is_public};
use threadhold_auth::verify::{Policy, numeric_date, verify};
use threadhold_domain::ids::validate_principal_id;

const SECRET: &[u8] = b"a shared secret of at least thirty-two bytes";
const ISSUER: &str = "https://issuer.example";
const NOW: i64 = 1_790_000_000;

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,60}", "[A-Za-z0-9_.=+/-]{0,120}"]
}

/// JSON values, including the numbers that trip time checks (huge, negative, fractional).
fn json() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        Just(json!(1e300)),
        Just(json!(-1)),
        (NOW - 1000..NOW + 1000).prop_map(Value::from),
    ];
    let leaf =
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool), number, text().prop_map(Value::String)];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_.]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Claims shaped like a token's, every member possibly of the wrong type or missing.
fn claims() -> impl Strategy<Value = BTreeMap<String, Value>> {
    let member = |name: &'static str, likely: BoxedStrategy<Value>| {
        proptest::option::weighted(0.8, prop_oneof![3 => likely, 1 => json()]).prop_map(move |v| (name, v))
    };
    (
        member("iss", Just(json!(ISSUER)).boxed()),
        member("sub", "[a-z0-9_|@]{0,12}".prop_map(Value::String).boxed()),
        member("exp", (NOW - 100..NOW + 10_000).prop_map(Value::from).boxed()),
        member("nbf", (NOW - 10_000..NOW + 100).prop_map(Value::from).boxed()),
        member("iat", (NOW - 10_000..NOW + 100).prop_map(Value::from).boxed()),
        member("aud", Just(json!(["api"])).boxed()),
        member("o", Just(json!({"id": "org_1"})).boxed()),
        prop::collection::btree_map("[a-z]{1,6}", json(), 0..4),
    )
        .prop_map(|(a, b, c, d, e, f, g, extra)| {
            let mut claims: BTreeMap<String, Value> = extra;
            for (name, value) in [a, b, c, d, e, f, g] {
                if let Some(value) = value {
                    claims.insert(name.to_owned(), value);
                }
            }
            claims
        })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: &Value, claims: &BTreeMap<String, Value>) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&serde_json::to_vec(claims).expect("json")));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn policy() -> Policy {
    Policy {
        issuer: ISSUER.into(),
        algorithms: vec![Algorithm::HS256],
        audiences: vec!["api".into()],
        authorized_parties: Vec::new(),
        skew_secs: 60,
        max_lifetime_secs: Some(3600),
        token_type: None,
    }
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_parser_never_panics(token in prop_oneof![text(), "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}"]) {
        if let Ok(parsed) = compact::parse(&token) {
            prop_assert!(token.len() <= MAX_TOKEN_BYTES);
            prop_assert!(token.starts_with(parsed.signing_input));
            prop_assert!(token.ends_with(parsed.signature));
        }
    }

    #[test]
    fn decoded_segments_of_any_content(header in prop::collection::vec(any::<u8>(), 0..200),
                                       payload in prop::collection::vec(any::<u8>(), 0..400),
                                       signature in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = compact::parse(&format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature)));
    }

    #[test]
    fn json_headers_and_claims(header in json(), claims in json()) {
        let token = format!("{}.{}.c2ln", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        if let Ok(parsed) = compact::parse(&token) {
            // A forged signature never verifies, whatever the claims say.
            let key = Arc::new(VerifyKey::hmac(SECRET));
            prop_assert!(verify(&parsed, &[key], &policy(), NOW).is_err());
        }
    }

    #[test]
    fn claim_checks_behind_a_valid_signature(claims in claims(), kid in proptest::option::of(text())) {
        let mut header = json!({"alg": "HS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let token = sign(&header, &claims);
        let Ok(parsed) = compact::parse(&token) else { return Ok(()) };
        let key = Arc::new(VerifyKey::hmac(SECRET));
        if let Ok(verified) = verify(&parsed, &[key], &policy(), NOW) {
            let exp = numeric_date(&claims, "exp").expect("valid").expect("an accepted token has an exp");
            prop_assert!(exp + 60 >= NOW, "expired token accepted: {:?}", claims);
            prop_assert_eq!(&claims["iss"], &json!(ISSUER));
            prop_assert!(!verified.subject.is_empty());
        }
    }

    #[test]
    fn workspace_templates(template in text(), fallback in proptest::option::of(text()), claims in claims()) {
        let input = RuleInput {
            provider: "clerk".into(),
            issuer: ISSUER.into(),
            workspace: Some(template),
            workspace_fallback: fallback,
            ..RuleInput::default()
        };
        if let Ok(rule) = build_rule(input, "r".into(), "p", 0, &[])
            && let Ok(workspace) = workspace_for(&rule, &claims)
        {
            prop_assert!(validate_principal_id(&workspace).is_ok(), "{:?}", workspace);
        }
    }

    #[test]
    fn key_sets(body in prop_oneof![json().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..300)]) {
        let _ = parse_jwks(&body);
        let _ = parse_jwks(&serde_json::to_vec(&json!({"keys": [serde_json::from_slice::<Value>(&body).unwrap_or_default()]})).expect("json"));
    }

    #[test]
    fn the_ssrf_guard(url in prop_oneof![text(), "https?://[a-z0-9.:@\\[\\]-]{0,40}/[a-z]{0,8}"], ip in any_ip(), v4 in any::<u32>()) {
        let _ = check_key_url(&url, &[]);
        let _ = is_public(ip);
        // Every IPv6 form that carries an IPv4 address is judged by it.
        let v4 = Ipv4Addr::from(v4);
        let public = is_public(IpAddr::V4(v4));
        let bits = u128::from(u32::from(v4));
        for embedded in [bits | (0xffff << 32), bits | (0x0064_ff9b << 96), (bits << 80) | (0x2002 << 112)] {
            prop_assert_eq!(is_public(IpAddr::V6(Ipv6Addr::from(embedded))), public, "{} in {:x}", v4, embedded);
        }
    }
}
