//! Threads for the dashboard: a project's threads across workspaces with
//! filters and search, a thread's transcript as a conversation (one branch of
//! its message tree at a time, every branch reachable), deletion, and export
//! as JSON Lines or Markdown.

use std::collections::HashMap;

use serde_json::{Value, json};
use threadhold_domain::dashboard::AdminThreadQuery;
use threadhold_domain::limits::MESSAGE_PAGE_MAX;
use threadhold_domain::model::{Message, Thread, WorkspaceScope};
use threadhold_domain::search::QUERY_MAX_CHARS;
use threadhold_domain::{Millis, format_ms};
use threadhold_store::{ReadScope, Store, StoreError};

use super::audit::{self, Change};
use super::projects::{self, ProjectError};
use super::transfer::{self, TransferError};
use super::users::delete_files;
use super::{Actor, Denied, Failure, FailureClass, Fault, Page, Permission, authorize};
use crate::files::BlobStore;

/// Threads per page at most.
pub const THREAD_PAGE_MAX: u32 = 100;
/// Messages a transcript reads at most.
pub const TRANSCRIPT_MESSAGES_MAX: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    #[error("The search must be 1 to {QUERY_MAX_CHARS} characters")]
    BadSearch,
    #[error("The date range ends before it starts")]
    BadRange,
    #[error("There is no thread {0} in this project")]
    NotFound(String),
    #[error("There is no message {0} in this thread")]
    NoSuchBranch(String),
    #[error(transparent)]
    Export(#[from] TransferError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for ThreadError {
    fn failure(self) -> Result<Failure, StoreError> {
        let message = self.to_string();
        Ok(match self {
            ThreadError::BadSearch => Failure::field("q", "invalid_query", message),
            ThreadError::BadRange => Failure::field("until", "invalid_range", message),
            ThreadError::NotFound(_) => Failure::new(FailureClass::NotFound, "thread_not_found", message),
            ThreadError::NoSuchBranch(_) => Failure::field("branch", "message_not_found", message),
            ThreadError::Export(TransferError::Store(error)) | ThreadError::Store(error) => return Err(error),
            ThreadError::Export(other) => Failure::new(FailureClass::Conflict, "export_failed", other.to_string()),
            ThreadError::Project(error) => return error.failure(),
            ThreadError::Denied(denied) => return denied.failure(),
        })
    }
}

/// What the Threads page filters by.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilters {
    pub workspace: Option<String>,
    /// The threads of this user's workspaces (from the users registry).
    pub user: Option<String>,
    pub archived: Option<bool>,
    pub from: Option<Millis>,
    pub until: Option<Millis>,
    /// Title or message text.
    pub search: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

/// A listed thread, with the matching snippet of a search.
#[derive(Debug, Clone)]
pub struct ThreadRow {
    pub thread: Thread,
    pub snippet: Option<String>,
}

pub async fn list(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    filters: ThreadFilters,
) -> Result<Page<ThreadRow>, ThreadError> {
    authorize(actor, Permission::Read)?;
    projects::require(store, project_id).await?;
    if let (Some(from), Some(until)) = (filters.from, filters.until)
        && until <= from
    {
        return Err(ThreadError::BadRange);
    }
    let limit = filters.limit.clamp(1, THREAD_PAGE_MAX);
    let mut workspaces: Vec<String> = filters.workspace.into_iter().collect();
    if let Some(user) = &filters.user {
        let known = store.get_user(project_id, user).await?.map(|u| u.workspaces).unwrap_or_default();
        // Unknown users still have their personal workspace.
        let of_user = if known.is_empty() { vec![user.clone()] } else { known };
        workspaces = if workspaces.is_empty() {
            of_user
        } else {
            workspaces.into_iter().filter(|w| of_user.contains(w)).collect()
        };
        if workspaces.is_empty() {
            return Ok(Page { items: Vec::new(), next: None });
        }
    }
    if let Some(needle) = filters.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if needle.chars().count() > QUERY_MAX_CHARS {
            return Err(ThreadError::BadSearch);
        }
        // Search reads one workspace or the whole project; other filters narrow its page.
        let scope = ReadScope {
            project_id: project_id.to_owned(),
            workspace_id: workspaces.first().cloned().filter(|_| workspaces.len() == 1),
        };
        let hits = store.search(&scope, needle, limit + 1, filters.after.as_deref()).await?;
        let rows = hits
            .into_iter()
            .filter(|hit| workspaces.is_empty() || workspaces.contains(&hit.thread.workspace_id))
            .filter(|hit| filters.archived.is_none_or(|archived| hit.thread.is_archived == archived))
            .filter(|hit| filters.from.is_none_or(|from| hit.thread.last_message_at >= from))
            .filter(|hit| filters.until.is_none_or(|until| hit.thread.last_message_at < until))
            .map(|hit| ThreadRow { thread: hit.thread, snippet: Some(hit.snippet) })
            .collect();
        return Ok(Page::from_probe(rows, limit, |row| row.thread.id.clone()));
    }
    let query = AdminThreadQuery {
        project_id: project_id.to_owned(),
        workspaces,
        archived: filters.archived,
        from: filters.from,
        until: filters.until,
        after: filters.after,
        limit: limit + 1,
    };
    let rows = store.admin_list_threads(&query).await?.into_iter().map(|thread| ThreadRow { thread, snippet: None });
    Ok(Page::from_probe(rows.collect(), limit, |row| row.thread.id.clone()))
}

