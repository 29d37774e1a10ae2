//! The engine's writer thread: one connection, whose transactions hold every write waiting at that
//! moment (group commit). A batch with an acknowledged write commits with `synchronous_commit = on` and
//! completes once the commit is durable; a batch of workers' records alone commits asynchronously (the
//! server flushes it within a few hundred milliseconds), as SQLite's background writes are synced
//! within 10 ms.
//!
//! When the connection is lost (a server restart, a network failure), what the batch had executed is
//! rolled back: acknowledged writes that ran are answered with the error (not acknowledged, so nothing
//! acknowledged is lost), those that did not run yet and every record are kept, and the writer
//! reconnects and commits them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::Signals;
use super::conn::{Location, PgConn};
use super::tx::PgTx;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::effects::{Effects, Hook};
use crate::store::lifecycle::{RunWrite, apply};
use crate::store::pending::{Job, Refuse};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// Waits between attempts to reconnect (milliseconds), the last repeated.
const RECONNECT: [u64; 6] = [50, 100, 200, 400, 800, 1600];
/// How long a stopping writer keeps trying to reach the server for what it still holds.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub(super) enum Op {
    Job(Job, Refuse),
    Record(Box<RunWrite>, Option<Hook>),
    Stop,
}

pub(super) struct Writer {
    tx: Sender<Op>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(super) fn start(conn: PgConn, location: Arc<Location>, bus: Arc<EventBus>, signals: Arc<Signals>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("modelrunner-pg-writer".into())
            .spawn(move || Loop { conn: Some(conn), location, bus, signals, rx, pending: VecDeque::new(), stopping: flag }.run())
            .map_err(|e| Error::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { tx, stopping, thread: Mutex::new(Some(thread)) })
    }

