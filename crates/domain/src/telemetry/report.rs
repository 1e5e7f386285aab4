//! Run reports (`POST /v1/runs`): validation as the hosted service documents
//! it, lenient with keys it does not know (they are folded into the run's
//! `attributes`), and the rules by which a report merges into a run that
//! already exists for the same trace id.

use serde_json::{Map, Value};

use crate::Millis;
use crate::limits::{
    RUN_ATTRIBUTES_MAX_BYTES, RUN_ENVIRONMENT_MAX_CHARS, RUN_ERROR_CODE_MAX_CHARS, RUN_ERROR_MAX_CHARS,
    RUN_FINISH_REASON_MAX_CHARS, RUN_ITEMS_MAX, RUN_NAME_MAX_CHARS, RUN_TAG_MAX_CHARS, RUN_TAGS_MAX,
    RUN_TEXT_MAX_CHARS, RUN_TOKENS_MAX, SERVER_ID_MAX_CHARS,
};
use crate::model::{Run, WorkspaceScope};

pub const RUN_STATUSES: [&str; 3] = ["completed", "incomplete", "error"];
pub const RUN_OUTCOMES: [&str; 11] = [
    "rate_limited",
    "validation_failed",
    "provider_error",
    "server_error",
    "budget_denied",
    "persistence_error",
    "aborted",
    "timeout",
    "disconnected",
    "length",
    "content_filter",
];
const TOOL_SOURCES: [&str; 3] = ["mcp", "frontend", "backend"];
/// The user an API key acts as without `Aui-User-Id`: an unknown creator a report may replace.
pub const UNKNOWN_USER: &str = "__SYSTEM__";
/// Where a run's attributes keep the first-token time the client measured.
pub const CLIENT_FIRST_TOKEN_KEY: &str = "client.first_token_ms";

/// The largest millisecond value a report may carry (about 285,000 years).
const MS_MAX: f64 = 9e15;

/// Keys of the report body with a meaning; every other top-level key is an attribute.
const KNOWN_KEYS: [&str; 28] = [
    "thread_id",
    "status",
    "message_id",
    "outcome_type",
    "error_code",
    "error",
    "tags",
    "environment",
    "release",
    "total_steps",
    "tool_calls",
    "steps",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
    "model_id",
    "provider",
    "provider_type",
    "duration_ms",
    "first_token_ms",
    "cost_details",
    "cost_usd",
    "output_text",
    "metadata",
    "attributes",
    "trace_id",
    "root_span_id",
];

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Invalid(String),
    #[error("attributes must not exceed {RUN_ATTRIBUTES_MAX_BYTES} bytes")]
    AttributesTooLarge,
}

fn invalid(message: impl Into<String>) -> ReportError {
    ReportError::Invalid(message.into())
}

/// A validated run report, before it becomes (or joins) a [`Run`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub thread_id: String,
    pub status: String,
    pub message_id: Option<String>,
    pub outcome_type: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub tags: Vec<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub total_steps: Option<i64>,
    pub tool_calls: Option<Vec<Value>>,
    pub steps: Option<Vec<Value>>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub model_id: Option<String>,
    pub provider: Option<String>,
    pub duration_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub cost_details: Option<Map<String, Value>>,
    pub cost_usd: Option<f64>,
    pub output_text: Option<String>,
    /// `metadata`, then unknown top-level keys, then `attributes` (later ones win).
    pub attributes: Map<String, Value>,
    /// Set only for 32 lowercase hex digits: the merge key.
    pub trace_id: Option<String>,
    pub root_span_id: Option<String>,
}

