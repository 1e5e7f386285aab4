//! Runs: client reports and trace spans merged by trace id, the spans of a
//! run, keyset pages of runs, scores and threads for the project read API,
//! and usage totals.
//!
//! Pages are `created_at DESC, id DESC` with the bounds always bound (see
//! [`page_bounds`]), so each listing is one constant statement per index it
//! can be driven by: the whole project, or one thread, creator, run or workspace.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use threadhold_domain::Millis;
use threadhold_domain::dashboard::Activity;
use threadhold_domain::model::{
    MessageUsage, Position, Run, RunQuery, RunUsage, ScoreAfter, ScoreQuery, ScoreRecord, SpanRecord, Thread,
    ThreadCreationQuery, TraceBatch, TraceOutcome, UsageTotals,
};
use threadhold_domain::telemetry::{report, trace};

use super::dashboard::count_activity;
use super::rows::{self, run_columns, score_columns, span_columns, thread_columns};
use crate::shared::{list_json, page_bounds};
use crate::{ReadScope, StoreError, StoreResult};

/// Legacy run reports moved per write group when an older database is opened.
pub(super) const LEGACY_BATCH: u32 = 500;

pub(super) fn get(c: &Connection, project_id: &str, id: &str) -> StoreResult<Option<Run>> {
    Ok(c.prepare_cached(concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?1 AND project_id = ?2"))?
        .query_row(params![id, project_id], rows::run)
        .optional()?)
}

fn by_trace(c: &Connection, project_id: &str, trace_id: &str) -> StoreResult<Option<Run>> {
    Ok(c.prepare_cached(concat!("SELECT ", run_columns!(), " FROM runs WHERE project_id = ?1 AND trace_id = ?2"))?
        .query_row(params![project_id, trace_id], rows::run)
        .optional()?)
}

/// Inserts the run, or replaces every column but its project and creation time.
fn save(c: &Connection, run: &Run) -> StoreResult<()> {
    c.prepare_cached(concat!(
        "INSERT INTO runs (",
        run_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
         ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36) \
         ON CONFLICT (id) DO UPDATE SET workspace_id = excluded.workspace_id, thread_id = excluded.thread_id, \
         message_id = excluded.message_id, created_by = excluded.created_by, status = excluded.status, \
         outcome_type = excluded.outcome_type, error_code = excluded.error_code, error = excluded.error, \
         provider = excluded.provider, model_id = excluded.model_id, environment = excluded.environment, \
         release = excluded.release, tags = excluded.tags, attributes = excluded.attributes, \
         trace_id = excluded.trace_id, root_span_id = excluded.root_span_id, service_name = excluded.service_name, \
         agent_name = excluded.agent_name, input_tokens = excluded.input_tokens, \
         cached_input_tokens = excluded.cached_input_tokens, output_tokens = excluded.output_tokens, \
         reasoning_tokens = excluded.reasoning_tokens, duration_ms = excluded.duration_ms, \
         first_token_ms = excluded.first_token_ms, cost_usd = excluded.cost_usd, cost_details = excluded.cost_details, \
         total_steps = excluded.total_steps, output_text = excluded.output_text, steps = excluded.steps, \
         tool_calls = excluded.tool_calls, reported = excluded.reported, traced = excluded.traced, \
         updated_at = excluded.updated_at"
    ))?
    .execute(params![
        run.id,
        run.scope.project_id,
        run.scope.workspace_id,
        run.thread_id,
        run.message_id,
        run.created_by,
        run.status,
        run.outcome_type,
        run.error_code,
        run.error,
        run.provider,
        run.model_id,
        run.environment,
        run.release,
        list_json(&run.tags),
        run.attributes,
        run.trace_id,
        run.root_span_id,
        run.service_name,
        run.agent_name,
        run.input_tokens,
        run.cached_input_tokens,
        run.output_tokens,
        run.reasoning_tokens,
        run.duration_ms,
        run.first_token_ms,
        run.cost_usd,
        run.cost_details,
        run.total_steps,
        run.output_text,
        run.steps,
        run.tool_calls,
        run.reported,
        run.traced,
        run.created_at,
        run.updated_at
    ])?;
    Ok(())
}

