//! `spe-trainer`: the command line of `spe`, with the libtorch commands run here.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    spe::cli::main(spe_trainer::commands::run)
}
