//! [`Runner`]: the one entry point. It owns the store, the event bus, the scheduler and the worker pool.

mod claims;
mod execute;
pub(crate) mod monitoring;
pub(crate) mod records;
mod registry;

pub use records::OutputDirCheck;
mod projects;
pub use projects::{FilesCheck, FineTuneJob, INDEX_FILE, LoadingCheck, ProjectValidation};
mod runs;
mod serving;

pub use serving::TrainingJob;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::domain::common::{now, ts_to_sql};
use crate::domain::config::{ConfigPatch, RunnerConfig};
use crate::domain::run::{Run, RunError, RunStatus};
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::executor::{CancelReason, CancelToken, Pool, Scheduler, Task};
use crate::store::{self, Doc, Durability, Effects, EventRecord, FinishRecord, Store, Tx, with_suffix};

/// A run the executor owns right now (queued or running, or finishing until its final write commits).
#[derive(Debug)]
pub(crate) struct LiveRun {
    pub(crate) status: RunStatus,
    pub(crate) token: CancelToken,
    pub(crate) run: Arc<Run>,
    /// A run claimed from a shared queue: already `running` in the store, under this attempt.
    pub(crate) claim: Option<Claim>,
}

/// A claim on a run of a shared queue.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(crate) attempt: store::Attempt,
    /// When this process learned of it.
    pub(crate) at: Instant,
    /// A worker took it (until then, stopping gives it back to the queue).
    pub(crate) started: bool,
}

/// State shared by the [`Runner`] handles, the workers and the writer's hooks.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) live: Mutex<HashMap<String, LiveRun>>,
    pub(crate) sched: Arc<Scheduler>,
    pub(crate) pool: Pool,
    pub(crate) tasks: RwLock<HashMap<String, Arc<dyn Task>>>,
    pub(crate) data_dir: PathBuf,
    /// The stored configuration with this process's own settings over it.
    pub(crate) config: RwLock<RunnerConfig>,
    /// This process's own settings (see [`RunnerOptions::local_config`]).
    pub(crate) local_config: ConfigPatch,
    pub(crate) accepting: AtomicBool,
    /// This process's worker identity (host, process, a fresh id per open), recorded on the runs it
    /// executes.
    pub(crate) worker: Arc<str>,
    /// The fetcher and keeper of a shared queue (idle with SQLite).
    pub(crate) claims: claims::Claims,
    shut_down: AtomicBool,
    shutdown_timeout: Duration,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

/// How to open a [`Runner`].
pub struct RunnerOptions {
    /// Where files (datasets, artifacts, weights) go; default: next to the database, `<db>.data/`.
    pub data_dir: Option<PathBuf>,
    pub durability: Durability,
    /// Workers to start; default: the stored config (`max_concurrent_workers` when `auto_start_workers`).
    pub workers: Option<usize>,
    /// Overrides (and stores) the config's `max_attempts`.
    pub max_attempts: Option<u32>,
    /// Most runs of a queue running at once (queues not listed are unlimited).
    pub queue_limits: HashMap<String, usize>,
    /// How long shutdown waits for running tasks before asking them to stop.
    pub shutdown_timeout: Duration,
    /// The only queues this process's workers take runs from (`None`: every queue).
    pub queues: Option<Vec<String>>,
    /// With a shared PostgreSQL database: how long a worker's claim on a run lasts without a renewal
    /// (renewed every quarter of it, at most every second, while the process lives). A run whose worker
    /// stops renewing is rescued after it: requeued, or failed once its attempts are used up.
    pub lease: Duration,
    /// Settings that hold in this process only, over the stored configuration (which every process of
    /// a shared database reads): a machine's `device`, `data_root`, `model_cache`, or its own
    /// `max_concurrent_workers`. [`Runner::update_config`] stores changes, never these.
    pub local_config: ConfigPatch,
    tasks: Vec<(String, Arc<dyn Task>)>,
}

impl std::fmt::Debug for RunnerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerOptions")
            .field("data_dir", &self.data_dir)
            .field("durability", &self.durability)
            .field("workers", &self.workers)
            .field("queues", &self.queues)
            .field("lease", &self.lease)
            .field("local_config", &self.local_config)
            .field("tasks", &self.tasks.iter().map(|t| &t.0).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            durability: Durability::Full,
            workers: None,
            max_attempts: None,
            queue_limits: HashMap::new(),
            shutdown_timeout: Duration::from_secs(10),
            queues: None,
            lease: Duration::from_secs(5),
            local_config: ConfigPatch::default(),
            tasks: Vec::new(),
        }
    }
}

