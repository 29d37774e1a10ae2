//! Helpers shared by the integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use modelrunner::{Error, Runner, RunnerOptions, TaskContext, TaskOutput};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(60);

/// A task that finishes at once with its inputs echoed in the summary.
pub fn echo(ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    let mut out = TaskOutput::default();
    out.summary.insert("echo".into(), ctx.inputs().clone());
    Ok(out)
}

/// A task that loops in small steps until cancelled or `inputs.steps` steps are done.
pub fn stepper(ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    let steps = ctx.inputs().get("steps").and_then(|v| v.as_u64()).unwrap_or(10_000);
    let pause = ctx.inputs().get("pause_ms").and_then(|v| v.as_u64()).unwrap_or(5);
    for i in 0..steps {
        ctx.check_cancelled()?;
        ctx.progress(i as f64 * 100.0 / steps as f64, None);
        ctx.metric("loss", i, 1.0 / (i as f64 + 1.0))?;
        std::thread::sleep(Duration::from_millis(pause));
    }
    let mut out = TaskOutput::default();
    out.summary.insert("steps".into(), json!(steps));
    Ok(out)
}

/// A task that fails with a validation error.
pub fn failing(_ctx: &TaskContext) -> modelrunner::Result<TaskOutput> {
    Err(Error::invalid("inputs.x", "always fails"))
}

/// A task blocked until the gate opens (or it is cancelled).
pub fn gated(gate: Arc<AtomicBool>) -> impl Fn(&TaskContext) -> modelrunner::Result<TaskOutput> + Send + Sync + 'static {
    move |ctx| {
        while !gate.load(Ordering::Acquire) {
            ctx.check_cancelled()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(TaskOutput::default())
    }
}

pub fn options() -> RunnerOptions {
    RunnerOptions::new().task("echo", echo).task("stepper", stepper).task("failing", failing).shutdown_timeout(Duration::from_secs(5))
}

pub fn runner() -> Runner {
    Runner::in_memory_with(options().workers(2)).expect("open in-memory runner")
}

/// A real table of scikit-learn's that `scripts/setup.sh` extracted (iris.csv, wine.csv, …).
pub fn table_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("MODELRUNNER_TABLES_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/modelrunner/sklearn-1.7.2")))
        .filter(|d| d.join("iris.csv").is_file())
        .expect("scikit-learn tables not found: run `eval \"$(scripts/setup.sh)\"` (scripts/test.sh does)");
    dir.join(name)
}