/// Validates a report body. Absent and `null` fields are the same; numbers of
/// milliseconds and tokens may be fractional (older clients send them
/// unrounded) and are rounded.
pub fn parse(body: Map<String, Value>) -> Result<RunReport, ReportError> {
    let b = &body;
    let thread_id = text(b, "thread_id", RUN_NAME_MAX_CHARS)?.ok_or_else(|| invalid("thread_id is required"))?;
    let status = one_of(b, "status", &RUN_STATUSES)?.ok_or_else(|| invalid("status is required"))?;
    let mut attributes = object(b, "metadata")?.unwrap_or_default();
    for (key, value) in b.iter().filter(|(key, _)| !KNOWN_KEYS.contains(&key.as_str())) {
        attributes.insert(key.clone(), value.clone());
    }
    attributes.extend(object(b, "attributes")?.unwrap_or_default());
    let trace_id = text(b, "trace_id", SERVER_ID_MAX_CHARS)?;
    let merge_key = trace_id.as_deref().filter(|id| is_lower_hex(id, 32)).map(str::to_owned);
    if let (Some(trace_id), None) = (trace_id, &merge_key) {
        // Not a W3C trace id: kept, but it merges nothing.
        attributes.entry("trace_id").or_insert(Value::String(trace_id));
    }
    if Value::Object(attributes.clone()).to_string().len() > RUN_ATTRIBUTES_MAX_BYTES {
        return Err(ReportError::AttributesTooLarge);
    }
    let root_span_id = text(b, "root_span_id", 16)?;
    if root_span_id.as_deref().is_some_and(|id| !is_lower_hex(id, 16)) {
        return Err(invalid("root_span_id must be 16 lowercase hexadecimal characters"));
    }
    let steps = items(b, "steps", "steps")?;
    if let Some(steps) = &steps {
        for (i, step) in steps.iter().enumerate() {
            check_step(step, &format!("steps[{i}]"))?;
        }
    }
    let tool_calls = items(b, "tool_calls", "tool_calls")?;
    if let Some(calls) = &tool_calls {
        for (i, call) in calls.iter().enumerate() {
            check_tool_call(call, &format!("tool_calls[{i}]"))?;
        }
    }
    let cost_details = object(b, "cost_details")?;
    if let Some(details) = &cost_details {
        for key in ["input", "input_cached_tokens", "output", "total"] {
            cost(details, key, &format!("cost_details.{key}"))?;
        }
    }
    let cost_usd = match cost(b, "cost_usd", "cost_usd")? {
        Some(cost) => Some(cost),
        None => cost_details.as_ref().and_then(|details| details.get("total")).and_then(Value::as_f64),
    };
    let step_sum = |key: &str| -> Option<i64> {
        let steps = steps.as_ref()?;
        let counts: Vec<i64> =
            steps.iter().filter_map(|step| step.get(key).and_then(Value::as_f64)).map(round).collect();
        (!counts.is_empty()).then(|| counts.iter().sum::<i64>().min(RUN_TOKENS_MAX))
    };
    let tokens = |key: &str| -> Result<Option<i64>, ReportError> {
        Ok(count(b, key, RUN_TOKENS_MAX, key)?.or_else(|| step_sum(key)))
    };
    let total_steps = match count(b, "total_steps", i64::from(u32::MAX), "total_steps")? {
        Some(total) => Some(total),
        None => steps.as_ref().map(|steps| steps.len() as i64),
    };
    Ok(RunReport {
        message_id: text(b, "message_id", SERVER_ID_MAX_CHARS)?,
        outcome_type: one_of(b, "outcome_type", &RUN_OUTCOMES)?,
        error_code: text(b, "error_code", RUN_ERROR_CODE_MAX_CHARS)?,
        error: text(b, "error", RUN_ERROR_MAX_CHARS)?,
        tags: tags(b)?,
        environment: text(b, "environment", RUN_ENVIRONMENT_MAX_CHARS)?,
        release: text(b, "release", RUN_NAME_MAX_CHARS)?,
        total_steps,
        input_tokens: tokens("input_tokens")?,
        output_tokens: tokens("output_tokens")?,
        reasoning_tokens: tokens("reasoning_tokens")?,
        cached_input_tokens: tokens("cached_input_tokens")?,
        model_id: text(b, "model_id", RUN_NAME_MAX_CHARS)?,
        provider: match text(b, "provider", RUN_NAME_MAX_CHARS)? {
            Some(provider) => Some(provider),
            None => text(b, "provider_type", RUN_NAME_MAX_CHARS)?,
        },
        duration_ms: ms(b, "duration_ms", "duration_ms")?,
        first_token_ms: ms(b, "first_token_ms", "first_token_ms")?,
        output_text: long_text(b, "output_text", "output_text")?,
        thread_id,
        status,
        tool_calls,
        steps,
        cost_details,
        cost_usd,
        attributes,
        trace_id: merge_key,
        root_span_id,
    })
}

