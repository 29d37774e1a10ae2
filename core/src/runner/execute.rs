//! The worker side of a run: start it, run its task, write how it ended.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::domain::common::{now, ts_to_sql};
use crate::domain::run::{RunError, RunResults, RunStatus};
use crate::error::{Error, Result};
use crate::executor::{CancelReason, CancelToken, TaskContext, TaskOutput};
use crate::store::{Attempt, EventRecord, FinishRecord, RunWrite};
use serde_json::Map;

use super::Shared;

impl Shared {
    /// Executes one queued run on the calling worker thread. A run cancelled while queued is skipped.
    pub(crate) fn execute(self: &Arc<Self>, run_id: &str) {
        let device_default = self.config.read().device.clone();
        let (run, token, attempt) = {
            let mut live = self.live.lock();
            let Some(entry) = live.get_mut(run_id) else {
                return;
            };
            // Claimed from a shared queue: the claim started it in the store.
            if let Some(claim) = entry.claim.as_mut() {
                if claim.started || entry.status != RunStatus::Running {
                    return;
                }
                claim.started = true;
                let attempt = claim.attempt.clone();
                (Arc::clone(&entry.run), entry.token.clone(), attempt)
            } else {
                if entry.status != RunStatus::Queued {
                    return;
                }
                entry.status = RunStatus::Running;
                let mut run = (*entry.run).clone();
                run.attempts += 1;
                run.status = RunStatus::Running;
                let at = now();
                run.started_at = Some(at);
                run.device = Some(run.device.clone().unwrap_or(device_default));
                run.worker = Some(self.worker.to_string());
                let attempt = Attempt { run_id: run.id.clone(), number: run.attempts, worker: self.worker.clone() };
                match EventRecord::state(&run.id, at, RunStatus::Running, None, None) {
                    Ok(event) => {
                        let started = RunWrite::Started { attempt: attempt.clone(), at: ts_to_sql(&at), device: run.device.clone(), event };
                        self.store.record(started, None);
                    }
                    Err(e) => tracing::error!("cannot record the start of run {run_id}: {e}"),
                }
                (Arc::new(run), entry.token.clone(), attempt)
            }
        };
        let run = Arc::unwrap_or_clone(run);
        let task = run.task.as_deref().and_then(|name| self.tasks.read().get(name).cloned());
        let device = run.device.clone().unwrap_or_else(|| "cpu".into());
        let outcome = match task {
            // Cancelled before a worker took it.
            _ if token.is_cancelled() => Err(Error::Cancelled),
            None => Err(Error::not_found("task", run.task.clone().unwrap_or_default())),
            Some(task) => {
                let ctx = TaskContext::new(run, attempt.clone(), token.clone(), self.clone(), device);
                catch_unwind(AssertUnwindSafe(|| task.run(&ctx))).unwrap_or_else(|panic| {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(Error::Internal(format!("task panicked: {msg}")))
                })
            }
        };
        self.finish(attempt, outcome, &token);
    }

    /// Writes how a run ended. The live entry stays until that write commits, so a concurrent cancel
    /// sees a final status rather than a stale `running` row.
    fn finish(self: &Arc<Self>, attempt: Attempt, outcome: Result<TaskOutput>, token: &CancelToken) {
        let run_id = attempt.run_id.as_str();
        // Another attempt holds the run now: whatever this one would write is refused.
        if token.reason() == Some(CancelReason::Lost) {
            self.live.lock().remove(run_id);
            return;
        }
        // What a succeeded run wrote must be readable on every machine sharing the store.
        let outcome = match outcome {
            Ok(out) => match self.share_run_files(run_id) {
                Ok(()) => Ok(out),
                Err(e) => Err(Error::Storage(format!("the run's files could not be shared through the store: {e}"))),
            },
            failed => failed,
        };
        let (status, message, results, error, metrics, artifacts) = match outcome {
            Ok(out) => {
                let results = RunResults { summary: out.summary, rows: out.rows };
                (RunStatus::Succeeded, out.message, Some(results), None, out.metrics, out.artifacts)
            }
            // Shutdown: back to the queue for the next open; nothing else will dispatch it now.
            Err(_) if token.reason() == Some(CancelReason::Shutdown) => {
                (RunStatus::Queued, Some("requeued: the runner shut down while it ran".to_owned()), None, None, Map::new(), Map::new())
            }
            Err(_) if token.reason() == Some(CancelReason::Requested) => {
                (RunStatus::Cancelled, Some("cancelled by request".to_owned()), None, None, Map::new(), Map::new())
            }
            Err(e) => {
                let error = RunError { code: e.code().as_str().to_owned(), message: e.to_string() };
                (RunStatus::Failed, Some(e.to_string()), None, Some(error), Map::new(), Map::new())
            }
        };
        // Serialized before taking the live lock, which every submit and cancel takes too.
        let at = now();
        let prepared = (|| -> Result<RunWrite> {
            let maps = (!metrics.is_empty() || !artifacts.is_empty())
                .then(|| Ok::<_, serde_json::Error>((serde_json::to_string(&metrics)?, serde_json::to_string(&artifacts)?)))
                .transpose()?;
            let finish = FinishRecord::new(&at, status, message.as_deref(), results.as_ref(), error.as_ref())?;
            let event = EventRecord::state(run_id, at, status, message.clone(), error.clone())?;
            Ok(RunWrite::Finished { attempt: attempt.clone(), maps, finish, event })
        })();
        let write = match prepared {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("cannot record the end of run {run_id}: {e}");
                return;
            }
        };
        let (id, weak) = (run_id.to_owned(), Arc::downgrade(self));

        let mut live = self.live.lock();
        let Some(entry) = live.get_mut(run_id) else {
            return;
        };
        entry.status = status;
        // Back in the queue (shutdown), the run stays live for the next open; otherwise it leaves once its
        // end commits.
        let then: Option<crate::store::Hook> = (status != RunStatus::Queued).then(|| {
            Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.live.lock().remove(&id);
                }
            }) as crate::store::Hook
        });
        self.store.record(write, then);
    }
}
