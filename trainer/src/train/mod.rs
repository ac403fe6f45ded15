//! `spe train`: pre-trains the sentence, span and span-pair encoders on spe's shards with
//! TBO, SPO and CSPO (paper §3.2 and §3.3).
//!
//! One optimizer step takes `optim.batch_size` rows as micro-batches of
//! `loader.micro_batch` rows whose gradients accumulate. After the step the momentum
//! encoder follows the query encoder and the step's keys enter the queues. Every source of
//! randomness is keyed by the seed and the position in the run (torch's generator is
//! re-seeded before each micro-batch, the loader's order depends on the row index only),
//! so a run resumed from a checkpoint computes what the uninterrupted run would have.
//!
//! Data-parallel runs ([`crate::runtime::dist`], launched like `torchrun`) split every
//! global batch: rank R takes the R-th run of micro-batches of each step, seeded as the
//! single process seeds them. The parameters are broadcast from rank 0, the gradients
//! summed over the ranks before clipping, and the keys of every rank gathered, so every
//! rank's queues hold what one process's would, and N ranks compute the single process's
//! run. Rank 0 alone writes the metrics, checkpoints and exports.

pub mod checkpoint;
pub mod device_batch;
pub mod flops;
pub mod metrics;
pub mod moco;
pub mod objectives;

use crate::model::bert::BertConfig;
use crate::model::weights::{export_encoders, load_variables, read_hf_bert};
use crate::model::{Encoder, Heads, ModelConfig, BERT_PREFIX};
use crate::runtime::device::{autocast_bfloat16, parse_device};
use crate::runtime::dist::{Group, Launch};
use crate::runtime::fault::{guard, naming_memory_settings};
use crate::runtime::optim::{learning_rate, AdamW, OptimConfig};
use anyhow::{bail, ensure, Context, Result};
use checkpoint::CheckpointState;
use device_batch::DeviceBatch;
use metrics::StepRecord;
use moco::{Keys, Moco, MocoConfig};
use objectives::{losses, ObjectiveConfig, StepLosses};
use serde::{Deserialize, Serialize};
use spe::batch::loader::{LoaderConfig, RankShare, ShardSet};
use spe::config::{self, Override};
use spe::counts::plural;
use spe::lock::OutputLock;
use spe::plot::draw_curves;
use spe::runtime::checkpoint as checkpoints;
use spe::runtime::metrics::{MetricsFile, Rates, Throughput};
use spe::runtime::progress::{log_line, steps_bar};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::nn;

/// The configuration of `spe train` (`pipelines/train*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Micro-batches per optimizer step and rank, over `ranks` data-parallel ranks.
    pub fn accumulation(&self, ranks: usize) -> Result<usize> {
        let (global, micro) = (self.optim.batch_size, self.loader.micro_batch);
        let per_step = micro * ranks;
        ensure!(
            micro > 0 && global >= per_step && global % per_step == 0,
            "optim.batch_size ({global}) must be a multiple of loader.micro_batch ({micro}){}",
            if ranks > 1 { format!(" times the {ranks} ranks") } else { String::new() }
        );
        Ok(global / per_step)
    }

    fn check(&self) -> Result<()> {
        self.model.bert.check().context("model.bert")?;
        self.model.span.check().context("model.span")?;
        self.model.heads.check().context("model.heads")?;
        let o = &self.objectives;
        for (name, weight) in [("tbo", o.tbo), ("spo", o.spo), ("cspo", o.cspo)] {
            ensure!(weight.is_finite() && weight >= 0.0, "objectives.{name} must be a finite weight ≥ 0, not {weight}");
        }
        ensure!(o.tbo + o.spo + o.cspo > 0.0, "every objective is off");
        ensure!(self.optim.steps > 0, "optim.steps must be at least 1");
        self.optim.check()?;
        self.moco.check()?;
        self.loader.check()?;
        ensure!(self.checkpoint_every > 0 && self.log_every > 0, "checkpoint_every and log_every must be at least 1");
        self.accumulation(1).map(|_| ())
    }
}

