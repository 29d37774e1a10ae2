//! A queue that many worker processes share (an engine that several processes open at once): runs are
//! claimed in the store with a lease that the claiming process renews; a rescuer in every process gives
//! back (or fails) the runs whose lease ran out.

use std::sync::Arc;
use std::time::Duration;

use super::effects::Effects;
use super::records::Attempt;
use super::tx::Tx;
use crate::domain::run::Run;
use crate::error::Result;

/// What a claim may take.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    /// Most runs to claim.
    pub(crate) limit: usize,
    /// Only runs of these queues (`None`: any queue).
    pub(crate) queues: Option<Vec<String>>,
    /// Never runs of these queues (at their limit in this process).
    pub(crate) exclude: Vec<String>,
    /// The device a run that names none gets.
    pub(crate) device: String,
}

/// A run the store still counts as this worker's, as a renewal found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) run_id: String,
    pub(crate) attempt: u32,
    pub(crate) cancel_requested: bool,
}

/// A worker process as the store lists it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerRecord {
    pub(crate) id: Arc<str>,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) queues: Option<Vec<String>>,
    pub(crate) slots: usize,
}

/// What a process waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Runs were queued (or a worker of this process went idle).
    Queued,
    /// A running run was asked to stop.
    Cancel,
    /// The stored configuration changed.
    Config,
}

/// Recovers one run whose worker is gone: back to its queue or failed (the runner's rule).
pub(crate) type Recover<'a> = &'a dyn Fn(&dyn Tx, &mut Effects, &Run) -> Result<()>;

pub(crate) trait SharedQueue: Send + Sync {
    /// How long a claim holds a run without a renewal.
    fn lease(&self) -> Duration;
    /// Lists this process among the workers (and refreshes it).
    fn register_worker(&self, worker: &WorkerRecord) -> Result<()>;
    fn unregister_worker(&self, id: &str);
    /// Claims queued runs for `worker`, highest priority first, oldest first, skipping those another
    /// process is claiming; each comes back `running`, its attempt counted, with a fresh lease.
    fn claim(&self, worker: &Arc<str>, request: &ClaimRequest) -> Result<Vec<Run>>;
    /// Renews the lease of every run `worker` holds; returns them (a run missing was rescued).
    fn renew(&self, worker: &str) -> Result<Vec<Held>>;
    /// Recovers the runs whose lease ran out with `recover` (a run asked to stop is cancelled instead);
    /// returns how many.
    fn rescue(&self, recover: Recover<'_>) -> Result<usize>;
    /// Gives a claimed run that never started back to its queue, its attempt not counted.
    fn release(&self, attempt: &Attempt, message: &str) -> Result<()>;
    /// Runs of tasks waiting in queues.
    fn count_queued(&self) -> Result<u64>;
    /// Waits until `what` happens (true) or `timeout` passes (false).
    fn wait(&self, what: Wake, timeout: Duration) -> bool;
    /// Wakes this process's waiters of `what`.
    fn wake(&self, what: Wake);
}
