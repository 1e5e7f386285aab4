//! The query values of the project read API (and the MCP tools' arguments),
//! checked and turned into store queries. Every bad value is an [`Invalid`]
//! naming the value; unknown parameters are ignored.

use serde::Deserialize;

use crate::limits::{
    PROJECT_PAGE_DEFAULT, PROJECT_PAGE_MAX, RUN_ENVIRONMENT_MAX_CHARS, RUN_NAME_MAX_CHARS, RUN_TAG_MAX_CHARS,
    SCORE_NAME_MAX, SCORE_PAGE_MAX, SERVER_ID_MAX_CHARS,
};
use crate::model::{Position, RunQuery, ScoreAfter, ScoreQuery, ThreadCreationQuery};
use crate::telemetry::cursor;
use crate::telemetry::report::{RUN_OUTCOMES, RUN_STATUSES};
use crate::{Millis, parse_timestamp};

/// A refused query value: an error code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    fn query(message: impl Into<String>) -> Self {
        Invalid { code: "invalid_query", message: message.into() }
    }
}

/// The run cursor's refusal, in the hosted service's words.
pub const INVALID_RUN_CURSOR: &str = "Invalid run cursor";
/// Thread and score cursors' refusal.
pub const INVALID_CURSOR: &str = "Invalid cursor";

/// `GET /v1/projects/runs` and the `list_runs` tool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunListInput {
    pub status: Option<String>,
    pub outcome_type: Option<String>,
    pub model_id: Option<String>,
    pub provider: Option<String>,
    pub created_by: Option<String>,
    pub thread_id: Option<String>,
    pub workspace_id: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub tag: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// `GET /v1/projects/scores` (`after`, a score id) and the `list_scores` tool (`cursor`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ScoreListInput {
    pub name: Option<String>,
    pub thread_id: Option<String>,
    pub run_id: Option<String>,
    pub source: Option<String>,
    pub since: Option<String>,
    pub limit: Option<String>,
    pub after: Option<String>,
    pub cursor: Option<String>,
}

/// The `list_threads` tool: threads by creation, `created_by` naming a workspace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ThreadListInput {
    pub created_by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// `limit`: an integer from 1 to `max`, `default` when absent.
pub fn limit(text: Option<&str>, default: u32, max: u32) -> Result<u32, Invalid> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(Invalid { code: "invalid_limit", message: format!("limit must be an integer from 1 to {max}") }),
    }
}

fn text(field: &str, value: &Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.chars().count() <= max => Ok(Some(v.clone())),
        Some(_) => Err(Invalid::query(format!("{field} must be 1 to {max} characters"))),
    }
}

fn one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<Option<String>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
        Some(_) => Err(Invalid::query(format!("{field} must be one of {}", allowed.join(", ")))),
    }
}

fn instant(field: &str, value: &Option<String>) -> Result<Option<Millis>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) => parse_timestamp(v).map(Some).ok_or_else(|| {
            Invalid::query(format!("{field} must be an ISO 8601 date-time such as 2026-09-01T00:00:00.000Z"))
        }),
    }
}

fn position(value: &Option<String>, refusal: &str) -> Result<Option<Position>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) => {
            cursor::decode(v).map(Some).ok_or_else(|| Invalid { code: "invalid_cursor", message: refusal.into() })
        }
    }
}

pub fn run_query(project_id: &str, input: &RunListInput) -> Result<RunQuery, Invalid> {
    Ok(RunQuery {
        project_id: project_id.to_owned(),
        status: one_of("status", &input.status, &RUN_STATUSES)?,
        outcome_type: one_of("outcome_type", &input.outcome_type, &RUN_OUTCOMES)?,
        model_id: text("model_id", &input.model_id, RUN_NAME_MAX_CHARS)?,
        provider: text("provider", &input.provider, RUN_NAME_MAX_CHARS)?,
        created_by: text("created_by", &input.created_by, RUN_NAME_MAX_CHARS)?,
        thread_id: text("thread_id", &input.thread_id, SERVER_ID_MAX_CHARS)?,
        workspace_id: text("workspace_id", &input.workspace_id, RUN_NAME_MAX_CHARS)?,
        environment: text("environment", &input.environment, RUN_ENVIRONMENT_MAX_CHARS)?,
        release: text("release", &input.release, RUN_NAME_MAX_CHARS)?,
        tag: text("tag", &input.tag, RUN_TAG_MAX_CHARS)?,
        from: instant("from", &input.from)?,
        to: instant("to", &input.to)?,
        after: position(&input.cursor, INVALID_RUN_CURSOR)?,
        limit: limit(input.limit.as_deref(), PROJECT_PAGE_DEFAULT, PROJECT_PAGE_MAX)?,
    })
}

/// How a score list pages: by a score id and up to 200 (the REST route), or
/// by an opaque cursor and up to 100 (the MCP tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScorePaging {
    AfterId,
    Cursor,
}