impl RunnerOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a task before the runner opens, so runs recovered at open can use it.
    pub fn task(mut self, name: impl Into<String>, task: impl Task) -> Self {
        self.tasks.push((name.into(), Arc::new(task)));
        self
    }

    /// Sets the number of workers started at open.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Sets the durability of commits.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Sets how many attempts an interrupted run gets in all.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Limits how many runs of `queue` run at once.
    pub fn queue_limit(mut self, queue: impl Into<String>, limit: usize) -> Self {
        self.queue_limits.insert(queue.into(), limit);
        self
    }

    /// Sets the data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets how long shutdown waits for running tasks.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Takes runs only from these queues.
    pub fn queues<I: IntoIterator<Item = S>, S: Into<String>>(mut self, queues: I) -> Self {
        self.queues = Some(queues.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the lease of a claim on a shared queue (see [`RunnerOptions::lease`]).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets what this process changes in the stored configuration for itself alone (see
    /// [`RunnerOptions::local_config`]).
    pub fn local_config(mut self, patch: ConfigPatch) -> Self {
        self.local_config = patch;
        self
    }
}

/// The runner: registry, recipes, datasets, projects, monitoring, and runs executed on a thread pool.
///
/// Cheap to clone; the last clone dropped shuts the runner down (see [`Runner::shutdown`]).
#[derive(Debug, Clone)]
pub struct Runner {
    handle: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.shutdown(self.shared.shutdown_timeout);
    }
}

impl Runner {
    /// Opens (or creates) the runner whose database is at `path`, with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, RunnerOptions::default())
    }

    /// An ephemeral runner: database and files in a private temporary directory removed when the
    /// runner is dropped. Commits skip the fsync (nothing is meant to outlive the process).
    pub fn in_memory() -> Result<Self> {
        Self::in_memory_with(RunnerOptions::default())
    }

    /// [`Runner::in_memory`] with options.
    pub fn in_memory_with(mut options: RunnerOptions) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("modelrunner-").tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        options.durability = Durability::Normal;
        open_runner(&dir.path().join("modelrunner.db"), options, Some(dir))
    }

    /// Opens (or creates) the runner at `path` with `options`. Runs a previous process left `running`
    /// are recovered first: requeued while attempts remain, else marked failed (`INTERRUPTED`).
    pub fn open_with(path: impl AsRef<Path>, options: RunnerOptions) -> Result<Self> {
        open_runner(path.as_ref(), options, None)
    }

    /// Registers (or replaces) a task under `name`.
    pub fn register_task(&self, name: impl Into<String>, task: impl Task) -> Result<()> {
        let name = name.into();
        crate::domain::common::validate_id("task", &name)?;
        self.shared().tasks.write().insert(name, Arc::new(task));
        Ok(())
    }

    /// Names of the registered tasks, sorted.
    pub fn task_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared().tasks.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// This process's identity as a worker (`host-pid-id`, fresh at every open): what a run it executes
    /// records as its `worker`.
    pub fn worker_id(&self) -> &str {
        &self.shared().worker
    }

    /// Where the data is: the SQLite file, or the PostgreSQL location (never with its password).
    pub fn location(&self) -> &str {
        self.shared().store.location()
    }

    /// The directory holding stored files, artifacts and weights.
    pub fn data_dir(&self) -> &Path {
        &self.shared().data_dir
    }

    /// Stops taking work, lets running tasks finish for up to `timeout`, then asks the rest to stop
    /// (they go back to `queued` for the next open), and flushes every pending write. Idempotent.
    pub fn shutdown(&self, timeout: Duration) {
        self.shared().shutdown(timeout);
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Runs `f` as one acknowledged write (in its own savepoint, group-committed) and returns its value
    /// once durable.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx, &mut Effects) -> Result<T> + Send + 'static,
    {
        self.shared().store.write(f)
    }

    /// Loads the document `id`, lets `change` modify it, and stores it, in one acknowledged write.
    pub(crate) fn modify<D, F>(&self, id: &str, change: F) -> Result<D>
    where
        D: Doc + Send + 'static,
        F: FnOnce(&dyn Tx, &mut D) -> Result<()> + Send + 'static,
    {
        let id = id.to_owned();
        self.write(move |tx, _| {
            let mut doc: D = store::get_doc(tx, &id)?;
            change(tx, &mut doc)?;
            store::update_doc(tx, &doc)?;
            Ok(doc)
        })
    }
}

