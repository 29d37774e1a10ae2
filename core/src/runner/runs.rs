//! Submitting, watching and cancelling runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;

use super::{LiveRun, Runner};
use crate::domain::common::{Page, new_id, now, ts_to_sql};
use crate::domain::run::{DEFAULT_QUEUE, LogLine, MetricPoint, Run, RunFilter, RunReport, RunResults, RunSpec, RunStatus};
use crate::error::{Error, Result};
use crate::events::{Event, EventBody, Subscription};
use crate::executor::{CancelReason, CancelToken, TaskSubmit};
use crate::store::{self, EventRecord, FinishRecord, Tx, get_run};

/// Most history events a subscription to all runs replays.
const MAX_REPLAY: u32 = 100_000;

impl Runner {
    /// Validates and durably stores a run, then queues it. Returns once the run is committed (with the
    /// configured durability); from then on it survives a crash.
    ///
    /// A spec with a `task` is executed by that registered task; one without is an external run whose
    /// caller reports its state with [`Runner::report_run`].
    pub fn submit(&self, spec: RunSpec) -> Result<Run> {
        let shared = self.shared();
        shared.ensure_accepting()?;
        spec.validate()?;
        let model = self.check_run_refs(&spec)?;
        if let Some(name) = &spec.task {
            let task = shared.tasks.read().get(name).cloned().ok_or_else(|| {
                Error::invalid("task", format!("no task is registered under {name:?} (registered: {})", self.task_names().join(", ")))
            })?;
            task.validate(&TaskSubmit { spec: &spec, model: model.as_ref(), runner: self })?;
        }
        let at = now();
        let run = Arc::new(Run {
            id: new_id("run"),
            seq: shared.store.reserve_run_seq(),
            kind: spec.kind,
            task: spec.task,
            name: spec.name,
            description: spec.description,
            model_id: spec.model_id,
            recipe_id: spec.recipe_id,
            recipe_version_id: spec.recipe_version_id,
            dataset_id: spec.dataset_id,
            project_id: spec.project_id,
            inputs: spec.inputs,
            hyperparams: spec.hyperparams,
            queue: spec.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_owned()),
            priority: spec.priority,
            status: RunStatus::Queued,
            progress: 0,
            message: None,
            current_epoch: None,
            current_loss: None,
            metrics: Map::new(),
            artifacts: Map::new(),
            results: None,
            error: None,
            attempts: 0,
            submitted_by: spec.submitted_by,
            device: spec.device,
            created_at: at,
            started_at: None,
            updated_at: at,
            finished_at: None,
            worker: None,
        });
        // With a shared queue, any process's worker claims the run from the store (the commit notifies
        // them); with SQLite, this process's workers take it from memory.
        let executable = run.task.is_some() && shared.store.shared_queue().is_none();
        let weak = Arc::downgrade(shared);
        let (id, queue, priority) = (run.id.clone(), run.queue.clone(), run.priority);
        let dispatch: Option<store::Hook> = executable.then(|| {
            Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.sched.push(&queue, priority, id);
                }
            }) as store::Hook
        });
        // The run is live before its insert is queued, and both happen under the `live` lock, so a
        // cancel always finds it and queues its write behind the insert.
        let stored = shared.store.insert_run(&run, dispatch, &mut |enqueue| {
            let mut live = shared.live.lock();
            if executable {
                live.insert(
                    run.id.clone(),
                    LiveRun { status: RunStatus::Queued, token: CancelToken::default(), run: run.clone(), claim: None },
                );
            }
            enqueue();
        });
        match stored {
            Ok(seq) => {
                let mut run = Arc::unwrap_or_clone(run);
                run.seq = seq;
                Ok(run)
            }
            Err(e) => {
                shared.live.lock().remove(&run.id);
                Err(e)
            }
        }
    }

    /// Referenced entities must exist; returns the model when one is named.
    fn check_run_refs(&self, spec: &RunSpec) -> Result<Option<crate::domain::model::Model>> {
        let any_ref = spec.model_id.is_some()
            || spec.recipe_id.is_some()
            || spec.recipe_version_id.is_some()
            || spec.dataset_id.is_some()
            || spec.project_id.is_some();
        if !any_ref {
            return Ok(None);
        }
        self.shared().store.read_tx(|tx| {
            let model = spec.model_id.as_deref().map(|id| store::get_doc(tx, id).map_err(|e| ref_error(e, "model_id"))).transpose()?;
            super::registry::check_recipe_refs(tx, spec.recipe_id.as_deref(), spec.recipe_version_id.as_deref())?;
            if let Some(id) = &spec.dataset_id {
                store::get_doc::<crate::domain::dataset::Dataset>(tx, id).map_err(|e| ref_error(e, "dataset_id"))?;
            }
            if let Some(id) = &spec.project_id {
                store::get_doc::<crate::domain::project::Project>(tx, id).map_err(|e| ref_error(e, "project_id"))?;
            }
            Ok(model)
        })
    }

    /// A run by id.
    pub fn get_run(&self, id: &str) -> Result<Run> {
        self.shared().get_run(id)
    }

    /// Runs matching `filter`, newest first, with the total count.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Page<Run>> {
        self.shared().store.read_tx(|tx| tx.run_list(filter))
    }

    /// Cancels a run. Queued: it becomes `cancelled` at once. Running: its task is asked to stop and
    /// the run ends `cancelled` at the task's next check (the returned run is usually still `running`;
    /// use [`Runner::wait`]). Already finished: a `Conflict` error.
    pub fn cancel_run(&self, id: &str) -> Result<Run> {
        let shared = self.shared();
        shared.ensure_accepting()?;
        let pending = {
            let mut live = shared.live.lock();
            match live.get_mut(id) {
                Some(entry) => match entry.status {
                    RunStatus::Queued => {
                        entry.status = RunStatus::Cancelled;
                        entry.token.cancel(CancelReason::Requested);
                        let (id, weak) = (id.to_owned(), Arc::downgrade(shared));
                        shared.store.write_pending(move |tx, fx| {
                            write_cancelled(tx, fx, &id, false)?;
                            fx.after_commit(move || {
                                if let Some(shared) = weak.upgrade() {
                                    shared.live.lock().remove(&id);
                                }
                            });
                            Ok(())
                        })
                    }
                    RunStatus::Running => {
                        entry.token.cancel(CancelReason::Requested);
                        let id = id.to_owned();
                        shared.store.write_pending(move |tx, fx| {
                            tx.event_push(fx, &EventRecord::new(&id, now(), EventBody::Log { line: "cancellation requested".into() })?)
                        })
                    }
                    done => {
                        return Err(Error::Conflict(format!("run {id} is already {done}; it cannot be cancelled")));
                    }
                },
                None => {
                    let id = id.to_owned();
                    shared.store.write_pending(move |tx, fx| cancel_stored(tx, fx, &id))
                }
            }
        };
        pending.wait()?;
        self.get_run(id)
    }

    /// Cancels a run and waits at most `timeout` for it to stop (a running task stops at its next
    /// check); returns the run as it then is — `cancelled`, or still `running` when time ran out.
    /// Unknown: `NotFound`; already finished: `Conflict`.
    pub fn cancel_and_wait(&self, id: &str, timeout: Duration) -> Result<Run> {
        let run = self.cancel_run(id)?;
        if run.status.is_terminal() {
            return Ok(run);
        }
        match self.wait(id, timeout) {
            Err(Error::Timeout(_)) => self.get_run(id),
            other => other,
        }
    }

    /// Waits until the run reaches a final status (or `timeout` passes: a `Timeout` error) and returns it.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<Run> {
        let deadline = Instant::now() + timeout;
        let mut sub = self.subscribe(id)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match sub.next_timeout(left) {
                Ok(Some(e)) if e.body.is_terminal() => break,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(()) => {
                    return Err(Error::Timeout(format!("run {id} did not finish within {timeout:?}")));
                }
            }
        }
        self.get_run(id)
    }

    /// Events of one run: its whole history first, then live events; ends after its final state.
    pub fn subscribe(&self, id: &str) -> Result<Subscription> {
        let shared = self.shared();
        shared.get_run(id)?;
        let (token, live) = shared.bus.register_run(id);
        let history = shared.store.read(|tx| tx.events_of(id, None));
        let finished = history.as_ref().map_or(true, |h| h.last().is_some_and(|e| e.body.is_terminal()));
        if finished {
            // No live event will come (or the read failed), and none would clean the registration up.
            shared.bus.unregister_run(id, token);
            return Ok(Subscription::new(history?, crossbeam_channel::never(), 0, true));
        }
        Ok(Subscription::new(history?, live, 0, true))
    }

    /// How many runs have live per-run subscriptions (they go when the run ends or the subscriber
    /// drops and the next event arrives).
    pub fn subscribed_runs(&self) -> usize {
        self.shared().bus.registered_runs()
    }

    /// Events of all runs. With `after = Some(id)`, events after that id are replayed first (at most
    /// 100,000); with `None`, only events from now on.
    pub fn subscribe_all(&self, after: Option<u64>) -> Result<Subscription> {
        let shared = self.shared();
        let live = shared.bus.register_all();
        match after {
            Some(after) => {
                let history = shared.store.read(|tx| tx.events_after(after, MAX_REPLAY))?;
                Ok(Subscription::new(history, live, after, false))
            }
            None => {
                let last = shared.store.read(|tx| tx.last_event_id())?;
                Ok(Subscription::new(Vec::new(), live, last, false))
            }
        }
    }

    /// The stored events of a run, in order.
    pub fn run_events(&self, id: &str) -> Result<Vec<Event>> {
        self.shared().store.read_tx(|tx| {
            get_run(tx, id)?;
            tx.events_of(id, None)
        })
    }

    /// The metric history of a run (all metrics, or the one named), in order.
    pub fn run_metric_history(&self, id: &str, name: Option<&str>) -> Result<Vec<MetricPoint>> {
        self.shared().store.read_tx(|tx| {
            get_run(tx, id)?;
            metric_history(tx, id, name)
        })
    }

    /// The log of a run, in order.
    pub fn run_logs(&self, id: &str) -> Result<Vec<LogLine>> {
        self.shared().store.read_tx(|tx| {
            get_run(tx, id)?;
            logs(tx, id)
        })
    }

    /// The results of a succeeded run; `NotReady` before that.
    pub fn run_results(&self, id: &str) -> Result<RunResults> {
        let run = self.get_run(id)?;
        match (run.status, run.results) {
            (RunStatus::Succeeded, Some(results)) => Ok(results),
            (RunStatus::Succeeded, None) => Ok(RunResults::default()),
            (status, _) => Err(Error::NotReady(format!("run {id} is {status}; results are available once it succeeds"))),
        }
    }

    /// Reports on a run (001's update): metrics, artifacts and log lines for any run; status, progress,
    /// message and error only for external runs (a run executed here is the executor's to move; reporting
    /// the status it already has is allowed and changes nothing).
    pub fn report_run(&self, id: &str, report: RunReport) -> Result<Run> {
        if let Some(p) = report.progress
            && p > 100
        {
            return Err(Error::invalid("progress", format!("must be between 0 and 100, got {p}")));
        }
        if let Some(metrics) = &report.metrics {
            for name in metrics.keys() {
                crate::executor::validate_metric_name(name)?;
            }
        }
        let id = id.to_owned();
        self.shared().store.write(move |tx, fx| apply_report(tx, fx, &id, report))
    }
}

