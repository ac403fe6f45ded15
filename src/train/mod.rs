//! `spe train`: pre-trains the sentence, span and span-pair encoders on spe's shards with
//! TBO, SPO and CSPO (paper §3.2 and §3.3).
//!
//! One optimizer step takes `optim.batch_size` rows as micro-batches of
//! `loader.micro_batch` rows whose gradients accumulate. After the step the momentum
//! encoder follows the query encoder and the step's keys enter the queues. Every source of
//! randomness is keyed by the seed and the position in the run (torch's generator is
//! re-seeded before each micro-batch, the loader's order depends on the row index only),
//! so a run resumed from a checkpoint computes what the uninterrupted run would have.

pub mod checkpoint;
pub mod export;
pub mod metrics;
pub mod moco;
pub mod objectives;
pub mod optim;

use crate::batch::loader::{LoaderConfig, ShardSet};
use crate::config::{self, Override};
use crate::model::bert::{self, BertConfig};
use crate::model::{load_variables, Encoder, Heads, ModelConfig, BERT_PREFIX};
use anyhow::{bail, ensure, Context, Result};
use checkpoint::Checkpoint;
use indicatif::{ProgressBar, ProgressStyle};
use metrics::{Metrics, StepRecord};
use moco::Moco;
use objectives::{losses, DeviceBatch};
use optim::{learning_rate, AdamW};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// Weights of the objectives in the loss; 0 turns one off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    /// Token boundary objective.
    pub tbo: f64,
    /// Span permutation objective.
    pub spo: f64,
    /// Contrastive span pair objective.
    pub cspo: f64,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig { tbo: 0.5, spo: 1.0, cspo: 0.3 }
    }
}

impl ObjectiveConfig {
    /// Keeps the weights of the objectives named in `list` (comma-separated `tbo`, `spo`,
    /// `cspo`) and sets the others to 0.
    pub fn keep_only(&mut self, list: &str) -> Result<()> {
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        for name in &names {
            ensure!(["tbo", "spo", "cspo"].contains(name), "unknown objective {name:?}: expected tbo, spo or cspo");
        }
        ensure!(!names.is_empty(), "--objectives needs at least one of tbo, spo, cspo");
        for (name, weight) in [("tbo", &mut self.tbo), ("spo", &mut self.spo), ("cspo", &mut self.cspo)] {
            if !names.contains(&name) {
                *weight = 0.0;
            }
        }
        Ok(())
    }
}

/// Momentum contrast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// Keys per queue (K). The authors' code keeps 4,096 micro-batches of 16 keys.
    pub queue_size: i64,
    /// Momentum m of the key encoder.
    pub momentum: f64,
    /// Temperature of the contrastive loss.
    pub temperature: f64,
    /// Export the momentum (key) encoder instead of the query encoder (an ablation of
    /// paper §4.4).
    pub export_momentum_encoder: bool,
}

impl Default for MocoConfig {
    fn default() -> Self {
        MocoConfig { queue_size: 65536, momentum: 0.999, temperature: 0.2, export_momentum_encoder: false }
    }
}

/// Optimisation. The defaults are the paper's Wiki-Book set-up (§3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Optimizer steps.
    pub steps: u64,
    /// Rows per optimizer step, reached by accumulating micro-batches.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Share of the steps spent warming up (18,000 of 40,000 in the paper).
    pub warmup_fraction: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Largest global gradient norm; 0 turns clipping off.
    pub clip_norm: f64,
    /// bfloat16 autocast on CUDA.
    pub bf16: bool,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            steps: 40_000,
            batch_size: 256,
            learning_rate: 1e-4,
            warmup_fraction: 0.45,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            clip_norm: 1.0,
            bf16: true,
        }
    }
}

