//! JSON of the project read API, shared with the MCP tools: runs and their
//! spans, scores, usage. Field names and presence follow the hosted service's
//! project objects; a value threadhold does not know is `null`.

use serde::Serialize;
use threadhold_domain::model::{Run, RunUsage, ScoreRecord, UsageTotals};
use threadhold_domain::telemetry::trace::ArrangedSpan;
use threadhold_domain::telemetry::usage::{DailyUsage, Period};
use threadhold_domain::{Millis, format_ms};

use crate::views::StoredJson;

/// The project run object.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunView<'a> {
    id: &'a str,
    workspace_id: &'a str,
    thread_id: Option<&'a str>,
    message_id: Option<&'a str>,
    created_by: Option<&'a str>,
    status: Option<&'a str>,
    outcome_type: Option<&'a str>,
    error_code: Option<&'a str>,
    error: Option<&'a str>,
    provider: Option<&'a str>,
    model_id: Option<&'a str>,
    environment: Option<&'a str>,
    release: Option<&'a str>,
    tags: &'a [String],
    /// The same object as `attributes` (the SDK's older name).
    metadata: StoredJson<'a>,
    attributes: StoredJson<'a>,
    trace_id: Option<&'a str>,
    root_span_id: Option<&'a str>,
    service_name: Option<&'a str>,
    agent_name: Option<&'a str>,
    usage_details: Option<()>,
    cost_details: Option<StoredJson<'a>>,
    input_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    duration_ms: Option<i64>,
    first_token_ms: Option<i64>,
    cost_usd: Option<f64>,
    total_steps: Option<i64>,
    assistant_id: Option<()>,
    created_at: String,
    updated_at: String,
}

impl<'a> From<&'a Run> for RunView<'a> {
    fn from(run: &'a Run) -> Self {
        RunView {
            id: &run.id,
            workspace_id: &run.scope.workspace_id,
            thread_id: run.thread_id.as_deref(),
            message_id: run.message_id.as_deref(),
            created_by: run.created_by.as_deref(),
            status: run.status.as_deref(),
            outcome_type: run.outcome_type.as_deref(),
            error_code: run.error_code.as_deref(),
            error: run.error.as_deref(),
            provider: run.provider.as_deref(),
            model_id: run.model_id.as_deref(),
            environment: run.environment.as_deref(),
            release: run.release.as_deref(),
            tags: &run.tags,
            metadata: StoredJson(&run.attributes),
            attributes: StoredJson(&run.attributes),
            trace_id: run.trace_id.as_deref(),
            root_span_id: run.root_span_id.as_deref(),
            service_name: run.service_name.as_deref(),
            agent_name: run.agent_name.as_deref(),
            usage_details: None,
            cost_details: run.cost_details.as_deref().map(StoredJson),
            input_tokens: run.input_tokens,
            cached_input_tokens: run.cached_input_tokens,
            output_tokens: run.output_tokens,
            reasoning_tokens: run.reasoning_tokens,
            duration_ms: run.duration_ms,
            first_token_ms: run.first_token_ms,
            cost_usd: run.cost_usd,
            total_steps: run.total_steps,
            assistant_id: None,
            created_at: format_ms(run.created_at),
            updated_at: format_ms(run.updated_at),
        }
    }
}

/// The project span object.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpanView<'a> {
    id: &'a str,
    run_id: &'a str,
    parent_span_id: Option<&'a str>,
    created_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    name: &'a str,
    operation: Option<&'a str>,
    provider: Option<&'a str>,
    tool_call_id: Option<&'a str>,
    status_code: Option<&'a str>,
    error_type: Option<&'a str>,
    attributes: StoredJson<'a>,
    span_index: usize,
    #[serde(rename = "type")]
    span_type: &'a str,
    step_type: Option<&'a str>,
    model_id: Option<&'a str>,
    tool_name: Option<&'a str>,
    tool_source: Option<&'a str>,
    input_tokens: Option<i64>,
    cached_input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    finish_reason: Option<&'a str>,
    status: &'static str,
    error: Option<&'a str>,
    cost_usd: Option<()>,
    usage_details: Option<()>,
    cost_details: Option<()>,
    input: Option<&'a str>,
    output: Option<&'a str>,
}

fn span_view<'a>(run: &'a Run, arranged: &'a ArrangedSpan) -> SpanView<'a> {
    let span = &arranged.span;
    let exported = !span.trace_id.is_empty();
    let at = |ms: Option<Millis>| ms.map(format_ms);
    SpanView {
        id: &arranged.id,
        run_id: &run.id,
        parent_span_id: span.parent_span_id.as_deref(),
        created_at: format_ms(run.created_at),
        started_at: at(span.started_at),
        ended_at: at(span.ended_at),
        trace_id: exported.then_some(span.trace_id.as_str()),
        span_id: exported.then_some(span.span_id.as_str()),
        name: &span.name,
        operation: span.operation.as_deref(),
        provider: span.provider.as_deref(),
        tool_call_id: span.tool_call_id.as_deref(),
        status_code: span.status_code.as_deref(),
        error_type: span.error_type.as_deref(),
        attributes: StoredJson(&span.attributes),
        span_index: arranged.index,
        span_type: &span.span_type,
        step_type: arranged.step_type,
        model_id: span.model_id.as_deref(),
        tool_name: span.tool_name.as_deref(),
        tool_source: span.tool_source.as_deref(),
        input_tokens: span.input_tokens,
        cached_input_tokens: span.cached_input_tokens,
        output_tokens: span.output_tokens,
        reasoning_tokens: span.reasoning_tokens,
        start_ms: arranged.start_ms,
        end_ms: arranged.end_ms,
        finish_reason: span.finish_reason.as_deref(),
        status: if span.status_code.as_deref() == Some("error") || span.error.is_some() {
            "error"
        } else {
            "completed"
        },
        error: span.error.as_deref(),
        cost_usd: None,
        usage_details: None,
        cost_details: None,
        input: span.input.as_deref(),
        output: span.output.as_deref(),
    }
}

