//! `spe experiment`: runs the units of a grid (`spe::experiment`) with this crate's
//! trainers, in one process or as one rank of several, then writes the tables.
//!
//! Every unit's settings are loaded and range-checked, and every input it reads opened and
//! checked (the labeled data, the encoders, the pre-training shards and the tokenizers
//! they share), before any work, `--dry-run` included, so that a typo in the last cell's
//! `set` or a missing folder does not surface hours into the grid; and every unit's folder
//! is checked before the grid's record is written, so that a refused run changes nothing
//! on disk. The units run one after the
//! other: the pre-training runs first, each resumed from its latest checkpoint where one
//! stopped, then the cells; a cell that stopped before its report starts again. A rank of
//! a partitioned grid takes every N-th unit of each stage; a cell whose encoder another
//! rank still has to make is refused, so a cluster runs the stages one after the other
//! (`--only pretrain`, then `--only finetune`, then `--collect`; cluster/slurm/experiment.sbatch).

use crate::finetune::{EncoderSource, FinetuneConfig, FinetuneOptions};
use crate::runtime::threads::Threads;
use crate::train::config::load_config;
use crate::train::TrainOptions;
use anyhow::{bail, ensure, Context, Result};
use spe::batch::shards::ShardSet;
use spe::experiment::file::{overrides, ExperimentFile};
use spe::experiment::plan::{restart, takes, Cell, Plan, PretrainUnit, Stage, Status};
use spe::experiment::results::Results;
use spe::experiment::{CELL_RECORD, PRETRAIN_RECORD};
use spe::partition::Partition;
use spe::shard::manifest::LabeledManifest;
use std::path::PathBuf;

/// What `spe experiment` was asked to do.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The experiment file.
    pub file: PathBuf,
    /// The grid's folder.
    pub out: PathBuf,
    /// Print the plan only.
    pub dry_run: bool,
    /// Tabulate the finished cells only.
    pub collect: bool,
    /// One stage only.
    pub only: Option<Stage>,
    /// This rank's share of the grid, where it is shared.
    pub partition: Option<Partition>,
    /// `cpu`, `cuda`, `cuda:N`, or `None` for CUDA where there is one.
    pub device: Option<String>,
    /// libtorch's CPU threads in every run.
    pub threads: Threads,
    /// Show progress bars.
    pub progress: bool,
}

/// What a call did.
pub enum Outcome {
    /// `--dry-run`: the plan.
    Plan(String),
    /// The tables of the finished cells.
    Results(Results),
    /// A rank's share is done; the tables wait for `--collect`.
    ShareDone,
}

/// Runs `spe experiment`.
pub fn run(options: &ExperimentOptions) -> Result<Outcome> {
    let file = ExperimentFile::read(&options.file)?;
    let plan = Plan::new(&file, &options.out);
    if !options.collect {
        check_settings(&file, &plan).with_context(|| format!("in {}", options.file.display()))?;
        check_inputs(&file, &plan).with_context(|| format!("in {}", options.file.display()))?;
    }
    // Each unit's status refuses a folder made with other settings, before anything is
    // written; the plan shows them all.
    let text = plan.text(options.partition)?;
    if options.dry_run {
        return Ok(Outcome::Plan(text));
    }
    plan.open(&file)?;
    if !options.collect {
        if options.only != Some(Stage::Finetune) {
            for unit in share(&plan.pretrain, options.partition) {
                spe::interrupt::check()?;
                pretrain(unit, options)?;
            }
        }
        if options.only != Some(Stage::Pretrain) {
            for cell in share(&plan.cells, options.partition) {
                spe::interrupt::check()?;
                finetune(cell, &plan, options)?;
            }
        }
    }
    if options.partition.is_some() && !options.collect {
        return Ok(Outcome::ShareDone);
    }
    let results = Results::collect(&file, &plan)?;
    results.write(&options.out)?;
    Ok(Outcome::Results(results))
}

/// The units of a stage that this rank takes: all of them in a run of its own.
fn share<T>(units: &[T], partition: Option<Partition>) -> impl Iterator<Item = &T> {
    units.iter().enumerate().filter(move |(i, _)| partition.is_none_or(|p| takes(p, *i))).map(|(_, unit)| unit)
}

/// Loads every unit's configuration as its run will, refusing the first that is out of
/// range or names an unknown key, and an encoder's `step` that its pre-training does not
/// export.
fn check_settings(file: &ExperimentFile, plan: &Plan) -> Result<()> {
    for unit in &plan.pretrain {
        let config = load_config(&train_options(unit, Threads::Auto, None, false, false)?)
            .with_context(|| format!("encoder {:?}: its pre-training", unit.record.encoder))?;
        let takes_from = file.encoders.iter().filter(|e| e.pretrain.as_ref() == Some(&unit.record.pretrain));
        for encoder in takes_from {
            if let Some(step) = encoder.step {
                ensure!(
                    config.export_steps.contains(&step),
                    "encoder {:?}: step {step} is not one of its pre-training's export_steps ({:?})",
                    encoder.name,
                    config.export_steps
                );
            }
        }
    }
    let mut checked: Vec<(&Option<PathBuf>, Vec<String>)> = Vec::new();
    for cell in &plan.cells {
        let key = (&cell.record.config, cell.record.overrides());
        if checked.contains(&key) {
            continue;
        }
        FinetuneConfig::load(key.0.as_deref(), &overrides(&key.1)?)
            .with_context(|| format!("cell {}: its fine-tuning", cell.name))?;
        checked.push(key);
    }
    Ok(())
}

