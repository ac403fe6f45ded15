//! The command line of `spe`, shared with `spe-trainer`: both binaries parse the same
//! arguments and run every command alike, except the libtorch commands ([`TorchCommand`]),
//! which each binary runs its own way (see [`crate::companion`]).

use crate::config::Override;
use crate::corpus::wiki::WikiInput;
use crate::corpus::{CorpusName, Prepared};
use crate::counts::plural;
use crate::partition::Partition;
use crate::prep::labeled::{LabeledInputs, SPLITS};
use crate::prep::{self, PrepConfig, PrepOptions};
use crate::sources::{verify_source, SourceManifest};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Span and span-pair encoders for entity-relation extraction, from corpus to scores.
///
/// Prepares pre-training and labeled corpora, pre-trains the encoders with TBO, SPO and CSPO,
/// and fine-tunes and scores the joint extractor (Wang et al., EMNLP 2020).
#[derive(Parser)]
#[command(
    name = "spe",
    version,
    after_help = "Example:\n  spe prep wiki --input enwiki-pages-articles-multistream.xml.bz2 --out out/wiki"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn a corpus into Parquet shards of span-pair samples or labeled sentences.
    #[command(
        subcommand,
        after_help = "Example:\n  spe prep text --input data/sample/enwiki-sentences.txt --out out/sample"
    )]
    Prep(Box<Corpus>),
    /// Show an output's summary, schema and rows, or summarise a training run.
    ///
    /// Given a spe prep output: its manifest summary, its schema and a few rows. Given the --out
    /// of spe train or spe finetune: its losses (or dev scores), checkpoints and exports.
    #[command(after_help = "Example:\n  spe inspect out/wiki -n 5")]
    Inspect {
        /// The output directory, or the --out of spe train or spe finetune.
        dir: PathBuf,
        /// Rows to show.
        #[arg(short = 'n', long, default_value_t = 3)]
        rows: usize,
    },
    /// Draw a training or fine-tuning run's curves into RUN_DIR/loss-curves.png.
    ///
    /// One panel per objective (or per dev score), from the run's metrics.jsonl.
    #[command(after_help = "Example:\n  spe plot runs/wiki")]
    Plot {
        /// The --out of spe train or spe finetune.
        run_dir: PathBuf,
    },
    /// Re-check an output's shards, counts and inputs against its manifest.
    ///
    /// Every shard's size, checksum, rows and schema, every row's invariants, the totals, and
    /// the input files found at their recorded paths; exits non-zero on any difference.
    #[command(after_help = "Example:\n  spe verify out/wiki")]
    Verify {
        /// The output directory.
        dir: PathBuf,
        /// Do not hash the input files again.
        #[arg(long)]
        skip_inputs: bool,
    },
    /// Join the rank folders of a partitioned spe prep into one output.
    ///
    /// Checks every rank-R-of-N folder in DIR and writes DIR/_manifest.json over all shards.
    #[command(after_help = "Example:\n  spe merge out/wiki")]
    Merge {
        /// The --out the ranks were given.
        dir: PathBuf,
    },
    /// Write a labeled output back as DyGIE JSON lines or SpERT's JSON.
    ///
    /// One SPLIT.json per split; with --format spert, SpERT's JSON and its types.json.
    #[command(after_help = "Example:\n  spe export out/scierc --out scierc-spert --format spert")]
    Export {
        /// The labeled output directory.
        dir: PathBuf,
        /// Where to write the files.
        #[arg(long)]
        out: PathBuf,
        /// dygie (JSON lines, one document a line) or spert (one JSON array a split).
        #[arg(long, default_value = "dygie")]
        format: crate::export::ExportFormat,
        /// Replace files of the names it writes that are already in --out.
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Torch(TorchCommand),
    /// Check local copies of a corpus against its data manifest.
    ///
    /// Files, sizes, checksums and counts, against data-manifests/*.toml; exits non-zero on
    /// any difference.
    #[command(after_help = "Example:\n  spe verify-source data-manifests/scierc.toml SCIERC_DIR")]
    VerifySource {
        /// The data manifest.
        manifest: PathBuf,
        /// The directory holding the source's files.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Corpus {
    /// Plain text, one sentence per line, a blank line between documents (.txt, .zst, .bz2).
    #[command(after_help = "Example:\n  spe prep text --input data/sample/enwiki-sentences.txt --out out/sample")]
    Text {
        #[command(flatten)]
        inputs: InputFiles,
        #[command(flatten)]
        args: PrepArgs,
    },
    /// Directory trees of plain-text books, one .txt (.txt.zst, .txt.bz2) per book.
    #[command(after_help = "Example:\n  spe prep books --input books/ --out out/books")]
    Books {
        #[command(flatten)]
        inputs: InputFiles,
        #[command(flatten)]
        args: PrepArgs,
    },
    /// MediaWiki XML dumps (.xml, .xml.zst, .xml.bz2; multistream dumps decoded in parallel).
    #[command(
        after_help = "Example:\n  spe prep wiki --input enwiki-pages-articles-multistream.xml.bz2 --out out/wiki"
    )]
    Wiki {
        #[command(flatten)]
        inputs: InputFiles,
        #[command(flatten)]
        args: PrepArgs,
        /// The multistream-index.txt.bz2 of each input, in order; by default the index next
        /// to a multistream dump is used, and stream boundaries are found by scanning otherwise.
        #[arg(long)]
        index: Vec<PathBuf>,
    },
    /// NYT as released with ARNOR: pre-training shards, or labeled shards with --labeled.
    ///
    /// Sentence JSON lines: pre-training shards of its sentences (--input), or labeled shards
    /// of its distant supervision (--labeled).
    #[command(
        after_help = "Example:\n  spe prep nyt --labeled --train train.json --dev dev.json --test test.json --out out/nyt"
    )]
    Nyt {
        /// Files whose sentences become pre-training shards.
        #[arg(long, num_args = 1.., conflicts_with = "labeled", required_unless_present = "labeled")]
        input: Vec<PathBuf>,
        /// Write labeled shards (entities and relations) of --train, --dev and --test.
        #[arg(long)]
        labeled: bool,
        #[command(flatten)]
        splits: SplitArgs,
        #[command(flatten)]
        args: PrepArgs,
    },
    /// ACE05 (DyGIE JSON lines, NERE sentence JSON lines or brat standoff) to labeled shards.
    #[command(
        after_help = "Example:\n  spe prep ace05 --train train.json --dev dev.json --test test.json --out out/ace05"
    )]
    Ace05 {
        #[command(flatten)]
        splits: SplitArgs,
        #[command(flatten)]
        args: PrepArgs,
    },
    /// SciERC (DyGIE JSON lines, as released) to labeled shards.
    #[command(
        after_help = "Example:\n  spe prep scierc --train train.json --dev dev.json --test test.json --out out/scierc"
    )]
    Scierc {
        #[command(flatten)]
        splits: SplitArgs,
        #[command(flatten)]
        args: PrepArgs,
    },
    /// Any other labeled corpus (DyGIE, NERE, ARNOR, brat or SpERT) to labeled shards.
    ///
    /// Its label sets come from --config's [labels] (see pipelines/labeled.toml); where none
    /// are given, any label is accepted and fine-tuning takes the training split's.
    #[command(
        after_help = "Example:\n  spe prep labeled --train train.json --dev dev.json --test test.json --out out/corpus --config pipelines/labeled.toml"
    )]
    Labeled {
        #[command(flatten)]
        splits: SplitArgs,
        #[command(flatten)]
        args: PrepArgs,
    },
}

