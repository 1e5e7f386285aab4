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

/// The keyset bounds of a `created_at DESC, id DESC` page: rows at or after
/// `from`, and strictly before the returned `(created_at, id)`, which is the
/// cursor or the end of `to` (inclusive), whichever comes first.
pub(crate) fn page_bounds(
    from: Option<i64>,
    to: Option<i64>,
    after: Option<&threadhold_domain::model::Position>,
) -> (i64, i64, String) {
    let mut upper = (to.map_or(i64::MAX, |to| to.saturating_add(1)), String::new());
    if let Some(after) = after
        && (after.created_at, &after.id) < (upper.0, &upper.1)
    {
        upper = (after.created_at, after.id.clone());
    }
    (from.unwrap_or(i64::MIN), upper.0, upper.1)
}
