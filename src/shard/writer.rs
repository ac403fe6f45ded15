//! Writes rows into rolling zstd Parquet shards, each under a temporary name until it is
//! complete, hashing the bytes as they are written.

use crate::atomic::tmp_path;
use anyhow::{ensure, Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Configuration of the shard writer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    /// Rows per shard file; the last shard holds the rest.
    pub rows_per_shard: usize,
    /// Rows per Parquet row group, the unit a reader loads at once.
    pub row_group_rows: usize,
    /// zstd compression level (1..=22).
    pub zstd_level: i32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig { rows_per_shard: 500_000, row_group_rows: 20_000, zstd_level: 3 }
    }
}

/// A finished shard as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// File name within the output directory.
    pub file: String,
    /// Number of rows (samples).
    pub rows: u64,
    /// Number of Parquet row groups.
    pub row_groups: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// The name of shard `index`.
pub fn shard_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// Whether `name` is a name [`shard_name`] gives.
pub fn is_shard_name(name: &str) -> bool {
    let index = name.strip_prefix("part-").and_then(|n| n.strip_suffix(".parquet"));
    index.is_some_and(|i| i.len() >= 5 && i.bytes().all(|b| b.is_ascii_digit()))
}

/// A row type with a shard layout: pre-training samples or labeled sentences.
pub trait ShardRow: Sized {
    /// The Arrow schema of the shards.
    fn schema() -> SchemaRef;
    /// The record batch of `rows`.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch>;
}

/// Writes rows in order into `part-00000.parquet`, `part-00001.parquet`, …
pub struct ShardWriter<R: ShardRow> {
    row: std::marker::PhantomData<fn(&R)>,
    dir: PathBuf,
    config: ShardConfig,
    props: WriterProperties,
    open: Option<OpenShard>,
    shards: Vec<ShardRecord>,
}

struct OpenShard {
    name: String,
    tmp: PathBuf,
    writer: ArrowWriter<HashingFile>,
    rows: usize,
}

impl<R: ShardRow> ShardWriter<R> {
    /// A writer into `dir` whose shards carry `metadata` as Parquet key-value metadata.
    pub fn new(dir: &Path, config: ShardConfig, metadata: Vec<(String, String)>) -> Result<ShardWriter<R>> {
        ensure!(
            config.rows_per_shard > 0 && config.row_group_rows > 0,
            "shard.rows_per_shard and shard.row_group_rows must be positive"
        );
        let level = ZstdLevel::try_new(config.zstd_level).context("shard.zstd_level")?;
        let metadata = metadata.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_key_value_metadata(Some(metadata))
            .build();
        Ok(ShardWriter {
            row: std::marker::PhantomData,
            dir: dir.to_path_buf(),
            config,
            props,
            open: None,
            shards: Vec::new(),
        })
    }

    /// Appends `rows`, starting new shards as they fill.
    pub fn write(&mut self, mut rows: &[R]) -> Result<()> {
        while !rows.is_empty() {
            if self.open.is_none() {
                self.open = Some(self.open_shard()?);
            }
            let open = self.open.as_mut().expect("opened above");
            let take = rows.len().min(self.config.rows_per_shard - open.rows);
            let (now, rest) = rows.split_at(take);
            open.writer.write(&R::to_batch(now)?).with_context(|| format!("cannot write {}", open.tmp.display()))?;
            open.rows += take;
            if open.rows == self.config.rows_per_shard {
                self.close_shard()?;
            }
            rows = rest;
        }
        Ok(())
    }

    /// Completes the last shard and returns the records of all shards, in order.
    pub fn finish(mut self) -> Result<Vec<ShardRecord>> {
        if self.open.is_some() {
            self.close_shard()?;
        }
        Ok(std::mem::take(&mut self.shards))
    }

    fn open_shard(&self) -> Result<OpenShard> {
        let name = shard_name(self.shards.len());
        let tmp = tmp_path(&self.dir.join(&name));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let sink = HashingFile { file: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
        let writer = ArrowWriter::try_new(sink, R::schema(), Some(self.props.clone()))?;
        Ok(OpenShard { name, tmp, writer, rows: 0 })
    }

    fn close_shard(&mut self) -> Result<()> {
        let open = self.open.take().expect("a shard is open");
        let tmp = open.tmp.clone();
        let completed = self.complete(open);
        if completed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        completed
    }

    /// Writes the footer of `open`, syncs it and renames it to its final name.
    fn complete(&mut self, open: OpenShard) -> Result<()> {
        let OpenShard { name, tmp, mut writer, rows } = open;
        let context = || format!("cannot complete {}", tmp.display());
        writer.flush().with_context(context)?;
        let row_groups = writer.flushed_row_groups().len() as u64;
        let sink = writer.into_inner().with_context(context)?; // writes the footer
        let file = sink.file.into_inner().map_err(|e| e.into_error()).with_context(context)?;
        file.sync_all().with_context(context)?;
        let path = self.dir.join(&name);
        std::fs::rename(&tmp, &path).with_context(context)?;
        self.shards.push(ShardRecord {
            file: name,
            rows: rows as u64,
            row_groups,
            bytes: sink.bytes,
            sha256: hex::encode(sink.hasher.finalize()),
        });
        Ok(())
    }
}

impl<R: ShardRow> Drop for ShardWriter<R> {
    /// A writer dropped before [`ShardWriter::finish`] handed its shards over belongs to a
    /// failed run: its open shard and the shards it completed are removed, so no shard is
    /// left without a manifest.
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = std::fs::remove_file(&open.tmp);
        }
        for shard in &self.shards {
            let _ = std::fs::remove_file(self.dir.join(&shard.file));
        }
    }
}

struct HashingFile {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