/// The configuration of `spe train` (`pipelines/train*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seed of initialisation, dropout, queues and data order.
    pub seed: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Checkpoints kept; older ones are deleted.
    pub keep_checkpoints: usize,
    /// Steps between lines of the log and of the metrics file.
    pub log_every: u64,
    /// The network.
    pub model: ModelConfig,
    /// Loss weights.
    pub objectives: ObjectiveConfig,
    /// Momentum contrast.
    pub moco: MocoConfig,
    /// Optimisation.
    pub optim: OptimConfig,
    /// The data loader.
    pub loader: LoaderConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 5216,
            checkpoint_every: 1000,
            keep_checkpoints: 2,
            log_every: 10,
            model: ModelConfig::default(),
            objectives: ObjectiveConfig::default(),
            moco: MocoConfig::default(),
            optim: OptimConfig::default(),
            loader: LoaderConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Micro-batches per optimizer step.
    pub fn accumulation(&self) -> Result<usize> {
        let (global, micro) = (self.optim.batch_size, self.loader.micro_batch);
        ensure!(
            micro > 0 && global >= micro && global % micro == 0,
            "optim.batch_size ({global}) must be a multiple of loader.micro_batch ({micro})"
        );
        Ok(global / micro)
    }

    fn check(&self) -> Result<()> {
        self.model.bert.check().context("model.bert")?;
        ensure!(self.model.heads.tbo_offsets > 128, "model.heads.tbo_offsets must exceed 128, the longest word offset");
        ensure!(!self.model.span.kernel_sizes.is_empty(), "model.span.kernel_sizes is empty");
        let o = &self.objectives;
        ensure!(o.tbo >= 0.0 && o.spo >= 0.0 && o.cspo >= 0.0, "objective weights cannot be negative");
        ensure!(o.tbo + o.spo + o.cspo > 0.0, "every objective is off");
        ensure!(self.optim.steps > 0, "optim.steps must be at least 1");
        ensure!((0.0..=1.0).contains(&self.optim.warmup_fraction), "optim.warmup_fraction must lie in [0, 1]");
        ensure!(self.checkpoint_every > 0 && self.log_every > 0, "checkpoint_every and log_every must be at least 1");
        self.accumulation().map(|_| ())
    }
}

/// What `spe train` was asked to do, besides the configuration.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Pre-training outputs to read.
    pub shards: Vec<PathBuf>,
    /// Output directory: checkpoints, metrics, exports.
    pub out: PathBuf,
    /// A Hugging Face BERT directory to start the sentence encoder from.
    pub init: Option<PathBuf>,
    /// A configuration file (`pipelines/train*.toml`); the defaults otherwise.
    pub config: Option<PathBuf>,
    /// `--set` overrides.
    pub overrides: Vec<Override>,
    /// Comma-separated objectives to keep (`--objectives`).
    pub objectives: Option<String>,
    /// `cpu`, `cuda`, `cuda:N`, or `None` for CUDA where there is one.
    pub device: Option<String>,
    /// Continue from the latest checkpoint in `out`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps taken in this invocation.
    pub steps: u64,
    /// Metrics of every logged step.
    pub records: Vec<StepRecord>,
    /// The exported Hugging Face BERT directory.
    pub encoder_dir: PathBuf,
}

/// Parses `--device`.
pub fn parse_device(name: Option<&str>) -> Result<Device> {
    Ok(match name {
        None | Some("auto") => Device::cuda_if_available(),
        Some("cpu") => Device::Cpu,
        Some("cuda") => {
            ensure!(tch::Cuda::is_available(), "--device cuda: no CUDA device is available to libtorch");
            Device::Cuda(0)
        }
        Some(other) => match other.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => {
                ensure!(i < tch::Cuda::device_count() as usize, "--device {other}: no such CUDA device");
                Device::Cuda(i)
            }
            None => bail!("--device {other:?}: expected cpu, cuda or cuda:N"),
        },
    })
}

