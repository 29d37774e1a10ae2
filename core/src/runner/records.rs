//! Datasets, projects, monitoring snapshots, synthetic examples, the stored config and the worker pool.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::runs::ref_error;
use super::{Runner, set_if};
use crate::dataset_file::{ParsedFile, parse_dataset};
use crate::domain::common::{Page, PageRequest, new_id, now, require_text};
use crate::domain::config::{ConfigPatch, PoolStatus, RunnerConfig, WorkerState};
use crate::domain::dataset::{Dataset, DatasetPatch, DatasetSpec, FileType};
use crate::domain::model::Model;
use crate::domain::monitoring::{
    AlertRule, ComputedSnapshotSpec, MonitoringSnapshot, SnapshotSpec, SyntheticExample, SyntheticExampleSpec, evaluate_alerts,
};
use crate::domain::project::{Project, ProjectPatch, ProjectSpec, ProjectStatus, ProjectTrait};
use crate::domain::recipe::Recipe;
use crate::domain::run::RunStatus;
use crate::error::{Error, Result};
use crate::store;

/// Largest dataset file accepted.
pub const MAX_DATASET_BYTES: usize = 1 << 30;

/// Whether a directory can take a project's output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputDirCheck {
    pub valid: bool,
    pub writable: bool,
    pub path: String,
    pub errors: Vec<String>,
}

impl Runner {
    /// Stores an uploaded dataset: the bytes are parsed (CSV with a header row, a JSON array of objects,
    /// or JSON Lines) to count rows and find columns, then written under a generated name. Unparseable
    /// content is a validation error on `file` and nothing is stored.
    pub fn create_dataset(&self, spec: DatasetSpec, content: &[u8]) -> Result<Dataset> {
        require_text("name", &spec.name, 256)?;
        require_text("filename", &spec.filename, 512)?;
        if content.len() > MAX_DATASET_BYTES {
            return Err(Error::invalid("file", format!("larger than {MAX_DATASET_BYTES} bytes")));
        }
        let file_type = match spec.file_type {
            Some(t) => t,
            None => file_type_of(&spec.filename)?,
        };
        let ParsedFile { row_count, columns } = parse_dataset(file_type, content)?;
        let id = new_id("ds");
        let dir = self.data_dir().join("datasets");
        let path = dir.join(format!("{id}.{}", file_type.as_str()));
        write_durably(&dir, &path, content)?;
        let at = now();
        let dataset = Dataset {
            id,
            seq: 0,
            name: spec.name,
            description: spec.description,
            filename: spec.filename,
            file_path: path.display().to_string(),
            file_type,
            file_size: content.len() as u64,
            row_count,
            columns,
            created_at: at,
            updated_at: at,
        };
        let stored = self
            .shared()
            .store
            .writer
            .enqueue(move |conn, _| {
                let mut d = dataset;
                d.seq = store::insert_doc(conn, &d)?;
                Ok(d)
            })
            .wait();
        if stored.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        stored
    }

    /// A dataset by id.
    pub fn get_dataset(&self, id: &str) -> Result<Dataset> {
        self.shared().store.read(|c| store::get_doc(c, id))
    }

    /// A stored dataset's rows, read from its file (see [`crate::data::tabular::supervised`] for
    /// features and target).
    pub fn dataset_table(&self, id: &str) -> Result<crate::data::tabular::Table> {
        let dataset = self.get_dataset(id)?;
        crate::data::tabular::Table::read(Path::new(&dataset.file_path), dataset.file_type)
    }

    /// Drift of `current_id`'s numeric columns against `reference_id`'s: PSI and a KS test per shared
    /// column. Datasets sharing no column are a validation error on `current_dataset_id`.
    pub fn dataset_drift(&self, reference_id: &str, current_id: &str) -> Result<crate::drift::DriftReport> {
        let reference = self.dataset_table(reference_id).map_err(|e| super::runs::ref_error(e, "reference_dataset_id"))?;
        let current = self.dataset_table(current_id).map_err(|e| super::runs::ref_error(e, "current_dataset_id"))?;
        crate::drift::compare_tables(&reference, &current, "current_dataset_id")
    }

    /// Datasets, newest first.
    pub fn list_datasets(&self, page: PageRequest) -> Result<Page<Dataset>> {
        self.shared().store.read_tx(|c| store::list_docs(c, &[], page))
    }