/// The run's record of the shards whose checksums it verified ([`ShardSet::verify_checksums`]).
pub const VERIFIED_SHARDS_FILE: &str = "verified-shards.json";

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
    /// With `resume`: continue even on other shards than the run started on.
    pub force: bool,
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
    /// Steps skipped for a non-finite gradient (see `optim.skip_nonfinite_steps`).
    pub skipped_steps: u64,
    /// This process's rank and the number of ranks (0 and 1 for a single process).
    pub rank: (usize, usize),
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
    let mut rng = spe::rng::stream(seed, &format!("train-step-{step}"), micro as i32);
    (rand::RngExt::random::<u64>(&mut rng) >> 1) as i64
}

/// Runs `spe train`: set-up, then steps, each logged and checkpointed as configured, then
/// the exports.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    // Set-up: configuration, data, model, optimizer, and the state of a resumed run.
    let config = load_config(options)?;
    let launch = Launch::from_env()?;
    let device = match (parse_device(options.device.as_deref())?, &launch) {
        // Each rank of a machine takes its own GPU, unless --device names one.
        (tch::Device::Cuda(0), Some(launch)) if !options.device.as_deref().is_some_and(|d| d.contains(':')) => {
            tch::Device::Cuda(launch.local_rank)
        }
        (device, _) => device,
    };
    if let Some(launch) = launch.as_ref().filter(|_| !device.is_cuda()) {
        launch.share_cores();
    }
    // Joining first: no rank writes before every rank has checked what it was given.
    let group = launch.as_ref().map(|launch| Group::join(launch, device)).transpose()?;
    let (rank, ranks) = group.as_ref().map_or((0, 1), |g| (g.rank, g.world_size));
    let main = rank == 0;
    let set = Arc::new(ShardSet::open(&options.shards)?);
    let vocab = config.model.bert.vocab_size as u64;
    ensure!(
        set.vocab_size() == vocab,
        "the shards were tokenized with a vocabulary of {} entries, but the model's has {vocab}{}",
        set.vocab_size(),
        if options.init.is_some() { " (from --init)" } else { " (model.bert.vocab_size)" }
    );
    let accumulation = config.accumulation(ranks)?;
    let total_micro = accumulation * ranks;
    let memory_settings = format!(
        "loader.micro_batch ({}), the samples' length (sample.max_subtokens of spe prep) or the model's sizes (model.*)",
        config.loader.micro_batch
    );
    let out = &options.out;
    let mut inputs: Vec<(&str, &Path)> =
        options.shards.iter().map(|d| ("the pre-training data", d.as_path())).collect();
    inputs.extend(options.init.iter().map(|d| ("the --init encoder", d.as_path())));
    spe::overwrite::refuse_inputs("--out", out, &inputs)?;
    // Rank 0 writes the run; it checks the shards' checksums for all (on shared storage).
    let _lock = main.then(|| OutputLock::acquire(out)).transpose()?;
    if main {
        set.verify_checksums(&out.join(VERIFIED_SHARDS_FILE))?;
    }
    let shard_sums = set.checksums();
    let resumed = match (checkpoints::latest(out)?, options.resume) {
        (Some(path), false) => bail!(
            "{} already holds a run (checkpoint {}); pass --resume to continue it or choose another --out",
            out.display(),
            path.display()
        ),
        (None, true) => bail!("--resume: {} holds no checkpoint", out.display()),
        (None, false) => {
            // A run that stopped before its first checkpoint, a fine-tuning run, or a file
            // of the user's.
            spe::overwrite::refuse_held(out, &[spe::runtime::metrics::METRICS_FILE])?;
            None
        }
        (Some(_), true) => Some(intact_checkpoint(out, &shard_sums, options.force)?),
    };

    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(device);
    // Allocating the model is where a device too small for it fails.
    let (encoder, heads) = naming_memory_settings(
        guard(
            || format!("cannot build the model on {device:?}"),
            || Ok((Encoder::new(&vs.root(), &config.model), Heads::new(&vs.root(), &config.model))),
        ),
        "the model's sizes (model.*)",
    )?;
    if let Some(init) = &options.init {
        let path = init.join("model.safetensors");
        load_variables(&vs, BERT_PREFIX, &read_hf_bert(&path)?, &path)?;
    }
    let mut moco = match config.objectives.cspo > 0.0 {
        true => Some(Moco::new(&vs, &config.model, &config.moco, device)?),
        false => None,
    };
    let mut optimizer = AdamW::new(&vs, &config.optim);
    let (mut step, mut rows) = (0, 0);
    if let Some((path, state)) = &resumed {
        checkpoint::load(path, state, &config, &vs, &mut optimizer, moco.as_mut())?;
        (step, rows) = (state.step, state.rows);
    }
    if let Some(group) = &group {
        broadcast_state(group, &vs, &optimizer, moco.as_ref())?;
    }
    let total = config.optim.steps;
    ensure!(step < total, "the run in {} has already taken its {total} steps", out.display());
    let mut metrics = main.then(|| MetricsFile::open(out, step)).transpose()?;
    let share = (ranks > 1).then_some(RankShare { rank, ranks, micro_batches: accumulation });
    let mut stream = set.stream_share(&config.loader, config.seed, rows, share)?;
    let autocast = config.optim.bf16 && device.is_cuda();
    if autocast {
        autocast_bfloat16();
    }
    let progress = steps_bar(options.progress && main, total, step);
    let say = |line: String| {
        if main {
            log_line(&progress, line)
        }
    };
    if let Some(group) = &group {
        say(format!(
            "data-parallel over {} ({}): {} of {} rows per rank and step",
            plural(group.world_size as u64, "rank"),
            group.backend,
            plural(accumulation as u64, "micro-batch"),
            config.loader.micro_batch
        ));
    }
    // Without --config this is BERT-base at the paper's batch size: on a CPU, warn before a
    // step that takes minutes, and say what the whole run would take once one is measured.
    let paper_on_cpu = options.config.is_none() && !device.is_cuda();
    if paper_on_cpu {
        let parameters: i64 = vs.trainable_variables().iter().map(|v| v.numel() as i64).sum();
        say(format!(
            "note: without --config this is the paper's set-up ({:.0}M parameters, {} rows a step, {total} \
                 steps), on the CPU; --config pipelines/train-tiny.toml trains a tiny model in about a minute",
            parameters as f64 / 1e6,
            config.optim.batch_size
        ));
    }
    let start_step = step;
    let mut records = Vec::new();
    let mut throughput = Throughput::default();
    let model_flops = flops::BertFlops::of(&config.model.bert);
    let mut skipped = 0u64;
    let run_start = Instant::now();

    while step < total {
        spe::interrupt::check().with_context(|| match checkpoints::latest(out).ok().flatten() {
            Some(path) => format!("stopped before step {}; --resume continues from {}", step + 1, path.display()),
            None => format!("stopped before step {}, before the first checkpoint", step + 1),
        })?;
        // One optimizer step: accumulate the micro-batches' gradients, clip, update, then
        // let the key encoder follow and the step's keys enter the queues.
        let lr = learning_rate(&config.optim, step, total);
        let mut step_losses = StepLosses::default();
        let mut keys = Vec::with_capacity(accumulation);
        for micro in 0..accumulation {
            let batch = stream.next_batch()?;
            let lengths = flops::row_lengths(&batch.attention_mask, batch.seq_len);
            throughput.add(batch.rows, batch.tokens, model_flops.micro_batch(lengths, moco.is_some()));
            // The micro-batch's place in the global batch seeds it, whichever rank runs it.
            let global_micro = rank * accumulation + micro;
            tch::manual_seed(micro_seed(config.seed, step, global_micro));
            let at = || format!("step {}, micro-batch {} of {total_micro}", step + 1, global_micro + 1);
            let result = guard(at, || {
                let device_batch = DeviceBatch::new(&batch, device);
                let result = tch::autocast(autocast, || {
                    losses(&encoder, &heads, moco.as_ref(), &device_batch, &config.objectives)
                })?;
                (&result.total / total_micro as f64).backward();
                Ok(result)
            });
            let result = naming_memory_settings(result, &memory_settings)?;
            step_losses.add(&result);
            keys.extend(result.keys);
        }
        if let Some(group) = &group {
            keys = all_reduce_step(group, &optimizer, keys, step + 1)?;
        }
        let grad_norm =
            guard(|| format!("step {}", step + 1), || Ok(optimizer.clip_gradients(config.optim.clip_norm)))?;
        if grad_norm.is_finite() {
            guard(
                || format!("step {}, update", step + 1),
                || {
                    optimizer.step(lr)?;
                    if let Some(moco) = &mut moco {
                        moco.momentum_update(&vs);
                        for k in &keys {
                            moco.enqueue(k);
                        }
                    }
                    Ok(())
                },
            )?;
        } else {
            // Applying this step would make every weight NaN; the run stops (or skips it),
            // so no non-finite weight is ever checkpointed or exported.
            skipped += 1;
            ensure!(
                skipped <= config.optim.skip_nonfinite_steps,
                "step {}: the gradient norm is {grad_norm} (the loss or a gradient is not finite); that is {skipped} \
                 such step(s), more than optim.skip_nonfinite_steps = {}",
                step + 1,
                config.optim.skip_nonfinite_steps
            );
            optimizer.zero_grad();
            say(format!("step {}: gradient norm {grad_norm}: step skipped ({skipped} so far)", step + 1));
        }
        step += 1;
        rows += config.optim.batch_size as u64;
        progress.inc(1);
        if paper_on_cpu && step == start_step + 1 {
            let seconds = run_start.elapsed().as_secs_f64();
            say(format!(
                "note: a step took {seconds:.1} s here: the {} left would take about {}",
                plural(total - step, "step"),
                duration(seconds * (total - step) as f64)
            ));
        }

        // Log.
        if step % config.log_every == 0 || step == total {
            let (mut means, mut rates) = (step_losses.means()?, throughput.rates());
            if let Some(group) = &group {
                (means, rates) = over_ranks(group, means, rates)?;
            }
            let record = StepRecord::new(
                step,
                lr,
                means,
                &config.objectives,
                grad_norm,
                rates,
                run_start.elapsed().as_secs_f64(),
            );
            let losses = [Some(record.loss), record.tbo, record.spo, record.cspo];
            ensure!(
                losses.iter().flatten().all(|l| l.is_finite()),
                "step {step}: a loss is not finite: {}",
                record.line(total)
            );
            say(record.line(total));
            progress.set_message(record.losses());
            if let Some(metrics) = &mut metrics {
                metrics.write(&record)?;
            }
            records.push(record);
            throughput.restart();
        }
        // Checkpoint.
        if main && (step % config.checkpoint_every == 0 || step == total) {
            let keep = config.keep_checkpoints;
            checkpoint::save(out, &config, (step, rows), &shard_sums, &vs, &optimizer, moco.as_ref(), keep)?;
        }
    }
    progress.finish_and_clear();
    let exported = match (&moco, config.moco.export_momentum_encoder) {
        (Some(moco), true) => moco.vars(),
        _ => &vs,
    };
    let encoder_dir = match main {
        true => export_encoders(out, exported, &config.model)?,
        false => out.join(crate::model::weights::ENCODER_DIR),
    };
    if main {
        draw_curves(out);
    }
    if let Some(group) = &group {
        // The other ranks end once rank 0 has written the exports.
        group.barrier()?;
    }
    Ok(TrainSummary { steps: step - start_step, records, encoder_dir, skipped_steps: skipped, rank: (rank, ranks) })
}