/// A part of a message, read from any stored format (aui/v0, ai-sdk/v5, ai-sdk/v6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Reasoning(String),
    ToolCall {
        name: String,
        args: String,
        result: Option<String>,
    },
    /// An image, file or attachment: a link.
    File {
        name: String,
        url: Option<String>,
        media_type: Option<String>,
    },
    /// Anything else, as JSON.
    Other(String),
}

/// The role and the parts of a stored message's content.
pub fn read_content(content: &str) -> (String, Vec<Part>) {
    let Ok(value) = serde_json::from_str::<Value>(content) else {
        return ("unknown".into(), vec![Part::Other(content.to_owned())]);
    };
    let role = value.get("role").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let mut parts = Vec::new();
    let list = value.get("content").or_else(|| value.get("parts"));
    match list {
        Some(Value::String(text)) => parts.push(Part::Text(text.clone())),
        Some(Value::Array(items)) => parts.extend(items.iter().map(read_part)),
        _ => {}
    }
    for attachment in value.get("attachments").and_then(Value::as_array).into_iter().flatten() {
        let name = text_of(attachment, &["name", "filename"]).unwrap_or_else(|| "attachment".into());
        let url = attachment
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|part| text_of(part, &["image", "data", "url"]))
            .or_else(|| text_of(attachment, &["url"]));
        parts.push(Part::File { name, url, media_type: text_of(attachment, &["contentType", "mediaType"]) });
    }
    (role, parts)
}

fn text_of(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| value.get(*key).and_then(Value::as_str)).map(str::to_owned)
}

fn compact(value: Option<&Value>) -> Option<String> {
    value.filter(|v| !v.is_null()).map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
}

fn read_part(part: &Value) -> Part {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" => Part::Text(text_of(part, &["text"]).unwrap_or_default()),
        "reasoning" => Part::Reasoning(text_of(part, &["text", "reasoning"]).unwrap_or_default()),
        "tool-call" | "dynamic-tool" => Part::ToolCall {
            name: text_of(part, &["toolName"]).unwrap_or_else(|| "tool".into()),
            args: compact(part.get("args").or_else(|| part.get("input"))).unwrap_or_default(),
            result: compact(part.get("result").or_else(|| part.get("output"))),
        },
        kind if kind.starts_with("tool-") => Part::ToolCall {
            name: kind.trim_start_matches("tool-").to_owned(),
            args: compact(part.get("input").or_else(|| part.get("args"))).unwrap_or_default(),
            result: compact(part.get("output").or_else(|| part.get("result"))),
        },
        "image" | "file" => Part::File {
            name: text_of(part, &["filename", "name"]).unwrap_or_else(|| kind.to_owned()),
            url: text_of(part, &["image", "url", "data"]),
            media_type: text_of(part, &["mediaType", "mimeType"]),
        },
        _ => Part::Other(part.to_string()),
    }
}

/// A message on the shown branch, with its alternatives.
#[derive(Debug, Clone)]
pub struct TranscriptEntry {
    pub message: Message,
    pub role: String,
    pub parts: Vec<Part>,
    /// The ids of this message and its siblings (same parent), oldest first.
    pub siblings: Vec<String>,
    /// This message's place among them.
    pub position: usize,
}

/// A thread read as a conversation along one branch.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub thread: Thread,
    pub entries: Vec<TranscriptEntry>,
    /// Messages in the whole tree (all branches).
    pub message_count: usize,
    /// True when the thread holds more than [`TRANSCRIPT_MESSAGES_MAX`] messages.
    pub truncated: bool,
}

impl Transcript {
    /// Whether any message on the branch has alternatives.
    pub fn has_branches(&self) -> bool {
        self.entries.iter().any(|entry| entry.siblings.len() > 1)
    }
}

