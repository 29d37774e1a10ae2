//! Live events of runs, and subscriptions that replay a run's history before its live events.
//!
//! Every event is written to the store first and published only after its transaction commits, with an
//! id that grows with commit order. A subscriber registers, then reads the history, then skips live
//! events whose id it already saw: no gap, no duplicate.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::domain::common::Timestamp;
use crate::domain::run::{RunError, RunStatus};

/// One event of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Store-wide, increasing with commit order.
    pub id: u64,
    pub run_id: String,
    pub at: Timestamp,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// The run changed status.
    State {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RunError>,
    },
    /// Progress (0..=100, never decreasing), with the current epoch and loss when training.
    Progress {
        progress: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss: Option<f64>,
    },
    /// One metric value at one step.
    Metric { name: String, step: u64, value: f64 },
    /// One log line.
    Log { line: String },
}

impl EventBody {
    /// The name stored in the `type` column.
    pub(crate) const fn type_name(&self) -> &'static str {
        match self {
            Self::State { .. } => "state",
            Self::Progress { .. } => "progress",
            Self::Metric { .. } => "metric",
            Self::Log { .. } => "log",
        }
    }

    /// Whether this is a final state event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::State { status, .. } if status.is_terminal())
    }
}

/// Fan-out of committed events to subscribers.
#[derive(Debug, Default)]
pub(crate) struct EventBus {
    inner: Mutex<BusInner>,
}

#[derive(Debug, Default)]
struct BusInner {
    by_run: HashMap<String, Vec<(u64, Sender<Event>)>>,
    next_token: u64,
    all: Vec<Sender<Event>>,
}

impl EventBus {
    /// Registers a subscriber of one run; the token unregisters it.
    pub(crate) fn register_run(&self, run_id: &str) -> (u64, Receiver<Event>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut inner = self.inner.lock();
        inner.next_token += 1;
        let token = inner.next_token;
        inner.by_run.entry(run_id.to_owned()).or_default().push((token, tx));
        (token, rx)
    }

    /// Removes the registration `token` of `run_id`.
    pub(crate) fn unregister_run(&self, run_id: &str, token: u64) {
        let mut inner = self.inner.lock();
        if let Some(subs) = inner.by_run.get_mut(run_id) {
            subs.retain(|(t, _)| *t != token);
            if subs.is_empty() {
                inner.by_run.remove(run_id);
            }
        }
    }

    /// Whether anyone is registered (a subscriber that dropped its stream counts until the next event).
    pub(crate) fn has_subscribers(&self) -> bool {
        let inner = self.inner.lock();
        !inner.by_run.is_empty() || !inner.all.is_empty()
    }

    /// How many runs have live per-run registrations.
    pub(crate) fn registered_runs(&self) -> usize {
        self.inner.lock().by_run.len()
    }

    pub(crate) fn register_all(&self) -> Receiver<Event> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.inner.lock().all.push(tx);
        rx
    }

    /// Publishes committed events in order.
    pub(crate) fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for event in events {
            let terminal = event.body.is_terminal();
            if !inner.all.is_empty() {
                inner.all.retain(|tx| tx.send(event.clone()).is_ok());
            }
            if let Some(subs) = inner.by_run.get_mut(&event.run_id) {
                subs.retain(|(_, tx)| tx.send(event.clone()).is_ok());
                // A run's stream ends with its final state: nobody needs its entry after that.
                if terminal || subs.is_empty() {
                    inner.by_run.remove(&event.run_id);
                }
            }
        }
    }
}

/// A stream of events: first the stored history, then live events, without gap or duplicate.
///
/// A subscription to one run ends (returns `None`) after that run's final state event.
/// It is an [`Iterator`] that blocks; use [`Subscription::next_timeout`] to wait with a limit.
#[derive(Debug)]
pub struct Subscription {
    history: VecDeque<Event>,
    live: Receiver<Event>,
    last_seen: u64,
    single_run: bool,
    done: bool,
}

impl Subscription {
    pub(crate) fn new(history: Vec<Event>, live: Receiver<Event>, after: u64, single_run: bool) -> Self {
        let last_seen = history.last().map_or(after, |e| e.id.max(after));
        Self { history: history.into(), live, last_seen, single_run, done: false }
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when the stream has ended,
    /// `Err(())` when the time ran out first.
    #[allow(clippy::result_unit_err)]
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, ()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(event) = self.history.pop_front() {
                return Ok(Some(self.deliver(event)));
            }
            match self.live.recv_deadline(deadline) {
                Ok(event) => {
                    if let Some(e) = self.accept_live(event) {
                        return Ok(Some(e));
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(()),
                Err(RecvTimeoutError::Disconnected) => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    /// An event that is already there, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.history.pop_front() {
                return Some(self.deliver(event));
            }
            let event = self.live.try_recv().ok()?;
            if let Some(e) = self.accept_live(event) {
                return Some(e);
            }
        }
    }

    /// Live events the history already held (committed before it was read) are skipped.
    fn accept_live(&mut self, event: Event) -> Option<Event> {
        if event.id <= self.last_seen {
            return None;
        }
        self.last_seen = event.id;
        Some(self.deliver(event))
    }

    fn deliver(&mut self, event: Event) -> Event {
        if self.single_run && event.body.is_terminal() {
            self.done = true;
        }
        event
    }
}

impl Iterator for Subscription {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(next) => return next,
                Err(()) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::common::now;

    fn ev(id: u64, body: EventBody) -> Event {
        Event { id, run_id: "run_a".into(), at: now(), body }
    }

    fn log(id: u64) -> Event {
        ev(id, EventBody::Log { line: format!("{id}") })
    }

    #[test]
    fn live_events_already_in_the_history_are_skipped_and_the_stream_ends_at_the_final_state() {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Committed before the history read, but published after the registration: seen twice.
        for id in [2, 3] {
            tx.send(log(id)).unwrap();
        }
        tx.send(log(4)).unwrap();
        tx.send(ev(5, EventBody::State { status: RunStatus::Succeeded, message: None, error: None })).unwrap();
        tx.send(log(6)).unwrap();
        let sub = Subscription::new(vec![log(1), log(2), log(3)], rx, 0, true);
        let ids: Vec<u64> = sub.map(|e| e.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_all_runs_stream_starts_after_the_given_id_and_does_not_end_at_a_final_state() {
        let (tx, rx) = crossbeam_channel::unbounded();
        for id in [7, 8] {
            tx.send(log(id)).unwrap();
        }
        tx.send(ev(9, EventBody::State { status: RunStatus::Failed, message: None, error: None })).unwrap();
        tx.send(log(10)).unwrap();
        let mut sub = Subscription::new(Vec::new(), rx, 8, false);
        let mut ids = Vec::new();
        while let Some(e) = sub.try_next() {
            ids.push(e.id);
        }
        assert_eq!(ids, vec![9, 10]);
        assert!(sub.next_timeout(std::time::Duration::from_millis(5)).is_err(), "still open, nothing yet");
        drop(tx);
        assert_eq!(sub.next_timeout(std::time::Duration::from_millis(5)), Ok(None), "ends when the bus goes");
    }
}
