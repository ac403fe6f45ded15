//! The libtorch half of spe: everything that runs the paper's network through tch. spe
//! itself (the `spe` crate and binary) prepares, checks and reads corpora without libtorch;
//! its `train`, `finetune`, `evaluate` and `predict` commands run in this crate's binary,
//! `spe-trainer`, which `spe` starts for them (see `spe::companion` for why).
//!
//! Pre-training reads the shards of `spe prep`:
//!
//! ```text
//! shard reader (spe::batch) -> model (BERT, span and span-pair encoders) -> train (objectives, MoCo)
//! ```
//!
//! Fine-tuning reads labeled shards into the extractor of the paper's §3.4:
//!
//! ```text
//! labeled shards -> extract (tags, span types, relations) -> finetune (scheduled sampling, dev selection) -> score (Ent, Rel, Rel+)
//! ```
//!
//! [`runtime`] holds the libtorch parts every training command shares (device, AdamW,
//! faults); a run directory's layout, checkpoints, metrics and the progress bar are in
//! `spe::run`, so that `spe inspect` and `spe plot` read runs without libtorch.
//! [`experiment`] runs a grid of pre-training and fine-tuning runs (`spe experiment`);
//! [`commands`] runs the commands.

pub mod commands;
pub mod experiment;
pub mod extract;
pub mod finetune;
pub mod model;
pub mod runtime;
pub mod train;
