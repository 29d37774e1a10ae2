use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use modelrunner::{ConfigPatch, ErrorCode, RunKind, RunSpec, RunStatus, Runner, WorkerState};
use serde_json::json;

use crate::common::{Engine, WAIT, gated, open, options};

fn wait_status(r: &Runner, id: &str, status: RunStatus) {
    let deadline = Instant::now() + WAIT;
    while r.get_run(id).unwrap().status != status {
        assert!(Instant::now() < deadline, "run {id} never became {status}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn cancel_in_every_state(engine: Engine) {
    let gate = Arc::new(AtomicBool::new(false));
    let Some(r) = open(engine, options().task("gated", gated(gate.clone())).workers(1)) else { return };
    // running: the task observes the token and the run ends cancelled
    let running = r.submit(RunSpec::task(RunKind::Train, "stepper").with_inputs(json!({"steps": 100000, "pause_ms": 1}))).unwrap();
    wait_status(&r, &running.id, RunStatus::Running);
    // queued behind it: cancelled at once, never started
    let queued = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    let c = r.cancel_run(&queued.id).unwrap();
    assert_eq!(c.status, RunStatus::Cancelled);
    assert!(c.finished_at.is_some());
    let returned = r.cancel_run(&running.id).unwrap();
    // Returns at once: still running, or already cancelled when the task noticed within the same commit.
    assert!(matches!(returned.status, RunStatus::Running | RunStatus::Cancelled), "{:?}", returned.status);
    let done = r.wait(&running.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(done.progress < 100);
    let q = r.wait(&queued.id, WAIT).unwrap();
    assert_eq!((q.status, q.attempts, q.started_at), (RunStatus::Cancelled, 0, None));
    // finished (succeeded, failed, cancelled): conflict
    let ok = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    r.wait(&ok.id, WAIT).unwrap();
    let failed = r.submit(RunSpec::task(RunKind::Train, "failing")).unwrap();
    r.wait(&failed.id, WAIT).unwrap();
    for id in [&ok.id, &failed.id, &queued.id, &running.id] {
        assert_eq!(r.cancel_run(id).unwrap_err().code(), ErrorCode::Conflict, "{id}");
    }
    // unknown: not found
    assert_eq!(r.cancel_run("run_nope").unwrap_err().code(), ErrorCode::NotFound);
    // external runs, queued and running
    let ext = r.submit(RunSpec::external(RunKind::Eval)).unwrap();
    assert_eq!(r.cancel_run(&ext.id).unwrap().status, RunStatus::Cancelled);
    let ext2 = r.submit(RunSpec::external(RunKind::Eval)).unwrap();
    r.report_run(&ext2.id, modelrunner::RunReport { status: Some(RunStatus::Running), ..Default::default() }).unwrap();
    assert_eq!(r.cancel_run(&ext2.id).unwrap().status, RunStatus::Cancelled);
    gate.store(true, Ordering::Release);
}

fn cancelling_a_simulation_mid_run(engine: Engine) {
    let Some(r) = open(engine, options().workers(1)) else { return };
    let run = r
        .submit(RunSpec::task(RunKind::Simulate, "simulator").with_inputs(json!({"trials": modelrunner::tasks::simulator::MAX_TRIALS})))
        .unwrap();
    let mut sub = r.subscribe(&run.id).unwrap();
    // Wait for the first chunk's progress, then cancel.
    loop {
        let e = sub.next_timeout(WAIT).unwrap().unwrap();
        if matches!(e.body, modelrunner::EventBody::Progress { .. }) {
            break;
        }
    }
    r.cancel_run(&run.id).unwrap();
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(done.progress > 0 && done.progress < 100, "{}", done.progress);
    assert!(done.results.is_none());
}

fn workers_stop_start_and_restart(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    r.update_config(ConfigPatch { max_concurrent_workers: Some(4), ..Default::default() }).unwrap();
    let status = r.pool_status();
    assert_eq!((status.total_workers, status.active_workers, status.max_workers), (2, 2, 4));
    let stopped = r.stop_workers();
    assert_eq!(stopped.active_workers, 0);
    // Wait for the threads to notice.
    let deadline = Instant::now() + WAIT;
    while r.pool_status().workers.iter().any(|w| w.status != WorkerState::Stopped) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let run = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r.get_run(&run.id).unwrap().status, RunStatus::Queued, "no worker, no start");
    assert_eq!(r.pool_status().jobs_in_queue, 1);
    let e = r.start_workers(5).unwrap_err();
    assert_eq!(e.field(), Some("worker_count"));
    let started = r.start_workers(3).unwrap();
    assert_eq!(started.active_workers, 3);
    assert_eq!(r.wait(&run.id, WAIT).unwrap().status, RunStatus::Succeeded);
    let info = r.pool_status();
    assert_eq!(info.workers.iter().map(|w| w.jobs_completed).sum::<u64>(), 1);
    assert_eq!(info.jobs_in_queue, 0);
    let restarted = r.restart_workers().unwrap();
    assert_eq!(restarted.active_workers, 3);
    let again = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    assert_eq!(r.wait(&again.id, WAIT).unwrap().status, RunStatus::Succeeded);
    // Lowering the maximum stops the extra workers.
    let c = r.update_config(ConfigPatch { max_concurrent_workers: Some(1), ..Default::default() }).unwrap();
    assert_eq!(c.max_concurrent_workers, 1);
    assert_eq!(r.pool_status().active_workers, 1);
}

#[test]
fn shutdown_waits_then_requeues_what_is_still_running() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let id;
    {
        let r = Runner::open_with(&db, options().workers(1).shutdown_timeout(Duration::from_millis(100))).unwrap();
        id = r.submit(RunSpec::task(RunKind::Train, "stepper").with_inputs(json!({"steps": 1000000, "pause_ms": 1}))).unwrap().id;
        wait_status(&r, &id, RunStatus::Running);
        let t = Instant::now();
        r.shutdown(Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap_err().code(), ErrorCode::ShuttingDown);
        // Every other write is refused too, with the same code, and nothing waits forever.
        assert_eq!(r.create_model(modelrunner::ModelSpec::named("late")).unwrap_err().code(), ErrorCode::ShuttingDown);
        assert_eq!(r.cancel_run(&id).unwrap_err().code(), ErrorCode::ShuttingDown);
    }
    let r = Runner::open_with(&db, options().workers(0)).unwrap();
    let run = r.get_run(&id).unwrap();
    assert_eq!(run.status, RunStatus::Queued, "{run:?}");
    assert_eq!(r.pool_status().jobs_in_queue, 1);
}

#[test]
fn a_second_runner_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let first = Runner::open(&db).unwrap();
    assert_eq!(Runner::open(&db).unwrap_err().code(), ErrorCode::Conflict);
    // Once the first has shut down it writes nothing more, so the database is free while its handle lives.
    first.shutdown(Duration::from_secs(1));
    let second = Runner::open(&db).unwrap();
    assert_eq!(second.list_runs(&Default::default()).unwrap().total, 0);
    assert_eq!(first.submit(RunSpec::task(RunKind::Simulate, "simulator")).unwrap_err().code(), ErrorCode::ShuttingDown);
}

