//! Runs: one execution of a task (train, eval, backtest, inference, simulation, fine-tuning) or an
//! externally tracked run whose state its caller reports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{PageRequest, Timestamp, require_object, require_text, string_enum, validate_id};
use crate::error::{Error, Result};

string_enum! {
    /// What a run does.
    RunKind {
        Train = "train",
        Eval = "eval",
        Backtest = "backtest",
        Inference = "inference",
        Simulate = "simulate",
        FineTune = "fine_tune",
    }
}

string_enum! {
    /// Where a run is in its life: `queued → running → succeeded | failed | cancelled`.
    RunStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// `succeeded`, `failed` and `cancelled` are final.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Whether a run may move from `self` to `to` (a status never moves back, and a final one never moves).
    pub const fn can_move_to(self, to: RunStatus) -> bool {
        match self {
            Self::Queued => !matches!(to, Self::Queued),
            Self::Running => to.is_terminal(),
            Self::Succeeded | Self::Failed | Self::Cancelled => false,
        }
    }
}

/// Why a run failed: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    pub code: String,
    pub message: String,
}

/// What a finished run produced: a summary object and tabular rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub summary: Map<String, Value>,
    pub rows: Vec<Value>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    /// Insertion ordinal: unique, increasing; fronts with integer ids use it.
    pub seq: i64,
    pub kind: RunKind,
    /// Registered task that executes the run; `None` for an external run whose caller reports its state.
    pub task: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub recipe_id: Option<String>,
    pub recipe_version_id: Option<String>,
    pub dataset_id: Option<String>,
    pub project_id: Option<String>,
    pub inputs: Value,
    pub hyperparams: Value,
    pub queue: String,
    pub priority: i32,
    pub status: RunStatus,
    /// 0..=100, never decreases.
    pub progress: u8,
    pub message: Option<String>,
    pub current_epoch: Option<u32>,
    pub current_loss: Option<f64>,
    /// Latest value of each metric (the full history is in the run's events).
    pub metrics: Map<String, Value>,
    pub artifacts: Map<String, Value>,
    pub results: Option<RunResults>,
    pub error: Option<RunError>,
    /// How many times a worker started this run.
    pub attempts: u32,
    pub submitted_by: Option<String>,
    /// Device asked for (`cpu`, `cuda:0`, `auto`) at submit, then the device actually used.
    pub device: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The worker process that executes (or last executed) the run: `host-pid-id`, fresh per open.
    #[serde(default)]
    pub worker: Option<String>,
}

/// What to run: the request to [`crate::Runner::submit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub kind: RunKind,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub recipe_id: Option<String>,
    #[serde(default)]
    pub recipe_version_id: Option<String>,
    #[serde(default)]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default = "empty_object")]
    pub inputs: Value,
    #[serde(default = "empty_object")]
    pub hyperparams: Value,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub submitted_by: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The queue a run goes to when its spec names none.
pub const DEFAULT_QUEUE: &str = "default";
/// Priorities are clamped to this range (higher runs first).
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;

impl RunSpec {
    /// A spec of `kind` executed by the registered task `task`.
    pub fn task(kind: RunKind, task: impl Into<String>) -> Self {
        Self { task: Some(task.into()), ..Self::external(kind) }
    }

    /// A spec of an external run: stored and tracked, its state reported by its caller.
    pub fn external(kind: RunKind) -> Self {
        Self {
            kind,
            task: None,
            name: None,
            description: None,
            model_id: None,
            recipe_id: None,
            recipe_version_id: None,
            dataset_id: None,
            project_id: None,
            inputs: empty_object(),
            hyperparams: empty_object(),
            queue: None,
            priority: 0,
            submitted_by: None,
            device: None,
        }
    }

    /// Sets the inputs (a JSON object).
    pub fn with_inputs(mut self, inputs: Value) -> Self {
        self.inputs = inputs;
        self
    }

    /// Sets the hyperparameters (a JSON object).
    pub fn with_hyperparams(mut self, hyperparams: Value) -> Self {
        self.hyperparams = hyperparams;
        self
    }

    /// Sets the model this run belongs to.
    pub fn with_model(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// Sets the queue and priority.
    pub fn on_queue(mut self, queue: impl Into<String>, priority: i32) -> Self {
        self.queue = Some(queue.into());
        self.priority = priority;
        self
    }

    /// Checks everything that does not need the store.
    pub(crate) fn validate(&self) -> Result<()> {
        require_object("inputs", &self.inputs)?;
        require_object("hyperparams", &self.hyperparams)?;
        if let Some(task) = &self.task {
            validate_id("task", task)?;
        }
        if let Some(queue) = &self.queue {
            validate_id("queue", queue)?;
        }
        if !PRIORITY_RANGE.contains(&self.priority) {
            return Err(Error::invalid("priority", format!("must be between {} and {}", PRIORITY_RANGE.start(), PRIORITY_RANGE.end())));
        }
        for (field, value) in [("name", &self.name), ("description", &self.description), ("submitted_by", &self.submitted_by)] {
            if let Some(v) = value {
                require_text(field, v, if field == "description" { 10_000 } else { 256 })?;
            }
        }
        if let Some(device) = &self.device {
            validate_device("device", device)?;
        }
        Ok(())
    }
}

/// Checks a device name: `cpu`, `auto`, `cuda` or `cuda:N`.
pub fn validate_device(field: &str, device: &str) -> Result<()> {
    let ok = matches!(device, "cpu" | "auto" | "cuda")
        || device.strip_prefix("cuda:").is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()));
    if ok { Ok(()) } else { Err(Error::invalid(field, format!("unknown device {device:?}; expected cpu, auto, cuda or cuda:N"))) }
}

/// A caller's report on an external run (001's `PUT /runs/{id}`); absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// Merged into the run's latest metrics; numeric values are also recorded in the metric history.
    #[serde(default)]
    pub metrics: Option<Map<String, Value>>,
    /// Merged into the run's artifacts.
    #[serde(default)]
    pub artifacts: Option<Map<String, Value>>,
    /// Appended to the run's log, one log line per text line.
    #[serde(default)]
    pub logs: Option<String>,
    #[serde(default)]
    pub progress: Option<u8>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<RunError>,
}

/// Filters for listing runs; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub kind: Option<RunKind>,
    pub task: Option<String>,
    pub model_id: Option<String>,
    pub recipe_id: Option<String>,
    pub dataset_id: Option<String>,
    pub project_id: Option<String>,
    pub queue: Option<String>,
    pub submitted_by: Option<String>,
    #[serde(default)]
    pub page: PageRequest,
}

/// One recorded value of a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    pub step: u64,
    pub value: f64,
    pub at: Timestamp,
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: Timestamp,
    pub line: String,
}
