//! Versioned schema migrations of the SQLite engine (applied in order at open, tracked in SQLite's
//! `user_version`): a database an older version created is upgraded in place.

use rusqlite_migration::{M, Migrations};

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
-- runs and run_events never delete rows, so a plain INTEGER PRIMARY KEY (max + 1) is as monotonic as
-- AUTOINCREMENT without its sqlite_sequence update on every insert. Document tables keep AUTOINCREMENT:
-- a deleted dataset's or project's number must never be handed out again.
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
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
    progress INTEGER NOT NULL,
    message TEXT,
    current_epoch INTEGER,
    current_loss REAL,
    metrics TEXT NOT NULL,
    artifacts TEXT NOT NULL,
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
CREATE INDEX runs_status ON runs(status, seq);
CREATE INDEX runs_model ON runs(model_id, seq) WHERE model_id IS NOT NULL;
CREATE INDEX runs_recipe ON runs(recipe_id, seq) WHERE recipe_id IS NOT NULL;
CREATE INDEX runs_dataset ON runs(dataset_id) WHERE dataset_id IS NOT NULL;
CREATE INDEX runs_project ON runs(project_id) WHERE project_id IS NOT NULL;

CREATE TABLE run_events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events(run_id, id);

CREATE TABLE models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model_family TEXT,
    status TEXT NOT NULL,
    recipe_id TEXT,
    owner TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE model_transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX model_transitions_model ON model_transitions(model_id, seq);

CREATE TABLE recipes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model_family TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_id TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE recipe_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipe_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX recipe_versions_recipe ON recipe_versions(recipe_id, seq);

CREATE TABLE monitoring_snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX monitoring_snapshots_model ON monitoring_snapshots(model_id, seq);

CREATE TABLE synthetic_examples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipe_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX synthetic_examples_recipe ON synthetic_examples(recipe_id, seq);

CREATE TABLE datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE projects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
"#,
        ),
        // 2: which worker process executes a run, and whether it was asked to stop.
        M::up(
            "ALTER TABLE runs ADD COLUMN worker TEXT;
             ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;",
        ),
    ])
}
