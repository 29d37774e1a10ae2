//! Versioned schema migrations of the PostgreSQL engine, applied in order at open and recorded in
//! `modelrunner_migrations`: a database an older version created is upgraded in place. Processes
//! opening the database at once take turns (an advisory lock), so each migration runs exactly once.

use super::conn::PgConn;
use crate::error::{Error, Result};

/// The advisory lock the migrations hold while they run.
const MIGRATION_LOCK: i64 = 0x6d72_5f6d_6967; // "mr_mig"

/// Each migration's SQL; a migration's number is its place in this list, from 1.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the registry, runs and their events (the embedded engine's schema).
    r#"
CREATE TABLE runs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    task TEXT,
    name TEXT,
    description TEXT,
    model_id TEXT,
    recipe_id TEXT,
    recipe_version_id TEXT,
    dataset_id TEXT,
    project_id TEXT,
    inputs TEXT NOT NULL,
    hyperparams TEXT NOT NULL,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress SMALLINT NOT NULL,
    message TEXT,
    current_epoch BIGINT,
    current_loss DOUBLE PRECISION,
    metrics JSONB NOT NULL,
    artifacts JSONB NOT NULL,
    results TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    submitted_by TEXT,
    device TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX runs_status ON runs (status, seq);
CREATE INDEX runs_model ON runs (model_id, seq) WHERE model_id IS NOT NULL;
CREATE INDEX runs_recipe ON runs (recipe_id, seq) WHERE recipe_id IS NOT NULL;
CREATE INDEX runs_dataset ON runs (dataset_id) WHERE dataset_id IS NOT NULL;
CREATE INDEX runs_project ON runs (project_id) WHERE project_id IS NOT NULL;

