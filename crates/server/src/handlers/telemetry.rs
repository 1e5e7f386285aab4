//! `/v1/events` (engagement events) and `/v1/scores` (custom scores).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::limits::{EVENTS_PER_REQUEST_MAX, SCORE_NAME_MAX};
use threadhold_domain::model::{Score, ScoreSource, ScoreTarget, ScoreType, TelemetryRecord};
use threadhold_domain::now_ms;
use threadhold_store::ReadScope;

use crate::auth::{Caller, Credential};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EventBatch {
    events: Vec<serde_json::Map<String, Value>>,
}

/// `POST /v1/events`: stores each event; events naming a thread the caller
/// cannot see are dropped silently (as the hosted service does).
#[utoipa::path(post, path = "/v1/events", tag = "runs", request_body = EventBatch, responses((status = 202, body = crate::openapi::EventsAccepted)))]
pub async fn track(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(batch): JsonBody<EventBatch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if batch.events.is_empty() || batch.events.len() > EVENTS_PER_REQUEST_MAX {
        return Err(ApiError::invalid(format!("events must hold 1 to {EVENTS_PER_REQUEST_MAX} events")));
    }
    let now = now_ms();
    let scope = ReadScope::from(&caller.scope);
    let mut records = Vec::with_capacity(batch.events.len());
    for event in batch.events {
        let kind = event.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind.is_empty() || kind.len() > 64 {
            return Err(ApiError::invalid("every event needs a kind of 1 to 64 characters"));
        }
        let thread_id = event.get("thread_id").and_then(Value::as_str).map(str::to_owned);
        if let Some(thread_id) = &thread_id
            && state.store.get_thread(&scope, thread_id).await?.is_none()
        {
            continue;
        }
        records.push(TelemetryRecord {
            id: new_id(IdKind::Event),
            scope: caller.scope.clone(),
            user_id: caller.user_id.clone(),
            thread_id,
            kind: kind.to_owned(),
            body: Value::Object(event).to_string(),
            created_at: now,
        });
    }
    if !records.is_empty() {
        state.store.insert_telemetry("event", &records).await?;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": records.len() }))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ScoreBody {
    name: String,
    data_type: String,
    value: Option<Value>,
    string_value: Option<String>,
    comment: Option<String>,
    thread_id: Option<String>,
    message_id: Option<String>,
    run_id: Option<String>,
}

/// `POST /v1/scores`: one score per target, author and name (a repeat replaces it).
#[utoipa::path(post, path = "/v1/scores", tag = "runs", request_body = ScoreBody, responses((status = 201, body = crate::openapi::ScoreStored)))]
pub async fn create_score(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ScoreBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name_ok = !body.name.is_empty()
        && body.name.len() <= SCORE_NAME_MAX
        && body.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !name_ok {
        return Err(ApiError::invalid("name must be 1 to 64 characters of A-Z a-z 0-9 _ . -"));
    }
    let data_type = match body.data_type.as_str() {
        "numeric" => ScoreType::Numeric,
        "categorical" => ScoreType::Categorical,
        "boolean" => ScoreType::Boolean,
        _ => return Err(ApiError::invalid("data_type must be numeric, categorical or boolean")),
    };
    let value = score_value(data_type, body.value.as_ref(), body.string_value.as_deref())?;
    let target = match (body.thread_id, body.message_id, body.run_id) {
        (Some(thread_id), Some(message_id), None) => ScoreTarget::Message { thread_id, message_id },
        (None, None, Some(run_id)) => ScoreTarget::Run(run_id),
        (Some(thread_id), None, None) => ScoreTarget::Thread(thread_id),
        _ => {
            return Err(ApiError::invalid(
                "a score targets exactly one of: a message (thread_id + message_id), a run (run_id), a thread (thread_id)",
            ));
        }
    };
    let source = if caller.credential == Credential::ApiKey { ScoreSource::Api } else { ScoreSource::EndUser };
    let score = Score {
        id: new_id(IdKind::Score),
        source,
        scope: caller.scope,
        author: caller.user_id,
        target,
        name: body.name,
        data_type,
        value,
        string_value: body.string_value,
        comment: body.comment,
        now: now_ms(),
    };
    let score_id = state.store.upsert_score(&score).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "score_id": score_id,
            "name": score.name,
            "data_type": data_type.as_str(),
            "value": score.value,
            "string_value": score.string_value,
        })),
    ))
}

/// Type rules: numeric needs a finite number; boolean takes true/false/1/0
/// (stored as 1/0); categorical needs `string_value` and no `value`.
fn score_value(data_type: ScoreType, value: Option<&Value>, string_value: Option<&str>) -> ApiResult<Option<f64>> {
    match (data_type, value) {
        (ScoreType::Numeric, Some(Value::Number(n))) => {
            n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or_else(|| ApiError::invalid("value must be finite"))
        }
        (ScoreType::Numeric, _) => Err(ApiError::invalid("a numeric score needs a number value")),
        (ScoreType::Boolean, Some(Value::Bool(b))) => Ok(Some(if *b { 1.0 } else { 0.0 })),
        (ScoreType::Boolean, Some(Value::Number(n))) if n.as_f64() == Some(1.0) || n.as_f64() == Some(0.0) => {
            Ok(n.as_f64())
        }
        (ScoreType::Boolean, _) => Err(ApiError::invalid("a boolean score needs value true, false, 1 or 0")),
        (ScoreType::Categorical, None | Some(Value::Null)) if string_value.is_some_and(|s| !s.is_empty()) => Ok(None),
        (ScoreType::Categorical, _) => Err(ApiError::invalid("a categorical score needs string_value and no value")),
    }
}
