//! The AdamW update of the paper's model (BERT-base with the span, span-pair and head
//! parameters, about 134M) on its own: the seconds one optimizer step takes, with every
//! variable holding a gradient.
//!
//! ```text
//! cargo bench -p spe-trainer --bench adamw
//! ```
//!
//! Environment: `SPE_BENCH_DEVICE` (`cpu`, `cuda`; CUDA where there is one) and
//! `SPE_BENCH_STEPS` (10). Under `cargo test` it takes two steps of the tiny model.

use spe_trainer::model::{Encoder, Heads};
use spe_trainer::runtime::device::parse_device;
use spe_trainer::runtime::optim::AdamW;
use spe_trainer::train::TrainConfig;
use std::time::Instant;
use tch::nn;

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let device = parse_device(std::env::var("SPE_BENCH_DEVICE").ok().as_deref()).unwrap();
    let path = if benching { "pipelines/train.toml" } else { "pipelines/train-tiny.toml" };
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path);
    let config: TrainConfig = spe::config::load(Some(&path), &[]).unwrap();
    let steps: usize = match benching {
        true => std::env::var("SPE_BENCH_STEPS").ok().map_or(10, |s| s.parse().unwrap()),
        false => 2,
    };
    let vs = nn::VarStore::new(device);
    let _model = (Encoder::new(&vs.root(), &config.model), Heads::new(&vs.root(), &config.model));
    let variables = vs.trainable_variables();
    let parameters: i64 = variables.iter().map(|v| v.numel() as i64).sum();
    let mut optimizer = AdamW::new(&vs, &config.optim);
    let mut seconds = Vec::new();
    // Dense gradients for every variable, as a backward pass leaves them (the gradient of a
    // plain sum would be a broadcast view).
    let weights: Vec<tch::Tensor> = variables.iter().map(|v| v.rand_like()).collect();
    for _ in 0..=steps {
        let loss: tch::Tensor = variables.iter().zip(&weights).map(|(v, w)| (v * w).sum(tch::Kind::Float)).sum();
        loss.backward();
        let started = Instant::now();
        let _ = optimizer.step(1e-4);
        let _ = variables[0].sum(tch::Kind::Float).double_value(&[]); // waits for the device
        seconds.push(started.elapsed().as_secs_f64());
    }
    seconds.remove(0); // warm-up
    seconds.sort_by(f64::total_cmp);
    println!(
        "AdamW over {:.1}M parameters on {device:?}: median {:.1} ms a step (min {:.1}, max {:.1}, {} steps)",
        parameters as f64 / 1e6,
        seconds[seconds.len() / 2] * 1e3,
        seconds[0] * 1e3,
        seconds[seconds.len() - 1] * 1e3,
        seconds.len()
    );
}
