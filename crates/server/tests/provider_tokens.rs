//! Provider tokens against auth rules: a table-driven corpus of bad tokens
//! (the attack list of auth-and-jwt.md section 3), every provider's token
//! shape, workspace templates, token exchange and key rotation.

mod common;

#[path = "common/issuer.rs"]
mod issuer;

use std::time::Duration;
use threadhold_server::service::Actor;

use common::{Reply, TestServer};
use issuer::{JwksServer, Keys, b64, hmac};
use serde_json::{Value, json};
use threadhold_auth::rules::RuleInput;
use threadhold_server::{CachePolicy, ServerConfig};

const FIREBASE_A: &str = "https://securetoken.google.com/proj-a";
const FIREBASE_B: &str = "https://securetoken.google.com/proj-b";
const AUTH0: &str = "https://tenant.example.auth0.com/";
const SUPABASE: &str = "https://ref.supabase.co/auth/v1";
const OIDC: &str = "https://idp.example.test";
const ALLOWED_ORIGIN: &str = "http://localhost:3000";

struct Fixture {
    server: TestServer,
    jwks: JwksServer,
    keys: Keys,
    other_jwks: JwksServer,
    other_keys: Keys,
    attacker: Keys,
    attacker_jwks: JwksServer,
    clerk: String,
    now: i64,
}

fn config() -> ServerConfig {
    ServerConfig {
        jwks_allow_hosts: vec!["127.0.0.1".into()],
        jwks: CachePolicy {
            unknown_kid_cooldown: Duration::from_millis(300),
            failure_backoff: Duration::from_millis(50),
            ..CachePolicy::default()
        },
        ..ServerConfig::default()
    }
}

async fn rule(server: &TestServer, input: RuleInput) {
    threadhold_server::service::rules::add(
        server.store.as_ref(),
        &Actor::Cli,
        "default",
        input,
        &server.state.config.jwks_allow_hosts,
    )
    .await
    .expect("rule");
}

async fn fixture() -> Fixture {
    let server = TestServer::start_with(config()).await;
    let keys = Keys::generate("main");
    let other_keys = Keys::generate("other");
    let attacker = Keys::generate("evil");
    let jwks = JwksServer::start(keys.jwks()).await;
    let other_jwks = JwksServer::start(other_keys.jwks()).await;
    let attacker_jwks = JwksServer::start(attacker.jwks()).await;
    // Clerk: the issuer is the JWKS host (loopback, allowlisted); v2 org claims; azp allowlist; bounded lifetime.
    let clerk = jwks.base.clone();
    let input = |provider: &str, issuer: &str| RuleInput {
        provider: provider.into(),
        issuer: issuer.into(),
        ..RuleInput::default()
    };
    rule(
        &server,
        RuleInput {
            jwks_url: Some(jwks.url.clone()),
            authorized_parties: vec![ALLOWED_ORIGIN.into()],
            workspace: Some("{o.id}_{sub}".into()),
            workspace_fallback: Some("{sub}".into()),
            max_lifetime_secs: Some(3600),
            ..input("clerk", &clerk)
        },
    )
    .await;
    rule(&server, RuleInput { jwks_url: Some(jwks.url.clone()), ..input("firebase", FIREBASE_A) }).await;
    rule(
        &server,
        RuleInput {
            jwks_url: Some(jwks.url.clone()),
            audiences: vec!["https://api.example.test".into()],
            ..input("auth0", AUTH0)
        },
    )
    .await;
    rule(&server, RuleInput { shared_secret: Some(keys.hmac_secret.clone()), ..input("supabase", SUPABASE) }).await;
    rule(
        &server,
        RuleInput { jwks_url: Some(other_jwks.url.clone()), token_type: Some("at+jwt".into()), ..input("oidc", OIDC) },
    )
    .await;
    let now = threadhold_domain::now_ms() / 1000;
    Fixture { server, jwks, keys, other_jwks, other_keys, attacker, attacker_jwks, clerk, now }
}

