//! Runs the fronts start in one call: a catalog model's run (000's `POST /api/runs`), and a prediction
//! from a trained run or model, waited for (004's `POST /api/infer`, the Python `Run.predict`).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::Runner;
use crate::domain::model::{Model, ModelSpec};
use crate::domain::run::{Run, RunKind, RunResults, RunSpec, RunStatus};
use crate::error::{Error, Result};
use crate::store;

impl Runner {
    /// Where this machine reads a file or directory a run stored (see [`crate::TaskContext::locate`]).
    pub(crate) fn locate(&self, path: &Path) -> Result<std::path::PathBuf> {
        self.shared().locate(path, true)
    }

    /// Submits a run of the catalog model `model_id` (one whose registry entry names a task, such as
    /// 000's `linear_reg`, `xgb_forecast` and `simulator`) with `inputs`, which its `params` grid bounds.
    /// An unknown model is [`Error::NotFound`]; a model without a task is a validation error on `model_id`.
    pub fn run_catalog_model(&self, model_id: &str, inputs: Value, submitted_by: Option<String>) -> Result<Run> {
        let model = self.get_model(model_id)?;
        let Some(task) = model.task else {
            return Err(Error::invalid("model_id", format!("model {model_id} is not a catalog model: it names no task to run")));
        };
        let mut spec = RunSpec::task(RunKind::Simulate, task).with_inputs(inputs).with_model(model_id);
        spec.submitted_by = submitted_by;
        self.submit(spec)
    }

    /// Predicts with the saved model of `model_ref` — a succeeded training run (`neural_train` or
    /// `classic_train`) or a registry model promoted from one — as an inference run, waited for at most
    /// `timeout`. Returns the inference run and its results (one row per sample).
    ///
    /// Unknown reference: [`Error::NotFound`]. A run that has not succeeded, or a model without saved
    /// weights: [`Error::Conflict`]. Input that does not fit the model: a validation error on
    /// `inputs.input_data`, and nothing is queued. A failed inference run: [`Error::Internal`].
    pub fn predict(&self, model_ref: &str, input_data: Value, timeout: Duration) -> Result<(Run, RunResults)> {
        let run = self.submit_prediction(model_ref, input_data, None)?;
        let done = self.wait(&run.id, timeout)?;
        match done.status {
            RunStatus::Succeeded => {
                let results = self.run_results(&done.id)?;
                Ok((done, results))
            }
            status => {
                let reason = done.error.as_ref().map_or_else(|| status.to_string(), |e| format!("{}: {}", e.code, e.message));
                Err(Error::Internal(format!("inference run {} {status}: {reason}", done.id)))
            }
        }
    }

    /// Submits the inference run [`Runner::predict`] waits for (002's inference job), with optional
    /// `parameters` (`{"probability": true}` for class probabilities from a classic model).
    pub fn submit_prediction(&self, model_ref: &str, input_data: Value, parameters: Option<Value>) -> Result<Run> {
        let (predict_task, model_id) = match self.get_run(model_ref) {
            Ok(run) => (self.predict_task_of(&run, model_ref)?, run.model_id),
            Err(Error::NotFound { .. }) => {
                let model = self.get_model(model_ref).map_err(|e| match e {
                    Error::NotFound { .. } => Error::not_found("run or model", model_ref),
                    other => other,
                })?;
                if !model.trained || model.saved_model_path.is_none() {
                    return Err(Error::Conflict(format!("model {model_ref} is not trained: promote a succeeded training run first")));
                }
                let task = match &model.trained_run_id {
                    Some(run_id) => self.predict_task_of(&self.get_run(run_id)?, model_ref)?,
                    // Weights attached by path are a saved network.
                    None => "neural_predict",
                };
                (task, Some(model.id))
            }
            Err(e) => return Err(e),
        };
        let mut spec =
            RunSpec::task(RunKind::Inference, predict_task).with_inputs(json!({"model_id": model_ref, "input_data": input_data}));
        spec.model_id = model_id;
        if let Some(p) = parameters {
            spec.inputs["parameters"] = p;
        }
        self.submit(spec)
    }

    /// The inference task for a training run's saved model; the run must have succeeded.
    fn predict_task_of(&self, training: &Run, model_ref: &str) -> Result<&'static str> {
        let task = match training.task.as_deref() {
            Some("neural_train") => "neural_predict",
            Some("classic_train") => "classic_predict",
            Some("text_index") => "text_search",
            Some("gpt_train") => "gpt_generate",
            Some("text_finetune") => "text_predict",
            other => {
                return Err(Error::invalid(
                    "model_id",
                    format!(
                        "{model_ref} is a {} run, not a neural_train, classic_train, gpt_train, text_finetune or text_index run",
                        other.unwrap_or("external")
                    ),
                ));
            }
        };
        if training.status != RunStatus::Succeeded {
            return Err(Error::Conflict(format!(
                "run {} is {}; only a succeeded training run has a model to predict with",
                training.id, training.status
            )));
        }
        Ok(task)
    }

    /// Creates a model and submits its training run as one step (004's `POST /api/train`): when the
    /// run is refused, the model is removed again, so a refused request leaves nothing behind.
    pub fn create_model_and_train(&self, model: ModelSpec, mut run: RunSpec) -> Result<(Model, Run)> {
        let created = self.create_model(model)?;
        run.model_id = Some(created.id.clone());
        match self.submit(run) {
            Ok(run) => Ok((created, run)),
            Err(e) => {
                let id = created.id.clone();
                self.write(move |tx, _| store::delete_doc::<Model>(tx, &id))?;
                Err(e)
            }
        }
    }

    /// Marks a model trained with the network saved at `path` (a `model.json` written by a
    /// `neural_train` run), as 004's model update with `saved_model_path` does. The file must be a
    /// saved network; the model's definition is left as it is.
    pub fn attach_saved_model(&self, id: &str, path: &str) -> Result<Model> {
        crate::nn::saved::SavedModel::read(Path::new(path), "saved_model_path")?;
        let path = path.to_owned();
        self.modify(id, move |_, model: &mut Model| {
            model.trained = true;
            model.saved_model_path = Some(path);
            model.trained_run_id = None;
            model.updated_at = crate::now();
            Ok(())
        })
    }
}

