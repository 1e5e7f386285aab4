//! Server spans (`POST /v1/traces`): which spans are kept, what their
//! OpenTelemetry attributes mean (the GenAI semantic conventions and the AI
//! SDK's `ai.*` names), what a trace says about its run, and the span list a
//! run is read with (`GET /v1/projects/runs/{id}`): stored spans, or for a run
//! only a client reported, spans built from its steps and tool calls.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::Millis;
use crate::limits::{
    RUN_NAME_MAX_CHARS, RUN_TEXT_MAX_CHARS, RUN_TOKENS_MAX, SPAN_ATTRIBUTES_MAX_BYTES, SPANS_PER_TRACE_MAX,
};
use crate::model::{Run, SpanRecord, Thread, TraceBatch, TraceHints};
use crate::telemetry::report::UNKNOWN_USER;

/// Span name prefixes of model calls (the client's span processor forwards the same).
const MODEL_SPAN_PREFIXES: [&str; 3] = ["gen_ai.", "ai.", "llm."];
const GENERATION_OPERATIONS: [&str; 4] = ["chat", "text_completion", "embeddings", "generate_content"];

/// A span as an OTLP export carries it, whatever its encoding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtlpSpan {
    /// Lowercase hex (32 digits for a valid trace).
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub start_unix_nano: Option<u64>,
    pub end_unix_nano: Option<u64>,
    /// OTLP `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i64,
    pub status_message: Option<String>,
    pub attributes: Map<String, Value>,
}

/// True for the spans threadhold keeps: model calls by name or by a
/// `gen_ai.operation.name` attribute, with a 32-hex trace id and a 16-hex span id.
pub fn is_kept(span: &OtlpSpan) -> bool {
    let model_call = MODEL_SPAN_PREFIXES.iter().any(|prefix| span.name.starts_with(prefix))
        || span.attributes.contains_key("gen_ai.operation.name");
    model_call && is_hex(&span.trace_id, 32) && is_hex(&span.span_id, 16)
}

fn is_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|b| b.is_ascii_hexdigit()) && text.bytes().any(|b| b != b'0')
}

fn first_str(attributes: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match attributes.get(*key)? {
        Value::String(s) if !s.is_empty() => Some(cut(s, RUN_NAME_MAX_CHARS)),
        Value::Array(list) => list.iter().find_map(Value::as_str).map(|s| cut(s, RUN_NAME_MAX_CHARS)),
        _ => None,
    })
}

/// A non-negative count, at most [`RUN_TOKENS_MAX`] (so sums over a trace's spans cannot overflow).
fn first_count(attributes: &Map<String, Value>, keys: &[&str]) -> Option<i64> {
    keys.iter()
        .find_map(|key| match attributes.get(*key)? {
            Value::Number(n) => n.as_f64().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v.round() as i64),
            Value::String(s) => s.parse::<i64>().ok().filter(|v| *v >= 0),
            _ => None,
        })
        .map(|count| count.min(RUN_TOKENS_MAX))
}

/// A text attribute (JSON text for anything else), cut to the stored length.
fn first_text(attributes: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match attributes.get(*key)? {
        Value::Null => None,
        Value::String(s) => Some(cut(s, RUN_TEXT_MAX_CHARS)),
        other => Some(cut(&other.to_string(), RUN_TEXT_MAX_CHARS)),
    })
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

const INPUT_KEYS: [&str; 4] =
    ["gen_ai.input.messages", "ai.prompt.messages", "ai.prompt", "gen_ai.tool.call.arguments"];
const OUTPUT_KEYS: [&str; 4] =
    ["gen_ai.output.messages", "ai.response.text", "ai.response.toolCalls", "gen_ai.tool.call.result"];
const TOOL_ARGS_KEYS: [&str; 2] = ["gen_ai.tool.call.arguments", "ai.toolCall.args"];
const TOOL_RESULT_KEYS: [&str; 2] = ["gen_ai.tool.call.result", "ai.toolCall.result"];