/// Opens every input the units read, as their runs will, refusing the first that is
/// missing or of the wrong kind, or tokenized unlike the data the cells fine-tune on.
fn check_inputs(file: &ExperimentFile, plan: &Plan) -> Result<()> {
    let data = &file.data;
    let manifest = LabeledManifest::read(data).with_context(|| format!("data {}", data.display()))?;
    for split in ["train", "dev"] {
        ensure!(
            manifest.splits.contains_key(split),
            "data {}: no {split} split; every cell trains on train and selects on dev",
            data.display()
        );
    }
    let tokenized = format!("the labeled shards in {}", data.display());
    for unit in &plan.pretrain {
        let spec = &unit.record.pretrain;
        let encoder = &unit.record.encoder;
        let set = ShardSet::open(&spec.shards).with_context(|| format!("encoder {encoder:?}: pretrain.shards"))?;
        set.tokenizer().file("the pre-training shards")?;
        manifest
            .tokenizer
            .check_same(&tokenized, &set.tokenizer().config())
            .with_context(|| format!("encoder {encoder:?}: its pre-training shards and the data"))?;
        if let Some(init) = &spec.init {
            match EncoderSource::of(init).with_context(|| format!("encoder {encoder:?}: pretrain.init"))? {
                EncoderSource::Bert(_) => {}
                EncoderSource::Run(_) => bail!(
                    "encoder {encoder:?}: pretrain.init {} is an spe train run; give its encoder/ folder",
                    init.display()
                ),
            }
        }
    }
    let mut checked: Vec<&PathBuf> = Vec::new();
    for cell in &plan.cells {
        let dir = &cell.record.encoder_dir;
        if plan.pretrain_of(cell).is_some() || checked.contains(&dir) {
            continue;
        }
        let source = EncoderSource::of(dir).with_context(|| format!("encoder {:?}", cell.record.encoder))?;
        manifest
            .tokenizer
            .check_vocabulary(&tokenized, &source.bert_dir())
            .with_context(|| format!("encoder {:?}", cell.record.encoder))?;
        checked.push(dir);
    }
    Ok(())
}

/// The `spe train` of `unit`.
fn train_options(
    unit: &PretrainUnit,
    threads: Threads,
    device: Option<String>,
    resume: bool,
    progress: bool,
) -> Result<TrainOptions> {
    let spec = &unit.record.pretrain;
    Ok(TrainOptions {
        shards: spec.shards.clone(),
        out: unit.dir.clone(),
        init: spec.init.clone(),
        config: spec.config.clone(),
        overrides: overrides(&spec.set)?,
        objectives: spec.objectives.clone(),
        device,
        resume,
        force: false,
        threads,
        launch: None,
        progress,
    })
}

/// Makes, resumes or keeps one pre-training run.
fn pretrain(unit: &PretrainUnit, options: &ExperimentOptions) -> Result<()> {
    let encoder = &unit.record.encoder;
    let status = Plan::pretrain_status(unit)?;
    eprintln!("experiment: pre-training {encoder} ({}): {}", unit.dir.display(), status.describe());
    let resume = match status {
        Status::Done => return Ok(()),
        Status::Resume => true,
        Status::Todo | Status::Restart => {
            restart(&unit.dir, PRETRAIN_RECORD, &unit.record)?;
            false
        }
    };
    let train = train_options(unit, options.threads, options.device.clone(), resume, options.progress)?;
    crate::train::run(&train).with_context(|| format!("pre-training encoder {encoder} in {}", unit.dir.display()))?;
    Ok(())
}

/// Runs one cell, unless it is done.
fn finetune(cell: &Cell, plan: &Plan, options: &ExperimentOptions) -> Result<()> {
    let status = Plan::cell_status(cell)?;
    eprintln!("experiment: cell {}: {}", cell.name, status.describe());
    if status == Status::Done {
        return Ok(());
    }
    if let Some(unit) = plan.pretrain_of(cell) {
        if Plan::pretrain_status(unit)? != Status::Done {
            bail!(
                "cell {} needs encoder {}, which is not pre-trained yet ({}): run the pre-training first \
                 (a rank of a shared grid: --only pretrain on every rank, then --only finetune)",
                cell.name,
                cell.record.encoder,
                unit.dir.display()
            );
        }
    }
    restart(&cell.dir, CELL_RECORD, &cell.record)?;
    let sets = cell.record.overrides();
    let finetune = FinetuneOptions {
        data: cell.record.data.clone(),
        encoder: cell.record.encoder_dir.clone(),
        out: cell.dir.clone(),
        config: cell.record.config.clone(),
        overrides: overrides(&sets)?,
        device: options.device.clone(),
        seeds: vec![cell.record.seed],
        threads: options.threads,
        progress: options.progress,
    };
    crate::finetune::run(&finetune).with_context(|| format!("cell {} ({})", cell.name, cell.dir.display()))?;
    Ok(())
}
