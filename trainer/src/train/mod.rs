//! `spe train`: pre-trains the sentence, span and span-pair encoders on spe's shards with
//! TBO, SPO and CSPO (paper §3.2 and §3.3).
//!
//! One optimizer step takes `batch_size` rows as micro-batches of
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
pub mod config;
pub mod device_batch;
pub mod flops;
pub mod heldout;
pub mod moco;
pub mod objectives;
pub mod parallel;
pub mod step_record;

use crate::model::weights::{export_encoders, load_variables, read_hf_bert};
use crate::model::{Encoder, Heads, BERT_PREFIX};
use crate::runtime::device::{autocast_bfloat16, parse_device};
use crate::runtime::dist::{Group, Launch};
use crate::runtime::fault::{guard, naming_memory_settings};
use crate::runtime::optim::{learning_rate, AdamW};
use crate::runtime::threads::{CpuShare, Threads};
use anyhow::{bail, ensure, Context, Result};
use checkpoint::TrainState;
pub use config::{load_config, TrainConfig};
use device_batch::DeviceBatch;
use moco::{Keys, Moco};
use objectives::{losses, StepLosses};
use parallel::{all_reduce_step, broadcast_state, over_ranks};
use spe::batch::loader::BatchStream;
use spe::batch::order::RankShare;
use spe::batch::shards::ShardSet;
use spe::config::Override;
use spe::counts::plural;
use spe::lock::OutputLock;
use spe::plot::draw_curves;
use spe::run::checkpoints;
use spe::run::layout;
use spe::run::metrics::{MetricsFile, Throughput};
use spe::run::progress::{log_line, steps_bar};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use step_record::StepRecord;
use tch::nn;

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
    /// libtorch's CPU threads (a data-parallel rank's share of the cores under `Auto`).
    pub threads: Threads,
    /// The data-parallel group to join, as `spe train` reads it from the environment
    /// ([`Launch::from_env`]); `None` for one process (the runs of `spe experiment`,
    /// whose ranks share cells, not one training).
    pub launch: Option<Launch>,
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
    /// Steps skipped for a non-finite gradient (see `skip_nonfinite_steps`).
    pub skipped_steps: u64,
    /// This process's rank and the number of ranks (0 and 1 for a single process).
    pub rank: (usize, usize),
}

/// The seed of torch's generator for micro-batch `micro` of step `step`.
fn micro_seed(seed: u64, step: u64, micro: usize) -> i64 {
    let mut rng = spe::rng::stream(seed, &format!("train-step-{step}"), micro as u64);
    (rand::RngExt::random::<u64>(&mut rng) >> 1) as i64
}

