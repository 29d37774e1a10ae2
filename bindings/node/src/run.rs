//! `Run`: a handle on one run, and `RunEvents`: its event stream, read off the main thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use modelrunner::{Error, Subscription};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{record, records, settle};
use crate::records::{MetricPoint, RunEvent, RunRecord, RunResults, WaitOptions};

/// How long one blocking wait lasts before it looks again (for "no timeout", and to notice a closed stream).
const SLICE: Duration = Duration::from_millis(250);

/// One run: its id, the record as of the last refresh, and calls that read or change it. Every call
/// returns a Promise; none runs on the main thread.
#[napi]
#[derive(Debug)]
pub struct Run {
    runner: modelrunner::Runner,
    id: String,
    record: Arc<Mutex<RunRecord>>,
}

impl Run {
    pub(crate) fn new(runner: modelrunner::Runner, run: &modelrunner::Run) -> napi::Result<Self> {
        Ok(Self { runner, id: run.id.clone(), record: Arc::new(Mutex::new(record(run)?)) })
    }

    /// A Promise of the run's record after `work`, which also becomes the handle's record.
    fn refreshed<'env>(
        &self,
        env: &'env Env,
        work: impl FnOnce(modelrunner::Runner, String) -> modelrunner::Result<modelrunner::Run> + Send + 'static,
    ) -> napi::Result<PromiseRaw<'env, RunRecord>> {
        let (runner, id, slot) = (self.runner.clone(), self.id.clone(), Arc::clone(&self.record));
        settle(
            env,
            move || work(runner, id),
            move |run| {
                let fresh: RunRecord = record(&run)?;
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
                Ok(fresh)
            },
        )
    }
}

/// Waits for `id` to end: at most `timeout`, or as long as it takes.
fn wait_for(runner: &modelrunner::Runner, id: &str, timeout: Option<Duration>) -> modelrunner::Result<modelrunner::Run> {
    match timeout {
        Some(t) => runner.wait(id, t),
        None => loop {
            match runner.wait(id, Duration::from_secs(3600)) {
                Err(Error::Timeout(_)) => {}
                other => break other,
            }
        },
    }
}

/// `timeoutMs` as a duration; a negative or non-finite one is a validation error.
pub(crate) fn timeout_of(options: Option<&WaitOptions>) -> modelrunner::Result<Option<Duration>> {
    match options.and_then(|o| o.timeout_ms) {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
        Some(_) => Err(Error::invalid("timeout_ms", "must be a finite number of milliseconds, at least 0")),
    }
}