/// Reads the configuration, applying `--init`'s BERT config and `--objectives`.
pub fn load_config(options: &TrainOptions) -> Result<TrainConfig> {
    let mut config: TrainConfig = config::load(options.config.as_deref(), &options.overrides)?;
    if let Some(init) = &options.init {
        config.model.bert = BertConfig::from_file(&init.join("config.json"))?;
    }
    if let Some(list) = &options.objectives {
        config.objectives.keep_only(list)?;
    }
    config.check()?;
    Ok(config)
}

/// The seed of torch's generator for micro-batch `micro` of step `step`.
fn micro_seed(seed: u64, step: u64, micro: usize) -> i64 {
    let mut rng = crate::sample::rng::stream(seed, &format!("train-step-{step}"), micro as i32);
    (rand::RngExt::random::<u64>(&mut rng) >> 1) as i64
}

/// Runs `spe train`.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    let config = load_config(options)?;
    let device = parse_device(options.device.as_deref())?;
    let set = Arc::new(ShardSet::open(&options.shards)?);
    let vocab = config.model.bert.vocab_size as u64;
    ensure!(
        set.vocab_size() == vocab,
        "the shards were tokenized with a vocabulary of {} entries, but the model's has {vocab}{}",
        set.vocab_size(),
        if options.init.is_some() { " (from --init)" } else { " (model.bert.vocab_size)" }
    );
    let accumulation = config.accumulation()?;
    let out = &options.out;
    let latest = Checkpoint::latest(out)?;
    match (&latest, options.resume) {
        (Some(path), false) => bail!(
            "{} already holds a run (checkpoint {}); pass --resume to continue it or choose another --out",
            out.display(),
            path.display()
        ),
        (None, true) => bail!("--resume: {} holds no checkpoint", out.display()),
        _ => {}
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(device);
    let encoder = Encoder::new(&vs.root(), &config.model);
    let heads = Heads::new(&vs.root(), &config.model);
    if let Some(init) = &options.init {
        let path = init.join("model.safetensors");
        load_variables(&vs, BERT_PREFIX, &bert::read_checkpoint(&path)?, &path)?;
    }
    let mut moco = match config.objectives.cspo > 0.0 {
        true => Some(Moco::new(&vs, &config.model, &config.moco, device)?),
        false => None,
    };
    let mut optimizer = AdamW::new(&vs, &config.optim);
    let (mut step, mut rows) = (0, 0);
    if let Some(path) = &latest {
        let state = Checkpoint::load(path, &config, &vs, &mut optimizer, moco.as_mut())?;
        (step, rows) = (state.step, state.rows);
    }
    let total = config.optim.steps;
    ensure!(step < total, "the run in {} has already taken its {total} steps", out.display());
    let mut metrics = Metrics::open(out, step)?;
    let mut stream = set.stream(&config.loader, config.seed, rows)?;
    let autocast = config.optim.bf16 && device.is_cuda();
    if autocast {
        autocast_bfloat16();
    }

    let progress = progress_bar(options.progress, total, step);
    let start_step = step;
    let mut records = Vec::new();
    let mut window = (Instant::now(), 0usize, 0usize); // since the last log: time, rows, tokens
    let run_start = Instant::now();
    while step < total {
        let lr = learning_rate(&config.optim, step, total);
        let mut sums: [Option<Tensor>; 3] = Default::default();
        let mut counts = [0u32; 3];
        let mut keys = Vec::with_capacity(accumulation);
        for micro in 0..accumulation {
            let batch = stream.next_batch()?;
            window.1 += batch.rows;
            window.2 += batch.tokens;
            tch::manual_seed(micro_seed(config.seed, step, micro));
            let device_batch = DeviceBatch::new(&batch, device);
            let result =
                tch::autocast(autocast, || losses(&encoder, &heads, moco.as_ref(), &device_batch, &config.objectives));
            (&result.total / accumulation as f64).backward();
            for (i, loss) in [&result.tbo, &result.spo, &result.cspo].into_iter().enumerate() {
                if let Some(loss) = loss {
                    let loss = loss.detach().to_kind(Kind::Float);
                    sums[i] = Some(match sums[i].take() {
                        Some(sum) => sum + loss,
                        None => loss,
                    });
                    counts[i] += 1;
                }
            }
            keys.extend(result.keys);
        }
        let grad_norm = optimizer.clip_gradients(config.optim.clip_norm);
        optimizer.step(lr);
        if let Some(moco) = &mut moco {
            moco.momentum_update(&vs);
            for k in &keys {
                moco.enqueue(k);
            }
        }
        step += 1;
        rows += config.optim.batch_size as u64;
        progress.inc(1);

        if step % config.log_every == 0 || step == total {
            let mean = |i: usize| -> Result<Option<f64>> {
                sums[i].as_ref().map(|sum| Ok(f64::try_from(sum)? / f64::from(counts[i]))).transpose()
            };
            let seconds = window.0.elapsed().as_secs_f64().max(1e-9);
            let record = StepRecord::new(
                step,
                lr,
                [mean(0)?, mean(1)?, mean(2)?],
                &config.objectives,
                grad_norm,
                window.1 as f64 / seconds,
                window.2 as f64 / seconds,
                run_start.elapsed().as_secs_f64(),
            );
            let line = record.line(total);
            if progress.is_hidden() {
                eprintln!("{line}");
            } else {
                progress.println(line);
            }
            metrics.write(&record)?;
            records.push(record);
            window = (Instant::now(), 0, 0);
        }
        if step % config.checkpoint_every == 0 || step == total {
            Checkpoint::save(out, &config, step, rows, &vs, &optimizer, moco.as_ref(), config.keep_checkpoints)?;
        }
    }
    progress.finish_and_clear();
    let exported = match (&moco, config.moco.export_momentum_encoder) {
        (Some(moco), true) => moco.vars(),
        _ => &vs,
    };
    let encoder_dir = export::export(out, exported, &config.model)?;
    Ok(TrainSummary { steps: step - start_step, records, encoder_dir })
}

