//! The single writer thread. Callers hand it jobs; it runs as many as are waiting inside one
//! transaction (each acknowledged job in its own savepoint) and commits once (group commit). Only
//! once that commit is durable (see [`Completion`]) are the batch's after-commit hooks run, its events
//! published and its callers answered. Nobody but this thread writes, so callers never see
//! `SQLITE_BUSY`.
//!
//! Background writes nobody waits for (a task's progress, metrics, logs; a run starting or ending) join
//! the open transaction and are committed with the next acknowledged write, or after [`LINGER`] at
//! the latest. Their events are published only after that commit, like every other event.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::events::{Event, EventBus};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 4096;
/// Longest a background write (progress, metrics, start and end of runs) waits for a commit.
const LINGER: Duration = Duration::from_millis(2);

type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
type Hook = Box<dyn FnOnce() + Send>;
type Job = Box<dyn FnOnce(&Connection, &mut Effects) + Send>;

/// What a job asks to happen once its transaction is durable.
#[derive(Default)]
pub(crate) struct Effects {
    events: Vec<Event>,
    hooks: Vec<Hook>,
    replies: Vec<Reply>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects").field("events", &self.events.len()).field("hooks", &self.hooks.len()).finish()
    }
}

impl Effects {
    /// Publishes `event` after commit.
    pub(crate) fn publish(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Runs `hook` after commit (before events are published and callers answered).
    pub(crate) fn after_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.hooks.push(Box::new(hook));
    }

    fn absorb(&mut self, other: Effects) {
        self.events.extend(other.events);
        self.hooks.extend(other.hooks);
        self.replies.extend(other.replies);
    }
}

enum Op {
    /// `refuse` answers the waiting caller, if any, when the job will not run.
    Job {
        job: Job,
        refuse: Option<Refuse>,
        durable: bool,
    },
    Stop,
}

type Refuse = Box<dyn FnOnce(Error) + Send>;

/// A write handed to the writer; `wait` returns once it is durable (or failed).
///
/// A mutex and condvar rather than a channel: waiting parks the thread at once, where a channel's
/// `recv` spins and yields first, which costs the writer its CPU when many callers wait on few cores.
#[derive(Debug)]
#[must_use = "a pending write must be waited on to learn whether it was stored"]
pub(crate) struct Pending<T> {
    slot: Arc<Slot<T>>,
}

#[derive(Debug)]
struct Slot<T> {
    value: Mutex<Option<Result<T>>>,
    ready: Condvar,
}

/// The writer's end of a [`Pending`].
struct Answer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Answer<T> {
    fn send(mut self, value: Result<T>) {
        if let Some(slot) = self.slot.take() {
            slot.answer_once(value);
        }
    }
}

impl<T> Drop for Answer<T> {
    /// Last resort: a job dropped without being run or refused (it panicked) still answers its caller.
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.answer_once(Err(Error::Internal("the write was lost before it was committed".into())));
        }
    }
}

impl<T> Slot<T> {
    /// Sets the answer unless one is already set, and wakes the waiter.
    fn answer_once(&self, value: Result<T>) {
        let mut slot = self.value.lock();
        if slot.is_none() {
            *slot = Some(value);
        }
        drop(slot);
        self.ready.notify_one();
    }
}

fn pending_pair<T>() -> (Answer<T>, Pending<T>) {
    let slot = Arc::new(Slot { value: Mutex::new(None), ready: Condvar::new() });
    (Answer { slot: Some(slot.clone()) }, Pending { slot })
}

impl<T> Pending<T> {
    pub(crate) fn wait(self) -> Result<T> {
        let mut value = self.slot.value.lock();
        loop {
            if let Some(v) = value.take() {
                return v;
            }
            self.slot.ready.wait(&mut value);
        }
    }
}

