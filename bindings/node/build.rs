//! napi-rs's link setup for a Node addon, plus the rpath to LibTorch that every crate linking it gets
//! (so `require('modelrunner')` finds LibTorch without `LD_LIBRARY_PATH`).

#[path = "../../build/libtorch_rpath.rs"]
mod libtorch_rpath;

fn main() {
    napi_build::setup();
    libtorch_rpath::main();
}
