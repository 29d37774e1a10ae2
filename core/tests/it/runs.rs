use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use modelrunner::{ErrorCode, PageRequest, RunFilter, RunKind, RunReport, RunSpec, RunStatus};
use serde_json::json;

use crate::common::{Engine, WAIT, gated, open, options};

fn simulator_runs_end_to_end(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let run =
        r.submit(RunSpec::task(RunKind::Simulate, "simulator").with_inputs(json!({"trials": 1000, "region": "NA", "year": 2024}))).unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    let done = r.wait(&run.id, WAIT).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(done.progress, 100);
    assert_eq!(done.attempts, 1);
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    let results = r.run_results(&run.id).unwrap();
    assert_eq!(results.rows.len(), 3);
    assert_eq!(results.rows[0]["kpi"], "revenue");
    assert_eq!(results.rows[0]["region"], "NA");
    assert_eq!(results.summary["trials"], 1000);
    let mean = results.summary["mean"].as_f64().unwrap();
    let (p5, p95) = (results.summary["p5"].as_f64().unwrap(), results.summary["p95"].as_f64().unwrap());
    assert!(p5 < mean && mean < p95, "{p5} {mean} {p95}");
    let history = r.run_metric_history(&run.id, Some("mean_revenue")).unwrap();
    assert_eq!(history.len(), 10, "one metric per chunk");
    assert_eq!(done.metrics["mean_revenue"], results.summary["mean"]);
    assert!(!r.run_logs(&run.id).unwrap().is_empty());
}

fn simulator_inputs_change_results_and_seed_makes_them_repeatable(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let mut means = Vec::new();
    for inputs in [
        json!({"trials": 1000, "region": "NA", "parameter_set": "baseline"}),
        json!({"trials": 1000, "region": "NA", "parameter_set": "baseline"}),
        json!({"trials": 1000, "region": "EU", "parameter_set": "baseline"}),
        json!({"trials": 1000, "region": "NA", "parameter_set": "optimistic"}),
    ] {
        let run = r.submit(RunSpec::task(RunKind::Simulate, "simulator").with_inputs(inputs)).unwrap();
        r.wait(&run.id, WAIT).unwrap();
        means.push(r.run_results(&run.id).unwrap().summary["mean"].as_f64().unwrap());
    }
    assert_eq!(means[0], means[1], "same inputs, same result");
    assert_ne!(means[0], means[2], "region changes the result");
    assert!(means[3] > means[0], "optimistic beats baseline: {means:?}");
}

fn results_are_not_ready_before_success(engine: Engine) {
    let gate = Arc::new(AtomicBool::new(false));
    let Some(r) = open(engine, options().task("gated", gated(gate.clone())).workers(1)) else { return };
    let run = r.submit(RunSpec::task(RunKind::Train, "gated")).unwrap();
    assert_eq!(r.run_results(&run.id).unwrap_err().code(), ErrorCode::NotReady);
    gate.store(true, Ordering::Release);
    r.wait(&run.id, WAIT).unwrap();
    assert!(r.run_results(&run.id).is_ok());
    assert_eq!(r.run_results("run_missing").unwrap_err().code(), ErrorCode::NotFound);
}

fn failing_and_panicking_tasks_are_recorded(engine: Engine) {
    let Some(r) = open(
        engine,
        options().task("panics", |_: &modelrunner::TaskContext| -> modelrunner::Result<modelrunner::TaskOutput> { panic!("boom") }),
    ) else {
        return;
    };
    let failed = r.submit(RunSpec::task(RunKind::Train, "failing")).unwrap();
    let panicked = r.submit(RunSpec::task(RunKind::Train, "panics")).unwrap();
    let failed = r.wait(&failed.id, WAIT).unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error.as_ref().unwrap().code, "VALIDATION");
    assert!(failed.error.unwrap().message.contains("inputs.x"));
    let panicked = r.wait(&panicked.id, WAIT).unwrap();
    assert_eq!(panicked.status, RunStatus::Failed);
    assert!(panicked.error.unwrap().message.contains("boom"));
    // The worker survived the panic.
    let ok = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    assert_eq!(r.wait(&ok.id, WAIT).unwrap().status, RunStatus::Succeeded);
}