fn unknown_task_at_submit_is_a_validation_error(engine: Engine) {
    let Some(r) = open(engine, options()) else { return };
    let e = r.submit(RunSpec::task(RunKind::Train, "nope")).unwrap_err();
    assert_eq!((e.code(), e.field()), (ErrorCode::Validation, Some("task")));
    assert_eq!(r.list_runs(&Default::default()).unwrap().total, 0, "nothing written");
}

fn cancel_and_wait_returns_the_stopped_run_and_refuses_finished_or_unknown_ones(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let running = r.submit(RunSpec::task(RunKind::Train, "stepper").with_inputs(json!({"steps": 100000, "pause_ms": 1}))).unwrap();
    while r.get_run(&running.id).unwrap().status != RunStatus::Running {
        std::thread::sleep(Duration::from_millis(2));
    }
    let stopped = r.cancel_and_wait(&running.id, Duration::from_secs(10)).unwrap();
    assert_eq!(stopped.status, RunStatus::Cancelled, "it waited for the task to stop");
    assert!(matches!(r.cancel_and_wait(&running.id, Duration::from_secs(1)), Err(modelrunner::Error::Conflict(_))));
    assert!(matches!(r.cancel_and_wait("run_nope", Duration::from_secs(1)), Err(modelrunner::Error::NotFound { .. })));
}

crate::on_both_engines!(
    cancel_in_every_state,
    cancelling_a_simulation_mid_run,
    workers_stop_start_and_restart,
    unknown_task_at_submit_is_a_validation_error,
    cancel_and_wait_returns_the_stopped_run_and_refuses_finished_or_unknown_ones
);
