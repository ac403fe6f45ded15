//! spe prepares pre-training corpora for entity-relation extraction, following
//! "Pre-training Entity Relation Encoder with Intra-span and Inter-span Information"
//! (Wang et al., 2020), writes them as zstd Parquet shards, and trains the paper's
//! encoders on them.
//!
//! The modules follow the data flow of `spe prep`:
//!
//! ```text
//! corpus (source readers) -> clean (and split) -> tokenize -> sample -> shard (writer, manifest)
//! ```
//!
//! [`prep`] wires these stages into a streaming, parallel and deterministic pipeline;
//! [`inspect`], [`export`] and [`shard::verify`] read finished outputs back.
//!
//! Training reads them in the other direction, in the companion crate `spe-trainer` (on
//! libtorch through tch), which builds on this one:
//!
//! ```text
//! shard reader -> batch (loader, views) -> model (BERT, span and span-pair encoders) -> train (objectives, MoCo)
//! ```
//!
//! This crate holds the trainers' parts that need no libtorch: [`batch`] (the loader),
//! [`score`] (exact-match F1), [`run`] (a run directory's layout, checkpoints, metrics,
//! progress, report), which `spe inspect` and `spe plot` read runs with, and
//! [`experiment`] (a grid of runs: its file, its plan and its tables). [`cli`] is the command line of both binaries, and [`companion`] hands the
//! libtorch commands from `spe` to `spe-trainer`. The ground floor serves every stage and
//! imports none of them: [`rng`] (keyed random streams), [`counts`] (counts by reason),
//! [`digest`] (SHA-256 checksums), [`atomic`] (whole-or-nothing files), [`lock`] (one run
//! per output directory), [`partition`] (a run's share of the input on one of several
//! machines), [`overwrite`] (no output over an input), [`regular_file`] (no FIFO or device read), [`interrupt`] (SIGINT and SIGTERM
//! as errors, so a stopped run cleans up) and [`config`] (TOML configurations and
//! `--set`).

pub mod atomic;
pub mod batch;
pub mod clean;
pub mod cli;
pub mod companion;
pub mod config;
pub mod corpus;
pub mod counts;
pub mod digest;
pub mod experiment;
pub mod export;
pub mod inspect;
pub mod interrupt;
pub mod lock;
pub mod overwrite;
pub mod partition;
pub mod plot;
pub mod prep;
pub mod regular_file;
pub mod rng;
pub mod run;
pub mod sample;
pub mod score;
pub mod shard;
pub mod sources;
pub mod tokenize;