/// Handle to the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: Sender<Op>,
    thread: Mutex<Option<JoinHandle<()>>>,
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
        let thread = std::thread::Builder::new()
            .name("modelrunner-writer".into())
            .spawn(move || writer_loop(conn, rx, completion))
            .map_err(|e| Error::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(Self { tx, thread: Mutex::new(Some(thread)) })
    }

    /// Queues a job; the returned [`Pending`] yields its value once committed.
    pub(crate) fn enqueue<T, F>(&self, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Effects) -> Result<T> + Send + 'static,
    {
        let (answer, pending) = pending_pair();
        let job: Job = Box::new(move |conn, effects| {
            let mut local = Effects::default();
            match in_savepoint(conn, |c| f(c, &mut local)) {
                Ok(value) => {
                    effects.absorb(local);
                    effects.replies.push(Box::new(move |failure| {
                        answer.send(match failure {
                            None => Ok(value),
                            Some(msg) => Err(Error::Storage(msg.to_owned())),
                        });
                    }));
                }
                Err(e) => answer.send(Err(e)),
            }
        });
        let slot = pending.slot.clone();
        let refuse: Refuse = Box::new(move |e| slot.answer_once(Err(e)));
        if let Err(crossbeam_channel::SendError(Op::Job { refuse: Some(refuse), .. })) =
            self.tx.send(Op::Job { job, refuse: Some(refuse), durable: true })
        {
            refuse(Error::ShuttingDown);
        }
        pending
    }

    /// Queues a job nobody waits for (a run starting or ending; progress, metrics and logs from tasks).
    ///
    /// These jobs are the runner's own single-row updates and appends, which fail only when storage
    /// fails (and then the commit fails too), so they run without a savepoint of their own. Failures
    /// are logged.
    pub(crate) fn enqueue_detached<F>(&self, f: F)
    where
        F: FnOnce(&Connection, &mut Effects) -> Result<()> + Send + 'static,
    {
        let job: Job = Box::new(move |conn, effects| {
            let mut local = Effects::default();
            match f(conn, &mut local) {
                Ok(()) => effects.absorb(local),
                Err(e) => tracing::warn!("background write failed: {e}"),
            }
        });
        let _ = self.tx.send(Op::Job { job, refuse: None, durable: false });
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

fn writer_loop(conn: Connection, rx: Receiver<Op>, mut done: Completion) {
    let mut batch = Batch::default();
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
        if stopping || batch.durable || batch.jobs >= MAX_BATCH {
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
#[derive(Default)]
struct Batch {
    opened: Option<Instant>,
    jobs: usize,
    /// Someone waits for a write of this batch: commit as soon as the channel is drained.
    durable: bool,
    effects: Effects,
}

impl Batch {
    /// Runs one op inside the open transaction (opening it if needed); true for `Stop`.
    fn run(&mut self, conn: &Connection, op: Op) -> bool {
        let (job, refuse, durable) = match op {
            Op::Job { job, refuse, durable } => (job, refuse, durable),
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
        self.durable |= durable;
        false
    }

    fn commit(&mut self, conn: &Connection, done: &mut Completion, more_queued: bool) {
        if self.opened.take().is_none() {
            return;
        }
        let effects = std::mem::take(&mut self.effects);
        let n = std::mem::take(&mut self.jobs);
        self.durable = false;
        match conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
            Ok(_) => done.committed(effects, more_queued),
            Err(e) => {
                tracing::error!("commit failed, {n} writes lost: {e}");
                let _ = conn.execute_batch("ROLLBACK");
                let msg = format!("commit failed: {e}");
                for reply in effects.replies {
                    reply(Some(&msg));
                }
            }
        }
    }
}

/// What happens to a committed batch: its effects at once (`Normal`), or once the WAL is synced
/// (`Full`). When more work is already queued, the sync goes to the syncer thread so that it overlaps
/// with the writer's next batch; otherwise the writer syncs inline and saves a thread handoff.
enum Completion {
    Inline(Arc<EventBus>),
    Synced(Syncer),
}

struct Syncer {
    wal: PathBuf,
    file: Option<std::fs::File>,
    bus: Arc<EventBus>,
    tx: Option<Sender<Effects>>,
    /// Batches handed to the syncer thread and not yet completed.
    inflight: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Completion {
    fn start_syncer(wal: PathBuf, bus: Arc<EventBus>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<Effects>();
        let inflight = Arc::new(AtomicUsize::new(0));
        let (wal2, bus2, inflight2) = (wal.clone(), bus.clone(), inflight.clone());
        let thread = std::thread::Builder::new()
            .name("modelrunner-syncer".into())
            .spawn(move || syncer_loop(&wal2, &rx, &bus2, &inflight2))
            .map_err(|e| Error::Internal(format!("cannot start syncer thread: {e}")))?;
        Ok(Self::Synced(Syncer { wal, file: None, bus, tx: Some(tx), inflight, thread: Some(thread) }))
    }

    /// `more_queued`: the writer already has its next jobs waiting.
    fn committed(&mut self, effects: Effects, more_queued: bool) {
        match self {
            Self::Inline(bus) => complete(effects, bus, None),
            Self::Synced(s) => {
                // Inline only when the syncer is idle, so batches still complete in commit order.
                if !more_queued && s.inflight.load(Ordering::Acquire) == 0 {
                    let failure = sync_wal(&s.wal, &mut s.file);
                    complete(effects, &s.bus, failure.as_deref());
                } else if let Some(tx) = &s.tx {
                    s.inflight.fetch_add(1, Ordering::AcqRel);
                    let _ = tx.send(effects);
                }
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Closing the channel lets the syncer finish what is queued and stop.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `fdatasync` of the WAL (it flushes the file's pages whichever descriptor wrote them); a failure
/// message when it fails.
fn sync_wal(wal: &std::path::Path, file: &mut Option<std::fs::File>) -> Option<String> {
    let synced = (|| -> std::io::Result<()> {
        if file.is_none() {
            *file = Some(std::fs::File::open(wal)?);
        }
        file.as_ref().map_or(Ok(()), std::fs::File::sync_data)
    })();
    synced.err().map(|e| {
        tracing::error!("cannot sync {}: {e}", wal.display());
        *file = None;
        format!("cannot sync the write-ahead log: {e}")
    })
}

/// Runs a committed batch's hooks, publishes its events and answers its callers; `failure` answers
/// them with a storage error instead (the effects that need durability do not happen).
fn complete(effects: Effects, bus: &EventBus, failure: Option<&str>) {
    if let Some(msg) = failure {
        for reply in effects.replies {
            reply(Some(msg));
        }
        return;
    }
    for hook in effects.hooks {
        hook();
    }
    bus.publish(effects.events);
    for reply in effects.replies {
        reply(None);
    }
}

/// Makes committed batches durable with one `fdatasync` of the WAL for all batches waiting, then
/// completes them in commit order. SQLite's own checkpoints (at `synchronous=NORMAL`) sync the WAL
/// before copying it back and the database after, so a frame is durable before the WAL is rewritten.
fn syncer_loop(wal: &std::path::Path, rx: &Receiver<Effects>, bus: &EventBus, inflight: &AtomicUsize) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        batches.extend(rx.try_iter());
        let failure = sync_wal(wal, &mut file);
        let n = batches.len();
        for effects in batches {
            complete(effects, bus, failure.as_deref());
        }
        inflight.fetch_sub(n, Ordering::AcqRel);
    }
}