    /// Changes a dataset's name or description.
    pub fn update_dataset(&self, id: &str, patch: DatasetPatch) -> Result<Dataset> {
        if let Some(name) = &patch.name {
            require_text("name", name, 256)?;
        }
        self.modify(id, move |_, d: &mut Dataset| {
            set_if(&mut d.name, patch.name);
            set_if(&mut d.description, patch.description.map(Some));
            d.updated_at = now();
            Ok(())
        })
    }

    /// Deletes a dataset and its file. One that a project allocates is a `Conflict`.
    pub fn delete_dataset(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.shared()
            .store
            .writer
            .enqueue(move |conn, fx| {
                let d: Dataset = store::get_doc(conn, &id)?;
                let mut stmt = conn.prepare_cached("SELECT doc FROM projects")?;
                for doc in stmt.query_map([], |r| r.get::<_, String>(0))? {
                    let p: Project = serde_json::from_str(&doc?)?;
                    if p.traits.iter().any(|t| t.datasets.iter().any(|a| a.dataset_id == id)) {
                        return Err(Error::Conflict(format!("dataset {id} is allocated in project {}", p.id)));
                    }
                }
                store::delete_doc::<Dataset>(conn, &id)?;
                fx.after_commit(move || {
                    let _ = std::fs::remove_file(&d.file_path);
                });
                Ok(())
            })
            .wait()
    }