/// A report stored by an earlier release as raw telemetry, read as well as
/// it can be: a body that no longer passes keeps its thread and status, and
/// itself under the `report` attribute when it fits.
pub fn from_legacy(body: &str, thread_id: Option<&str>, status: &str) -> RunReport {
    let object = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    let mut fallback = Map::new();
    fallback.insert("thread_id".into(), Value::String(thread_id.unwrap_or("unknown").to_owned()));
    let status = if RUN_STATUSES.contains(&status) { status } else { "completed" };
    fallback.insert("status".into(), Value::String(status.to_owned()));
    if body.len() < RUN_ATTRIBUTES_MAX_BYTES - 32 && !object.is_empty() {
        fallback.insert("attributes".into(), serde_json::json!({ "report": object }));
    }
    let mut full = object;
    full.extend(fallback.iter().filter(|(key, _)| key.as_str() != "attributes").map(|(k, v)| (k.clone(), v.clone())));
    parse(full).or_else(|_| parse(fallback.clone())).unwrap_or_else(|_| {
        fallback.remove("attributes");
        parse(fallback).unwrap_or(RunReport {
            thread_id: "unknown".into(),
            status: status.to_owned(),
            message_id: None,
            outcome_type: None,
            error_code: None,
            error: None,
            tags: Vec::new(),
            environment: None,
            release: None,
            total_steps: None,
            tool_calls: None,
            steps: None,
            input_tokens: None,
            output_tokens: None,
            reasoning_tokens: None,
            cached_input_tokens: None,
            model_id: None,
            provider: None,
            duration_ms: None,
            first_token_ms: None,
            cost_details: None,
            cost_usd: None,
            output_text: None,
            attributes: Map::new(),
            trace_id: None,
            root_span_id: None,
        })
    })
}

impl RunReport {
    /// A new run holding this report.
    pub fn into_run(self, id: String, scope: WorkspaceScope, user_id: &str, now: Millis) -> Run {
        let mut attributes = self.attributes;
        if let Some(first) = self.first_token_ms {
            attributes.insert(CLIENT_FIRST_TOKEN_KEY.into(), Value::from(first));
        }
        Run {
            id,
            scope,
            thread_id: Some(self.thread_id),
            message_id: self.message_id,
            created_by: Some(user_id.to_owned()),
            status: Some(self.status),
            outcome_type: self.outcome_type,
            error_code: self.error_code,
            error: self.error,
            provider: self.provider,
            model_id: self.model_id,
            environment: self.environment,
            release: self.release,
            tags: self.tags,
            attributes: Value::Object(attributes).to_string(),
            trace_id: self.trace_id,
            root_span_id: self.root_span_id,
            service_name: None,
            agent_name: None,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
            duration_ms: self.duration_ms,
            first_token_ms: self.first_token_ms,
            cost_usd: self.cost_usd,
            cost_details: self.cost_details.map(|details| Value::Object(details).to_string()),
            total_steps: self.total_steps,
            output_text: self.output_text,
            steps: self.steps.map(|steps| Value::Array(steps).to_string()),
            tool_calls: self.tool_calls.map(|calls| Value::Array(calls).to_string()),
            reported: true,
            traced: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `report` (a run made by [`RunReport::into_run`]) merged into `existing`,
/// the run of the same trace id.
///
/// Before spans arrived, the run is the client's alone: a later report of it
/// (the client reports again as a message grows) wins field by field, and
/// what it leaves out stays. Once the trace's spans are stored they are
/// authoritative for the model, provider, tokens, timings, status and steps;
/// the report then contributes, as the hosted service's rules say, its
/// `message_id` and tags, an `aborted` or `disconnected` outcome, the thread
/// and the creator when the spans named none, the environment and release
/// when absent, its first-token time when the run has none (and always under
/// the `client.first_token_ms` attribute), and its costs.
pub fn merge(existing: &Run, report: Run, now: Millis) -> Run {
    let mut run = existing.clone();
    run.updated_at = now;
    run.reported = true;
    let attributes = merged_attributes(&existing.attributes, &report.attributes);
    if !existing.traced {
        macro_rules! newer {
            ($($field:ident),*) => { $( if report.$field.is_some() { run.$field = report.$field; } )* };
        }
        newer!(
            message_id,
            status,
            outcome_type,
            error_code,
            error,
            provider,
            model_id,
            environment,
            release,
            root_span_id,
            input_tokens,
            cached_input_tokens,
            output_tokens,
            reasoning_tokens,
            duration_ms,
            first_token_ms,
            cost_usd,
            cost_details,
            total_steps,
            output_text,
            steps,
            tool_calls
        );
        if !report.tags.is_empty() {
            run.tags = report.tags;
        }
        if run.thread_id.is_none() {
            run.thread_id = report.thread_id;
            run.scope = report.scope;
        }
        if run.created_by.as_deref().is_none_or(|user| user == UNKNOWN_USER) {
            run.created_by = report.created_by;
        }
        run.attributes = attributes;
        return run;
    }
    if report.message_id.is_some() {
        run.message_id = report.message_id;
    }
    if !report.tags.is_empty() {
        run.tags = report.tags;
    }
    if let Some(outcome @ ("aborted" | "disconnected")) = report.outcome_type.as_deref() {
        run.outcome_type = Some(outcome.to_owned());
        run.status = report.status;
    }
    if run.thread_id.is_none() {
        run.thread_id = report.thread_id;
        run.scope = report.scope;
    }
    if run.created_by.as_deref().is_none_or(|user| user == UNKNOWN_USER) {
        run.created_by = report.created_by;
    }
    macro_rules! when_absent {
        ($($field:ident),*) => { $( if run.$field.is_none() { run.$field = report.$field; } )* };
    }
    when_absent!(environment, release, first_token_ms, error_code, error, output_text, steps, tool_calls, root_span_id);
    if report.cost_usd.is_some() || report.cost_details.is_some() {
        run.cost_usd = report.cost_usd;
        run.cost_details = report.cost_details;
    }
    run.attributes = attributes;
    run
}

/// Existing attributes with the report's over them; if that grew past the
/// limit, the existing ones plus the client's first-token time.
fn merged_attributes(existing: &str, report: &str) -> String {
    let parse = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    let (mut merged, report) = (parse(existing), parse(report));
    let first_token = report.get(CLIENT_FIRST_TOKEN_KEY).cloned();
    let kept = merged.clone();
    merged.extend(report);
    let text = Value::Object(merged).to_string();
    if text.len() <= RUN_ATTRIBUTES_MAX_BYTES {
        return text;
    }
    let mut kept = kept;
    if let Some(first_token) = first_token {
        kept.insert(CLIENT_FIRST_TOKEN_KEY.into(), first_token);
    }
    Value::Object(kept).to_string()
}

fn is_lower_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn round(value: f64) -> i64 {
    value.round() as i64
}

/// A string field of 1 to `max` characters; absent or `null` is `None`.
fn text(map: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{key} must be a string of 1 to {max} characters"))),
    }
}

/// A string field of at most [`RUN_TEXT_MAX_CHARS`] characters (empty allowed).
fn long_text(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= RUN_TEXT_MAX_CHARS => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{path} must be a string of at most {RUN_TEXT_MAX_CHARS} characters"))),
    }
}

fn one_of(map: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<Option<String>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{key} must be one of {}", allowed.join(", ")))),
    }
}

