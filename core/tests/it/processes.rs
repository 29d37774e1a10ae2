//! Many real processes on one PostgreSQL database: worker processes (this test binary started again as
//! a child), a submitter killed with `-9`, a worker killed during a run, and the parent watching.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use modelrunner::{EventBody, RunFilter, RunKind, RunSpec, RunStatus, Runner, RunnerOptions, TaskContext, TaskOutput};
use serde_json::json;

use crate::common::{Engine, TestStore, fresh_store, options};

const CHILD: &str = "MODELRUNNER_PROCESS_CHILD";

/// Appends `line` to the process's log (the side effect that counts executions).
fn record(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open log");
    f.write_all(format!("{line}\n").as_bytes()).expect("append to log");
}

/// The tasks every process of a test serves, each logging to `log`.
fn child_options(log: PathBuf) -> RunnerOptions {
    let train_log = log.clone();
    options()
        .task("count", move |ctx: &TaskContext| {
            record(&log, &format!("ran {}", ctx.run().id));
            Ok(TaskOutput::default())
        })
        .task("train", move |ctx: &TaskContext| {
            let log = &train_log;
            record(log, &format!("started {} {}", ctx.run().id, std::process::id()));
            let steps = ctx.inputs()["steps"].as_u64().unwrap_or(100);
            for i in 0..steps {
                ctx.check_cancelled()?;
                ctx.epoch(i as u32, Some(1.0 / (i as f64 + 1.0)), i as f64 * 100.0 / steps as f64);
                std::thread::sleep(Duration::from_millis(20));
            }
            record(log, &format!("finished {}", ctx.run().id));
            Ok(TaskOutput::default())
        })
}

