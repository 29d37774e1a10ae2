//! What crosses the boundary, typed: the records the core returns (read from its serde form, so a field
//! the core adds never needs a hand-written copy) and the option objects calls take. napi-rs writes
//! each Rust field in camelCase in JavaScript and in the generated `index.d.ts`.
//!
//! Free-form data — a run's `inputs`, `hyperparams`, `metrics`, result rows, a recipe's manifest — stays
//! `any`: it is the caller's own.

use napi_derive::napi;
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---- records the core returns ----

/// Why a run failed.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct RunFailure {
    /// Stable code (`TASK_FAILED`, `INTERRUPTED`, …).
    pub code: String,
    pub message: String,
}

/// A run as stored: what was asked, where it stands and what it produced so far.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// Insertion ordinal: unique and increasing.
    pub seq: i64,
    #[napi(ts_type = "'train' | 'eval' | 'backtest' | 'inference' | 'simulate' | 'fine_tune'")]
    pub kind: String,
    /// The registered task that executes it (`simulator`, `neural_train`, `classic_train`, …).
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
    #[napi(ts_type = "RunStatus")]
    pub status: String,
    /// 0 to 100, never decreasing.
    pub progress: u32,
    pub message: Option<String>,
    pub current_epoch: Option<u32>,
    pub current_loss: Option<f64>,
    /// The latest value of each metric (`metrics()` has the history).
    pub metrics: Value,
    pub artifacts: Value,
    pub error: Option<RunFailure>,
    /// How many times a worker started it.
    pub attempts: u32,
    /// The worker process (`host-pid-id`) that executes or last executed it.
    pub worker: Option<String>,
    pub submitted_by: Option<String>,
    /// The device asked for, then the one used.
    pub device: Option<String>,
    /// RFC 3339 times.
    pub created_at: String,
    pub started_at: Option<String>,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// One event of a run. `type` says which fields it carries: `state` (`status`, `message`, `error`),
/// `progress` (`progress`, `message`, `epoch`, `loss`), `metric` (`name`, `step`, `value`), `log` (`line`).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct RunEvent {
    /// Store-wide, increasing in commit order.
    pub id: i64,
    pub run_id: String,
    pub at: String,
    #[napi(js_name = "type", ts_type = "'state' | 'progress' | 'metric' | 'log'")]
    #[serde(rename = "type")]
    pub event_type: String,
    #[napi(ts_type = "RunStatus")]
    pub status: Option<String>,
    pub message: Option<String>,
    pub error: Option<RunFailure>,
    pub progress: Option<u32>,
    pub epoch: Option<u32>,
    pub loss: Option<f64>,
    pub name: Option<String>,
    pub step: Option<i64>,
    pub value: Option<f64>,
    pub line: Option<String>,
}

/// One point of a metric's history.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    pub step: i64,
    pub value: f64,
    pub at: String,
}

/// What a succeeded run produced: a summary and one row per result (per KPI, per sample, …).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct RunResults {
    pub summary: Value,
    pub rows: Vec<Value>,
}

/// A threshold on a monitoring metric.
#[napi(object)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRule {
    /// `performance.<name>` or `drift.<name>`.
    pub metric: String,
    #[napi(ts_type = "'gt' | 'gte' | 'lt' | 'lte'")]
    pub op: String,
    pub threshold: f64,
    pub note: Option<String>,
}

/// A registry entry.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub model_family: Option<String>,
    /// A catalog model's parameter grid.
    pub params: Value,
    /// The task a catalog model runs.
    pub task: Option<String>,
    /// A 004-style layer list.
    pub architecture: Option<Value>,
    pub hyperparams: Option<Value>,
    #[napi(ts_type = "'draft' | 'staging' | 'production' | 'retired'")]
    pub status: String,
    pub owner: Option<String>,
    pub recipe_id: Option<String>,
    pub recipe_version_id: Option<String>,
    pub trained: bool,
    pub saved_model_path: Option<String>,
    /// The training run whose weights it carries.
    pub trained_run_id: Option<String>,
    pub last_trained_at: Option<String>,
    pub alert_rules: Vec<AlertRule>,
    pub created_at: String,
    pub updated_at: String,
}

/// A stored dataset (CSV, JSON or JSON Lines), parsed at upload.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    pub id: String,
    pub seq: i64,
    pub name: String,
    pub description: Option<String>,
    /// The name it was uploaded under.
    pub filename: String,
    /// Where it is stored (a generated name under the runner's data directory).
    pub file_path: String,
    #[napi(ts_type = "'csv' | 'json' | 'jsonl'")]
    pub file_type: String,
    pub file_size: i64,
    pub row_count: i64,
    pub columns: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A recipe: a model family's manifest, versioned.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct Recipe {
    pub id: String,
    pub name: String,
    pub model_family: String,
    pub level: String,
    pub status: String,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
    /// The latest version's manifest.
    pub manifest: Value,
    pub latest_version_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An immutable version of a recipe.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct RecipeVersion {
    pub version_id: String,
    pub recipe_id: String,
    /// Semantic version (`1.0.0`, `1.1.0`, …).
    pub version_number: String,
    pub manifest: Value,
    /// RFC 6902 JSON Patch from the previous version.
    pub diff_from_prev: Option<Value>,
    /// The same difference, one line per change.
    pub diff_summary: Vec<String>,
    pub change_note: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
}

/// A model's monitoring snapshot.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct MonitoringSnapshot {
    pub id: String,
    pub model_id: String,
    pub captured_at: String,
    pub performance_metrics: Value,
    pub drift_metrics: Value,
    pub data_freshness: Value,
    pub alerts: Value,
}