-- Event ids follow commit order: every transaction that appends events takes one advisory lock first
-- and holds it to its commit (see `postgres::tx`).
CREATE TABLE run_events (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events (run_id, id);

CREATE TABLE models (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    model_family TEXT,
    status TEXT NOT NULL,
    recipe_id TEXT,
    owner TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE model_transitions (
    seq BIGSERIAL PRIMARY KEY,
    model_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX model_transitions_model ON model_transitions (model_id, seq);
CREATE TABLE recipes (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    model_family TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_id TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE recipe_versions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    recipe_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX recipe_versions_recipe ON recipe_versions (recipe_id, seq);
CREATE TABLE monitoring_snapshots (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    model_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX monitoring_snapshots_model ON monitoring_snapshots (model_id, seq);
CREATE TABLE synthetic_examples (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    recipe_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX synthetic_examples_recipe ON synthetic_examples (recipe_id, seq);
CREATE TABLE datasets (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE projects (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
"#,
    // 2: many workers on one queue: who holds a run, until when, whether it was asked to stop, and the
    // worker processes themselves.
    r#"
ALTER TABLE runs ADD COLUMN worker TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
-- What a claim scans: queued runs of tasks, highest priority first, oldest first.
CREATE INDEX runs_queued ON runs (priority DESC, seq) WHERE status = 'queued' AND task IS NOT NULL;
CREATE INDEX runs_leased ON runs (lease_expires_at) WHERE status = 'running' AND task IS NOT NULL;
CREATE INDEX runs_held ON runs (worker) WHERE status = 'running';
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT,
    slots INTEGER NOT NULL,
    -- How long a heartbeat vouches for the worker: its runs are rescued only once both their lease
    -- and this have run out, so a worker that is alive but slow to renew a busy row keeps its runs.
    lease_ms INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"#,
    // 3: files every machine reads (datasets, weights, checkpoints, indexes), in chunks.
    r#"
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE file_chunks (
    path TEXT NOT NULL,
    n INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (path, n)
);
"#,
    // 4: each process's durability mark. A batch with an acknowledged write commits asynchronously, so
    // that the lock ordering events is not held while the WAL is flushed, and is acknowledged once a
    // synchronous commit of this row, later in the WAL, is flushed (which flushes the batch with it).
    r#"
CREATE TABLE durability_marks (
    client TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
"#,
];

/// Applies the migrations `conn`'s database lacks, up to `to` (all of them in normal use); returns the
/// version it is at. A database of a newer version than this build knows is refused.
pub(crate) fn migrate(conn: &mut PgConn, to: usize, shown: &str) -> Result<usize> {
    conn.batch("BEGIN")?;
    let migrated = (|| {
        conn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        conn.batch(
            "CREATE TABLE IF NOT EXISTS modelrunner_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        let current: i32 = conn.query_one("SELECT COALESCE(MAX(version), 0) FROM modelrunner_migrations", &[])?.get(0);
        let current = current as usize;
        if current > MIGRATIONS.len() {
            return Err(Error::Storage(format!(
                "the database at {shown} is at schema version {current}, newer than this build knows ({}): upgrade modelrunner",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().take(to).skip(current) {
            conn.batch(sql).map_err(|e| Error::Storage(format!("migration {} of {shown} failed: {e}", i + 1)))?;
            conn.execute("INSERT INTO modelrunner_migrations (version) VALUES ($1)", &[&(i as i32 + 1)])?;
        }
        Ok(current.max(to))
    })();
    match migrated {
        Ok(v) => {
            conn.batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::conn::Location;
    use crate::{RunFilter, RunStatus, Runner, RunnerOptions};

    /// A database left by a build that knew only the first migration keeps its runs when this build
    /// opens it, and gets every later table and column.
    #[test]
    fn a_database_of_an_older_version_is_upgraded_at_open_and_keeps_its_runs() {
        let Some(admin) = std::env::var("MODELRUNNER_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
            assert!(
                std::env::var_os("MODELRUNNER_REQUIRE_POSTGRES").is_none_or(|v| v != "1"),
                "MODELRUNNER_TEST_POSTGRES is not set: start a server with scripts/postgres.sh"
            );
            eprintln!("skipped: no PostgreSQL test server (MODELRUNNER_TEST_POSTGRES is not set)");
            return;
        };
        let db = format!("mr_upgrade_{}", std::process::id());
        let mut admin_conn = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test server");
        admin_conn.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap();
        admin_conn.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let url = format!("{}/{db}", admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b));

        let location = Location::parse(&url).unwrap();
        let mut conn = PgConn::connect(&location).unwrap();
        assert_eq!(migrate(&mut conn, 1, location.shown()).unwrap(), 1);
        conn.batch(
            "INSERT INTO runs (id, kind, task, inputs, hyperparams, queue, priority, status, progress, metrics, artifacts, \
             attempts, created_at, updated_at, finished_at) VALUES ('run_old', 'inference', 'noop', '{}', '{}', 'default', 0, \
             'succeeded', 100, '{\"score\": 0.5}', '{}', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z')",
        )
        .unwrap();
        drop(conn);

        let data = tempfile::tempdir().unwrap();
        let runner = Runner::open_with(&url, RunnerOptions::new().workers(0).data_dir(data.path())).expect("open the older database");
        let run = runner.get_run("run_old").expect("the old run is still there");
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.metrics["score"], 0.5);
        assert_eq!(runner.list_runs(&RunFilter::default()).unwrap().total, 1);
        runner.shutdown(std::time::Duration::from_secs(5));

        let mut conn = PgConn::connect(&location).unwrap();
        let version: i32 = conn.query_one("SELECT MAX(version) FROM modelrunner_migrations", &[]).unwrap().get(0);
        assert_eq!(version as usize, MIGRATIONS.len());
        for table in ["workers", "files", "file_chunks", "durability_marks"] {
            let found: bool = conn.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).unwrap().get(0);
            assert!(found, "table {table} was not created by the upgrade");
        }
        drop(conn);
        let _ = admin_conn.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    }
}