/// Replaces `slot` with `value` when one is given (the patch semantics of every update).
pub(crate) fn set_if<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn open_runner(location: &Path, options: RunnerOptions, temp: Option<tempfile::TempDir>) -> Result<Runner> {
    let max_attempts = options.max_attempts;
    if max_attempts == Some(0) {
        return Err(Error::invalid("max_attempts", "must be at least 1"));
    }
    if options.lease < Duration::from_millis(100) {
        return Err(Error::invalid("lease", format!("must be at least 100 ms, got {:?}", options.lease)));
    }
    if options.queues.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::invalid("queues", "name at least one queue, or none to take runs from every queue"));
    }
    options.local_config.validate()?;
    let bus = Arc::new(EventBus::default());
    let url = location.to_str().filter(|l| store::is_postgres(l));
    let (store, (config, queued)) = match url {
        // Many processes share it: runs wait in the store's queue and a rescuer gives back those whose
        // worker died.
        Some(url) => {
            Store::open_postgres(url, store::PgOptions { lease: options.lease, ..store::PgOptions::default() }, bus.clone(), |tx, _| {
                Ok((load_config(tx, max_attempts)?, Vec::new()))
            })?
        }
        // One process owns it: what a dead process left running is recovered now, and queued runs wait
        // in memory.
        None => Store::open_sqlite(location, options.durability, bus.clone(), |tx, fx| {
            let config = load_config(tx, max_attempts)?;
            recover_interrupted(tx, fx, config.max_attempts)?;
            let queued: Vec<Run> = tx.runs_with_status(RunStatus::Queued)?.into_iter().filter(|r| r.task.is_some()).collect();
            Ok((config, queued))
        })?,
    };
    let data_dir = match (&options.data_dir, url) {
        (Some(dir), _) => dir.clone(),
        (None, Some(url)) => default_shared_data_dir(url),
        (None, None) => with_suffix(location, ".data"),
    };
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        store.stop();
        return Err(Error::io(&data_dir, e));
    }

    let sched = Arc::new(Scheduler::new(options.queue_limits, options.queues.clone()));
    let mut tasks: HashMap<String, Arc<dyn Task>> = HashMap::new();
    tasks.insert("simulator".into(), Arc::new(crate::tasks::simulator::Simulator));
    tasks.insert("linear_reg".into(), Arc::new(crate::tasks::forecast::Forecast(crate::tasks::forecast::Forecaster::LinearReg)));
    tasks.insert("xgb_forecast".into(), Arc::new(crate::tasks::forecast::Forecast(crate::tasks::forecast::Forecaster::XgbForecast)));
    tasks.insert("neural_train".into(), Arc::new(crate::tasks::neural::NeuralTrain));
    tasks.insert("neural_predict".into(), Arc::new(crate::tasks::neural::NeuralPredict));
    tasks.insert("family".into(), Arc::new(crate::families::FamilyRun));
    tasks.insert("classic_train".into(), Arc::new(crate::tasks::classic::ClassicTrain));
    tasks.insert("classic_predict".into(), Arc::new(crate::tasks::classic::ClassicPredict));
    tasks.insert("text_index".into(), Arc::new(crate::tasks::retrieval::TextIndex));
    tasks.insert("gpt_train".into(), Arc::new(crate::tasks::generation::GptTrain));
    tasks.insert("gpt_generate".into(), Arc::new(crate::tasks::generation::GptGenerate));
    tasks.insert("text_search".into(), Arc::new(crate::tasks::retrieval::TextSearch));
    tasks.insert("text_finetune".into(), Arc::new(crate::tasks::finetune::TextFinetune));
    tasks.insert("text_predict".into(), Arc::new(crate::tasks::finetune::TextPredict));
    for (name, task) in options.tasks {
        crate::domain::common::validate_id("task", &name)?;
        tasks.insert(name, task);
    }
    let workers = options.workers.unwrap_or(if config.auto_start_workers { config.max_concurrent_workers as usize } else { 0 });

    let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
        let weak = weak.clone();
        let exec: crate::executor::Exec = Arc::new(move |run_id: &str| {
            if let Some(shared) = weak.upgrade() {
                shared.execute(run_id);
            }
        });
        Shared {
            store,
            bus,
            live: Mutex::new(HashMap::new()),
            sched: sched.clone(),
            pool: Pool::new(sched.clone(), exec),
            tasks: RwLock::new(tasks),
            data_dir,
            config: RwLock::new(config.with_local(&options.local_config)),
            local_config: options.local_config.clone(),
            accepting: AtomicBool::new(true),
            worker: worker_identity().into(),
            claims: claims::Claims::default(),
            shut_down: AtomicBool::new(false),
            shutdown_timeout: options.shutdown_timeout,
            _temp: temp,
        }
    });
    {
        let mut live = shared.live.lock();
        for run in queued {
            sched.push(&run.queue, run.priority, run.id.clone());
            live.insert(
                run.id.clone(),
                LiveRun { status: RunStatus::Queued, token: CancelToken::default(), run: Arc::new(run), claim: None },
            );
        }
    }
    let runner = Runner { handle: Arc::new(Handle { shared }) };
    let shared = runner.shared();
    shared.pool.start(workers)?;
    claims::Claims::start(shared, host_name(), options.queues, workers)?;
    Ok(runner)
}

