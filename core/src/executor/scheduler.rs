//! Named queues of runs waiting for a worker: highest priority first, FIFO within a priority, with an
//! optional concurrency limit per queue.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    priority: i32,
    order: u64,
    run_id: String,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority.cmp(&other.priority).then_with(|| other.order.cmp(&self.order))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct State {
    queues: BTreeMap<String, BinaryHeap<Entry>>,
    limits: HashMap<String, usize>,
    running: HashMap<String, usize>,
    next_order: u64,
    closed: bool,
}

/// A run handed to a worker.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) queue: String,
    pub(crate) run_id: String,
}

#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    state: Mutex<State>,
    ready: Condvar,
}

impl Scheduler {
    pub(crate) fn new(limits: HashMap<String, usize>) -> Self {
        Self { state: Mutex::new(State { limits, ..State::default() }), ready: Condvar::new() }
    }

    pub(crate) fn push(&self, queue: &str, priority: i32, run_id: String) {
        let mut st = self.state.lock();
        let order = st.next_order;
        st.next_order += 1;
        st.queues.entry(queue.to_owned()).or_default().push(Entry { priority, order, run_id });
        drop(st);
        self.ready.notify_one();
    }

    /// Blocks until a run is available (and its queue is under its limit), or `stop` is set, or the
    /// scheduler is closed.
    pub(crate) fn take(&self, stop: &AtomicBool) -> Option<Ticket> {
        let mut st = self.state.lock();
        loop {
            if st.closed || stop.load(Ordering::Acquire) {
                return None;
            }
            let best = st
                .queues
                .iter()
                .filter(|(name, heap)| {
                    !heap.is_empty() && st.limits.get(*name).is_none_or(|limit| st.running.get(*name).copied().unwrap_or(0) < *limit)
                })
                .filter_map(|(name, heap)| heap.peek().map(|e| (name.clone(), e.priority, e.order)))
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.2.cmp(&a.2)));
            if let Some((queue, _, _)) = best {
                let entry = st.queues.get_mut(&queue).and_then(BinaryHeap::pop)?;
                *st.running.entry(queue.clone()).or_default() += 1;
                return Some(Ticket { queue, run_id: entry.run_id });
            }
            self.ready.wait(&mut st);
        }
    }

    /// A worker finished a ticket of `queue`.
    pub(crate) fn release(&self, queue: &str) {
        let mut st = self.state.lock();
        if let Some(n) = st.running.get_mut(queue) {
            *n = n.saturating_sub(1);
        }
        let limited = st.limits.contains_key(queue);
        drop(st);
        if limited {
            self.ready.notify_all();
        }
    }

    /// Wakes every waiting worker (so stopped ones can leave).
    pub(crate) fn wake_all(&self) {
        self.ready.notify_all();
    }

    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}
