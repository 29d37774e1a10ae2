//! The PostgreSQL engine against a plain `SKIP LOCKED` job table on the same server (see the file's
//! header in `runs_throughput.rs`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use modelrunner::{RunFilter, RunKind, RunSpec, RunStatus, Runner, RunnerOptions, TaskContext, TaskOutput};
use parking_lot::Mutex;
use serde_json::json;

use super::{percentile, unix_nanos};

const ROLE: &str = "MR_BENCH_PG_WORKER";
const SUBMITTERS: usize = 8;
const WORKERS_PER_PROCESS: usize = 2;

/// The body of a worker process (true when this process is one): executes no-op runs until its stdin
/// closes, then prints each run's phase (`burst` or `idle`) and submit→start latency in nanoseconds,
/// one per line.
pub fn child() -> bool {
    let Ok(url) = std::env::var(ROLE) else { return false };
    let latencies = std::sync::Arc::new(Mutex::new(Vec::new()));
    let lat = latencies.clone();
    let noop = move |ctx: &TaskContext| -> modelrunner::Result<TaskOutput> {
        let t0 = ctx.inputs()["t0"].as_u64().unwrap_or(0);
        let idle = ctx.inputs()["idle"].as_bool().unwrap_or(false);
        lat.lock().push((idle, unix_nanos().saturating_sub(t0)));
        Ok(TaskOutput::default())
    };
    let data = tempfile::tempdir().expect("temp dir");
    let options = RunnerOptions::new().task("noop", noop).workers(WORKERS_PER_PROCESS).data_dir(data.path());
    let runner = Runner::open_with(&url, options).expect("open the worker's runner");
    println!("READY");
    std::io::stdout().flush().expect("stdout");
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
    runner.shutdown(Duration::from_secs(5));
    let mut out = std::io::stdout().lock();
    for (idle, l) in latencies.lock().iter() {
        writeln!(out, "{} {l}", if *idle { "idle" } else { "burst" }).expect("stdout");
    }
    true
}

/// A fresh database on the server, dropped with it.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn fresh(admin: &str, name: &str) -> Self {
        let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("connect to MODELRUNNER_TEST_POSTGRES");
        // Two statements: a multi-statement batch is one transaction, which DROP DATABASE refuses.
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop the database");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the database");
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Self { admin: admin.to_owned(), name: name.to_owned(), url: format!("{base}/{name}") }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

struct Outcome {
    runs_per_s: f64,
    median_us: f64,
    p99_us: f64,
    /// Submit→start of one run submitted while every worker is idle.
    idle_median_us: f64,
    idle_p99_us: f64,
}

/// Runs submitted one at a time, each once the one before it finished, to measure idle latency.
const IDLE_RUNS: usize = 200;

fn spawn_worker(url: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(ROLE, url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the worker's first line");
    assert_eq!(line.trim(), "READY", "the worker did not open its runner");
    (child, out)
}

fn bench_ours(admin: &str, processes: usize, total: usize) -> Outcome {
    let db = Database::fresh(admin, "mr_bench_runs");
    let data = tempfile::tempdir().expect("temp dir");
    // The submitter knows the task (a submit checks it) and executes nothing; the schema exists before
    // the workers open.
    let noop = |_: &TaskContext| -> modelrunner::Result<TaskOutput> { Ok(TaskOutput::default()) };
    let options = RunnerOptions::new().task("noop", noop).workers(0).data_dir(data.path());
    let submitter = Runner::open_with(&db.url, options).expect("open the submitter");
    let mut workers: Vec<_> = (0..processes).map(|_| spawn_worker(&db.url)).collect();
    let per_thread = total / SUBMITTERS;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..SUBMITTERS {
            let runner = submitter.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    runner.submit(RunSpec::task(RunKind::Inference, "noop").with_inputs(json!({"t0": unix_nanos()}))).expect("submit");
                }
            });
        }
    });
    let succeeded = RunFilter { status: Some(RunStatus::Succeeded), ..RunFilter::default() };
    let deadline = Instant::now() + Duration::from_secs(300);
    while submitter.list_runs(&succeeded).expect("count").total < (per_thread * SUBMITTERS) as u64 {
        assert!(Instant::now() < deadline, "runs did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    for _ in 0..IDLE_RUNS {
        let spec = RunSpec::task(RunKind::Inference, "noop").with_inputs(json!({"t0": unix_nanos(), "idle": true}));
        let id = submitter.submit(spec).expect("submit").id;
        submitter.wait(&id, Duration::from_secs(30)).expect("the run finishes");
    }
    let (mut burst, mut idle) = (Vec::new(), Vec::new());
    for (child, out) in &mut workers {
        drop(child.stdin.take());
        for line in out.lines().map_while(Result::ok) {
            match line.trim().split_once(' ') {
                Some(("idle", l)) => idle.extend(l.parse::<u64>().ok()),
                Some((_, l)) => burst.extend(l.parse::<u64>().ok()),
                None => {}
            }
        }
        child.wait().expect("the worker exits");
    }
    burst.sort_unstable();
    idle.sort_unstable();
    submitter.shutdown(Duration::from_secs(5));
    Outcome {
        runs_per_s: (per_thread * SUBMITTERS) as f64 / elapsed.as_secs_f64(),
        median_us: percentile(&burst, 0.5),
        p99_us: percentile(&burst, 0.99),
        idle_median_us: percentile(&idle, 0.5),
        idle_p99_us: percentile(&idle, 0.99),
    }
}

