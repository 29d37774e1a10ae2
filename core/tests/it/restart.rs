//! A PostgreSQL server restarted while runs execute: on a server of its own (scripts/postgres.sh), so
//! that the other tests' server is not disturbed.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelrunner::{RunKind, RunSpec, RunStatus, Runner, TaskOutput};
use serde_json::json;

use crate::common::{options, postgres_admin_url};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");

/// A server of this test's own, stopped (by its pid) when dropped.
struct Server {
    dir: tempfile::TempDir,
    url: String,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("mr-pg-restart-").tempdir().unwrap();
        let out = Command::new("bash").args([SCRIPT, "start"]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let env = String::from_utf8(out.stdout).unwrap();
        let admin = env
            .lines()
            .find_map(|l| l.strip_prefix("export MODELRUNNER_TEST_POSTGRES='").map(|u| u.trim_end_matches('\'').to_owned()))
            .expect("the script prints the server's URL");
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute("CREATE DATABASE restart_test").unwrap();
        Self { url: crate::common::with_database(&admin, "restart_test"), dir }
    }

    fn restart(&self) {
        let out = Command::new("bash").args([SCRIPT, "restart"]).arg(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash").args([SCRIPT, "stop"]).arg(self.dir.path()).status();
    }
}

#[test]
fn workers_reconnect_after_a_server_restart_and_nothing_acknowledged_is_lost() {
    // Runs where the other PostgreSQL tests run (the server package is there).
    if postgres_admin_url().is_none() {
        crate::common::fresh_store(crate::common::Engine::Postgres);
        return;
    }
    let server = Server::start();
    let files = tempfile::tempdir().unwrap();
    let opts = options()
        .task("sleepy", |_: &modelrunner::TaskContext| {
            std::thread::sleep(Duration::from_millis(20));
            Ok(TaskOutput::default())
        })
        .workers(2)
        .data_dir(files.path());
    let r = Runner::open_with(&server.url, opts).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let submitter = {
        let (r, acked, refused) = (r.clone(), acked.clone(), refused.clone());
        std::thread::spawn(move || {
            for i in 0..300 {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    match r.submit(RunSpec::task(RunKind::Inference, "sleepy").with_inputs(json!({"i": i}))) {
                        Ok(run) => {
                            acked.lock().unwrap().push(run.id);
                            break;
                        }
                        // Not acknowledged while the server is away: the caller tries again.
                        Err(e) => {
                            assert!(Instant::now() < deadline, "the server never came back: {e}");
                            *refused.lock().unwrap() += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 80 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    server.restart();
    submitter.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 300);
    for id in &acked {
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            match r.wait(id, Duration::from_secs(60)) {
                Ok(run) => break run,
                Err(e) => {
                    assert!(Instant::now() < deadline, "run {id}: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
    eprintln!("{} submits were refused while the server restarted", refused.lock().unwrap());
}