/// Gives every rank rank 0's weights, optimizer state and MoCo state, by name.
fn broadcast_state(group: &Group, vs: &nn::VarStore, optimizer: &AdamW, moco: Option<&Moco>) -> Result<()> {
    let mut state: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    state.extend(optimizer.state());
    if let Some(moco) = moco {
        state.extend(moco.state());
    }
    // Every rank walks the same names in the same order. A tensor off the device (MoCo's
    // queue position, a host copy of a count every rank keeps alike) is not exchanged.
    state.sort_by(|a, b| a.0.cmp(&b.0));
    let mut on_device = state.iter().filter(|(_, t)| t.device() == group.device);
    tch::no_grad(|| on_device.try_for_each(|(_, tensor)| group.broadcast(tensor, 0)))
}

/// Sums the step's gradients over the ranks (in buckets, in the optimizer's name order) and
/// gathers every rank's keys, in the order one process would have made them.
fn all_reduce_step(group: &Group, optimizer: &AdamW, keys: Vec<Keys>, step: u64) -> Result<Vec<Keys>> {
    let grads: Vec<tch::Tensor> = optimizer.variables().map(|(_, v)| v.grad()).collect();
    // Every rank must sum the same gradients: one that is missing on a rank would shift the
    // buckets of all that follow.
    let defined = tch::Tensor::from_slice(&grads.iter().map(|g| f32::from(u8::from(g.defined()))).collect::<Vec<_>>())
        .to_device(group.device);
    group.all_reduce_sum(&defined)?;
    let counts = Vec::<f32>::try_from(&defined)?;
    if let Some(i) = counts.iter().position(|&c| c != 0.0 && c != group.world_size as f32) {
        let name = optimizer.variables().nth(i).map_or("a variable", |(name, _)| name);
        bail!("step {step}: {name} has a gradient on some ranks only");
    }
    let defined: Vec<tch::Tensor> = grads.into_iter().filter(|g| g.defined()).collect();
    group.all_reduce_buckets(&defined, 25 << 20)?;
    if keys.is_empty() {
        return Ok(keys);
    }
    let rows: Vec<i64> = keys.iter().map(|k| k.target.size()[0]).collect();
    let gather = |part: fn(&Keys) -> &tch::Tensor| -> Result<Vec<tch::Tensor>> {
        let local = tch::Tensor::cat(&keys.iter().map(part).collect::<Vec<_>>(), 0);
        Ok(group.all_gather(&local)?.iter().flat_map(|t| t.split_with_sizes(rows.as_slice(), 0)).collect())
    };
    let (targets, contexts) = (gather(|k| &k.target)?, gather(|k| &k.context)?);
    Ok(targets.into_iter().zip(contexts).map(|(target, context)| Keys { target, context }).collect())
}

