//! The one place each model becomes JSON. Field presence and timestamp
//! precision are part of the contract: `title`, `external_id` and `parent_id`
//! are always present (possibly `null`), timestamps are millisecond `…Z`, and
//! stored JSON documents are emitted as the exact text the client sent.

use axum::Json;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use threadhold_domain::model::{Message, SearchHit, Thread};
use threadhold_domain::{Millis, MsText, format_ms, now_ms};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A thread; timestamps are millisecond `…Z`.
#[derive(Serialize, ToSchema)]
#[schema(as = Thread)]
pub struct ThreadView<'a> {
    id: &'a str,
    project_id: &'a str,
    workspace_id: &'a str,
    title: Option<&'a str>,
    external_id: Option<&'a str>,
    /// Any JSON value, exactly as stored.
    metadata: Option<StoredJson<'a>>,
    is_archived: bool,
    #[schema(value_type = String)]
    last_message_at: Timestamp,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    updated_at: Timestamp,
}

impl<'a> From<&'a Thread> for ThreadView<'a> {
    fn from(thread: &'a Thread) -> Self {
        ThreadView {
            id: &thread.id,
            project_id: &thread.project_id,
            workspace_id: &thread.workspace_id,
            title: thread.title.as_deref(),
            external_id: thread.external_id.as_deref(),
            metadata: thread.metadata.as_deref().map(StoredJson),
            is_archived: thread.is_archived,
            last_message_at: Timestamp(thread.last_message_at),
            created_at: Timestamp(thread.created_at),
            updated_at: Timestamp(thread.updated_at),
        }
    }
}

/// A message; `content` is the client's document, exactly as stored.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView<'a> {
    id: &'a str,
    thread_id: &'a str,
    parent_id: Option<&'a str>,
    height: i64,
    format: &'a str,
    content: StoredJson<'a>,
    external_id: Option<&'a str>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    updated_at: Timestamp,
    /// Present only for messages that ever had a run lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<RunView>,
}

/// A message's run lease.
#[derive(Serialize, ToSchema)]
#[schema(as = MessageRun)]
pub struct RunView {
    /// `running` or `ended`.
    status: &'static str,
    /// Measured by this server at read time, so clocks of tabs and nodes never matter.
    last_heartbeat_ms_ago: i64,
}

impl<'a> From<&'a Message> for MessageView<'a> {
    fn from(message: &'a Message) -> Self {
        MessageView {
            id: &message.id,
            thread_id: &message.thread_id,
            parent_id: message.parent_id.as_deref(),
            height: message.height,
            format: &message.format,
            content: StoredJson(&message.content),
            external_id: message.external_id.as_deref(),
            created_at: Timestamp(message.created_at),
            updated_at: Timestamp(message.updated_at),
            run: message.run.map(|run| RunView {
                status: if run.running { "running" } else { "ended" },
                last_heartbeat_ms_ago: (now_ms() - run.last_heartbeat_at).max(0),
            }),
        }
    }
}

/// A timestamp in its canonical text (rendered on the stack: a page has three per row).
pub struct Timestamp(pub Millis);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match MsText::new(self.0) {
            Some(text) => serializer.serialize_str(text.as_str()),
            None => serializer.serialize_str(&format_ms(self.0)),
        }
    }
}

/// A JSON document stored as text, emitted verbatim. Stored documents were
/// validated on the way in; one damaged outside the server renders as `{}`.
pub struct StoredJson<'a>(pub &'a str);

/// Any JSON value.
impl utoipa::PartialSchema for StoredJson<'_> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <serde_json::Value as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for StoredJson<'_> {}

impl Serialize for StoredJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_map(Some(0))?.end(),
        }
    }
}

/// `{"threads": [...]}`, serialized straight from the rows (stored JSON stays verbatim).
pub fn thread_list(threads: &[Thread]) -> Response {
    let capacity = threads.iter().map(thread_size).sum::<usize>() + ENVELOPE_BYTES;
    sized_json(&ThreadList { threads: threads.iter().map(ThreadView::from).collect() }, capacity)
}