#[napi]
impl Run {
    /// The run's id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// The run's record as of the last call that read it (`refresh()`, `wait()`, `cancel()`, `status()`).
    #[napi(getter)]
    pub fn record(&self) -> RunRecord {
        self.record.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reads the run's record again.
    #[napi]
    pub fn refresh<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, RunRecord>> {
        self.refreshed(env, |runner, id| runner.get_run(&id))
    }

    /// The run's status now: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[napi(ts_return_type = "Promise<RunStatus>")]
    pub fn status<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, String>> {
        let (runner, id, slot) = (self.runner.clone(), self.id.clone(), Arc::clone(&self.record));
        settle(
            env,
            move || runner.get_run(&id),
            move |run| {
                let fresh: RunRecord = record(&run)?;
                let status = fresh.status.clone();
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                Ok(status)
            },
        )
    }

    /// Resolves with the final record once the run ends; rejects with `TimeoutError` when `timeoutMs`
    /// passes first (the run carries on).
    #[napi]
    pub fn wait<'env>(&self, env: &'env Env, options: Option<WaitOptions>) -> napi::Result<PromiseRaw<'env, RunRecord>> {
        let timeout = timeout_of(options.as_ref());
        self.refreshed(env, move |runner, id| wait_for(&runner, &id, timeout?))
    }

    /// Asks the run to stop: a queued run is cancelled at once, a running one at its next step.
    #[napi]
    pub fn cancel<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, RunRecord>> {
        self.refreshed(env, |runner, id| runner.cancel_run(&id))
    }

    /// The metric history (all metrics, or the one named), oldest first.
    #[napi]
    pub fn metrics<'env>(&self, env: &'env Env, name: Option<String>) -> napi::Result<PromiseRaw<'env, Vec<MetricPoint>>> {
        let (runner, id) = (self.runner.clone(), self.id.clone());
        settle(env, move || runner.run_metric_history(&id, name.as_deref()), |points| records(&points))
    }

    /// What the run produced (`NotReadyError` until it has succeeded).
    #[napi]
    pub fn results<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, RunResults>> {
        let (runner, id) = (self.runner.clone(), self.id.clone());
        settle(env, move || runner.run_results(&id), |results| record(&results))
    }

    /// The run's log lines.
    #[napi]
    pub fn logs<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        let (runner, id) = (self.runner.clone(), self.id.clone());
        settle(env, move || runner.run_logs(&id), |lines| Ok(lines.into_iter().map(|l| l.line).collect()))
    }

    /// Predicts with this training run's saved model: an inference run, waited for (at most `timeoutMs`,
    /// default 120 s); resolves with one row per sample. `inputs`: 004's 784 pixels, a list of them, or
    /// 002's comma-separated values.
    #[napi]
    pub fn predict<'env>(&self, env: &'env Env, inputs: Value, options: Option<WaitOptions>) -> napi::Result<PromiseRaw<'env, Vec<Value>>> {
        let (runner, id) = (self.runner.clone(), self.id.clone());
        let timeout = timeout_of(options.as_ref());
        settle(env, move || runner.predict(&id, inputs, timeout?.unwrap_or(Duration::from_secs(120))).map(|(_, results)| results.rows), Ok)
    }

    /// The run's events — its history first, then live ones — as an async iterator
    /// (`for await (const event of run.events())`); it ends after the run's final state.
    #[napi]
    pub fn events(&self) -> RunEvents {
        RunEvents {
            runner: self.runner.clone(),
            id: self.id.clone(),
            stream: Arc::new(Mutex::new(Stream::NotStarted)),
            closed: Arc::default(),
        }
    }
}

#[derive(Debug)]
enum Stream {
    NotStarted,
    Open(Subscription),
    Ended,
}

/// A run's event stream. `next()` resolves with the next event, or `null` once the run has ended;
/// `close()` stops it early. It is an async iterable.
#[napi]
#[derive(Debug)]
pub struct RunEvents {
    runner: modelrunner::Runner,
    id: String,
    stream: Arc<Mutex<Stream>>,
    closed: Arc<AtomicBool>,
}

#[napi]
impl RunEvents {
    /// The next event (the subscription opens on the first call), or `null` when the stream has ended.
    #[napi]
    pub fn next<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<RunEvent>>> {
        let (runner, id) = (self.runner.clone(), self.id.clone());
        let (stream, closed) = (Arc::clone(&self.stream), Arc::clone(&self.closed));
        settle(env, move || next_event(&runner, &id, &stream, &closed), |event| event.as_ref().map(record).transpose())
    }

    /// Ends the stream: a pending `next()` resolves with `null` within a quarter of a second.
    #[napi]
    pub fn close(&self) {
        // A `next()` in flight sees the flag at its next slice.
        self.closed.store(true, Ordering::Release);
    }
}

fn next_event(
    runner: &modelrunner::Runner,
    id: &str,
    stream: &Mutex<Stream>,
    closed: &AtomicBool,
) -> modelrunner::Result<Option<modelrunner::Event>> {
    let mut state = stream.lock().unwrap_or_else(PoisonError::into_inner);
    if closed.load(Ordering::Acquire) {
        *state = Stream::Ended;
    } else if matches!(*state, Stream::NotStarted) {
        *state = Stream::Open(runner.subscribe(id)?);
    }
    let Stream::Open(sub) = &mut *state else { return Ok(None) };
    loop {
        match sub.next_timeout(SLICE) {
            Ok(Some(event)) => return Ok(Some(event)),
            Ok(None) => {
                *state = Stream::Ended;
                return Ok(None);
            }
            Err(()) if closed.load(Ordering::Acquire) => {
                *state = Stream::Ended;
                return Ok(None);
            }
            Err(()) => {}
        }
    }
}
