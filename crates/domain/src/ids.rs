//! Server-generated ids and the rules for client-supplied identifiers.
//!
//! A server id is a prefix plus 24 characters: 9 characters of millisecond
//! timestamp and 15 random characters, all in base62 with the alphabet in
//! ASCII order, so ids sort by creation time as plain strings. Ids made in the
//! same millisecond by one process increase strictly (the random tail is
//! incremented), which keeps `(created_at, id)` ordering stable for bursts.

use std::sync::Mutex;

use rand::RngExt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TIME_CHARS: usize = 9;
const RANDOM_CHARS: usize = 15;
/// The longest id the contract lets a client keep (engagement events drop longer ones).
pub const MAX_SERVER_ID_LEN: usize = 48;

/// The kinds of ids the server mints; the prefix tells them apart in logs and routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Thread,
    Message,
    Run,
    Score,
    Feedback,
    Event,
    ApiKey,
    SigningKey,
    /// An anonymous identity: both its user id and its workspace id.
    AnonymousUser,
    AnonymousSession,
    RunLease,
    AuthRule,
    /// A dashboard account.
    Admin,
    /// An audit log entry.
    Audit,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Thread => "thread_",
            IdKind::Message => "msg_",
            IdKind::Run => "run_",
            IdKind::Score => "score_",
            IdKind::Feedback => "score_",
            IdKind::Event => "evt_",
            IdKind::ApiKey => "key_",
            IdKind::SigningKey => "kid_",
            IdKind::AnonymousUser => "usr_anon_",
            IdKind::AnonymousSession => "sess_",
            IdKind::RunLease => "lease_",
            IdKind::AuthRule => "rule_",
            IdKind::Admin => "adm_",
            IdKind::Audit => "aud_",
        }
    }
}

struct Generator {
    last_ms: u64,
    last_random: u128,
}

static GENERATOR: Mutex<Generator> = Mutex::new(Generator { last_ms: 0, last_random: 0 });

/// 62^15 random values fit easily in a u128.
fn random_space() -> u128 {
    62u128.pow(RANDOM_CHARS as u32)
}

/// Mints a new, time-ordered id of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let now = u64::try_from(crate::time::now_ms()).unwrap_or(0);
    let (ms, random) = {
        let mut g = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now <= g.last_ms && g.last_random + 1 < random_space() {
            // Same (or a backwards-stepping) millisecond: keep strictly increasing.
            g.last_random += 1;
        } else {
            g.last_ms = now.max(g.last_ms + u64::from(now <= g.last_ms));
            // Leave headroom so increments within this millisecond never overflow.
            g.last_random = rand::rng().random_range(0..random_space() / 2);
        }
        (g.last_ms, g.last_random)
    };
    let mut id = String::with_capacity(kind.prefix().len() + TIME_CHARS + RANDOM_CHARS);
    id.push_str(kind.prefix());
    push_base62(&mut id, u128::from(ms), TIME_CHARS);
    push_base62(&mut id, random, RANDOM_CHARS);
    id
}

/// A random base62 secret of `len` characters (about 5.95 bits each).
pub fn random_secret(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

fn push_base62(out: &mut String, mut value: u128, width: usize) {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out.extend(digits.into_iter().map(char::from));
}

/// True when `id` has the shape of a message id this server mints. The contract
/// coerces other `parent_id` values (a client's local ids) to a root.
pub fn looks_like_message_id(id: &str) -> bool {
    id.strip_prefix(IdKind::Message.prefix())
        .is_some_and(|rest| rest.len() == TIME_CHARS + RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Why a client-supplied identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain whitespace or control characters")]
    BadCharacter,
    #[error("must not contain control characters (NUL, line breaks, …)")]
    ControlCharacter,
}

/// User and workspace ids: 1–255 characters, no whitespace or control characters.
pub fn validate_principal_id(value: &str) -> Result<(), IdentifierError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdentifierError::BadCharacter);
    }
    validate_text_id(value, 255)
}

/// The rule shared by external ids, formats, titles and file names: 1 to `max`
/// characters, none of them a control character (C0, DEL, C1).
pub fn validate_text_id(value: &str, max: usize) -> Result<(), IdentifierError> {
    if value.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if value.chars().count() > max {
        return Err(IdentifierError::TooLong { max });
    }
    if value.chars().any(char::is_control) {
        return Err(IdentifierError::ControlCharacter);
    }
    Ok(())
}

/// Project ids appear inside API keys and URLs: 1–64 of `[a-z0-9-]`.
pub fn validate_project_id(value: &str) -> Result<(), IdentifierError> {
    validate_text_id(value, 64)?;
    if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(IdentifierError::BadCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_have_prefix_and_length() {
        let id = new_id(IdKind::Thread);
        assert!(id.starts_with("thread_0"), "{id}");
        assert_eq!(id.len(), "thread_".len() + 24);
        assert!(new_id(IdKind::Message).len() <= MAX_SERVER_ID_LEN);
    }

    #[test]
    fn ids_strictly_increase_in_a_burst() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id(IdKind::Message)).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn message_id_shape() {
        assert!(looks_like_message_id(&new_id(IdKind::Message)));
        assert!(!looks_like_message_id(&new_id(IdKind::Thread)));
        assert!(!looks_like_message_id("msg_short"));
        assert!(!looks_like_message_id("VZ3kqLocalId"));
    }

    #[test]
    fn principal_ids() {
        assert!(validate_principal_id("user@example.com").is_ok());
        assert!(validate_principal_id("org:1|user_2").is_ok());
        assert!(validate_principal_id(&"a".repeat(255)).is_ok());
        assert_eq!(validate_principal_id(""), Err(IdentifierError::Empty));
        assert_eq!(validate_principal_id(&"a".repeat(256)), Err(IdentifierError::TooLong { max: 255 }));
        assert_eq!(validate_principal_id("a b"), Err(IdentifierError::BadCharacter));
        assert_eq!(validate_principal_id("a\u{7}b"), Err(IdentifierError::BadCharacter));
        assert_eq!(validate_principal_id("a\u{a0}b"), Err(IdentifierError::BadCharacter));
    }

    #[test]
    fn text_ids_refuse_control_characters() {
        assert!(validate_text_id("A title with spaces, ünïcode and emoji 🎉", 255).is_ok());
        for bad in ["nul\0byte", "line\nbreak", "tab\there", "del\u{7f}", "c1\u{85}", "\r"] {
            assert_eq!(validate_text_id(bad, 255), Err(IdentifierError::ControlCharacter), "{bad:?}");
        }
    }

    #[test]
    fn project_ids() {
        assert!(validate_project_id("default").is_ok());
        assert!(validate_project_id("acme-2").is_ok());
        assert!(validate_project_id("Acme").is_err());
        assert!(validate_project_id("a_b").is_err());
    }

    proptest! {
        #[test]
        fn base62_is_order_preserving(a in 0u128..62u128.pow(9), b in 0u128..62u128.pow(9)) {
            let (mut sa, mut sb) = (String::new(), String::new());
            push_base62(&mut sa, a, 9);
            push_base62(&mut sb, b, 9);
            prop_assert_eq!(a.cmp(&b), sa.cmp(&sb));
        }
    }
}
