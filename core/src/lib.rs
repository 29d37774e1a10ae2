//! # modelrunner
//!
//! An embeddable runner for machine-learning work: a model registry, recipes with immutable versions,
//! datasets and projects, and runs (train, eval, backtest, inference, simulation, fine-tuning)
//! executed on a thread pool with progress, cancellation and live events — all in-process, stored in
//! one SQLite database that survives `kill -9`.
//!
//! ```
//! use std::time::Duration;
//! use modelrunner::{Runner, RunKind, RunSpec, RunStatus};
//! use serde_json::json;
//!
//! # fn main() -> modelrunner::Result<()> {
//! let runner = Runner::in_memory()?;               // or Runner::open("modelrunner.db")?
//! let run = runner.submit(
//!     RunSpec::task(RunKind::Simulate, "simulator")
//!         .with_inputs(json!({"trials": 1000, "region": "NA", "year": 2024})),
//! )?;
//! let done = runner.wait(&run.id, Duration::from_secs(60))?;
//! assert_eq!(done.status, RunStatus::Succeeded);
//! let results = runner.run_results(&run.id)?;
//! assert_eq!(results.rows.len(), 3);                // revenue, cost, margin
//! # Ok(()) }
//! ```
//!
//! Engines plug in as [`Task`]s registered by name; see [`RunnerOptions::task`].

pub mod assistant;
pub mod catalog;
pub mod classic;
pub mod data;
pub mod domain;
pub mod drift;
mod error;
mod events;
mod executor;
pub mod families;
mod json_fields;
pub mod model_cache;
pub mod nn;
pub mod routing;
mod runner;
mod store;
pub mod synthetic;
pub mod tasks;
pub mod text;

pub use domain::common::{MAX_LIMIT, Page, PageRequest, Timestamp, new_id, now};
pub use domain::config::{ConfigPatch, PoolStatus, RunnerConfig, WorkerInfo, WorkerState};
pub use domain::dataset::{Dataset, DatasetPatch, DatasetSpec, FileType};
pub use domain::model::{Model, ModelFamily, ModelFilter, ModelPatch, ModelSpec, ModelStatus, ModelTransition};
pub use domain::monitoring::{
    AlertOp, AlertRule, ComputedSnapshotSpec, MonitoringSnapshot, SnapshotSpec, SyntheticExample, SyntheticExampleSpec,
};
pub use domain::project::{
    Allocation, Project, ProjectPatch, ProjectSpec, ProjectStatus, ProjectTrait, TrainingType, TraitSpec, TraitType,
};
pub use domain::recipe::{
    Recipe, RecipeFilter, RecipeLevel, RecipePatch, RecipeSpec, RecipeStatus, RecipeVersion, VersionBump, VersionSpec,
};
pub use domain::run::{LogLine, MetricPoint, Run, RunError, RunFilter, RunKind, RunReport, RunResults, RunSpec, RunStatus};
pub use error::{Error, ErrorCode, Result};
pub use events::{Event, EventBody, Subscription};
pub use executor::{Task, TaskContext, TaskOutput, TaskSubmit};
pub use runner::{FilesCheck, FineTuneJob, LoadingCheck, OutputDirCheck, ProjectValidation, Runner, RunnerOptions, TrainingJob};
pub use store::Durability;

/// The README's snippets run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The Rust guide's snippets run as doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../../docs/rust.md")]
struct RustGuideDoctests;