fn object(map: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object.clone())),
        Some(_) => Err(invalid(format!("{key} must be an object"))),
    }
}

/// A non-negative number, rounded, at most `max`.
fn count(map: &Map<String, Value>, key: &str, max: i64, path: &str) -> Result<Option<i64>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 && v <= max as f64 => Ok(Some(round(v).min(max))),
            _ => Err(invalid(format!("{path} must be a number from 0 to {max}"))),
        },
        Some(_) => Err(invalid(format!("{path} must be a number from 0 to {max}"))),
    }
}

fn ms(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<i64>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && (0.0..=MS_MAX).contains(&v) => Ok(Some(round(v))),
            _ => Err(invalid(format!("{path} must be a non-negative number of milliseconds"))),
        },
        Some(_) => Err(invalid(format!("{path} must be a non-negative number of milliseconds"))),
    }
}

fn cost(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(invalid(format!("{path} must be a finite non-negative number"))),
        },
        Some(_) => Err(invalid(format!("{path} must be a finite non-negative number"))),
    }
}

/// A list of at most [`RUN_ITEMS_MAX`] objects.
fn items(map: &Map<String, Value>, key: &str, path: &str) -> Result<Option<Vec<Value>>, ReportError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) if list.len() <= RUN_ITEMS_MAX && list.iter().all(Value::is_object) => {
            Ok(Some(list.clone()))
        }
        Some(_) => Err(invalid(format!("{path} must be a list of at most {RUN_ITEMS_MAX} objects"))),
    }
}

