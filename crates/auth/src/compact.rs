//! Strict parsing of a compact JWS before any key is touched: a size cap,
//! exactly three segments of unpadded base64url, a header read into a closed
//! struct (`crit`, `zip` and `b64` refused; `jku`, `x5u`, `jwk`, `x5c`
//! never read), and a claims object without duplicate members.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::VerifyError;

/// Longest token accepted, checked before decoding anything.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `kid` worth looking up.
const MAX_KID_BYTES: usize = 256;

/// The header members threadhold reads; everything else is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<Value>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
    #[serde(default)]
    zip: Option<Value>,
    #[serde(default)]
    b64: Option<Value>,
}

/// A token split and decoded, signature not yet checked.
#[derive(Debug, Clone)]
pub struct Compact<'a> {
    pub header: Header,
    /// The key id, when it is a sane string.
    pub kid: Option<String>,
    pub claims: BTreeMap<String, Value>,
    /// `base64(header) "." base64(payload)`: what the signature covers, as received.
    pub signing_input: &'a str,
    pub signature: &'a str,
}

impl Compact<'_> {
    /// The unverified `iss`, which routes the token to the rules (and keys) of that issuer.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }
}

pub fn parse(token: &str) -> Result<Compact<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed("too large"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("a JWS has exactly three segments"));
    };
    for segment in [header_b64, payload_b64, signature] {
        if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(VerifyError::Malformed("segments must be non-empty unpadded base64url"));
        }
    }
    let header_json = decode(header_b64)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed("bad header"))?;
    if header.crit.is_some() || header.b64.is_some() {
        return Err(VerifyError::CriticalHeader);
    }
    if header.zip.is_some() {
        return Err(VerifyError::Malformed("compressed tokens are refused"));
    }
    let kid = match &header.kid {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES && !kid.contains('\0') => {
            Some(kid.clone())
        }
        Some(_) => return Err(VerifyError::Malformed("kid must be a short string")),
    };
    let claims: UniqueObject = serde_json::from_slice(&decode(payload_b64)?)
        .map_err(|_| VerifyError::Malformed("claims must be a JSON object without duplicate members"))?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(Compact { header, kid, claims: claims.0, signing_input, signature })
}

/// Strict, canonical unpadded base64url: the engine refuses padding and
/// non-zero trailing bits, so each byte string has exactly one accepted spelling.
fn decode(segment: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| VerifyError::Malformed("non-canonical or bad base64url"))
}

/// A JSON object whose members are unique (RFC 7515 §5.2: reject duplicates).
struct UniqueObject(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut members = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if members.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                }
                Ok(UniqueObject(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn parses_a_plain_token() {
        let text = token(r#"{"alg":"RS256","kid":"k1","typ":"JWT","x5t":"ignored"}"#, r#"{"sub":"u","exp":1}"#);
        let parsed = parse(&text).expect("parses");
        assert_eq!(parsed.header.alg, "RS256");
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["sub"], "u");
        assert!(text.starts_with(parsed.signing_input));
    }

    #[test]
    fn refuses_structural_problems() {
        let good = token(r#"{"alg":"RS256"}"#, r#"{"sub":"u"}"#);
        let cases = [
            format!("{good}.extra"),
            good.rsplit_once('.').expect("dot").0.to_owned(),
            format!("{good}="),
            format!(" {good}"),
            good.replacen("c2ln", "c2+n", 1),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}")),
            token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}"),
            token(r#"{"alg":"RS256","crit":[]}"#, "{}"),
            token(r#"{"alg":"RS256","b64":false}"#, "{}"),
            token(r#"{"alg":"RS256","zip":"DEF"}"#, "{}"),
            token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}"),
            token(r#"{"alg":"RS256","kid":7}"#, "{}"),
            token(r#"{"alg":"RS256","kid":""}"#, "{}"),
            token(&format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(300)), "{}"),
            token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"admin"}"#),
            token(r#"{"alg":"RS256"}"#, r#"["not","an","object"]"#),
            token(r#"{"alg":"RS256"}"#, r#""text""#),
            token(r#"{"kid":"no alg"}"#, "{}"),
            format!("{}.{}.{}", b64(r#"{"alg":"RS256"}"#), "!!!", b64("s")),
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ];
        for case in cases {
            assert!(parse(&case).is_err(), "accepted: {case:.80}");
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        // "e30" is `{}`; "e31" decodes to the same bytes with non-zero trailing bits.
        let header = b64(r#"{"alg":"RS256"}"#);
        assert!(parse(&format!("{header}.e30.c2ln")).is_ok());
        assert!(parse(&format!("{header}.e31.c2ln")).is_err());
        // A two-character tail: "eyJhIjoxfQ" is `{"a":1}`; "…fR" the same bytes with a stray bit.
        assert!(parse(&format!("{header}.eyJhIjoxfQ.c2ln")).is_ok());
        assert!(parse(&format!("{header}.eyJhIjoxfR.c2ln")).is_err());
    }
}
