//! Benchmarks of modelrunner; see `benches/` and `benches/README.md`.