/// The commands that run the network on libtorch: `spe-trainer` runs them, and `spe` hands
/// them to it.
#[derive(Subcommand)]
pub enum TorchCommand {
    /// Pre-train the sentence, span and span-pair encoders with TBO, SPO and CSPO.
    ///
    /// Reads pre-training shards, on a GPU or the CPU, in one process or as data-parallel
    /// ranks; a stopped run resumes from its newest checkpoint with --resume.
    #[command(
        after_help = "Example:\n  spe train --shards out/wiki --out runs/wiki --config pipelines/train.toml --init models/bert-base-cased"
    )]
    Train(Box<TrainArgs>),
    /// Score a pre-training run's checkpoints on held-out pre-training shards.
    ///
    /// Each objective's loss and accuracy on text it never trained on, for every checkpoint
    /// (and the run's start, with --init).
    #[command(
        after_help = "Example:\n  spe heldout runs/wiki --shards out/wiki-heldout --init models/bert-base-cased"
    )]
    Heldout(HeldoutArgs),
    /// Fine-tune the entity and relation extractor on labeled shards.
    ///
    /// From a pre-training run's encoders or a plain BERT; reports dev and test F1.
    #[command(
        after_help = "Example:\n  spe finetune --data out/scierc --encoder runs/wiki --out runs/scierc --seeds 1,2,3"
    )]
    Finetune(Box<FinetuneArgs>),
    /// Score a fine-tuned extractor on a split (Ent, Rel, Rel+) and write its predictions.
    #[command(after_help = "Example:\n  spe evaluate --model runs/scierc/seed-1/model --data out/scierc --split test")]
    Evaluate(EvaluateArgs),
    /// Extract entities and relations from raw text or DyGIE JSON lines.
    #[command(
        after_help = "Example:\n  spe predict --model runs/scierc/seed-1/model --input abstracts.txt --out predictions.json"
    )]
    Predict(PredictArgs),
    /// Run a grid of pre-training and fine-tuning runs and tabulate it against a baseline.
    ///
    /// Encoders, shares of the training data and seeds; each pre-training run made once; mean
    /// ± sd, 95% confidence intervals and a paired bootstrap test. Resumable.
    #[command(
        after_help = "Example:\n  spe experiment pipelines/experiments/minilm-scierc.toml --out runs/minilm-scierc --dry-run"
    )]
    Experiment(ExperimentArgs),
}

