//! Benchmarks of modelrunner; see `benches/` and `benches/README.md`. What several of them share lives
//! here.

use std::path::PathBuf;

/// The snapshot directory of all-MiniLM-L6-v2 in the local model cache, and the setup's Python (with
/// torch and transformers), for the text benchmarks. Panics with what to run when either is missing.
pub fn minilm_and_python() -> (PathBuf, String) {
    let found = modelrunner::model_cache::check(&modelrunner::model_cache::default_dir(), "sentence-transformers/all-MiniLM-L6-v2")
        .expect("model cache");
    let dir = PathBuf::from(found.path.expect("all-MiniLM-L6-v2: run `eval \"$(scripts/setup.sh)\"` first"));
    let python = std::env::var("MODELRUNNER_PYTHON").expect("run `eval \"$(scripts/setup.sh)\"` first");
    (dir, python)
}

/// Runs a peer script of `benches/` (`script`, relative to it) with the setup's Python, offline, feeding
/// it `input` on stdin; its last stdout line, parsed as JSON. Panics with the script's stderr when it
/// fails.
pub fn run_python_peer(python: &str, script: &str, args: &[String], input: &str) -> serde_json::Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut child = Command::new(python)
        .arg(&path)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the peer runs");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("the peer reads its input");
    let out = child.wait_with_output().expect("the peer ends");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default()).expect("a JSON line")
}