/// The stored form of a kept span.
pub fn to_record(span: OtlpSpan) -> SpanRecord {
    let a = &span.attributes;
    let operation = first_str(a, &["gen_ai.operation.name", "ai.operationId"]);
    let tool_name = first_str(a, &["gen_ai.tool.name", "ai.toolCall.name"]);
    let model_id = first_str(a, &["gen_ai.response.model", "gen_ai.request.model", "ai.response.model", "ai.model.id"]);
    let is_tool = tool_name.is_some() || operation.as_deref() == Some("execute_tool");
    let span_type = if is_tool {
        "tool_call"
    } else if model_id.is_some() || operation.as_deref().is_some_and(|op| GENERATION_OPERATIONS.contains(&op)) {
        "generation"
    } else {
        "span"
    };
    let first_chunk_ms = first_count(a, &["ai.response.msToFirstChunk"]).or_else(|| {
        // The semantic conventions measure it in seconds.
        a.get("gen_ai.response.time_to_first_chunk")
            .and_then(Value::as_f64)
            .filter(|s| *s >= 0.0)
            .map(|s| (s * 1000.0).round() as i64)
    });
    let (input, output) = if is_tool {
        (first_text(a, &TOOL_ARGS_KEYS), first_text(a, &TOOL_RESULT_KEYS))
    } else {
        (first_text(a, &INPUT_KEYS), first_text(a, &OUTPUT_KEYS))
    };
    let status_code = match span.status_code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    let mut attributes = span.attributes.clone();
    for key in INPUT_KEYS.iter().chain(&OUTPUT_KEYS).chain(&TOOL_ARGS_KEYS).chain(&TOOL_RESULT_KEYS) {
        attributes.remove(*key);
    }
    SpanRecord {
        operation,
        span_type: span_type.into(),
        provider: first_str(a, &["gen_ai.provider.name", "gen_ai.system", "ai.model.provider"]),
        tool_call_id: first_str(a, &["gen_ai.tool.call.id", "ai.toolCall.id"]),
        tool_source: None,
        input_tokens: first_count(a, &["gen_ai.usage.input_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens"]),
        cached_input_tokens: first_count(a, &["gen_ai.usage.cache_read.input_tokens", "ai.usage.cachedInputTokens"]),
        output_tokens: first_count(
            a,
            &["gen_ai.usage.output_tokens", "ai.usage.outputTokens", "ai.usage.completionTokens"],
        ),
        reasoning_tokens: first_count(a, &["gen_ai.usage.reasoning.output_tokens", "ai.usage.reasoningTokens"]),
        started_at: span.start_unix_nano.filter(|ns| *ns > 0).map(nanos_to_ms),
        ended_at: span.end_unix_nano.filter(|ns| *ns > 0).map(nanos_to_ms),
        first_chunk_ms,
        status_code: Some(status_code.into()),
        error: span.status_message.filter(|m| !m.is_empty()).map(|m| cut(&m, RUN_TEXT_MAX_CHARS)),
        error_type: first_str(a, &["error.type"]),
        finish_reason: first_str(a, &["gen_ai.response.finish_reasons", "ai.response.finishReason"]),
        input,
        output,
        attributes: capped_attributes(attributes),
        trace_id: span.trace_id.to_ascii_lowercase(),
        span_id: span.span_id.to_ascii_lowercase(),
        parent_span_id: span.parent_span_id.filter(|id| is_hex(id, 16)).map(|id| id.to_ascii_lowercase()),
        name: cut(&span.name, RUN_NAME_MAX_CHARS),
        model_id,
        tool_name,
    }
}

fn nanos_to_ms(nanos: u64) -> Millis {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Attributes as JSON text of at most [`SPAN_ATTRIBUTES_MAX_BYTES`]: the
/// largest entries go first, and `truncated: true` says so.
pub fn capped_attributes(mut attributes: Map<String, Value>) -> String {
    let mut text = Value::Object(attributes.clone()).to_string();
    if text.len() <= SPAN_ATTRIBUTES_MAX_BYTES {
        return text;
    }
    let mut sizes: Vec<(usize, String)> =
        attributes.iter().map(|(key, value)| (key.len() + value.to_string().len(), key.clone())).collect();
    sizes.sort();
    while text.len() > SPAN_ATTRIBUTES_MAX_BYTES {
        let Some((_, key)) = sizes.pop() else { break };
        attributes.remove(&key);
        attributes.insert("truncated".into(), Value::Bool(true));
        text = Value::Object(attributes.clone()).to_string();
    }
    text
}

/// Adds what a span and its resource say about the run to `hints` (first values win).
pub fn note_hints(hints: &mut TraceHints, resource: &Map<String, Value>, span: &Map<String, Value>) {
    fn fill(slot: &mut Option<String>, value: Option<String>) {
        if slot.is_none() {
            *slot = value;
        }
    }
    fill(&mut hints.conversation_id, first_str(span, &["gen_ai.conversation.id"]));
    fill(&mut hints.user_id, first_str(span, &["user.id", "enduser.id"]));
    fill(&mut hints.agent_name, first_str(span, &["gen_ai.agent.name"]));
    fill(&mut hints.service_name, first_str(resource, &["service.name"]));
    fill(&mut hints.release, first_str(resource, &["service.version"]));
    fill(&mut hints.environment, first_str(resource, &["deployment.environment.name", "deployment.environment"]));
}

/// The spans an export holds for one resource (whose attributes, such as
/// `service.name`, apply to all of them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceSpans {
    pub attributes: Map<String, Value>,
    pub spans: Vec<OtlpSpan>,
}

/// The kept spans of one trace in an export, with what they say about its run.
#[derive(Debug, Clone, PartialEq)]
pub struct TracePart {
    pub trace_id: String,
    pub spans: Vec<SpanRecord>,
    pub hints: TraceHints,
}

/// Groups an export's kept spans by trace (in the order traces first appear);
/// returns them and how many spans were not kept.
pub fn split_export(resources: Vec<ResourceSpans>) -> (Vec<TracePart>, usize) {
    let mut parts: Vec<TracePart> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut rejected = 0;
    for resource in resources {
        for span in resource.spans {
            if !is_kept(&span) {
                rejected += 1;
                continue;
            }
            let trace_id = span.trace_id.to_ascii_lowercase();
            let index = *index_of.entry(trace_id.clone()).or_insert_with(|| {
                parts.push(TracePart { trace_id, spans: Vec::new(), hints: TraceHints::default() });
                parts.len() - 1
            });
            note_hints(&mut parts[index].hints, &resource.attributes, &span.attributes);
            parts[index].spans.push(to_record(span));
        }
    }
    (parts, rejected)
}

