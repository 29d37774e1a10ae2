//! The runner's stored configuration (003's fields) and the worker pool's status.

use serde::{Deserialize, Serialize};

use super::common::Timestamp;
use super::project::TrainingType;
use crate::error::{Error, Result};

/// Stored runner configuration. Training defaults apply to runs that do not set them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerConfig {
    /// Upper bound on workers; starting more is a validation error.
    pub max_concurrent_workers: u32,
    /// Whether workers start when the runner opens.
    pub auto_start_workers: bool,
    /// How many times a run interrupted by a crash is started in all before it is marked failed.
    pub max_attempts: u32,
    /// `cpu`, `cuda:N` or `auto`.
    pub device: String,
    /// A model moves to `production` only once a train (or fine-tune) run of it has succeeded.
    #[serde(default = "yes")]
    pub promotion_requires_succeeded_run: bool,
    /// A model moves to `production` only when its recipe is `approved`.
    #[serde(default = "yes")]
    pub promotion_requires_approved_recipe: bool,
    /// Where training files named by path (002's `data_path`) must live; default `<data dir>/files`.
    #[serde(default)]
    pub data_root: Option<String>,
    /// Where project output directories (003's `output_directory`) must live; anywhere writable when unset.
    #[serde(default)]
    pub output_root: Option<String>,
    /// The Hugging Face hub cache text models load from; the one the Hugging Face libraries use when unset
    /// (see [`crate::model_cache::default_dir`]).
    #[serde(default)]
    pub model_cache: Option<String>,
    pub default_model: String,
    pub default_training_type: TrainingType,
    pub default_batch_size: u32,
    pub default_learning_rate: f64,
    pub default_epochs: u32,
    pub default_lora_r: u32,
    pub default_lora_alpha: u32,
    pub default_lora_dropout: f64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn yes() -> bool {
    true
}

impl RunnerConfig {
    /// This configuration with a process's own settings over it.
    pub(crate) fn with_local(mut self, local: &ConfigPatch) -> Self {
        local.clone().apply(&mut self);
        self
    }

    pub(crate) fn new_default(now: Timestamp) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        Self {
            max_concurrent_workers: cores.max(4),
            auto_start_workers: true,
            max_attempts: 2,
            device: "cpu".into(),
            promotion_requires_succeeded_run: true,
            promotion_requires_approved_recipe: true,
            data_root: None,
            output_root: None,
            model_cache: None,
            default_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
            default_training_type: TrainingType::Standard,
            default_batch_size: 4,
            default_learning_rate: 2e-4,
            default_epochs: 3,
            default_lora_r: 16,
            default_lora_alpha: 32,
            default_lora_dropout: 0.05,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Changes to the configuration; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    pub max_concurrent_workers: Option<u32>,
    pub auto_start_workers: Option<bool>,
    pub max_attempts: Option<u32>,
    pub device: Option<String>,
    pub promotion_requires_succeeded_run: Option<bool>,
    pub promotion_requires_approved_recipe: Option<bool>,
    /// An absolute path to an existing directory.
    pub data_root: Option<String>,
    /// An absolute path to an existing directory.
    pub output_root: Option<String>,
    /// An absolute path to an existing directory (a Hugging Face hub cache).
    pub model_cache: Option<String>,
    pub default_model: Option<String>,
    pub default_training_type: Option<TrainingType>,
    pub default_batch_size: Option<u32>,
    pub default_learning_rate: Option<f64>,
    pub default_epochs: Option<u32>,
    pub default_lora_r: Option<u32>,
    pub default_lora_alpha: Option<u32>,
    pub default_lora_dropout: Option<f64>,
}

fn check_range<T: PartialOrd + std::fmt::Display + Copy>(field: &str, v: Option<T>, lo: T, hi: T) -> Result<()> {
    match v {
        Some(v) if !(v >= lo && v <= hi) => Err(Error::invalid(field, format!("must be between {lo} and {hi}, got {v}"))),
        _ => Ok(()),
    }
}

impl ConfigPatch {
    pub(crate) fn validate(&self) -> Result<()> {
        check_range("max_concurrent_workers", self.max_concurrent_workers, 1, 256)?;
        check_range("max_attempts", self.max_attempts, 1, 100)?;
        check_range("default_batch_size", self.default_batch_size, 1, 65_536)?;
        check_range("default_learning_rate", self.default_learning_rate, f64::MIN_POSITIVE, 10.0)?;
        check_range("default_epochs", self.default_epochs, 1, 100_000)?;
        check_range("default_lora_r", self.default_lora_r, 1, 4096)?;
        check_range("default_lora_alpha", self.default_lora_alpha, 1, 65_536)?;
        check_range("default_lora_dropout", self.default_lora_dropout, 0.0, 0.999)?;
        if let Some(d) = &self.device {
            super::run::validate_device("device", d)?;
        }
        for (field, root) in [("data_root", &self.data_root), ("output_root", &self.output_root), ("model_cache", &self.model_cache)] {
            if let Some(root) = root {
                let path = std::path::Path::new(root);
                if !path.is_absolute() || !path.is_dir() {
                    return Err(Error::invalid(field, format!("must be an absolute path to an existing directory, got {root:?}")));
                }
            }
        }
        if let Some(m) = &self.default_model {
            super::common::require_text("default_model", m, 512)?;
        }
        Ok(())
    }

    pub(crate) fn apply(self, c: &mut RunnerConfig) {
        macro_rules! set { ($($f:ident),*) => { $(if let Some(v) = self.$f { c.$f = v; })* } }
        set!(
            max_concurrent_workers,
            auto_start_workers,
            max_attempts,
            device,
            promotion_requires_succeeded_run,
            promotion_requires_approved_recipe,
            default_model,
            default_training_type,
            default_batch_size,
            default_learning_rate,
            default_epochs,
            default_lora_r,
            default_lora_alpha,
            default_lora_dropout
        );
        if let Some(root) = self.data_root {
            c.data_root = Some(root);
        }
        if let Some(root) = self.output_root {
            c.output_root = Some(root);
        }
        if let Some(dir) = self.model_cache {
            c.model_cache = Some(dir);
        }
    }
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Idle,
    Busy,
    Stopped,
    Error,
}

/// One worker thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: String,
    pub status: WorkerState,
    pub current_run_id: Option<String>,
    pub jobs_completed: u64,
    pub started_at: Timestamp,
    pub last_activity: Timestamp,
}

/// The pool as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub total_workers: u32,
    pub active_workers: u32,
    pub idle_workers: u32,
    pub busy_workers: u32,
    pub max_workers: u32,
    pub workers: Vec<WorkerInfo>,
    pub jobs_in_queue: u64,
}
