//! The single writer thread. Callers hand it jobs; it runs as many as are waiting inside one
//! transaction (each acknowledged job in its own savepoint) and commits once (group commit). Nobody but
//! this thread writes, so callers never see `SQLITE_BUSY`.
//!
//! With durability `Full`, a batch holding a job that must be synced ([`Writer::enqueue`]) completes —
//! its after-commit hooks run, its events are published, its callers are answered — only once the WAL
//! is synced (see [`super::completion`]). Other batches complete at commit, and the syncer syncs them
//! within [`SYNC_BEHIND`](super::completion::SYNC_BEHIND): background writes (a run starting or ending, progress, metrics, logs) and
//! inserts whose durability comes from the submission log ([`Ack::Logged`]), which nobody waits for.
//!
//! Background writes nobody waits for join the open transaction and are committed with the next
//! acknowledged write, or after [`LINGER`] at the latest.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use super::completion::Completion;
use super::tx::SqliteTx;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::effects::Effects;
use crate::store::pending::{Job, Refuse};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 4096;
/// Longest a background write (progress, metrics, start and end of runs) waits for a commit.
const LINGER: Duration = Duration::from_millis(2);

/// A job on the writer's connection.
type ConnJob = Box<dyn FnOnce(&Connection, &mut Effects) + Send>;

enum Op {
    /// `refuse` answers the waiting caller, if any, when the job will not run.
    Job {
        job: ConnJob,
        refuse: Option<Refuse>,
        /// A caller waits: commit as soon as the channel is drained.
        waited: bool,
        /// With durability `Full`, the WAL is synced before the batch completes.
        synced: bool,
        /// The number of a logged insert ([`Ack::Logged`]).
        logged: Option<u64>,
    },
    Stop,
}

/// How a job's caller learns of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// The caller waits until the job is committed and (with durability `Full`) the WAL synced.
    Synced,
    /// The `n`th insert of a run logged in the submission log, which made it durable: its caller does
    /// not wait. The batch commits as soon as the channel is drained and completes without a sync of
    /// its own (the WAL is synced with the next synced batch, or within
    /// [`SYNC_BEHIND`](super::completion::SYNC_BEHIND)); right after its commit, [`Visibility`]
    /// reaches `n`, so that reads can wait for it.
    Logged(u64),
}

/// How far the writer has committed the logged inserts, in the order they were numbered and queued.
/// Reads wait on it so that a run whose submit returned is always found.
#[derive(Debug, Default)]
pub(crate) struct Visibility {
    committed: AtomicU64,
    lock: Mutex<()>,
    advanced: Condvar,
}

impl Visibility {
    fn advance(&self, n: u64) {
        let _guard = self.lock.lock();
        if self.committed.fetch_max(n, Ordering::AcqRel) < n {
            self.advanced.notify_all();
        }
    }

    /// Waits until logged insert `n` is committed (or failed), for at most `timeout`; after that the
    /// caller goes on (and a warning is logged) rather than hang on a stuck writer.
    pub(crate) fn wait_for(&self, n: u64, timeout: Duration) {
        if self.committed.load(Ordering::Acquire) >= n {
            return;
        }
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock();
        while self.committed.load(Ordering::Acquire) < n {
            if self.advanced.wait_until(&mut guard, deadline).timed_out() {
                tracing::warn!("the writer did not commit logged insert {n} within {timeout:?}; going on without it");
                return;
            }
        }
    }
}

/// Handle to the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: Sender<Op>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub(crate) visibility: Arc<Visibility>,
}

