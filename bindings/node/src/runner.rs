//! `Runner`: the registry, datasets, recipes, monitoring, the assistant and durable runs, in this
//! process. Every method that touches the store or waits returns a Promise and runs on tokio's blocking
//! pool; the main thread only converts values.

use std::path::Path;
use std::time::Duration;

use modelrunner::{ConfigPatch, Error, RunKind, RunSpec};
use napi::Env;
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi_derive::napi;
use serde_json::{Value, json};

use crate::convert::{page_request, paged, record, records, settle, spec};
use crate::errors;
use crate::records::{
    AlertRule, ChatAnswer, ChatOptions, Dataset, DriftReport, DriftSnapshotSpec, Model, ModelQuery, ModelSpec, MonitoringSnapshot,
    PageOptions, Recipe, RecipeQuery, RecipeSpec, RecipeVersion, RunQuery, RunnerOptions, SnapshotSpec, TaskOptions, TrainOptions,
    UploadOptions, VersionSpec, WaitOptions,
};
use crate::run::{Run, timeout_of};

/// The runner. `new Runner()` keeps everything in memory; `new Runner({ path: 'runs.db' })` stores it
/// in one SQLite file that survives a crash (runs a crash interrupted are recovered when it reopens).
#[napi]
#[derive(Debug)]
pub struct Runner {
    inner: modelrunner::Runner,
}

fn open(options: RunnerOptions) -> modelrunner::Result<modelrunner::Runner> {
    let mut opts = modelrunner::RunnerOptions::new();
    if let Some(n) = options.workers {
        opts = opts.workers(n as usize);
    }
    if let Some(dir) = options.data_dir {
        opts = opts.data_dir(dir);
    }
    let runner = match options.path {
        Some(path) => modelrunner::Runner::open_with(path, opts)?,
        None => modelrunner::Runner::in_memory_with(opts)?,
    };
    if let Some(device) = options.device {
        runner.update_config(ConfigPatch { device: Some(device), ..ConfigPatch::default() })?;
    }
    Ok(runner)
}

impl Runner {
    /// A Promise of one `Run` handle after `work`.
    fn run_of<'env>(
        &self,
        env: &'env Env,
        work: impl FnOnce(&modelrunner::Runner) -> modelrunner::Result<modelrunner::Run> + Send + 'static,
    ) -> napi::Result<PromiseRaw<'env, Run>> {
        let runner = self.inner.clone();
        let handle = self.inner.clone();
        settle(env, move || work(&runner), move |run| Run::new(handle, &run))
    }
}

