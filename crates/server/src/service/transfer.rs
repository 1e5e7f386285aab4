//! Logical export and import as JSON Lines: a backup independent of the
//! database, and the way to move a deployment (SQLite to PostgreSQL, or one
//! server to another). An export of the whole deployment carries every
//! project with its settings, signing keys, API key hashes, auth rules, the
//! server's secrets, anonymous sessions and their refresh-token hashes,
//! threads, messages, feedback, telemetry, scores and attachment records, so
//! an import into an empty database gives back keys, tokens, sessions and
//! rules that still work. Attachment files stay where they are (the
//! `attachments` folder or the bucket) and are referenced by key.
//!
//! ```text
//! {"kind":"project","id":"default","name":"Default project",…}
//! {"kind":"signing_key","kid":"…","private_der":"<base64>",…}
//! {"kind":"thread","id":"thread_…","project_id":"default","workspace_id":"…","title":…,"metadata":…,…}
//! {"kind":"message","id":"msg_…","thread_id":"thread_…","parent_id":…,"height":0,"content":{…},…}
//! {"kind":"score",…}
//! ```
//! Ids, hashes, timestamps (integer milliseconds) and JSON documents are kept
//! exactly; rows come in the order an import needs (projects first, messages
//! after their thread, parents before children); importing twice changes nothing.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use threadhold_domain::limits::MESSAGE_PAGE_MAX;
use threadhold_domain::model::{Message, Thread, ThreadListQuery};
use threadhold_domain::transfer::{ExportRow, ExportTable};
use threadhold_store::{ReadScope, Store, StoreError};

/// Rows read per page while exporting.
const EXPORT_PAGE: u32 = 500;

