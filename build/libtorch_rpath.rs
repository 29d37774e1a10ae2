//! Build script shared by the crates that link LibTorch: adds `$LIBTORCH/lib` (resolved) as an rpath,
//! so their tests, examples and binaries find LibTorch without `LD_LIBRARY_PATH`. torch-sys links it
//! but passes an rpath only to its own C++ step.

pub fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Some(root) = std::env::var_os("LIBTORCH") {
        let lib = std::path::Path::new(&root).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
