//! The libtorch commands of spe's command line (`spe::cli::TorchCommand`): flags become the
//! options of [`crate::train`] and [`crate::finetune`], and the results are printed.

use crate::runtime::threads::{CpuShare, Threads};
use anyhow::Result;
use spe::cli::{EvaluateArgs, ExperimentArgs, FinetuneArgs, HeldoutArgs, PredictArgs, TorchCommand, TrainArgs};
use spe::config::Override;
use spe::counts::plural;

/// Runs `command`.
pub fn run(command: TorchCommand) -> Result<()> {
    match command {
        // The commands that write for long: a signal stops them between steps, and they
        // remove what they wrote as on any error.
        TorchCommand::Train(args) => {
            spe::interrupt::install()?;
            train(*args)
        }
        TorchCommand::Finetune(args) => {
            spe::interrupt::install()?;
            finetune(*args)
        }
        TorchCommand::Experiment(args) => {
            spe::interrupt::install()?;
            experiment(args)
        }
        TorchCommand::Evaluate(args) => evaluate(args),
        TorchCommand::Heldout(args) => heldout(args),
        TorchCommand::Predict(args) => predict(args),
    }
}

/// `--set` and the flags that stand for a configuration value, as overrides.
fn overrides(set: &[String], flags: Vec<(&str, Option<u64>)>) -> Result<Vec<Override>> {
    let mut overrides = set.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>>>()?;
    for (key, value) in flags {
        if let Some(value) = value {
            overrides.push(Override::new(key, value as i64));
        }
    }
    Ok(overrides)
}

fn train(args: TrainArgs) -> Result<()> {
    let options = crate::train::TrainOptions {
        overrides: overrides(&args.set, vec![("steps", args.steps), ("seed", args.seed)])?,
        shards: args.shards,
        out: args.out,
        init: args.init,
        config: args.config,
        objectives: args.objectives,
        device: args.device,
        resume: args.resume,
        force: args.force,
        threads: Threads::of_command(args.threads)?,
        launch: crate::runtime::dist::Launch::from_env()?,
        progress: !args.quiet,
    };
    match crate::train::run(&options)?.rank {
        (0, _) => eprint!("{}", spe::inspect::run_summary(&options.out)?),
        (rank, ranks) => eprintln!("rank {rank} of {ranks}: done; rank 0 wrote the run to {}", options.out.display()),
    }
    Ok(())
}

fn finetune(args: FinetuneArgs) -> Result<()> {
    let options = crate::finetune::FinetuneOptions {
        overrides: overrides(&args.set, vec![("epochs", args.epochs)])?,
        data: args.data,
        encoder: args.encoder,
        out: args.out,
        config: args.config,
        device: args.device,
        seeds: args.seeds,
        threads: Threads::of_command(args.threads)?,
        progress: !args.quiet,
    };
    println!("{}", crate::finetune::run(&options)?.text());
    Ok(())
}

fn experiment(args: ExperimentArgs) -> Result<()> {
    use crate::experiment::{ExperimentOptions, Outcome};
    let partition = spe::partition::Partition::resolve(args.rank, args.world_size)?;
    if let Some((partition, origin)) = &partition {
        eprintln!("experiment: rank {} of {} (from {origin})", partition.rank, partition.world_size);
    }
    let options = ExperimentOptions {
        file: args.file,
        out: args.out,
        dry_run: args.dry_run,
        collect: args.collect,
        only: args.only,
        partition: partition.map(|(p, _)| p),
        device: args.device,
        threads: Threads::of_command(args.threads)?,
        progress: !args.quiet,
    };
    match crate::experiment::run(&options)? {
        Outcome::Plan(text) => print!("{text}"),
        Outcome::Results(results) => {
            print!("{}", results.markdown());
            eprintln!("tables written to {}", options.out.join(spe::experiment::RESULTS_MD).display());
        }
        Outcome::ShareDone => eprintln!(
            "experiment: this rank's share is done; once every rank's is, `spe experiment {} --out {} --collect` \
             writes the tables",
            options.file.display(),
            options.out.display()
        ),
    }
    Ok(())
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    let EvaluateArgs { model, data, split, out, device, threads } = args;
    let _threads = fixed_threads(threads)?;
    let out = out.unwrap_or_else(|| model.join(format!("predictions-{split}.json")));
    let scores = crate::finetune::inference::evaluate(&model, &data, &split, &out, device.as_deref())?;
    println!("{split} of {}:\n{}", data.display(), scores.table());
    eprintln!("predictions written to {}", out.display());
    Ok(())
}

fn heldout(args: HeldoutArgs) -> Result<()> {
    let _threads = fixed_threads(args.threads)?;
    if let Some(out) = &args.out {
        let mut inputs: Vec<(&str, &std::path::Path)> = vec![("the run", &args.run)];
        inputs.extend(args.shards.iter().map(|s| ("held-out shards", s.as_path())));
        spe::overwrite::refuse_inputs("--out", out, &inputs)?;
    }
    let options = crate::train::heldout::HeldOutOptions {
        run: args.run,
        shards: args.shards,
        init: args.init,
        rows: args.rows,
        batch: args.batch,
        device: args.device,
    };
    let scores = crate::train::heldout::score_run(&options)?;
    println!("step     rows  TBO loss  TBO acc  SPO loss  SPO acc  CSPO loss  CSPO acc (of {})", options.batch);
    for s in &scores {
        println!(
            "{:>6} {:>6} {:>9.4} {:>8.4} {:>9.4} {:>8.4} {:>10.4} {:>9.4}",
            s.step, s.rows, s.tbo_loss, s.tbo_accuracy, s.spo_loss, s.spo_accuracy, s.cspo_loss, s.cspo_accuracy
        );
    }
    if let Some(out) = &args.out {
        let lines: Vec<String> = scores.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
        spe::atomic::write_bytes(out, format!("{}\n", lines.join("\n")).as_bytes())?;
    }
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    let _threads = fixed_threads(args.threads)?;
    let s = crate::finetune::inference::predict(&args.model, &args.input, &args.out, args.device.as_deref())?;
    eprintln!(
        "{}, {} ({} longer than the encoder's positions, predicted in windows): {} and {} predicted, written to {}",
        plural(s.documents as u64, "document"),
        plural(s.sentences as u64, "sentence"),
        s.windowed,
        plural(s.entities as u64, "entity"),
        plural(s.relations as u64, "relation"),
        args.out.display()
    );
    Ok(())
}

/// `--threads` of the commands that run for moments: a fixed count where it is given;
/// libtorch's own default (every core, or OMP_NUM_THREADS) otherwise.
fn fixed_threads(flag: Option<usize>) -> Result<Option<CpuShare>> {
    Ok(match flag {
        Some(_) => Some(CpuShare::new(Threads::of_command(flag)?)),
        None => None,
    })
}
