//! Helpers shared by the integration tests, of spe's crate and of the trainer's
//! (`trainer/tests/` includes this file).
#![allow(dead_code)] // each test binary uses a different subset

use spe::sample::Sample;
use spe::shard::schema::from_batch;
use spe::shard::Manifest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path inside the repository, whichever of its crates runs the test.
pub fn repo(path: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.ancestors().find(|dir| dir.join("Cargo.lock").exists()).expect("the repository holds Cargo.lock");
    root.join(path)
}

/// The executable under test: `spe`, or in the trainer's tests `spe-trainer`, which takes
/// the same command line and runs the libtorch commands itself.
pub fn spe_binary() -> &'static str {
    option_env!("CARGO_BIN_EXE_spe")
        .or(option_env!("CARGO_BIN_EXE_spe-trainer"))
        .expect("the test belongs to spe or to spe-trainer")
}

/// The bundled sample of real Wikipedia sentences.
pub fn sample_text() -> PathBuf {
    repo("data/sample/enwiki-sentences.txt")
}

/// The paper's vocabulary.
pub fn vocab() -> PathBuf {
    repo("data/bert-base-cased-vocab.txt")
}

/// Runs the `spe` binary (see [`spe_binary`]).
pub fn spe(args: &[&str]) -> Output {
    Command::new(spe_binary()).args(args).output().expect("spe runs")
}

/// Runs `spe prep text` on `inputs` into `out` with extra arguments; panics on failure,
/// and where it wrote one output (not the ranks of a partitioned run) unless `spe verify`
/// passes on it.
pub fn prep(inputs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let output = try_prep(inputs, out, extra);
    assert!(output.status.success(), "spe prep failed: {}", String::from_utf8_lossy(&output.stderr));
    verified(out);
    output
}

/// Checks the output in `dir` with `spe verify`, where it has a manifest.
pub fn verified(dir: &Path) {
    if dir.join("_manifest.json").is_file() {
        let checked = spe(&["verify", dir.to_str().unwrap()]);
        assert!(checked.status.success(), "spe verify {} failed: {}", dir.display(), stderr(&checked));
    }
}

/// Runs `spe` and fails the test, rather than hang it, when it takes more than `limit_s`
/// seconds (a read that blocks).
pub fn spe_within(args: &[&str], limit_s: u64) -> Output {
    let mut child = Command::new(spe_binary())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spe runs");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() >= limit_s {
            child.kill().unwrap();
            panic!("spe {args:?} ran for more than {limit_s} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A tiny pre-training run of a few steps on 64 real Wikipedia sentences, in `dir`: its
/// shards (`pretrain-shards`) and the run (`pretrain-run`: its encoder/ and span
/// encoders).
pub fn tiny_pretraining(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let few: String = text.lines().take(64).map(|l| format!("{l}\n")).collect();
    let input = dir.join("pretrain.txt");
    std::fs::write(&input, few).unwrap();
    let shards = dir.join("pretrain-shards");
    prep(&[&input], &shards, &[]);
    let run = dir.join("pretrain-run");
    let config = repo("pipelines/train-tiny.toml");
    let mut args = vec!["train", "--shards", s(&shards), "--out", s(&run), "--config", s(&config)];
    args.extend(["--steps", "2", "--device", "cpu", "--quiet", "--set", "moco.queue_size=64"]);
    ok(spe(&args));
    (shards, run)
}

/// A path as a command line's argument.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `spe prep text` and returns whatever happened.
pub fn try_prep(inputs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["prep".into(), "text".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string(), "--tokenizer".into(), vocab().display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    spe(&refs)
}

/// Every row of an output, in shard order.
pub fn read_rows(dir: &Path) -> Vec<Sample> {
    let manifest = Manifest::read(dir).unwrap();
    let mut rows = Vec::new();
    for shard in &manifest.shards {
        let file = std::fs::File::open(dir.join(&shard.file)).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        for batch in reader {
            rows.extend(from_batch(&batch.unwrap()).unwrap());
        }
    }
    rows
}

/// Standard error of a run, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `output` of a run that must have succeeded; panics with its standard error otherwise.
pub fn ok(output: Output) -> Output {
    assert!(output.status.success(), "spe failed: {}", stderr(&output));
    output
}

/// Waits until `path` exists, as a user watching a long run would; fails after `limit_s`
/// seconds.
pub fn wait_for(path: &Path, limit_s: u64) {
    let started = std::time::Instant::now();
    while !path.exists() {
        assert!(started.elapsed().as_secs() < limit_s, "{} did not appear in {limit_s} s", path.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIG`signal` (`TERM`, `INT`) to `child`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
    assert!(sent.unwrap().success(), "kill -{signal} failed");
}

/// `run` copied to `cut` as if interrupted before `checkpoint` (its last) and the export.
pub fn interrupted_copy(run: &Path, cut: &Path, checkpoint: &str) {
    copy_dir(run, cut);
    std::fs::remove_dir_all(cut.join("checkpoints").join(checkpoint)).unwrap();
    std::fs::remove_dir_all(cut.join("encoder")).unwrap();
}

/// Copies the tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
