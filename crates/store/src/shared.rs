//! Small helpers both SQL backends use.

use serde_json::Value;

/// Messages indexed between two progress lines while an older database catches up.
const INDEXING_PROGRESS_EVERY: usize = 100_000;

/// Whether indexing older messages, having gone from `before` to `total`,
/// logs its progress: each time it passes a multiple of
/// [`INDEXING_PROGRESS_EVERY`], whatever the backend's batch size, so a long
/// catch-up shows it is moving.
pub(crate) fn indexing_progress_due(before: usize, total: usize) -> bool {
    total / INDEXING_PROGRESS_EVERY > before / INDEXING_PROGRESS_EVERY
}

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

/// A user's workspaces with `workspace` moved to the front, at most `max` of them.
pub(crate) fn merge_workspaces(mut workspaces: Vec<String>, workspace: &str, max: usize) -> Vec<String> {
    workspaces.retain(|w| w != workspace);
    workspaces.insert(0, workspace.to_owned());
    workspaces.truncate(max);
    workspaces
}

/// Puts the active-user counts (`(day, count)`, both lists ordered by day) into `days`,
/// adding the days that had active users but nothing else.
pub(crate) fn merge_active_users(
    days: &mut Vec<threadhold_domain::dashboard::DayActivity>,
    users: &[(threadhold_domain::dashboard::Day, i64)],
) {
    for &(day, count) in users {
        match days.binary_search_by_key(&day, |d| d.day) {
            Ok(index) => days[index].active_users = count,
            Err(index) => days.insert(
                index,
                threadhold_domain::dashboard::DayActivity { day, active_users: count, ..Default::default() },
            ),
        }
    }
}

/// The bounds of an audit action filter: an exact action, or every action under a `prefix.`.
pub(crate) fn action_range(action: &str) -> (String, String) {
    match action.strip_suffix('.') {
        // '/' follows '.' in ASCII: [prefix., prefix/) holds exactly the actions starting with "prefix.".
        Some(prefix) => (format!("{prefix}."), format!("{prefix}/")),
        None => (action.to_owned(), format!("{action}\u{1}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use threadhold_domain::dashboard::DayActivity;

    #[test]
    fn indexing_logs_every_hundred_thousand_messages() {
        assert!(indexing_progress_due(99_000, 100_000) && indexing_progress_due(299_500, 300_000));
        assert!(indexing_progress_due(99_900, 100_400), "a batch that passes the mark");
        assert!(!indexing_progress_due(0, 1_000) && !indexing_progress_due(98_000, 99_000));
        assert!(!indexing_progress_due(100_000, 101_000), "once per mark");
    }

    #[test]
    fn workspaces_keep_the_most_recent() {
        let merged = merge_workspaces(vec!["a".into(), "b".into(), "c".into()], "c", 3);
        assert_eq!(merged, ["c", "a", "b"]);
        assert_eq!(merge_workspaces(merged, "d", 3), ["d", "c", "a"]);
    }

    #[test]
    fn active_users_join_their_days() {
        let mut days = vec![DayActivity { day: 2, messages: 5, ..Default::default() }];
        merge_active_users(&mut days, &[(1, 3), (2, 4)]);
        assert_eq!(
            days.iter().map(|d| (d.day, d.messages, d.active_users)).collect::<Vec<_>>(),
            [(1, 0, 3), (2, 5, 4)]
        );
    }
}
