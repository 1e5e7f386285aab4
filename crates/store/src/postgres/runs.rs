//! Runs: client reports and trace spans merged by trace id, the spans of a
//! run, keyset pages of runs, scores and threads for the project read API,
//! and usage totals.
//!
//! Pages are `created_at DESC, id DESC` with the bounds always bound (see
//! [`page_bounds`]), so each listing is one constant statement per index it
//! can be driven by. Writes to one trace's run take a transaction-scoped
//! advisory lock on the trace, so nodes merging reports and spans of one
//! trace take turns.

use std::collections::HashSet;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use threadhold_domain::Millis;
use threadhold_domain::dashboard::Activity;
use threadhold_domain::model::{
    MessageUsage, Position, Run, RunQuery, RunUsage, ScoreAfter, ScoreQuery, ScoreRecord, SpanRecord, Thread,
    ThreadCreationQuery, TraceBatch, TraceOutcome, UsageTotals, WorkspaceScope,
};
use threadhold_domain::telemetry::{report, trace};

use super::dashboard::count_activity;
use super::rows::{self, run_columns, score_columns, span_columns, thread_columns};
use crate::shared::{list_json, page_bounds};
use crate::{ReadScope, StoreError, StoreResult};

/// Legacy run reports moved per transaction when an older database is opened.
pub(super) const LEGACY_BATCH: u32 = 500;

pub(super) async fn get(c: &mut PgConnection, project_id: &str, id: &str) -> StoreResult<Option<Run>> {
    let row = sqlx::query(concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1 AND project_id = $2"))
        .bind(id)
        .bind(project_id)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::run).transpose()?)
}

/// The run of a trace, after taking the trace's lock for this transaction.
async fn lock_trace(c: &mut PgConnection, project_id: &str, trace_id: &str) -> StoreResult<Option<Run>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("run-trace/{project_id}/{trace_id}"))
        .execute(&mut *c)
        .await?;
    let row = sqlx::query(concat!("SELECT ", run_columns!(), " FROM runs WHERE project_id = $1 AND trace_id = $2"))
        .bind(project_id)
        .bind(trace_id)
        .fetch_optional(c)
        .await?;
    Ok(row.as_ref().map(rows::run).transpose()?)
}

/// Inserts the run, or replaces every column but its project and creation time.
async fn save(c: &mut PgConnection, run: &Run) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO runs (",
        run_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36) \
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
    ))
    .bind(&run.id)
    .bind(&run.scope.project_id)
    .bind(&run.scope.workspace_id)
    .bind(&run.thread_id)
    .bind(&run.message_id)
    .bind(&run.created_by)
    .bind(&run.status)
    .bind(&run.outcome_type)
    .bind(&run.error_code)
    .bind(&run.error)
    .bind(&run.provider)
    .bind(&run.model_id)
    .bind(&run.environment)
    .bind(&run.release)
    .bind(list_json(&run.tags))
    .bind(&run.attributes)
    .bind(&run.trace_id)
    .bind(&run.root_span_id)
    .bind(&run.service_name)
    .bind(&run.agent_name)
    .bind(run.input_tokens)
    .bind(run.cached_input_tokens)
    .bind(run.output_tokens)
    .bind(run.reasoning_tokens)
    .bind(run.duration_ms)
    .bind(run.first_token_ms)
    .bind(run.cost_usd)
    .bind(&run.cost_details)
    .bind(run.total_steps)
    .bind(&run.output_text)
    .bind(&run.steps)
    .bind(&run.tool_calls)
    .bind(run.reported)
    .bind(run.traced)
    .bind(run.created_at)
    .bind(run.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Inserts a reported run, or merges it into the run of its trace id.
async fn insert_or_merge(c: &mut PgConnection, run: &Run) -> StoreResult<String> {
    if let Some(trace_id) = &run.trace_id
        && let Some(existing) = lock_trace(c, &run.scope.project_id, trace_id).await?
    {
        save(c, &report::merge(&existing, run.clone(), run.updated_at)).await?;
        return Ok(existing.id);
    }
    save(c, run).await?;
    Ok(run.id.clone())
}

/// A client's report: its thread must be in its workspace and its message in the thread.
pub(super) async fn record(c: &mut PgConnection, run: &Run) -> StoreResult<String> {
    let thread_id = run.thread_id.as_deref().ok_or(StoreError::ThreadNotFound)?;
    super::threads::require_in_scope(c, &run.scope, thread_id).await?;
    if let Some(message_id) = &run.message_id {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $1 AND thread_id = $2")
            .bind(message_id)
            .bind(thread_id)
            .fetch_optional(&mut *c)
            .await?;
        if found.is_none() {
            return Err(StoreError::MessageNotFound);
        }
    }
    let id = insert_or_merge(c, run).await?;
    if id == run.id {
        count_activity(c, &run.scope.project_id, run.created_at, Activity::Run, 1).await?;
    }
    Ok(id)
}

pub(super) async fn spans(c: &mut PgConnection, project_id: &str, run_id: &str) -> StoreResult<Vec<SpanRecord>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        span_columns!(),
        " FROM spans WHERE run_id = (SELECT id FROM runs WHERE id = $1 AND project_id = $2) \
         ORDER BY started_at IS NULL, started_at, span_id"
    ))
    .bind(run_id)
    .bind(project_id)
    .fetch_all(c)
    .await?;
    Ok(found.iter().map(rows::span).collect::<Result<_, _>>()?)
}