    pub(super) fn send(&self, op: Op) {
        if let Err(crossbeam_channel::SendError(op)) = self.tx.send(op) {
            refuse(op);
        }
    }

    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _ = self.tx.send(Op::Stop);
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn refuse(op: Op) {
    match op {
        Op::Job(_, refuse) => refuse(Error::ShuttingDown),
        Op::Record(write, _) => {
            let a = write.attempt();
            tracing::warn!("a write about run {} (attempt {}) was dropped: the store stopped", a.run_id, a.number);
        }
        Op::Stop => {}
    }
}

struct Loop {
    conn: Option<PgConn>,
    location: Arc<Location>,
    bus: Arc<EventBus>,
    signals: Arc<Signals>,
    rx: Receiver<Op>,
    /// Writes kept from a batch the connection lost, in order, ahead of the channel.
    pending: VecDeque<Op>,
    stopping: Arc<AtomicBool>,
}

/// How a batch ended.
enum Outcome {
    Committed,
    /// The connection is gone; the batch's kept writes are back in `pending`.
    Lost,
}

impl Loop {
    fn run(mut self) {
        let mut stopping = false;
        loop {
            if self.pending.is_empty() {
                if stopping {
                    break;
                }
                match self.rx.recv() {
                    Ok(op) => self.pending.push_back(op),
                    Err(_) => break,
                }
            }
            while self.pending.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => self.pending.push_back(op),
                    Err(_) => break,
                }
            }
            let mut batch: Vec<Op> = Vec::with_capacity(self.pending.len());
            while let Some(op) = self.pending.pop_front() {
                if matches!(op, Op::Stop) {
                    stopping = true;
                    continue;
                }
                batch.push(op);
                if batch.len() >= MAX_BATCH {
                    break;
                }
            }
            if batch.is_empty() {
                continue;
            }
            if let Outcome::Lost = self.commit(batch) {
                self.conn = None;
                if !self.reconnect() {
                    break;
                }
            }
        }
        for op in self.pending.drain(..).chain(self.rx.try_iter()) {
            refuse(op);
        }
    }

    /// Connects again, waiting longer between attempts; false when the writer gives up: it is stopping and
    /// the server stayed away for a few seconds.
    fn reconnect(&mut self) -> bool {
        let started = std::time::Instant::now();
        for i in 0.. {
            std::thread::sleep(Duration::from_millis(RECONNECT[i.min(RECONNECT.len() - 1)]));
            match PgConn::connect(&self.location) {
                Ok(conn) => {
                    tracing::info!("the writer reconnected to {}", self.location.shown());
                    self.conn = Some(conn);
                    return true;
                }
                Err(e) => {
                    tracing::warn!("the writer cannot reach the database yet: {e}");
                    if self.stopping.load(Ordering::Acquire) && started.elapsed() > STOP_GRACE {
                        return false;
                    }
                }
            }
        }
        false
    }

    fn commit(&mut self, batch: Vec<Op>) -> Outcome {
        let Some(conn) = self.conn.as_mut() else {
            self.pending.extend(batch);
            return Outcome::Lost;
        };
        let acked = batch.iter().any(|op| matches!(op, Op::Job(..)));
        let begin = if acked { "BEGIN; SET LOCAL synchronous_commit = on" } else { "BEGIN; SET LOCAL synchronous_commit = off" };
        if conn.batch(begin).is_err() {
            self.pending.extend(batch);
            return Outcome::Lost;
        }
        let tx = PgTx::new(conn);
        let mut fx = Effects::default();
        // Records applied in this transaction, with their hooks (run once it commits).
        let mut applied: Vec<(Box<RunWrite>, Option<Hook>)> = Vec::new();
        // Writes not run, to run again.
        let mut unrun: Vec<Op> = Vec::new();
        let mut record_failed = false;
        let mut failure: Option<Error> = None;
        let mut ops = batch.into_iter();
        for op in ops.by_ref() {
            match op {
                Op::Job(job, refuse) => {
                    let mark = tx.mark();
                    if let Err(e) = tx.batch("SAVEPOINT job") {
                        unrun.push(Op::Job(job, refuse));
                        failure = Some(e);
                        break;
                    }
                    let mut local = Effects::default();
                    // The job answers its own caller with its error.
                    let ok = job(&tx, &mut local).is_ok();
                    let end = if ok { tx.batch("RELEASE job") } else { tx.batch("ROLLBACK TO job; RELEASE job") };
                    if ok {
                        fx.absorb(local);
                    } else {
                        tx.rollback_to(mark);
                    }
                    if let Err(e) = end {
                        failure = Some(e);
                        break;
                    }
                }
                Op::Record(write, then) => match apply(&tx, &mut fx, &write) {
                    Ok(()) => applied.push((write, then)),
                    Err(e) => {
                        record_failed = true;
                        unrun.push(Op::Record(write, then));
                        failure = Some(e);
                        break;
                    }
                },
                Op::Stop => {}
            }
        }
        unrun.extend(ops);
        let failure = match failure {
            None => match tx.commit() {
                Ok(notices) => {
                    fx.hooks.extend(applied.into_iter().filter_map(|(_, then)| then));
                    fx.complete(&self.bus);
                    self.signals.raise_local(notices);
                    return Outcome::Committed;
                }
                Err(e) => e,
            },
            Some(e) => {
                let _ = tx.into_conn().batch("ROLLBACK");
                e
            }
        };
        let lost = self.conn.as_ref().is_none_or(|c| c.broken);
        let transient = self.conn.as_mut().is_some_and(|c| std::mem::take(&mut c.transient));
        let message = failure.to_string();
        // What ran is rolled back: the callers of acknowledged writes that ran learn they were not stored.
        fx.fail(&message);
        let mut retry: Vec<Op> = applied.into_iter().map(|(w, then)| Op::Record(w, then)).collect();
        if lost {
            tracing::warn!("lost the database connection; {} writes will be retried: {message}", retry.len() + unrun.len());
        } else if transient {
            tracing::warn!("a batch of writes met a deadlock or a serialization failure; retrying it: {message}");
        } else if record_failed && let Op::Record(write, then) = unrun.remove(0) {
            // A write that fails on its own would fail every time: it is dropped (its hook still runs), so
            // that it cannot hold the others back.
            tracing::error!("a write about run {} failed and is dropped: {message}", write.attempt().run_id);
            if let Some(hook) = then {
                hook();
            }
        }
        retry.extend(unrun);
        for op in retry.into_iter().rev() {
            self.pending.push_front(op);
        }
        if lost { Outcome::Lost } else { Outcome::Committed }
    }
}