/// `{"runs": [...], "next_cursor": …}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunPageView<'a> {
    runs: Vec<RunView<'a>>,
    next_cursor: Option<&'a str>,
}

pub fn run_page<'a>(runs: &'a [Run], next_cursor: Option<&'a str>) -> RunPageView<'a> {
    RunPageView { runs: runs.iter().map(RunView::from).collect(), next_cursor }
}

/// The run object plus `spans`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunDetailView<'a> {
    #[serde(flatten)]
    run: RunView<'a>,
    spans: Vec<SpanView<'a>>,
}

pub fn run_detail<'a>(run: &'a Run, spans: &'a [ArrangedSpan]) -> RunDetailView<'a> {
    RunDetailView { run: RunView::from(run), spans: spans.iter().map(|span| span_view(run, span)).collect() }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScoreView<'a> {
    id: &'a str,
    workspace_id: &'a str,
    thread_id: Option<&'a str>,
    message_id: Option<&'a str>,
    run_id: Option<&'a str>,
    name: &'a str,
    data_type: &'a str,
    value: Option<f64>,
    string_value: Option<&'a str>,
    source: Option<&'a str>,
    author_id: &'a str,
    comment: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

impl<'a> From<&'a ScoreRecord> for ScoreView<'a> {
    fn from(score: &'a ScoreRecord) -> Self {
        ScoreView {
            id: &score.id,
            workspace_id: &score.workspace_id,
            thread_id: score.thread_id.as_deref(),
            message_id: score.message_id.as_deref(),
            run_id: score.run_id.as_deref(),
            name: &score.name,
            data_type: &score.data_type,
            value: score.value,
            string_value: score.string_value.as_deref(),
            source: score.source.as_deref(),
            author_id: &score.author_id,
            comment: score.comment.as_deref(),
            created_at: format_ms(score.created_at),
            updated_at: format_ms(score.updated_at),
        }
    }
}

/// `{"scores": [...]}`, with `next_cursor` only where the list pages by cursor (MCP).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScoresView<'a> {
    scores: Vec<ScoreView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Option<&'a str>>,
}

pub fn scores<'a>(scores: &'a [ScoreRecord], next_cursor: Option<Option<&'a str>>) -> ScoresView<'a> {
    ScoresView { scores: scores.iter().map(ScoreView::from).collect(), next_cursor }
}

/// One row of `GET /v1/projects/usage/daily`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DayView<'a> {
    day: &'a str,
    provider: Option<&'a str>,
    model_id: Option<&'a str>,
    runs: i64,
    errors: i64,
    input_tokens: i64,
    cached_input_tokens: i64,
    output_tokens: i64,
    reasoning_tokens: i64,
    total_tokens: i64,
    cost_usd: f64,
    /// Per day only (not per model): messages written, and the workspaces they were written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active_users: Option<i64>,
}

fn day_view<'a>(day: &'a str, runs: &'a RunUsage, people: Option<(i64, i64)>) -> DayView<'a> {
    DayView {
        day,
        provider: runs.provider.as_deref(),
        model_id: runs.model_id.as_deref(),
        runs: runs.runs,
        errors: runs.errors,
        input_tokens: runs.input_tokens,
        cached_input_tokens: runs.cached_input_tokens,
        output_tokens: runs.output_tokens,
        reasoning_tokens: runs.reasoning_tokens,
        total_tokens: runs.input_tokens + runs.output_tokens,
        cost_usd: runs.cost_usd,
        messages: people.map(|(messages, _)| messages),
        active_users: people.map(|(_, active)| active),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DaysView<'a> {
    days: Vec<DayView<'a>>,
}

pub fn days(days: &[DailyUsage]) -> DaysView<'_> {
    DaysView { days: days.iter().map(|d| day_view(&d.day, &d.runs, Some((d.messages, d.active_users)))).collect() }
}

pub fn days_by_model(rows: &[(String, RunUsage)]) -> DaysView<'_> {
    DaysView { days: rows.iter().map(|(day, runs)| day_view(day, runs, None)).collect() }
}

#[derive(Serialize, utoipa::ToSchema)]
struct TitlesView {
    used: i64,
    completed: i64,
    included: Option<i64>,
    cap: Option<i64>,
    capped_at: Option<String>,
}

/// `GET /v1/projects/usage/period`: the hosted shape, for a server without plans.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeriodView {
    plan: &'static str,
    period_start: String,
    period_end: String,
    active_users: i64,
    included: Option<i64>,
    cap: Option<i64>,
    capped_at: Option<String>,
    thread_titles: TitlesView,
    messages: i64,
    runs: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
    cost_usd: f64,
}

pub fn period(period: &Period, totals: &UsageTotals) -> PeriodView {
    PeriodView {
        plan: "self-hosted",
        period_start: format_ms(period.start),
        period_end: format_ms(period.end),
        active_users: totals.active_users,
        included: None,
        cap: None,
        capped_at: None,
        thread_titles: TitlesView {
            used: totals.titled_threads,
            completed: totals.titled_threads,
            included: None,
            cap: None,
            capped_at: None,
        },
        messages: totals.messages,
        runs: totals.runs.runs,
        errors: totals.runs.errors,
        input_tokens: totals.runs.input_tokens,
        output_tokens: totals.runs.output_tokens,
        total_tokens: totals.runs.input_tokens + totals.runs.output_tokens,
        cost_usd: totals.runs.cost_usd,
    }
}
