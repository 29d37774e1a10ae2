//! Rows as the store receives them, serialized off the writer's thread: a new run, how a run ended, an
//! event. Every engine binds the same fields.

use crate::domain::common::{Timestamp, ts_to_sql};
use crate::domain::run::{Run, RunError, RunResults, RunStatus};
use crate::error::Result;
use crate::events::EventBody;

/// A run as inserted: its scalar fields, and its JSON and time fields as text.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) task: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) model_id: Option<String>,
    pub(crate) recipe_id: Option<String>,
    pub(crate) recipe_version_id: Option<String>,
    pub(crate) dataset_id: Option<String>,
    pub(crate) project_id: Option<String>,
    pub(crate) inputs: String,
    pub(crate) hyperparams: String,
    pub(crate) queue: String,
    pub(crate) priority: i32,
    pub(crate) status: &'static str,
    pub(crate) progress: u8,
    pub(crate) message: Option<String>,
    pub(crate) current_epoch: Option<u32>,
    pub(crate) current_loss: Option<f64>,
    pub(crate) metrics: String,
    pub(crate) artifacts: String,
    pub(crate) results: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) submitted_by: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) worker: Option<String>,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) updated_at: String,
    pub(crate) finished_at: Option<String>,
}

impl RunRecord {
    pub(crate) fn new(run: &Run) -> Result<Self> {
        let json = |v: &serde_json::Value| serde_json::to_string(v);
        Ok(Self {
            seq: run.seq,
            id: run.id.clone(),
            kind: run.kind.as_str(),
            task: run.task.clone(),
            name: run.name.clone(),
            description: run.description.clone(),
            model_id: run.model_id.clone(),
            recipe_id: run.recipe_id.clone(),
            recipe_version_id: run.recipe_version_id.clone(),
            dataset_id: run.dataset_id.clone(),
            project_id: run.project_id.clone(),
            inputs: json(&run.inputs)?,
            hyperparams: json(&run.hyperparams)?,
            queue: run.queue.clone(),
            priority: run.priority,
            status: run.status.as_str(),
            progress: run.progress,
            message: run.message.clone(),
            current_epoch: run.current_epoch,
            current_loss: run.current_loss,
            metrics: serde_json::to_string(&run.metrics)?,
            artifacts: serde_json::to_string(&run.artifacts)?,
            results: run.results.as_ref().map(serde_json::to_string).transpose()?,
            error: run.error.as_ref().map(serde_json::to_string).transpose()?,
            attempts: run.attempts,
            submitted_by: run.submitted_by.clone(),
            device: run.device.clone(),
            worker: run.worker.clone(),
            created_at: ts_to_sql(&run.created_at),
            started_at: run.started_at.as_ref().map(ts_to_sql),
            updated_at: ts_to_sql(&run.updated_at),
            finished_at: run.finished_at.as_ref().map(ts_to_sql),
        })
    }
}

/// How a run ended (or, for `queued`, why it went back to its queue).
#[derive(Debug, Clone)]
pub(crate) struct FinishRecord {
    pub(crate) at: String,
    pub(crate) status: RunStatus,
    pub(crate) message: Option<String>,
    pub(crate) results: Option<String>,
    pub(crate) error: Option<String>,
}

impl FinishRecord {
    pub(crate) fn new(
        at: &Timestamp,
        status: RunStatus,
        message: Option<&str>,
        results: Option<&RunResults>,
        error: Option<&RunError>,
    ) -> Result<Self> {
        Ok(Self {
            at: ts_to_sql(at),
            status,
            message: message.map(str::to_owned),
            results: results.map(serde_json::to_string).transpose()?,
            error: error.map(serde_json::to_string).transpose()?,
        })
    }

    /// The lowest progress the final status implies (a succeeded run is at 100).
    pub(crate) fn progress_floor(&self) -> u8 {
        if self.status == RunStatus::Succeeded { 100 } else { 0 }
    }
}

/// An event as inserted; its id comes from the store.
#[derive(Debug, Clone)]
pub(crate) struct EventRecord {
    pub(crate) run_id: String,
    pub(crate) at: Timestamp,
    pub(crate) at_sql: String,
    pub(crate) body_json: String,
    pub(crate) body: EventBody,
}

impl EventRecord {
    pub(crate) fn new(run_id: &str, at: Timestamp, body: EventBody) -> Result<Self> {
        Ok(Self { run_id: run_id.to_owned(), at, at_sql: ts_to_sql(&at), body_json: serde_json::to_string(&body)?, body })
    }

    /// The event of a run entering the queue at submit.
    pub(crate) fn queued(run: &Run) -> Result<Self> {
        Self::new(&run.id, run.created_at, EventBody::State { status: RunStatus::Queued, message: None, error: None })
    }

    pub(crate) fn state(run_id: &str, at: Timestamp, status: RunStatus, message: Option<String>, error: Option<RunError>) -> Result<Self> {
        Self::new(run_id, at, EventBody::State { status, message, error })
    }
}

/// One attempt at a run by one worker: the store refuses what a stale attempt writes (a run rescued
/// from a worker that lost its lease is another attempt's now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub(crate) run_id: String,
    pub(crate) number: u32,
    /// The worker process holding it.
    pub(crate) worker: std::sync::Arc<str>,
}

/// The filters of a run listing as `(column, value)` pairs; `None` filters nothing.
pub(crate) fn run_filter_columns(filter: &crate::domain::run::RunFilter) -> [(&'static str, Option<String>); 9] {
    [
        ("status", filter.status.map(|s| s.as_str().to_owned())),
        ("kind", filter.kind.map(|k| k.as_str().to_owned())),
        ("task", filter.task.clone()),
        ("model_id", filter.model_id.clone()),
        ("recipe_id", filter.recipe_id.clone()),
        ("dataset_id", filter.dataset_id.clone()),
        ("project_id", filter.project_id.clone()),
        ("queue", filter.queue.clone()),
        ("submitted_by", filter.submitted_by.clone()),
    ]
}