impl Cli {
    /// The command tree, every (sub)command taking a value that starts with `-` and a digit
    /// as a value: `--seeds -1` is then refused by the option's own parser, which names the
    /// option, where clap would take `-1` for an unknown flag and name no option.
    pub fn tree() -> clap::Command {
        fn negatives(command: clap::Command) -> clap::Command {
            let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
            names.into_iter().fold(command.allow_negative_numbers(true), |c, name| c.mut_subcommand(name, negatives))
        }
        negatives(<Cli as clap::CommandFactory>::command())
    }

    /// Parses `args` (the program's name first) with [`Cli::tree`].
    fn try_parse_negatives_too<I: Into<std::ffi::OsString> + Clone>(
        args: impl IntoIterator<Item = I>,
    ) -> Result<Cli, clap::Error> {
        let matches = Cli::tree().try_get_matches_from(args)?;
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
    }

    /// Parses the process's arguments; a bad one ends the process with clap's message.
    fn parse_negatives_too() -> Cli {
        Cli::try_parse_negatives_too(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }
}

impl TorchCommand {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            TorchCommand::Train(_) => "train",
            TorchCommand::Heldout(_) => "heldout",
            TorchCommand::Finetune(_) => "finetune",
            TorchCommand::Evaluate(_) => "evaluate",
            TorchCommand::Predict(_) => "predict",
            TorchCommand::Experiment(_) => "experiment",
        }
    }
}

