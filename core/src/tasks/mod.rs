//! Tasks built into the core.

pub mod classic;
pub mod finetune;
pub mod forecast;
pub mod generation;
pub mod neural;
pub mod retrieval;
pub mod simulator;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::domain::run::RunStatus;
use crate::error::{Error, Result};

/// Where the saved model an inference run names lives: a succeeded training run's `model_path`
/// artifact, or a registry model's promoted path. Errors name `inputs.model_id`.
pub(crate) fn saved_model_path(
    model_ref: &str,
    get_run: impl Fn(&str) -> Result<crate::Run>,
    get_model: impl Fn(&str) -> Result<crate::Model>,
    locate: impl Fn(&Path) -> Result<PathBuf>,
) -> Result<PathBuf> {
    const FIELD: &str = "inputs.model_id";
    let path = match get_run(model_ref) {
        Ok(run) if run.status != RunStatus::Succeeded => {
            return Err(Error::invalid(FIELD, format!("run {model_ref} is {}; only a succeeded training run has a model", run.status)));
        }
        Ok(run) => run.artifacts.get("model_path").and_then(serde_json::Value::as_str).map(str::to_owned),
        Err(Error::NotFound { .. }) => match get_model(model_ref) {
            Ok(model) => model.saved_model_path,
            Err(Error::NotFound { .. }) => {
                return Err(Error::invalid(FIELD, format!("no trained model or training run has id {model_ref:?}")));
            }
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let path = path.map(PathBuf::from).ok_or_else(|| Error::invalid(FIELD, format!("{model_ref} has no saved model")))?;
    locate(&path)
}

/// Step losses are written in batches, at most every this often, and at the end of each epoch.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// A metric value with its step and the time it was measured.
type Point = (u64, f64, crate::Timestamp);

/// A training run's per-step losses, written to its `loss` metric in batches, each batch also moving
/// the run's epoch, current loss and progress (up to 97% over `total_steps`).
pub(crate) struct StepLosses<'a> {
    ctx: &'a crate::executor::TaskContext,
    total_steps: u64,
    /// Losses not written yet, and when the last batch was.
    pending: parking_lot::Mutex<(Vec<Point>, Instant)>,
}

impl<'a> StepLosses<'a> {
    pub(crate) fn new(ctx: &'a crate::executor::TaskContext, total_steps: u64) -> Self {
        Self { ctx, total_steps, pending: parking_lot::Mutex::new((Vec::new(), Instant::now())) }
    }

    /// Records step `step`'s loss (a non-finite one is skipped); writes the batch when it is due.
    pub(crate) fn push(&self, step: u64, epoch: u32, loss: f64) -> Result<()> {
        let due = {
            let mut pending = self.pending.lock();
            if loss.is_finite() {
                pending.0.push((step, loss, crate::now()));
            }
            pending.1.elapsed() >= FLUSH_EVERY
        };
        if due { self.flush(epoch) } else { Ok(()) }
    }

    /// Writes the losses not written yet.
    pub(crate) fn flush(&self, epoch: u32) -> Result<()> {
        let mut pending = self.pending.lock();
        let Some(&(step, loss, _)) = pending.0.last() else { return Ok(()) };
        self.ctx.metric_points("loss", &pending.0)?;
        self.ctx.epoch(epoch, Some(loss), 97.0 * step as f64 / self.total_steps.max(1) as f64);
        pending.0.clear();
        pending.1 = Instant::now();
        Ok(())
    }
}

/// Replaces `dir/checkpoint.bpk` with the weights `save` writes to `dir/checkpoint-next` (burnpack
/// appends `.bpk`), only once they are whole.
pub(crate) fn replace_checkpoint(dir: &Path, save: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    save(&dir.join("checkpoint-next"))?;
    let (from, to) = (dir.join("checkpoint-next.bpk"), dir.join("checkpoint.bpk"));
    std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))
}
