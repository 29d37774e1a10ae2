//! Python bindings of modelrunner (PyO3): the native module `modelrunner._native`. It stays thin:
//! values cross as JSON text (the Python package turns them into dicts), every call that may block
//! releases the GIL, and the core's errors become the exceptions below, chosen by one exhaustive table.

use std::time::{Duration, Instant};

use modelrunner::assistant::ChatRequest;
use modelrunner::{
    AlertRule, ComputedSnapshotSpec, ConfigPatch, DatasetSpec, Error, ErrorCode, ModelFilter, ModelSpec, PageRequest, RecipeFilter,
    RecipeSpec, RunFilter, RunSpec, Runner, RunnerOptions, SnapshotSpec, Subscription, VersionSpec,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde::Serialize;
use std::sync::Mutex;

create_exception!(_native, ModelRunnerError, PyException, "Base of every modelrunner error; `args` are (message, code, field).");
create_exception!(_native, NotFoundError, ModelRunnerError, "The id names nothing stored.");
create_exception!(_native, ValidationError, ModelRunnerError, "Bad input; `field` names where.");
create_exception!(_native, ConflictError, ModelRunnerError, "The request conflicts with what is stored.");
create_exception!(_native, NotReadyError, ModelRunnerError, "Asked too early (e.g. the results of a running run).");
create_exception!(_native, CancelledError, ModelRunnerError, "The work was cancelled.");
create_exception!(_native, TimeoutError, ModelRunnerError, "A wait ran out of time.");
create_exception!(_native, ShuttingDownError, ModelRunnerError, "The runner is shutting down.");
create_exception!(_native, StorageError, ModelRunnerError, "The database or a file failed.");

/// The exception each core error raises: the one table, exhaustive over the codes. Its `args` are
/// (message, code, field).
fn to_py(e: Error) -> PyErr {
    let args = (e.to_string(), e.code().as_str().to_owned(), e.field().map(str::to_owned));
    match e.code() {
        ErrorCode::NotFound => NotFoundError::new_err(args),
        ErrorCode::Validation => ValidationError::new_err(args),
        ErrorCode::Conflict => ConflictError::new_err(args),
        ErrorCode::NotReady => NotReadyError::new_err(args),
        ErrorCode::Cancelled => CancelledError::new_err(args),
        ErrorCode::Timeout => TimeoutError::new_err(args),
        ErrorCode::ShuttingDown => ShuttingDownError::new_err(args),
        ErrorCode::Storage | ErrorCode::Io => StorageError::new_err(args),
        ErrorCode::Internal => ModelRunnerError::new_err(args),
    }
}

fn json<T: Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| to_py(e.into()))
}

/// `text` as `T`; what does not fit is a validation error naming the field inside it (or `field`).
fn parse<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> PyResult<T> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { field.to_owned() } else { path };
        to_py(Error::invalid(field, e.into_inner().to_string()))
    })
}

/// Runs `f` without the GIL and maps its error.
fn unlocked<T: Send>(py: Python<'_>, f: impl FnOnce() -> modelrunner::Result<T> + Send) -> PyResult<T> {
    py.detach(f).map_err(to_py)
}

/// An iterator over a run's events (JSON text each). Waiting for the next one releases the GIL and
/// wakes every 100 ms so Ctrl-C gets through.
#[pyclass(module = "modelrunner._native", frozen)]
struct NativeEvents {
    sub: Mutex<Option<Subscription>>,
}

#[pymethods]
impl NativeEvents {
    /// The iterator itself.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next event as JSON text; the iteration ends after the run's final state.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        loop {
            let step = py.detach(|| {
                let mut guard = self.sub.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match guard.as_mut() {
                    None => Ok(None),
                    Some(sub) => match sub.next_timeout(Duration::from_millis(100)) {
                        Ok(Some(event)) => Ok(Some(event)),
                        Ok(None) => {
                            *guard = None;
                            Ok(None)
                        }
                        Err(()) => Err(()),
                    },
                }
            });
            match step {
                Ok(Some(event)) => return json(&event).map(Some),
                Ok(None) => return Ok(None),
                Err(()) => py.check_signals()?,
            }
        }
    }
}

/// The runner (see `modelrunner.Runner` for the Python face).
#[pyclass(module = "modelrunner._native", frozen)]
struct NativeRunner {
    runner: Runner,
}

#[pymethods]
impl NativeRunner {
    /// Opens the runner at `path`, or an in-memory one.
    /// `device` (`cpu`, `cuda:N`, `auto`) is stored as the default device of training runs.
    #[new]
    #[pyo3(signature = (path=None, workers=None, device=None))]
    fn new(py: Python<'_>, path: Option<String>, workers: Option<usize>, device: Option<String>) -> PyResult<Self> {
        let mut options = RunnerOptions::new();
        if let Some(n) = workers {
            options = options.workers(n);
        }
        let runner = unlocked(py, move || {
            let runner = match path {
                Some(p) => Runner::open_with(p, options),
                None => Runner::in_memory_with(options),
            }?;
            if let Some(device) = device {
                runner.update_config(ConfigPatch { device: Some(device), ..ConfigPatch::default() })?;
            }
            Ok(runner)
        })?;
        Ok(Self { runner })
    }

