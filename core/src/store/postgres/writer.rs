//! The engine's writer thread: one connection, whose transactions hold every write waiting at that
//! moment (group commit). Every batch commits asynchronously, so that the lock ordering events is
//! released as soon as the commit is visible rather than after the WAL flush. A batch with an
//! acknowledged write then commits this writer's durability mark with `synchronous_commit = on`: that
//! commit returns once the WAL is flushed up to it, past the batch, and only then are the batch's
//! callers answered. A batch of workers' records alone is flushed by the server within a few hundred
//! milliseconds, as SQLite's background writes are synced within 10 ms.
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
use super::runs::Ending;
use super::tx::{Notices, PgTx};
use crate::domain::run::RunStatus;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::effects::{Effects, Hook};
use crate::store::lifecycle::{RunWrite, apply};
use crate::store::pending::{Answer, Job, Refuse};
use crate::store::records::{EventRecord, RunRecord};
use crate::store::tx::{Notice, Tx};

/// The writer's commits are asynchronous; what must be durable waits for the durability mark.
const ASYNC_COMMITS: &str = "SET synchronous_commit = off";
/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// Waits between attempts to reconnect (milliseconds), the last repeated.
const RECONNECT: [u64; 6] = [50, 100, 200, 400, 800, 1600];
/// How long a stopping writer keeps trying to reach the server for what it still holds.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub(super) enum Op {
    Job(Job, Refuse),
    /// A run submitted: the inserts waiting together are one statement.
    Insert(Box<Insertion>),
    Record(Box<RunWrite>, Option<Hook>),
    Stop,
}

/// A run to insert, with its `queued` event, and its caller's answer: the run's `seq`.
pub(super) struct Insertion {
    pub(super) record: RunRecord,
    pub(super) event: EventRecord,
    pub(super) then: Option<Hook>,
    pub(super) answer: Answer<i64>,
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
            .spawn(move || {
                let client: Arc<str> = crate::domain::common::new_id("writer").into();
                Loop { conn: Some(conn), location, bus, signals, rx, pending: VecDeque::new(), stopping: flag, client }.run()
            })
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
        Op::Insert(insertion) => insertion.answer.send(Err(Error::ShuttingDown)),
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
    /// This writer's row in `durability_marks`.
    client: Arc<str>,
}

/// How a batch ended.
enum Outcome {
    Committed,
    /// The connection is gone; the batch's kept writes are back in `pending`.
    Lost,
}

impl Loop {
    fn run(mut self) {
        if let Some(conn) = self.conn.as_mut()
            && conn.batch(ASYNC_COMMITS).is_err()
        {
            self.conn = None;
        }
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
        if let Some(conn) = self.conn.as_mut() {
            let _ = conn.execute("DELETE FROM durability_marks WHERE client = $1", &[&&*self.client]);
        }
    }

