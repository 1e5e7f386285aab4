//! Small helpers both SQL backends use.

use serde_json::Value;

/// A list as the JSON array text it is stored as.
pub(crate) fn list_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// `content.role` of a stored message.
pub(crate) fn role_of(content: &str) -> Option<String> {
    serde_json::from_str::<Value>(content).ok()?.get("role")?.as_str().map(str::to_owned)
}

/// A LIKE pattern matching `needle` anywhere, with `%`, `_` and `\` escaped (`ESCAPE '\'`).
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::from("%");
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