/// The machine's name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Where files go by default for a shared database: a directory of this user's, named after the database
/// (`~/.local/share/modelrunner/<db>-<hash of the location>`). Files every machine must read are kept in
/// the database as well.
fn default_shared_data_dir(url: &str) -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    let without_query = url.split('?').next().unwrap_or(url);
    let db = without_query.rsplit('/').next().filter(|d| !d.is_empty()).unwrap_or("postgres");
    let db: String = db.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    base.join("modelrunner").join(format!("{db}-{:08x}", crc32fast::hash(without_query.as_bytes())))
}

/// This process as a worker: `host-pid-xxxxxxxx`, fresh at every open.
fn worker_identity() -> String {
    let host = host_name();
    let fresh = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &fresh[fresh.len() - 8..])
}

/// The stored configuration document.
pub(crate) fn parse_config(doc: &str) -> Result<RunnerConfig> {
    serde_json::from_str(doc).map_err(|e| Error::Storage(format!("corrupt config: {e}")))
}

fn load_config(tx: &dyn Tx, max_attempts: Option<u32>) -> Result<RunnerConfig> {
    let mut config = match tx.config_get()? {
        Some(doc) => parse_config(&doc)?,
        None => RunnerConfig::new_default(now()),
    };
    if let Some(n) = max_attempts {
        config.max_attempts = n;
    }
    tx.config_put(&serde_json::to_string(&config)?)?;
    Ok(config)
}

/// Runs left `running` by a process that died: requeued while attempts remain, else failed.
/// External runs (no task) are their caller's to report and are left alone.
fn recover_interrupted(tx: &dyn Tx, fx: &mut Effects, max_attempts: u32) -> Result<()> {
    for run in tx.runs_with_status(RunStatus::Running)? {
        if run.task.is_none() {
            continue;
        }
        recover_run(tx, fx, &run, max_attempts)?;
    }
    Ok(())
}

/// An interrupted attempt at `run`: back to its queue while attempts remain, else failed with
/// `INTERRUPTED`.
pub(crate) fn recover_run(tx: &dyn Tx, fx: &mut Effects, run: &Run, max_attempts: u32) -> Result<()> {
    let at = now();
    if run.attempts < max_attempts {
        let message = format!("requeued after an interrupted attempt ({} of {max_attempts})", run.attempts);
        tx.run_requeue(&run.id, &ts_to_sql(&at), &message)?;
        tx.event_push(fx, &EventRecord::state(&run.id, at, RunStatus::Queued, Some(message), None)?)?;
        tx.notify(store::Notice::Queued);
    } else {
        let error = RunError {
            code: "INTERRUPTED".into(),
            message: format!("the process running this run stopped; {} of {max_attempts} attempts used", run.attempts),
        };
        let finish = FinishRecord::new(&at, RunStatus::Failed, Some("interrupted"), None, Some(&error))?;
        tx.run_set_final(&run.id, &finish)?;
        tx.event_push(fx, &EventRecord::state(&run.id, at, RunStatus::Failed, Some("interrupted".into()), Some(error))?)?;
    }
    Ok(())
}