#[napi]
impl Runner {
    /// Opens the runner (the database file is created when missing).
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<RunnerOptions>) -> napi::Result<Self> {
        open(options.unwrap_or_default()).map(|inner| Self { inner }).map_err(|e| errors::to_js(&env, &e))
    }

    /// Stops taking work; running tasks get `timeoutMs` (default 10 s), the rest go back to the queue.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> napi::Result<PromiseRaw<'env, ()>> {
        let runner = self.inner.clone();
        let timeout = Duration::from_secs_f64(timeout_ms.filter(|t| t.is_finite()).unwrap_or(10_000.0).max(0.0) / 1000.0);
        settle(
            env,
            move || {
                runner.shutdown(timeout);
                Ok(())
            },
            Ok,
        )
    }

    /// The names of the tasks runs can name (`simulator`, `neural_train`, `classic_train`, …).
    #[napi]
    pub fn tasks(&self) -> Vec<String> {
        self.inner.task_names()
    }

    // ---- runs ----

    /// Runs the catalog model `modelId` (000's `linear_reg`, `xgb_forecast`, `simulator`) with `inputs`;
    /// resolves once the run is durably stored.
    #[napi]
    pub fn submit<'env>(&self, env: &'env Env, model_id: String, inputs: Option<Value>) -> napi::Result<PromiseRaw<'env, Run>> {
        self.run_of(env, move |r| r.run_catalog_model(&model_id, inputs.unwrap_or_else(|| json!({})), None))
    }

    /// Submits a run of a registered task (see `tasks()`).
    #[napi]
    pub fn submit_task<'env>(&self, env: &'env Env, task: String, options: Option<TaskOptions>) -> napi::Result<PromiseRaw<'env, Run>> {
        let mut options = options.unwrap_or_default();
        options.kind.get_or_insert_with(|| "train".to_owned());
        self.run_of(env, move |r| {
            let mut spec: RunSpec = spec(&options)?;
            spec.task = Some(task);
            r.submit(spec)
        })
    }

    /// Trains a 004-style layer list (on the real MNIST digits, or a stored dataset's `targetColumn`).
    #[napi]
    pub fn train<'env>(&self, env: &'env Env, options: TrainOptions) -> napi::Result<PromiseRaw<'env, Run>> {
        self.run_of(env, move |r| {
            let mut inputs = json!({ "architecture": options.architecture });
            if let Some(column) = options.target_column {
                inputs["target_column"] = json!(column);
            }
            if let Some(threads) = options.threads {
                inputs["threads"] = json!(threads);
            }
            let mut spec = RunSpec::task(RunKind::Train, "neural_train")
                .with_inputs(inputs)
                .with_hyperparams(options.hyperparams.unwrap_or_else(|| json!({})));
            spec.dataset_id = options.dataset;
            spec.model_id = options.model_id;
            spec.device = options.device;
            r.submit(spec)
        })
    }

    /// A run by id (`NotFoundError` when unknown).
    #[napi]
    pub fn run<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, Run>> {
        self.run_of(env, move |r| r.get_run(&id))
    }

    /// Runs, newest first, filtered.
    #[napi]
    pub fn runs<'env>(&self, env: &'env Env, query: Option<RunQuery>) -> napi::Result<PromiseRaw<'env, Vec<Run>>> {
        let (runner, handle) = (self.inner.clone(), self.inner.clone());
        let query = query.unwrap_or_default();
        settle(
            env,
            move || runner.list_runs(&spec(&paged(&query)?)?),
            move |page| page.items.iter().map(|run| Run::new(handle.clone(), run)).collect(),
        )
    }

    /// Predicts with a succeeded training run's saved model, or a registry model promoted from one;
    /// resolves with one row per sample (waits at most `timeoutMs`, default 120 s).
    #[napi]
    pub fn predict<'env>(
        &self,
        env: &'env Env,
        model_ref: String,
        inputs: Value,
        options: Option<WaitOptions>,
    ) -> napi::Result<PromiseRaw<'env, Vec<Value>>> {
        let runner = self.inner.clone();
        let timeout = timeout_of(options.as_ref());
        settle(env, move || runner.predict(&model_ref, inputs, timeout?.unwrap_or(Duration::from_secs(120))).map(|(_, r)| r.rows), Ok)
    }

    // ---- registry ----

    /// Adds 000's catalog models that are missing (idempotent); resolves with the catalog.
    #[napi]
    pub fn install_catalog<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<Model>>> {
        let runner = self.inner.clone();
        settle(env, move || runner.install_catalog(), |models| records(&models))
    }

    /// Registry entries, newest first.
    #[napi]
    pub fn models<'env>(&self, env: &'env Env, query: Option<ModelQuery>) -> napi::Result<PromiseRaw<'env, Vec<Model>>> {
        let runner = self.inner.clone();
        let query = query.unwrap_or_default();
        settle(env, move || runner.list_models(&spec(&paged(&query)?)?), |page| records(&page.items))
    }

    /// A registry entry.
    #[napi]
    pub fn model<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, Model>> {
        let runner = self.inner.clone();
        settle(env, move || runner.get_model(&id), |model| record(&model))
    }

    /// Adds a registry entry.
    #[napi]
    pub fn register_model<'env>(&self, env: &'env Env, model: ModelSpec) -> napi::Result<PromiseRaw<'env, Model>> {
        let runner = self.inner.clone();
        settle(env, move || runner.create_model(spec(&model)?), |model| record(&model))
    }

    /// Makes a succeeded training run's saved model the registry model's.
    #[napi]
    pub fn promote_run<'env>(&self, env: &'env Env, model_id: String, run_id: String) -> napi::Result<PromiseRaw<'env, Model>> {
        let runner = self.inner.clone();
        settle(env, move || runner.promote_run(&model_id, &run_id), |model| record(&model))
    }

    // ---- datasets ----

    /// Stored datasets, newest first.
    #[napi]
    pub fn datasets<'env>(&self, env: &'env Env, page: Option<PageOptions>) -> napi::Result<PromiseRaw<'env, Vec<Dataset>>> {
        let runner = self.inner.clone();
        let page = page.unwrap_or_default();
        settle(env, move || runner.list_datasets(page_request(&page)), |page| records(&page.items))
    }

    /// A dataset.
    #[napi]
    pub fn dataset<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, Dataset>> {
        let runner = self.inner.clone();
        settle(env, move || runner.get_dataset(&id), |dataset| record(&dataset))
    }

    /// Stores a CSV, JSON or JSON Lines file as a dataset, parsed now (bad content: `ValidationError`).
    #[napi]
    pub fn upload_dataset<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<UploadOptions>,
    ) -> napi::Result<PromiseRaw<'env, Dataset>> {
        let runner = self.inner.clone();
        let options = options.unwrap_or_default();
        settle(
            env,
            move || {
                let content = std::fs::read(&path).map_err(|e| Error::invalid("path", format!("cannot read {path}: {e}")))?;
                let filename = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                store_dataset(&runner, filename, &content, options)
            },
            |dataset| record(&dataset),
        )
    }

    /// Stores `content` (the bytes of a file named `filename`) as a dataset.
    #[napi]
    pub fn upload_dataset_content<'env>(
        &self,
        env: &'env Env,
        filename: String,
        content: Buffer,
        options: Option<UploadOptions>,
    ) -> napi::Result<PromiseRaw<'env, Dataset>> {
        let runner = self.inner.clone();
        let content = content.to_vec();
        let options = options.unwrap_or_default();
        settle(env, move || store_dataset(&runner, filename, &content, options), |dataset| record(&dataset))
    }

    /// Deletes a dataset and its file.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_dataset<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, ()>> {
        let runner = self.inner.clone();
        settle(env, move || runner.delete_dataset(&id), Ok)
    }

    /// Drift of `currentId` against `referenceId`: PSI and a KS test per shared numeric column.
    #[napi]
    pub fn drift<'env>(&self, env: &'env Env, reference_id: String, current_id: String) -> napi::Result<PromiseRaw<'env, DriftReport>> {
        let runner = self.inner.clone();
        settle(env, move || runner.dataset_drift(&reference_id, &current_id), |report| record(&report))
    }

    // ---- recipes ----

    /// Recipes, newest first.
    #[napi]
    pub fn recipes<'env>(&self, env: &'env Env, query: Option<RecipeQuery>) -> napi::Result<PromiseRaw<'env, Vec<Recipe>>> {
        let runner = self.inner.clone();
        let query = query.unwrap_or_default();
        settle(env, move || runner.list_recipes(&spec(&paged(&query)?)?), |page| records(&page.items))
    }

    /// A recipe.
    #[napi]
    pub fn recipe<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, Recipe>> {
        let runner = self.inner.clone();
        settle(env, move || runner.get_recipe(&id), |recipe| record(&recipe))
    }

    /// Creates a recipe; its manifest becomes version 1.0.0.
    #[napi]
    pub fn create_recipe<'env>(&self, env: &'env Env, recipe: RecipeSpec) -> napi::Result<PromiseRaw<'env, Recipe>> {
        let runner = self.inner.clone();
        settle(env, move || runner.create_recipe(spec(&recipe)?), |recipe| record(&recipe))
    }

    /// A recipe's versions, oldest first.
    #[napi]
    pub fn recipe_versions<'env>(
        &self,
        env: &'env Env,
        id: String,
        page: Option<PageOptions>,
    ) -> napi::Result<PromiseRaw<'env, Vec<RecipeVersion>>> {
        let runner = self.inner.clone();
        let page = page.unwrap_or_default();
        settle(env, move || runner.list_recipe_versions(&id, page_request(&page)), |page| records(&page.items))
    }

    /// Adds an immutable version to a recipe (the number bumps by `bump`, default minor).
    #[napi]
    pub fn create_recipe_version<'env>(
        &self,
        env: &'env Env,
        id: String,
        version: VersionSpec,
    ) -> napi::Result<PromiseRaw<'env, RecipeVersion>> {
        let runner = self.inner.clone();
        settle(env, move || runner.create_recipe_version(&id, spec(&version)?), |version| record(&version))
    }

    // ---- monitoring ----

    /// Computes a monitoring snapshot of `modelId`: drift of a current batch (a dataset or rows) against a
    /// reference (a dataset or a training run's), checked against the model's alert rules, and stores it.
    #[napi]
    pub fn monitor<'env>(
        &self,
        env: &'env Env,
        model_id: String,
        snapshot: DriftSnapshotSpec,
    ) -> napi::Result<PromiseRaw<'env, MonitoringSnapshot>> {
        let runner = self.inner.clone();
        settle(env, move || runner.compute_monitoring_snapshot(&model_id, spec(&snapshot)?), |s| record(&s))
    }

    /// Stores a monitoring snapshot measured elsewhere.
    #[napi]
    pub fn record_snapshot<'env>(
        &self,
        env: &'env Env,
        model_id: String,
        snapshot: SnapshotSpec,
    ) -> napi::Result<PromiseRaw<'env, MonitoringSnapshot>> {
        let runner = self.inner.clone();
        settle(env, move || runner.add_monitoring_snapshot(&model_id, spec(&snapshot)?), |s| record(&s))
    }

    /// A model's monitoring snapshots, newest first.
    #[napi]
    pub fn snapshots<'env>(
        &self,
        env: &'env Env,
        model_id: String,
        page: Option<PageOptions>,
    ) -> napi::Result<PromiseRaw<'env, Vec<MonitoringSnapshot>>> {
        let runner = self.inner.clone();
        let page = page.unwrap_or_default();
        settle(env, move || runner.list_monitoring_snapshots(&model_id, page_request(&page)), |page| records(&page.items))
    }

    /// Replaces a model's alert rules.
    #[napi]
    pub fn set_alert_rules<'env>(&self, env: &'env Env, model_id: String, rules: Vec<AlertRule>) -> napi::Result<PromiseRaw<'env, Model>> {
        let runner = self.inner.clone();
        settle(env, move || runner.set_alert_rules(&model_id, spec(&rules)?), |model| record(&model))
    }

    // ---- assistant ----

    /// Answers a question about the registry (models, runs, recipes, drift) from its data.
    #[napi]
    pub fn chat<'env>(&self, env: &'env Env, message: String, options: Option<ChatOptions>) -> napi::Result<PromiseRaw<'env, ChatAnswer>> {
        let runner = self.inner.clone();
        let options = options.unwrap_or_default();
        settle(
            env,
            move || {
                let request: modelrunner::assistant::ChatRequest =
                    spec(&json!({ "message": message, "context": options.context, "recipe_id": options.recipe_id }))?;
                runner.chat(&request)
            },
            |answer| record(&answer),
        )
    }
}

fn store_dataset(
    runner: &modelrunner::Runner,
    filename: String,
    content: &[u8],
    options: UploadOptions,
) -> modelrunner::Result<modelrunner::Dataset> {
    let name = options.name.unwrap_or_else(|| filename.clone());
    let spec: modelrunner::DatasetSpec = spec(&json!({ "name": name, "description": options.description, "filename": filename }))?;
    runner.create_dataset(spec, content)
}
