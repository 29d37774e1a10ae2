//! The shared engine: one PostgreSQL database that many processes on many machines open at once — the
//! engine River, Oban, graphile-worker and Solid Queue build on. Each process has a writer thread with
//! group commit (`writer`), a pool of connections for reads and claims (`conn`), a connection that
//! `LISTEN`s for the other processes' notices and a follower that publishes every process's events to
//! this one's subscribers (`follow`), and the shared queue: claims, leases, rescue (`queue`).

mod conn;
mod docs;
mod files;
mod follow;
mod queue;
mod runs;
mod schema;
mod tx;
mod writer;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

pub(crate) use conn::is_postgres;
use conn::{Location, PgConn, Pool};
pub(crate) use follow::Signals;
use tx::PgTx;
use writer::{Insertion, Op, Writer};

use super::effects::{Effects, Hook};
use super::engine::Engine;
use super::files::SharedFiles;
use super::lifecycle::RunWrite;
use super::pending::{Job, Refuse, pending_pair};
use super::queue::{ClaimRequest, Held, Recover, SharedQueue, Wake, WorkerRecord};
use super::records::{Attempt, EventRecord, RunRecord};
use super::tx::Tx;
use crate::domain::run::Run;
use crate::error::{Error, Result};
use crate::events::EventBus;

/// How the shared engine is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgOptions {
    /// How long a claim holds a run without a renewal.
    pub(crate) lease: Duration,
    /// The schema version to migrate to (all migrations in normal use; fewer in the tests of upgrades).
    pub(crate) schema_version: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { lease: Duration::from_secs(5), schema_version: schema::MIGRATIONS.len() }
    }
}

pub(crate) struct PgEngine {
    location: Arc<Location>,
    pool: Arc<Pool>,
    writer: Writer,
    signals: Arc<Signals>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lease: Duration,
}

impl std::fmt::Debug for PgEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEngine").field("location", &self.location).finish_non_exhaustive()
    }
}

impl PgEngine {
    /// Connects to the database at `url` (an unreachable server, a wrong password or a missing database
    /// is an error naming the location, never its password), migrates it, runs `prepare` in one
    /// transaction, and starts the engine's threads.
    pub(crate) fn open<T>(
        url: &str,
        options: PgOptions,
        bus: Arc<EventBus>,
        prepare: impl FnOnce(&dyn Tx, &mut Effects) -> Result<T>,
    ) -> Result<(Self, T)> {
        let location = Arc::new(Location::parse(url)?);
        let mut conn = PgConn::connect(&location)?;
        schema::migrate(&mut conn, options.schema_version, location.shown())?;
        conn.batch("BEGIN")?;
        let tx = PgTx::new(&mut conn);
        let prepared = match prepare(&tx, &mut Effects::default()) {
            Ok(p) => {
                tx.commit()?;
                p
            }
            Err(e) => {
                let _ = tx.into_conn().batch("ROLLBACK");
                return Err(e);
            }
        };
        let cursor = runs::last_event_id(&mut conn)?;
        let pool = Arc::new(Pool::new(location.clone()));
        let signals = Arc::new(Signals::default());
        let writer = Writer::start(conn, location.clone(), bus.clone(), signals.clone())?;
        let mut threads = Vec::new();
        let (l, s, b) = (location.clone(), signals.clone(), bus.clone());
        threads.push(follow::spawn("modelrunner-pg-listen", move || follow::listen(&l, &s, &b))?);
        let (p, s) = (pool.clone(), signals.clone());
        threads.push(follow::spawn("modelrunner-pg-follow", move || follow::follow(&p, &bus, &s, cursor))?);
        let engine = Self { location, pool, writer, signals, threads: Mutex::new(threads), lease: options.lease };
        Ok((engine, prepared))
    }
}

impl Engine for PgEngine {
    fn location(&self) -> &str {
        self.location.shown()
    }

    fn write(&self, job: Job, refuse: Refuse) {
        self.writer.send(Op::Job(job, refuse));
    }

    fn record(&self, write: RunWrite, then: Option<Hook>) {
        self.writer.send(Op::Record(Box::new(write), then));
    }

    /// The database numbers runs as they are inserted.
    fn reserve_run_seq(&self) -> Option<i64> {
        None
    }

    fn insert_run(&self, run: &Run, event: EventRecord, then: Option<Hook>, enqueue: &mut dyn FnMut(&mut dyn FnMut())) -> Result<i64> {
        let record = RunRecord::new(run)?;
        let (answer, pending) = pending_pair();
        let mut insertion = Some(Box::new(Insertion { record, event, then, answer }));
        enqueue(&mut || {
            if let Some(insertion) = insertion.take() {
                self.writer.send(Op::Insert(insertion));
            }
        });
        if insertion.is_some() {
            return Err(Error::Internal("the insert of a run was never queued".into()));
        }
        pending.wait()
    }

    fn read(&self, consistent: bool, f: &mut dyn FnMut(&dyn Tx) -> Result<()>) -> Result<()> {
        self.pool.with(|conn| {
            if consistent {
                conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            }
            let out = f(&PgTx::new(conn));
            if consistent {
                if out.is_ok() {
                    conn.batch("COMMIT")?;
                } else if !conn.broken {
                    conn.batch("ROLLBACK")?;
                }
            }
            out
        })
    }

    fn shared_queue(&self) -> Option<&dyn SharedQueue> {
        Some(self)
    }

    fn shared_files(&self) -> Option<&dyn SharedFiles> {
        Some(self)
    }

    fn stop(&self) {
        self.writer.stop();
        self.signals.stop();
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
    }
}

impl SharedQueue for PgEngine {
    fn lease(&self) -> Duration {
        self.lease
    }
    fn register_worker(&self, worker: &WorkerRecord) -> Result<()> {
        self.register(worker)
    }
    fn unregister_worker(&self, id: &str) {
        self.unregister(id);
    }
    fn claim(&self, worker: &Arc<str>, request: &ClaimRequest) -> Result<Vec<Run>> {
        self.claim_runs(worker, request)
    }
    fn renew(&self, worker: &str) -> Result<Vec<Held>> {
        self.renew_leases(worker)
    }
    fn rescue(&self, recover: Recover<'_>) -> Result<usize> {
        self.rescue_expired(recover)
    }
    fn release(&self, attempt: &Attempt, message: &str) -> Result<()> {
        self.release_claim(attempt, message)
    }
    fn count_queued(&self) -> Result<u64> {
        self.queued()
    }
    fn wait(&self, what: Wake, timeout: Duration) -> bool {
        self.signal(what).wait(timeout)
    }
    fn wake(&self, what: Wake) {
        self.signal(what).raise();
    }
}

impl PgEngine {
    fn signal(&self, what: Wake) -> &follow::Signal {
        match what {
            Wake::Queued => &self.signals.queued,
            Wake::Cancel => &self.signals.cancel,
            Wake::Config => &self.signals.config,
        }
    }
}