impl Shared {
    /// A run by id, as stored.
    pub(crate) fn get_run(&self, id: &str) -> Result<Run> {
        self.store.read(|tx| store::get_run(tx, id))
    }

    /// Where this machine reads the file or directory `path` that a run or a dataset names: `path` when
    /// it is here; else, with a store many machines share, its copy fetched into this machine's data
    /// directory (`siblings`: the files beside a file come along, as a network's weights beside its
    /// `model.json`). What no machine stored is `path` as given (reading it fails as it would).
    pub(crate) fn locate(&self, path: &Path, siblings: bool) -> Result<PathBuf> {
        if path.exists() {
            return Ok(path.to_owned());
        }
        let Some(files) = self.store.shared_files() else { return Ok(path.to_owned()) };
        let root = self.data_dir.join("fetched");
        let mirror = store::mirrored(&root, path);
        if mirror.exists() {
            return Ok(mirror);
        }
        Ok(files.fetch(path, &root, siblings)?.unwrap_or_else(|| path.to_owned()))
    }

    /// With a store many machines share, copies the files of a succeeded run (its artifact directory)
    /// into the store, so that a worker or a front on another machine can read its model.
    pub(crate) fn share_run_files(&self, run_id: &str) -> Result<()> {
        let Some(files) = self.store.shared_files() else { return Ok(()) };
        let dir = self.data_dir.join("runs").join(run_id);
        if !dir.is_dir() {
            return Ok(());
        }
        for file in store::files_under(&dir).map_err(|e| Error::io(&dir, e))? {
            files.put(&file)?;
        }
        Ok(())
    }

    /// Runs waiting in queues for a worker (of any process, with a shared queue).
    pub(crate) fn queued_runs(&self) -> u64 {
        match self.store.shared_queue() {
            Some(queue) => queue.count_queued().unwrap_or_else(|e| {
                tracing::warn!("cannot count queued runs: {e}");
                0
            }),
            None => self.live.lock().values().filter(|l| l.status == RunStatus::Queued).count() as u64,
        }
    }

    /// Reads the stored configuration again (another process changed it) and applies the pool size.
    pub(crate) fn reload_config(&self) -> Result<()> {
        let Some(doc) = self.store.read(|tx| tx.config_get())? else { return Ok(()) };
        let config = parse_config(&doc)?.with_local(&self.local_config);
        let max = config.max_concurrent_workers as usize;
        *self.config.write() = config;
        let active = self.pool.active();
        if active > max {
            self.pool.stop_some(active - max);
        }
        Ok(())
    }

    pub(crate) fn ensure_accepting(&self) -> Result<()> {
        if self.accepting.load(Ordering::Acquire) { Ok(()) } else { Err(Error::ShuttingDown) }
    }

    /// Gives runs claimed from a shared queue that no worker started back to the queue.
    fn release_unstarted(&self) {
        let Some(queue) = self.store.shared_queue() else { return };
        let drained = self.sched.drain();
        let mut live = self.live.lock();
        for id in drained {
            let Some(claim) = live.get(&id).and_then(|l| l.claim.clone()).filter(|c| !c.started) else { continue };
            live.remove(&id);
            if let Err(e) = queue.release(&claim.attempt, "released: its worker stopped before starting it") {
                tracing::warn!("cannot give run {id} back to its queue ({e}); it is rescued once its lease runs out");
            }
        }
    }

    fn shutdown(&self, timeout: Duration) {
        self.accepting.store(false, Ordering::Release);
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        self.claims.stop_fetcher(self);
        self.pool.stop_all();
        self.sched.close();
        self.release_unstarted();
        let deadline = Instant::now() + timeout;
        if !self.pool.join_until(deadline) {
            for live in self.live.lock().values() {
                if live.status == RunStatus::Running {
                    live.token.cancel(CancelReason::Shutdown);
                }
            }
            if !self.pool.join_until(Instant::now() + Duration::from_secs(2)) {
                tracing::warn!("some tasks ignored cancellation at shutdown; their runs are recovered at the next open");
            }
        }
        // Leases are renewed until the last run has ended and its end is queued.
        self.claims.stop_keeper(self);
        self.store.stop();
    }
}