impl Fixture {
    fn clerk_claims(&self) -> Value {
        json!({"iss": self.clerk, "sub": "user_1", "iat": self.now, "nbf": self.now - 5, "exp": self.now + 60,
               "azp": ALLOWED_ORIGIN, "sid": "sess_1", "v": 2, "o": {"id": "org_1", "rol": "admin", "slg": "acme"}})
    }

    fn firebase_claims(&self) -> Value {
        json!({"iss": FIREBASE_A, "aud": "proj-a", "sub": "fb-uid", "user_id": "fb-uid", "iat": self.now, "exp": self.now + 3600,
               "auth_time": self.now - 10, "firebase": {"sign_in_provider": "password"}})
    }

    fn with(&self, base: Value, changes: Value) -> Value {
        let mut claims = base;
        for (key, value) in changes.as_object().expect("object") {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    }

    async fn call(&self, token: &str) -> Reply {
        self.server.bearer(token).get("/v1/threads").await
    }
}

/// The refusals: (case, token, status, error code).
fn corpus(f: &Fixture) -> Vec<(String, String, u16, &'static str)> {
    let k = &f.keys;
    let good = f.clerk_claims();
    let good_text = good.to_string();
    let rs_header = |extra: Value| {
        let mut header = json!({"alg": "RS256", "kid": k.kid_for("RS256"), "typ": "JWT"});
        for (key, value) in extra.as_object().expect("object") {
            header[key] = value.clone();
        }
        header.to_string()
    };
    let valid = k.token("RS256", &good);
    let parts: Vec<&str> = valid.split('.').collect();
    let mut cases: Vec<(String, String, u16, &'static str)> = Vec::new();
    let mut add =
        |name: &str, token: String, status: u16, code: &'static str| cases.push((name.to_owned(), token, status, code));

    // 1. alg none in every spelling, with and without a signature.
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": none, "typ": "JWT"}).to_string());
        add(&format!("alg {none} without signature"), format!("{header}.{}.", parts[1]), 403, "token_malformed");
        add(
            &format!("alg {none} with signature"),
            format!("{header}.{}.{}", parts[1], parts[2]),
            403,
            "token_algorithm_not_allowed",
        );
    }
    // 2. HS256 keyed with the issuer's RSA public key, in every encoding.
    for (i, encoding) in k.rsa_public_encodings().iter().enumerate() {
        let header = json!({"alg": "HS256", "kid": k.kid_for("RS256"), "typ": "JWT"}).to_string();
        let input = format!("{}.{}", b64(&header), b64(&good_text));
        let token = format!("{input}.{}", b64(hmac(encoding, input.as_bytes())));
        add(&format!("key confusion, encoding {i}"), token, 403, "token_algorithm_not_allowed");
    }
    // 3-4. Algorithms outside the allowlist, or not fitting the key.
    add(
        "PS256 for an RS256-only rule",
        k.sign_raw("PS256", &rs_header(json!({"alg": "PS256"})), &good_text),
        403,
        "token_algorithm_not_allowed",
    );
    add(
        "RS512 for an RS256-only rule",
        k.sign_raw("RS512", &rs_header(json!({"alg": "RS512"})), &good_text),
        403,
        "token_algorithm_not_allowed",
    );
    add(
        "ES512 is not supported",
        k.sign_raw("ES384", &rs_header(json!({"alg": "ES512"})), &good_text),
        403,
        "token_algorithm_not_allowed",
    );
    let oidc_claims = json!({"iss": OIDC, "sub": "svc", "exp": f.now + 60, "iat": f.now});
    let o = &f.other_keys;
    let es384_with_p256_kid = json!({"alg": "ES384", "kid": o.kid_for("ES256"), "typ": "at+jwt"}).to_string();
    add(
        "ES384 with a P-256 key",
        o.sign_raw("ES384", &es384_with_p256_kid, &oidc_claims.to_string()),
        403,
        "token_algorithm_not_allowed",
    );
    let eddsa_with_rsa_kid = json!({"alg": "EdDSA", "kid": o.kid_for("RS256"), "typ": "at+jwt"}).to_string();
    add(
        "EdDSA with an RSA key",
        o.sign_raw("EdDSA", &eddsa_with_rsa_kid, &oidc_claims.to_string()),
        403,
        "token_algorithm_not_allowed",
    );
    // 5-7. Keys and URLs embedded in the header are never trusted.
    let a = &f.attacker;
    let evil_header = |extra: Value| {
        let mut header = json!({"alg": "RS256", "kid": a.kid_for("RS256"), "typ": "JWT"});
        for (key, value) in extra.as_object().expect("object") {
            header[key] = value.clone();
        }
        header.to_string()
    };
    add(
        "embedded jwk",
        a.sign_raw("RS256", &evil_header(json!({"jwk": a.jwks()[0]})), &good_text),
        403,
        "token_key_unknown",
    );
    add(
        "jku to the attacker",
        a.sign_raw("RS256", &evil_header(json!({"jku": f.attacker_jwks.url})), &good_text),
        403,
        "token_key_unknown",
    );
    add(
        "x5u to the attacker",
        a.sign_raw("RS256", &evil_header(json!({"x5u": f.attacker_jwks.url})), &good_text),
        403,
        "token_key_unknown",
    );
    add("x5c chain", a.sign_raw("RS256", &evil_header(json!({"x5c": ["MIIB"]})), &good_text), 403, "token_key_unknown");
    let evil_with_our_kid = json!({"alg": "RS256", "kid": k.kid_for("RS256"), "jwk": a.jwks()[0]}).to_string();
    add(
        "embedded jwk under our kid",
        a.sign_raw("RS256", &evil_with_our_kid, &good_text),
        403,
        "token_signature_invalid",
    );
    // 8. kid injection.
    for kid in
        [json!("../../dev/null"), json!("/dev/null"), json!("' UNION SELECT '1"), json!("|sleep 10"), json!("\u{263a}")]
    {
        add(
            &format!("kid {kid}"),
            k.sign_raw("RS256", &rs_header(json!({"kid": kid})), &good_text),
            403,
            "token_key_unknown",
        );
    }
    for kid in [json!(""), json!("k".repeat(10_000)), json!(7), json!({"a": 1}), json!(["x"]), json!("a\u{0}b")] {
        add("malformed kid", k.sign_raw("RS256", &rs_header(json!({"kid": kid})), &good_text), 403, "token_malformed");
    }
    // 10. Critical extensions.
    for crit in
        [json!({"crit": ["x-unknown"], "x-unknown": 1}), json!({"crit": []}), json!({"b64": false, "crit": ["b64"]})]
    {
        add(&format!("crit {crit}"), k.sign_raw("RS256", &rs_header(crit), &good_text), 403, "token_critical_header");
    }
    // 11. typ confusion: the OIDC rule wants RFC 9068 access tokens.
    let id_token = json!({"alg": "RS256", "kid": o.kid_for("RS256"), "typ": "JWT"}).to_string();
    add(
        "ID token where at+jwt is required",
        o.sign_raw("RS256", &id_token, &oidc_claims.to_string()),
        403,
        "token_type_not_accepted",
    );
    // 12. Compression and JWE.
    add("zip header", k.sign_raw("RS256", &rs_header(json!({"zip": "DEF"})), &good_text), 403, "token_malformed");
    add("JWE (5 segments)", format!("{}.a.b.c.d", parts[0]), 403, "token_malformed");
    // 13. Duplicate members.
    let duplicate_header = format!(r#"{{"alg":"HS256","alg":"RS256","kid":"{}"}}"#, k.kid_for("RS256"));
    add("duplicate header member", k.sign_raw("RS256", &duplicate_header, &good_text), 403, "token_malformed");
    let duplicate_claim = good_text.replacen('{', r#"{"sub":"admin","#, 1);
    add("duplicate claim", k.sign_raw("RS256", &rs_header(json!({})), &duplicate_claim), 403, "token_malformed");
    // 14-17. Signature encodings and crypto edge cases.
    add("empty signature", format!("{}.{}.", parts[0], parts[1]), 403, "token_malformed");
    add("zero signature", format!("{}.{}.{}", parts[0], parts[1], b64([0u8; 256])), 403, "token_signature_invalid");
    add(
        "truncated signature",
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
        403,
        "token_signature_invalid",
    );
    add("long signature", format!("{}.{}.{}AAAA", parts[0], parts[1], parts[2]), 403, "token_signature_invalid");
    let supabase = json!({"iss": SUPABASE, "sub": "3f1c", "aud": "authenticated", "role": "authenticated", "exp": f.now + 60, "iat": f.now});
    // The firebase rule is RS256-only; psychic signatures go to an ES256 rule: the OIDC one (other keys).
    let es_header = json!({"alg": "ES256", "kid": o.kid_for("ES256"), "typ": "at+jwt"}).to_string();
    let es_input = format!("{}.{}", b64(&es_header), b64(oidc_claims.to_string()));
    let order = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    for (name, signature) in [
        ("psychic r=s=0", vec![0u8; 64]),
        ("psychic r=s=n", [order.clone(), order].concat()),
        (
            "psychic DER",
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, "MAYCAQACAQA=").expect("der"),
        ),
        ("DER-encoded ES256", o.signature("ES256-DER", es_input.as_bytes())),
    ] {
        add(name, format!("{es_input}.{}", b64(signature)), 403, "token_signature_invalid");
    }
    let ed_header = json!({"alg": "EdDSA", "kid": o.kid_for("EdDSA"), "typ": "at+jwt"}).to_string();
    let ed_input = format!("{}.{}", b64(&ed_header), b64(oidc_claims.to_string()));
    let mut ed_signature = o.signature("EdDSA", ed_input.as_bytes());
    add_l(&mut ed_signature[32..]);
    add("Ed25519 non-canonical S", format!("{ed_input}.{}", b64(ed_signature)), 403, "token_signature_invalid");
    // 18. Weak HMAC secrets never verify a legacy Supabase token.
    for weak in [&b""[..], b"secret", b"password"] {
        let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
        let input = format!("{}.{}", b64(&header), b64(supabase.to_string()));
        add(
            "weak HMAC secret",
            format!("{input}.{}", b64(hmac(weak, input.as_bytes()))),
            403,
            "token_signature_invalid",
        );
    }
    // 19-20. Base64 oddities and re-encoded payloads.
    add("padding", format!("{valid}="), 403, "token_malformed");
    add("standard alphabet", format!("{}.{}.{}+/", parts[0], parts[1], parts[2]), 403, "token_malformed");
    add("space inside", format!("{} .{}.{}", parts[0], parts[1], parts[2]), 403, "token_malformed");
    add("4 segments", format!("{valid}.x"), 403, "token_malformed");
    let respaced = b64(serde_json::to_string_pretty(&good).expect("json"));
    add("re-encoded payload", format!("{}.{respaced}.{}", parts[0], parts[2]), 403, "token_signature_invalid");
    // 21-23. Time claims.
    let clerk = |changes: Value| k.token("RS256", &f.with(f.clerk_claims(), changes));
    add("exp missing", clerk(json!({"exp": null})), 403, "token_claim_missing");
    add("exp past the skew", clerk(json!({"exp": f.now - 120})), 401, "token_expired");
    add("exp as a string", clerk(json!({"exp": (f.now + 60).to_string()})), 403, "token_claim_missing");
    add("exp negative", clerk(json!({"exp": -1})), 403, "token_claim_invalid");
    add("exp 1e20", clerk(json!({"exp": 1e20})), 403, "token_claim_invalid");
    add("exp 1e300", clerk(json!({"exp": 1e300})), 403, "token_claim_invalid");
    add("iat past the year 9999", clerk(json!({"iat": 253_402_300_800_i64})), 403, "token_claim_invalid");
    add("exp in ten years", clerk(json!({"exp": f.now + 315_360_000})), 403, "token_lifetime_too_long");
    add("nbf in the future", clerk(json!({"nbf": f.now + 600})), 401, "token_not_yet_valid");
    add("iat in the future", clerk(json!({"iat": f.now + 600})), 401, "token_not_yet_valid");
    add("nbf as a string", clerk(json!({"nbf": "soon"})), 403, "token_claim_missing");
    // 24. Issuers.
    add("issuer with a suffix", clerk(json!({"iss": format!("{}.evil.com", f.clerk)})), 403, "token_issuer_unknown");
    add("issuer with a slash", clerk(json!({"iss": format!("{}/", f.clerk)})), 403, "token_issuer_unknown");
    add("issuer missing", clerk(json!({"iss": null})), 403, "token_claim_missing");
    add("issuer as an array", clerk(json!({"iss": [f.clerk.clone()]})), 403, "token_claim_missing");
    add("Auth0 issuer without its slash", k.token("RS256", &json!({"iss": AUTH0.trim_end_matches('/'), "sub": "auth0|1", "aud": "https://api.example.test", "exp": f.now + 60})), 403, "token_issuer_unknown");
    // 25-26. Audiences, and other Firebase projects.
    let firebase = |changes: Value| k.token("RS256", &f.with(f.firebase_claims(), changes));
    add("aud missing", firebase(json!({"aud": null})), 403, "token_audience_invalid");
    add("aud wrong", firebase(json!({"aud": "proj-b"})), 403, "token_audience_invalid");
    add("aud empty array", firebase(json!({"aud": []})), 403, "token_audience_invalid");
    add("aud not a string", firebase(json!({"aud": 7})), 403, "token_audience_invalid");
    add("another Firebase project", firebase(json!({"iss": FIREBASE_B, "aud": "proj-b"})), 403, "token_issuer_unknown");
    add("Auth0 token for another API", k.token("RS256", &json!({"iss": AUTH0, "sub": "auth0|1", "aud": ["https://other.api", "https://tenant.example.auth0.com/userinfo"], "exp": f.now + 60})), 403, "token_audience_invalid");
    // 27. Issuer/key confusion between two rules.
    let oidc_claimed = json!({"alg": "RS256", "kid": k.kid_for("RS256"), "typ": "at+jwt"}).to_string();
    add(
        "rule B's issuer, rule A's key",
        k.sign_raw("RS256", &oidc_claimed, &oidc_claims.to_string()),
        403,
        "token_key_unknown",
    );
    let own_kid_foreign_key = json!({"alg": "RS256", "kid": o.kid_for("RS256"), "typ": "at+jwt"}).to_string();
    add(
        "rule B's kid, signed with rule A's key",
        k.sign_raw("RS256", &own_kid_foreign_key, &oidc_claims.to_string()),
        403,
        "token_signature_invalid",
    );
    add(
        "threadhold's issuer, a provider key",
        clerk(json!({"iss": "urn:threadhold:default"})),
        403,
        "token_key_unknown",
    );
    // 28. Clerk's authorized party.
    add("azp not allowed", clerk(json!({"azp": "https://evil.example"})), 403, "token_azp_invalid");
    add("azp not a string", clerk(json!({"azp": 1})), 403, "token_azp_invalid");
    // 30. Subjects.
    add("empty sub", firebase(json!({"sub": ""})), 403, "token_claim_missing");
    add("sub too long", firebase(json!({"sub": "u".repeat(300)})), 403, "token_principal_invalid");
    add("sub with spaces", firebase(json!({"sub": "a b"})), 403, "token_principal_invalid");
    add("sub missing", firebase(json!({"sub": null})), 403, "token_claim_missing");
    // 31. Payloads that are not claim objects.
    for (name, payload) in [
        ("payload array", "[1,2]".to_owned()),
        ("payload string", "\"x\"".to_owned()),
        ("payload number", "1".to_owned()),
        ("deep nesting", format!("{{\"a\":{}1{}}}", "[".repeat(1000), "]".repeat(1000))),
    ] {
        add(name, k.sign_raw("RS256", &rs_header(json!({})), &payload), 403, "token_malformed");
    }
    let invalid_utf8 = format!("{}.{}.{}", parts[0], b64([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), parts[2]);
    add("invalid UTF-8", invalid_utf8, 403, "token_malformed");
    // 32. Size.
    add("64 KiB token", clerk(json!({"pad": "x".repeat(64 * 1024)})), 403, "token_malformed");
    add("huge header segment", format!("{}.{}.{}", "A".repeat(100 * 1024), parts[1], parts[2]), 403, "token_malformed");
    cases
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// S + L (the Ed25519 group order), little-endian: the same signature, non-canonically encoded.
fn add_l(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
}

#[tokio::test]
async fn every_bad_token_is_refused_with_the_right_status() {
    let f = fixture().await;
    // The baseline is accepted, so each refusal below is about its one change.
    f.call(&f.keys.token("RS256", &f.clerk_claims())).await.expect(200);
    let cases = corpus(&f);
    assert!(cases.len() > 80, "{} cases", cases.len());
    for (name, token, status, code) in cases {
        let reply = f.call(&token).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json["error"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            reply.text
        );
        assert!(reply.json["message"].is_string(), "{name}");
        assert!(reply.headers.get("authorization").is_none(), "{name}: no exchange for a refused token");
    }
    assert_eq!(f.attacker_jwks.hits(), 0, "URLs in token headers are never fetched");
    // Still alive and well after the whole corpus.
    f.call(&f.keys.token("RS256", &f.clerk_claims())).await.expect(200);
}

#[tokio::test]
async fn accepted_edge_cases() {
    let f = fixture().await;
    let clerk = |changes: Value| f.keys.token("RS256", &f.with(f.clerk_claims(), changes));
    for (name, token) in [
        ("exp within the skew", clerk(json!({"exp": f.now - 30}))),
        ("exp as a float", clerk(json!({"exp": (f.now + 60) as f64 + 0.5}))),
        ("azp absent", clerk(json!({"azp": null}))),
        ("no nbf, no iat", clerk(json!({"nbf": null, "iat": null}))),
        ("no kid: every key of the issuer is tried", {
            let header = json!({"alg": "RS256", "typ": "JWT"}).to_string();
            f.keys.sign_raw("RS256", &header, &f.clerk_claims().to_string())
        }),
        (
            "aud array containing ours",
            f.keys.token("RS256", &f.with(f.firebase_claims(), json!({"aud": ["x", "proj-a"]}))),
        ),
    ] {
        let reply = f.call(&token).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
    }
}

#[tokio::test]
async fn workspaces_follow_each_rules_mapping_and_stay_isolated() {
    let f = fixture().await;
    let in_org = f.server.bearer(&f.keys.token("RS256", &f.clerk_claims()));
    let personal = f.server.bearer(&f.keys.token("RS256", &f.with(f.clerk_claims(), json!({"o": null}))));
    let other_user =
        f.server.bearer(&f.keys.token("RS256", &f.with(f.clerk_claims(), json!({"sub": "user_2", "o": null}))));
    let org_thread = in_org.new_thread().await;
    let reply = in_org.get(&format!("/v1/threads/{org_thread}")).await;
    assert_eq!(reply.expect(200)["thread"]["workspace_id"], "org_1_user_1");
    let mine = personal.new_thread().await;
    assert_eq!(personal.get(&format!("/v1/threads/{mine}")).await.json["thread"]["workspace_id"], "user_1");
    assert_eq!(personal.thread_ids("").await, vec![mine.clone()], "the org workspace is another workspace");
    assert!(other_user.thread_ids("").await.is_empty());
    other_user.get(&format!("/v1/threads/{mine}")).await.expect_error(404, "thread_not_found");

    // Firebase, Auth0 (array aud with userinfo), Supabase legacy HS256, RFC 9068 access tokens.
    let firebase = f.server.bearer(&f.keys.token("RS256", &f.firebase_claims()));
    assert!(firebase.thread_ids("").await.is_empty());
    let auth0 = json!({"iss": AUTH0, "sub": "auth0|42", "aud": ["https://api.example.test", "https://tenant.example.auth0.com/userinfo"],
                       "azp": "client", "scope": "openid read", "exp": f.now + 86_400, "iat": f.now});
    let auth0 = f.server.bearer(&f.keys.token("RS256", &auth0));
    let thread = auth0.new_thread().await;
    assert_eq!(auth0.get(&format!("/v1/threads/{thread}")).await.json["thread"]["workspace_id"], "auth0|42");
    let supabase = json!({"iss": SUPABASE, "sub": "3f1c-uuid", "aud": "authenticated", "role": "authenticated",
                          "session_id": "s", "is_anonymous": false, "exp": f.now + 3600, "iat": f.now});
    let supabase = f.server.bearer(&f.keys.token("HS256", &supabase));
    supabase.new_thread().await;
    let access = json!({"alg": "ES256", "kid": f.other_keys.kid_for("ES256"), "typ": "at+jwt"}).to_string();
    let access = f.other_keys.sign_raw(
        "ES256",
        &access,
        &json!({"iss": OIDC, "sub": "svc", "client_id": "svc", "scope": "read", "exp": f.now + 300, "iat": f.now})
            .to_string(),
    );
    f.server.bearer(&access).new_thread().await;
    assert!(f.other_jwks.hits() >= 1);
}

#[tokio::test]
async fn accepted_provider_tokens_are_exchanged_for_threadhold_tokens() {
    let f = fixture().await;
    let reply = f.call(&f.keys.token("RS256", &f.clerk_claims())).await;
    reply.expect(200);
    let header = reply.headers["authorization"].to_str().expect("header").to_owned();
    let exchanged = header.strip_prefix("Bearer ").expect("bearer scheme");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            exchanged.split('.').nth(1).expect("payload"),
        )
        .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        (claims["iss"].as_str(), claims["sub"].as_str(), claims["workspace_id"].as_str()),
        (Some("urn:threadhold:default"), Some("user_1"), Some("org_1_user_1"))
    );
    assert!(claims["exp"].as_i64().expect("exp") > f.now);
    // The exchanged token works on its own and is not exchanged again.
    let again = f.server.bearer(exchanged).get("/v1/threads").await;
    again.expect(200);
    assert!(again.headers.get("authorization").is_none());
    // Exposed to browsers.
    let browser = f
        .server
        .bearer(&f.keys.token("RS256", &f.clerk_claims()))
        .request(reqwest::Method::GET, "/v1/threads")
        .header("origin", ALLOWED_ORIGIN)
        .send()
        .await
        .expect("send");
    assert_eq!(browser.headers()["access-control-expose-headers"], "Authorization");
    assert!(browser.headers().contains_key("authorization"));

    // Only a request that succeeds gets one: a refusal or a failure after the token was accepted does not.
    let provider = f.server.bearer(&f.keys.token("RS256", &f.clerk_claims()));
    let refused = provider.get("/v1/projects/threads").await;
    refused.expect_error(403, "api_key_required");
    assert!(refused.headers.get("authorization").is_none(), "a refused request carries no token");
    let bad_body = provider.post("/v1/threads", json!({"title": ""})).await;
    bad_body.expect(400);
    assert!(bad_body.headers.get("authorization").is_none(), "a 400 carries no token");
    let missing = provider.get("/v1/threads/thread_missing").await;
    missing.expect_error(404, "thread_not_found");
    assert!(missing.headers.get("authorization").is_none(), "a 404 carries no token");
    provider.post("/v1/threads", json!({})).await.expect(201);

    let quiet = TestServer::start_with(ServerConfig { token_exchange: false, ..config() }).await;
    rule(
        &quiet,
        RuleInput {
            provider: "clerk".into(),
            issuer: f.clerk.clone(),
            jwks_url: Some(f.jwks.url.clone()),
            ..RuleInput::default()
        },
    )
    .await;
    let reply =
        quiet.bearer(&f.keys.token("RS256", &f.with(f.clerk_claims(), json!({"o": null})))).get("/v1/threads").await;
    reply.expect(200);
    assert!(reply.headers.get("authorization").is_none(), "exchange switched off");
}

#[tokio::test]
async fn rotated_keys_are_picked_up_without_a_restart() {
    let f = fixture().await;
    f.call(&f.keys.token("RS256", &f.clerk_claims())).await.expect(200);
    let hits = f.jwks.hits();
    let next = Keys::generate("next");
    // Not published yet: refused (one refetch for the unknown kid, then the cooldown holds).
    let early = next.token("RS256", &f.clerk_claims());
    f.call(&early).await.expect_error(403, "token_key_unknown");
    for _ in 0..20 {
        f.call(&next.token("RS256", &f.with(f.clerk_claims(), json!({"jti": rand_kid()})))).await.expect(403);
    }
    assert!(f.jwks.hits() <= hits + 1, "a burst of unknown kids costs at most one fetch per cooldown");
    f.jwks.set(|b| b.keys = [f.keys.jwks(), next.jwks()].concat());
    tokio::time::sleep(Duration::from_millis(350)).await;
    f.call(&next.token("RS256", &f.clerk_claims())).await.expect(200);
    f.call(&f.keys.token("RS256", &f.clerk_claims())).await.expect(200);
    // Rules removed while running stop working within seconds.
    let rules = f.server.store.list_auth_rules(Some("default")).await.expect("rules");
    let clerk_rule = rules.iter().find(|r| r.provider == "clerk").expect("clerk rule");
    threadhold_server::service::rules::remove(f.server.store.as_ref(), &Actor::Cli, None, &clerk_rule.id)
        .await
        .expect("remove");
    tokio::time::sleep(threadhold_auth::rules::RULES_CACHE_TTL + Duration::from_millis(100)).await;
    f.call(&f.keys.token("RS256", &f.clerk_claims())).await.expect_error(403, "token_issuer_unknown");
}

#[tokio::test]
async fn rules_from_the_configuration_file_are_trusted_too() {
    let keys = Keys::generate("configured");
    let jwks = JwksServer::start(keys.jwks()).await;
    let input = RuleInput {
        provider: "clerk".into(),
        issuer: jwks.base.clone(),
        jwks_url: Some(jwks.url.clone()),
        ..RuleInput::default()
    };
    let configured =
        threadhold_auth::rules::build_rule(input, "config-0".into(), "default", 0, &["127.0.0.1".to_owned()])
            .expect("rule");
    let server = TestServer::start_with(ServerConfig { auth_rules: vec![configured], ..config() }).await;
    let now = threadhold_domain::now_ms() / 1000;
    let token = keys.token("RS256", &json!({"iss": jwks.base, "sub": "user_9", "exp": now + 60}));
    server.bearer(&token).new_thread().await;
    assert!(
        server.store.list_auth_rules(Some("default")).await.expect("rules").is_empty(),
        "not written to the database"
    );
}

#[tokio::test]
async fn an_unreachable_key_endpoint_is_a_server_error_not_a_refusal() {
    let f = fixture().await;
    f.jwks.set(|b| b.status = 500);
    let reply = f.call(&f.keys.token("RS256", &f.clerk_claims())).await;
    reply.expect_error(503, "jwks_unavailable");
}

#[tokio::test]
async fn callers_never_see_why_keys_could_not_be_fetched() {
    let f = fixture().await;
    // Rules stored before add-time checks existed (or written to the database by hand) still
    // meet the guard at fetch time; the caller learns only that the keys are unavailable.
    let allow = ["localhost".to_owned(), "10.0.0.1".to_owned(), "127.0.0.2".to_owned()];
    let urls = ["https://localhost:1/jwks", "https://10.0.0.1/jwks", "http://127.0.0.2:1/jwks"];
    for (index, url) in urls.iter().enumerate() {
        let input = RuleInput {
            provider: "clerk".into(),
            issuer: format!("https://legacy-{index}.example.com"),
            jwks_url: Some((*url).into()),
            ..RuleInput::default()
        };
        let stored = threadhold_auth::rules::build_rule(input, format!("rule_legacy{index}"), "default", 0, &allow)
            .expect("rule");
        f.server.store.insert_auth_rule(&stored).await.expect("insert");
    }
    for (index, url) in urls.iter().enumerate() {
        let issuer = format!("https://legacy-{index}.example.com");
        let token = f.keys.token("RS256", &f.with(f.clerk_claims(), json!({"iss": issuer})));
        let reply = f.call(&token).await;
        reply.expect_error(503, "jwks_unavailable");
        let message = reply.json["message"].as_str().expect("message");
        for internal in ["localhost", "127.0.0", "10.0.0.1", "resolves", "public address", "loopback", "http"] {
            assert!(!message.contains(internal), "{url}: the message shows internals: {message}");
        }
    }
}

fn rand_kid() -> String {
    threadhold_domain::ids::random_secret(12)
}
