//! `spe` hands its libtorch commands to `spe-trainer` beside it: with every argument as
//! given and the trainer's exit status as its own, and with a message saying how to build
//! the trainer where it is missing.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// Held by each test from writing its executables until its last child has started. A
/// file being written cannot be executed ("Text file busy"), and a child forked by the
/// other test thread inherits the writer's descriptor until that child execs; so without
/// this lock one test's fork can make the other's freshly written `spe` unrunnable.
fn exclusive() -> MutexGuard<'static, ()> {
    static EXEC: Mutex<()> = Mutex::new(());
    EXEC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of `spe` in `dir`, so that a trainer can be put beside it (or not).
fn spe_in(dir: &Path) -> std::path::PathBuf {
    let spe = dir.join("spe");
    std::fs::copy(env!("CARGO_BIN_EXE_spe"), &spe).unwrap();
    spe
}

#[test]
fn a_missing_trainer_is_named_with_how_to_build_it() {
    let _exclusive = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(spe_in(dir.path())).args(["train", "--shards", "s", "--out", "o"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "`spe train` runs in spe-trainer, which is not beside this spe (looked for {}",
        dir.path().join("spe-trainer").display()
    );
    assert!(err.contains(&expected) && err.contains("cargo build --release --workspace"), "{err}");
}

#[test]
fn the_trainer_gets_every_argument_and_its_exit_status_is_spes() {
    let _exclusive = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let spe = spe_in(dir.path());
    let seen = dir.path().join("seen");
    let trainer = dir.path().join("spe-trainer");
    std::fs::write(&trainer, format!("#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" > '{}'\nexit 7\n", seen.display()))
        .unwrap();
    std::fs::set_permissions(&trainer, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = ["finetune", "--data", "a b", "--encoder", "e", "--out", "o", "--set", "optim.learning_rate=5e-5"];
    let output = Command::new(&spe).args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(7), "{}", String::from_utf8_lossy(&output.stderr));
    let seen = std::fs::read_to_string(&seen).unwrap();
    let mut lines = seen.lines();
    // A shell script's $0 is its path; the trainer itself sees spe's own name as argv[0].
    assert_eq!(lines.next(), Some(trainer.to_str().unwrap()));
    assert_eq!(lines.collect::<Vec<_>>(), args);
    // Bad flags are refused by spe itself, before any trainer runs.
    let output = Command::new(&spe).args(["train", "--no-such-flag"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
