//! Data-parallel training over Gloo on one machine (loopback only): two ranks with global
//! batch B train as one process with global batch B, a rank killed mid-run makes the other
//! stop with an error, and a rank that finds no rendezvous says which address it tried.
//! Two ranks resume their run exactly.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tch::Tensor;

/// A port that was free a moment ago, for the rendezvous.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `spe-trainer train` on `shards` into `out` with the tiny model, as rank `rank` of
/// `ranks` where `ranks > 1`.
fn train(shards: &Path, out: &Path, steps: u32, rank: Option<(usize, usize, u16)>, extra: &[&str]) -> Command {
    let mut command = Command::new(spe_binary());
    command.args(["train", "--shards", &shards.display().to_string(), "--out", &out.display().to_string()]);
    command.args(["--config", &repo("pipelines/train-tiny.toml").display().to_string(), "--quiet"]);
    if !extra.contains(&"--device") {
        command.args(["--device", "cpu"]);
    }
    command.args(["--steps", &steps.to_string(), "--set", "log_every=2", "--set", "loader.micro_batch=8"]);
    command.args(["--set", "checkpoint_every=2", "--set", "keep_checkpoints=3"]).args(extra);
    for name in ["RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS"] {
        command.env_remove(name);
    }
    if let Some((rank, ranks, port)) = rank {
        command.env("RANK", rank.to_string()).env("WORLD_SIZE", ranks.to_string());
        command.env("MASTER_ADDR", "127.0.0.1").env("MASTER_PORT", port.to_string());
        command.env("SPE_DIST_TIMEOUT_S", "60");
    }
    command
}

fn spawn(mut command: Command) -> Child {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spe-trainer starts")
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait_at_most(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("the rank did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn losses(out: &Path) -> Vec<[f64; 4]> {
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            ["loss", "tbo", "spo", "cspo"].map(|k| r[k].as_f64().unwrap())
        })
        .collect()
}

fn weights(out: &Path) -> Vec<(String, Tensor)> {
    let mut all = Tensor::read_safetensors(out.join("span_encoders.safetensors")).unwrap();
    all.extend(Tensor::read_safetensors(out.join("encoder/model.safetensors")).unwrap());
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn shards(dir: &Path) -> PathBuf {
    let out = dir.join("shards");
    prep(&[&sample_text()], &out, &["--set", "shard.row_group_rows=8"]);
    out
}

#[test]
fn two_gloo_ranks_train_as_one_process_with_the_same_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    ok(train(&shards, &one, 6, None, &[]).output().unwrap());
    let outputs = two_ranks(&shards, &two, &[]);
    assert!(stderr(&outputs[1]).contains("rank 1 of 2: done; rank 0 wrote the run"), "{}", stderr(&outputs[1]));

    // The same losses at every logged step, within float rounding of a sum in another order.
    let (a, b) = (losses(&one), losses(&two));
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), a.len(), "rank 0 alone writes the metrics");
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "losses differ: {a:?} against {b:?}");
    }
    let (a, b) = (weights(&one), weights(&two));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let difference = (x - y).abs().max().double_value(&[]);
        assert!(difference <= 1e-5, "{name}: the final weights differ by {difference}");
    }

    // Two ranks resume the two-rank run from its step-4 checkpoint to the same weights.
    let cut = dir.path().join("cut");
    interrupted_copy(&two, &cut, "step-00000006");
    two_ranks(&shards, &cut, &["--resume"]);
    for ((name, x), (_, y)) in weights(&two).iter().zip(&weights(&cut)) {
        assert!(x.equal(y), "{name}: the resumed run's weights differ from the uninterrupted run's");
    }
}

/// Two ranks of `train` into `out`, both of which must succeed.
fn two_ranks(shards: &Path, out: &Path, extra: &[&str]) -> Vec<Output> {
    let port = free_port();
    let ranks: Vec<Child> = (0..2).map(|rank| spawn(train(shards, out, 6, Some((rank, 2, port)), extra))).collect();
    let outputs: Vec<Output> = ranks.into_iter().map(|r| wait_at_most(r, Duration::from_secs(300))).collect();
    for output in &outputs {
        assert!(output.status.success(), "a rank failed: {}", stderr(output));
    }
    outputs
}

#[test]
fn a_killed_rank_ends_the_other_with_an_error_and_a_missing_rendezvous_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path());
    let out = dir.path().join("run");
    let port = free_port();
    let rank0 = spawn(train(&shards, &out, 100_000, Some((0, 2, port)), &[]));
    let mut rank1 = spawn(train(&shards, &out, 100_000, Some((1, 2, port)), &[]));
    wait_for(&out.join("metrics.jsonl"), 120);
    rank1.kill().unwrap();
    let _ = rank1.wait();
    let started = Instant::now();
    let output = wait_at_most(rank0, Duration::from_secs(90));
    assert!(!output.status.success(), "rank 0 went on alone");
    // Whichever collective rank 0 was in (an all-reduce, the keys' all-gather) names the cause.
    assert!(stderr(&output).contains("failed (another rank stopped"), "{}", stderr(&output));
    eprintln!("rank 0 stopped {:.1} s after rank 1 was killed", started.elapsed().as_secs_f64());

    // Rank 1 alone, with nobody serving the rendezvous.
    let mut alone = train(&shards, &dir.path().join("alone"), 2, Some((1, 2, free_port())), &[]);
    alone.env("SPE_DIST_TIMEOUT_S", "2");
    let output = wait_at_most(spawn(alone), Duration::from_secs(60));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("rank 1 of 2 could not join the group at 127.0.0.1:"), "{message}");
    assert!(message.contains("(MASTER_ADDR, MASTER_PORT) within 2 s"), "{message}");
}

/// On a GPU only (`SPE_TEST_CUDA=1`; skipped elsewhere): one rank in a group of one, whose
/// collectives go through NCCL, trains as a plain CUDA process does.
#[test]
fn on_a_gpu_one_nccl_rank_trains_as_one_process() {
    if std::env::var_os("SPE_TEST_CUDA").is_none() {
        eprintln!("skipped: SPE_TEST_CUDA is not set (set it on a machine with a GPU)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path());
    let (one, group) = (dir.path().join("one"), dir.path().join("group"));
    let cuda = ["--device", "cuda:0", "--set", "optim.bf16=false"];
    ok(train(&shards, &one, 6, None, &cuda).output().unwrap());
    let output =
        wait_at_most(spawn(train(&shards, &group, 6, Some((0, 1, free_port())), &cuda)), Duration::from_secs(300));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("data-parallel over 1 rank (nccl)"), "{}", stderr(&output));
    let (a, b) = (losses(&one), losses(&group));
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() <= 1e-3 * x.abs().max(1.0), "losses differ: {a:?} against {b:?}");
    }
}
