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
