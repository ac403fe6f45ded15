//! `spe`: parses the command line and runs it; the libtorch commands run in `spe-trainer`.

use std::process::ExitCode;

// The pipeline allocates many small vectors on several threads at once, where glibc's
// allocator spends a fifth of the run; mimalloc's thread-local heaps avoid that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    spe::cli::main(spe::companion::run)
}