/// What a trace's stored spans say about its run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSummary {
    pub model_id: Option<String>,
    pub provider: Option<String>,
    pub input_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub duration_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    /// Model calls that made no further model call (the steps).
    pub steps: i64,
    /// An error status on a root span fails the run.
    pub failed: bool,
    pub error_type: Option<String>,
    pub error: Option<String>,
    pub finish_reason: Option<String>,
    pub root_span_id: Option<String>,
}

/// Sums usage over the spans that carry it and have no descendant carrying it
/// (the AI SDK reports a call's total on the outer span and each step's on an
/// inner one; counting both would count twice).
pub fn summarize(spans: &[SpanRecord]) -> TraceSummary {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let parent_of: HashMap<&str, &str> = spans
        .iter()
        .filter_map(|s| s.parent_span_id.as_deref().filter(|p| ids.contains(p)).map(|p| (s.span_id.as_str(), p)))
        .collect();
    let has_usage = |s: &SpanRecord| {
        s.input_tokens.is_some()
            || s.output_tokens.is_some()
            || s.reasoning_tokens.is_some()
            || s.cached_input_tokens.is_some()
    };
    // Ancestors of spans with usage, and of generation spans.
    let ancestors_of = |pick: &dyn Fn(&SpanRecord) -> bool| {
        let mut marked: HashSet<&str> = HashSet::new();
        for span in spans.iter().filter(|s| pick(s)) {
            let mut at = span.span_id.as_str();
            let mut hops = 0;
            while let Some(parent) = parent_of.get(at) {
                if !marked.insert(parent) || hops > spans.len() {
                    break;
                }
                at = parent;
                hops += 1;
            }
        }
        marked
    };
    let above_usage = ancestors_of(&has_usage);
    let above_generation = ancestors_of(&|s: &SpanRecord| s.span_type == "generation");
    let mut ordered: Vec<&SpanRecord> = spans.iter().collect();
    ordered.sort_by_key(|s| (s.started_at.is_none(), s.started_at, s.span_id.clone()));
    let counted: Vec<&SpanRecord> =
        ordered.iter().copied().filter(|s| has_usage(s) && !above_usage.contains(s.span_id.as_str())).collect();
    let sum = |get: fn(&SpanRecord) -> Option<i64>| {
        let values: Vec<i64> = counted.iter().filter_map(|s| get(s)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let start = spans.iter().filter_map(|s| s.started_at).min();
    let end = spans.iter().filter_map(|s| s.ended_at).max();
    let steps: Vec<&&SpanRecord> = ordered
        .iter()
        .filter(|s| s.span_type == "generation" && !above_generation.contains(s.span_id.as_str()))
        .collect();
    let roots: Vec<&&SpanRecord> = ordered.iter().filter(|s| !parent_of.contains_key(s.span_id.as_str())).collect();
    let failed_root = roots.iter().find(|s| s.status_code.as_deref() == Some("error"));
    TraceSummary {
        model_id: ordered.iter().find_map(|s| s.model_id.clone()),
        provider: ordered.iter().find_map(|s| s.provider.clone()),
        input_tokens: sum(|s| s.input_tokens),
        cached_input_tokens: sum(|s| s.cached_input_tokens),
        output_tokens: sum(|s| s.output_tokens),
        reasoning_tokens: sum(|s| s.reasoning_tokens),
        duration_ms: start.zip(end).map(|(start, end)| (end - start).max(0)),
        first_token_ms: ordered.iter().find_map(|s| {
            let chunk = s.first_chunk_ms?;
            Some(s.started_at.zip(start).map_or(0, |(at, start)| at - start) + chunk)
        }),
        steps: steps.len() as i64,
        failed: failed_root.is_some(),
        error_type: failed_root.and_then(|s| s.error_type.clone()),
        error: failed_root.and_then(|s| s.error.clone()),
        finish_reason: steps.last().and_then(|s| s.finish_reason.clone()),
        root_span_id: roots.first().map(|s| s.span_id.clone()),
    }
}

/// Applies a trace's summary and hints to its run: spans are authoritative for
/// the model, provider, tokens and timings; until a client reported the run
/// they also give its status and outcome. The thread is set by the store,
/// which can tell whether `conversation_id` names one.
pub fn apply(run: &mut Run, summary: &TraceSummary, hints: &TraceHints) {
    macro_rules! from_spans {
        ($($field:ident),*) => { $( if summary.$field.is_some() { run.$field = summary.$field.clone(); } )* };
    }
    from_spans!(model_id, provider, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, duration_ms);
    if summary.steps > 0 {
        run.total_steps = Some(summary.steps);
    }
    if run.first_token_ms.is_none() {
        run.first_token_ms = summary.first_token_ms;
    }
    if run.root_span_id.is_none() {
        run.root_span_id = summary.root_span_id.clone();
    }
    if !run.reported {
        run.status = Some(if summary.failed { "error" } else { "completed" }.into());
        run.outcome_type = match summary.finish_reason.as_deref() {
            _ if summary.failed => None,
            Some("length") => Some("length".into()),
            Some("content-filter" | "content_filter") => Some("content_filter".into()),
            _ => None,
        };
        if summary.failed {
            run.error_code = summary.error_type.clone();
            run.error = summary.error.clone();
        }
    }
    if run.created_by.as_deref().is_none_or(|user| user == UNKNOWN_USER) && hints.user_id.is_some() {
        run.created_by = hints.user_id.clone();
    }
    macro_rules! when_absent {
        ($($field:ident),*) => { $( if run.$field.is_none() { run.$field = hints.$field.clone(); } )* };
    }
    when_absent!(service_name, release, environment, agent_name);
    run.traced = true;
}

/// Which spans of a batch its trace keeps: those it already stores (a
/// re-export replaces them) and new ones while the trace holds fewer than
/// [`SPANS_PER_TRACE_MAX`]. Returns them and how many were turned away.
pub fn admit<'a>(stored: &HashSet<String>, spans: &'a [SpanRecord]) -> (Vec<&'a SpanRecord>, usize) {
    let mut known: HashSet<&str> = stored.iter().map(String::as_str).collect();
    let mut kept = Vec::with_capacity(spans.len());
    let mut rejected = 0;
    for span in spans {
        if known.contains(span.span_id.as_str()) {
            kept.push(span);
        } else if known.len() < SPANS_PER_TRACE_MAX {
            known.insert(&span.span_id);
            kept.push(span);
        } else {
            rejected += 1;
        }
    }
    (kept, rejected)
}

/// The run of a trace that has none yet (its fields come from [`finish`]).
pub fn new_trace_run(batch: &TraceBatch) -> Run {
    Run {
        id: batch.new_run_id.clone(),
        scope: batch.scope.clone(),
        thread_id: None,
        message_id: None,
        created_by: None,
        status: None,
        outcome_type: None,
        error_code: None,
        error: None,
        provider: None,
        model_id: None,
        environment: None,
        release: None,
        tags: Vec::new(),
        attributes: "{}".into(),
        trace_id: Some(batch.trace_id.clone()),
        root_span_id: None,
        service_name: None,
        agent_name: None,
        input_tokens: None,
        cached_input_tokens: None,
        output_tokens: None,
        reasoning_tokens: None,
        duration_ms: None,
        first_token_ms: None,
        cost_usd: None,
        cost_details: None,
        total_steps: None,
        output_text: None,
        steps: None,
        tool_calls: None,
        reported: false,
        traced: false,
        created_at: batch.now,
        updated_at: batch.now,
    }
}

/// The run once its trace's spans are stored: `all` is every stored span of
/// the trace, `thread` the thread `conversation_id` names when it is one of
/// the project's (the run then joins it and its workspace; an id naming no
/// thread is kept in the run's attributes).
pub fn finish(mut run: Run, all: &[SpanRecord], thread: Option<&Thread>, hints: &TraceHints, now: Millis) -> Run {
    if run.thread_id.is_none() {
        match (thread, &hints.conversation_id) {
            (Some(thread), _) => {
                run.thread_id = Some(thread.id.clone());
                run.scope.workspace_id = thread.workspace_id.clone();
            }
            (None, Some(conversation)) => {
                if let Ok(Value::Object(mut attributes)) = serde_json::from_str::<Value>(&run.attributes) {
                    attributes.entry("gen_ai.conversation.id").or_insert_with(|| Value::String(conversation.clone()));
                    run.attributes = capped_attributes(attributes);
                }
            }
            (None, None) => {}
        }
    }
    apply(&mut run, &summarize(all), hints);
    run.updated_at = now;
    run
}

/// A span as a run is read with: its place in the run's order and its times
/// relative to the run's first span.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrangedSpan {
    /// `<trace id><span id>` for a stored span; `<run id>_<span id>` for one built from a report.
    pub id: String,
    pub span: SpanRecord,
    pub index: usize,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Model calls: `initial`, then `tool-result` when a tool ran since the
    /// previous one, else `continue`; model calls of a tool: `sampling`.
    pub step_type: Option<&'static str>,
}

