//! The task API: what an engine implements to run a kind of work.

use serde_json::{Map, Value};

use super::TaskContext;
use crate::domain::model::Model;
use crate::domain::run::RunSpec;
use crate::error::Result;
use crate::runner::Runner;

/// What a task sees when a run is submitted, to reject bad input before anything is stored.
#[derive(Debug)]
pub struct TaskSubmit<'a> {
    pub spec: &'a RunSpec,
    /// The registry entry the run belongs to, if any (its `params` grid bounds the inputs).
    pub model: Option<&'a Model>,
    /// The runner the run is submitted to (to read datasets, files and other runs).
    pub runner: &'a Runner,
}

/// What a successful task returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskOutput {
    pub summary: Map<String, Value>,
    pub rows: Vec<Value>,
    /// Final metrics, merged into the run's latest metrics.
    pub metrics: Map<String, Value>,
    /// Paths and references the run produced, merged into the run's artifacts.
    pub artifacts: Map<String, Value>,
    /// A closing status message.
    pub message: Option<String>,
}

/// A kind of work the executor can run. Implementations must poll [`TaskContext::check_cancelled`]
/// (or [`TaskContext::is_cancelled`]) between steps and return `Err(Error::Cancelled)` once cancelled.
///
/// Any `Fn(&TaskContext) -> Result<TaskOutput>` closure is a task.
pub trait Task: Send + Sync + 'static {
    /// Checks a submission; runs on the submitting thread before the run is stored.
    fn validate(&self, _submit: &TaskSubmit<'_>) -> Result<()> {
        Ok(())
    }

    /// Does the work on a worker thread.
    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput>;
}

impl<F> Task for F
where
    F: Fn(&TaskContext) -> Result<TaskOutput> + Send + Sync + 'static,
{
    fn run(&self, ctx: &TaskContext) -> Result<TaskOutput> {
        self(ctx)
    }
}