fn many_threads_submit_at_once(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let r = r.clone();
                s.spawn(move || {
                    (0..50)
                        .map(|i| r.submit(RunSpec::task(RunKind::Inference, "echo").with_inputs(json!({"t": t, "i": i}))).unwrap().id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 400);
    for id in &ids {
        assert_eq!(r.wait(id, WAIT).unwrap().status, RunStatus::Succeeded);
    }
    let page = r.list_runs(&RunFilter { status: Some(RunStatus::Succeeded), ..RunFilter::default() }).unwrap();
    assert_eq!(page.total, 400);
    let seqs: HashSet<i64> = ids.iter().map(|id| r.get_run(id).unwrap().seq).collect();
    assert_eq!(seqs.len(), 400, "seq is unique");
}

fn listing_filters_and_pages_newest_first(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let model = r.create_model(modelrunner::ModelSpec::named("m")).unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut spec = RunSpec::external(if i % 2 == 0 { RunKind::Train } else { RunKind::Eval });
        if i < 3 {
            spec.model_id = Some(model.id.clone());
        }
        spec.queue = Some(if i % 3 == 0 { "gpu".into() } else { "cpu".into() });
        spec.submitted_by = Some(format!("user{}", i % 2));
        ids.push(r.submit(spec).unwrap().id);
    }
    let all = r.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(all.total, 7);
    assert_eq!(all.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids.iter().rev().cloned().collect::<Vec<_>>());
    let page = r.list_runs(&RunFilter { page: PageRequest::new(3, 2).unwrap(), ..RunFilter::default() }).unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    let count = |f: RunFilter| r.list_runs(&f).unwrap().total;
    assert_eq!(count(RunFilter { model_id: Some(model.id.clone()), ..Default::default() }), 3);
    assert_eq!(count(RunFilter { kind: Some(RunKind::Eval), ..Default::default() }), 3);
    assert_eq!(count(RunFilter { queue: Some("gpu".into()), ..Default::default() }), 3);
    assert_eq!(count(RunFilter { submitted_by: Some("user1".into()), kind: Some(RunKind::Eval), ..Default::default() }), 3);
    assert_eq!(count(RunFilter { status: Some(RunStatus::Running), ..Default::default() }), 0);
    r.report_run(&ids[0], RunReport { status: Some(RunStatus::Running), ..Default::default() }).unwrap();
    assert_eq!(count(RunFilter { status: Some(RunStatus::Running), ..Default::default() }), 1);
    let beyond = r.list_runs(&RunFilter { page: PageRequest::new(10, 100).unwrap(), ..RunFilter::default() }).unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
}

fn external_runs_are_reported_by_their_caller(engine: Engine) {
    let Some(r) = open(engine, options().workers(2)) else { return };
    let run = r.submit(RunSpec::external(RunKind::Train)).unwrap();
    let mut metrics = serde_json::Map::new();
    metrics.insert("revenue_lift".into(), json!(0.042));
    let mut artifacts = serde_json::Map::new();
    artifacts.insert("model_path".into(), json!("/tmp/model.pkl"));
    let updated = r
        .report_run(
            &run.id,
            RunReport {
                status: Some(RunStatus::Succeeded),
                metrics: Some(metrics),
                artifacts: Some(artifacts),
                logs: Some("Training started...\nEpoch 1/10...".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(updated.status, RunStatus::Succeeded);
    assert_eq!(updated.progress, 100);
    assert!(updated.finished_at.is_some());
    assert_eq!(updated.metrics["revenue_lift"], 0.042);
    assert_eq!(updated.artifacts["model_path"], "/tmp/model.pkl");
    assert_eq!(r.run_logs(&run.id).unwrap().len(), 2);
    assert_eq!(r.run_metric_history(&run.id, None).unwrap().len(), 1);
    // A finished run does not move again.
    let e = r.report_run(&run.id, RunReport { status: Some(RunStatus::Running), ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    // An executed run's status belongs to the executor.
    let exec = r.submit(RunSpec::task(RunKind::Train, "echo")).unwrap();
    r.wait(&exec.id, WAIT).unwrap();
    let e = r.report_run(&exec.id, RunReport { status: Some(RunStatus::Failed), ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = r.report_run(&run.id, RunReport { progress: Some(101), ..Default::default() }).unwrap_err();
    assert_eq!(e.field(), Some("progress"));
}

fn progress_never_goes_backwards(engine: Engine) {
    let Some(r) = open(
        engine,
        options().task("zigzag", |ctx: &modelrunner::TaskContext| {
            for p in [10.0, 50.0, 20.0, -5.0, 250.0, 70.0, f64::NAN] {
                ctx.progress(p, None);
            }
            Ok(modelrunner::TaskOutput::default())
        }),
    ) else {
        return;
    };
    let run = r.submit(RunSpec::task(RunKind::Train, "zigzag")).unwrap();
    let events = r.subscribe(&run.id).unwrap();
    let progress: Vec<u8> = events
        .filter_map(|e| match e.body {
            modelrunner::EventBody::Progress { progress, .. } => Some(progress),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![10, 50, 100]);
}

fn queue_limits_and_priorities_order_work(engine: Engine) {
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let gate = Arc::new(AtomicBool::new(false));
    let (o, g) = (order.clone(), gate.clone());
    let Some(r) = open(
        engine,
        options()
            .task("record", move |ctx: &modelrunner::TaskContext| {
                while !g.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                o.lock().push(ctx.inputs()["n"].as_i64().unwrap());
                Ok(modelrunner::TaskOutput::default())
            })
            .workers(1),
    ) else {
        return;
    };
    // The first run occupies the single worker; the rest wait and are taken by priority, FIFO within one.
    let mut ids = vec![r.submit(RunSpec::task(RunKind::Train, "record").with_inputs(json!({"n": 0}))).unwrap().id];
    std::thread::sleep(Duration::from_millis(50));
    for (n, prio) in [(1, 0), (2, 5), (3, 0), (4, 5), (5, -1)] {
        ids.push(r.submit(RunSpec::task(RunKind::Train, "record").with_inputs(json!({"n": n})).on_queue("q", prio)).unwrap().id);
    }
    gate.store(true, Ordering::Release);
    for id in &ids {
        r.wait(id, WAIT).unwrap();
    }
    assert_eq!(*order.lock(), vec![0, 2, 4, 1, 3, 5]);
}

fn a_queue_limit_caps_concurrency(engine: Engine) {
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (run_c, peak_c) = (running.clone(), peak.clone());
    let Some(r) = open(
        engine,
        options()
            .task("busy", move |_: &modelrunner::TaskContext| {
                let now = run_c.fetch_add(1, Ordering::SeqCst) + 1;
                peak_c.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                run_c.fetch_sub(1, Ordering::SeqCst);
                Ok(modelrunner::TaskOutput::default())
            })
            .workers(4)
            .queue_limit("gpu", 1),
    ) else {
        return;
    };
    let ids: Vec<String> = (0..8).map(|_| r.submit(RunSpec::task(RunKind::Train, "busy").on_queue("gpu", 0)).unwrap().id).collect();
    for id in &ids {
        r.wait(id, WAIT).unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

crate::on_both_engines!(
    simulator_runs_end_to_end,
    simulator_inputs_change_results_and_seed_makes_them_repeatable,
    results_are_not_ready_before_success,
    failing_and_panicking_tasks_are_recorded,
    many_threads_submit_at_once,
    listing_filters_and_pages_newest_first,
    external_runs_are_reported_by_their_caller,
    progress_never_goes_backwards,
    queue_limits_and_priorities_order_work,
    a_queue_limit_caps_concurrency
);