impl Runner {
    /// Submits 001's run of a recipe: a `family` run of `kind` (train, eval or backtest) whose
    /// hyperparameters are the `hyperparams` of the recipe version's manifest (the given version, else
    /// the recipe's latest), linked to the recipe, the version and `model_id`.
    pub fn submit_recipe_run(
        &self,
        kind: RunKind,
        recipe_id: &str,
        recipe_version_id: Option<&str>,
        model_id: Option<String>,
        submitted_by: Option<String>,
    ) -> Result<Run> {
        let recipe = self.get_recipe(recipe_id).map_err(|e| super::runs::ref_error(e, "recipe_id"))?;
        let version_id = match recipe_version_id.map(str::to_owned).or(recipe.latest_version_id) {
            Some(id) => id,
            None => return Err(Error::invalid("recipe_version_id", format!("recipe {recipe_id} has no version"))),
        };
        let version = self.get_recipe_version(recipe_id, &version_id).map_err(|e| super::runs::ref_error(e, "recipe_version_id"))?;
        let hyperparams = match version.manifest.get("hyperparams") {
            None | Some(Value::Null) => json!({}),
            Some(h) if h.is_object() => h.clone(),
            Some(_) => return Err(Error::invalid("manifest.hyperparams", "must be an object")),
        };
        let mut spec = RunSpec::task(kind, "family").with_hyperparams(hyperparams);
        spec.recipe_id = Some(recipe_id.to_owned());
        spec.recipe_version_id = Some(version_id);
        spec.model_id = model_id;
        spec.submitted_by = submitted_by;
        self.submit(spec)
    }
}

/// 002's training job: a model type trained on a file, routed to a queue by its framework table.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainingJob {
    pub model_type: String,
    /// A file (tables) or a folder of class folders (images) under the configured data root
    /// (absolute, or relative to it).
    pub data_path: String,
    #[serde(default)]
    pub hyperparameters: Option<Value>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub requires_gpu: bool,
    #[serde(default)]
    pub framework_override: Option<String>,
    #[serde(default)]
    pub submitted_by: Option<String>,
}

/// The model types a training job can train here, and the task that trains them.
const TRAINABLE: &[(&str, &str)] = &[
    ("random_forest", "classic_train"),
    ("svm", "classic_train"),
    ("logistic_regression", "classic_train"),
    ("resnet", "neural_train"),
    ("vgg", "neural_train"),
    ("alexnet", "neural_train"),
    ("inception", "neural_train"),
    ("mobilenet", "neural_train"),
    ("efficientnet", "neural_train"),
    ("bert", "text_finetune"),
    ("transformer", "gpt_train"),
    ("gpt", "gpt_train"),
];

impl Runner {
    /// Submits 002's training job: routed to its queue by [`crate::routing::route`] (the queue and the
    /// rule that chose it are kept in the run's inputs), trained by the task for its model type.
    /// A model type no engine here trains yet is a validation error on `model_type`.
    pub fn submit_training_job(&self, job: TrainingJob) -> Result<Run> {
        let route = crate::routing::route(&job.model_type, job.requires_gpu, job.framework_override.as_deref())?;
        let model_type = job.model_type.trim().to_ascii_lowercase();
        let Some((_, task)) = TRAINABLE.iter().find(|(t, _)| *t == model_type) else {
            let known: Vec<&str> = TRAINABLE.iter().map(|(t, _)| *t).collect();
            return Err(Error::invalid(
                "model_type",
                format!("no engine here trains {:?} yet; trainable model types: {}", job.model_type, known.join(", ")),
            ));
        };
        let kind = if *task == "text_finetune" { RunKind::FineTune } else { RunKind::Train };
        let mut spec = RunSpec::task(kind, *task)
            .with_inputs(json!({"model_type": model_type, "data_path": job.data_path}))
            .with_hyperparams(job.hyperparameters.unwrap_or_else(|| json!({})))
            .on_queue(route.queue, 0);
        spec.description = job.description;
        spec.submitted_by = job.submitted_by;
        spec.name = Some(format!("{model_type} ({})", route.rule));
        if job.requires_gpu && matches!(*task, "neural_train" | "gpt_train" | "text_finetune") {
            spec.device = Some("cuda:0".to_owned());
        }
        self.submit(spec).map_err(|e| match e {
            Error::Validation { field, reason } if field == "device" => {
                Error::invalid("requires_gpu", format!("a GPU was asked for, but {reason}"))
            }
            other => other,
        })
    }

    /// How long runs of `task` usually take: the median of its last 20 succeeded runs, `None` before
    /// the first (002's `estimated_duration`).
    pub fn typical_duration(&self, task: &str) -> Result<Option<Duration>> {
        let page = self.list_runs(&crate::RunFilter {
            task: Some(task.to_owned()),
            status: Some(RunStatus::Succeeded),
            page: crate::PageRequest { limit: 20, offset: 0 },
            ..crate::RunFilter::default()
        })?;
        let mut took: Vec<Duration> =
            page.items.iter().filter_map(|r| Some((r.finished_at? - r.started_at?).to_std().unwrap_or_default())).collect();
        took.sort();
        Ok(took.get(took.len() / 2).copied())
    }
}