async fn thread_of(store: &dyn Store, project_id: &str, thread_id: &str) -> Result<Thread, ThreadError> {
    let scope = ReadScope { project_id: project_id.to_owned(), workspace_id: None };
    store.get_thread(&scope, thread_id).await?.ok_or_else(|| ThreadError::NotFound(thread_id.to_owned()))
}

/// The thread's messages, deepest first as the store lists them, up to the cap.
async fn messages_of(store: &dyn Store, thread: &Thread) -> Result<(Vec<Message>, bool), StoreError> {
    let scope = ReadScope { project_id: thread.project_id.clone(), workspace_id: None };
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let after = messages.last().map(|m| m.id.clone());
        let page = store.list_messages(&scope, &thread.id, after.as_deref(), MESSAGE_PAGE_MAX).await?;
        let full = page.len() == MESSAGE_PAGE_MAX as usize;
        messages.extend(page);
        if messages.len() >= TRANSCRIPT_MESSAGES_MAX {
            messages.truncate(TRANSCRIPT_MESSAGES_MAX);
            return Ok((messages, true));
        }
        if !full {
            return Ok((messages, false));
        }
    }
}

/// The transcript along the branch through `branch` (a message id), or along
/// the newest branch: at every fork the most recent child.
pub async fn transcript(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    thread_id: &str,
    branch: Option<&str>,
) -> Result<Transcript, ThreadError> {
    authorize(actor, Permission::Read)?;
    let thread = thread_of(store, project_id, thread_id).await?;
    let (messages, truncated) = messages_of(store, &thread).await?;
    let message_count = messages.len();
    let path = branch_path(&messages, branch)?;
    let by_id: HashMap<&str, &Message> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut children: HashMap<Option<&str>, Vec<&Message>> = HashMap::new();
    for message in &messages {
        children.entry(message.parent_id.as_deref()).or_default().push(message);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    }
    let entries = path
        .iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .map(|message| {
            let siblings: Vec<String> = children
                .get(&message.parent_id.as_deref())
                .map(|list| list.iter().map(|m| m.id.clone()).collect())
                .unwrap_or_default();
            let position = siblings.iter().position(|id| *id == message.id).unwrap_or(0);
            let (role, parts) = read_content(&message.content);
            TranscriptEntry { message: (*message).clone(), role, parts, siblings, position }
        })
        .collect();
    Ok(Transcript { thread, entries, message_count, truncated })
}

/// The ids from a root to a leaf through `through` (or the newest leaf).
fn branch_path(messages: &[Message], through: Option<&str>) -> Result<Vec<String>, ThreadError> {
    let by_id: HashMap<&str, &Message> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    let newest_child = |parent: Option<&str>| {
        messages
            .iter()
            .filter(|m| {
                m.parent_id.as_deref() == parent && (parent.is_none() || by_id.contains_key(parent.unwrap_or_default()))
            })
            .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
    };
    let mut path: Vec<String> = Vec::new();
    let start = match through {
        Some(id) => {
            let message = by_id.get(id).ok_or_else(|| ThreadError::NoSuchBranch(id.to_owned()))?;
            // Up to the root (guarding against a cycle in damaged data).
            let mut up = vec![message.id.clone()];
            let mut current = *message;
            while let Some(parent) = current.parent_id.as_deref().and_then(|p| by_id.get(p)) {
                if up.len() > messages.len() {
                    break;
                }
                up.push(parent.id.clone());
                current = parent;
            }
            up.reverse();
            path.extend(up);
            Some(message.id.as_str())
        }
        None => {
            let root = newest_child(None);
            if let Some(root) = root {
                path.push(root.id.clone());
            }
            root.map(|m| m.id.as_str())
        }
    };
    let mut current = start;
    while let Some(id) = current {
        match newest_child(Some(id)) {
            Some(child) if path.len() <= messages.len() => {
                path.push(child.id.clone());
                current = Some(child.id.as_str());
            }
            _ => break,
        }
    }
    Ok(path)
}

/// Deletes a thread with its messages and files.
pub async fn delete(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    actor: &Actor,
    project_id: &str,
    thread_id: &str,
) -> Result<(), ThreadError> {
    authorize(actor, Permission::DeleteThreads)?;
    let thread = thread_of(store, project_id, thread_id).await?;
    let scope = WorkspaceScope { project_id: project_id.to_owned(), workspace_id: thread.workspace_id.clone() };
    let files = store.delete_thread(&scope, thread_id).await?;
    delete_files(blobs, &files).await;
    let details = json!({ "workspace_id": thread.workspace_id, "title": thread.title });
    audit::record(
        store,
        actor,
        Change {
            action: "thread.delete",
            project_id: Some(project_id),
            object_type: "thread",
            object_id: thread_id,
            details,
        },
    )
    .await?;
    Ok(())
}

