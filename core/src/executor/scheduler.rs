//! Named queues of runs waiting for a worker: highest priority first, FIFO within a priority, with an
//! optional concurrency limit per queue.
//!
//! Idle workers are woken last-in, first-out: the worker that went idle most recently takes the next
//! run. LibTorch's OpenMP pool belongs to the thread that uses it, so runs handed one after another to
//! the same thread reuse its warm pool, where round-robin hand-offs built a pool in every worker and
//! left the old ones contending for the cores (one process, six CNN runs in a row on 2 cores: ~3,300
//! samples/s after the first, 4,400–4,900 with this order).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
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
    /// The only queues this process serves (`None`: every queue).
    served: Option<Vec<String>>,
    running: HashMap<String, usize>,
    next_order: u64,
    closed: bool,
    /// Workers waiting for a run, the most recently idle last: each with its own wake-up.
    sleepers: Vec<(u64, Arc<Condvar>)>,
    next_sleeper: u64,
}

/// A run handed to a worker.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) queue: String,
    pub(crate) run_id: String,
}

/// Called when a worker finds nothing to take and waits.
pub(crate) type OnIdle = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(crate) struct Scheduler {
    state: Mutex<State>,
    on_idle: std::sync::OnceLock<OnIdle>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("state", &*self.state.lock()).finish_non_exhaustive()
    }
}

/// How many more runs this process's workers can start now, and the queues at their limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Capacity {
    pub(crate) idle: usize,
    pub(crate) full: Vec<String>,
}

impl State {
    /// Wakes the most recently idle worker.
    fn wake_newest(&mut self) {
        if let Some((_, ready)) = self.sleepers.pop() {
            ready.notify_one();
        }
    }

    /// Wakes every idle worker.
    fn wake_all(&mut self) {
        for (_, ready) in self.sleepers.drain(..) {
            ready.notify_one();
        }
    }
}

impl Scheduler {
    /// `served`: the only queues whose runs this scheduler hands out (`None`: every queue).
    pub(crate) fn new(limits: HashMap<String, usize>, served: Option<Vec<String>>) -> Self {
        Self { state: Mutex::new(State { limits, served, ..State::default() }), on_idle: std::sync::OnceLock::new() }
    }

    /// Sets what to call when a worker goes idle (once; later calls are ignored).
    pub(crate) fn on_idle(&self, f: OnIdle) {
        let _ = self.on_idle.set(f);
    }

    /// Idle workers not yet promised a run, and the queues at their limit.
    pub(crate) fn capacity(&self) -> Capacity {
        let st = self.state.lock();
        let waiting: usize = st.queues.values().map(BinaryHeap::len).sum();
        let full = st
            .limits
            .iter()
            .filter(|(q, limit)| st.running.get(*q).copied().unwrap_or(0) + st.queues.get(*q).map_or(0, BinaryHeap::len) >= **limit)
            .map(|(q, _)| q.clone())
            .collect();
        Capacity { idle: st.sleepers.len().saturating_sub(waiting), full }
    }

    /// Takes back the runs no worker took yet (the process is stopping).
    pub(crate) fn drain(&self) -> Vec<String> {
        let mut st = self.state.lock();
        st.queues.values_mut().flat_map(|heap| std::mem::take(heap).into_vec()).map(|e| e.run_id).collect()
    }

    pub(crate) fn push(&self, queue: &str, priority: i32, run_id: String) {
        let mut st = self.state.lock();
        let order = st.next_order;
        st.next_order += 1;
        st.queues.entry(queue.to_owned()).or_default().push(Entry { priority, order, run_id });
        st.wake_newest();
    }

    /// Blocks until a run is available (and its queue is under its limit), or `stop` is set, or the
    /// scheduler is closed.
    pub(crate) fn take(&self, stop: &AtomicBool) -> Option<Ticket> {
        let ready = Arc::new(Condvar::new());
        let mut st = self.state.lock();
        loop {
            if st.closed || stop.load(Ordering::Acquire) {
                return None;
            }
            let best = st
                .queues
                .iter()
                .filter(|(name, heap)| {
                    !heap.is_empty()
                        && st.served.as_ref().is_none_or(|served| served.contains(name))
                        && st.limits.get(*name).is_none_or(|limit| st.running.get(*name).copied().unwrap_or(0) < *limit)
                })
                .filter_map(|(name, heap)| heap.peek().map(|e| (name.clone(), e.priority, e.order)))
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.2.cmp(&a.2)));
            if let Some((queue, _, _)) = best {
                let entry = st.queues.get_mut(&queue).and_then(BinaryHeap::pop)?;
                *st.running.entry(queue.clone()).or_default() += 1;
                return Some(Ticket { queue, run_id: entry.run_id });
            }
            let token = st.next_sleeper;
            st.next_sleeper += 1;
            st.sleepers.push((token, Arc::clone(&ready)));
            if let Some(on_idle) = self.on_idle.get() {
                on_idle();
            }
            ready.wait(&mut st);
            // A push or a wake-all took this worker off the list; leave it in any case.
            st.sleepers.retain(|(t, _)| *t != token);
        }
    }

    /// A worker finished a ticket of `queue`.
    pub(crate) fn release(&self, queue: &str) {
        let mut st = self.state.lock();
        if let Some(n) = st.running.get_mut(queue) {
            *n = n.saturating_sub(1);
        }
        if st.limits.contains_key(queue) {
            st.wake_all();
        }
    }

    /// Wakes every waiting worker (so stopped ones can leave).
    pub(crate) fn wake_all(&self) {
        self.state.lock().wake_all();
    }

    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        st.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    use super::Scheduler;

    fn sleepers(s: &Scheduler) -> usize {
        s.state.lock().sleepers.len()
    }

    fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The worker that went idle last takes the next run; the others sleep on until there is more.
    #[test]
    fn the_most_recently_idle_worker_takes_the_next_run() {
        let sched = Arc::new(Scheduler::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for name in ["first idle", "second idle", "last idle"] {
            let (own, tx, stop) = (sched.clone(), tx.clone(), stop.clone());
            let before = sleepers(&sched);
            workers.push(std::thread::spawn(move || {
                while let Some(ticket) = own.take(&stop) {
                    tx.send((name, ticket.run_id)).unwrap();
                }
            }));
            wait_for("the worker to wait", || sleepers(&sched) == before + 1);
        }
        sched.push("default", 0, "run-1".into());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), ("last idle", "run-1".into()));
        sched.release("default");
        // The last one is back at the top once it waits again: it takes the next run too.
        wait_for("the worker to wait again", || sleepers(&sched) == 3);
        sched.push("default", 0, "run-2".into());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), ("last idle", "run-2".into()));
        // Two runs at once wake the two most recent sleepers; the first idle sleeps on. (Which of the
        // two woken takes which run, or both, depends on which reaches the lock first.)
        wait_for("the worker to wait again", || sleepers(&sched) == 3);
        sched.push("default", 0, "run-3".into());
        sched.push("default", 0, "run-4".into());
        let got = [rx.recv_timeout(Duration::from_secs(10)).unwrap().0, rx.recv_timeout(Duration::from_secs(10)).unwrap().0];
        assert!(!got.contains(&"first idle"), "{got:?}");
        sched.close();
        for w in workers {
            w.join().unwrap();
        }
    }
}
