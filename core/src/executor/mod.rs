//! The executor: named priority queues, a resizable worker pool, cancellation tokens and the task API
//! that engines plug into.

mod context;
mod pool;
mod scheduler;
mod task;

pub use context::TaskContext;
pub(crate) use context::validate_metric_name;
pub(crate) use pool::{Exec, Pool};
pub(crate) use scheduler::Scheduler;
pub use task::{Task, TaskOutput, TaskSubmit};

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelReason {
    /// A caller cancelled it: it ends `cancelled`.
    Requested,
    /// The runner is shutting down: it goes back to `queued` for the next open.
    Shutdown,
    /// The worker lost the run (its lease ran out and another attempt has it): it ends here without a
    /// write.
    Lost,
}

/// A per-run flag that tasks poll; set by `cancel` or by shutdown.
#[derive(Debug, Clone, Default)]
pub(crate) struct CancelToken(Arc<AtomicU8>);

impl CancelToken {
    pub(crate) fn cancel(&self, reason: CancelReason) {
        let code = match reason {
            CancelReason::Requested => 1,
            CancelReason::Shutdown => 2,
            CancelReason::Lost => 3,
        };
        let _ = self.0.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn reason(&self) -> Option<CancelReason> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            1 => Some(CancelReason::Requested),
            2 => Some(CancelReason::Shutdown),
            _ => Some(CancelReason::Lost),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) != 0
    }
}
