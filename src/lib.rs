//! spe prepares pre-training corpora for entity-relation extraction, following
//! "Pre-training Entity Relation Encoder with Intra-span and Inter-span Information"
//! (Wang et al., 2020), and writes them as zstd Parquet shards.
//!
//! The modules follow the data flow of `spe prep`:
//!
//! ```text
//! corpus (source readers) -> clean (and split) -> tokenize -> sample -> shard (writer, manifest)
//! ```
//!
//! [`prep`] wires these stages into a streaming, parallel and deterministic pipeline;
//! [`inspect`] and [`shard::verify`] read finished outputs back.
//!
//! [`batch`] reads them back for training: the shard loader and the CSPO views.

pub mod batch;
pub mod clean;
pub mod config;
pub mod corpus;
pub mod export;
pub mod inspect;
pub mod prep;
pub mod sample;
pub mod shard;
pub mod sources;
pub mod tokenize;