/// Orders spans by start (spans without one last), then id; numbers them and
/// names the step types.
pub fn arrange(spans: Vec<(String, SpanRecord)>) -> Vec<ArrangedSpan> {
    let origin = spans.iter().filter_map(|(_, s)| s.started_at).min();
    let mut spans = spans;
    spans.sort_by(|(a_id, a), (b_id, b)| {
        (a.started_at.is_none(), a.started_at, &a.span_id, a_id).cmp(&(
            b.started_at.is_none(),
            b.started_at,
            &b.span_id,
            b_id,
        ))
    });
    let tool_ids: HashSet<String> =
        spans.iter().filter(|(_, s)| s.span_type == "tool_call").map(|(_, s)| s.span_id.clone()).collect();
    let mut seen_generation = false;
    let mut tool_since = false;
    spans
        .into_iter()
        .enumerate()
        .map(|(index, (id, span))| {
            let step_type = match span.span_type.as_str() {
                "sampling" => Some("sampling"),
                "generation" if span.parent_span_id.as_ref().is_some_and(|p| tool_ids.contains(p)) => Some("sampling"),
                "generation" => {
                    let kind = if !seen_generation {
                        "initial"
                    } else if tool_since {
                        "tool-result"
                    } else {
                        "continue"
                    };
                    seen_generation = true;
                    tool_since = false;
                    Some(kind)
                }
                "tool_call" => {
                    tool_since = true;
                    None
                }
                _ => None,
            };
            let relative = |at: Option<Millis>| at.zip(origin).map(|(at, origin)| at - origin);
            ArrangedSpan {
                start_ms: relative(span.started_at),
                end_ms: relative(span.ended_at),
                id,
                span,
                index,
                step_type,
            }
        })
        .collect()
}