/// Switches libtorch's CUDA autocast to bfloat16 (its default is float16).
pub fn autocast_bfloat16() {
    extern "C" {
        fn spe_autocast_use_bfloat16();
    }
    // SAFETY: the shim only sets libtorch's autocast type, a global setting.
    unsafe { spe_autocast_use_bfloat16() }
}

fn progress_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_position(done);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] step {pos}/{len} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_can_be_switched_off_by_name() {
        let mut o = ObjectiveConfig::default();
        o.keep_only("tbo, cspo").unwrap();
        assert_eq!((o.tbo, o.spo, o.cspo), (0.5, 0.0, 0.3));
        assert!(ObjectiveConfig::default().keep_only("mlm").is_err());
        assert!(ObjectiveConfig::default().keep_only("").is_err());
    }

    #[test]
    fn the_pipeline_files_are_the_defaults_and_a_valid_tiny_model() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let paper: TrainConfig = config::load(Some(&root.join("pipelines/train.toml")), &[]).unwrap();
        assert_eq!(paper, TrainConfig::default());
        let tiny: TrainConfig = config::load(Some(&root.join("pipelines/train-tiny.toml")), &[]).unwrap();
        tiny.check().unwrap();
        assert!(tiny.model.bert.hidden_size < 100 && tiny.optim.steps < 100);
    }

    #[test]
    fn the_global_batch_must_split_into_micro_batches() {
        let mut config = TrainConfig::default();
        assert_eq!(config.accumulation().unwrap(), 16);
        config.loader.micro_batch = 24;
        assert!(config.accumulation().unwrap_err().to_string().contains("multiple"));
    }

    #[test]
    fn autocast_is_set_to_bfloat16() {
        extern "C" {
            fn spe_autocast_is_bfloat16() -> i32;
        }
        autocast_bfloat16();
        // SAFETY: reads libtorch's global autocast type.
        assert_eq!(unsafe { spe_autocast_is_bfloat16() }, 1);
    }
}