    /// Connects again, waiting longer between attempts; false when the writer gives up: it is stopping and
    /// the server stayed away for a few seconds.
    fn reconnect(&mut self) -> bool {
        let started = std::time::Instant::now();
        for i in 0.. {
            std::thread::sleep(Duration::from_millis(RECONNECT[i.min(RECONNECT.len() - 1)]));
            match PgConn::connect(&self.location).and_then(|mut c| c.batch(ASYNC_COMMITS).map(|()| c)) {
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

    /// Returns once everything this connection committed is flushed to the server's disk: a
    /// synchronous commit of this process's durability mark waits for the WAL up to itself, past every
    /// commit before it. (One round trip: the client's id is this writer's own, a literal.)
    fn mark_durable(&mut self) -> Result<()> {
        let Some(conn) = self.conn.as_mut() else { return Err(Error::Storage("the connection to the database was lost".into())) };
        let marked = conn.batch(&format!(
            "BEGIN; SET LOCAL synchronous_commit = on; INSERT INTO durability_marks (client, at) VALUES ('{}', now()) \
             ON CONFLICT (client) DO UPDATE SET at = EXCLUDED.at; COMMIT",
            self.client
        ));
        if marked.is_err() && !conn.broken {
            let _ = conn.batch("ROLLBACK");
        }
        marked
    }

    /// A batch of submitted runs alone, the usual burst: one statement inserts them with their events
    /// and notice, then the durability mark. `Err` gives the batch back, untouched, for a transaction
    /// that inserts them one at a time (a run the server refuses is refused alone).
    fn commit_inserts(&mut self, batch: Vec<Op>) -> std::result::Result<Outcome, Vec<Op>> {
        let Some(conn) = self.conn.as_mut() else { return Err(batch) };
        let insertions: Vec<&Insertion> = batch.iter().filter_map(|op| if let Op::Insert(i) = op { Some(&**i) } else { None }).collect();
        let records: Vec<&RunRecord> = insertions.iter().map(|i| &i.record).collect();
        let events: Vec<&EventRecord> = insertions.iter().map(|i| &i.event).collect();
        let notices = Notices { events: true, queued: records.iter().any(|r| r.task.is_some()), ..Notices::default() };
        let seqs = match super::runs::insert_announced(conn, &records, &events, &notices.payload()) {
            Ok(seqs) => seqs,
            Err(_) if conn.broken => {
                // Not committed (a statement outside a transaction commits or not at all); kept.
                self.pending.extend(batch);
                return Ok(Outcome::Lost);
            }
            Err(_) => return Err(batch),
        };
        self.signals.raise_local(notices);
        let durable = self.mark_durable().map_err(|e| e.to_string());
        let (mut hooks, mut answers) = (Vec::new(), Vec::new());
        for (op, seq) in batch.into_iter().zip(seqs) {
            if let Op::Insert(insertion) = op {
                let Insertion { then, answer, .. } = *insertion;
                hooks.extend(then);
                answers.push((answer, seq));
            }
        }
        // Committed either way: the hooks run; the callers learn whether it is durable.
        Effects { hooks, ..Effects::default() }.complete(&self.bus);
        for (answer, seq) in answers {
            answer.send(durable.clone().map(|()| seq).map_err(Error::Storage));
        }
        Ok(if self.conn.as_ref().is_none_or(|c| c.broken) { Outcome::Lost } else { Outcome::Committed })
    }

    /// A batch of runs ending alone, what workers write most: one statement (see
    /// [`super::runs::finish_announced`]). `Err` gives the batch back for a transaction.
    fn commit_endings(&mut self, batch: Vec<Op>) -> std::result::Result<Outcome, Vec<Op>> {
        let Some(conn) = self.conn.as_mut() else { return Err(batch) };
        let endings: Vec<Ending<'_>> = batch
            .iter()
            .filter_map(|op| match op {
                Op::Record(write, _) => match &**write {
                    RunWrite::Finished { attempt, maps, finish, event } => {
                        Some(Ending { attempt, maps: maps.as_ref().map(|(m, a)| (m.as_str(), a.as_str())), finish, event })
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let notices = Notices { events: true, ..Notices::default() };
        let held = match super::runs::finish_announced(conn, &endings, &notices.payload()) {
            Ok(held) => held,
            Err(_) if conn.broken => {
                // Not committed (a statement outside a transaction commits or not at all); kept.
                self.pending.extend(batch);
                return Ok(Outcome::Lost);
            }
            Err(_) => return Err(batch),
        };
        self.signals.raise_local(notices);
        let mut hooks = Vec::new();
        for (op, held) in batch.into_iter().zip(held) {
            if let Op::Record(write, then) = op {
                if !held {
                    let a = write.attempt();
                    tracing::warn!("attempt {} at run {} no longer holds it; its write is dropped", a.number, a.run_id);
                }
                hooks.extend(then);
            }
        }
        Effects { hooks, ..Effects::default() }.complete(&self.bus);
        Ok(Outcome::Committed)
    }

    fn commit(&mut self, batch: Vec<Op>) -> Outcome {
        let inserts = batch.iter().all(|op| matches!(op, Op::Insert(_)));
        let endings = batch.iter().all(|op| {
            matches!(op, Op::Record(write, _) if matches!(&**write, RunWrite::Finished { finish, .. } if finish.status != RunStatus::Queued))
        });
        let batch = match (inserts, endings) {
            (true, _) => match self.commit_inserts(batch) {
                Ok(outcome) => return outcome,
                Err(batch) => batch,
            },
            (_, true) => match self.commit_endings(batch) {
                Ok(outcome) => return outcome,
                Err(batch) => batch,
            },
            _ => batch,
        };
        let Some(conn) = self.conn.as_mut() else {
            self.pending.extend(batch);
            return Outcome::Lost;
        };
        let acked = batch.iter().any(|op| matches!(op, Op::Job(..) | Op::Insert(_)));
        // Asynchronous even with acknowledged writes: those wait for the durability mark, after it.
        if conn.batch("BEGIN").is_err() {
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
        let mut ops = batch.into_iter().peekable();
        while let Some(op) = ops.next() {
            match op {
                Op::Insert(first) => {
                    let mut group = vec![*first];
                    while let Some(Op::Insert(_)) = ops.peek() {
                        if let Some(Op::Insert(next)) = ops.next() {
                            group.push(*next);
                        }
                    }
                    if let Err((e, unrun_group)) = insert_group(&tx, &mut fx, group) {
                        unrun.extend(unrun_group.into_iter().map(|i| Op::Insert(Box::new(i))));
                        failure = Some(e);
                        break;
                    }
                }
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
                    self.signals.raise_local(notices);
                    if acked && let Err(e) = self.mark_durable() {
                        // Committed, not known to be durable: what it did stands, and its callers are
                        // told it may not be stored (as when a connection is lost during a commit).
                        let replies = std::mem::take(&mut fx.replies);
                        fx.complete(&self.bus);
                        Effects { replies, ..Effects::default() }.fail(&e.to_string());
                        return if self.conn.as_ref().is_none_or(|c| c.broken) { Outcome::Lost } else { Outcome::Committed };
                    }
                    fx.complete(&self.bus);
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

/// Inserts `group` in a savepoint: one statement for all, or, when that fails, one at a time (each in a
/// savepoint of its own, so that a bad run is refused alone). Each caller is answered once the
/// transaction completes, or at once with its insert's error. When the savepoint itself cannot be
/// taken (the connection is gone), the group did not run and comes back with the error.
fn insert_group(tx: &PgTx<'_>, fx: &mut Effects, group: Vec<Insertion>) -> std::result::Result<(), (Error, Vec<Insertion>)> {
    let mark = tx.mark();
    if let Err(e) = tx.batch("SAVEPOINT job") {
        return Err((e, group));
    }
    let records: Vec<&RunRecord> = group.iter().map(|i| &i.record).collect();
    let together = tx.with_conn(|c| super::runs::insert_many(c, &records));
    match together {
        Ok(seqs) => {
            for (insertion, seq) in group.into_iter().zip(seqs) {
                inserted(tx, fx, insertion, seq);
            }
            tx.batch("RELEASE job").map_err(|e| (e, Vec::new()))
        }
        Err(e) => {
            tx.rollback_to(mark);
            if let Err(e) = tx.batch("ROLLBACK TO job; RELEASE job") {
                return Err((e, group));
            }
            tracing::debug!("a batch of runs was refused together ({e}); inserting them one at a time");
            let mut rest = group.into_iter();
            while let Some(insertion) = rest.next() {
                if let Err(e) = tx.batch("SAVEPOINT job") {
                    return Err((e, std::iter::once(insertion).chain(rest).collect()));
                }
                let end = match tx.run_insert(&insertion.record) {
                    Ok(seq) => {
                        inserted(tx, fx, insertion, seq);
                        tx.batch("RELEASE job")
                    }
                    Err(e) => {
                        insertion.answer.send(Err(e));
                        tx.batch("ROLLBACK TO job; RELEASE job")
                    }
                };
                if let Err(e) = end {
                    return Err((e, rest.collect()));
                }
            }
            Ok(())
        }
    }
}

/// What an inserted run asks of its transaction: its event, a notice for the workers when it is
/// executable, its hook, and its caller's answer once committed.
fn inserted(tx: &PgTx<'_>, fx: &mut Effects, insertion: Insertion, seq: i64) {
    let Insertion { record, event, then, answer } = insertion;
    // Held back until the commit; cannot fail.
    let _ = tx.event_push(fx, &event);
    if record.task.is_some() {
        tx.notify(Notice::Queued);
    }
    if let Some(hook) = then {
        fx.hooks.push(hook);
    }
    fx.reply(move |failure| {
        answer.send(match failure {
            None => Ok(seq),
            Some(msg) => Err(Error::Storage(msg.to_owned())),
        })
    });
}
