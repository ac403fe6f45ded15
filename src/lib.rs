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
//! Training (the `train` feature, on libtorch through tch) reads them in the other
//! direction:
//!
//! ```text
//! shard reader -> batch (loader, views) -> model (BERT, span and span-pair encoders) -> train (objectives, MoCo)
//! ```
//!
//! Fine-tuning reads labeled shards into the extractor of the paper's §3.4:
//!
//! ```text
//! labeled shards -> extract (tags, span types, relations) -> finetune (scheduled sampling, dev selection) -> score (Ent, Rel, Rel+)
//! ```
//!
//! [`runtime`] holds what every training command shares (device, AdamW, schedule,
//! checkpoints, metrics). The ground floor serves every stage: [`rng`] (keyed random
//! streams), [`counts`] (counts by reason), [`atomic`] (whole-or-nothing files),
//! [`interrupt`] (SIGINT and SIGTERM as errors, so a stopped run cleans up) and [`config`]
//! (TOML configurations and `--set`).

pub mod atomic;
pub mod batch;
pub mod clean;
pub mod config;
pub mod corpus;
pub mod counts;
pub mod export;
pub mod extract;
#[cfg(feature = "train")]
pub mod finetune;
pub mod inspect;
pub mod interrupt;
pub mod lock;
#[cfg(feature = "train")]
pub mod model;
pub mod plot;
pub mod prep;
pub mod rng;
pub mod runtime;
pub mod sample;
pub mod score;
pub mod shard;
pub mod sources;
pub mod tokenize;
#[cfg(feature = "train")]
pub mod train;