async fn save_span(c: &mut PgConnection, run_id: &str, span: &SpanRecord) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO spans (run_id, ",
        span_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26) \
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
    ))
    .bind(run_id)
    .bind(&span.trace_id)
    .bind(&span.span_id)
    .bind(&span.parent_span_id)
    .bind(&span.name)
    .bind(&span.operation)
    .bind(&span.span_type)
    .bind(&span.provider)
    .bind(&span.model_id)
    .bind(&span.tool_name)
    .bind(&span.tool_call_id)
    .bind(&span.tool_source)
    .bind(span.input_tokens)
    .bind(span.cached_input_tokens)
    .bind(span.output_tokens)
    .bind(span.reasoning_tokens)
    .bind(span.started_at)
    .bind(span.ended_at)
    .bind(span.first_chunk_ms)
    .bind(&span.status_code)
    .bind(&span.error)
    .bind(&span.error_type)
    .bind(&span.finish_reason)
    .bind(&span.input)
    .bind(&span.output)
    .bind(&span.attributes)
    .execute(c)
    .await?;
    Ok(())
}

/// Stores one trace's spans for its run (made on the first export), then
/// brings the run up to date from every stored span of the trace.
pub(super) async fn record_trace(c: &mut PgConnection, batch: &TraceBatch) -> StoreResult<TraceOutcome> {
    let project_id = &batch.scope.project_id;
    let (run, stored) = match lock_trace(c, project_id, &batch.trace_id).await? {
        Some(run) => {
            let ids: Vec<String> = sqlx::query_scalar("SELECT span_id FROM spans WHERE run_id = $1")
                .bind(&run.id)
                .fetch_all(&mut *c)
                .await?;
            (run, ids.into_iter().collect::<HashSet<String>>())
        }
        None => {
            let run = trace::new_trace_run(batch);
            save(c, &run).await?;
            count_activity(c, &batch.scope.project_id, run.created_at, Activity::Run, 1).await?;
            (run, HashSet::new())
        }
    };
    let (kept, rejected) = trace::admit(&stored, &batch.spans);
    for span in &kept {
        save_span(c, &run.id, span).await?;
    }
    let all = spans(c, project_id, &run.id).await?;
    let thread: Option<Thread> = match &batch.hints.conversation_id {
        Some(id) if run.thread_id.is_none() => {
            super::threads::get(c, &ReadScope { project_id: project_id.clone(), workspace_id: None }, id).await?
        }
        _ => None,
    };
    let run_id = run.id.clone();
    save(c, &trace::finish(run, &all, thread.as_ref(), &batch.hints, batch.now)).await?;
    Ok(TraceOutcome { run_id, accepted: kept.len(), rejected })
}

/// Filters every run page applies; `$3, $4` is the keyset bound.
macro_rules! run_filters {
    () => {
        " AND created_at >= $2 AND (created_at, id) < ($3, $4) \
         AND ($5::text IS NULL OR status = $5) AND ($6::text IS NULL OR outcome_type = $6) \
         AND ($7::text IS NULL OR model_id = $7) AND ($8::text IS NULL OR provider = $8) \
         AND ($9::text IS NULL OR environment = $9) AND ($10::text IS NULL OR release = $10) \
         AND ($11::text IS NULL OR workspace_id = $11) \
         AND ($12::text IS NULL OR tags::jsonb @> jsonb_build_array($12::text))"
    };
}

