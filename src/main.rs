//! The `spe` command line: parses arguments and calls the library.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use spe::config::{self, Override};
use spe::corpus::wiki::WikiInput;
use spe::prep::{self, PrepConfig, PrepOptions};
use std::path::PathBuf;
use std::process::ExitCode;

// The pipeline allocates many small vectors on several threads at once, where glibc's
// allocator spends a fifth of the run; mimalloc's thread-local heaps avoid that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prepare span-pair pre-training corpora for entity-relation extraction.
#[derive(Parser)]
#[command(name = "spe", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn a corpus into Parquet shards of span-pair samples.
    #[command(subcommand)]
    Prep(Corpus),
    /// Show an output's manifest summary, schema and a few rows.
    Inspect {
        /// The output directory.
        dir: PathBuf,
        /// Rows to show.
        #[arg(short = 'n', long, default_value_t = 3)]
        rows: usize,
    },
    /// Re-check every shard of an output against its manifest; exits non-zero on any difference.
    Verify {
        /// The output directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Corpus {
    /// Plain text, one sentence per line, a blank line between documents (.txt, .zst, .bz2).
    Text(PrepArgs),
    /// Directory trees of plain-text books, one .txt (.txt.zst, .txt.bz2) per book.
    Books(PrepArgs),
    /// MediaWiki XML dumps (.xml, .xml.zst, .xml.bz2; multistream dumps decoded in parallel).
    Wiki {
        #[command(flatten)]
        args: PrepArgs,
        /// The multistream-index.txt.bz2 of each input, in order; by default the index next
        /// to a multistream dump is used, and stream boundaries are found by scanning otherwise.
        #[arg(long)]
        index: Vec<PathBuf>,
    },
}

/// Flags common to every corpus.
#[derive(Args)]
struct PrepArgs {
    /// Input files (for books: directories or files).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// A BERT vocab.txt or a tokenizer.json.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Configuration file (see pipelines/); the built-in defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Random seed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    seed: Option<u64>,
    /// Worker threads (0: one per core). Does not change the output.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Samples drawn per sentence.
    #[arg(long)]
    dupe_factor: Option<u32>,
    /// Skip and count unreadable records instead of stopping.
    #[arg(long)]
    skip_bad_records: bool,
    /// Set any configuration value, e.g. --set sample.tbo_max=20 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Replace an existing output in --out.
    #[arg(long)]
    force: bool,
}

impl PrepArgs {
    fn config(&self) -> Result<PrepConfig> {
        let mut overrides = self.set.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>>>()?;
        if let Some(path) = &self.tokenizer {
            overrides.push(Override::new("tokenizer.path", path.display().to_string()));
        }
        if let Some(seed) = self.seed {
            overrides.push(Override::new("seed", seed as i64));
        }
        if let Some(n) = self.dupe_factor {
            overrides.push(Override::new("sample.dupe_factor", i64::from(n)));
        }
        if self.skip_bad_records {
            overrides.push(Override::new("read.on_bad_record", "skip"));
        }
        config::load(self.config.as_deref(), &overrides)
    }

    fn options(&self) -> PrepOptions {
        PrepOptions { out: self.out.clone(), threads: self.threads, force: self.force }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Prep(Corpus::Text(args)) => {
            let (manifest, log) = prep::text(args.input.clone(), &args.config()?, &args.options())?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Command::Prep(Corpus::Books(args)) => {
            let (manifest, log) = prep::books(args.input.clone(), &args.config()?, &args.options())?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Command::Prep(Corpus::Wiki { args, index }) => {
            if !index.is_empty() && index.len() != args.input.len() {
                anyhow::bail!(
                    "--index was given {} times for {} inputs; give one per input or none",
                    index.len(),
                    args.input.len()
                );
            }
            let inputs = args
                .input
                .iter()
                .enumerate()
                .map(|(i, dump)| match index.get(i) {
                    Some(index) => WikiInput { dump: dump.clone(), index: Some(index.clone()) },
                    None => WikiInput::with_sibling_index(dump.clone()),
                })
                .collect();
            let (manifest, log) = prep::wiki(inputs, &args.config()?, &args.options())?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Command::Inspect { dir, rows } => print!("{}", spe::inspect::inspect(&dir, rows)?),
        Command::Verify { dir } => {
            let report = spe::shard::verify::verify(&dir)?;
            for problem in &report.problems {
                eprintln!("{problem}");
            }
            if !report.problems.is_empty() {
                eprintln!("{}: {} problem(s) found", dir.display(), report.problems.len());
                return Ok(ExitCode::FAILURE);
            }
            println!("{}: {} shards and {} rows match the manifest", dir.display(), report.shards, report.rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