/// Flags of `spe evaluate`.
#[derive(Args)]
pub struct EvaluateArgs {
    /// The fine-tuned extractor (`model/` of a finetune run).
    #[arg(long)]
    pub model: PathBuf,
    /// The labeled output to score on.
    #[arg(long)]
    pub data: PathBuf,
    /// The split.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Where to write the predictions (DyGIE JSON lines); MODEL/predictions-SPLIT.json by default.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set, else every core].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Flags of `spe heldout`.
#[derive(Args)]
pub struct HeldoutArgs {
    /// The pre-training run (the --out of spe train), with its checkpoints.
    pub run: PathBuf,
    /// Held-out pre-training outputs (spe prep), tokenized as the run's shards were.
    #[arg(long, required = true, num_args = 1..)]
    pub shards: Vec<PathBuf>,
    /// The run's --init BERT, to score its starting point (step 0) too.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Rows scored: the first of the held-out shards.
    #[arg(long, default_value_t = 1024)]
    pub rows: usize,
    /// Rows a batch; CSPO picks each sentence's other view among the batch's.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Also write the scores here, one JSON record per point.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set, else every core].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Flags of `spe predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// The fine-tuned extractor (`model/` of a finetune run).
    #[arg(long)]
    pub model: PathBuf,
    /// Raw text (documents separated by blank lines) or DyGIE JSON lines.
    #[arg(long)]
    pub input: PathBuf,
    /// The DyGIE JSON lines to write, with predicted_ner and predicted_relations.
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set, else every core].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Flags of `spe experiment`.
#[derive(Args)]
pub struct ExperimentArgs {
    /// The experiment file (see pipelines/experiments/*.toml).
    pub file: PathBuf,
    /// The grid's folder: pretrain/, finetune/ (a folder per cell), results.md, .json, .png.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the units and what each folder holds (done, to run, to resume), and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Only tabulate the cells that are done (after the ranks of a partitioned run).
    #[arg(long, conflicts_with = "dry_run")]
    pub collect: bool,
    /// Run only one stage: pretrain (the pre-training runs) or finetune (the cells).
    #[arg(long)]
    pub only: Option<crate::experiment::plan::Stage>,
    /// This rank, from 0, of a grid shared among --world-size processes (or from the
    /// environment: SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, RANK).
    #[arg(long)]
    pub rank: Option<u32>,
    /// The number of ranks sharing the grid.
    #[arg(long)]
    pub world_size: Option<u32>,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set; otherwise every
    /// core while the machine is otherwise idle, one fewer for each core a neighbour keeps
    /// busy]. Give each of several ranks on one machine its share.
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bars (log lines only).
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `spe train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Pre-training output directories (from `spe prep`), read together.
    #[arg(long, required = true, num_args = 1..)]
    pub shards: Vec<PathBuf>,
    /// Output directory: checkpoints, metrics.jsonl, the exported encoders.
    #[arg(long)]
    pub out: PathBuf,
    /// A Hugging Face BERT directory (config.json, model.safetensors) to start the sentence
    /// encoder from; a BERT of the configured size starts from random weights otherwise.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Configuration file (see pipelines/train*.toml); the built-in defaults otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Optimizer steps (steps) [default: 40000, or the --config file's].
    #[arg(long)]
    pub steps: Option<u64>,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set; otherwise every
    /// core while the machine is otherwise idle, one fewer for each core a neighbour keeps
    /// busy]. A fixed count makes a CPU run repeat bit for bit whatever else runs.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The objectives to train, comma-separated; the others get weight 0 [default: tbo,spo,cspo].
    #[arg(long)]
    pub objectives: Option<String>,
    /// Continue the run in --out from its latest intact checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue even if --shards differ from those the run started on.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Random seed (seed) [default: 5216, or the --config file's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub seed: Option<u64>,
    /// Set any configuration value, e.g. --set optim.learning_rate=5e-5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `spe finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// Labeled output (spe prep scierc|ace05|…) with train and dev splits; test is reported.
    #[arg(long)]
    pub data: PathBuf,
    /// A spe train run (its encoder/ and span encoders) or a Hugging Face BERT directory.
    #[arg(long)]
    pub encoder: PathBuf,
    /// Output directory: model/, metrics.jsonl, predictions, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Configuration file (see pipelines/finetune-*.toml); the built-in defaults otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cuda where libtorch finds one, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Threads of libtorch's CPU kernels [default: OMP_NUM_THREADS where set; otherwise every
    /// core while the machine is otherwise idle, one fewer for each core a neighbour keeps
    /// busy]. A fixed count makes a CPU run repeat bit for bit whatever else runs.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seeds, comma-separated: one run each, and the mean and standard deviation of the F1s
    /// [default: one run, with seed 5216 or the --config file's].
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Most epochs (epochs) [default: 20, or the --config file's].
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Set any configuration value, e.g. --set optim.learning_rate=5e-5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub quiet: bool,
}

/// The input files of a text corpus.
#[derive(Args)]
struct InputFiles {
    /// Input files (for books: directories or files).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
}

/// The splits of a labeled corpus.
#[derive(Args)]
struct SplitArgs {
    /// The training split: a JSON lines file, a SpERT JSON array, or for brat a list of
    /// document ids.
    #[arg(long)]
    train: Option<PathBuf>,
    /// The development split.
    #[arg(long)]
    dev: Option<PathBuf>,
    /// The test split.
    #[arg(long)]
    test: Option<PathBuf>,
    /// The release format (dygie, nere, arnor, brat, spert); detected when absent.
    #[arg(long)]
    format: Option<String>,
    /// A SpERT types file (NAME_types.json): the entity and relation types and which
    /// relations are symmetric. It gives a corpus of the user's its label sets, and must
    /// agree with ACE05's or SciERC's own.
    #[arg(long)]
    types: Option<PathBuf>,
    /// Where brat documents (ID.split.txt, ID.split.ann) lie; by default next to each id list.
    #[arg(long)]
    documents: Option<PathBuf>,
    /// Also write pre-training shards of the training split's sentences here (in-domain text).
    #[arg(long)]
    pretrain_out: Option<PathBuf>,
    /// Keep documents shared by two splits, and count them in the manifest, instead of
    /// stopping (labels.repeated_documents = "count"). Repeats within a split are always
    /// kept and counted, as the releases score them.
    #[arg(long)]
    allow_split_overlap: bool,
}

impl SplitArgs {
    /// `--format` and `--allow-split-overlap` as configuration overrides.
    fn overrides(&self) -> Vec<Override> {
        let mut overrides = Vec::new();
        if let Some(format) = &self.format {
            overrides.push(Override::new("labels.format", format.as_str()));
        }
        if self.allow_split_overlap {
            overrides.push(Override::new("labels.repeated_documents", "count"));
        }
        overrides
    }