/// The mean of each loss over the ranks (each rank's is the mean over its micro-batches),
/// and the sum of their rates: the whole run's.
fn over_ranks(group: &Group, means: [Option<f64>; 3], rates: Rates) -> Result<([Option<f64>; 3], Rates)> {
    let [a, b, c] = means.map(|m| m.unwrap_or(0.0));
    let sums = tch::Tensor::from_slice(&[a, b, c, rates.samples_per_s, rates.tokens_per_s, rates.model_flops_per_s])
        .to_device(group.device);
    group.all_reduce_sum(&sums)?;
    let s = Vec::<f64>::try_from(&sums)?;
    let means = [0, 1, 2].map(|i| means[i].map(|_| s[i] / group.world_size as f64));
    Ok((means, Rates { samples_per_s: s[3], tokens_per_s: s[4], model_flops_per_s: s[5] }))
}

/// `seconds` in the unit a person would say it in: minutes, hours or days.
fn duration(seconds: f64) -> String {
    let (value, unit) = match seconds {
        s if s < 90.0 => (s, "second"),
        s if s < 90.0 * 60.0 => (s / 60.0, "minute"),
        s if s < 36.0 * 3600.0 => (s / 3600.0, "hour"),
        s => (s / 86400.0, "day"),
    };
    plural(value.round() as u64, unit)
}