/// Trimmed, deduplicated tags: at most 20, each 1 to 64 characters.
fn tags(map: &Map<String, Value>) -> Result<Vec<String>, ReportError> {
    let list = match map.get("tags") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("tags must be a list of strings")),
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in list {
        let tag = tag.as_str().map(str::trim).ok_or_else(|| invalid("tags must be a list of strings"))?;
        if tag.is_empty() || tag.chars().count() > RUN_TAG_MAX_CHARS {
            return Err(invalid(format!("each tag must be 1 to {RUN_TAG_MAX_CHARS} characters")));
        }
        if !tags.iter().any(|known| known == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > RUN_TAGS_MAX {
        return Err(invalid(format!("a run has at most {RUN_TAGS_MAX} tags")));
    }
    Ok(tags)
}

fn as_map(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    value.as_object().unwrap_or(&EMPTY)
}

fn check_tokens(item: &Map<String, Value>, path: &str) -> Result<(), ReportError> {
    for key in ["input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens"] {
        count(item, key, RUN_TOKENS_MAX, &format!("{path}.{key}"))?;
    }
    Ok(())
}

fn check_tool_call(call: &Value, path: &str) -> Result<(), ReportError> {
    let call = as_map(call);
    let name = |key: &str| format!("{path}.{key}");
    match call.get("tool_name") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= RUN_NAME_MAX_CHARS => {}
        _ => {
            return Err(invalid(format!(
                "{} must be a string of 1 to {RUN_NAME_MAX_CHARS} characters",
                name("tool_name")
            )));
        }
    }
    if !matches!(call.get("tool_call_id"), None | Some(Value::Null)) {
        text(call, "tool_call_id", RUN_NAME_MAX_CHARS).map_err(|_| {
            invalid(format!("{} must be a string of 1 to {RUN_NAME_MAX_CHARS} characters", name("tool_call_id")))
        })?;
    }
    long_text(call, "tool_args", &name("tool_args"))?;
    long_text(call, "tool_result", &name("tool_result"))?;
    match call.get("tool_source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if TOOL_SOURCES.contains(&s.as_str()) => {}
        Some(_) => return Err(invalid(format!("{} must be one of mcp, frontend, backend", name("tool_source")))),
    }
    ms(call, "start_ms", &name("start_ms"))?;
    ms(call, "end_ms", &name("end_ms"))?;
    if let Some(samples) = items(call, "sampling_calls", &name("sampling_calls"))? {
        for (i, sample) in samples.iter().enumerate() {
            let sample = as_map(sample);
            let path = format!("{path}.sampling_calls[{i}]");
            match sample.get("model_id") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.chars().count() <= RUN_NAME_MAX_CHARS => {}
                Some(_) => return Err(invalid(format!("{path}.model_id must be a string of at most 255 characters"))),
            }
            check_tokens(sample, &path)?;
            ms(sample, "duration_ms", &format!("{path}.duration_ms"))?;
        }
    }
    Ok(())
}

