//! The single writer thread. Callers hand it jobs; it runs as many as are waiting inside one
//! transaction (each in its own savepoint), commits once (group commit: one fsync for the batch), and
//! only then publishes the batch's events, runs its after-commit hooks and answers its callers.
//! Nobody but this thread writes, so callers never see `SQLITE_BUSY`.
//!
//! Background writes nobody waits for (a task's progress, metrics, logs; a run starting or ending) join
//! the open transaction and are committed with the next acknowledged write, or after [`LINGER`] at
//! the latest. Their events are published only after that commit, like every other event.

use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use std::sync::Arc;

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
    Job { job: Job, durable: bool },
    Stop,
}

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

/// The writer's end of a [`Pending`]; dropped unanswered, it answers `ShuttingDown`.
struct Answer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Answer<T> {
    fn send(mut self, value: Result<T>) {
        if let Some(slot) = self.slot.take() {
            *slot.value.lock() = Some(value);
            slot.ready.notify_one();
        }
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            *slot.value.lock() = Some(Err(Error::ShuttingDown));
            slot.ready.notify_one();
        }
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
    pub(crate) fn start(conn: Connection, bus: Arc<EventBus>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("modelrunner-writer".into())
            .spawn(move || writer_loop(conn, rx, bus))
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
        // A send that fails drops the job and with it the answer, which then says `ShuttingDown`.
        let _ = self.tx.send(Op::Job { job, durable: true });
        pending
    }

    /// Queues a job nobody waits for (progress, metrics, logs from tasks). Failures are logged.
    pub(crate) fn enqueue_detached<F>(&self, f: F)
    where
        F: FnOnce(&Connection, &mut Effects) -> Result<()> + Send + 'static,
    {
        let job: Job = Box::new(move |conn, effects| {
            let mut local = Effects::default();
            match in_savepoint(conn, |c| f(c, &mut local)) {
                Ok(()) => effects.absorb(local),
                Err(e) => tracing::warn!("background write failed: {e}"),
            }
        });
        let _ = self.tx.send(Op::Job { job, durable: false });
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

fn writer_loop(conn: Connection, rx: Receiver<Op>, bus: Arc<EventBus>) {
    let mut batch = Batch::default();
    loop {
        // Uncommitted background writes wait at most LINGER for an acknowledged write to share a commit.
        let op = match batch.opened {
            None => rx.recv().map_err(|_| ()),
            Some(opened) => match rx.recv_deadline(opened + LINGER) {
                Ok(op) => Ok(op),
                Err(RecvTimeoutError::Timeout) => {
                    batch.commit(&conn, &bus);
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
            batch.commit(&conn, &bus);
        }
        if stopping {
            break;
        }
    }
    batch.commit(&conn, &bus);
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
        let (job, durable) = match op {
            Op::Job { job, durable } => (job, durable),
            Op::Stop => return true,
        };
        if self.opened.is_none() {
            if let Err(e) = conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])) {
                tracing::error!("cannot begin a transaction: {e}");
            }
            self.opened = Some(Instant::now());
        }
        job(conn, &mut self.effects);
        self.jobs += 1;
        self.durable |= durable;
        false
    }

    fn commit(&mut self, conn: &Connection, bus: &EventBus) {
        if self.opened.take().is_none() {
            return;
        }
        let effects = std::mem::take(&mut self.effects);
        let n = std::mem::take(&mut self.jobs);
        self.durable = false;
        match conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
            Ok(_) => {
                for hook in effects.hooks {
                    hook();
                }
                bus.publish(effects.events);
                for reply in effects.replies {
                    reply(None);
                }
            }
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
