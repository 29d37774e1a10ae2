//! What a running task uses to report progress, metrics and logs, and to notice cancellation.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use super::CancelToken;
use crate::domain::common::{Timestamp, now, ts_to_sql};
use crate::domain::run::Run;
use crate::error::{Error, Result};
use crate::events::EventBody;
use crate::runner::Shared;
use crate::store::{Attempt, EventRecord, RunWrite};

/// Handed to [`super::Task::run`]. Reports are written in the background (batched with other writes) and
/// published as events once committed; they never block the task on disk.
pub struct TaskContext {
    run: Run,
    attempt: Attempt,
    token: CancelToken,
    shared: Arc<Shared>,
    device: String,
    last: Mutex<(u8, Option<String>)>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext").field("run", &self.run.id).field("device", &self.device).finish()
    }
}

/// Longest log line kept (longer ones are cut).
const MAX_LOG_LINE: usize = 16 * 1024;

impl TaskContext {
    pub(crate) fn new(run: Run, attempt: Attempt, token: CancelToken, shared: Arc<Shared>, device: String) -> Self {
        let last = Mutex::new((run.progress, run.message.clone()));
        Self { run, attempt, token, shared, device, last }
    }

    /// The run being executed (as it was when it started).
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The run's inputs (a JSON object).
    pub fn inputs(&self) -> &Value {
        &self.run.inputs
    }

    /// The run's hyperparameters (a JSON object).
    pub fn hyperparams(&self) -> &Value {
        &self.run.hyperparams
    }

    /// The device this run should use (`cpu`, `cuda:N` or `auto`).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Records the device the run actually uses (`cpu`, `cuda:0`), e.g. once `auto` is resolved.
    pub fn record_device(&self, device: &str) {
        self.shared.store.record(RunWrite::Device { attempt: self.attempt.clone(), device: device.to_owned() }, None);
    }