/// Inserts a reported run, or merges it into the run of its trace id.
fn insert_or_merge(c: &Connection, run: &Run) -> StoreResult<String> {
    if let Some(trace_id) = &run.trace_id
        && let Some(existing) = by_trace(c, &run.scope.project_id, trace_id)?
    {
        save(c, &report::merge(&existing, run.clone(), run.updated_at))?;
        return Ok(existing.id);
    }
    save(c, run)?;
    Ok(run.id.clone())
}

/// A client's report: its thread must be in its workspace and its message in the thread.
pub(super) fn record(c: &Connection, run: &Run) -> StoreResult<String> {
    let thread_id = run.thread_id.as_deref().ok_or(StoreError::ThreadNotFound)?;
    super::threads::require_in_scope(c, &run.scope, thread_id)?;
    if let Some(message_id) = &run.message_id {
        let found = c
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND thread_id = ?2")?
            .exists(params![message_id, thread_id])?;
        if !found {
            return Err(StoreError::MessageNotFound);
        }
    }
    let id = insert_or_merge(c, run)?;
    if id == run.id {
        count_activity(c, &run.scope.project_id, run.created_at, Activity::Run, 1)?;
    }
    Ok(id)
}

pub(super) fn spans(c: &Connection, project_id: &str, run_id: &str) -> StoreResult<Vec<SpanRecord>> {
    let mut statement = c.prepare_cached(concat!(
        "SELECT ",
        span_columns!(),
        " FROM spans WHERE run_id = (SELECT id FROM runs WHERE id = ?1 AND project_id = ?2) \
         ORDER BY started_at IS NULL, started_at, span_id"
    ))?;
    let spans = statement.query_map(params![run_id, project_id], rows::span)?.collect::<Result<_, _>>()?;
    Ok(spans)
}

fn save_span(c: &Connection, run_id: &str, span: &SpanRecord) -> StoreResult<()> {
    c.prepare_cached(concat!(
        "INSERT INTO spans (run_id, ",
        span_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
         ?22, ?23, ?24, ?25, ?26) \
         ON CONFLICT (run_id, span_id) DO UPDATE SET trace_id = excluded.trace_id, \
         parent_span_id = excluded.parent_span_id, name = excluded.name, operation = excluded.operation, \
         span_type = excluded.span_type, provider = excluded.provider, model_id = excluded.model_id, \
         tool_name = excluded.tool_name, tool_call_id = excluded.tool_call_id, tool_source = excluded.tool_source, \
         input_tokens = excluded.input_tokens, cached_input_tokens = excluded.cached_input_tokens, \
         output_tokens = excluded.output_tokens, reasoning_tokens = excluded.reasoning_tokens, \
         started_at = excluded.started_at, ended_at = excluded.ended_at, first_chunk_ms = excluded.first_chunk_ms, \
         status_code = excluded.status_code, error = excluded.error, error_type = excluded.error_type, \
         finish_reason = excluded.finish_reason, input = excluded.input, output = excluded.output, \
         attributes = excluded.attributes"
    ))?
    .execute(params![
        run_id,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.operation,
        span.span_type,
        span.provider,
        span.model_id,
        span.tool_name,
        span.tool_call_id,
        span.tool_source,
        span.input_tokens,
        span.cached_input_tokens,
        span.output_tokens,
        span.reasoning_tokens,
        span.started_at,
        span.ended_at,
        span.first_chunk_ms,
        span.status_code,
        span.error,
        span.error_type,
        span.finish_reason,
        span.input,
        span.output,
        span.attributes
    ])?;
    Ok(())
}