/// The plain job table: as many worker connections as our worker threads, each claiming one job at a
/// time and marking it done.
fn bench_plain_loop(admin: &str, workers: usize, total: usize) -> Outcome {
    let db = Database::fresh(admin, "mr_bench_peer");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
    c.batch_execute(
        "CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, status TEXT NOT NULL DEFAULT 'queued', args JSONB NOT NULL, \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(), started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ); \
         CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';",
    )
    .expect("schema");
    let per_thread = total / SUBMITTERS;
    let total = per_thread * SUBMITTERS;
    let done = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(total));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut c = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
                let claim = c
                    .prepare(
                        "UPDATE jobs SET status = 'running', started_at = now() WHERE id = \
                         (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, args",
                    )
                    .expect("prepare");
                let finish = c.prepare("UPDATE jobs SET status = 'done', finished_at = now() WHERE id = $1").expect("prepare");
                while done.load(Ordering::Acquire) < total {
                    match c.query_opt(&claim, &[]).expect("claim") {
                        Some(row) => {
                            let id: i64 = row.get(0);
                            let args: serde_json::Value = row.get(1);
                            latencies.lock().push(unix_nanos().saturating_sub(args["t0"].as_u64().unwrap_or(0)));
                            c.execute(&finish, &[&id]).expect("finish");
                            done.fetch_add(1, Ordering::AcqRel);
                        }
                        None => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            });
        }
        for _ in 0..SUBMITTERS {
            s.spawn(|| {
                let mut c = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
                let insert = c.prepare("INSERT INTO jobs (args) VALUES ($1)").expect("prepare");
                for _ in 0..per_thread {
                    c.execute(&insert, &[&json!({"t0": unix_nanos()})]).expect("insert");
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let mut lat = latencies.into_inner();
    lat.sort_unstable();
    Outcome {
        runs_per_s: total as f64 / elapsed.as_secs_f64(),
        median_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        idle_median_us: f64::NAN,
        idle_p99_us: f64::NAN,
    }
}

/// PgQueuer measured by `benches/peers/pgqueuer_peer.py` on a fresh database; `None` when the Python
/// of `MODELRUNNER_PYTHON` (the setup's venv) is not there or lacks PgQueuer.
fn bench_pgqueuer(admin: &str, processes: usize, total: usize) -> Option<Outcome> {
    let python = std::env::var("MODELRUNNER_PYTHON").ok()?;
    let db = Database::fresh(admin, "mr_bench_pgqueuer");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/pgqueuer_peer.py");
    let out = Command::new(python).args([script, &db.url, &processes.to_string(), &total.to_string()]).stderr(Stdio::inherit()).output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!("  (PgQueuer did not run: {})", out.status);
            return None;
        }
        Err(e) => {
            println!("  (PgQueuer did not run: {e})");
            return None;
        }
    };
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Some(Outcome {
        runs_per_s: f("runs_per_s"),
        median_us: f("p50_us"),
        p99_us: f("p99_us"),
        idle_median_us: f("idle_p50_us"),
        idle_p99_us: f("idle_p99_us"),
    })
}

/// Prints, for 1 and 3 worker processes: ours, the peer (PgQueuer) with the ratio, and the plain
/// `SKIP LOCKED` loop, the least a queue on this server can do per run.
pub fn compare(admin: &str, total: usize) {
    let no_peer = std::env::var_os("MR_BENCH_NO_PEER").is_some();
    println!();
    println!("PostgreSQL ({SUBMITTERS} submitting threads, {WORKERS_PER_PROCESS} workers per process, durable submits, {total} runs)");
    println!(
        "{:<40} {:>10} {:>13} {:>13} {:>13} {:>13} {:>9}",
        "case", "runs/s", "burst p50 µs", "burst p99 µs", "idle p50 µs", "idle p99 µs", "ours ÷"
    );
    let row = |name: String, o: &Outcome, ratio: f64| {
        println!(
            "{:<40} {:>10.0} {:>13.0} {:>13.0} {:>13.0} {:>13.0} {:>8.1}x",
            name, o.runs_per_s, o.median_us, o.p99_us, o.idle_median_us, o.idle_p99_us, ratio
        );
    };
    for processes in [1, 3] {
        let ours = bench_ours(admin, processes, total);
        row(format!("modelrunner, {processes} worker process(es)"), &ours, f64::NAN);
        if no_peer {
            continue;
        }
        if let Some(peer) = bench_pgqueuer(admin, processes, total) {
            row(format!("  peer: PgQueuer, {processes} process(es)"), &peer, ours.runs_per_s / peer.runs_per_s);
        }
        let floor = bench_plain_loop(admin, processes * WORKERS_PER_PROCESS, total);
        row(format!("  floor: plain SKIP LOCKED, {} conns", processes * WORKERS_PER_PROCESS), &floor, ours.runs_per_s / floor.runs_per_s);
    }
}
