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
/// closes, then prints each run's submit→start latency in nanoseconds, one per line.
pub fn child() -> bool {
    let Ok(url) = std::env::var(ROLE) else { return false };
    let latencies = std::sync::Arc::new(Mutex::new(Vec::new()));
    let lat = latencies.clone();
    let noop = move |ctx: &TaskContext| -> modelrunner::Result<TaskOutput> {
        let t0 = ctx.inputs()["t0"].as_u64().unwrap_or(0);
        lat.lock().push(unix_nanos().saturating_sub(t0));
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
    for l in latencies.lock().iter() {
        writeln!(out, "{l}").expect("stdout");
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
}

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
    let mut lat = Vec::new();
    for (child, out) in &mut workers {
        drop(child.stdin.take());
        lat.extend(out.lines().map_while(Result::ok).filter_map(|l| l.trim().parse::<u64>().ok()));
        child.wait().expect("the worker exits");
    }
    lat.sort_unstable();
    submitter.shutdown(Duration::from_secs(5));
    Outcome {
        runs_per_s: (per_thread * SUBMITTERS) as f64 / elapsed.as_secs_f64(),
        median_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    }
}

/// The plain job table: as many worker connections as our worker threads, each claiming one job at a
/// time and marking it done.
fn bench_peer(admin: &str, workers: usize, total: usize) -> Outcome {
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
    Outcome { runs_per_s: total as f64 / elapsed.as_secs_f64(), median_us: percentile(&lat, 0.5), p99_us: percentile(&lat, 0.99) }
}

/// Prints ours and the peer's rows for 1 and 3 worker processes.
pub fn compare(admin: &str, total: usize) {
    println!();
    println!("PostgreSQL ({SUBMITTERS} submitting threads, {WORKERS_PER_PROCESS} workers per process, durable submits)");
    println!("{:<34} {:>12} {:>14} {:>12} {:>16} {:>8}", "case", "runs/s", "start p50 µs", "start p99 µs", "peer runs/s", "ratio");
    for processes in [1, 3] {
        let ours = bench_ours(admin, processes, total);
        let peer = if std::env::var_os("MR_BENCH_NO_PEER").is_some() {
            Outcome { runs_per_s: f64::NAN, median_us: f64::NAN, p99_us: f64::NAN }
        } else {
            bench_peer(admin, processes * WORKERS_PER_PROCESS, total)
        };
        println!(
            "{:<34} {:>12.0} {:>14.0} {:>12.0} {:>16.0} {:>7.1}x",
            format!("no-op runs, {processes} worker process(es)"),
            ours.runs_per_s,
            ours.median_us,
            ours.p99_us,
            peer.runs_per_s,
            ours.runs_per_s / peer.runs_per_s
        );
        println!("{:<34} {:>12} {:>14.0} {:>12.0}", "  peer's submit→start", "", peer.median_us, peer.p99_us);
    }
}