/// What an export takes.
#[derive(Debug, Clone, Copy)]
pub enum ExportScope<'a> {
    /// Every project with everything it holds, and the server's secrets.
    Deployment,
    /// One project with everything it holds.
    Project(&'a str),
    /// The threads and messages of one workspace of a project.
    Workspace { project_id: &'a str, workspace_id: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("there is no project {0}")]
    ProjectNotFound(String),
    #[error("line {line}: {message}")]
    BadRecord { line: usize, message: String },
    #[error("stored JSON of {0} is invalid")]
    StoredJson(String),
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

/// How many records an export wrote or an import wrote (and skipped as present).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub threads: u64,
    pub messages: u64,
    /// Every other row: projects, keys, rules, sessions, telemetry, …
    pub other: u64,
    pub skipped: u64,
}

fn raw(owner: &str, text: &str) -> Result<Box<RawValue>, TransferError> {
    RawValue::from_string(text.to_owned()).map_err(|_| TransferError::StoredJson(owner.to_owned()))
}

/// Writes what `scope` names as JSON Lines.
pub async fn export(store: &dyn Store, scope: ExportScope<'_>, out: &mut dyn Write) -> Result<Counts, TransferError> {
    let mut counts = Counts::default();
    let (project, workspace) = match scope {
        ExportScope::Deployment => (None, None),
        ExportScope::Project(project) => (Some(project), None),
        ExportScope::Workspace { project_id, workspace_id } => (Some(project_id), Some(workspace_id)),
    };
    if let Some(project) = project
        && store.get_project(project).await?.is_none()
    {
        return Err(TransferError::ProjectNotFound(project.to_owned()));
    }
    let whole_project = workspace.is_none();
    if whole_project {
        for table in ExportTable::BEFORE_THREADS {
            export_table(store, table, project, out, &mut counts).await?;
        }
    }
    let projects = match project {
        Some(project) => vec![project.to_owned()],
        None => store.list_projects().await?.into_iter().map(|p| p.id).collect(),
    };
    for project in &projects {
        export_threads(store, project, workspace, out, &mut counts).await?;
    }
    if whole_project {
        for table in ExportTable::AFTER_THREADS {
            export_table(store, table, project, out, &mut counts).await?;
        }
    }
    Ok(counts)
}

async fn export_table(
    store: &dyn Store,
    table: ExportTable,
    project: Option<&str>,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> Result<(), TransferError> {
    let mut after = String::new();
    loop {
        let rows = store.export_rows(table, project, &after, EXPORT_PAGE).await?;
        for row in &rows {
            write_line(out, row)?;
        }
        counts.other += rows.len() as u64;
        match rows.last() {
            Some(last) if rows.len() == EXPORT_PAGE as usize => after = last.key().to_owned(),
            _ => return Ok(()),
        }
    }
}

async fn export_threads(
    store: &dyn Store,
    project: &str,
    workspace: Option<&str>,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> Result<(), TransferError> {
    const THREAD_PAGE: u32 = 100;
    for archived in [false, true] {
        let mut after = None;
        loop {
            let query = ThreadListQuery {
                project_id: project.to_owned(),
                workspace_id: workspace.map(str::to_owned),
                archived,
                after: after.clone(),
                limit: THREAD_PAGE,
            };
            let threads = store.list_threads(&query).await?;
            for thread in &threads {
                write_thread(store, thread, out, counts).await?;
            }
            match threads.last() {
                Some(last) if threads.len() == THREAD_PAGE as usize => after = Some(last.id.clone()),
                _ => break,
            }
        }
    }
    Ok(())
}

/// One thread and its messages (parents first), as the lines of an export.
pub async fn export_thread<W: Write + ?Sized>(
    store: &dyn Store,
    thread: &Thread,
    out: &mut W,
) -> Result<Counts, TransferError> {
    let mut counts = Counts::default();
    write_thread(store, thread, out, &mut counts).await?;
    Ok(counts)
}

async fn write_thread<W: Write + ?Sized>(
    store: &dyn Store,
    thread: &Thread,
    out: &mut W,
    counts: &mut Counts,
) -> Result<(), TransferError> {
    let record = Record::Thread(ThreadRecord {
        id: thread.id.clone(),
        project_id: thread.project_id.clone(),
        workspace_id: thread.workspace_id.clone(),
        title: thread.title.clone(),
        title_from_user: thread.title_from_user,
        metadata: thread.metadata.as_deref().map(|metadata| raw(&thread.id, metadata)).transpose()?,
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
            content: raw(&message.id, &message.content)?,
            external_id: message.external_id.clone(),
            created_at: message.created_at,
            updated_at: message.updated_at,
        });
        write_line(out, &record)?;
        counts.messages += 1;
    }
    Ok(())
}

fn write_line<W: Write + ?Sized>(out: &mut W, record: &impl Serialize) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, record).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Reads an export; records already present (same key) are skipped. With
/// `project_override`, threads go to that project and rows other than threads
/// and messages are skipped; without it, threads go to the project they name,
/// which must exist or come earlier in the file.
pub async fn import(
    store: &dyn Store,
    project_override: Option<&str>,
    input: &mut dyn BufRead,
) -> Result<Counts, TransferError> {
    let mut counts = Counts::default();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let bad = |message: String| TransferError::BadRecord { line: number, message };
        let line = line.map_err(|error| bad(format!("unreadable: {error}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let not_a_record = |error: serde_json::Error| bad(format!("not an export record: {error}"));
        // Read in two steps: verbatim JSON documents cannot pass through serde's tagged-enum buffering.
        let kind: Kind = serde_json::from_str(&line).map_err(not_a_record)?;
        let written = match kind.kind.as_str() {
            "thread" => {
                let t: ThreadRecord = serde_json::from_str(&line).map_err(not_a_record)?;
                let project_id = project_override.map_or(t.project_id, str::to_owned);
                if store.get_project(&project_id).await?.is_none() {
                    return Err(bad(format!("there is no project {project_id}")));
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
                let m: MessageRecord = serde_json::from_str(&line).map_err(not_a_record)?;
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
                let inserted = store
                    .import_message(&message, &search_text)
                    .await
                    .map_err(|error| bad(format!("message {} does not fit: {error}", message.id)))?;
                counts.messages += u64::from(inserted);
                inserted
            }
            _ if project_override.is_some() => false,
            _ => {
                let row: ExportRow = serde_json::from_str(&line).map_err(not_a_record)?;
                let written = store
                    .import_row(&row)
                    .await
                    .map_err(|error| bad(format!("{} {} does not fit: {error}", kind.kind, row.key())))?;
                counts.other += u64::from(written);
                written
            }
        };
        counts.skipped += u64::from(!written);
    }
    Ok(counts)
}