pub fn score_query(project_id: &str, input: &ScoreListInput, paging: ScorePaging) -> Result<ScoreQuery, Invalid> {
    let source = one_of("source", &input.source, &["api", "end_user", "human", "evaluator"])?;
    let (after, max) = match paging {
        ScorePaging::AfterId => (text("after", &input.after, SERVER_ID_MAX_CHARS)?.map(ScoreAfter::Id), SCORE_PAGE_MAX),
        ScorePaging::Cursor => (position(&input.cursor, INVALID_CURSOR)?.map(ScoreAfter::Position), PROJECT_PAGE_MAX),
    };
    Ok(ScoreQuery {
        project_id: project_id.to_owned(),
        name: text("name", &input.name, SCORE_NAME_MAX)?,
        thread_id: text("thread_id", &input.thread_id, SERVER_ID_MAX_CHARS)?,
        run_id: text("run_id", &input.run_id, SERVER_ID_MAX_CHARS)?,
        source,
        since: instant("since", &input.since)?,
        after,
        limit: limit(input.limit.as_deref(), PROJECT_PAGE_DEFAULT, max)?,
    })
}

pub fn thread_query(project_id: &str, input: &ThreadListInput) -> Result<ThreadCreationQuery, Invalid> {
    Ok(ThreadCreationQuery {
        project_id: project_id.to_owned(),
        workspace_id: text("created_by", &input.created_by, RUN_NAME_MAX_CHARS)?,
        from: instant("from", &input.from)?,
        to: instant("to", &input.to)?,
        after: position(&input.cursor, INVALID_CURSOR)?,
        limit: limit(input.limit.as_deref(), PROJECT_PAGE_DEFAULT, PROJECT_PAGE_MAX)?,
    })
}

/// A run or score id in a path: 1 to 48 characters.
pub fn server_id(field: &str, value: &str) -> Result<(), Invalid> {
    text(field, &Some(value.to_owned()), SERVER_ID_MAX_CHARS).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn run_filters() {
        let query = run_query(
            "p",
            &RunListInput {
                status: some("error"),
                tag: some("beta"),
                from: some("2026-09-01T00:00:00.000Z"),
                limit: some("100"),
                cursor: Some(cursor::encode(&Position { created_at: 7, id: "run_a".into() })),
                ..RunListInput::default()
            },
        )
        .expect("valid");
        assert_eq!((query.status.as_deref(), query.tag.as_deref(), query.limit), (Some("error"), Some("beta"), 100));
        assert_eq!(query.after, Some(Position { created_at: 7, id: "run_a".into() }));
        assert_eq!(run_query("p", &RunListInput::default()).expect("defaults").limit, 50);
        let refused = |input: RunListInput| run_query("p", &input).expect_err("refused");
        assert_eq!(refused(RunListInput { status: some("done"), ..Default::default() }).code, "invalid_query");
        assert_eq!(refused(RunListInput { outcome_type: some("x"), ..Default::default() }).code, "invalid_query");
        assert_eq!(
            refused(RunListInput { thread_id: some(&"t".repeat(49)), ..Default::default() }).code,
            "invalid_query"
        );
        assert_eq!(refused(RunListInput { environment: some(""), ..Default::default() }).code, "invalid_query");
        assert_eq!(refused(RunListInput { from: some("2026-09-01"), ..Default::default() }).code, "invalid_query");
        for limit in ["0", "101", "x", "-1", "1.5"] {
            assert_eq!(refused(RunListInput { limit: some(limit), ..Default::default() }).code, "invalid_limit");
        }
        let bad_cursor = refused(RunListInput { cursor: some("nope"), ..Default::default() });
        assert_eq!((bad_cursor.code, bad_cursor.message.as_str()), ("invalid_cursor", INVALID_RUN_CURSOR));
    }

    #[test]
    fn score_paging() {
        let rest = score_query(
            "p",
            &ScoreListInput { after: some("score_1"), limit: some("200"), ..Default::default() },
            ScorePaging::AfterId,
        )
        .expect("valid");
        assert_eq!((rest.after, rest.limit), (Some(ScoreAfter::Id("score_1".into())), 200));
        assert!(
            score_query("p", &ScoreListInput { limit: some("200"), ..Default::default() }, ScorePaging::Cursor)
                .is_err()
        );
        let refused =
            score_query("p", &ScoreListInput { cursor: some("x"), ..Default::default() }, ScorePaging::Cursor)
                .expect_err("bad cursor");
        assert_eq!(refused.message, INVALID_CURSOR);
        assert!(
            score_query("p", &ScoreListInput { source: some("robot"), ..Default::default() }, ScorePaging::Cursor)
                .is_err()
        );
        assert!(
            score_query("p", &ScoreListInput { since: some("soon"), ..Default::default() }, ScorePaging::AfterId)
                .is_err()
        );
        assert!(
            score_query(
                "p",
                &ScoreListInput { name: some(&"n".repeat(65)), ..Default::default() },
                ScorePaging::AfterId
            )
            .is_err()
        );
    }
}
