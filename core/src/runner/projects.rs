//! 003's training jobs (`POST /jobs/`) and project lifecycle: `start` samples the traits' datasets into
//! one training mix and runs the project's fine-tuning (or, for `rag`, its index) into the output
//! directory; a project's status and progress are its latest run's; `validate` checks the output
//! directory's files and loads the model.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Runner;
use crate::domain::project::{Project, ProjectStatus, TrainingType};
use crate::domain::run::{RunKind, RunSpec, RunStatus};
use crate::error::{Error, Result};
use crate::tasks::finetune::{self, Examples};
use crate::text::finetuned::{self, FineTuned};
use crate::{DatasetSpec, FileType};

/// The files a trained project's output directory must hold, and what is wrong with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesCheck {
    pub valid: bool,
    pub files_checked: Vec<String>,
    pub errors: Vec<String>,
}

/// Whether the trained model loads and runs a forward pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadingCheck {
    pub valid: bool,
    pub errors: Vec<String>,
}

/// 003's `POST /projects/{id}/validate` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectValidation {
    pub valid: bool,
    pub files: FilesCheck,
    pub loading: LoadingCheck,
    pub errors: Vec<String>,
}

/// The name a `rag` project's index has in its output directory.
pub const INDEX_FILE: &str = "index.json";

fn project_status(run: RunStatus) -> ProjectStatus {
    match run {
        RunStatus::Queued => ProjectStatus::Pending,
        RunStatus::Running => ProjectStatus::Running,
        RunStatus::Succeeded => ProjectStatus::Completed,
        RunStatus::Failed => ProjectStatus::Failed,
        RunStatus::Cancelled => ProjectStatus::Cancelled,
    }
}

impl Runner {
    /// `project` with the status and progress of its latest run.
    pub(crate) fn with_run_state(&self, mut project: Project) -> Result<Project> {
        if let Some(run_id) = &project.run_id {
            match self.get_run(run_id) {
                Ok(run) => {
                    project.status = project_status(run.status);
                    project.progress = f64::from(run.progress);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(project)
    }

    /// The training mix of `project`: each trait takes an equal share of `max_rows`, split across its
    /// datasets by their percentages (without `max_rows`, every row); rows are drawn with a seed
    /// derived from the project's id, so a restart draws the same mix.
    fn project_mix(&self, project: &Project) -> Result<Examples> {
        let seed = crate::tasks::simulator::fnv1a(project.id.as_bytes());
        let mut mix: Option<Examples> = None;
        for (i, t) in project.traits.iter().enumerate() {
            for (j, a) in t.datasets.iter().enumerate() {
                let field = format!("traits[{i}].datasets[{j}].dataset_id");
                let table = self.dataset_table(&a.dataset_id)?;
                let rows = finetune::examples(&a.dataset_id, &table, None, None).map_err(|e| match e {
                    Error::Validation { reason, .. } => Error::invalid(&field, format!("{} trait: {reason}", t.trait_type)),
                    other => other,
                })?;
                let quota = project.max_rows.map(|m| ((m as f64 / project.traits.len() as f64) * a.percentage / 100.0).floor() as usize);
                let rows = match quota {
                    Some(q) => finetune::sample(rows, q.max(1), seed ^ ((i as u64) << 32) ^ j as u64),
                    None => rows,
                };
                mix = Some(match mix {
                    None => rows,
                    Some(m) => m.extend(rows).ok_or_else(|| {
                        Error::invalid(
                            &field,
                            format!("{} trait: labelled text and prompt/answer data cannot train one model", t.trait_type),
                        )
                    })?,
                });
            }
        }
        let mix = mix.ok_or_else(|| Error::invalid("traits", "the project has no datasets"))?;
        if mix.len() < 2 {
            return Err(Error::invalid("traits", format!("the datasets give {} usable rows; training needs at least 2", mix.len())));
        }
        Ok(mix)
    }

    /// 003's `POST /projects/{id}/start`: checks that the base model is in the local cache ("Model not
    /// available" otherwise) and the output directory is still writable, stores the sampled training
    /// mix as a dataset, and queues the project's run (`text_finetune` for `standard` and `qlora`,
    /// `text_index` for `rag`) writing into the output directory. A project whose run is still queued
    /// or running is a conflict.
    pub fn start_project(&self, id: &str) -> Result<Project> {
        let project = self.get_project(id)?;
        if matches!(project.status, ProjectStatus::Pending | ProjectStatus::Running) && project.run_id.is_some() {
            return Err(Error::Conflict(format!("project {} is already {}", project.id, project.status)));
        }
        crate::model_cache::snapshot(&self.model_cache_dir(), &project.base_model, "base_model")?;
        let check = self.check_output_dir(&project.output_directory);
        if !check.valid {
            return Err(Error::invalid("output_directory", check.errors.join("; ")));
        }
        let mix = self.project_mix(&project)?;
        let rows = mix.len();
        let spec = DatasetSpec {
            name: format!("{} training mix", project.name),
            description: Some(format!("{rows} rows sampled for project {} by its trait allocations", project.id)),
            filename: "training-mix.jsonl".into(),
            file_type: Some(FileType::Jsonl),
        };
        let dataset = self.create_dataset(spec, mix.to_jsonl().as_bytes())?;
        let out = &project.output_directory;
        let (kind, task, inputs) = match project.training_type {
            TrainingType::Rag => {
                let column = if matches!(mix, Examples::Labelled { .. }) { "text" } else { "output" };
                let inputs = json!({"base_model": project.base_model, "text_column": column, "output_directory": out});
                (RunKind::Train, "text_index", inputs)
            }
            TrainingType::Standard | TrainingType::Qlora => {
                let inputs = json!({"base_model": project.base_model, "training_type": project.training_type, "output_directory": out});
                (RunKind::FineTune, "text_finetune", inputs)
            }
        };
        let mut spec = RunSpec::task(kind, task).with_inputs(inputs);
        spec.dataset_id = Some(dataset.id.clone());
        spec.project_id = Some(project.id.clone());
        spec.name = Some(format!("project {}", project.name));
        let run = self.submit(spec).inspect_err(|_| {
            let _ = self.delete_dataset(&dataset.id);
        })?;
        let run_id = run.id.clone();
        let started = self.modify(id, move |_, p: &mut Project| {
            p.run_id = Some(run_id);
            p.status = ProjectStatus::Pending;
            p.progress = 0.0;
            p.updated_at = crate::now();
            Ok(())
        })?;
        self.with_run_state(started)
    }

    /// 003's `POST /projects/{id}/validate`: the output directory holds the trained model's files, and
    /// the model loads and runs a forward pass (an index: parses and matches its model's size).
    pub fn validate_project(&self, id: &str) -> Result<ProjectValidation> {
        let project = self.get_project(id)?;
        let dir = Path::new(&project.output_directory);
        let mut files = FilesCheck { valid: false, files_checked: Vec::new(), errors: Vec::new() };
        let mut loading = LoadingCheck { valid: false, errors: Vec::new() };
        if project.training_type == TrainingType::Rag {
            files.files_checked.push(INDEX_FILE.into());
            check_file(dir, INDEX_FILE, &mut files.errors);
            files.valid = files.errors.is_empty();
            if files.valid {
                match crate::tasks::retrieval::check_index(&dir.join(INDEX_FILE)) {
                    Ok(()) => loading.valid = true,
                    Err(e) => loading.errors.push(e.to_string()),
                }
            }
        } else {
            match finetuned::manifest(dir, "output_directory") {
                Err(_) => files.errors.push(format!("{} holds no trained model (finetune.json): start the project first", dir.display())),
                Ok(manifest) => {
                    for name in finetuned::expected_files(&manifest) {
                        files.files_checked.push(name.to_owned());
                        check_file(dir, name, &mut files.errors);
                    }
                }
            }
            files.valid = files.errors.is_empty();
            if files.valid {
                let (device, _) = crate::nn::device::resolve("device", "cpu")?;
                match FineTuned::load(dir, &device).and_then(|m| m.outputs(&["A short validation sentence."])) {
                    Ok(out) if out.first().is_some_and(|v| v.iter().all(|x| x.is_finite())) => loading.valid = true,
                    Ok(_) => loading.errors.push("the forward pass gave non-finite outputs".into()),
                    Err(e) => loading.errors.push(e.to_string()),
                }
            }
        }
        let errors: Vec<String> = files.errors.iter().chain(&loading.errors).cloned().collect();
        Ok(ProjectValidation { valid: files.valid && loading.valid, files, loading, errors })
    }
}

fn check_file(dir: &Path, name: &str, errors: &mut Vec<String>) {
    match std::fs::metadata(dir.join(name)) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        Ok(_) => errors.push(format!("{name} is empty")),
        Err(_) => errors.push(format!("{name} is missing")),
    }
}

/// 003's `POST /jobs/` body, with the dataset by its core id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FineTuneJob {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub dataset_id: String,
    pub training_type: TrainingType,
    /// A model of the local cache (`org/name`).
    pub model_name: String,
    #[serde(default)]
    pub batch_size: Option<u64>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default)]
    pub epochs: Option<u64>,
    #[serde(default)]
    pub lora_r: Option<u64>,
    #[serde(default)]
    pub lora_alpha: Option<f64>,
    #[serde(default)]
    pub lora_dropout: Option<f64>,
    #[serde(default)]
    pub submitted_by: Option<String>,
}