pub(super) async fn list(c: &mut PgConnection, query: &RunQuery) -> StoreResult<Vec<Run>> {
    let (from, before_at, before_id) = page_bounds(query.from, query.to, query.after.as_ref());
    let (sql, driver) = match (&query.thread_id, &query.created_by) {
        (Some(thread_id), created_by) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = $1 AND thread_id = $13 AND ($14::text IS NULL OR created_by = $14)",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT $15"
            ),
            (Some(thread_id), created_by.as_ref()),
        ),
        (None, Some(created_by)) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = $1 AND created_by = $13 AND $14::text IS NULL",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT $15"
            ),
            (Some(created_by), None),
        ),
        (None, None) => (
            concat!(
                "SELECT ",
                run_columns!(),
                " FROM runs WHERE project_id = $1 AND $13::text IS NULL AND $14::text IS NULL",
                run_filters!(),
                " ORDER BY created_at DESC, id DESC LIMIT $15"
            ),
            (None, None),
        ),
    };
    let found = sqlx::query(sql)
        .bind(&query.project_id)
        .bind(from)
        .bind(before_at)
        .bind(before_id)
        .bind(&query.status)
        .bind(&query.outcome_type)
        .bind(&query.model_id)
        .bind(&query.provider)
        .bind(&query.environment)
        .bind(&query.release)
        .bind(&query.workspace_id)
        .bind(&query.tag)
        .bind(driver.0)
        .bind(driver.1)
        .bind(i64::from(query.limit))
        .fetch_all(c)
        .await?;
    Ok(found.iter().map(rows::run).collect::<Result<_, _>>()?)
}

pub(super) async fn list_scores(c: &mut PgConnection, query: &ScoreQuery) -> StoreResult<Vec<ScoreRecord>> {
    let after = match &query.after {
        None => None,
        Some(ScoreAfter::Position(position)) => Some(position.clone()),
        Some(ScoreAfter::Id(id)) => {
            let found: Option<(i64, String)> =
                sqlx::query_as("SELECT created_at, id FROM scores WHERE id = $1 AND project_id = $2")
                    .bind(id)
                    .bind(&query.project_id)
                    .fetch_optional(&mut *c)
                    .await?;
            // An unknown score gives an empty page, the clean stop.
            match found {
                Some((created_at, id)) => Some(Position { created_at, id }),
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
                " FROM scores WHERE project_id = $1 AND thread_id = $7 AND created_at >= $2 \
                 AND (created_at, id) < ($3, $4) AND ($5::text IS NULL OR name = $5) \
                 AND ($6::text IS NULL OR source = $6) ORDER BY created_at DESC, id DESC LIMIT $8"
            ),
            Some(thread_id),
        ),
        (None, Some(run_id)) => (
            concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE project_id = $1 AND target_id = $7 AND target_type = 'run' AND created_at >= $2 \
                 AND (created_at, id) < ($3, $4) AND ($5::text IS NULL OR name = $5) \
                 AND ($6::text IS NULL OR source = $6) ORDER BY created_at DESC, id DESC LIMIT $8"
            ),
            Some(run_id),
        ),
        (None, None) => (
            concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE project_id = $1 AND $7::text IS NULL AND created_at >= $2 \
                 AND (created_at, id) < ($3, $4) AND ($5::text IS NULL OR name = $5) \
                 AND ($6::text IS NULL OR source = $6) ORDER BY created_at DESC, id DESC LIMIT $8"
            ),
            None,
        ),
    };
    let found = sqlx::query(sql)
        .bind(&query.project_id)
        .bind(from)
        .bind(before_at)
        .bind(before_id)
        .bind(&query.name)
        .bind(&query.source)
        .bind(driver)
        .bind(i64::from(query.limit))
        .fetch_all(c)
        .await?;
    Ok(found.iter().map(rows::score).collect::<Result<_, _>>()?)
}

pub(super) async fn threads_by_creation(c: &mut PgConnection, query: &ThreadCreationQuery) -> StoreResult<Vec<Thread>> {
    let (from, before_at, before_id) = page_bounds(query.from, query.to, query.after.as_ref());
    let sql = match query.workspace_id {
        Some(_) => concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads WHERE project_id = $1 AND workspace_id = $5 AND created_at >= $2 \
             AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $6"
        ),
        None => concat!(
            "SELECT ",
            thread_columns!(),
            " FROM threads WHERE project_id = $1 AND $5::text IS NULL AND created_at >= $2 \
             AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $6"
        ),
    };
    let found = sqlx::query(sql)
        .bind(&query.project_id)
        .bind(from)
        .bind(before_at)
        .bind(before_id)
        .bind(&query.workspace_id)
        .bind(i64::from(query.limit))
        .fetch_all(c)
        .await?;
    Ok(found.iter().map(rows::thread).collect::<Result<_, _>>()?)
}

