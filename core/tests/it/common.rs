//! Helpers shared by the integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use modelrunner::{Error, Runner, RunnerOptions, TaskContext, TaskOutput};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(60);

/// A task that finishes at once with its inputs echoed in the summary.
pub fn echo(ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    let mut out = TaskOutput::default();
    out.summary.insert("echo".into(), ctx.inputs().clone());
    Ok(out)
}

/// A task that loops in small steps until cancelled or `inputs.steps` steps are done.
pub fn stepper(ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    let steps = ctx.inputs().get("steps").and_then(|v| v.as_u64()).unwrap_or(10_000);
    let pause = ctx.inputs().get("pause_ms").and_then(|v| v.as_u64()).unwrap_or(5);
    for i in 0..steps {
        ctx.check_cancelled()?;
        ctx.progress(i as f64 * 100.0 / steps as f64, None);
        ctx.metric("loss", i, 1.0 / (i as f64 + 1.0))?;
        std::thread::sleep(Duration::from_millis(pause));
    }
    let mut out = TaskOutput::default();
    out.summary.insert("steps".into(), json!(steps));
    Ok(out)
}

/// A task that fails with a validation error.
pub fn failing(_ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    Err(Error::invalid("inputs.x", "always fails"))
}

/// A task blocked until the gate opens (or it is cancelled).
pub fn gated(gate: Arc<AtomicBool>) -> impl Fn(&TaskContext) -> modelrunner::Result<TaskOutput> + Send + Sync + 'static {
    move |ctx| {
        while !gate.load(Ordering::Acquire) {
            ctx.check_cancelled()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(TaskOutput::default())
    }
}

pub fn options() -> RunnerOptions {
    RunnerOptions::new().task("echo", echo).task("stepper", stepper).task("failing", failing).shutdown_timeout(Duration::from_secs(5))
}

pub fn runner() -> Runner {
    Runner::in_memory_with(options().workers(2)).expect("open in-memory runner")
}

/// A real table of scikit-learn's that `scripts/setup.sh` extracted (iris.csv, wine.csv, …).
pub fn table_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("MODELRUNNER_TABLES_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/modelrunner/sklearn-1.7.2")))
        .filter(|d| d.join("iris.csv").is_file())
        .expect("scikit-learn tables not found: run `eval \"$(scripts/setup.sh)\"` (scripts/test.sh does)");
    dir.join(name)
}

/// Which engine a test of the store's conformance runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The embedded engine, on a private temporary database.
    Sqlite,
    /// The shared engine, on a fresh database of the test server (`MODELRUNNER_TEST_POSTGRES`).
    Postgres,
}

/// A runner on a fresh store, and what to remove once it is dropped.
pub struct TestRunner {
    pub runner: Runner,
    /// Held for its `Drop`, which runs after the runner's (fields drop in order).
    _store: TestStore,
}

impl std::ops::Deref for TestRunner {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

/// A fresh store location: a SQLite file in a temporary directory, or a PostgreSQL database dropped at
/// the end.
pub struct TestStore {
    /// What `Runner::open` takes.
    pub location: String,
    /// A directory for the runner's files.
    pub dir: tempfile::TempDir,
    database: Option<String>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let (Some(db), Some(admin)) = (&self.database, postgres_admin_url()) {
            // Connections of runners still alive elsewhere are closed with it.
            match postgres::Client::connect(&admin, postgres::NoTls) {
                Ok(mut c) => {
                    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
                }
                Err(e) => eprintln!("cannot drop test database {db}: {e}"),
            }
        }
    }
}

/// The test server's superuser URL, if a server was started (scripts/postgres.sh prints it).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("MODELRUNNER_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// Whether a missing server fails the test (CI) rather than skipping it.
fn postgres_required() -> bool {
    std::env::var_os("MODELRUNNER_REQUIRE_POSTGRES").is_some_and(|v| v == "1")
}

/// `url` pointing at database `db` instead.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let at = base.rfind('/').filter(|i| *i > base.find("://").map_or(0, |s| s + 2)).unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..at]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh store for `engine`; `None` for PostgreSQL without a test server outside CI (the test is
/// skipped, and says so).
pub fn fresh_store(engine: Engine) -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    match engine {
        Engine::Sqlite => {
            let location = dir.path().join("modelrunner.db").display().to_string();
            Some(TestStore { location, dir, database: None })
        }
        Engine::Postgres => {
            let Some(admin) = postgres_admin_url() else {
                assert!(!postgres_required(), "MODELRUNNER_TEST_POSTGRES is not set: start a server with scripts/postgres.sh");
                eprintln!("skipped: no PostgreSQL test server (MODELRUNNER_TEST_POSTGRES is not set)");
                return None;
            };
            let db = format!("mr_test_{}", uuid_like());
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test server");
            c.batch_execute(&format!("CREATE DATABASE {db}")).expect("create a test database");
            Some(TestStore { location: with_database(&admin, &db), dir, database: Some(db) })
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}_{}_{}", t, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A runner with `options` on a fresh store of `engine` (SQLite: in memory, as `Runner::in_memory_with`;
/// PostgreSQL: a fresh database, files in a temporary directory). `None`: skipped (see [`fresh_store`]).
pub fn open(engine: Engine, options: RunnerOptions) -> Option<TestRunner> {
    let store = fresh_store(engine)?;
    let runner = match engine {
        Engine::Sqlite => Runner::in_memory_with(options),
        Engine::Postgres => Runner::open_with(&store.location, options.data_dir(store.dir.path().join("data"))),
    }
    .expect("open a runner");
    Some(TestRunner { runner, _store: store })
}

/// Generates one test per engine (`sqlite::NAME`, `postgres::NAME`) of each `fn NAME(engine: Engine)`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::Engine::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::common::Engine::Postgres) } )*
        }
    };
}