/// Stores one trace's spans for its run (made on the first export), then
/// brings the run up to date from every stored span of the trace.
pub(super) fn record_trace(c: &Connection, batch: &TraceBatch) -> StoreResult<TraceOutcome> {
    let project_id = &batch.scope.project_id;
    let (run, stored) = match by_trace(c, project_id, &batch.trace_id)? {
        Some(run) => {
            let ids: HashSet<String> = c
                .prepare_cached("SELECT span_id FROM spans WHERE run_id = ?1")?
                .query_map([&run.id], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            (run, ids)
        }
        None => {
            let run = trace::new_trace_run(batch);
            save(c, &run)?;
            count_activity(c, project_id, run.created_at, Activity::Run, 1)?;
            (run, HashSet::new())
        }
    };
    let (kept, rejected) = trace::admit(&stored, &batch.spans);
    for span in &kept {
        save_span(c, &run.id, span)?;
    }
    let all = spans(c, project_id, &run.id)?;
    let thread: Option<Thread> = match &batch.hints.conversation_id {
        Some(id) if run.thread_id.is_none() => {
            super::threads::get(c, &ReadScope { project_id: project_id.clone(), workspace_id: None }, id)?
        }
        _ => None,
    };
    let run_id = run.id.clone();
    save(c, &trace::finish(run, &all, thread.as_ref(), &batch.hints, batch.now))?;
    Ok(TraceOutcome { run_id, accepted: kept.len(), rejected })
}

/// Filters every run page applies; `?3, ?4` is the keyset bound.
macro_rules! run_filters {
    () => {
        " AND created_at >= ?2 AND (created_at, id) < (?3, ?4) \
         AND (?5 IS NULL OR status = ?5) AND (?6 IS NULL OR outcome_type = ?6) AND (?7 IS NULL OR model_id = ?7) \
         AND (?8 IS NULL OR provider = ?8) AND (?9 IS NULL OR environment = ?9) AND (?10 IS NULL OR release = ?10) \
         AND (?11 IS NULL OR workspace_id = ?11) \
         AND (?12 IS NULL OR EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE json_each.value = ?12))"
    };
}

pub(super) fn list(c: &Connection, query: &RunQuery) -> StoreResult<Vec<Run>> {
    let (from, before_at, before_id) = page_bounds(query.from, query.to, query.after.as_ref());
    let (sql, driver) = match (&query.thread_id, &query.created_by) {
        (Some(thread_id), created_by) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = ?1 AND thread_id = ?13 AND (?14 IS NULL OR created_by = ?14)",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT ?15 + 0"
            ),
            (Some(thread_id), created_by.as_ref()),
        ),
        (None, Some(created_by)) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = ?1 AND created_by = ?13 AND ?14 IS NULL",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT ?15 + 0"
            ),
            (Some(created_by), None),
        ),
        (None, None) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = ?1 AND ?13 IS NULL AND ?14 IS NULL",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT ?15 + 0"
            ),
            (None, None),
        ),
    };
    let mut statement = c.prepare_cached(sql)?;
    let runs = statement
        .query_map(
            params![
                query.project_id,
                from,
                before_at,
                before_id,
                query.status,
                query.outcome_type,
                query.model_id,
                query.provider,
                query.environment,
                query.release,
                query.workspace_id,
                query.tag,
                driver.0,
                driver.1,
                i64::from(query.limit)
            ],
            rows::run,
        )?
        .collect::<Result<_, _>>()?;
    Ok(runs)
}

