//! Datasets, projects, monitoring snapshots, synthetic examples, the stored config and the worker pool.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::runs::ref_error;
use super::{Runner, set_if};
use crate::data::tabular::Table;
use crate::domain::common::{Page, PageRequest, new_id, now, require_text};
use crate::domain::config::{ConfigPatch, PoolStatus, RunnerConfig, WorkerState};
use crate::domain::dataset::{Dataset, DatasetPatch, DatasetSpec, FileType};
use crate::domain::project::{Project, ProjectPatch, ProjectSpec, ProjectStatus, ProjectTrait};
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
        let Table { columns, rows } = Table::parse(content, file_type)?;
        let row_count = rows.len() as u64;
        let id = new_id("ds");
        let dir = self.data_dir().join("datasets");
        let path = dir.join(format!("{id}.{}", file_type.as_str()));
        write_durably(&dir, &path, content)?;
        // Workers on other machines read it from the store.
        if let Some(files) = self.shared().store.shared_files()
            && let Err(e) = files.put(&path)
        {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
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
        let stored = self.write(move |tx, _| {
            let mut d = dataset;
            d.seq = store::insert_doc(tx, &d)?;
            Ok(d)
        });
        if stored.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        stored
    }

    /// The id of the dataset with insertion ordinal `seq` (003's integer dataset ids).
    pub fn dataset_id_by_seq(&self, seq: i64) -> Result<String> {
        self.shared().store.read(|c| store::id_by_seq::<Dataset>(c, seq))
    }

    /// The id of the project with insertion ordinal `seq` (003's integer project ids).
    pub fn project_id_by_seq(&self, seq: i64) -> Result<String> {
        self.shared().store.read(|c| store::id_by_seq::<Project>(c, seq))
    }

    /// The id of the run with insertion ordinal `seq` (003's integer job ids).
    pub fn run_id_by_seq(&self, seq: i64) -> Result<String> {
        self.shared().store.read(|tx| tx.run_id_by_seq(seq)?.ok_or_else(|| Error::not_found("run", seq.to_string())))
    }

    /// A dataset by id.
    pub fn get_dataset(&self, id: &str) -> Result<Dataset> {
        self.shared().store.read(|c| store::get_doc(c, id))
    }

    /// A stored dataset's rows, read from its file (see [`crate::data::tabular::supervised`] for
    /// features and target).
    pub fn dataset_table(&self, id: &str) -> Result<crate::data::tabular::Table> {
        self.shared().dataset_table(id)
    }

    /// Resolves a training file named by path (002's `data_path`): absolute inside the configured
    /// data root, or relative to it. Anything else is a validation error on `data_path`.
    pub fn resolve_data_path(&self, path: &str) -> Result<PathBuf> {
        self.shared().resolve_data_path(path)
    }

    /// Like [`Runner::resolve_data_path`], for a directory (an image folder: one folder per class).
    pub fn resolve_data_dir(&self, path: &str) -> Result<PathBuf> {
        self.shared().resolve_data_dir(path)
    }

    /// Like [`Runner::resolve_data_path`], for a file or a directory.
    pub fn resolve_data_location(&self, path: &str) -> Result<PathBuf> {
        self.shared().locate_data(path)
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
        let shared = self.shared().clone();
        self.write(move |tx, fx| {
            let d: Dataset = store::get_doc(tx, &id)?;
            for p in store::all_docs::<Project>(tx)? {
                if p.traits.iter().any(|t| t.datasets.iter().any(|a| a.dataset_id == id)) {
                    return Err(Error::Conflict(format!("dataset {id} is allocated in project {}", p.id)));
                }
            }
            store::delete_doc::<Dataset>(tx, &id)?;
            let shared = shared.clone();
            fx.after_commit(move || {
                let _ = std::fs::remove_file(&d.file_path);
                if let Some(files) = shared.store.shared_files()
                    && let Err(e) = files.remove(Path::new(&d.file_path))
                {
                    tracing::warn!("the stored copy of dataset file {} was not removed: {e}", d.file_path);
                }
            });
            Ok(())
        })
    }

    /// The configured output root when `dir` (symlinks and `..` resolved) is not inside it.
    fn outside_output_root(&self, dir: &Path) -> Option<String> {
        let root = self.config().output_root?;
        let inside = match (Path::new(&root).canonicalize(), dir.canonicalize()) {
            (Ok(root), Ok(real)) => real.starts_with(root),
            _ => false,
        };
        (!inside).then_some(root)
    }

    /// Checks that `path` is an existing, writable directory (by writing and removing a probe file),
    /// inside the configured output root when there is one.
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
        } else if let Some(root) = self.outside_output_root(dir) {
            errors.push(format!("{path} is outside the output root {root}"));
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
        self.write(move |tx, _| {
            for (i, t) in spec.traits.iter().enumerate() {
                for (j, a) in t.datasets.iter().enumerate() {
                    store::get_doc::<Dataset>(tx, &a.dataset_id)
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
            project.seq = store::insert_doc(tx, &project)?;
            Ok(project)
        })
    }

    /// A project by id.
    /// Its status and progress are its latest run's.
    pub fn get_project(&self, id: &str) -> Result<Project> {
        let project = self.shared().store.read(|c| store::get_doc(c, id))?;
        self.with_run_state(project)
    }

    /// Projects, newest first.
    pub fn list_projects(&self, page: PageRequest) -> Result<Page<Project>> {
        let mut found: Page<Project> = self.shared().store.read_tx(|c| store::list_docs(c, &[], page))?;
        found.items = found.items.into_iter().map(|p| self.with_run_state(p)).collect::<Result<_>>()?;
        Ok(found)
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

    /// The stored configuration.
    pub fn config(&self) -> RunnerConfig {
        self.shared().config.read().clone()
    }

    /// The Hugging Face hub cache text models load from: the configured `model_cache`, else the one the
    /// Hugging Face libraries use.
    pub fn model_cache_dir(&self) -> PathBuf {
        self.shared().model_cache_dir()
    }

    /// Changes the configuration. Lowering `max_concurrent_workers` below the running count stops the
    /// extra workers (idle ones first) after their current run.
    pub fn update_config(&self, patch: ConfigPatch) -> Result<RunnerConfig> {
        patch.validate()?;
        let shared = self.shared();
        // Read, changed and stored in one write: what other processes stored meanwhile stays, and this
        // process's own settings (`RunnerOptions::local_config`) are never stored.
        let stored = shared.store.write(move |tx, _| {
            let mut config = match tx.config_get()? {
                Some(doc) => super::parse_config(&doc)?,
                None => RunnerConfig::new_default(now()),
            };
            patch.apply(&mut config);
            config.updated_at = now();
            tx.config_put(&serde_json::to_string(&config)?)?;
            tx.notify(store::Notice::ConfigChanged);
            Ok(config)
        })?;
        let config = stored.with_local(&shared.local_config);
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
        let jobs_in_queue = shared.queued_runs();
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

impl super::Shared {
    pub(crate) fn dataset_table(&self, id: &str) -> Result<Table> {
        let dataset: Dataset = self.store.read(|c| store::get_doc(c, id))?;
        Table::read(&self.locate(Path::new(&dataset.file_path), false)?, dataset.file_type)
    }

    pub(crate) fn model_cache_dir(&self) -> PathBuf {
        self.config.read().model_cache.as_ref().map_or_else(crate::model_cache::default_dir, PathBuf::from)
    }

    /// The data root: the configured one, else `<data dir>/files` (created on first use).
    pub(crate) fn data_root(&self) -> Result<PathBuf> {
        let root = match self.config.read().data_root.clone() {
            Some(root) => PathBuf::from(root),
            None => {
                let root = self.data_dir.join("files");
                std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
                root
            }
        };
        root.canonicalize().map_err(|e| Error::invalid("data_root", format!("{} cannot be used: {e}", root.display())))
    }

    pub(crate) fn resolve_data_path(&self, path: &str) -> Result<PathBuf> {
        let real = self.locate_data(path)?;
        if !real.is_file() {
            return Err(Error::invalid("data_path", format!("{path:?} is not a file")));
        }
        Ok(real)
    }

    pub(crate) fn resolve_data_dir(&self, path: &str) -> Result<PathBuf> {
        let real = self.locate_data(path)?;
        if !real.is_dir() {
            return Err(Error::invalid("data_path", format!("{path:?} is not a directory (of one folder of images per class)")));
        }
        Ok(real)
    }

    /// `path` inside the data root, resolved (symlinks included) and checked to stay there.
    pub(crate) fn locate_data(&self, path: &str) -> Result<PathBuf> {
        const FIELD: &str = "data_path";
        let root = self.data_root()?;
        if path.trim().is_empty() {
            return Err(Error::invalid(FIELD, "must not be empty"));
        }
        let given = Path::new(path);
        let candidate = if given.is_absolute() { given.to_path_buf() } else { root.join(given) };
        let outside = || Error::invalid(FIELD, format!("{path:?} is outside the data root {}", root.display()));
        if given.is_absolute() && !candidate.starts_with(&root) {
            return Err(outside());
        }
        let real = candidate.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::invalid(FIELD, format!("no file at {path:?} (data root {})", root.display())),
            _ => Error::invalid(FIELD, format!("{path:?} cannot be read: {e}")),
        })?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
        Ok(real)
    }
}
