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
