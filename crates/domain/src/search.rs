//! Search rules shared by the backends: what text of a message is searchable,
//! and what a query may ask for.

use std::collections::HashMap;

use serde_json::Value;

use crate::Millis;

use crate::title::message_text;

/// Searchable text kept per message: the beginning of its text parts. Longer
/// text is cut here, so a search never reads a whole 1 MiB document.
pub const SEARCH_TEXT_MAX_BYTES: usize = 32 * 1024;
/// Query length in characters.
pub const QUERY_MAX_CHARS: usize = 200;
/// The shortest query the trigram indexes can answer; shorter ones match titles only.
pub const INDEXED_QUERY_MIN_CHARS: usize = 3;
/// Matching messages a search examines at most (the most recently written first),
/// whatever the workspace holds.
pub const MESSAGES_EXAMINED_MAX: u32 = 2_000;
/// Searches a workspace may make per minute, by default (each is bounded in
/// time and memory; this keeps one caller from keeping the search pool busy).
pub const SEARCHES_PER_MINUTE: u32 = 60;
/// Characters of a snippet, and how many of them come before the match.
pub const SNIPPET_CHARS: usize = 120;
pub const SNIPPET_LEAD_CHARS: usize = 40;

/// The searchable text of a stored message (any format), at most
/// [`SEARCH_TEXT_MAX_BYTES`]. Control characters become spaces: no index takes
/// NUL (PostgreSQL refuses it in text), and none is ever searched for.
pub fn search_text(message: &Value) -> String {
    let mut text: String =
        message_text(message).chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect();
    if text.len() > SEARCH_TEXT_MAX_BYTES {
        let mut end = SEARCH_TEXT_MAX_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The searchable text of stored content given as JSON text (empty when it is not JSON).
pub fn search_text_of(content: &str) -> String {
    serde_json::from_str::<Value>(content).map(|value| search_text(&value)).unwrap_or_default()
}

/// About [`SNIPPET_CHARS`] characters of `text` around the first
/// case-insensitive match of `needle`, if it matches.
pub fn snippet(text: &str, needle: &str) -> Option<String> {
    let lowered = text.to_lowercase();
    let at = lowered.find(&needle.to_lowercase())?;
    // Lowercasing can change byte lengths; map back through character counts.
    let start = lowered[..at].chars().count().saturating_sub(SNIPPET_LEAD_CHARS);
    Some(text.chars().skip(start).take(SNIPPET_CHARS).collect())
}

/// What a search found in one thread: the thread's listing key (its newest
/// activity) and its newest matching message (none when only the title
/// matched). Snippets are cut afterwards, for the page's hits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub last_message_at: Millis,
    pub message_id: Option<String>,
}

/// The page a search answers, from everything it found by thread id: newest
/// thread first (the thread list's order), after the cursor's thread, at most
/// `limit`. Only these threads are then read whole.
pub fn page_of_found(
    found: HashMap<String, Found>,
    cursor: Option<(Millis, &str)>,
    limit: u32,
) -> Vec<(String, Found)> {
    let mut page: Vec<(String, Found)> = found
        .into_iter()
        .filter(|(id, hit)| cursor.is_none_or(|(at, after)| (hit.last_message_at, id.as_str()) < (at, after)))
        .collect();
    page.sort_by(|(a_id, a), (b_id, b)| (b.last_message_at, b_id).cmp(&(a.last_message_at, a_id)));
    page.truncate(limit as usize);
    page
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_comes_from_text_parts_of_every_format_and_is_bounded() {
        assert_eq!(search_text(&json!({"role": "user", "content": [{"type": "text", "text": "hello"}]})), "hello");
        assert_eq!(
            search_text(&json!({"role": "user", "parts": [{"type": "text", "text": "a"}, {"type": "file"}]})),
            "a"
        );
        let long = "é".repeat(SEARCH_TEXT_MAX_BYTES);
        let cut = search_text(&json!({"content": [{"type": "text", "text": long}]}));
        assert!(cut.len() <= SEARCH_TEXT_MAX_BYTES && cut.len() > SEARCH_TEXT_MAX_BYTES - 2);
        assert_eq!(search_text_of("not json"), "");
        assert_eq!(search_text(&json!({"content": [{"type": "text", "text": "a\u{0}b\nc"}]})), "a b\nc");
    }

    #[test]
    fn snippets_surround_the_match() {
        let text = format!("{}needle{}", "a".repeat(100), "b".repeat(100));
        let cut = snippet(&text, "NEEDLE").expect("matches");
        assert_eq!(cut.chars().count(), SNIPPET_CHARS);
        assert!(cut.starts_with(&"a".repeat(SNIPPET_LEAD_CHARS)) && cut.contains("needle"));
        assert_eq!(snippet("ÀÉ Straße", "straße").as_deref(), Some("ÀÉ Straße"));
        assert_eq!(snippet("abc", "x"), None);
    }

    #[test]
    fn a_page_of_found_threads_is_newest_first_after_the_cursor() {
        let found = |at| Found { last_message_at: at, message_id: None };
        let all: HashMap<String, Found> =
            [("a", 10), ("b", 30), ("c", 20), ("d", 30)].map(|(id, at)| (id.to_owned(), found(at))).into();
        let ids = |page: Vec<(String, Found)>| page.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(page_of_found(all.clone(), None, 10)), ["d", "b", "c", "a"]);
        assert_eq!(ids(page_of_found(all.clone(), None, 2)), ["d", "b"]);
        assert_eq!(ids(page_of_found(all.clone(), Some((30, "b")), 2)), ["c", "a"]);
        assert_eq!(ids(page_of_found(all, Some((10, "a")), 2)), Vec::<String>::new());
    }
}