    fn inputs(&self) -> LabeledInputs {
        let given = [&self.train, &self.dev, &self.test];
        let splits = SPLITS.iter().zip(given).filter_map(|(name, path)| Some((name.to_string(), path.clone()?)));
        LabeledInputs { splits: splits.collect(), documents: self.documents.clone(), types: self.types.clone() }
    }

    /// Writes the labeled shards, and the in-domain pre-training shards when asked.
    fn run(&self, corpus: CorpusName, args: &PrepArgs) -> Result<()> {
        let config = args.config(corpus, self.overrides())?;
        let options = args.options()?;
        if let Some(p) = options.partition {
            anyhow::bail!(
                "spe prep {corpus} writes labeled splits, and its checks that no document is given twice or shared \
                 by two splits need every document at once, so it runs on one machine (labeled corpora are small); \
                 it was given rank {} of {} (from --rank, or from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or \
                 RANK in the environment)",
                p.rank,
                p.world_size
            );
        }
        let run = prep::labeled::run_with_pretraining(
            corpus,
            &self.inputs(),
            self.pretrain_out.as_deref(),
            &config,
            &options,
        )?;
        eprintln!("{}", run.summary());
        Ok(())
    }
}

/// Flags common to every corpus.
#[derive(Args)]
struct PrepArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// A BERT vocab.txt or a tokenizer.json [default: the paper's vocabulary, bert-base-cased, built in].
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Configuration file (see pipelines/); the corpus's built-in defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Random seed (seed) [default: 42, or the --config file's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    seed: Option<u64>,
    /// Worker threads (0: one per core). Does not change the output.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Samples drawn per sentence (sample.dupe_factor) [default: 1, or the --config file's].
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
    /// This machine's rank in a run shared by several: it prepares its share of the input
    /// into OUT/rank-R-of-N/, and `spe merge OUT` joins the ranks [default: from
    /// SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or RANK, where set].
    #[arg(long)]
    rank: Option<u32>,
    /// The number of ranks [default: SLURM_ARRAY_TASK_COUNT or WORLD_SIZE, where set].
    #[arg(long)]
    world_size: Option<u32>,
}

impl PrepArgs {
    /// The configuration of `corpus` with every flag applied; `labels` are the overrides of
    /// the labeled corpora's own flags.
    fn config(&self, corpus: CorpusName, labels: Vec<Override>) -> Result<PrepConfig> {
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
        overrides.extend(labels);
        PrepConfig::load(corpus, self.config.as_deref(), &overrides)
    }

