//! Compiles the small libtorch shims of `src/runtime/` (bf16 autocast, c10d collectives),
//! lets the trainer's binaries find libtorch without LD_LIBRARY_PATH, and keeps libtorch's
//! CUDA library linked.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // torch-sys reports the libtorch it linked against (its `links = "tch"` metadata).
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports its libtorch directory");
    let lib = Path::new(&lib);
    shim(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Nothing in spe calls into libtorch_cuda directly, so an as-needed link would drop it
    // and CUDA would never be found at run time.
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// Compiles the shims against the headers beside `lib` (libtorch's and PyTorch's
/// layouts both keep `include/` next to `lib/`).
fn shim(lib: &Path) {
    println!("cargo:rerun-if-changed=src/runtime/autocast.cpp");
    println!("cargo:rerun-if-changed=src/runtime/dist.cpp");
    let include = lib.parent().expect("libtorch's lib directory has a parent").join("include");
    let mut build = cc::Build::new();
    // ProcessGroupGloo.hpp includes Gloo's headers, which PyTorch wheels leave out. The shim
    // needs only their declarations (the group holds Gloo's objects behind shared pointers),
    // so any Gloo's serve: scripts/torch-env.sh points SPE_GLOO_INCLUDE at Debian's.
    println!("cargo:rerun-if-env-changed=SPE_GLOO_INCLUDE");
    match std::env::var_os("SPE_GLOO_INCLUDE").map(std::path::PathBuf::from) {
        Some(gloo) if gloo.join("gloo/algorithm.h").exists() => {
            build.include(gloo).define("USE_C10D_GLOO", None).define("SPE_WITH_GLOO", None);
        }
        _ => println!(
            "cargo:warning=Gloo's headers were not found (SPE_GLOO_INCLUDE, which scripts/torch-env.sh sets): \
             spe-trainer is built for one process only"
        ),
    }
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .define("USE_C10D_GLOO", None)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .file("src/runtime/autocast.cpp")
        .file("src/runtime/dist.cpp")
        .compile("spe_shims");
}

/// The C++ ABI of libtorch, as torch-sys decides it: PyTorch 2.11 wheels use the new one.
fn cxx11_abi() -> String {
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string())
}
