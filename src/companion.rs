//! `spe` runs its libtorch commands (`train`, `finetune`, `evaluate`, `predict`) in a
//! companion executable, `spe-trainer`, installed beside it.
//!
//! Why two executables: a process linked against libtorch pays for it at every start,
//! whatever it runs (about 0.4 s and 440 MiB while the dynamic loader maps and relocates
//! libtorch_cpu and its CUDA libraries), and users prepare and check corpora far more often
//! than they train. tch links libtorch into whatever uses it, and loading it at run time
//! would mean a second set of bindings; a second executable costs nothing. So `spe` (this
//! crate) has no libtorch in it, and `spe-trainer` (the `trainer/` crate) has the same
//! command line plus the network. `spe` replaces itself with `spe-trainer` (exec), so the
//! trainer's signals, exit status and terminal are the user's own, as if `spe` ran it.

use crate::cli::TorchCommand;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The companion executable's file name.
pub const TRAINER: &str = "spe-trainer";

/// Where `spe-trainer` must be: beside the running `spe` (both land in `target/release/`, or
/// in the same `bin/` when installed).
pub fn trainer_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running spe executable")?;
    Ok(exe.with_file_name(TRAINER))
}

/// Runs `command` in `spe-trainer` with this process's arguments: on Unix the process becomes
/// the trainer and this returns only on failure to start it.
pub fn run(command: TorchCommand) -> Result<()> {
    let trainer = trainer_path()?;
    if !trainer.is_file() {
        anyhow::bail!(
            "`spe {}` runs in {TRAINER}, which is not beside this spe (looked for {}); build it with \
             `cargo build --release --workspace` after installing PyTorch as docs/install.md describes",
            command.name(),
            trainer.display()
        );
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "spe".into());
    let mut child = Command::new(&trainer);
    child.args(args);
    Err(exec(child, arg0)).with_context(|| format!("cannot run {}", trainer.display()))
}

/// Replaces this process with `child`, keeping the name it was started by (for usage lines).
#[cfg(unix)]
fn exec(mut child: Command, arg0: std::ffi::OsString) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    child.arg0(arg0).exec()
}

#[cfg(not(unix))]
fn exec(mut child: Command, _: std::ffi::OsString) -> std::io::Error {
    match child.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => e,
    }
}