/// The thread and every message as JSON Lines (the records of `threadhold export`).
pub async fn export_jsonl(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    thread_id: &str,
) -> Result<Vec<u8>, ThreadError> {
    authorize(actor, Permission::Read)?;
    let thread = thread_of(store, project_id, thread_id).await?;
    let mut out = Vec::new();
    transfer::export_thread(store, &thread, &mut out).await?;
    Ok(out)
}

/// The shown branch of the thread as Markdown.
pub async fn export_markdown(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    thread_id: &str,
    branch: Option<&str>,
) -> Result<String, ThreadError> {
    let transcript = transcript(store, actor, project_id, thread_id, branch).await?;
    Ok(markdown(&transcript))
}

/// A transcript as Markdown: a heading per message, text as written, tool calls as code blocks.
pub fn markdown(transcript: &Transcript) -> String {
    let thread = &transcript.thread;
    let mut out = format!("# {}\n\n", thread.title.as_deref().unwrap_or("Untitled thread"));
    out.push_str(&format!(
        "- Thread: `{}`\n- Workspace: `{}`\n- Last message: {}\n\n",
        thread.id,
        thread.workspace_id,
        format_ms(thread.last_message_at)
    ));
    for entry in &transcript.entries {
        let mut role = entry.role.clone();
        if let Some(first) = role.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        out.push_str(&format!("## {role}\n\n"));
        if entry.siblings.len() > 1 {
            out.push_str(&format!("_Branch {} of {}_\n\n", entry.position + 1, entry.siblings.len()));
        }
        for part in &entry.parts {
            match part {
                Part::Text(text) => out.push_str(&format!("{text}\n\n")),
                Part::Reasoning(text) => out.push_str(&format!("> {}\n\n", text.replace('\n', "\n> "))),
                Part::ToolCall { name, args, result } => {
                    out.push_str(&format!("Tool call `{name}`:\n\n```json\n{args}\n```\n\n"));
                    if let Some(result) = result {
                        out.push_str(&format!("Result:\n\n```json\n{result}\n```\n\n"));
                    }
                }
                Part::File { name, url: Some(url), .. } => out.push_str(&format!("[{name}]({url})\n\n")),
                Part::File { name, url: None, .. } => out.push_str(&format!("Attachment: {name}\n\n")),
                Part::Other(json) => out.push_str(&format!("```json\n{json}\n```\n\n")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, parent: Option<&str>, at: i64) -> Message {
        Message {
            id: id.into(),
            thread_id: "t".into(),
            parent_id: parent.map(str::to_owned),
            height: 0,
            format: "aui/v0".into(),
            content: "{}".into(),
            external_id: None,
            created_at: at,
            updated_at: at,
            run: None,
        }
    }

    #[test]
    fn branches_follow_the_newest_child_unless_one_is_chosen() {
        // a → b → d, a → c (newer) → e
        let messages = vec![
            message("a", None, 1),
            message("b", Some("a"), 2),
            message("c", Some("a"), 3),
            message("d", Some("b"), 4),
            message("e", Some("c"), 5),
        ];
        assert_eq!(branch_path(&messages, None).expect("path"), ["a", "c", "e"]);
        assert_eq!(branch_path(&messages, Some("b")).expect("path"), ["a", "b", "d"]);
        assert_eq!(branch_path(&messages, Some("e")).expect("path"), ["a", "c", "e"]);
        assert!(matches!(branch_path(&messages, Some("zz")), Err(ThreadError::NoSuchBranch(_))));
        assert!(branch_path(&[], None).expect("empty").is_empty());
    }

    #[test]
    fn contents_of_every_format_read_as_parts() {
        let aui = r#"{"role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"tool-call","toolName":"search","args":{"q":1},"result":{"hits":2}}],"attachments":[{"name":"a.png","contentType":"image/png","content":[{"type":"image","image":"https://x/a.png"}]}]}"#;
        let (role, parts) = read_content(aui);
        assert_eq!(role, "assistant");
        assert_eq!(parts[0], Part::Text("Hi".into()));
        assert!(matches!(&parts[1], Part::ToolCall { name, result: Some(_), .. } if name == "search"));
        assert!(matches!(&parts[2], Part::File { url: Some(url), .. } if url == "https://x/a.png"));
        let v6 = r#"{"role":"assistant","parts":[{"type":"reasoning","text":"hmm"},{"type":"tool-weather","input":{"city":"Oslo"},"output":"rain"}]}"#;
        let (_, parts) = read_content(v6);
        assert_eq!(parts[0], Part::Reasoning("hmm".into()));
        assert!(matches!(&parts[1], Part::ToolCall { name, .. } if name == "weather"));
        assert_eq!(read_content("not json").0, "unknown");
    }
}