/// The newest checkpoint of `out` whose files match their recorded checksums; a damaged
/// one is reported and the one before it tried. The run must read the shards it started
/// on (`shards`, their checksums), unless `force`.
fn intact_checkpoint(out: &Path, shards: &[String], force: bool) -> Result<(PathBuf, CheckpointState)> {
    for path in checkpoints::list(out)?.iter().rev() {
        match checkpoint::verify(path) {
            Ok(state) => {
                ensure!(
                    force || state.shards.is_empty() || state.shards == shards,
                    "{}: the run was trained on other shards than --shards gives (their checksums differ); pass \
                     --force with --resume to continue on these",
                    path.display()
                );
                return Ok((path.clone(), state));
            }
            Err(e) => eprintln!("warning: {e:#}; this checkpoint is damaged, trying the one before it"),
        }
    }
    bail!("--resume: no checkpoint in {} is intact", out.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_files_are_the_defaults_and_a_valid_tiny_model() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let paper: TrainConfig = config::load(Some(&root.join("pipelines/train.toml")), &[]).unwrap();
        assert_eq!(paper, TrainConfig::default());
        let tiny: TrainConfig = config::load(Some(&root.join("pipelines/train-tiny.toml")), &[]).unwrap();
        tiny.check().unwrap();
        assert!(tiny.model.bert.hidden_size < 100 && tiny.optim.steps <= 300);
    }

    #[test]
    fn values_that_would_train_to_nothing_are_refused() {
        for (key, value) in [
            ("optim.learning_rate", f64::INFINITY),
            ("optim.learning_rate", f64::NAN),
            ("optim.weight_decay", -0.1),
            ("objectives.spo", f64::INFINITY),
            ("optim.beta2", 1.0),
            ("optim.eps", 0.0),
        ] {
            let config: TrainConfig = config::load(None, &[Override::new(key, value)]).unwrap();
            let err = config.check().unwrap_err().to_string();
            assert!(err.contains(key), "{key} = {value}: {err}");
        }
        TrainConfig::default().check().unwrap();
    }

    #[test]
    fn model_sizes_out_of_range_and_typos_under_model_are_refused_before_any_work() {
        for item in [
            "model.bert.hidden_size=0",
            "model.bert.num_hidden_layers=100000",
            "model.bert.hidden_dropout_prob=1.5",
            "model.bert.layer_norm_eps=0.0",
            "model.span.kernel_sizes=[]",
            "model.span.kernel_sizes=[2, 0]",
            "model.span.filters=0",
            "model.span.size=9223372036854775807",
            "model.span.dropout=1.0",
            "model.heads.projection_size=-1",
            "model.heads.tbo_offsets=100",
        ] {
            let config: TrainConfig = config::load(None, &[Override::parse(item).unwrap()]).unwrap();
            let err = format!("{:#}", config.check().unwrap_err());
            let (section, key) = item.split('=').next().unwrap().rsplit_once('.').unwrap();
            assert!(err.contains(section) && err.contains(key), "{item}: {err}");
        }
        for typo in ["model.bert.hiden_size=64", "model.span.filter=4", "model.heads.projection_sise=4"] {
            let err = config::load::<TrainConfig>(None, &[Override::parse(typo).unwrap()]).unwrap_err();
            assert!(format!("{err:#}").contains("unknown field"), "{typo}: {err:#}");
        }
    }

    #[test]
    fn durations_are_said_in_their_unit() {
        assert_eq!(duration(1.2), "1 second");
        assert_eq!(duration(600.0), "10 minutes");
        assert_eq!(duration(5.0 * 3600.0), "5 hours");
        assert_eq!(duration(100_000.0 * 60.0), "69 days");
    }

    #[test]
    fn the_global_batch_must_split_into_micro_batches() {
        let mut config = TrainConfig::default();
        assert_eq!(config.accumulation(1).unwrap(), 16);
        assert_eq!(config.accumulation(4).unwrap(), 4);
        config.loader.micro_batch = 24;
        assert!(config.accumulation(1).unwrap_err().to_string().contains("multiple"));
        config.loader.micro_batch = 32;
        assert!(config.accumulation(3).unwrap_err().to_string().contains("times the 3 ranks"));
    }
}