/// The children's body; a no-op unless started by [`spawn`].
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD) else { return };
    let url = std::env::var("MODELRUNNER_PROCESS_URL").unwrap();
    let data_dir = std::env::var("MODELRUNNER_PROCESS_DATA").unwrap();
    let workers: usize = std::env::var("MODELRUNNER_PROCESS_WORKERS").unwrap().parse().unwrap();
    let log = PathBuf::from(std::env::var("MODELRUNNER_PROCESS_LOG").unwrap());
    let lease: u64 = std::env::var("MODELRUNNER_PROCESS_LEASE_MS").map_or(1000, |l| l.parse().unwrap());
    let opts = child_options(log).workers(workers).lease(Duration::from_millis(lease)).data_dir(data_dir);
    let r = Runner::open_with(&url, opts).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {}", r.worker_id()).unwrap();
    out.flush().unwrap();
    match role.as_str() {
        // Executes runs until its stdin closes, then stops as a worker does on SIGTERM.
        "worker" => {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
            r.shutdown(Duration::from_secs(10));
        }
        // Submits until it is killed, each acknowledged run on a line.
        "submitter" => {
            for i in 0.. {
                let run = r.submit(RunSpec::task(RunKind::Inference, "count").with_inputs(json!({"i": i}))).unwrap();
                writeln!(out, "ACK {}", run.id).unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A child process of `role` on `store`, with its own data directory and log.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    worker_id: String,
    log: PathBuf,
}

/// A child with a 1 s lease: a killed worker's run is rescued quickly.
fn spawn(store: &TestStore, role: &str, workers: usize, name: &str) -> Proc {
    spawn_leased(store, role, workers, name, Duration::from_millis(1000))
}

fn spawn_leased(store: &TestStore, role: &str, workers: usize, name: &str, lease: Duration) -> Proc {
    let log = store.dir.path().join(format!("{name}.log"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["processes::child_entry", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env("MODELRUNNER_PROCESS_URL", &store.location)
        .env("MODELRUNNER_PROCESS_DATA", store.dir.path().join(format!("{name}.data")))
        .env("MODELRUNNER_PROCESS_WORKERS", workers.to_string())
        .env("MODELRUNNER_PROCESS_LOG", &log)
        .env("MODELRUNNER_PROCESS_LEASE_MS", lease.as_millis().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(store.dir.path().join(format!("{name}.err"))).unwrap())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let worker_id = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("READY ").map(|(_, id)| id.to_owned()))
        .expect("the child opened its runner");
    Proc { child, stdin, lines, worker_id, log }
}

impl Proc {
    /// Closes its stdin (a worker stops gracefully) and waits for it to exit.
    fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a worker did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

fn parent(store: &TestStore, workers: usize) -> Runner {
    let opts = child_options(store.dir.path().join("parent.log"))
        .workers(workers)
        .lease(Duration::from_millis(1000))
        .data_dir(store.dir.path().join("parent.data"));
    Runner::open_with(&store.location, opts).unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(r: &Runner, status: RunStatus) -> u64 {
    r.list_runs(&RunFilter { status: Some(status), ..RunFilter::default() }).unwrap().total
}

#[test]
fn three_worker_processes_execute_each_of_ten_thousand_runs_exactly_once() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let submitter = parent(&store, 0);
    // Exactly once holds while every worker heartbeats within its lease; the default 5 s keeps that
    // true on a CI machine whose two cores also run the training tests.
    let workers: Vec<Proc> = (0..3).map(|i| spawn_leased(&store, "worker", 2, &format!("worker{i}"), Duration::from_secs(5))).collect();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let r = submitter.clone();
                s.spawn(move || {
                    (0..2500)
                        .map(|i| r.submit(RunSpec::task(RunKind::Inference, "count").with_inputs(json!({"t": t, "i": i}))).unwrap().id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    wait_until("10,000 runs to succeed", Duration::from_secs(180), || count(&submitter, RunStatus::Succeeded) == 10_000);
    let worker_ids: HashSet<String> = workers.iter().map(|w| w.worker_id.clone()).collect();
    let mut executed: HashMap<String, usize> = HashMap::new();
    let logs: Vec<Vec<String>> = workers.iter().map(Proc::log_lines).collect();
    for w in workers {
        w.stop();
    }
    for line in logs.iter().flatten() {
        *executed.entry(line.trim_start_matches("ran ").to_owned()).or_default() += 1;
    }
    assert_eq!(executed.len(), 10_000, "every run executed");
    let twice: Vec<_> = executed.iter().filter(|(_, n)| **n != 1).collect();
    let detail: Vec<String> = twice
        .iter()
        .map(|(id, _)| {
            let run = submitter.get_run(id).unwrap();
            let states: Vec<String> = submitter
                .run_events(id)
                .unwrap()
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::State { status, message, .. } => Some(format!("{status:?}@{} {message:?}", e.at)),
                    _ => None,
                })
                .collect();
            format!("{id}: attempts {} worker {:?} states {states:?}", run.attempts, run.worker)
        })
        .collect();
    assert!(twice.is_empty(), "runs executed more than once: {detail:#?}");
    assert!(ids.iter().all(|id| executed.contains_key(id)));
    assert!(logs.iter().all(|l| !l.is_empty()), "each of the three processes executed runs");
    assert_eq!(count(&submitter, RunStatus::Queued), 0);
    for id in ids.iter().step_by(97) {
        let run = submitter.get_run(id).unwrap();
        assert!(worker_ids.contains(run.worker.as_deref().unwrap_or("")), "run {id} names the worker that executed it: {:?}", run.worker);
        assert_eq!(run.attempts, 1);
    }
}

#[test]
fn a_run_whose_worker_is_killed_is_rescued_and_completed_once() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let r = parent(&store, 0);
    let first = spawn(&store, "worker", 1, "first");
    let run = r.submit(RunSpec::task(RunKind::Train, "train").with_inputs(json!({"steps": 100}))).unwrap();
    wait_until("the first worker to start the run", Duration::from_secs(30), || first.log_lines().iter().any(|l| l.starts_with("started")));
    wait_until("progress from the first attempt", Duration::from_secs(30), || r.get_run(&run.id).unwrap().progress >= 10);
    let first_id = first.worker_id.clone();
    first.kill();
    let second = spawn(&store, "worker", 1, "second");
    let done = r.wait(&run.id, Duration::from_secs(60)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.worker.as_deref(), Some(second.worker_id.as_str()));
    assert_ne!(first_id, second.worker_id);
    let starts = std::fs::read_to_string(store.dir.path().join("first.log")).unwrap().lines().filter(|l| l.starts_with("started")).count()
        + second.log_lines().iter().filter(|l| l.starts_with("started")).count();
    assert_eq!(starts, 2, "executed twice: once killed, once to the end");
    let states: Vec<RunStatus> = r
        .run_events(&run.id)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::State { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(states, [RunStatus::Queued, RunStatus::Running, RunStatus::Queued, RunStatus::Running, RunStatus::Succeeded]);
    second.stop();
}

#[test]
fn every_run_a_killed_submitter_had_acknowledged_exists_and_runs() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let mut submitter = spawn(&store, "submitter", 0, "submitter");
    let mut acked = Vec::new();
    for line in submitter.lines.by_ref() {
        if let Some((_, id)) = line.unwrap().split_once("ACK ") {
            acked.push(id.to_owned());
            if acked.len() == 300 {
                break;
            }
        }
    }
    submitter.child.kill().unwrap();
    submitter.child.wait().unwrap();
    // Acknowledgements already in the pipe when the kill came count too.
    acked.extend(submitter.lines.map_while(Result::ok).filter_map(|l| l.split_once("ACK ").map(|(_, id)| id.to_owned())));
    let r = parent(&store, 2);
    for id in &acked {
        let run = r.wait(id, Duration::from_secs(60)).unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
}

#[test]
fn cancelling_from_another_process_stops_the_run_where_it_runs() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let r = parent(&store, 0);
    let worker = spawn(&store, "worker", 1, "worker");
    let run = r.submit(RunSpec::task(RunKind::Train, "train").with_inputs(json!({"steps": 100_000}))).unwrap();
    wait_until("the worker to start the run", Duration::from_secs(30), || worker.log_lines().iter().any(|l| l.starts_with("started")));
    let asked = Instant::now();
    r.cancel_run(&run.id).unwrap();
    let done = r.wait(&run.id, Duration::from_secs(10)).unwrap();
    assert_eq!(done.status, RunStatus::Cancelled);
    assert!(asked.elapsed() < Duration::from_secs(3), "stopped within a step or two, took {:?}", asked.elapsed());
    assert!(!worker.log_lines().iter().any(|l| l.starts_with("finished")));
    worker.stop();
}

#[test]
fn a_subscriber_follows_a_run_another_process_executes_history_then_live() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let r = parent(&store, 0);
    let worker = spawn(&store, "worker", 1, "worker");
    let run = r.submit(RunSpec::task(RunKind::Train, "train").with_inputs(json!({"steps": 40}))).unwrap();
    wait_until("the worker to start the run", Duration::from_secs(30), || worker.log_lines().iter().any(|l| l.starts_with("started")));
    let events: Vec<_> = r.subscribe(&run.id).unwrap().collect();
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, no duplicate: {ids:?}");
    let progress = events.iter().filter(|e| matches!(e.body, EventBody::Progress { .. })).count();
    assert!(progress >= 30, "live progress arrived ({progress} events)");
    assert!(events.last().unwrap().body.is_terminal());
    assert_eq!(events, r.run_events(&run.id).unwrap(), "the live stream is the stored history");
    worker.stop();
}

/// A model trained by a worker on one "machine" (its own data directory, removed afterwards) predicts
/// on another.
#[test]
fn a_model_trained_in_one_process_predicts_in_another() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let r = parent(&store, 0);
    let tables = crate::common::table_path("iris.csv").parent().unwrap().to_path_buf();
    r.update_config(modelrunner::ConfigPatch { data_root: Some(tables.display().to_string()), ..Default::default() }).unwrap();
    let trainer = spawn(&store, "worker", 1, "trainer");
    let job = modelrunner::TrainingJob { model_type: "random_forest".into(), data_path: "iris.csv".into(), ..Default::default() };
    let run = r.submit_training_job(job).unwrap();
    let done = r.wait(&run.id, Duration::from_secs(120)).unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    trainer.stop();
    let trainer_files = store.dir.path().join("trainer.data");
    assert!(Path::new(done.artifacts["model_path"].as_str().unwrap()).starts_with(&trainer_files));
    std::fs::remove_dir_all(&trainer_files).unwrap();
    drop(r);
    let predictor = parent(&store, 1);
    let (_, results) = predictor.predict(&run.id, json!([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]), Duration::from_secs(60)).unwrap();
    assert_eq!(results.rows[0]["prediction"], "setosa");
    assert_eq!(results.rows[1]["prediction"], "virginica");
}

#[test]
fn bad_locations_are_refused_at_open_naming_the_location_but_never_the_password() {
    let Some(store) = fresh_store(Engine::Postgres) else { return };
    let admin = crate::common::postgres_admin_url().unwrap();
    let host_port = admin.split('@').nth(1).unwrap().split('/').next().unwrap().to_owned();
    let open = |url: &str| Runner::open_with(url, options().workers(0).data_dir(store.dir.path().join("x"))).unwrap_err();

    let e = open(&format!("postgresql://mr_secret:wrong-pass-123@{host_port}/postgres"));
    assert_eq!(e.code(), modelrunner::ErrorCode::Storage);
    let msg = e.to_string();
    assert!(msg.contains("authentication failed") && msg.contains(&format!("postgresql://mr_secret@{host_port}/postgres")), "{msg}");
    assert!(!msg.contains("wrong-pass-123"), "the password is never shown: {msg}");

    let msg = open(&crate::common::with_database(&admin, "no_such_database_here")).to_string();
    assert!(msg.contains("does not exist") && msg.contains("no_such_database_here"), "{msg}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let msg = open(&format!("postgresql://postgres:pw@127.0.0.1:{closed}/postgres")).to_string();
    assert!(msg.contains(&format!("cannot connect to postgresql://postgres@127.0.0.1:{closed}/postgres")), "{msg}");
    assert!(!msg.contains(":pw@"), "{msg}");

    let e = open("postgresql://user:secret@[bad");
    assert!(!e.to_string().contains("secret"), "{e}");
}
