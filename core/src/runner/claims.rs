//! This process as one worker of a queue many processes share: a fetcher claims as many queued runs as
//! workers are idle (woken by the store's notices, by a worker going idle, and at least every second),
//! and a keeper renews the leases of the runs it holds, stops those cancelled or rescued elsewhere,
//! reloads the configuration when another process changed it, and rescues the runs of workers that
//! stopped renewing theirs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Claim, LiveRun, Shared, recover_run};
use crate::domain::run::RunStatus;
use crate::error::{Error, Result};
use crate::executor::{CancelReason, CancelToken};
use crate::store::{Attempt, ClaimRequest, Wake, WorkerRecord};

/// Longest a fetcher waits without a notice before it looks for queued runs anyway.
const POLL: Duration = Duration::from_secs(1);

/// The threads of a process's worker side on a shared queue.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    stopping: Arc<AtomicBool>,
    fetcher: Mutex<Option<JoinHandle<()>>>,
    keeper: Mutex<Option<JoinHandle<()>>>,
}

impl Claims {
    /// Registers the process as a worker and starts its fetcher and keeper.
    pub(crate) fn start(shared: &Arc<Shared>, host: String, queues: Option<Vec<String>>, slots: usize) -> Result<()> {
        let Some(queue) = shared.store.shared_queue() else { return Ok(()) };
        queue.register_worker(&WorkerRecord { id: shared.worker.clone(), host, pid: std::process::id(), queues: queues.clone(), slots })?;
        let weak = Arc::downgrade(shared);
        shared.sched.on_idle(Box::new(move || {
            if let Some(shared) = weak.upgrade()
                && let Some(queue) = shared.store.shared_queue()
            {
                queue.wake(Wake::Queued);
            }
        }));
        let claims = &shared.claims;
        let (weak, stopping) = (Arc::downgrade(shared), claims.stopping.clone());
        *claims.fetcher.lock() = Some(spawn("modelrunner-fetcher", move || fetch(&weak, &stopping, queues))?);
        let (weak, stopping) = (Arc::downgrade(shared), claims.stopping.clone());
        *claims.keeper.lock() = Some(spawn("modelrunner-keeper", move || keep(&weak, &stopping))?);
        Ok(())
    }

    /// Stops claiming (the keeper goes on renewing until [`Claims::stop_keeper`]).
    pub(crate) fn stop_fetcher(&self, shared: &Shared) {
        self.stopping.store(true, Ordering::Release);
        if let Some(queue) = shared.store.shared_queue() {
            queue.wake(Wake::Queued);
        }
        if let Some(t) = self.fetcher.lock().take() {
            let _ = t.join();
        }
    }

    pub(crate) fn stop_keeper(&self, shared: &Shared) {
        self.stopping.store(true, Ordering::Release);
        let Some(queue) = shared.store.shared_queue() else { return };
        queue.wake(Wake::Cancel);
        if let Some(t) = self.keeper.lock().take() {
            let _ = t.join();
        }
        queue.unregister_worker(&shared.worker);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(|e| Error::Internal(format!("cannot start the {name} thread: {e}")))
}

fn fetch(weak: &Weak<Shared>, stopping: &AtomicBool, queues: Option<Vec<String>>) {
    let mut wait = false;
    while !stopping.load(Ordering::Acquire) {
        let Some(shared) = weak.upgrade() else { return };
        let Some(queue) = shared.store.shared_queue() else { return };
        if wait {
            queue.wait(Wake::Queued, POLL);
            if stopping.load(Ordering::Acquire) {
                return;
            }
        }
        let capacity = shared.sched.capacity();
        if capacity.idle == 0 || !shared.accepting.load(Ordering::Acquire) {
            wait = true;
            continue;
        }
        let device = shared.config.read().device.clone();
        let request = ClaimRequest { limit: capacity.idle, queues: queues.clone(), exclude: capacity.full, device };
        match queue.claim(&shared.worker, &request) {
            Ok(runs) => {
                // Nothing more to take now, or every idle worker has a run: wait for the next notice.
                wait = runs.len() < request.limit || runs.is_empty();
                let mut live = shared.live.lock();
                for run in runs {
                    let attempt = Attempt { run_id: run.id.clone(), number: run.attempts, worker: shared.worker.clone() };
                    let (queue, priority, id) = (run.queue.clone(), run.priority, run.id.clone());
                    let claim = Some(Claim { attempt, at: Instant::now(), started: false });
                    live.insert(
                        id.clone(),
                        LiveRun { status: RunStatus::Running, token: CancelToken::default(), run: Arc::new(run), claim },
                    );
                    shared.sched.push(&queue, priority, id);
                }
            }
            Err(e) => {
                tracing::warn!("cannot claim runs: {e}");
                wait = true;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn keep(weak: &Weak<Shared>, stopping: &AtomicBool) {
    let Some(lease) = weak.upgrade().and_then(|s| s.store.shared_queue().map(|q| q.lease())) else { return };
    let renew_every = (lease / 4).min(Duration::from_secs(1));
    let rescue_every = (lease / 2).min(Duration::from_secs(2));
    let mut rescued = Instant::now();
    while !stopping.load(Ordering::Acquire) {
        let Some(shared) = weak.upgrade() else { return };
        let Some(queue) = shared.store.shared_queue() else { return };
        // A cancel anywhere wakes this at once; otherwise it renews on schedule.
        queue.wait(Wake::Cancel, renew_every);
        if let Err(e) = renew(&shared) {
            tracing::warn!("cannot renew the leases of this worker's runs: {e}");
        }
        if queue.wait(Wake::Config, Duration::ZERO)
            && let Err(e) = shared.reload_config()
        {
            tracing::warn!("cannot reload the configuration: {e}");
        }
        if rescued.elapsed() >= rescue_every {
            rescued = Instant::now();
            let max_attempts = shared.config.read().max_attempts;
            if let Err(e) = queue.rescue(&|tx, fx, run| recover_run(tx, fx, run, max_attempts)) {
                tracing::warn!("cannot rescue runs whose worker stopped: {e}");
            }
        }
    }
}

/// Renews this worker's leases; stops the runs cancelled elsewhere, and those it no longer holds (a
/// rescuer gave them to another attempt while this process could not renew).
fn renew(shared: &Shared) -> Result<()> {
    let Some(queue) = shared.store.shared_queue() else { return Ok(()) };
    let asked = Instant::now();
    let held = queue.renew(&shared.worker)?;
    let live = shared.live.lock();
    for (id, entry) in live.iter() {
        // Claimed after the renewal read the store: not in its answer yet.
        let Some(claim) = entry.claim.as_ref().filter(|c| c.at < asked) else { continue };
        if entry.status != RunStatus::Running {
            continue;
        }
        match held.iter().find(|h| h.run_id == *id) {
            Some(h) if h.attempt == claim.attempt.number => {
                if h.cancel_requested {
                    entry.token.cancel(CancelReason::Requested);
                }
            }
            _ => {
                tracing::warn!("run {id} is no longer this worker's (its lease ran out); stopping it here");
                entry.token.cancel(CancelReason::Lost);
            }
        }
    }
    Ok(())
}
