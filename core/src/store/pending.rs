//! A write handed to an engine's writer, and the caller's way of waiting for it.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::effects::Effects;
use super::tx::Tx;
use crate::error::{Error, Result};

/// A job an engine runs inside a transaction (in a savepoint of its own: an error rolls back this job
/// alone). It answers its caller itself, through the effects, once the transaction completes.
pub(crate) type Job = Box<dyn FnOnce(&dyn Tx, &mut Effects) -> Result<()> + Send>;
/// Answers a job's caller when the job will not run (the store is stopping).
pub(crate) type Refuse = Box<dyn FnOnce(Error) + Send>;

/// A write handed to the writer; `wait` returns once it is committed (and synced, if it asked to be),
/// or failed.
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
pub(crate) struct Answer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Answer<T> {
    pub(crate) fn send(mut self, value: Result<T>) {
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

/// A write's answer, and the caller's way of waiting for it.
pub(crate) fn pending_pair<T>() -> (Answer<T>, Pending<T>) {
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

/// `f` as a [`Job`] that answers `answer` with its value once the transaction completes, with its error
/// at once; and the [`Refuse`] that answers when the job never runs.
pub(crate) fn answering<T, F>(f: F) -> (Job, Refuse, Pending<T>)
where
    T: Send + 'static,
    F: FnOnce(&dyn Tx, &mut Effects) -> Result<T> + Send + 'static,
{
    let (answer, pending) = pending_pair();
    let slot = pending.slot.clone();
    let job: Job = Box::new(move |tx, effects| match f(tx, effects) {
        Ok(value) => {
            effects.reply(move |failure| {
                answer.send(match failure {
                    None => Ok(value),
                    Some(msg) => Err(Error::Storage(msg.to_owned())),
                });
            });
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            answer.send(Err(e));
            Err(Error::Storage(message))
        }
    });
    let refuse: Refuse = Box::new(move |e| slot.answer_once(Err(e)));
    (job, refuse, pending)
}
