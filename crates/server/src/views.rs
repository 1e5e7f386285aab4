//! The one place each model becomes JSON. Field presence and timestamp
//! precision are part of the contract: `title`, `external_id` and `parent_id`
//! are always present (possibly `null`), timestamps are millisecond `…Z`, and
//! stored JSON documents are emitted as the exact text the client sent.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use threadhold_domain::model::{Message, SearchHit, Thread};
use threadhold_domain::{format_ms, now_ms};
use utoipa::ToSchema;

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
    last_message_at: String,
    created_at: String,
    updated_at: String,
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
            last_message_at: format_ms(thread.last_message_at),
            created_at: format_ms(thread.created_at),
            updated_at: format_ms(thread.updated_at),
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
    created_at: String,
    updated_at: String,
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
            created_at: format_ms(message.created_at),
            updated_at: format_ms(message.updated_at),
            run: message.run.map(|run| RunView {
                status: if run.running { "running" } else { "ended" },
                last_heartbeat_ms_ago: (now_ms() - run.last_heartbeat_at).max(0),
            }),
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
    Json(ThreadList { threads: threads.iter().map(ThreadView::from).collect() }).into_response()
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
    Json(MessageList { messages: messages.iter().map(MessageView::from).collect() }).into_response()
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