/// Runs `spe train`: set-up, then steps, each logged and checkpointed as configured, then
/// the exports.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    // Set-up: configuration, data, model, optimizer, and the state of a resumed run.
    let config = load_config(options)?;
    let launch = &options.launch;
    let device = device_of(options)?;
    let mut cpu = CpuShare::new(match (launch, options.threads) {
        // Ranks on one machine share its cores and wait for each other at every step.
        (Some(launch), Threads::Auto) => Threads::Fixed(launch.cores_per_rank()),
        (_, threads) => threads,
    });
    // Joining first: no rank writes before every rank has checked what it was given.
    let group = launch.as_ref().map(|launch| Group::join(launch, device)).transpose()?;
    let (rank, ranks) = group.as_ref().map_or((0, 1), |g| (g.rank, g.world_size));
    let main = rank == 0;
    let set = Arc::new(ShardSet::open(&options.shards)?);
    let vocab = config.model.bert.vocab_size as u64;
    ensure!(
        set.tokenizer().vocab_size == vocab,
        "the shards were tokenized with a vocabulary of {} entries, but the model's has {vocab}{}",
        set.tokenizer().vocab_size,
        if options.init.is_some() { " (from --init)" } else { " (model.bert.vocab_size)" }
    );
    // The exported encoder ships the shards' tokenizer, so that fine-tuning can refuse
    // labeled data tokenized with another vocabulary of the same size.
    let tokenizer = set.tokenizer().file("the pre-training shards")?;
    if let Some(init) = &options.init {
        set.tokenizer().check_vocabulary("the pre-training shards", init)?;
    }
    let accumulation = config.accumulation(ranks)?;
    let out = &options.out;
    let shard_sums = set.checksums();
    // Rank 0 writes the run; it checks the shards' checksums for all (on shared storage).
    let _lock = main.then(|| claim_output(options, &set)).transpose()?;
    let resumed = match options.resume {
        true => Some(checkpoint::intact(out, &shard_sums, options.force)?),
        false => None,
    };
    let (encoder, heads, mut state) = build(&config, options.init.as_deref(), device)?;
    if let Some((path, saved)) = &resumed {
        state.restore(path, saved, &config)?;
    }
    if let Some(group) = &group {
        broadcast_state(group, &state)?;
    }
    let total = config.steps;
    ensure!(state.step < total, "the run in {} has already taken its {total} steps", out.display());
    let mut metrics = main.then(|| MetricsFile::open(out, state.step)).transpose()?;
    let share = (ranks > 1).then_some(RankShare { rank, ranks, micro_batches: accumulation });
    let mut stream = set.stream_share(&config.loader, config.seed, state.rows, share)?;
    let autocast = config.optim.bf16 && device.is_cuda();
    if autocast {
        autocast_bfloat16();
    }
    let progress = steps_bar(options.progress && main, total, state.step);
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
        let parameters: i64 = state.vs.trainable_variables().iter().map(|v| v.numel() as i64).sum();
        say(format!(
            "note: without --config this is the paper's set-up ({:.0}M parameters, {} rows a step, {total} \
                 steps), on the CPU; --config pipelines/train-tiny.toml trains a tiny model in about a minute",
            parameters as f64 / 1e6,
            config.batch_size
        ));
    }
    let steps = StepContext {
        encoder: &encoder,
        heads: &heads,
        config: &config,
        device,
        autocast,
        group: group.as_ref(),
        rank,
        accumulation,
        memory_settings: format!(
            "loader.micro_batch ({}), the samples' length (sample.max_subtokens of spe prep) or the model's sizes \
             (model.*)",
            config.loader.micro_batch
        ),
        model_flops: flops::BertFlops::of(&config.model.bert),
    };
    let start_step = state.step;
    let mut records = Vec::new();
    let mut throughput = Throughput::default();
    let mut skipped = 0u64;
    let run_start = Instant::now();

    while state.step < total {
        let step = state.step;
        spe::interrupt::check().with_context(|| match checkpoints::latest(out).ok().flatten() {
            Some(path) => format!("stopped before step {}; --resume continues from {}", step + 1, path.display()),
            None => format!("stopped before step {}, before the first checkpoint", step + 1),
        })?;
        // One optimizer step: accumulate the micro-batches' gradients, clip, update, then
        // let the key encoder follow and the step's keys enter the queues.
        let lr = learning_rate(&config.optim, step, total);
        let (step_losses, keys) = steps.gradients(&state, &mut stream, &mut throughput, step)?;
        let grad_norm =
            guard(|| format!("step {}", step + 1), || Ok(state.optimizer.clip_gradients(config.optim.clip_norm)))?;
        if grad_norm.is_finite() {
            guard(
                || format!("step {}, update", step + 1),
                || {
                    state.optimizer.step(lr)?;
                    if let Some(moco) = &mut state.moco {
                        moco.momentum_update(&state.vs);
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
                skipped <= config.skip_nonfinite_steps,
                "step {}: the gradient norm is {grad_norm} (the loss or a gradient is not finite); that is {skipped} \
                 such step(s), more than skip_nonfinite_steps = {}",
                step + 1,
                config.skip_nonfinite_steps
            );
            state.optimizer.zero_grad();
            say(format!("step {}: gradient norm {grad_norm}: step skipped ({skipped} so far)", step + 1));
        }
        state.step += 1;
        state.rows += config.batch_size as u64;
        let step = state.step;
        progress.inc(1);
        if paper_on_cpu && step == start_step + 1 {
            let seconds = run_start.elapsed().as_secs_f64();
            say(format!(
                "note: a step took {seconds:.1} s here: the {} left would take about {}",
                plural(total - step, "step"),
                duration(seconds * (total - step) as f64)
            ));
        }
        if let Some(line) = cpu.adjust() {
            say(format!("step {step}: {line}"));
        }

        // Log.
        if step.is_multiple_of(config.log_every) || step == total {
            let (mut means, mut rates) = (step_losses.means()?, throughput.rates());
            if let Some(group) = &group {
                (means, rates) = over_ranks(group, means, rates)?;
            }
            let record = StepRecord {
                threads: Some(cpu.take_fewest()),
                ..StepRecord::new(
                    step,
                    lr,
                    means,
                    &config.objectives,
                    grad_norm,
                    rates,
                    run_start.elapsed().as_secs_f64(),
                )
            };
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
        // Checkpoint, and the exports asked for along the way.
        if main && (step.is_multiple_of(config.checkpoint_every) || step == total) {
            state.save(out, &config, &shard_sums, config.keep_checkpoints)?;
        }
        if main && config.export_steps.contains(&step) && step < total {
            let dir = out.join(layout::EXPORTS_DIR).join(layout::export_dir(step));
            export_encoders(&dir, state.exported(&config), &config.model, &tokenizer)?;
        }
    }
    progress.finish_and_clear();
    let encoder_dir = match main {
        true => export_encoders(out, state.exported(&config), &config.model, &tokenizer)?,
        false => out.join(layout::ENCODER_DIR),
    };
    if main {
        draw_curves(out);
    }
    if let Some(group) = &group {
        // The other ranks end once rank 0 has written the exports.
        group.barrier()?;
    }
    Ok(TrainSummary {
        steps: state.step - start_step,
        records,
        encoder_dir,
        skipped_steps: skipped,
        rank: (rank, ranks),
    })
}

/// The device of the run: `--device`, or where a data-parallel rank of a machine takes its
/// own GPU, the rank's (unless `--device` names one).
fn device_of(options: &TrainOptions) -> Result<tch::Device> {
    Ok(match (parse_device(options.device.as_deref())?, &options.launch) {
        (tch::Device::Cuda(0), Some(launch)) if !options.device.as_deref().is_some_and(|d| d.contains(':')) => {
            tch::Device::Cuda(launch.local_rank)
        }
        (device, _) => device,
    })
}

/// Takes the output directory for the run (rank 0's part): refuses one that is an input or
/// holds another run (or, with `--resume`, none), locks it, and checks every shard's
/// checksum.
fn claim_output(options: &TrainOptions, set: &ShardSet) -> Result<OutputLock> {
    let out = &options.out;
    let mut inputs: Vec<(&str, &Path)> =
        options.shards.iter().map(|d| ("the pre-training data", d.as_path())).collect();
    inputs.extend(options.init.iter().map(|d| ("the --init encoder", d.as_path())));
    spe::overwrite::refuse_inputs("--out", out, &inputs)?;
    let lock = OutputLock::acquire(out)?;
    set.verify_checksums(&out.join(layout::VERIFIED_SHARDS_FILE))?;
    match (checkpoints::latest(out)?, options.resume) {
        (Some(path), false) => bail!(
            "{} already holds a run (checkpoint {}); pass --resume to continue it or choose another --out",
            out.display(),
            path.display()
        ),
        (None, true) => bail!("--resume: {} holds no checkpoint", out.display()),
        // A run that stopped before its first checkpoint, a fine-tuning run, or a file of
        // the user's.
        (None, false) => spe::overwrite::refuse_held(out, &[layout::METRICS_FILE])?,
        (Some(_), true) => {}
    }
    Ok(lock)
}

/// The model on `device`, seeded by the configuration, its sentence encoder from `init`
/// where given, with its optimizer and MoCo: the state of step 0.
fn build(config: &TrainConfig, init: Option<&Path>, device: tch::Device) -> Result<(Encoder, Heads, TrainState)> {
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
    if let Some(init) = init {
        let path = init.join(layout::BERT_WEIGHTS_FILE);
        load_variables(&vs, BERT_PREFIX, &read_hf_bert(&path)?, &path)?;
    }
    let moco = match config.objectives.cspo > 0.0 {
        true => Some(Moco::new(&vs, &config.model, &config.moco, device)?),
        false => None,
    };
    let optimizer = AdamW::new(&vs, &config.optim);
    Ok((encoder, heads, TrainState { vs, optimizer, moco, step: 0, rows: 0 }))
}

/// What every optimizer step of a run reads: the model, the data-parallel group, and how
/// the global batch is cut into micro-batches.
struct StepContext<'a> {
    encoder: &'a Encoder,
    heads: &'a Heads,
    config: &'a TrainConfig,
    device: tch::Device,
    autocast: bool,
    group: Option<&'a Group>,
    rank: usize,
    /// Micro-batches per rank and step.
    accumulation: usize,
    /// The settings an out-of-memory error names.
    memory_settings: String,
    model_flops: flops::BertFlops,
}

impl StepContext<'_> {
    /// The gradients of step `step` (0-based), accumulated over this rank's micro-batches
    /// and summed over the ranks: returns the step's losses and the keys that enter the
    /// queues after the update.
    fn gradients(
        &self,
        state: &TrainState,
        stream: &mut BatchStream,
        throughput: &mut Throughput,
        step: u64,
    ) -> Result<(StepLosses, Vec<Keys>)> {
        let ranks = self.group.map_or(1, |g| g.world_size);
        let total_micro = self.accumulation * ranks;
        let mut step_losses = StepLosses::default();
        let mut keys = Vec::with_capacity(self.accumulation);
        for micro in 0..self.accumulation {
            let batch = stream.next_batch()?;
            let lengths = flops::row_lengths(&batch.attention_mask, batch.seq_len);
            throughput.add(batch.rows, batch.tokens, self.model_flops.micro_batch(lengths, state.moco.is_some()));
            // The micro-batch's place in the global batch seeds it, whichever rank runs it.
            let global_micro = self.rank * self.accumulation + micro;
            tch::manual_seed(micro_seed(self.config.seed, step, global_micro));
            let at = || format!("step {}, micro-batch {} of {total_micro}", step + 1, global_micro + 1);
            let result = guard(at, || {
                let device_batch = DeviceBatch::new(&batch, self.device);
                let result = tch::autocast(self.autocast, || {
                    losses(self.encoder, self.heads, state.moco.as_ref(), &device_batch, &self.config.objectives)
                })?;
                (&result.total / total_micro as f64).backward();
                Ok(result)
            });
            let result = naming_memory_settings(result, &self.memory_settings)?;
            step_losses.add(&result);
            keys.extend(result.keys);
        }
        if let Some(group) = self.group {
            keys = all_reduce_step(group, &state.optimizer, keys, step + 1)?;
        }
        Ok((step_losses, keys))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_said_in_their_unit() {
        assert_eq!(duration(1.2), "1 second");
        assert_eq!(duration(600.0), "10 minutes");
        assert_eq!(duration(5.0 * 3600.0), "5 hours");
        assert_eq!(duration(100_000.0 * 60.0), "69 days");
    }
}