pub(super) fn ref_error(e: Error, field: &str) -> Error {
    match e {
        Error::NotFound { kind, id } => Error::invalid(field, format!("{kind} {id} does not exist")),
        other => other,
    }
}

/// Ends a run `cancelled` at once (`only_queued`: unless a worker took it meanwhile; false then).
fn write_cancelled(tx: &dyn Tx, fx: &mut store::Effects, id: &str, only_queued: bool) -> Result<bool> {
    let at = now();
    let message = Some("cancelled by request".to_owned());
    let finish = FinishRecord::new(&at, RunStatus::Cancelled, message.as_deref(), None, None)?;
    if only_queued {
        if !tx.run_cancel_queued(id, &finish)? {
            return Ok(false);
        }
    } else {
        tx.run_set_final(id, &finish)?;
    }
    tx.event_push(fx, &EventRecord::state(id, at, RunStatus::Cancelled, message, None)?)?;
    Ok(true)
}

/// Cancels a run this process does not execute: a queued one at once, an external one at once, one a
/// worker elsewhere executes by asking that worker to stop it.
fn cancel_stored(tx: &dyn Tx, fx: &mut store::Effects, id: &str) -> Result<()> {
    let run = get_run(tx, id)?;
    if run.status.is_terminal() {
        return Err(Error::Conflict(format!("run {id} is already {}; it cannot be cancelled", run.status)));
    }
    match (run.status, run.task.is_some()) {
        // Unless a worker took it between the read and the write: then it is running.
        (RunStatus::Queued, _) if write_cancelled(tx, fx, id, true)? => return Ok(()),
        (_, false) => {
            write_cancelled(tx, fx, id, false)?;
            return Ok(());
        }
        _ => {}
    }
    tx.run_request_cancel(id)?;
    tx.notify(store::Notice::CancelRequested);
    tx.event_push(fx, &EventRecord::new(id, now(), EventBody::Log { line: "cancellation requested".into() })?)
}

