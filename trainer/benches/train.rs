//! Training throughput and model FLOP utilisation of `spe train` on real Wikipedia shards:
//! the paper's model (BERT-base, span and span-pair encoders, TBO, SPO and CSPO with MoCo)
//! at the paper's global batch of 256 rows, through the real trainer (loader, gradient
//! accumulation, clipping, AdamW, momentum update, queues). It prints samples/s, real tokens/s,
//! model TFLOP/s (see `spe_trainer::train::flops`) and MFU against the device's dense bf16
//! peak, averaged over every step after the first (the warm-up), and on CUDA the peak GPU
//! memory of the run.
//!
//! ```text
//! cargo bench -p spe-trainer --bench train
//! ```
//!
//! Environment: `SPE_BENCH_DEVICE` (`cpu`, `cuda`; CUDA where there is one), `SPE_BENCH_SHARDS`
//! (a pre-training output; by default the bundled Wikipedia sample, prepared here),
//! `SPE_BENCH_BATCH` (the global batch: 256 on CUDA, 16 on the CPU, where a step of BERT-base
//! on 16 real rows takes about 6 s on 2 cores), `SPE_BENCH_MICRO` (the micro-batch: the whole
//! batch on CUDA, 16 on the CPU), `SPE_BENCH_STEPS` (20 on CUDA, 3 on the CPU),
//! `SPE_BENCH_PEAK_TFLOPS` (989, an H100's or H200's dense bf16 peak), `SPE_BENCH_BUCKET`
//! (`1`: micro-batches bucketed by length, `loader.bucket_by_length`), and `SPE_BENCH_DUMP`
//! (a file to write the micro-batches of the run to, for `benches/torch_reference.py`).
//! Under `cargo test` it trains the tiny model for two steps, to show that it works.

use spe::batch::shards::ShardSet;
use spe::config::Override;
use spe::corpus::wiki::WikiInput;
use spe::counts::plural;
use spe::prep::{PrepConfig, PrepOptions};
use spe_trainer::runtime::device::{cuda_peak_bytes, parse_device};
use spe_trainer::runtime::threads::Threads;
use spe_trainer::train::flops::rate;
use spe_trainer::train::{self, TrainOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Tensor;

fn repo(path: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

/// The bundled Wikipedia sample as pre-training shards in `dir`.
fn wiki_shards(dir: &Path) -> PathBuf {
    let out = dir.join("enwiki-sample");
    let inputs = WikiInput::pair(vec![repo("data/sample/enwiki-sample-multistream.xml.bz2")], Vec::new()).unwrap();
    let options = PrepOptions { out: out.clone(), threads: 0, force: true, partition: None };
    spe::prep::wiki(inputs, &PrepConfig::for_corpus(spe::corpus::CorpusName::Wiki), &options).unwrap();
    out
}

/// Writes the first `count` micro-batches the run read, as the trainer's loader gives them
/// (same configuration and seed), for the PyTorch reference: per micro-batch `k`, the token
/// ids of both views (`k.target`, `k.context`) and the attention mask (`k.mask`).
fn dump_batches(shards: &Path, options: &TrainOptions, count: usize, path: &Path) {
    let config = train::load_config(options).unwrap();
    let set = Arc::new(ShardSet::open(&[shards.to_path_buf()]).unwrap());
    let mut stream = set.stream(&config.loader, config.seed, 0).unwrap();
    let mut tensors = Vec::new();
    for k in 0..count {
        let batch = stream.next_batch().unwrap();
        let shape = [batch.rows as i64, batch.seq_len as i64];
        tensors.push((format!("{k}.target"), Tensor::from_slice(&batch.views[0].input_ids).view(shape)));
        tensors.push((format!("{k}.context"), Tensor::from_slice(&batch.views[1].input_ids).view(shape)));
        tensors.push((format!("{k}.mask"), Tensor::from_slice(&batch.attention_mask).view(shape)));
    }
    Tensor::write_safetensors(&tensors, path).unwrap();
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let device = parse_device(std::env::var("SPE_BENCH_DEVICE").ok().as_deref()).unwrap();
    let cuda = device.is_cuda();
    let batch: u64 = env_or("SPE_BENCH_BATCH", if cuda { 256 } else { 16 });
    let micro: u64 = env_or("SPE_BENCH_MICRO", if cuda { batch } else { 16.min(batch) });
    let steps: u64 = if bench { env_or("SPE_BENCH_STEPS", if cuda { 20 } else { 3 }) } else { 2 };
    let peak: f64 = env_or("SPE_BENCH_PEAK_TFLOPS", 989.0);

    let dir = tempfile::tempdir().unwrap();
    let shards = std::env::var_os("SPE_BENCH_SHARDS").map_or_else(|| wiki_shards(dir.path()), PathBuf::from);
    let set = |key: &str, value: u64| Override::new(key, value as i64);
    let options = TrainOptions {
        shards: vec![shards.clone()],
        out: dir.path().join("run"),
        init: None,
        // The paper's set-up (the built-in defaults), or the tiny model under `cargo test`.
        config: (!bench).then(|| repo("pipelines/train-tiny.toml")),
        overrides: vec![
            set("steps", steps),
            set("batch_size", batch),
            set("loader.micro_batch", micro),
            set("log_every", 1),
            set("checkpoint_every", steps),
            Override::new("loader.bucket_by_length", env_or("SPE_BENCH_BUCKET", 0u8) == 1),
        ],
        objectives: None,
        device: std::env::var("SPE_BENCH_DEVICE").ok(),
        resume: false,
        force: false,
        threads: Threads::Auto,
        launch: None,
        progress: false,
    };
    let summary = train::run(&options).unwrap();
    assert_eq!(summary.records.len() as u64, steps);

    let timed = &summary.records[1..];
    let mean = |f: fn(&train::step_record::StepRecord) -> f64| timed.iter().map(f).sum::<f64>() / timed.len() as f64;
    let (samples, tokens, tflops) =
        (mean(|r| r.samples_per_s), mean(|r| r.tokens_per_s), mean(|r| r.model_tflops_per_s));
    println!(
        "spe train, {} on {device:?}: global batch {batch}, micro-batch {micro}, {} after one warm-up step",
        if bench { "BERT-base (the paper's set-up)" } else { "the tiny model" },
        plural(timed.len() as u64, "timed step")
    );
    println!("  {samples:.1} samples/s, {tokens:.0} real tokens/s, {} of model FLOPs", rate(tflops * 1e12));
    if cuda {
        println!("  MFU {:.1}% of {peak} TFLOP/s", 100.0 * tflops / peak);
        match cuda_peak_bytes(device) {
            Some(bytes) => println!("  peak GPU memory {:.1} GiB", bytes as f64 / f64::from(1 << 30)),
            None => println!("  peak GPU memory unknown: spe-trainer was built without the CUDA headers"),
        }
    }
    if let Some(path) = std::env::var_os("SPE_BENCH_DUMP") {
        let accumulation = train::load_config(&options).unwrap().accumulation(1).unwrap() as u64;
        let micro_batches = (steps * accumulation) as usize;
        dump_batches(&shards, &options, micro_batches, Path::new(&path));
        println!("  the run's {micro_batches} micro-batches written to {}", Path::new(&path).display());
    }
}