impl Runner {
    /// Submits 003's training job: `standard` and `qlora` are `text_finetune` runs of `model_name` on the
    /// dataset with the job's hyperparameters (checked as that task checks them, so errors name
    /// `hyperparams.lora_r` and the like); `rag` is a `text_index` run of the dataset's `text` column
    /// (embedding takes no training hyperparameters, so those are not used).
    pub fn submit_fine_tune_job(&self, job: FineTuneJob) -> Result<crate::Run> {
        crate::domain::common::require_text("name", &job.name, 256)?;
        let mut spec = match job.training_type {
            TrainingType::Rag => RunSpec::task(RunKind::Train, "text_index").with_inputs(json!({"base_model": job.model_name})),
            TrainingType::Standard | TrainingType::Qlora => {
                let mut hyper = serde_json::Map::new();
                let mut put = |k: &str, v: Option<serde_json::Value>| {
                    if let Some(v) = v {
                        hyper.insert(k.to_owned(), v);
                    }
                };
                put("batch_size", job.batch_size.map(|v| json!(v)));
                put("learning_rate", job.learning_rate.map(|v| json!(v)));
                put("epochs", job.epochs.map(|v| json!(v)));
                put("lora_r", job.lora_r.map(|v| json!(v)));
                put("lora_alpha", job.lora_alpha.map(|v| json!(v)));
                put("lora_dropout", job.lora_dropout.map(|v| json!(v)));
                RunSpec::task(RunKind::FineTune, "text_finetune")
                    .with_inputs(json!({"base_model": job.model_name, "training_type": job.training_type}))
                    .with_hyperparams(serde_json::Value::Object(hyper))
            }
        };
        spec.name = Some(job.name);
        spec.description = job.description;
        spec.submitted_by = job.submitted_by;
        spec.dataset_id = Some(job.dataset_id);
        self.submit(spec)
    }
}