/// The metric history of a run (all metrics, or the one named), in order.
fn metric_history(tx: &dyn Tx, id: &str, name: Option<&str>) -> Result<Vec<MetricPoint>> {
    let mut out = Vec::new();
    for event in tx.events_of(id, Some("metric"))? {
        if let EventBody::Metric { name: n, step, value } = event.body
            && name.is_none_or(|want| want == n)
        {
            out.push(MetricPoint { name: n, step, value, at: event.at });
        }
    }
    Ok(out)
}

fn logs(tx: &dyn Tx, id: &str) -> Result<Vec<LogLine>> {
    let mut out = Vec::new();
    for event in tx.events_of(id, Some("log"))? {
        if let EventBody::Log { line } = event.body {
            out.push(LogLine { at: event.at, line });
        }
    }
    Ok(out)
}

fn apply_report(tx: &dyn Tx, fx: &mut store::Effects, id: &str, report: RunReport) -> Result<Run> {
    let run = get_run(tx, id)?;
    let executed = run.task.is_some();
    // A status equal to the run's own is no move (a client confirming a finished run's outcome).
    let moves_state = report.status.is_some_and(|s| s != run.status) || report.progress.is_some() || report.error.is_some();
    if executed && moves_state {
        return Err(Error::Conflict(format!("run {id} is executed by the runner; only metrics, artifacts and logs can be reported")));
    }
    let at = now();
    let at_sql = ts_to_sql(&at);
    let error_json = report.error.as_ref().map(serde_json::to_string).transpose()?;
    if let Some(status) = report.status.filter(|s| *s != run.status) {
        if !run.status.can_move_to(status) {
            return Err(Error::Conflict(format!("run {id} cannot move from {} to {status}", run.status)));
        }
        tx.run_set_external_status(id, &at_sql, status)?;
        if let Some(error) = &error_json {
            tx.run_set_error(id, error)?;
        }
        tx.event_push(fx, &EventRecord::state(id, at, status, report.message.clone(), report.error.clone())?)?;
    } else if let Some(error) = &error_json {
        tx.run_set_error(id, error)?;
    }
    if report.progress.is_some() || report.message.is_some() {
        let progress = report.progress.unwrap_or(run.progress).max(run.progress);
        tx.run_report_progress(id, &at_sql, progress, report.message.as_deref())?;
        let body = EventBody::Progress { progress, message: report.message.clone(), epoch: None, loss: None };
        tx.event_push(fx, &EventRecord::new(id, at, body)?)?;
    }
    let metrics = report.metrics.unwrap_or_default();
    let artifacts = report.artifacts.unwrap_or_default();
    if !metrics.is_empty() || !artifacts.is_empty() {
        tx.run_merge(None, id, &serde_json::to_string(&metrics)?, &serde_json::to_string(&artifacts)?)?;
    }
    for (name, value) in &metrics {
        if let Some(v) = value.as_f64().filter(|v| v.is_finite()) {
            let step = metric_history(tx, id, Some(name))?.len() as u64;
            tx.event_push(fx, &EventRecord::new(id, at, EventBody::Metric { name: name.clone(), step, value: v })?)?;
        }
    }
    if let Some(text) = report.logs {
        for line in text.lines() {
            tx.event_push(fx, &EventRecord::new(id, at, EventBody::Log { line: line.to_owned() })?)?;
        }
    }
    if !metrics.is_empty() || !artifacts.is_empty() {
        tx.run_touch(id, &at_sql)?;
    }
    get_run(tx, id)
}
