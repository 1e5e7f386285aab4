//! Server traces: an export's kept spans stored per trace for their runs.

use threadhold_domain::ids::{IdKind, new_id};
use threadhold_domain::model::{TraceBatch, WorkspaceScope};
use threadhold_domain::now_ms;
use threadhold_domain::telemetry::trace::{ResourceSpans, split_export};
use threadhold_store::Store;

use super::ServiceResult;

/// What an export was turned into: spans turned away (not model calls, or
/// past a trace's limit) and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    pub rejected: usize,
    /// One message per trace that hit its limit.
    pub errors: Vec<String>,
}

pub async fn ingest(store: &dyn Store, scope: &WorkspaceScope, export: Vec<ResourceSpans>) -> ServiceResult<Ingested> {
    let (parts, mut rejected) = split_export(export);
    let mut errors = Vec::new();
    for part in parts {
        let batch = TraceBatch {
            scope: scope.clone(),
            new_run_id: new_id(IdKind::Run),
            now: now_ms(),
            trace_id: part.trace_id,
            spans: part.spans,
            hints: part.hints,
        };
        let outcome = store.record_trace(&batch).await?;
        if outcome.rejected > 0 {
            rejected += outcome.rejected;
            errors.push(format!(
                "Trace {} exceeds the {} span limit",
                batch.trace_id,
                threadhold_domain::limits::SPANS_PER_TRACE_MAX
            ));
        }
    }
    Ok(Ingested { rejected, errors })
}

impl Ingested {
    /// `partialSuccess.errorMessage`: the per-trace errors, else a count.
    pub fn message(&self) -> String {
        if self.errors.is_empty() {
            format!(
                "{} spans were rejected: only model-call spans (gen_ai.*, ai.*, llm.* or a gen_ai.operation.name \
                 attribute) with valid trace and span ids are kept",
                self.rejected
            )
        } else {
            self.errors.join("; ")
        }
    }
}