    /// Submits a run of the catalog model `model_id` (one that names a task) with `inputs` (JSON).
    fn run_model(&self, py: Python<'_>, model_id: &str, inputs: &str) -> PyResult<String> {
        let inputs: serde_json::Value = parse("inputs", inputs)?;
        json(&unlocked(py, || self.runner.run_catalog_model(model_id, inputs, None))?)
    }

    /// The names of the tasks a run can name (`simulator`, `neural_train`, `classic_train`, …).
    fn tasks(&self) -> Vec<String> {
        self.runner.task_names()
    }

    /// Submits a run described by `spec` (a `RunSpec` as JSON); returns the stored run once durable.
    fn submit(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
        let spec: RunSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.submit(spec))?)
    }

    /// The run `id` (JSON); `NotFoundError` when unknown.
    fn get_run(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.get_run(id))?)
    }

    /// A page of runs matching `filter` (a `RunFilter` as JSON), newest first.
    fn list_runs(&self, py: Python<'_>, filter: &str) -> PyResult<String> {
        let filter: RunFilter = parse("filter", filter)?;
        json(&unlocked(py, || self.runner.list_runs(&filter))?)
    }

    /// Waits for the run to end, waking every 100 ms to let Ctrl-C through (KeyboardInterrupt; the run
    /// carries on). `timeout` in seconds; `None` waits as long as it takes.
    #[pyo3(signature = (id, timeout=None))]
    fn wait(&self, py: Python<'_>, id: &str, timeout: Option<f64>) -> PyResult<String> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)),
                None => Duration::from_millis(100),
            };
            match py.detach(|| self.runner.wait(id, slice)) {
                Ok(run) => return json(&run),
                Err(Error::Timeout(_)) if deadline.is_none_or(|d| Instant::now() < d) => py.check_signals()?,
                Err(e) => return Err(to_py(e)),
            }
        }
    }

    /// The run's events: its history, then live ones, ending after its final state.
    fn events(&self, py: Python<'_>, id: &str) -> PyResult<NativeEvents> {
        let sub = unlocked(py, || self.runner.subscribe(id))?;
        Ok(NativeEvents { sub: Mutex::new(Some(sub)) })
    }

    /// Cancels the run: a queued one at once, a running one at its next step. Returns the run.
    fn cancel(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.cancel_run(id))?)
    }

    /// The results `{summary, rows}` of a succeeded run; `NotReadyError` before it ends.
    fn results(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.run_results(id))?)
    }

    #[pyo3(signature = (id, name=None))]
    /// The run's metric history, oldest first; only metric `name` when given.
    fn metrics(&self, py: Python<'_>, id: &str, name: Option<&str>) -> PyResult<String> {
        json(&unlocked(py, || self.runner.run_metric_history(id, name))?)
    }

    /// The run's log lines, oldest first.
    fn logs(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.run_logs(id))?)
    }

    /// Adds the missing models of 000's catalog; returns the catalog models.
    fn install_catalog(&self, py: Python<'_>) -> PyResult<String> {
        json(&unlocked(py, || self.runner.install_catalog())?)
    }

    /// A page of registry models matching `filter` (a `ModelFilter` as JSON).
    fn list_models(&self, py: Python<'_>, filter: &str) -> PyResult<String> {
        let filter: ModelFilter = parse("filter", filter)?;
        json(&unlocked(py, || self.runner.list_models(&filter))?)
    }

    /// The registry model `id`.
    fn get_model(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.get_model(id))?)
    }

    /// Registers a model described by `spec` (a `ModelSpec` as JSON).
    fn create_model(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
        let spec: ModelSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.create_model(spec))?)
    }

    /// Makes the succeeded training run `run_id` the saved model of `model_id`.
    fn promote_run(&self, py: Python<'_>, model_id: &str, run_id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.promote_run(model_id, run_id))?)
    }

    /// Stores `content` as a dataset (`spec`: a `DatasetSpec` as JSON); the content is parsed first.
    fn create_dataset(&self, py: Python<'_>, spec: &str, content: Vec<u8>) -> PyResult<String> {
        let spec: DatasetSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.create_dataset(spec, &content))?)
    }

    /// Predicts with a training run's (or promoted model's) saved weights, waited for at most `timeout` s.
    fn predict(&self, py: Python<'_>, model_ref: &str, input_data: &str, timeout: f64) -> PyResult<String> {
        let input_data: serde_json::Value = parse("inputs", input_data)?;
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        json(&unlocked(py, || self.runner.predict(model_ref, input_data, timeout))?.1)
    }

    /// A page of stored datasets, newest first.
    fn list_datasets(&self, py: Python<'_>, page: &str) -> PyResult<String> {
        let page: PageRequest = parse("page", page)?;
        json(&unlocked(py, || self.runner.list_datasets(page))?)
    }

    /// The stored dataset `id`.
    fn get_dataset(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.get_dataset(id))?)
    }

    /// Deletes the dataset `id` and its file.
    fn delete_dataset(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        unlocked(py, || self.runner.delete_dataset(id))
    }

    /// PSI and KS drift of dataset `current_id` against dataset `reference_id`.
    fn drift(&self, py: Python<'_>, reference_id: &str, current_id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.dataset_drift(reference_id, current_id))?)
    }

    /// A page of recipes matching `filter` (a `RecipeFilter` as JSON).
    fn list_recipes(&self, py: Python<'_>, filter: &str) -> PyResult<String> {
        let filter: RecipeFilter = parse("filter", filter)?;
        json(&unlocked(py, || self.runner.list_recipes(&filter))?)
    }

    /// The recipe `id` with its latest manifest.
    fn get_recipe(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        json(&unlocked(py, || self.runner.get_recipe(id))?)
    }

    /// Creates a recipe (`spec`: a `RecipeSpec` as JSON); its manifest becomes version 1.0.0.
    fn create_recipe(&self, py: Python<'_>, spec: &str) -> PyResult<String> {
        let spec: RecipeSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.create_recipe(spec))?)
    }

    /// A page of the recipe's immutable versions.
    fn list_recipe_versions(&self, py: Python<'_>, id: &str, page: &str) -> PyResult<String> {
        let page: PageRequest = parse("page", page)?;
        json(&unlocked(py, || self.runner.list_recipe_versions(id, page))?)
    }

    /// Adds a version to recipe `id` (`spec`: a `VersionSpec` as JSON).
    fn create_recipe_version(&self, py: Python<'_>, id: &str, spec: &str) -> PyResult<String> {
        let spec: VersionSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.create_recipe_version(id, spec))?)
    }

    /// Computes and stores a drift snapshot of `model_id` (`spec`: a `ComputedSnapshotSpec` as JSON).
    fn compute_snapshot(&self, py: Python<'_>, model_id: &str, spec: &str) -> PyResult<String> {
        let spec: ComputedSnapshotSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.compute_monitoring_snapshot(model_id, spec))?)
    }

    /// Stores a snapshot of `model_id` measured elsewhere (`spec`: a `SnapshotSpec` as JSON).
    fn add_snapshot(&self, py: Python<'_>, model_id: &str, spec: &str) -> PyResult<String> {
        let spec: SnapshotSpec = parse("spec", spec)?;
        json(&unlocked(py, || self.runner.add_monitoring_snapshot(model_id, spec))?)
    }

    /// A page of `model_id`'s snapshots, newest first.
    fn list_snapshots(&self, py: Python<'_>, model_id: &str, page: &str) -> PyResult<String> {
        let page: PageRequest = parse("page", page)?;
        json(&unlocked(py, || self.runner.list_monitoring_snapshots(model_id, page))?)
    }

    /// Replaces `model_id`'s alert rules (a JSON list of `AlertRule`).
    fn set_alert_rules(&self, py: Python<'_>, model_id: &str, rules: &str) -> PyResult<String> {
        let rules: Vec<AlertRule> = parse("alert_rules", rules)?;
        json(&unlocked(py, || self.runner.set_alert_rules(model_id, rules))?)
    }

    /// Answers a `ChatRequest` (JSON) from the registry's data.
    fn chat(&self, py: Python<'_>, request: &str) -> PyResult<String> {
        let request: ChatRequest = parse("request", request)?;
        json(&unlocked(py, || self.runner.chat(&request))?)
    }

    /// The stored runner configuration (JSON).
    fn config(&self) -> PyResult<String> {
        json(&self.runner.config())
    }

    /// Stops taking work and waits up to `timeout` seconds for running tasks (the rest are requeued).
    #[pyo3(signature = (timeout=10.0))]
    fn close(&self, py: Python<'_>, timeout: f64) {
        py.detach(|| self.runner.shutdown(Duration::from_secs_f64(timeout.max(0.0))));
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<NativeRunner>()?;
    m.add_class::<NativeEvents>()?;
    m.add("ModelRunnerError", py.get_type::<ModelRunnerError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("NotReadyError", py.get_type::<NotReadyError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("TimeoutError", py.get_type::<TimeoutError>())?;
    m.add("ShuttingDownError", py.get_type::<ShuttingDownError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    Ok(())
}