fn run_usage(row: &PgRow) -> sqlx::Result<RunUsage> {
    use sqlx::Row;
    Ok(RunUsage {
        day: row.try_get(0)?,
        provider: row.try_get(1)?,
        model_id: row.try_get(2)?,
        runs: row.try_get(3)?,
        errors: row.try_get(4)?,
        input_tokens: row.try_get(5)?,
        cached_input_tokens: row.try_get(6)?,
        output_tokens: row.try_get(7)?,
        reasoning_tokens: row.try_get(8)?,
        cost_usd: row.try_get(9)?,
    })
}

/// Run totals per day (and provider and model), and messages per day, of `[from, to)`.
pub(super) async fn usage_by_day(
    c: &mut PgConnection,
    project_id: &str,
    from: Millis,
    to: Millis,
    by_model: bool,
) -> StoreResult<(Vec<RunUsage>, Vec<MessageUsage>)> {
    let sql = if by_model {
        "SELECT (created_at - $2) / 86400000 AS day, provider, model_id, COUNT(*), \
         SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END)::bigint, COALESCE(SUM(input_tokens), 0)::bigint, \
         COALESCE(SUM(cached_input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint, \
         COALESCE(SUM(reasoning_tokens), 0)::bigint, COALESCE(SUM(cost_usd), 0)::double precision \
         FROM runs WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY day, provider, model_id"
    } else {
        "SELECT (created_at - $2) / 86400000 AS day, NULL::text, NULL::text, COUNT(*), \
         SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END)::bigint, COALESCE(SUM(input_tokens), 0)::bigint, \
         COALESCE(SUM(cached_input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint, \
         COALESCE(SUM(reasoning_tokens), 0)::bigint, COALESCE(SUM(cost_usd), 0)::double precision \
         FROM runs WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY day"
    };
    let found = sqlx::query(sql).bind(project_id).bind(from).bind(to).fetch_all(&mut *c).await?;
    let runs = found.iter().map(run_usage).collect::<Result<_, _>>()?;
    if by_model {
        return Ok((runs, Vec::new()));
    }
    let messages: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (m.created_at - $2) / 86400000 AS day, COUNT(*), COUNT(DISTINCT t.workspace_id) \
         FROM messages m JOIN threads t ON t.id = m.thread_id \
         WHERE t.project_id = $1 AND m.created_at >= $2 AND m.created_at < $3 GROUP BY day",
    )
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?;
    let messages = messages
        .into_iter()
        .map(|(day, messages, active_users)| MessageUsage { day, messages, active_users })
        .collect();
    Ok((runs, messages))
}

pub(super) async fn usage_totals(
    c: &mut PgConnection,
    project_id: &str,
    from: Millis,
    to: Millis,
) -> StoreResult<UsageTotals> {
    let row = sqlx::query(
        "SELECT 0::bigint, NULL::text, NULL::text, COUNT(*), \
         COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0)::bigint, \
         COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(cached_input_tokens), 0)::bigint, \
         COALESCE(SUM(output_tokens), 0)::bigint, COALESCE(SUM(reasoning_tokens), 0)::bigint, \
         COALESCE(SUM(cost_usd), 0)::double precision \
         FROM runs WHERE project_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *c)
    .await?;
    let runs = run_usage(&row)?;
    let (messages, active_users): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT t.workspace_id) FROM messages m JOIN threads t ON t.id = m.thread_id \
         WHERE t.project_id = $1 AND m.created_at >= $2 AND m.created_at < $3",
    )
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *c)
    .await?;
    let titled_threads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM threads WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 \
         AND title IS NOT NULL AND NOT title_from_user",
    )
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_one(c)
    .await?;
    Ok(UsageTotals { messages, active_users, runs, titled_threads })
}

/// Moves up to `limit` run reports an earlier release kept as raw telemetry
/// into `runs` (ids kept, so scores on them stay attached); returns how many.
/// Nodes starting together skip each other's rows.
pub(super) async fn move_legacy_reports(c: &mut PgConnection, limit: u32) -> StoreResult<usize> {
    type Legacy = (String, String, String, String, Option<String>, String, String, i64);
    let legacy: Vec<Legacy> = sqlx::query_as(
        "SELECT id, project_id, workspace_id, user_id, thread_id, kind, body, created_at FROM telemetry \
         WHERE record_type = 'run' LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    for (id, project_id, workspace_id, user_id, thread_id, status, body, created_at) in &legacy {
        let scope = WorkspaceScope { project_id: project_id.clone(), workspace_id: workspace_id.clone() };
        let run =
            report::from_legacy(body, thread_id.as_deref(), status).into_run(id.clone(), scope, user_id, *created_at);
        insert_or_merge(c, &run).await?;
        sqlx::query("DELETE FROM telemetry WHERE id = $1").bind(id).execute(&mut *c).await?;
    }
    Ok(legacy.len())
}
