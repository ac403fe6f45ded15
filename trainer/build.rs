//! Compiles the small libtorch shims of `src/runtime/` (bf16 autocast and peak CUDA
//! memory, c10d collectives, fused AdamW), lets the trainer's binaries find libtorch
//! without LD_LIBRARY_PATH, and keeps libtorch's CUDA libraries linked.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // torch-sys reports the libtorch it linked against (its `links = "tch"` metadata).
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports its libtorch directory");
    let lib = Path::new(&lib);
    let cuda = shim(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Nothing in spe calls into libtorch_cuda directly, so an as-needed link would drop it
    // and CUDA would never be found at run time; the shims built with the CUDA headers call
    // into c10_cuda (the caching allocator).
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        if cuda {
            println!("cargo:rustc-link-arg=-lc10_cuda");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// Compiles the shims against the headers beside `lib` (libtorch's and PyTorch's
/// layouts both keep `include/` next to `lib/`), with Gloo's, CUDA's and NCCL's where found;
/// returns whether CUDA's were.
fn shim(lib: &Path) -> bool {
    println!("cargo:rerun-if-changed=src/runtime/device.cpp");
    println!("cargo:rerun-if-changed=src/runtime/dist.cpp");
    println!("cargo:rerun-if-changed=src/runtime/adamw.cpp");
    println!("cargo:rerun-if-changed=src/runtime/shim.hpp");
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
    let cuda = cuda_includes(lib);
    match cuda.clone() {
        Some((dirs, nccl)) => {
            build.includes(dirs).define("SPE_WITH_CUDA", None).define("USE_CUDA", None);
            if nccl {
                build.define("SPE_WITH_NCCL", None).define("USE_C10D_NCCL", None);
            }
        }
        None if lib.join("libtorch_cuda.so").exists() => println!(
            "cargo:warning=the CUDA toolkit's headers were not found: on GPUs, data-parallel training goes \
             through Gloo, and peak GPU memory is not reported"
        ),
        None => {}
    }
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .file("src/runtime/device.cpp")
        .file("src/runtime/dist.cpp")
        .file("src/runtime/adamw.cpp")
        .compile("spe_shims");
    cuda.is_some()
}

/// Where the CUDA headers lie, for a CUDA libtorch, and whether NCCL's are among them:
/// the CUDA runtime's, the toolkit's `crt/` and CCCL's `nv/` (which libtorch's CUDA headers
/// include), and NCCL's (for ProcessGroupNCCL.hpp). A CUDA PyTorch wheel brings NCCL's and
/// the runtime's as pip packages beside it (`nvidia/nccl`, `nvidia/cu13`), into which
/// scripts/torch-env.sh installs the other two (nvidia-cuda-crt, nvidia-cuda-cccl); a CUDA
/// toolkit's can be named in SPE_CUDA_INCLUDE (directories separated by `:`).
fn cuda_includes(lib: &Path) -> Option<(Vec<std::path::PathBuf>, bool)> {
    println!("cargo:rerun-if-env-changed=SPE_CUDA_INCLUDE");
    if !lib.join("libtorch_cuda.so").exists() {
        return None;
    }
    let packages = lib.ancestors().nth(2)?.join("nvidia");
    let mut dirs: Vec<_> = ["cu13/include", "nccl/include"].iter().map(|d| packages.join(d)).collect();
    if let Some(extra) = std::env::var_os("SPE_CUDA_INCLUDE") {
        dirs.extend(std::env::split_paths(&extra));
    }
    dirs.retain(|d| d.is_dir());
    let found = |header: &str| dirs.iter().any(|d| d.join(header).exists());
    let cuda = ["cuda_runtime.h", "crt/host_config.h", "nv/target"].iter().all(|h| found(h));
    let nccl = found("nccl.h");
    cuda.then_some((dirs, nccl))
}

/// The C++ ABI of libtorch, as torch-sys decides it: PyTorch 2.11 wheels use the new one.
fn cxx11_abi() -> String {
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string())
}
