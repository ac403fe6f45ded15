//! `spe experiment`: the paper's comparisons as one grid of fine-tuning runs. An experiment
//! file ([`file`], `pipelines/experiments/*.toml`) names the labeled data, the encoders to
//! compare (plain BERT directories, and pre-training runs to make once and share), shares
//! of the training documents (Table 5's 10%, 20%, 50%) and seeds. Each (encoder, share,
//! seed) is a cell, one `spe finetune` run in its own directory ([`plan`]); the results are
//! tables of mean ± sample standard deviation over the seeds, each encoder beside the
//! baseline's row, in the layout of the paper's Tables 2 to 6 ([`results`]), each
//! difference with its confidence interval and significance ([`significance`]).
//!
//! The grid's directory:
//!
//! ```text
//! DIR/experiment.json            the experiment as last run (paths made absolute)
//! DIR/pretrain/ENCODER/          an spe train run the experiment made, pretrain.json beside it
//! DIR/finetune/CELL/             an spe finetune run, cell.json beside its report.json
//! DIR/results.md, results.json   one table per share of the training documents
//! DIR/results.png                each cell's seeds as points beside their mean
//! ```
//!
//! A cell is complete when its `report.json` is there, a pre-training run when its exports
//! are: a rerun after a crash or a signal runs what is missing (a pre-training resumes from
//! its latest checkpoint, a fine-tuning restarts), and a finished grid reruns as a no-op. A
//! cell or pre-training run is reused only where its record (`cell.json`, `pretrain.json`)
//! equals the one the file gives now; another is refused, never overwritten. The runs
//! themselves are `spe-trainer`'s; this module plans them and reads their reports back.

pub mod file;
pub mod plan;
pub mod results;
pub mod significance;

/// The experiment as last run, in the grid's directory.
pub const EXPERIMENT_FILE: &str = "experiment.json";
/// The folder of the pre-training runs an experiment makes.
pub const PRETRAIN_DIR: &str = "pretrain";
/// The folder of the fine-tuning runs, one per cell.
pub const FINETUNE_DIR: &str = "finetune";
/// A pre-training run's record, beside its exports.
pub const PRETRAIN_RECORD: &str = "pretrain.json";
/// A cell's record, beside its report.
pub const CELL_RECORD: &str = "cell.json";
/// The tables, as Markdown.
pub const RESULTS_MD: &str = "results.md";
/// The tables, as JSON ([`results::Results`]).
pub const RESULTS_JSON: &str = "results.json";
/// The seeds of every cell beside their mean.
pub const RESULTS_PNG: &str = "results.png";