pub(super) fn list_scores(c: &Connection, query: &ScoreQuery) -> StoreResult<Vec<ScoreRecord>> {
    let after = match &query.after {
        None => None,
        Some(ScoreAfter::Position(position)) => Some(position.clone()),
        Some(ScoreAfter::Id(id)) => {
            let found = c
                .prepare_cached("SELECT created_at, id FROM scores WHERE id = ?1 AND project_id = ?2")?
                .query_row(params![id, query.project_id], |row| {
                    Ok(Position { created_at: row.get(0)?, id: row.get(1)? })
                })
                .optional()?;
            // An unknown score gives an empty page, the clean stop.
            match found {
                Some(position) => Some(position),
                None => return Ok(Vec::new()),
            }
        }
    };
    if query.thread_id.is_some() && query.run_id.is_some() {
        // A score targets one of a message, a run or a thread: run scores name no thread.
        return Ok(Vec::new());
    }
    let (from, before_at, before_id) = page_bounds(query.since, None, after.as_ref());
    let (sql, driver) = match (&query.thread_id, &query.run_id) {
        (Some(thread_id), _) => (
            concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE project_id = ?1 AND thread_id = ?7 AND created_at >= ?2 \
                 AND (created_at, id) < (?3, ?4) AND (?5 IS NULL OR name = ?5) AND (?6 IS NULL OR source = ?6) \
                 ORDER BY created_at DESC, id DESC LIMIT ?8 + 0"
            ),
            Some(thread_id),
        ),
        (None, Some(run_id)) => (
            concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE project_id = ?1 AND target_id = ?7 AND target_type = 'run' AND created_at >= ?2 \
                 AND (created_at, id) < (?3, ?4) AND (?5 IS NULL OR name = ?5) AND (?6 IS NULL OR source = ?6) \
                 ORDER BY created_at DESC, id DESC LIMIT ?8 + 0"
            ),
            Some(run_id),
        ),
        (None, None) => (
            concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE project_id = ?1 AND ?7 IS NULL AND created_at >= ?2 \
                 AND (created_at, id) < (?3, ?4) AND (?5 IS NULL OR name = ?5) AND (?6 IS NULL OR source = ?6) \
                 ORDER BY created_at DESC, id DESC LIMIT ?8 + 0"
            ),
            None,
        ),
    };
    let mut statement = c.prepare_cached(sql)?;
    let scores = statement
        .query_map(
            params![
                query.project_id,
                from,
                before_at,
                before_id,
                query.name,
                query.source,
                driver,
                i64::from(query.limit)
            ],
            rows::score,
        )?
        .collect::<Result<_, _>>()?;
    Ok(scores)
}

pub(super) fn threads_by_creation(c: &Connection, query: &ThreadCreationQuery) -> StoreResult<Vec<Thread>> {
    let (from, before_at, before_id) = page_bounds(query.from, query.to, query.after.as_ref());
    let sql = match query.workspace_id {
        Some(_) => concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads WHERE project_id = ?1 AND workspace_id = ?5 AND created_at >= ?2 \
             AND (created_at, id) < (?3, ?4) ORDER BY created_at DESC, id DESC LIMIT ?6 + 0"
        ),
        None => concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads WHERE project_id = ?1 AND ?5 IS NULL AND created_at >= ?2 \
             AND (created_at, id) < (?3, ?4) ORDER BY created_at DESC, id DESC LIMIT ?6 + 0"
        ),
    };
    let mut statement = c.prepare_cached(sql)?;
    let threads = statement
        .query_map(
            params![query.project_id, from, before_at, before_id, query.workspace_id, i64::from(query.limit)],
            rows::thread,
        )?
        .collect::<Result<_, _>>()?;
    Ok(threads)
}

fn run_usage(row: &rusqlite::Row) -> rusqlite::Result<RunUsage> {
    Ok(RunUsage {
        day: row.get(0)?,
        provider: row.get(1)?,
        model_id: row.get(2)?,
        runs: row.get(3)?,
        errors: row.get(4)?,
        input_tokens: row.get(5)?,
        cached_input_tokens: row.get(6)?,
        output_tokens: row.get(7)?,
        reasoning_tokens: row.get(8)?,
        cost_usd: row.get(9)?,
    })
}