    /// Checks that `path` is an existing, writable directory (by writing and removing a probe file).
    pub fn check_output_dir(&self, path: &str) -> OutputDirCheck {
        let mut errors = Vec::new();
        let dir = Path::new(path);
        let writable = if path.trim().is_empty() {
            errors.push("output_directory must not be empty".to_owned());
            false
        } else if !dir.is_absolute() {
            errors.push(format!("{path} is not an absolute path"));
            false
        } else if !dir.is_dir() {
            errors.push(format!("{path} does not exist or is not a directory"));
            false
        } else {
            let probe = dir.join(format!(".modelrunner-probe-{}", uuid::Uuid::now_v7().simple()));
            match std::fs::File::create(&probe) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                    true
                }
                Err(e) => {
                    errors.push(format!("{path} is not writable: {e}"));
                    false
                }
            }
        };
        OutputDirCheck { valid: writable, writable, path: path.to_owned(), errors }
    }

    /// Creates a project after 003's validation: trait rules, datasets that exist, and a writable
    /// output directory.
    pub fn create_project(&self, spec: ProjectSpec) -> Result<Project> {
        spec.validate()?;
        let check = self.check_output_dir(&spec.output_directory);
        if !check.valid {
            return Err(Error::invalid("output_directory", check.errors.join("; ")));
        }
        self.shared()
            .store
            .writer
            .enqueue(move |conn, _| {
                for (i, t) in spec.traits.iter().enumerate() {
                    for (j, a) in t.datasets.iter().enumerate() {
                        store::get_doc::<Dataset>(conn, &a.dataset_id)
                            .map_err(|e| ref_error(e, &format!("traits[{i}].datasets[{j}].dataset_id")))?;
                    }
                }
                let at = now();
                let mut project = Project {
                    id: new_id("proj"),
                    seq: 0,
                    name: spec.name,
                    description: spec.description,
                    base_model: spec.base_model,
                    training_type: spec.training_type,
                    max_rows: spec.max_rows,
                    output_directory: spec.output_directory,
                    traits: spec
                        .traits
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| ProjectTrait { id: i as u32 + 1, trait_type: t.trait_type, datasets: t.datasets })
                        .collect(),
                    status: ProjectStatus::Pending,
                    progress: 0.0,
                    run_id: None,
                    created_at: at,
                    updated_at: at,
                };
                project.seq = store::insert_doc(conn, &project)?;
                Ok(project)
            })
            .wait()
    }

    /// A project by id.
    pub fn get_project(&self, id: &str) -> Result<Project> {
        self.shared().store.read(|c| store::get_doc(c, id))
    }

    /// Projects, newest first.
    pub fn list_projects(&self, page: PageRequest) -> Result<Page<Project>> {
        self.shared().store.read_tx(|c| store::list_docs(c, &[], page))
    }

    /// Changes a project's name or description (traits and datasets are fixed).
    pub fn update_project(&self, id: &str, patch: ProjectPatch) -> Result<Project> {
        if let Some(name) = &patch.name {
            require_text("name", name, 256)?;
        }
        self.modify(id, move |_, p: &mut Project| {
            set_if(&mut p.name, patch.name);
            set_if(&mut p.description, patch.description.map(Some));
            p.updated_at = now();
            Ok(())
        })
    }

    /// Stores a monitoring snapshot of a model as given.
    pub fn add_monitoring_snapshot(&self, model_id: &str, spec: SnapshotSpec) -> Result<MonitoringSnapshot> {
        spec.validate()?;
        let model_id = model_id.to_owned();
        self.shared()
            .store
            .writer
            .enqueue(move |conn, _| {
                let model: Model = store::get_doc(conn, &model_id)?;
                let empty = || serde_json::Value::Object(Default::default());
                let mut snap = MonitoringSnapshot {
                    id: new_id("snap"),
                    model_id,
                    captured_at: spec.captured_at.unwrap_or_else(now),
                    performance_metrics: spec.performance_metrics.unwrap_or_else(empty),
                    drift_metrics: spec.drift_metrics.unwrap_or_else(empty),
                    data_freshness: spec.data_freshness.unwrap_or_else(empty),
                    alerts: spec.alerts.unwrap_or_else(empty),
                };
                raise_alerts(&model, &mut snap);
                store::insert_doc(conn, &snap)?;
                Ok(snap)
            })
            .wait()
    }

    /// Computes a snapshot from data and stores it: drift of the current batch against the reference
    /// (per shared numeric column: PSI, KS statistic and p-value, means), prediction drift when a
    /// prediction column is named, data freshness, and the alerts the model's rules raise.
    pub fn compute_monitoring_snapshot(&self, model_id: &str, spec: ComputedSnapshotSpec) -> Result<MonitoringSnapshot> {
        use crate::data::tabular::Table;
        use serde_json::json;
        if let Some(p) = &spec.performance_metrics {
            crate::domain::common::require_object("performance_metrics", p)?;
        }
        self.get_model(model_id)?;
        let reference_source = match (&spec.reference_dataset_id, &spec.reference_run_id) {
            (Some(id), None) => json!({"dataset_id": id}),
            (None, Some(run_id)) => {
                let run = self.get_run(run_id).map_err(|e| super::runs::ref_error(e, "reference_run_id"))?;
                let Some(id) = run.dataset_id else {
                    return Err(Error::invalid("reference_run_id", format!("run {run_id} names no training dataset")));
                };
                json!({"run_id": run_id, "dataset_id": id})
            }
            _ => return Err(Error::invalid("reference_dataset_id", "give exactly one of reference_dataset_id and reference_run_id")),
        };
        let reference_id = reference_source["dataset_id"].as_str().unwrap_or_default().to_owned();
        let reference = self.dataset_table(&reference_id).map_err(|e| super::runs::ref_error(e, "reference_dataset_id"))?;
        let captured_at = now();
        let (current, current_source, current_updated_at) = match (&spec.current_dataset_id, &spec.current_rows) {
            (Some(id), None) => {
                let dataset = self.get_dataset(id).map_err(|e| super::runs::ref_error(e, "current_dataset_id"))?;
                (self.dataset_table(id)?, json!({"dataset_id": id}), dataset.updated_at)
            }
            (None, Some(rows)) => {
                let bytes = serde_json::to_vec(rows)?;
                let table = Table::parse(&bytes, FileType::Json).map_err(|e| match e {
                    Error::Validation { reason, .. } => Error::invalid("current_rows", reason),
                    other => other,
                })?;
                (table, json!({"rows": rows.len()}), captured_at)
            }
            _ => return Err(Error::invalid("current_dataset_id", "give exactly one of current_dataset_id and current_rows")),
        };
        let field = if spec.current_rows.is_some() { "current_rows" } else { "current_dataset_id" };
        let mut drift = crate::drift::compare_tables(&reference, &current, field)?;
        let prediction = match &spec.prediction_column {
            None => serde_json::Value::Null,
            Some(column) => {
                let (Some(rc), Some(cc)) = (reference.column(column), current.column(column)) else {
                    return Err(Error::invalid(
                        "prediction_column",
                        format!("{column:?} is not a column of both the reference and the current batch"),
                    ));
                };
                drift.features.retain(|f| &f.feature != column);
                drift.skipped.retain(|(c, _)| c != column);
                drift.drifted_features.retain(|c| c != column);
                drift.max_psi = drift.features.iter().map(|f| f.psi).fold(0.0, f64::max);
                crate::drift::prediction_drift(&reference, rc, &current, cc)?
            }
        };
        let features: serde_json::Map<String, serde_json::Value> = drift
            .features
            .iter()
            .map(|f| {
                let entry = json!({
                    "psi": f.psi, "ks_statistic": f.ks.statistic, "ks_p_value": f.ks.p_value, "ks_method": f.ks.method,
                    "reference_mean": f.reference_mean, "current_mean": f.current_mean,
                    "reference_count": f.reference_count, "current_count": f.current_count, "drifted": f.drifted,
                });
                (f.feature.clone(), entry)
            })
            .collect();
        let mut drift_metrics = json!({
            "max_psi": drift.max_psi,
            "drifted_features": drift.drifted_features,
            "features": features,
            "skipped": drift.skipped.iter().map(|(c, why)| json!({"column": c, "reason": why})).collect::<Vec<_>>(),
        });
        if !prediction.is_null() {
            drift_metrics["prediction"] = prediction;
        }
        let data_freshness = json!({
            "reference": reference_source,
            "current": current_source,
            "current_updated_at": current_updated_at,
            "age_seconds": (captured_at - current_updated_at).num_seconds(),
        });
        self.add_monitoring_snapshot(
            model_id,
            SnapshotSpec {
                captured_at: Some(captured_at),
                performance_metrics: spec.performance_metrics,
                drift_metrics: Some(drift_metrics),
                data_freshness: Some(data_freshness),
                alerts: None,
            },
        )
    }

    /// Replaces a model's alert rules.
    pub fn set_alert_rules(&self, model_id: &str, rules: Vec<AlertRule>) -> Result<Model> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate(&format!("alert_rules[{i}]"))?;
        }
        self.modify(model_id, move |_, model: &mut Model| {
            model.alert_rules = rules;
            model.updated_at = now();
            Ok(())
        })
    }

    /// A model's snapshots, newest first.
    pub fn list_monitoring_snapshots(&self, model_id: &str, page: PageRequest) -> Result<Page<MonitoringSnapshot>> {
        self.shared().store.read_tx(|c| {
            store::get_doc::<Model>(c, model_id)?;
            store::list_docs(c, &[("model_id", Some(model_id.to_owned()))], page)
        })
    }

    /// Stores a synthetic example for a recipe as given (the newest one is the recipe's example).
    pub fn put_synthetic_example(&self, recipe_id: &str, spec: SyntheticExampleSpec) -> Result<SyntheticExample> {
        spec.validate()?;
        let recipe_id = recipe_id.to_owned();
        self.shared()
            .store
            .writer
            .enqueue(move |conn, _| {
                store::get_doc::<Recipe>(conn, &recipe_id)?;
                let example = SyntheticExample {
                    id: new_id("synth"),
                    recipe_id,
                    dataset_schema: spec.dataset_schema,
                    sample_rows: spec.sample_rows,
                    example_run: spec.example_run.unwrap_or_else(|| serde_json::Value::Object(Default::default())),
                    created_at: now(),
                };
                store::insert_doc(conn, &example)?;
                Ok(example)
            })
            .wait()
    }

    /// Generates example data from `dataset_schema` (see [`crate::synthetic`]; deterministic for its
    /// seed) and stores it as the recipe's synthetic example, with an example train run.
    pub fn generate_synthetic_example(&self, recipe_id: &str, dataset_schema: serde_json::Value) -> Result<SyntheticExample> {
        let schema = crate::synthetic::Schema::parse(&dataset_schema)?;
        let recipe = self.get_recipe(recipe_id)?;
        let rows: Vec<serde_json::Value> = schema.generate().into_iter().map(serde_json::Value::Object).collect();
        let example_run = serde_json::json!({
            "run_type": "train",
            "recipe_id": recipe.id,
            "model_family": recipe.model_family,
            "data": {"source": "synthetic", "rows": schema.rows, "seed": schema.seed,
                     "columns": schema.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()},
        });
        self.put_synthetic_example(recipe_id, SyntheticExampleSpec { dataset_schema, sample_rows: rows, example_run: Some(example_run) })
    }

    /// The newest synthetic example of a recipe.
    pub fn get_synthetic_example(&self, recipe_id: &str) -> Result<SyntheticExample> {
        self.shared().store.read_tx(|c| {
            store::get_doc::<Recipe>(c, recipe_id)?;
            let page =
                store::list_docs::<SyntheticExample>(c, &[("recipe_id", Some(recipe_id.to_owned()))], PageRequest { limit: 1, offset: 0 })?;
            page.items.into_iter().next().ok_or_else(|| Error::not_found("synthetic example", recipe_id))
        })
    }

    /// The stored configuration.
    pub fn config(&self) -> RunnerConfig {
        self.shared().config.read().clone()
    }

    /// Changes the configuration. Lowering `max_concurrent_workers` below the running count stops the
    /// extra workers (idle ones first) after their current run.
    pub fn update_config(&self, patch: ConfigPatch) -> Result<RunnerConfig> {
        patch.validate()?;
        let shared = self.shared();
        let mut config = shared.config.read().clone();
        patch.apply(&mut config);
        config.updated_at = now();
        let doc = serde_json::to_string(&config)?;
        shared
            .store
            .writer
            .enqueue(move |conn, _| {
                conn.execute("UPDATE config SET doc = ?1 WHERE id = 1", [doc])?;
                Ok(())
            })
            .wait()?;
        *shared.config.write() = config.clone();
        let active = shared.pool.active();
        let max = config.max_concurrent_workers as usize;
        if active > max {
            shared.pool.stop_some(active - max);
        }
        Ok(config)
    }

    /// The worker pool: each worker's state, counts, and runs waiting in queues.
    pub fn pool_status(&self) -> PoolStatus {
        let shared = self.shared();
        let workers = shared.pool.infos();
        let count = |s: WorkerState| workers.iter().filter(|w| w.status == s).count() as u32;
        let jobs_in_queue = shared.live.lock().values().filter(|l| l.status == RunStatus::Queued).count() as u64;
        PoolStatus {
            total_workers: workers.len() as u32,
            active_workers: shared.pool.active() as u32,
            idle_workers: count(WorkerState::Idle),
            busy_workers: count(WorkerState::Busy),
            max_workers: shared.config.read().max_concurrent_workers,
            workers,
            jobs_in_queue,
        }
    }

    /// Starts `count` more workers; more than `max_concurrent_workers` in all is a validation error.
    pub fn start_workers(&self, count: u32) -> Result<PoolStatus> {
        let shared = self.shared();
        shared.ensure_accepting()?;
        let max = shared.config.read().max_concurrent_workers;
        let active = shared.pool.active() as u32;
        if count == 0 || active + count > max {
            return Err(Error::invalid(
                "worker_count",
                format!("must be between 1 and {} ({active} of {max} running)", max - active.min(max)),
            ));
        }
        shared.pool.start(count as usize)?;
        Ok(self.pool_status())
    }

    /// Stops every worker after its current run; queued runs wait until workers start again.
    pub fn stop_workers(&self) -> PoolStatus {
        self.shared().pool.stop_all();
        self.pool_status()
    }

    /// Replaces every worker with a fresh one (as many as were running, or the configured maximum
    /// when none were).
    pub fn restart_workers(&self) -> Result<PoolStatus> {
        let shared = self.shared();
        shared.ensure_accepting()?;
        let active = shared.pool.active();
        let count = if active == 0 { shared.config.read().max_concurrent_workers as usize } else { active };
        shared.pool.stop_all();
        shared.pool.start(count)?;
        Ok(self.pool_status())
    }
}

fn file_type_of(filename: &str) -> Result<FileType> {
    let ext = Path::new(filename).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(FileType::Csv),
        Some("json") => Ok(FileType::Json),
        Some("jsonl" | "ndjson") => Ok(FileType::Jsonl),
        _ => Err(Error::invalid("file", format!("unsupported file type of {filename:?}; expected .csv, .json or .jsonl"))),
    }
}

/// Writes `content` to `path` via a temporary file, fsync and rename, so a crash leaves either nothing
/// or the whole file.
fn write_durably(dir: &Path, path: &PathBuf, content: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(content).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Adds the alerts the model's rules raise on the snapshot's metrics; alerts given with it are kept.
fn raise_alerts(model: &Model, snap: &mut MonitoringSnapshot) {
    let raised = evaluate_alerts(&model.alert_rules, &snap.performance_metrics, &snap.drift_metrics);
    if raised.is_empty() {
        return;
    }
    if !snap.alerts.is_object() {
        snap.alerts = serde_json::Value::Object(Default::default());
    }
    if let Some(alerts) = snap.alerts.as_object_mut() {
        for (metric, alert) in raised {
            alerts.entry(metric).or_insert(alert);
        }
    }
}