/// Drift of a current dataset against a reference: PSI and a Kolmogorov–Smirnov test per numeric column.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct DriftReport {
    /// `{feature, psi, ks: {statistic, p_value}, reference_mean, current_mean, …, drifted}` per column.
    pub features: Vec<Value>,
    /// `[column, reason]` for shared columns not compared.
    pub skipped: Vec<Vec<String>>,
    pub max_psi: f64,
    pub drifted_features: Vec<String>,
}

/// An entity an answer used.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct EntityRef {
    pub kind: String,
    pub id: String,
}

/// The assistant's answer, from the registry's data.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct ChatAnswer {
    pub answer: String,
    /// What the question was understood to ask; absent when it was not understood.
    pub intent: Option<String>,
    pub entities: Vec<EntityRef>,
    pub suggestions: Vec<String>,
}

// ---- options calls take (serialised in the core's field names) ----

/// How to open a runner.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct RunnerOptions {
    /// The SQLite file, or `postgresql://user@host/db` to share one database (registry and queue) with
    /// other processes and machines; in memory when absent.
    pub path: Option<String>,
    /// Worker threads (default: the stored config).
    pub workers: Option<u32>,
    /// `cpu`, `cuda:N` or `auto`: stored as the default device of training runs.
    pub device: Option<String>,
    /// Where files go (default: next to the database).
    pub data_dir: Option<String>,
}

/// Which runs to list, newest first.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunQuery {
    #[napi(ts_type = "RunStatus")]
    pub status: Option<String>,
    pub kind: Option<String>,
    pub task: Option<String>,
    pub model_id: Option<String>,
    pub recipe_id: Option<String>,
    pub dataset_id: Option<String>,
    pub project_id: Option<String>,
    pub queue: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Which registry entries to list.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelQuery {
    pub model_family: Option<String>,
    pub status: Option<String>,
    pub recipe_id: Option<String>,
    pub owner: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Which recipes to list.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecipeQuery {
    pub model_family: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub parent_id: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A page of a list.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageOptions {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A new registry entry (only `name` is required).
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
pub struct ModelSpec {
    /// An explicit id; generated when absent.
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub model_family: Option<String>,
    pub params: Option<Value>,
    pub task: Option<String>,
    pub architecture: Option<Value>,
    pub hyperparams: Option<Value>,
    pub owner: Option<String>,
    pub recipe_id: Option<String>,
    pub recipe_version_id: Option<String>,
}

/// A new recipe; its manifest becomes version 1.0.0.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
pub struct RecipeSpec {
    pub id: Option<String>,
    pub name: String,
    pub model_family: String,
    pub level: String,
    pub status: Option<String>,
    pub parent_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub manifest: Option<Value>,
    pub created_by: Option<String>,
}

/// A new version of a recipe.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
pub struct VersionSpec {
    pub manifest: Value,
    pub change_note: Option<String>,
    pub created_by: Option<String>,
    /// How far the version number moves (default `minor`).
    #[napi(ts_type = "'major' | 'minor' | 'patch'")]
    pub bump: Option<String>,
}

/// A run of a registered task.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskOptions {
    /// Default `train`.
    pub kind: Option<String>,
    pub inputs: Option<Value>,
    pub hyperparams: Option<Value>,
    pub name: Option<String>,
    pub model_id: Option<String>,
    pub dataset_id: Option<String>,
    pub recipe_id: Option<String>,
    pub queue: Option<String>,
    pub priority: Option<i32>,
    pub device: Option<String>,
}

/// A neural training run: a 004-style layer list on the real MNIST digits, or on a stored dataset.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// `{"layers": [...]}` as 004 writes it.
    pub architecture: Value,
    /// `epochs`, `batch_size`, `learning_rate`, `optimizer`, `seed`, …
    pub hyperparams: Option<Value>,
    /// A stored dataset's id (MNIST when absent).
    pub dataset: Option<String>,
    /// The dataset's label column.
    pub target_column: Option<String>,
    pub model_id: Option<String>,
    /// LibTorch threads for this run.
    pub threads: Option<u32>,
    /// `cpu`, `cuda:N` or `auto`.
    pub device: Option<String>,
}

/// How long to wait.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct WaitOptions {
    /// Milliseconds; waits as long as it takes when absent.
    pub timeout_ms: Option<f64>,
}

/// A dataset's name and description at upload.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Default: the file's name.
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A monitoring snapshot given as measured values.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotSpec {
    pub captured_at: Option<String>,
    pub performance_metrics: Option<Value>,
    pub drift_metrics: Option<Value>,
    pub data_freshness: Option<Value>,
    pub alerts: Option<Value>,
}

/// A monitoring snapshot the runner computes: drift of a current batch against a reference.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftSnapshotSpec {
    pub reference_dataset_id: Option<String>,
    /// Use this training run's dataset as the reference.
    pub reference_run_id: Option<String>,
    pub current_dataset_id: Option<String>,
    /// The current batch as rows (objects).
    pub current_rows: Option<Vec<Value>>,
    /// A column holding the model's predictions on both sides.
    pub prediction_column: Option<String>,
    pub performance_metrics: Option<Value>,
}

/// What the question is about.
#[napi(object)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatOptions {
    /// Ids the caller is looking at: `{model_id, run_id, recipe_id}`.
    pub context: Option<Value>,
    pub recipe_id: Option<String>,
}
