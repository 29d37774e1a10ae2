//! Worker threads. Each takes tickets from the scheduler and hands them to the executing callback.
//! The pool can grow, shrink, stop and restart while runs are queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use super::Scheduler;
use crate::domain::common::{new_id, now};
use crate::domain::config::{WorkerInfo, WorkerState};
use crate::error::{Error, Result};

/// Executes one run by id on the calling worker thread.
pub(crate) type Exec = Arc<dyn Fn(&str) + Send + Sync>;

struct Slot {
    info: Arc<Mutex<WorkerInfo>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub(crate) struct Pool {
    sched: Arc<Scheduler>,
    exec: Exec,
    slots: Mutex<Vec<Slot>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("workers", &self.slots.lock().len()).finish()
    }
}

impl Pool {
    pub(crate) fn new(sched: Arc<Scheduler>, exec: Exec) -> Self {
        Self { sched, exec, slots: Mutex::new(Vec::new()) }
    }

    /// Starts `n` more workers.
    pub(crate) fn start(&self, n: usize) -> Result<()> {
        let mut slots = self.slots.lock();
        // The new workers replace the stopped ones, and those asked to stop that have no run left
        // (their threads end on their own).
        slots.retain(|s| !s.gone());
        for _ in 0..n {
            let at = now();
            let info = Arc::new(Mutex::new(WorkerInfo {
                id: new_id("worker"),
                status: WorkerState::Idle,
                current_run_id: None,
                jobs_completed: 0,
                started_at: at,
                last_activity: at,
            }));
            let stop = Arc::new(AtomicBool::new(false));
            let (sched, exec, info2, stop2) = (self.sched.clone(), self.exec.clone(), info.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name("modelrunner-worker".into())
                .spawn(move || worker_loop(&sched, &exec, &info2, &stop2))
                .map_err(|e| Error::Internal(format!("cannot start a worker thread: {e}")))?;
            slots.push(Slot { info, stop, thread: Some(thread) });
        }
        Ok(())
    }

    /// Asks every worker to stop after its current run. Returns at once.
    pub(crate) fn stop_all(&self) {
        for slot in self.slots.lock().iter() {
            slot.stop.store(true, Ordering::Release);
        }
        self.sched.wake_all();
    }

    /// Stops the `n` most recently started running workers (idle ones first).
    pub(crate) fn stop_some(&self, mut n: usize) {
        let slots = self.slots.lock();
        for idle_first in [true, false] {
            for slot in slots.iter().rev() {
                if n == 0 {
                    break;
                }
                let status = slot.info.lock().status;
                let running = !slot.stop.load(Ordering::Acquire);
                if running && (status == WorkerState::Idle) == idle_first {
                    slot.stop.store(true, Ordering::Release);
                    n -= 1;
                }
            }
        }
        drop(slots);
        self.sched.wake_all();
    }

    /// Workers not asked to stop.
    pub(crate) fn active(&self) -> usize {
        self.slots.lock().iter().filter(|s| !s.stop.load(Ordering::Acquire)).count()
    }

    pub(crate) fn infos(&self) -> Vec<WorkerInfo> {
        self.slots.lock().iter().map(|s| s.info.lock().clone()).collect()
    }

    /// Waits until every worker thread has ended or `deadline` passes; true when all ended.
    pub(crate) fn join_until(&self, deadline: Instant) -> bool {
        loop {
            let mut slots = self.slots.lock();
            let all_done = slots.iter().all(Slot::finished);
            if all_done {
                for slot in slots.iter_mut() {
                    if let Some(t) = slot.thread.take() {
                        let _ = t.join();
                    }
                }
                return true;
            }
            drop(slots);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl Slot {
    fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Ended, or asked to stop with no run left to finish.
    fn gone(&self) -> bool {
        self.finished() || (self.stop.load(Ordering::Acquire) && self.info.lock().status != WorkerState::Busy)
    }
}

fn worker_loop(sched: &Scheduler, exec: &Exec, info: &Mutex<WorkerInfo>, stop: &AtomicBool) {
    while let Some(ticket) = sched.take(stop) {
        {
            let mut i = info.lock();
            i.status = WorkerState::Busy;
            i.current_run_id = Some(ticket.run_id.clone());
            i.last_activity = now();
        }
        exec(&ticket.run_id);
        sched.release(&ticket.queue);
        let mut i = info.lock();
        i.status = WorkerState::Idle;
        i.current_run_id = None;
        i.jobs_completed += 1;
        i.last_activity = now();
    }
    let mut i = info.lock();
    i.status = WorkerState::Stopped;
    i.last_activity = now();
}