/// `{"results": [{"thread", "message_id", "snippet"}, ...]}`.
pub fn search_results(hits: &[SearchHit]) -> Response {
    Json(search_results_body(hits)).into_response()
}

/// The body of [`search_results`] (the MCP `search_threads` tool answers it too).
pub(crate) fn search_results_body(hits: &[SearchHit]) -> SearchResults<'_> {
    let results = hits
        .iter()
        .map(|hit| Hit {
            thread: ThreadView::from(&hit.thread),
            message_id: hit.message_id.as_deref(),
            snippet: &hit.snippet,
        })
        .collect();
    SearchResults { results }
}

/// `{"threads": [...], "next_cursor": …}`: threads by creation (the MCP `list_threads` tool).
pub(crate) fn thread_page_body<'a>(threads: &'a [Thread], next_cursor: Option<&'a str>) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Envelope<'a> {
        threads: Vec<ThreadView<'a>>,
        next_cursor: Option<&'a str>,
    }
    Envelope { threads: threads.iter().map(ThreadView::from).collect(), next_cursor }
}

/// `{"thread": {...}, "messages": [...]}` (the MCP `get_thread_messages` tool).
pub(crate) fn thread_messages_body<'a>(thread: &'a Thread, messages: &'a [Message]) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Envelope<'a> {
        thread: ThreadView<'a>,
        messages: Vec<MessageView<'a>>,
    }
    Envelope { thread: ThreadView::from(thread), messages: messages.iter().map(MessageView::from).collect() }
}

/// `{"thread": {...}}`: the client requires the envelope.
pub fn thread_envelope(thread: &Thread) -> Response {
    Json(ThreadEnvelope { thread: ThreadView::from(thread) }).into_response()
}

/// `{"messages": [...]}`.
pub fn message_list(messages: &[Message]) -> Response {
    let capacity = messages.iter().map(message_size).sum::<usize>() + ENVELOPE_BYTES;
    sized_json(&MessageList { messages: messages.iter().map(MessageView::from).collect() }, capacity)
}

/// The bytes of a list's envelope, and of a row's field names, punctuation and
/// timestamps: with the row's own text, about what a rendered row takes.
const ENVELOPE_BYTES: usize = 16;
const THREAD_FIELD_BYTES: usize = 256;
const MESSAGE_FIELD_BYTES: usize = 192;

fn thread_size(thread: &Thread) -> usize {
    let text =
        [&thread.title, &thread.metadata, &thread.external_id].map(|field| field.as_ref().map_or(0, String::len));
    THREAD_FIELD_BYTES
        + thread.id.len()
        + thread.project_id.len()
        + thread.workspace_id.len()
        + text.iter().sum::<usize>()
}

fn message_size(message: &Message) -> usize {
    let text = [&message.parent_id, &message.external_id].map(|field| field.as_ref().map_or(0, String::len));
    MESSAGE_FIELD_BYTES
        + message.id.len()
        + message.thread_id.len()
        + message.content.len()
        + text.iter().sum::<usize>()
}

/// A JSON response serialized into a buffer of about its final size: a page
/// of rows outgrows axum's default buffer many times, copying it each time.
fn sized_json<T: Serialize>(value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
        Err(error) => ApiError::Internal(format!("rendering a response: {error}")).into_response(),
    }
}

/// `{"threads": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct ThreadList<'a> {
    threads: Vec<ThreadView<'a>>,
}

/// `{"thread": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct ThreadEnvelope<'a> {
    thread: ThreadView<'a>,
}

/// `{"messages": [...]}`, oldest first.
#[derive(Serialize, ToSchema)]
pub struct MessageList<'a> {
    messages: Vec<MessageView<'a>>,
}

/// One search hit: the thread, its newest matching message and a snippet around the match.
#[derive(Serialize, ToSchema)]
#[schema(as = SearchHit)]
pub struct Hit<'a> {
    thread: ThreadView<'a>,
    message_id: Option<&'a str>,
    snippet: &'a str,
}

/// `{"results": [...]}`, newest first.
#[derive(Serialize, ToSchema)]
pub struct SearchResults<'a> {
    results: Vec<Hit<'a>>,
}
