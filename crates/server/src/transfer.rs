//! Logical export and import of threads and messages as JSON Lines: a backup
//! format independent of the database, and the way to move a deployment from
//! SQLite to PostgreSQL. Ids, timestamps (integer milliseconds) and the JSON
//! documents are kept exactly; importing twice changes nothing.
//!
//! ```text
//! {"kind":"thread","id":"thread_…","project_id":"default","workspace_id":"…","title":…,"metadata":…,…}
//! {"kind":"message","id":"msg_…","thread_id":"thread_…","parent_id":…,"height":0,"content":{…},…}
//! ```
//! Messages follow their thread, parents before children.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use threadhold_domain::limits::MESSAGE_PAGE_MAX;
use threadhold_domain::model::{Message, Thread, ThreadListQuery};
use threadhold_store::{ReadScope, Store};

use crate::error::ApiError;

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    Thread(ThreadRecord),
    Message(MessageRecord),
}

#[derive(Deserialize)]
struct Kind {
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct ThreadRecord {
    id: String,
    project_id: String,
    workspace_id: String,
    title: Option<String>,
    title_from_user: bool,
    metadata: Option<Box<RawValue>>,
    external_id: Option<String>,
    is_archived: bool,
    last_message_at: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct MessageRecord {
    id: String,
    thread_id: String,
    parent_id: Option<String>,
    height: i64,
    format: String,
    content: Box<RawValue>,
    external_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// How many records an export wrote or an import inserted (and skipped as present).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub threads: u64,
    pub messages: u64,
    pub skipped: u64,
}

fn raw(text: &str) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(text.to_owned())
        .map_err(|error| ApiError::Internal(format!("stored JSON is invalid: {error}")))
}

fn io_error(error: std::io::Error) -> ApiError {
    ApiError::Internal(format!("writing the export: {error}"))
}

/// Writes every thread of the project (or of one workspace) with its messages.
pub async fn export(
    store: &dyn Store,
    project_id: &str,
    workspace_id: Option<&str>,
    out: &mut dyn Write,
) -> Result<Counts, ApiError> {
    let mut counts = Counts::default();
    for archived in [false, true] {
        let mut after = None;
        loop {
            let query = ThreadListQuery {
                project_id: project_id.to_owned(),
                workspace_id: workspace_id.map(str::to_owned),
                archived,
                after: after.clone(),
                limit: 100,
            };
            let threads = store.list_threads(&query).await?;
            for thread in &threads {
                write_thread(store, thread, out, &mut counts).await?;
            }
            match threads.last() {
                Some(last) if threads.len() == 100 => after = Some(last.id.clone()),
                _ => break,
            }
        }
    }
    Ok(counts)
}

async fn write_thread(
    store: &dyn Store,
    thread: &Thread,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> Result<(), ApiError> {
    let record = Record::Thread(ThreadRecord {
        id: thread.id.clone(),
        project_id: thread.project_id.clone(),
        workspace_id: thread.workspace_id.clone(),
        title: thread.title.clone(),
        title_from_user: thread.title_from_user,
        metadata: thread.metadata.as_deref().map(raw).transpose()?,
        external_id: thread.external_id.clone(),
        is_archived: thread.is_archived,
        last_message_at: thread.last_message_at,
        created_at: thread.created_at,
        updated_at: thread.updated_at,
    });
    write_line(out, &record)?;
    counts.threads += 1;
    let scope = ReadScope { project_id: thread.project_id.clone(), workspace_id: None };
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let after = messages.last().map(|m| m.id.clone());
        let page = store.list_messages(&scope, &thread.id, after.as_deref(), MESSAGE_PAGE_MAX).await?;
        let full = page.len() == MESSAGE_PAGE_MAX as usize;
        messages.extend(page);
        if !full {
            break;
        }
    }
    // Listed deepest first; written parents first.
    for message in messages.iter().rev() {
        let record = Record::Message(MessageRecord {
            id: message.id.clone(),
            thread_id: message.thread_id.clone(),
            parent_id: message.parent_id.clone(),
            height: message.height,
            format: message.format.clone(),
            content: raw(&message.content)?,
            external_id: message.external_id.clone(),
            created_at: message.created_at,
            updated_at: message.updated_at,
        });
        write_line(out, &record)?;
        counts.messages += 1;
    }
    Ok(())
}

fn write_line(out: &mut dyn Write, record: &Record) -> Result<(), ApiError> {
    serde_json::to_writer(&mut *out, record).map_err(|error| io_error(error.into()))?;
    out.write_all(b"\n").map_err(io_error)
}

/// Reads an export; records already present (same id) are skipped. Threads go
/// to `project_override` when given, else to the project they name, which must exist.
pub async fn import(
    store: &dyn Store,
    project_override: Option<&str>,
    input: &mut dyn BufRead,
) -> Result<Counts, ApiError> {
    let mut counts = Counts::default();
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|error| ApiError::invalid(format!("reading line {}: {error}", number + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad =
            |error: serde_json::Error| ApiError::invalid(format!("line {}: not an export record: {error}", number + 1));
        // Read in two steps: verbatim JSON documents cannot pass through serde's tagged-enum buffering.
        let kind: Kind = serde_json::from_str(&line).map_err(bad)?;
        let inserted = match kind.kind.as_str() {
            "thread" => {
                let t: ThreadRecord = serde_json::from_str(&line).map_err(bad)?;
                let project_id = project_override.map_or(t.project_id, str::to_owned);
                if store.get_project(&project_id).await?.is_none() {
                    return Err(ApiError::invalid(format!("line {}: no project {project_id}", number + 1)));
                }
                let thread = Thread {
                    id: t.id,
                    project_id,
                    workspace_id: t.workspace_id,
                    title: t.title,
                    title_from_user: t.title_from_user,
                    metadata: t.metadata.map(|m| m.get().to_owned()),
                    external_id: t.external_id,
                    is_archived: t.is_archived,
                    last_message_at: t.last_message_at,
                    created_at: t.created_at,
                    updated_at: t.updated_at,
                };
                let inserted = store.import_thread(&thread).await?;
                counts.threads += u64::from(inserted);
                inserted
            }
            "message" => {
                let m: MessageRecord = serde_json::from_str(&line).map_err(bad)?;
                let message = Message {
                    id: m.id,
                    thread_id: m.thread_id,
                    parent_id: m.parent_id,
                    height: m.height,
                    format: m.format,
                    content: m.content.get().to_owned(),
                    external_id: m.external_id,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                    run: None,
                };
                let search_text = threadhold_domain::search::search_text_of(&message.content);
                let inserted = store.import_message(&message, &search_text).await.map_err(|error| {
                    ApiError::invalid(format!("line {}: message {} does not fit: {error}", number + 1, message.id))
                })?;
                counts.messages += u64::from(inserted);
                inserted
            }
            other => return Err(ApiError::invalid(format!("line {}: unknown record kind {other:?}", number + 1))),
        };
        counts.skipped += u64::from(!inserted);
    }
    Ok(counts)
}
