//! The shard format: zstd Parquet files of one row per sample, and the manifest that
//! makes a directory of them a finished output.
//!
//! A finished output directory holds `part-NNNNN.parquet` shards and `_manifest.json`,
//! written last (a labeled output holds its splits' shards in `split=NAME/` folders). Shards are written under `*.tmp` names and renamed when complete, so a
//! directory without a manifest, or with `.tmp` files, is not a finished output.

pub mod labeled;
pub mod manifest;
pub mod merge;
pub mod schema;
pub mod verify;
pub mod writer;

pub use manifest::{Manifest, MANIFEST_FILE};
pub use schema::SCHEMA_VERSION;
pub use writer::{ShardConfig, ShardRecord, ShardRow, ShardWriter};