impl Writer {
    /// Starts the writer on `conn`. With `sync_wal` (durability `Full`), every commit is followed by an
    /// `fdatasync` of that WAL file on the syncer thread before its effects happen.
    pub(crate) fn start(conn: Connection, bus: Arc<EventBus>, sync_wal: Option<PathBuf>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let completion = match sync_wal {
            Some(wal) => Completion::start_syncer(wal, bus)?,
            None => Completion::Inline(bus),
        };
        let visibility = Arc::new(Visibility::default());
        let seen = visibility.clone();
        let thread = std::thread::Builder::new()
            .name("modelrunner-writer".into())
            .spawn(move || writer_loop(conn, rx, completion, &seen))
            .map_err(|e| Error::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(Self { tx, thread: Mutex::new(Some(thread)), visibility })
    }

    /// Queues an acknowledged job, run in a savepoint of its own; with `ack` [`Ack::Synced`] its effects
    /// complete once committed and, with durability `Full`, synced.
    pub(crate) fn enqueue(&self, ack: Ack, job: Job, refuse: Refuse) {
        let (synced, logged) = match ack {
            Ack::Synced => (true, None),
            Ack::Logged(n) => (false, Some(n)),
        };
        let job: ConnJob = Box::new(move |conn, effects| {
            let mut local = Effects::default();
            match in_savepoint(conn, |c| job(&SqliteTx::new(c), &mut local)) {
                Ok(()) => effects.absorb(local),
                // The job answered its caller with the error.
                Err(e) => {
                    if logged.is_some() {
                        tracing::error!("a submitted run was not stored ({e}); the next open restores it from the submission log");
                    }
                }
            }
        });
        let visibility = self.visibility.clone();
        let refuse: Refuse = Box::new(move |e| {
            if let Some(n) = logged {
                visibility.advance(n);
            }
            refuse(e);
        });
        if let Err(crossbeam_channel::SendError(Op::Job { refuse: Some(refuse), .. })) =
            self.tx.send(Op::Job { job, refuse: Some(refuse), waited: true, synced, logged })
        {
            refuse(Error::ShuttingDown);
        }
    }

    /// Queues a job nobody waits for (a run starting or ending; progress, metrics and logs from tasks).
    ///
    /// These jobs are the runner's own single-row updates and appends, which fail only when storage
    /// fails (and then the commit fails too), so they run without a savepoint of their own. Failures
    /// are logged.
    pub(crate) fn enqueue_detached<F>(&self, f: F)
    where
        F: FnOnce(&SqliteTx<'_>, &mut Effects) -> Result<()> + Send + 'static,
    {
        let job: ConnJob = Box::new(move |conn, effects| {
            let mut local = Effects::default();
            match f(&SqliteTx::new(conn), &mut local) {
                Ok(()) => effects.absorb(local),
                Err(e) => tracing::warn!("background write failed: {e}"),
            }
        });
        let _ = self.tx.send(Op::Job { job, refuse: None, waited: false, synced: false, logged: None });
    }

    /// Commits everything queued so far, then stops the thread. Later writes fail with `ShuttingDown`.
    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Op::Stop);
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("SAVEPOINT op")?.execute([])?;
    match f(conn) {
        Ok(v) => {
            conn.prepare_cached("RELEASE op")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            conn.prepare_cached("ROLLBACK TO op")?.execute([])?;
            conn.prepare_cached("RELEASE op")?.execute([])?;
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, rx: Receiver<Op>, mut done: Completion, visibility: &Visibility) {
    let mut batch = Batch { visibility, opened: None, jobs: 0, waited: false, synced: false, logged: None, effects: Effects::default() };
    loop {
        // Uncommitted background writes wait at most LINGER for an acknowledged write to share a commit.
        let op = match batch.opened {
            None => rx.recv().map_err(|_| ()),
            Some(opened) => match rx.recv_deadline(opened + LINGER) {
                Ok(op) => Ok(op),
                Err(RecvTimeoutError::Timeout) => {
                    batch.commit(&conn, &mut done, !rx.is_empty());
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => Err(()),
            },
        };
        let Ok(op) = op else { break };
        let mut stopping = batch.run(&conn, op);
        while !stopping && batch.jobs < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => stopping = batch.run(&conn, op),
                Err(_) => break,
            }
        }
        if stopping || batch.waited || batch.jobs >= MAX_BATCH {
            batch.commit(&conn, &mut done, !rx.is_empty());
        }
        if stopping {
            break;
        }
    }
    batch.commit(&conn, &mut done, !rx.is_empty());
    // Writes queued behind the stop are refused; later sends fail at once (the channel closes here).
    for op in rx.try_iter() {
        if let Op::Job { refuse: Some(refuse), .. } = op {
            refuse(Error::ShuttingDown);
        }
    }
}

/// The open transaction and what it owes once committed.
struct Batch<'a> {
    visibility: &'a Visibility,
    opened: Option<Instant>,
    jobs: usize,
    /// Someone waits for a write of this batch: commit as soon as the channel is drained.
    waited: bool,
    /// A job of this batch must be synced before the batch completes.
    synced: bool,
    /// The last logged insert of this batch.
    logged: Option<u64>,
    effects: Effects,
}

impl Batch<'_> {
    /// Runs one op inside the open transaction (opening it if needed); true for `Stop`.
    fn run(&mut self, conn: &Connection, op: Op) -> bool {
        let (job, refuse, waited, synced, logged) = match op {
            Op::Job { job, refuse, waited, synced, logged } => (job, refuse, waited, synced, logged),
            Op::Stop => return true,
        };
        if self.opened.is_none() {
            if let Err(e) = conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])) {
                // Never run a job outside a transaction.
                tracing::error!("cannot begin a transaction, a write is refused: {e}");
                if let Some(refuse) = refuse {
                    refuse(Error::Storage(format!("cannot begin a transaction: {e}")));
                }
                return false;
            }
            self.opened = Some(Instant::now());
        }
        job(conn, &mut self.effects);
        self.jobs += 1;
        self.waited |= waited;
        self.synced |= synced;
        self.logged = self.logged.max(logged);
        false
    }

    fn commit(&mut self, conn: &Connection, done: &mut Completion, more_queued: bool) {
        if self.opened.take().is_none() {
            return;
        }
        let effects = std::mem::take(&mut self.effects);
        let n = std::mem::take(&mut self.jobs);
        self.waited = false;
        let synced = std::mem::take(&mut self.synced);
        let r = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
        if r.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        // Readers waiting for these inserts may go on: they are visible now (or lost to a failed
        // commit, and restored from the submission log at the next open).
        if let Some(n) = self.logged.take() {
            self.visibility.advance(n);
        }
        match r {
            Ok(_) => done.committed(effects, more_queued, synced),
            Err(e) => {
                tracing::error!("commit failed, {n} writes lost: {e}");
                effects.fail(&format!("commit failed: {e}"));
            }
        }
    }
}
