//! Persistence behind one boundary: the [`Store`] the runner and the executor talk to, and the engines
//! behind it ([`engine::Engine`]): SQLite, embedded and owned by one process, or PostgreSQL, shared by
//! many. All SQL lives under this module.

mod docs;
mod effects;
mod engine;
mod entities;
mod files;
mod lifecycle;
mod pending;
mod postgres;
mod queue;
mod records;
mod sqlite;
mod tx;

use std::path::Path;
use std::sync::Arc;

pub(crate) use docs::{Doc, all_docs, delete_doc, get_doc, id_by_seq, insert_doc, list_docs, update_doc};
pub(crate) use effects::{Effects, Hook};
pub(crate) use files::{SharedFiles, files_under, mirrored};
pub(crate) use lifecycle::RunWrite;
pub(crate) use pending::Pending;
pub(crate) use postgres::{PgOptions, is_postgres};
pub(crate) use queue::{ClaimRequest, SharedQueue, Wake, WorkerRecord};
pub(crate) use records::{Attempt, EventRecord, FinishRecord};
pub(crate) use sqlite::with_suffix;
pub(crate) use tx::{Notice, Tx};

use crate::domain::run::Run;
use crate::error::{Error, Result};
use crate::events::EventBus;
use engine::Engine;

/// How hard a commit works to survive failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every acknowledged write is synced to disk before it is acknowledged; it survives `kill -9` and
    /// power loss. A submitted run is synced to the submission log (a file beside the database), other
    /// writes by an `fdatasync` of the WAL. The runner's own background writes (a run starting and
    /// ending, progress, metrics, logs) are synced within 10 ms; a power cut in that window loses them
    /// as `kill -9` would, and recovery at the next open requeues or fails the run.
    #[default]
    Full,
    /// An acknowledged write survives `kill -9` of the process (it is in the OS's page cache) but the
    /// last commits may be lost if the machine loses power. The database stays consistent either way.
    Normal,
}

/// The store: one engine, and typed access to it.
#[derive(Debug)]
pub(crate) struct Store {
    engine: Box<dyn Engine>,
}

impl Store {
    /// Opens the SQLite database at `path` (creating and migrating it), locked for this process, and
    /// runs `prepare` in one transaction before anything else may write (recovery).
    pub(crate) fn open_sqlite<T>(
        path: &Path,
        durability: Durability,
        bus: Arc<EventBus>,
        prepare: impl FnOnce(&dyn Tx, &mut Effects) -> Result<T>,
    ) -> Result<(Self, T)> {
        let (engine, prepared) = sqlite::SqliteEngine::open(path, durability, bus, prepare)?;
        Ok((Self { engine: Box::new(engine) }, prepared))
    }

    /// Opens the PostgreSQL database at `url` (migrating it), and runs `prepare` in one transaction.
    pub(crate) fn open_postgres<T>(
        url: &str,
        options: PgOptions,
        bus: Arc<EventBus>,
        prepare: impl FnOnce(&dyn Tx, &mut Effects) -> Result<T>,
    ) -> Result<(Self, T)> {
        let (engine, prepared) = postgres::PgEngine::open(url, options, bus, prepare)?;
        Ok((Self { engine: Box::new(engine) }, prepared))
    }

    /// Where the data is, for messages (never with a password).
    pub(crate) fn location(&self) -> &str {
        self.engine.location()
    }

    /// The queue worker processes share, for an engine many processes open; `None` for SQLite.
    pub(crate) fn shared_queue(&self) -> Option<&dyn SharedQueue> {
        self.engine.shared_queue()
    }

    /// Where files every machine must read are kept; `None` for SQLite (one machine).
    pub(crate) fn shared_files(&self) -> Option<&dyn SharedFiles> {
        self.engine.shared_files()
    }

    /// Runs `f` as one acknowledged write (in its own savepoint, group-committed) and returns its value
    /// once durable.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx, &mut Effects) -> Result<T> + Send + 'static,
    {
        self.write_pending(f).wait()
    }

    /// [`Store::write`] without waiting: the caller may queue the write under a lock of its own and wait
    /// outside it.
    pub(crate) fn write_pending<T, F>(&self, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx, &mut Effects) -> Result<T> + Send + 'static,
    {
        let (job, refuse, pending) = pending::answering(f);
        self.engine.write(job, refuse);
        pending
    }

    /// A worker's write about the run it executes, which nobody waits for; `then` runs once it commits.
    pub(crate) fn record(&self, write: RunWrite, then: Option<Hook>) {
        self.engine.record(write, then);
    }

    /// The `seq` of the next submitted run where the engine numbers runs itself, else 0 (the insert
    /// numbers it).
    pub(crate) fn reserve_run_seq(&self) -> i64 {
        self.engine.reserve_run_seq().unwrap_or(0)
    }

    /// Stores a submitted run and its `queued` event, durably; returns its `seq`. `then` runs once the
    /// insert commits; `enqueue` is handed the function that queues the insert, to call under a lock of
    /// the caller's own.
    pub(crate) fn insert_run(&self, run: &Run, then: Option<Hook>, enqueue: &mut dyn FnMut(&mut dyn FnMut())) -> Result<i64> {
        self.engine.insert_run(run, EventRecord::queued(run)?, then, enqueue)
    }

    /// Runs `f` on committed data (each statement sees the data as committed when it runs). An engine
    /// may run `f` again after a lost connection.
    pub(crate) fn read<T>(&self, f: impl Fn(&dyn Tx) -> Result<T>) -> Result<T> {
        self.read_with(false, f)
    }

    /// Runs `f` in a read transaction, so that several statements see one snapshot.
    pub(crate) fn read_tx<T>(&self, f: impl Fn(&dyn Tx) -> Result<T>) -> Result<T> {
        self.read_with(true, f)
    }

    fn read_with<T>(&self, consistent: bool, f: impl Fn(&dyn Tx) -> Result<T>) -> Result<T> {
        let mut out = None;
        self.engine.read(consistent, &mut |tx| {
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("a read did not run".into()))
    }

    /// Commits what is queued and stops the engine; later writes fail with `ShuttingDown`.
    pub(crate) fn stop(&self) {
        self.engine.stop();
    }
}

/// The run `id`; `NotFound` when there is none.
pub(crate) fn get_run(tx: &dyn Tx, id: &str) -> Result<Run> {
    tx.run_get(id)?.ok_or_else(|| Error::not_found("run", id))
}
