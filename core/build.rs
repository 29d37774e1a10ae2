//! The core's build script: LibTorch's rpath (shared with the other crates that link it), and the one
//! C++ entry point into LibTorch that tch does not bind (`csrc/conv_backward.cpp`), compiled against
//! the same LibTorch headers torch-sys uses.

#[path = "../build/libtorch_rpath.rs"]
mod libtorch_rpath;

fn main() {
    libtorch_rpath::main();
    println!("cargo:rerun-if-changed=csrc/conv_backward.cpp");
    let root = std::path::PathBuf::from(
        std::env::var_os("LIBTORCH").expect("LIBTORCH must name the LibTorch folder (run `eval \"$(scripts/setup.sh)\"`)"),
    );
    cc::Build::new()
        .cpp(true)
        .file("csrc/conv_backward.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into())))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("modelrunner_libtorch");
}