    /// The run's options, with the rank of a partitioned run from the flags or the
    /// scheduler's environment.
    fn options(&self) -> Result<PrepOptions> {
        let partition = Partition::resolve(self.rank, self.world_size)?.map(|(partition, origin)| {
            let dir = self.out.join(partition.dir_name());
            eprintln!("rank {} of {} (from {origin}): writing {}", partition.rank, partition.world_size, dir.display());
            partition
        });
        Ok(PrepOptions { out: self.out.clone(), threads: self.threads, force: self.force, partition })
    }
}

fn prep_corpus(corpus: Corpus) -> Result<()> {
    match corpus {
        Corpus::Text { inputs, args } => {
            let (manifest, log) =
                prep::text(inputs.input, &args.config(CorpusName::Text, Vec::new())?, &args.options()?)?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Corpus::Books { inputs, args } => {
            let (manifest, log) =
                prep::books(inputs.input, &args.config(CorpusName::Books, Vec::new())?, &args.options()?)?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Corpus::Wiki { inputs, args, index } => {
            let inputs = WikiInput::pair(inputs.input, index)?;
            let (manifest, log) = prep::wiki(inputs, &args.config(CorpusName::Wiki, Vec::new())?, &args.options()?)?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Corpus::Nyt { labeled: true, splits, args, .. } => splits.run(CorpusName::Nyt, &args)?,
        Corpus::Nyt { input, splits, args, .. } => {
            let config = args.config(CorpusName::Nyt, splits.overrides())?;
            let corpus = Prepared::Corpus(CorpusName::Nyt);
            let (manifest, log) = prep::labeled_text(corpus, input, None, &config, &args.options()?)?;
            eprintln!("{}", prep::summary(&manifest, &log));
        }
        Corpus::Ace05 { splits, args } => splits.run(CorpusName::Ace05, &args)?,
        Corpus::Scierc { splits, args } => splits.run(CorpusName::Scierc, &args)?,
        Corpus::Labeled { splits, args } => splits.run(CorpusName::Labeled, &args)?,
    }
    Ok(())
}

fn run(cli: Cli, torch: impl FnOnce(TorchCommand) -> Result<()>) -> Result<ExitCode> {
    match cli.command {
        // A command that writes for long (prep here, train and finetune in the trainer)
        // installs the signal handlers: a signal stops it between batches, and it removes
        // what it wrote as on any error.
        Command::Prep(corpus) => {
            crate::interrupt::install()?;
            prep_corpus(*corpus)?
        }
        Command::Torch(command) => torch(command)?,
        Command::Inspect { dir, rows } => print!("{}", crate::inspect::inspect(&dir, rows)?),
        Command::Plot { run_dir } => println!("{}", crate::plot::draw(&run_dir)?.display()),
        Command::Verify { dir, skip_inputs } => {
            use crate::shard::verify::{verify, Inputs};
            let report = verify(&dir, if skip_inputs { Inputs::Skip } else { Inputs::Check })?;
            for line in report.unchecked.iter().map(|u| format!("note: {u}")).chain(report.problems.iter().cloned()) {
                eprintln!("{line}");
            }
            if !report.problems.is_empty() {
                eprintln!("{}: {} found", dir.display(), plural(report.problems.len() as u64, "problem"));
                return Ok(ExitCode::FAILURE);
            }
            let (shards, rows) = (plural(report.shards as u64, "shard"), plural(report.rows, "row"));
            println!("{}: {shards} and {rows} match the manifest", dir.display());
        }
        Command::Merge { dir } => {
            let (manifest, ranks) = crate::shard::merge::merge(&dir)?;
            let t = &manifest.totals;
            println!(
                "{}: {} merged: {}, {}, {} in {}",
                dir.display(),
                plural(u64::from(ranks), "rank"),
                plural(t.documents, "document"),
                plural(t.sentences, "sentence"),
                plural(t.samples, "sample"),
                plural(manifest.shards.len() as u64, "shard"),
            );
        }
        Command::Export { dir, out, format, force } => {
            for path in crate::export::export(&dir, &out, format, force)? {
                println!("{}", path.display());
            }
        }
        Command::VerifySource { manifest, dir } => {
            let source = SourceManifest::read(&manifest)?;
            let report = verify_source(&source, &dir)?;
            for line in &report.passed {
                println!("ok {line}");
            }
            for problem in &report.problems {
                eprintln!("{problem}");
            }
            if !report.problems.is_empty() {
                let problems = plural(report.problems.len() as u64, "problem");
                eprintln!("{}: {problems} found in {}", source.name, dir.display());
                return Ok(ExitCode::FAILURE);
            }
            let passed = plural(report.passed.len() as u64, "check");
            println!("{}: {passed} passed in {}", source.name, dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses the command line and runs it, the libtorch commands with `torch`; an error is
/// printed with its causes and ends the process with status 1, or 128 + N after signal N.
pub fn main(torch: impl FnOnce(TorchCommand) -> Result<()>) -> ExitCode {
    match run(Cli::parse_negatives_too(), torch) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.chain().find_map(|cause| cause.downcast_ref::<crate::interrupt::Interrupted>()) {
                Some(interrupted) => ExitCode::from(interrupted.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The long help of `spe SUBCOMMAND…`.
    fn help(path: &[&str]) -> String {
        let mut command = Cli::command();
        let mut sub = &mut command;
        for name in path {
            sub = sub.find_subcommand_mut(name).unwrap();
        }
        sub.render_long_help().to_string()
    }

    /// Every command, the top level included, with the words that name it (`["prep", "wiki"]`).
    fn every_command(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        out.push((path.clone(), command.clone()));
        for sub in command.get_subcommands() {
            let mut path = path.clone();
            path.push(sub.get_name().to_string());
            every_command(sub, path, out);
        }
    }

    #[test]
    fn every_command_says_what_it_does_in_one_line_and_shows_an_example_that_parses() {
        let mut commands = Vec::new();
        every_command(&Cli::tree(), Vec::new(), &mut commands);
        assert!(commands.len() > 20, "{} commands", commands.len());
        for (path, command) in commands {
            let name = ["spe".to_string()].iter().chain(&path).cloned().collect::<Vec<_>>().join(" ");
            let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(!about.is_empty() && !about.contains('\n') && about.len() <= 100, "{name}: about {about:?}");
            let after = command.get_after_help().map(|a| a.to_string()).unwrap_or_default();
            let example = after.strip_prefix("Example:\n  ").unwrap_or_else(|| panic!("{name}: no example: {after:?}"));
            let words: Vec<&str> = example.split_whitespace().collect();
            assert_eq!(words[..=path.len()].join(" "), name, "{name}: its example runs another command");
            if let Err(e) = Cli::try_parse_negatives_too(&words) {
                panic!("{name}: its example {example:?} does not parse: {e}");
            }
        }
    }

    #[test]
    fn a_negative_number_is_refused_naming_its_option() {
        let refused = |args: &[&str]| match Cli::try_parse_negatives_too(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => e.to_string(),
        };
        let err = refused(&["spe", "finetune", "--data", "d", "--encoder", "e", "--out", "o", "--seeds", "-1"]);
        assert!(err.contains("'-1'") && err.contains("--seeds"), "{err}");
        let err = refused(&["spe", "experiment", "grid.toml", "--out", "o", "--rank", "-1"]);
        assert!(err.contains("'-1'") && err.contains("--rank"), "{err}");
        let err = refused(&["spe", "prep", "text", "--input", "a", "--out", "o", "--threads", "-2"]);
        assert!(err.contains("'-2'") && err.contains("--threads"), "{err}");
        // A flag that does not exist is still one.
        assert!(refused(&["spe", "verify", "d", "--bogus"]).contains("--bogus"));
    }

    #[test]
    fn help_gives_the_defaults_the_configurations_hold() {
        let prep = PrepConfig::default();
        let text = help(&["prep", "text"]);
        assert!(text.contains(&format!("[default: {}, or the --config file's]", prep.seed)), "{text}");
        assert!(text.contains(&format!("[default: {}, or the --config file's]", prep.sample.dupe_factor)), "{text}");
        let defaults = |path: &str| -> toml::Table { toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap() };
        let train = defaults("pipelines/train.toml");
        let text = help(&["train"]);
        assert!(text.contains(&format!("[default: {}, or the --config file's]", train["seed"])), "{text}");
        assert!(text.contains(&format!("[default: {}, or the --config file's]", train["steps"])), "{text}");
        let finetune = help(&["finetune"]);
        // spe finetune's defaults are pipelines/finetune.toml's (the paper's set-up is a config away).
        let recipe = defaults("pipelines/finetune.toml");
        assert!(finetune.contains(&format!("seed {}", recipe["seed"])), "{finetune}");
        assert!(finetune.contains(&format!("[default: {}, or the --config file's]", recipe["epochs"])), "{finetune}");
    }
}