    /// The runner's data directory (caches shared by runs live there).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.data_dir
    }

    /// Whether cancellation (or shutdown) was requested.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// `Err(Error::Cancelled)` once cancellation was requested: use with `?` between steps.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }

    /// Reports progress in percent (clamped to 0..=100; a lower value than before is ignored) and an
    /// optional message.
    pub fn progress(&self, percent: f64, message: Option<&str>) {
        self.report_progress(percent, message, None, None);
    }

    /// Reports the current epoch and loss (training), with progress in percent.
    pub fn epoch(&self, epoch: u32, loss: Option<f64>, percent: f64) {
        self.report_progress(percent, None, Some(epoch), loss.filter(|l| l.is_finite()));
    }

    fn report_progress(&self, percent: f64, message: Option<&str>, epoch: Option<u32>, loss: Option<f64>) {
        let pct = if percent.is_nan() { 0 } else { percent.clamp(0.0, 100.0).floor() as u8 };
        let mut last = self.last.lock();
        let pct = pct.max(last.0);
        let message_changed = message.is_some() && message != last.1.as_deref();
        if pct == last.0 && !message_changed && epoch.is_none() && loss.is_none() {
            return;
        }
        last.0 = pct;
        if let Some(m) = message {
            last.1 = Some(m.to_owned());
        }
        drop(last);
        let (message, at) = (message.map(str::to_owned), now());
        let Ok(event) = EventRecord::new(&self.run.id, at, EventBody::Progress { progress: pct, message: message.clone(), epoch, loss })
        else {
            return;
        };
        let write = RunWrite::Progress { attempt: self.attempt.clone(), at: ts_to_sql(&at), progress: pct, message, epoch, loss, event };
        self.shared.store.record(write, None);
    }

    /// Records one value of a metric at a step: appended to the history and set as the latest value.
    pub fn metric(&self, name: &str, step: u64, value: f64) -> Result<()> {
        self.metric_points(name, &[(step, value, now())])
    }

    /// Records several values of one metric, each with its step and the time it was measured, in one
    /// write (a training loop buffers its per-step losses rather than waking the writer every step).
    pub fn metric_points(&self, name: &str, points: &[(u64, f64, Timestamp)]) -> Result<()> {
        validate_metric_name(name)?;
        let Some(last) = points.last() else { return Ok(()) };
        if points.iter().any(|p| !p.1.is_finite()) {
            return Err(Error::invalid(format!("metrics.{name}"), "must be a finite number"));
        }
        let mut latest = serde_json::Map::new();
        latest.insert(name.to_owned(), last.1.into());
        let latest = serde_json::to_string(&latest)?;
        let events = points
            .iter()
            .map(|&(step, value, at)| EventRecord::new(&self.run.id, at, EventBody::Metric { name: name.to_owned(), step, value }))
            .collect::<Result<Vec<_>>>()?;
        self.shared.store.record(RunWrite::Metrics { attempt: self.attempt.clone(), latest, events }, None);
        Ok(())
    }

    /// How many runs are running now (this one included).
    pub fn running_runs(&self) -> usize {
        self.shared.live.lock().values().filter(|l| l.status == crate::domain::run::RunStatus::Running).count().max(1)
    }

    /// Appends a line to the run's log.
    pub fn log(&self, line: impl Into<String>) {
        let mut line = line.into();
        if line.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        let Ok(event) = EventRecord::new(&self.run.id, now(), EventBody::Log { line }) else { return };
        self.shared.store.record(RunWrite::Log { attempt: self.attempt.clone(), event }, None);
    }

    /// A stored dataset's rows.
    pub fn dataset_table(&self, id: &str) -> Result<crate::data::tabular::Table> {
        self.shared.dataset_table(id)
    }

    /// See [`crate::Runner::resolve_data_path`].
    pub fn resolve_data_path(&self, path: &str) -> Result<PathBuf> {
        self.shared.resolve_data_path(path)
    }

    /// See [`crate::Runner::resolve_data_dir`].
    pub fn resolve_data_dir(&self, path: &str) -> Result<PathBuf> {
        self.shared.resolve_data_dir(path)
    }

    /// See [`crate::Runner::resolve_data_location`].
    pub fn resolve_data_location(&self, path: &str) -> Result<PathBuf> {
        self.shared.locate_data(path)
    }

    /// Where this machine reads a file or directory that another run stored (its model, its index): the
    /// path itself when it is here, else its copy fetched from a store many machines share (the files
    /// beside a file come along).
    pub fn locate(&self, path: &std::path::Path) -> Result<PathBuf> {
        self.shared.locate(path, true)
    }

    /// See [`crate::Runner::model_cache_dir`].
    pub fn model_cache_dir(&self) -> PathBuf {
        self.shared.model_cache_dir()
    }

    /// The configured default base model of text runs (`default_model`).
    pub fn default_model(&self) -> String {
        self.shared.config.read().default_model.clone()
    }

    /// Another run, as stored now.
    pub fn get_run(&self, id: &str) -> Result<Run> {
        self.shared.get_run(id)
    }

    /// Runs matching `filter`, newest first.
    pub fn list_runs(&self, filter: &crate::domain::run::RunFilter) -> Result<crate::Page<Run>> {
        self.shared.store.read_tx(|tx| tx.run_list(filter))
    }

    /// A recipe.
    pub fn get_recipe(&self, id: &str) -> Result<crate::domain::recipe::Recipe> {
        self.shared.store.read(|c| crate::store::get_doc(c, id))
    }

    /// The newest synthetic example of a recipe.
    pub fn synthetic_example(&self, recipe_id: &str) -> Result<crate::domain::monitoring::SyntheticExample> {
        self.shared.store.read_tx(|c| crate::runner::monitoring::latest_synthetic_example(c, recipe_id))
    }

    /// A registry entry.
    pub fn get_model(&self, id: &str) -> Result<crate::domain::model::Model> {
        self.shared.store.read(|c| crate::store::get_doc(c, id))
    }

    /// A directory for this run's artifacts (created on first use) under the runner's data directory.
    pub fn artifact_dir(&self) -> Result<PathBuf> {
        let dir = self.shared.data_dir.join("runs").join(&self.run.id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }
}

/// Metric names: 1..=128 characters, no quotes or control characters.
pub(crate) fn validate_metric_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(Error::invalid("metrics", format!("bad metric name {name:?}: 1 to 128 characters, no quotes or control characters")));
    }
    Ok(())
}