/// Spans of a run only a client reported, built from its steps and tool calls
/// (with their sampling calls): times are the reported offsets from the run's start.
pub fn report_spans(run: &Run) -> Vec<(String, SpanRecord)> {
    let parse = |text: &Option<String>| -> Vec<Value> {
        text.as_deref().and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok()).unwrap_or_default()
    };
    let base = SpanRecord {
        // Built, not exported: no W3C ids.
        trace_id: String::new(),
        span_id: String::new(),
        parent_span_id: None,
        name: String::new(),
        operation: None,
        span_type: String::new(),
        provider: None,
        model_id: None,
        tool_name: None,
        tool_call_id: None,
        tool_source: None,
        input_tokens: None,
        cached_input_tokens: None,
        output_tokens: None,
        reasoning_tokens: None,
        started_at: None,
        ended_at: None,
        first_chunk_ms: None,
        status_code: None,
        error: None,
        error_type: None,
        finish_reason: None,
        input: None,
        output: None,
        attributes: "{}".into(),
    };
    let start = run.created_at - run.duration_ms.unwrap_or(0);
    let at = |item: &Value, key: &str| item.get(key).and_then(Value::as_f64).map(|ms| start + ms.round() as i64);
    let str_of = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let count = |item: &Value, key: &str| item.get(key).and_then(Value::as_f64).map(|n| n.round() as i64);
    let mut spans: Vec<(String, SpanRecord)> = Vec::new();
    let mut tools_seen: HashSet<String> = HashSet::new();
    let mut push_tool = |spans: &mut Vec<(String, SpanRecord)>, call: &Value, parent: Option<String>| {
        let number = spans.len();
        let span_id = str_of(call, "tool_call_id").unwrap_or_else(|| format!("tool-{number}"));
        if !tools_seen.insert(span_id.clone()) {
            return;
        }
        let tool_name = str_of(call, "tool_name");
        spans.push((
            format!("{}_{span_id}", run.id),
            SpanRecord {
                span_id: span_id.clone(),
                parent_span_id: parent,
                name: tool_name.clone().unwrap_or_default(),
                operation: Some("execute_tool".into()),
                span_type: "tool_call".into(),
                tool_call_id: str_of(call, "tool_call_id"),
                tool_source: str_of(call, "tool_source"),
                tool_name,
                started_at: at(call, "start_ms"),
                ended_at: at(call, "end_ms"),
                input: str_of(call, "tool_args"),
                output: str_of(call, "tool_result"),
                ..base.clone()
            },
        ));
        let samples = call.get("sampling_calls").and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, sample) in samples.iter().enumerate() {
            let sample_id = format!("{span_id}-sampling-{i}");
            spans.push((
                format!("{}_{sample_id}", run.id),
                SpanRecord {
                    span_id: sample_id,
                    parent_span_id: Some(span_id.clone()),
                    name: "sampling".into(),
                    operation: Some("chat".into()),
                    span_type: "sampling".into(),
                    model_id: str_of(sample, "model_id"),
                    input_tokens: count(sample, "input_tokens"),
                    cached_input_tokens: count(sample, "cached_input_tokens"),
                    output_tokens: count(sample, "output_tokens"),
                    reasoning_tokens: count(sample, "reasoning_tokens"),
                    ..base.clone()
                },
            ));
        }
    };
    for (i, step) in parse(&run.steps).iter().enumerate() {
        let span_id = format!("step-{i}");
        spans.push((
            format!("{}_{span_id}", run.id),
            SpanRecord {
                span_id: span_id.clone(),
                name: format!("step {}", i + 1),
                operation: Some("chat".into()),
                span_type: "generation".into(),
                provider: run.provider.clone(),
                model_id: run.model_id.clone(),
                input_tokens: count(step, "input_tokens"),
                cached_input_tokens: count(step, "cached_input_tokens"),
                output_tokens: count(step, "output_tokens"),
                reasoning_tokens: count(step, "reasoning_tokens"),
                started_at: at(step, "start_ms"),
                ended_at: at(step, "end_ms"),
                finish_reason: str_of(step, "finish_reason"),
                input: str_of(step, "input"),
                ..base.clone()
            },
        ));
        for call in step.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            push_tool(&mut spans, call, None);
        }
    }
    for call in parse(&run.tool_calls) {
        push_tool(&mut spans, &call, None);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WorkspaceScope;
    use serde_json::json;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn otlp(
        span_id: &str,
        parent: Option<&str>,
        name: &str,
        start_ms: u64,
        end_ms: u64,
        attributes: Value,
    ) -> OtlpSpan {
        OtlpSpan {
            trace_id: TRACE.into(),
            span_id: span_id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: name.into(),
            start_unix_nano: Some(start_ms * 1_000_000),
            end_unix_nano: Some(end_ms * 1_000_000),
            status_code: 0,
            status_message: None,
            attributes: attributes.as_object().cloned().unwrap_or_default(),
        }
    }

    /// The AI SDK's spans of a streamText call with one tool round: the outer
    /// call carries the total usage, each step (`doStream`) its own.
    fn ai_sdk_trace() -> Vec<SpanRecord> {
        vec![
            otlp(
                "0000000000000001",
                None,
                "ai.streamText",
                1_000,
                2_000,
                json!({
                "ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat", "ai.usage.inputTokens": 30,
                "ai.usage.outputTokens": 12, "ai.prompt": "{\"prompt\":\"hi\"}", "ai.response.text": "Hello"}),
            ),
            otlp(
                "0000000000000002",
                Some("0000000000000001"),
                "ai.streamText.doStream",
                1_010,
                1_400,
                json!({
                "ai.model.id": "gpt-4o-mini", "gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "ai.response.msToFirstChunk": 90,
                "ai.response.finishReason": "tool-calls"}),
            ),
            otlp(
                "0000000000000003",
                Some("0000000000000001"),
                "ai.toolCall",
                1_400,
                1_500,
                json!({
                "ai.toolCall.name": "weather", "ai.toolCall.id": "call_1", "ai.toolCall.args": "{\"city\":\"Oslo\"}",
                "ai.toolCall.result": "{\"c\":3}"}),
            ),
            otlp(
                "0000000000000004",
                Some("0000000000000001"),
                "ai.streamText.doStream",
                1_500,
                1_990,
                json!({
                "ai.model.id": "gpt-4o-mini", "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 7,
                "gen_ai.response.finish_reasons": ["stop"]}),
            ),
        ]
        .into_iter()
        .map(to_record)
        .collect()
    }

    #[test]
    fn absurd_counts_are_capped() {
        let spans: Vec<SpanRecord> = (1..=3u64)
            .map(|i| {
                to_record(otlp(
                    &format!("{i:016x}"),
                    None,
                    "ai.x",
                    i,
                    i + 1,
                    json!({
                    "gen_ai.usage.input_tokens": "9223372036854775807", "ai.response.msToFirstChunk": 1e300}),
                ))
            })
            .collect();
        let summary = summarize(&spans);
        assert_eq!(summary.input_tokens, Some(3 * RUN_TOKENS_MAX));
        assert!(summary.first_token_ms.is_some_and(|ms| ms <= RUN_TOKENS_MAX + 3));
    }

    #[test]
    fn which_spans_are_kept() {
        assert!(is_kept(&otlp("00f067aa0ba902b7", None, "ai.generateText", 1, 2, json!({}))));
        assert!(is_kept(&otlp("00f067aa0ba902b7", None, "chat gpt", 1, 2, json!({"gen_ai.operation.name": "chat"}))));
        assert!(!is_kept(&otlp("00f067aa0ba902b7", None, "http.request", 1, 2, json!({}))));
        let mut bad_trace = otlp("00f067aa0ba902b7", None, "ai.x", 1, 2, json!({}));
        bad_trace.trace_id = "0".repeat(32);
        assert!(!is_kept(&bad_trace));
        assert!(!is_kept(&otlp("short", None, "ai.x", 1, 2, json!({}))));
    }

    #[test]
    fn exports_split_by_trace() {
        let other = "0af7651916cd43dd8448eb211c80319c";
        let mut elsewhere = otlp("00000000000000b1", None, "ai.generateText", 1, 2, json!({"user.id": "bob"}));
        elsewhere.trace_id = other.to_uppercase();
        let resources = vec![
            ResourceSpans {
                attributes:
                    json!({"service.name": "api", "service.version": "2.0", "deployment.environment.name": "prod"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                spans: vec![
                    otlp(
                        "00000000000000a1",
                        None,
                        "ai.streamText",
                        1,
                        2,
                        json!({"gen_ai.conversation.id": "thread_1"}),
                    ),
                    elsewhere,
                    otlp("00000000000000a2", None, "http.request", 1, 2, json!({})),
                ],
            },
            ResourceSpans {
                attributes: Map::new(),
                spans: vec![otlp("00000000000000a3", None, "ai.toolCall", 1, 2, json!({}))],
            },
        ];
        let (parts, rejected) = split_export(resources);
        assert_eq!(rejected, 1);
        assert_eq!(
            parts.iter().map(|p| (p.trace_id.as_str(), p.spans.len())).collect::<Vec<_>>(),
            [(TRACE, 2), (other, 1)]
        );
        assert_eq!(parts[0].hints.conversation_id.as_deref(), Some("thread_1"));
        assert_eq!(
            (
                parts[0].hints.service_name.as_deref(),
                parts[0].hints.release.as_deref(),
                parts[0].hints.environment.as_deref()
            ),
            (Some("api"), Some("2.0"), Some("prod"))
        );
        assert_eq!(parts[1].hints.user_id.as_deref(), Some("bob"));
    }

    #[test]
    fn attributes_map_to_span_fields() {
        let spans = ai_sdk_trace();
        let (outer, step, tool) = (&spans[0], &spans[1], &spans[2]);
        assert_eq!((outer.span_type.as_str(), outer.model_id.as_deref()), ("generation", Some("gpt-4o-mini")));
        assert_eq!((outer.input.as_deref(), outer.output.as_deref()), (Some("{\"prompt\":\"hi\"}"), Some("Hello")));
        assert!(!outer.attributes.contains("ai.prompt"), "input and output are not kept twice");
        assert_eq!(
            (step.provider.as_deref(), step.input_tokens, step.first_chunk_ms),
            (Some("openai.chat"), Some(10), Some(90))
        );
        assert_eq!((step.started_at, step.ended_at), (Some(1_010), Some(1_400)));
        assert_eq!(
            (tool.span_type.as_str(), tool.tool_name.as_deref(), tool.tool_call_id.as_deref()),
            ("tool_call", Some("weather"), Some("call_1"))
        );
        assert_eq!((tool.input.as_deref(), tool.output.as_deref()), (Some("{\"city\":\"Oslo\"}"), Some("{\"c\":3}")));
        assert_eq!(spans[3].finish_reason.as_deref(), Some("stop"));
        let semconv = to_record(otlp(
            "00000000000000aa",
            None,
            "chat",
            0,
            1,
            json!({
            "gen_ai.operation.name": "chat", "gen_ai.response.time_to_first_chunk": 0.25, "error.type": "timeout"}),
        ));
        assert_eq!(
            (semconv.span_type.as_str(), semconv.first_chunk_ms, semconv.error_type.as_deref()),
            ("generation", Some(250), Some("timeout"))
        );
    }

    #[test]
    fn usage_is_counted_once_and_steps_are_the_innermost_calls() {
        let summary = summarize(&ai_sdk_trace());
        assert_eq!(
            (summary.input_tokens, summary.output_tokens),
            (Some(30), Some(12)),
            "the steps, not the outer total too"
        );
        assert_eq!(summary.steps, 2);
        assert_eq!((summary.duration_ms, summary.first_token_ms), (Some(1_000), Some(100)));
        assert_eq!(
            (summary.model_id.as_deref(), summary.finish_reason.as_deref()),
            (Some("gpt-4o-mini"), Some("stop"))
        );
        assert_eq!(summary.root_span_id.as_deref(), Some("0000000000000001"));
        assert!(!summary.failed);
        let mut failed = ai_sdk_trace();
        failed[0].status_code = Some("error".into());
        failed[0].error = Some("boom".into());
        let summary = summarize(&failed);
        assert!(summary.failed);
        assert_eq!(summary.error.as_deref(), Some("boom"));
        assert_eq!(summarize(&[]), TraceSummary::default());
    }

    fn empty_run() -> Run {
        Run {
            id: "run_1".into(),
            scope: WorkspaceScope { project_id: "p".into(), workspace_id: "__OTLP__".into() },
            thread_id: None,
            message_id: None,
            created_by: None,
            status: None,
            outcome_type: None,
            error_code: None,
            error: None,
            provider: None,
            model_id: None,
            environment: None,
            release: None,
            tags: Vec::new(),
            attributes: "{}".into(),
            trace_id: Some(TRACE.into()),
            root_span_id: None,
            service_name: None,
            agent_name: None,
            input_tokens: None,
            cached_input_tokens: None,
            output_tokens: None,
            reasoning_tokens: None,
            duration_ms: None,
            first_token_ms: None,
            cost_usd: None,
            cost_details: None,
            total_steps: None,
            output_text: None,
            steps: None,
            tool_calls: None,
            reported: false,
            traced: false,
            created_at: 1_000,
            updated_at: 1_000,
        }
    }

    #[test]
    fn spans_fill_their_run() {
        let mut run = empty_run();
        let hints = TraceHints {
            user_id: Some("alice".into()),
            service_name: Some("api".into()),
            release: Some("1.0".into()),
            environment: Some("prod".into()),
            ..TraceHints::default()
        };
        apply(&mut run, &summarize(&ai_sdk_trace()), &hints);
        assert!(run.traced);
        assert_eq!((run.status.as_deref(), run.total_steps, run.input_tokens), (Some("completed"), Some(2), Some(30)));
        assert_eq!(
            (run.created_by.as_deref(), run.service_name.as_deref(), run.release.as_deref()),
            (Some("alice"), Some("api"), Some("1.0"))
        );
        let mut reported = empty_run();
        reported.reported = true;
        reported.status = Some("incomplete".into());
        reported.environment = Some("dev".into());
        reported.created_by = Some("bob".into());
        let mut failed = ai_sdk_trace();
        failed[0].status_code = Some("error".into());
        apply(&mut reported, &summarize(&failed), &hints);
        assert_eq!(reported.status.as_deref(), Some("incomplete"), "a reported status stays");
        assert_eq!((reported.environment.as_deref(), reported.created_by.as_deref()), (Some("dev"), Some("bob")));
        assert_eq!(reported.model_id.as_deref(), Some("gpt-4o-mini"), "the spans' model wins");
    }

    #[test]
    fn spans_are_ordered_and_typed() {
        let spans: Vec<(String, SpanRecord)> =
            ai_sdk_trace().into_iter().rev().map(|s| (format!("{}{}", s.trace_id, s.span_id), s)).collect();
        let arranged = arrange(spans);
        let order: Vec<(&str, Option<i64>, Option<&str>)> =
            arranged.iter().map(|s| (s.span.span_id.as_str(), s.start_ms, s.step_type)).collect();
        assert_eq!(
            order,
            [
                ("0000000000000001", Some(0), Some("initial")),
                ("0000000000000002", Some(10), Some("continue")),
                ("0000000000000003", Some(400), None),
                ("0000000000000004", Some(500), Some("tool-result")),
            ]
        );
        assert!(arranged.iter().enumerate().all(|(i, s)| s.index == i));
    }

    #[test]
    fn a_reported_run_reads_as_spans_of_its_steps_and_tools() {
        let mut run = empty_run();
        run.duration_ms = Some(500);
        run.model_id = Some("m".into());
        run.steps = Some(json!([{"input_tokens": 3, "start_ms": 0, "end_ms": 100, "tool_calls": [{"tool_name": "t", "tool_call_id": "c1", "start_ms": 100, "end_ms": 150}]},
                                {"output_tokens": 4, "start_ms": 150, "end_ms": 500}]).to_string());
        run.tool_calls = Some(
            json!([{"tool_name": "t", "tool_call_id": "c1"},
                                     {"tool_name": "u", "sampling_calls": [{"model_id": "small", "input_tokens": 2}]}])
            .to_string(),
        );
        let arranged = arrange(report_spans(&run));
        let shape: Vec<(String, Option<i64>, Option<&str>)> =
            arranged.iter().map(|s| (s.span.span_type.clone(), s.start_ms, s.step_type)).collect();
        assert_eq!(
            shape,
            [
                ("generation".to_owned(), Some(0), Some("initial")),
                ("tool_call".to_owned(), Some(100), None),
                ("generation".to_owned(), Some(150), Some("tool-result")),
                ("tool_call".to_owned(), None, None),
                ("sampling".to_owned(), None, Some("sampling")),
            ]
        );
        assert_eq!(arranged[0].id, "run_1_step-0");
        assert_eq!(arranged[4].span.model_id.as_deref(), Some("small"));
    }

    #[test]
    fn a_trace_keeps_at_most_500_spans_and_re_exports_replace() {
        let span = |i: usize| SpanRecord { span_id: format!("{i:016x}"), ..ai_sdk_trace()[0].clone() };
        let stored: HashSet<String> = (0..499).map(|i| format!("{i:016x}")).collect();
        let batch: Vec<SpanRecord> = [0, 1, 600, 601, 2].into_iter().map(span).collect();
        let (kept, rejected) = admit(&stored, &batch);
        assert_eq!(
            kept.iter().map(|s| s.span_id.clone()).collect::<Vec<_>>(),
            [span(0).span_id, span(1).span_id, span(600).span_id, span(2).span_id]
        );
        assert_eq!(rejected, 1);
    }

    #[test]
    fn a_trace_joins_the_thread_its_conversation_id_names() {
        let batch = TraceBatch {
            scope: WorkspaceScope { project_id: "p".into(), workspace_id: "__OTLP__".into() },
            trace_id: TRACE.into(),
            spans: ai_sdk_trace(),
            hints: TraceHints { conversation_id: Some("thread_1".into()), ..TraceHints::default() },
            new_run_id: "run_new".into(),
            now: 5,
        };
        let thread = Thread {
            id: "thread_1".into(),
            project_id: "p".into(),
            workspace_id: "alice".into(),
            title: None,
            title_from_user: false,
            metadata: None,
            external_id: None,
            is_archived: false,
            last_message_at: 1,
            created_at: 1,
            updated_at: 1,
        };
        let run = finish(new_trace_run(&batch), &batch.spans, Some(&thread), &batch.hints, 6);
        assert_eq!(
            (run.id.as_str(), run.thread_id.as_deref(), run.scope.workspace_id.as_str()),
            ("run_new", Some("thread_1"), "alice")
        );
        assert_eq!((run.updated_at, run.input_tokens, run.traced), (6, Some(30), true));
        let unknown = finish(new_trace_run(&batch), &batch.spans, None, &batch.hints, 6);
        assert_eq!(unknown.thread_id, None);
        assert_eq!(unknown.attributes, r#"{"gen_ai.conversation.id":"thread_1"}"#);
    }

    #[test]
    fn oversized_attributes_lose_their_largest_entries() {
        let mut attributes = Map::new();
        attributes.insert("small".into(), json!(1));
        attributes.insert("big".into(), json!("x".repeat(20_000)));
        let capped = capped_attributes(attributes);
        assert_eq!(capped, r#"{"small":1,"truncated":true}"#);
    }
}