/// Run totals per day (and provider and model), and messages per day, of `[from, to)`.
pub(super) fn usage_by_day(
    c: &Connection,
    project_id: &str,
    from: Millis,
    to: Millis,
    by_model: bool,
) -> StoreResult<(Vec<RunUsage>, Vec<MessageUsage>)> {
    let sql = if by_model {
        "SELECT (created_at - ?2) / 86400000 AS day, provider, model_id, COUNT(*), \
         SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), COALESCE(SUM(input_tokens), 0), \
         COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), \
         COALESCE(SUM(cost_usd), 0.0) \
         FROM runs WHERE project_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY day, provider, model_id"
    } else {
        "SELECT (created_at - ?2) / 86400000 AS day, NULL, NULL, COUNT(*), \
         SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), COALESCE(SUM(input_tokens), 0), \
         COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), \
         COALESCE(SUM(cost_usd), 0.0) \
         FROM runs WHERE project_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY day"
    };
    let runs = c.prepare_cached(sql)?.query_map(params![project_id, from, to], run_usage)?.collect::<Result<_, _>>()?;
    if by_model {
        return Ok((runs, Vec::new()));
    }
    // CROSS JOIN keeps messages outer: SQLite then reads only the range's
    // messages (messages_by_creation), not every message of the project.
    let messages = c
        .prepare_cached(
            "SELECT (m.created_at - ?2) / 86400000 AS day, COUNT(*), COUNT(DISTINCT t.workspace_id) \
             FROM messages m CROSS JOIN threads t ON t.id = m.thread_id \
             WHERE t.project_id = ?1 AND m.created_at >= ?2 AND m.created_at < ?3 GROUP BY day",
        )?
        .query_map(params![project_id, from, to], |row| {
            Ok(MessageUsage { day: row.get(0)?, messages: row.get(1)?, active_users: row.get(2)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok((runs, messages))
}

pub(super) fn usage_totals(c: &Connection, project_id: &str, from: Millis, to: Millis) -> StoreResult<UsageTotals> {
    let runs = c
        .prepare_cached(
            "SELECT 0, NULL, NULL, COUNT(*), COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(output_tokens), 0), \
             COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_usd), 0.0) \
             FROM runs WHERE project_id = ?1 AND created_at >= ?2 AND created_at < ?3",
        )?
        .query_row(params![project_id, from, to], run_usage)?;
    let (messages, active_users): (i64, i64) = c
        .prepare_cached(
            "SELECT COUNT(*), COUNT(DISTINCT t.workspace_id) \
             FROM messages m CROSS JOIN threads t ON t.id = m.thread_id \
             WHERE t.project_id = ?1 AND m.created_at >= ?2 AND m.created_at < ?3",
        )?
        .query_row(params![project_id, from, to], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let titled_threads = c
        .prepare_cached(
            "SELECT COUNT(*) FROM threads WHERE project_id = ?1 AND created_at >= ?2 AND created_at < ?3 \
             AND title IS NOT NULL AND NOT title_from_user",
        )?
        .query_row(params![project_id, from, to], |row| row.get(0))?;
    Ok(UsageTotals { messages, active_users, runs, titled_threads })
}

/// Moves up to `limit` run reports an earlier release kept as raw telemetry
/// into `runs` (ids kept, so scores on them stay attached); returns how many.
pub(super) fn move_legacy_reports(c: &Connection, limit: u32) -> StoreResult<usize> {
    type Legacy = (String, String, String, String, Option<String>, String, String, i64);
    let legacy: Vec<Legacy> = c
        .prepare_cached(
            "SELECT id, project_id, workspace_id, user_id, thread_id, kind, body, created_at FROM telemetry \
             WHERE record_type = 'run' LIMIT ?1 + 0",
        )?
        .query_map([i64::from(limit)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
        })?
        .collect::<Result<_, _>>()?;
    for (id, project_id, workspace_id, user_id, thread_id, status, body, created_at) in &legacy {
        let scope = threadhold_domain::model::WorkspaceScope {
            project_id: project_id.clone(),
            workspace_id: workspace_id.clone(),
        };
        let run =
            report::from_legacy(body, thread_id.as_deref(), status).into_run(id.clone(), scope, user_id, *created_at);
        insert_or_merge(c, &run)?;
        c.prepare_cached("DELETE FROM telemetry WHERE id = ?1")?.execute([id])?;
    }
    Ok(legacy.len())
}