fn check_step(step: &Value, path: &str) -> Result<(), ReportError> {
    let step = as_map(step);
    check_tokens(step, path)?;
    if let Some(calls) = items(step, "tool_calls", &format!("{path}.tool_calls"))? {
        for (i, call) in calls.iter().enumerate() {
            check_tool_call(call, &format!("{path}.tool_calls[{i}]"))?;
        }
    }
    ms(step, "start_ms", &format!("{path}.start_ms"))?;
    ms(step, "end_ms", &format!("{path}.end_ms"))?;
    match step.get("finish_reason") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= RUN_FINISH_REASON_MAX_CHARS => {}
        Some(_) => {
            return Err(invalid(format!(
                "{path}.finish_reason must be a string of at most {RUN_FINISH_REASON_MAX_CHARS} characters"
            )));
        }
    }
    long_text(step, "input", &format!("{path}.input"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn report(value: Value) -> Result<RunReport, ReportError> {
        parse(body(value))
    }

    fn scope() -> WorkspaceScope {
        WorkspaceScope { project_id: "p".into(), workspace_id: "w".into() }
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn a_full_report() {
        let parsed = report(json!({
            "thread_id": "thread_1", "status": "completed", "message_id": "msg_1", "outcome_type": "length",
            "tags": [" a ", "b", "a"], "environment": "prod", "release": "1.2.3", "model_id": "gpt",
            "provider_type": "openai", "duration_ms": 1234.4, "first_token_ms": 80, "cost_usd": 0.25,
            "steps": [{"input_tokens": 10, "output_tokens": 3, "start_ms": 0, "end_ms": 99.6, "finish_reason": "stop"},
                      {"input_tokens": 12, "output_tokens": 4, "tool_calls": [{"tool_name": "t", "tool_call_id": "c"}]}],
            "tool_calls": [{"tool_name": "t", "tool_call_id": "c", "tool_args": "{}", "tool_source": "frontend",
                            "sampling_calls": [{"model_id": "small", "input_tokens": 1}]}],
            "metadata": {"custom": {"plan": "pro"}, "a": 1}, "attributes": {"a": 2}, "user_message_id": "msg_0",
            "trace_id": TRACE, "root_span_id": "00f067aa0ba902b7",
        }))
        .expect("valid");
        assert_eq!(parsed.tags, ["a", "b"]);
        assert_eq!(parsed.provider.as_deref(), Some("openai"), "provider_type is the legacy alias");
        assert_eq!(parsed.duration_ms, Some(1234));
        assert_eq!((parsed.input_tokens, parsed.output_tokens, parsed.total_steps), (Some(22), Some(7), Some(2)));
        assert_eq!(parsed.trace_id.as_deref(), Some(TRACE));
        assert_eq!(
            Value::Object(parsed.attributes.clone()),
            json!({"custom": {"plan": "pro"}, "a": 2, "user_message_id": "msg_0"}),
            "metadata, then unknown keys, then attributes"
        );
        let run = parsed.into_run("run_1".into(), scope(), "u", 5);
        assert_eq!(
            run.attributes,
            r#"{"custom":{"plan":"pro"},"a":2,"user_message_id":"msg_0","client.first_token_ms":80}"#
        );
        assert!(run.reported && !run.traced);
        assert_eq!(run.created_by.as_deref(), Some("u"));
    }

    #[test]
    fn refusals() {
        let base = json!({"thread_id": "t", "status": "completed"});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        assert!(report(base.clone()).is_ok());
        for bad in [
            json!({"status": "completed"}),
            json!({"thread_id": "t"}),
            with("status", json!("done")),
            with("thread_id", json!("")),
            with("thread_id", json!(5)),
            with("outcome_type", json!("nope")),
            with("message_id", json!("m".repeat(49))),
            with("error_code", json!("e".repeat(65))),
            with("error", json!("e".repeat(2049))),
            with("tags", json!((0..21).map(|i| i.to_string()).collect::<Vec<_>>())),
            with("tags", json!(["  "])),
            with("tags", json!("a")),
            with("environment", json!("e".repeat(65))),
            with("duration_ms", json!(-1)),
            with("duration_ms", json!("5")),
            with("input_tokens", json!(100_000_001)),
            with("cost_usd", json!(-0.5)),
            with("cost_details", json!({"total": -1})),
            with("output_text", json!("x".repeat(50_001))),
            with("metadata", json!([1])),
            with("root_span_id", json!("00F067AA0BA902B7")),
            with("steps", json!([1])),
            with("steps", json!([{"finish_reason": "x".repeat(33)}])),
            with("steps", json!([{"tool_calls": [{"tool_call_id": "c"}]}])),
            with("tool_calls", json!([{"tool_name": "t", "tool_source": "server"}])),
            with("tool_calls", json!([{"tool_name": "t", "sampling_calls": [{"input_tokens": -1}]}])),
            with("tool_calls", vec![json!({"tool_name": "t"}); 1001].into()),
        ] {
            assert!(matches!(report(bad.clone()), Err(ReportError::Invalid(_))), "{bad}");
        }
        let big = with("attributes", json!({"pad": "x".repeat(16_400)}));
        assert_eq!(report(big), Err(ReportError::AttributesTooLarge));
        let folded = with("extra", json!("x".repeat(16_400)));
        assert_eq!(report(folded), Err(ReportError::AttributesTooLarge), "unknown keys count too");
    }

    #[test]
    fn lenient_where_it_can_be() {
        let parsed = report(json!({"thread_id": "t", "status": "error", "message_id": null, "tags": [],
            "trace_id": "not-a-w3c-trace", "steps": [{"start_ms": 1.5}]}))
        .expect("valid");
        assert_eq!(parsed.trace_id, None, "only a 32-hex trace id merges");
        assert_eq!(parsed.attributes.get("trace_id"), Some(&json!("not-a-w3c-trace")));
        assert_eq!(
            report(json!({"thread_id": "t", "status": "completed", "trace_id": TRACE.to_uppercase()}))
                .expect("ok")
                .trace_id,
            None
        );
    }

    #[test]
    fn legacy_reports_are_read_as_well_as_they_can_be() {
        let good = from_legacy(r#"{"thread_id":"t","status":"error","model_id":"m","extra":1}"#, Some("t"), "error");
        assert_eq!((good.model_id.as_deref(), good.status.as_str()), (Some("m"), "error"));
        assert_eq!(good.attributes.get("extra"), Some(&json!(1)));
        let bad = from_legacy(r#"{"thread_id":"t","status":"completed","duration_ms":"slow"}"#, Some("t"), "completed");
        assert_eq!((bad.thread_id.as_str(), bad.duration_ms), ("t", None));
        assert_eq!(
            bad.attributes.get("report"),
            Some(&json!({"thread_id": "t", "status": "completed", "duration_ms": "slow"}))
        );
        assert_eq!(from_legacy("not json", None, "weird").status, "completed");
    }

    fn run_of(value: Value, user: &str, now: Millis) -> Run {
        report(value).expect("valid").into_run(format!("run_{now}"), scope(), user, now)
    }

    #[test]
    fn a_later_report_of_an_untraced_run_wins_field_by_field() {
        let first = run_of(
            json!({"thread_id": "t", "status": "incomplete", "trace_id": TRACE, "model_id": "a",
            "tags": ["x"], "first_token_ms": 5}),
            "u",
            1,
        );
        let second =
            run_of(json!({"thread_id": "t", "status": "completed", "trace_id": TRACE, "duration_ms": 9}), "u", 2);
        let merged = merge(&first, second, 3);
        assert_eq!(merged.id, first.id);
        assert_eq!(merged.created_at, 1);
        assert_eq!(merged.updated_at, 3);
        assert_eq!(merged.status.as_deref(), Some("completed"));
        assert_eq!((merged.model_id.as_deref(), merged.duration_ms), (Some("a"), Some(9)), "what it leaves out stays");
        assert_eq!(merged.tags, ["x"]);
    }

    #[test]
    fn a_report_into_a_traced_run_follows_the_hosted_rules() {
        let mut traced = run_of(json!({"thread_id": "t", "status": "completed"}), UNKNOWN_USER, 1);
        traced.traced = true;
        traced.reported = false;
        traced.thread_id = None;
        traced.model_id = Some("server-model".into());
        traced.input_tokens = Some(100);
        traced.environment = Some("staging".into());
        traced.first_token_ms = None;
        traced.attributes = r#"{"service":"api"}"#.into();
        let report = run_of(
            json!({"thread_id": "t2", "status": "incomplete", "outcome_type": "aborted",
            "model_id": "client-model", "input_tokens": 5, "environment": "prod", "release": "r1",
            "message_id": "msg_9", "tags": ["t"], "first_token_ms": 42, "cost_usd": 0.1}),
            "alice",
            2,
        );
        let merged = merge(&traced, report, 3);
        assert_eq!((merged.model_id.as_deref(), merged.input_tokens), (Some("server-model"), Some(100)));
        assert_eq!((merged.status.as_deref(), merged.outcome_type.as_deref()), (Some("incomplete"), Some("aborted")));
        assert_eq!(merged.thread_id.as_deref(), Some("t2"));
        assert_eq!(merged.created_by.as_deref(), Some("alice"), "the unknown creator is replaced");
        assert_eq!((merged.environment.as_deref(), merged.release.as_deref()), (Some("staging"), Some("r1")));
        assert_eq!(
            (merged.message_id.as_deref(), merged.tags.as_slice()),
            (Some("msg_9"), ["t".to_owned()].as_slice())
        );
        assert_eq!((merged.first_token_ms, merged.cost_usd), (Some(42), Some(0.1)));
        let attributes: Value = serde_json::from_str(&merged.attributes).expect("json");
        assert_eq!(attributes, json!({"service": "api", "client.first_token_ms": 42}));
        assert!(merged.reported && merged.traced);
        let other = run_of(json!({"thread_id": "t", "status": "error", "outcome_type": "provider_error"}), "bob", 4);
        let again = merge(&merged, other, 5);
        assert_eq!((again.status.as_deref(), again.outcome_type.as_deref()), (Some("incomplete"), Some("aborted")));
        assert_eq!(again.created_by.as_deref(), Some("alice"), "a known creator stays");
    }
}
