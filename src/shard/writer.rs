//! Writes rows into rolling zstd Parquet shards, each under a temporary name until it is
//! complete, hashing the bytes as they are written.
//!
//! Encoding (levels, pages, zstd) is most of preparation's work, and one writer thread doing
//! all of it caps the pipeline whatever the worker count. So a row group's rows are gathered
//! first and its columns are encoded in parallel on the workers' thread pool, then appended in
//! column order: each column sees the same writes as with parquet's own `ArrowWriter`, so the
//! bytes are the same at any thread count.

use crate::atomic::tmp_path;
use anyhow::{ensure, Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Where columns are encoded; on the calling thread without one.
    pool: Option<Arc<rayon::ThreadPool>>,
}

struct OpenShard {
    name: String,
    tmp: PathBuf,
    file: SerializedFileWriter<HashingFile>,
    columns: ArrowRowGroupWriterFactory,
    /// Leaf columns of each top-level field, in schema order.
    leaves: Vec<usize>,
    rows: usize,
    /// The rows of the row group being gathered.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
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
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_key_value_metadata(Some(metadata));
        for column in ArrowSchemaConverter::new().convert(&R::schema())?.columns() {
            // The bounds of a list's items serve no query, and cost a comparison per item.
            if column.path().parts().len() > 1 {
                props = props.set_column_statistics_enabled(column.path().clone(), EnabledStatistics::None);
            }
        }
        let props = props.build();
        Ok(ShardWriter {
            row: std::marker::PhantomData,
            dir: dir.to_path_buf(),
            config,
            props,
            open: None,
            shards: Vec::new(),
            pool: None,
        })
    }

    /// Encodes the columns of each row group in parallel on `pool`.
    pub fn with_pool(mut self, pool: Arc<rayon::ThreadPool>) -> ShardWriter<R> {
        self.pool = Some(pool);
        self
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
            let mut batch = R::to_batch(now)?;
            open.rows += take;
            // Row groups of row_group_rows rows, cut where parquet's ArrowWriter cuts them.
            while batch.num_rows() > 0 {
                let fits = batch.num_rows().min(self.config.row_group_rows - open.pending_rows);
                open.pending.push(batch.slice(0, fits));
                open.pending_rows += fits;
                batch = batch.slice(fits, batch.num_rows() - fits);
                if open.pending_rows == self.config.row_group_rows {
                    open.write_row_group(self.pool.as_deref())?;
                }
            }
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
        // ArrowWriter lays out the file (the Parquet schema, the Arrow schema in the footer);
        // its serialized writer and column factory then take the row groups.
        let (file, columns) =
            ArrowWriter::try_new(sink, R::schema(), Some(self.props.clone()))?.into_serialized_writer()?;
        let mut leaves: Vec<usize> = Vec::new();
        let mut last_root = None;
        for column in file.schema_descr().columns() {
            let root = column.path().parts()[0].clone();
            if last_root.as_ref() != Some(&root) {
                leaves.push(0);
                last_root = Some(root);
            }
            *leaves.last_mut().expect("pushed above") += 1;
        }
        Ok(OpenShard { name, tmp, file, columns, leaves, rows: 0, pending: Vec::new(), pending_rows: 0 })
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
    fn complete(&mut self, mut open: OpenShard) -> Result<()> {
        open.write_row_group(self.pool.as_deref())?;
        let OpenShard { name, tmp, file, rows, .. } = open;
        let context = || format!("cannot complete {}", tmp.display());
        let row_groups = file.flushed_row_groups().len() as u64;
        let sink = file.into_inner().with_context(context)?; // writes the footer
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

impl OpenShard {
    /// Encodes the gathered rows as one row group, its columns in parallel on `pool`, and
    /// appends it to the file.
    fn write_row_group(&mut self, pool: Option<&rayon::ThreadPool>) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let context = || format!("cannot write {}", self.tmp.display());
        let mut writers =
            self.columns.create_column_writers(self.file.flushed_row_groups().len()).with_context(context)?;
        // The writers of each top-level field, which reads only its own column.
        let mut fields: Vec<Vec<ArrowColumnWriter>> = Vec::with_capacity(self.leaves.len());
        for &count in self.leaves.iter().rev() {
            fields.push(writers.split_off(writers.len() - count));
        }
        fields.reverse();
        let pending = &self.pending;
        let schema = pending[0].schema();
        let encode =
            |(i, mut writers): (usize, Vec<ArrowColumnWriter>)| -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
                for batch in pending {
                    for (writer, leaf) in writers.iter_mut().zip(compute_leaves(schema.field(i), batch.column(i))?) {
                        writer.write(&leaf)?;
                    }
                }
                writers.into_iter().map(ArrowColumnWriter::close).collect()
            };
        let chunks = match pool {
            Some(pool) => {
                pool.install(|| fields.into_par_iter().enumerate().map(encode).collect::<Result<Vec<_>, _>>())
            }
            None => fields.into_iter().enumerate().map(encode).collect(),
        }
        .with_context(context)?;
        let mut row_group = self.file.next_row_group().with_context(context)?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut row_group).with_context(context)?;
        }
        row_group.close().with_context(context)?;
        self.pending.clear();
        self.pending_rows = 0;
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int32Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Fields, Schema};

    /// A row with a plain column and a list of structs (two leaf columns in one field).
    struct Row(i32, Vec<(i32, String)>);

    fn pair_fields() -> Fields {
        vec![Field::new("n", DataType::Int32, false), Field::new("s", DataType::Utf8, false)].into()
    }

    impl ShardRow for Row {
        fn schema() -> SchemaRef {
            let item = Field::new("item", DataType::Struct(pair_fields()), false);
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int32, false),
                Field::new("pairs", DataType::List(Arc::new(item)), false),
            ]))
        }
        fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
            let ids = Int32Array::from_iter_values(rows.iter().map(|r| r.0));
            let flat: Vec<&(i32, String)> = rows.iter().flat_map(|r| &r.1).collect();
            let n: ArrayRef = Arc::new(Int32Array::from_iter_values(flat.iter().map(|p| p.0)));
            let s: ArrayRef = Arc::new(StringArray::from_iter_values(flat.iter().map(|p| p.1.as_str())));
            let items = StructArray::new(pair_fields(), vec![n, s], None);
            let offsets = arrow::buffer::OffsetBuffer::from_lengths(rows.iter().map(|r| r.1.len()));
            let DataType::List(item) = Self::schema().field(1).data_type().clone() else { unreachable!() };
            let pairs = ListArray::new(item, offsets, Arc::new(items), None);
            Ok(RecordBatch::try_new(Self::schema(), vec![Arc::new(ids), Arc::new(pairs)])?)
        }
    }

    fn rows(range: std::ops::Range<i32>) -> Vec<Row> {
        range.map(|i| Row(i, (0..i % 4).map(|k| (i * k, format!("w{}", i % 7))).collect())).collect()
    }

    #[test]
    fn columns_encoded_in_parallel_give_parquets_own_bytes() {
        let config = ShardConfig { rows_per_shard: 40, row_group_rows: 7, zstd_level: 3 };
        let metadata = vec![("k".to_string(), "v".to_string())];
        let all = rows(0..100);
        // Uneven writes, so that row groups and shards are cut inside them.
        let cuts = [0, 5, 18, 20, 61, 100];
        let write = |dir: &Path, pool: Option<Arc<rayon::ThreadPool>>| {
            let mut writer = ShardWriter::<Row>::new(dir, config.clone(), metadata.clone()).unwrap();
            if let Some(pool) = pool {
                writer = writer.with_pool(pool);
            }
            for w in cuts.windows(2) {
                writer.write(&all[w[0]..w[1]]).unwrap();
            }
            writer.finish().unwrap()
        };
        let (serial, parallel) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap());
        let records = write(serial.path(), None);
        assert_eq!(records, write(parallel.path(), Some(pool)));
        assert_eq!(records.iter().map(|r| (r.rows, r.row_groups)).collect::<Vec<_>>(), [(40, 6), (40, 6), (20, 3)]);

        // parquet's ArrowWriter, given the same writes, writes the same files.
        let props = ShardWriter::<Row>::new(serial.path(), config.clone(), metadata.clone()).unwrap().props.clone();
        for (shard, record) in records.iter().enumerate() {
            let mut writer = ArrowWriter::try_new(Vec::new(), Row::schema(), Some(props.clone())).unwrap();
            let (start, end) = (shard * 40, (shard * 40 + 40).min(100));
            for w in cuts.windows(2) {
                let (from, to) = (w[0].max(start), w[1].min(end));
                if from < to {
                    writer.write(&Row::to_batch(&all[from..to]).unwrap()).unwrap();
                }
            }
            let reference = writer.into_inner().unwrap();
            let ours = std::fs::read(serial.path().join(&record.file)).unwrap();
            assert!(ours == reference, "{} differs from ArrowWriter's", record.file);
            assert!(ours == std::fs::read(parallel.path().join(&record.file)).unwrap());
        }
    }

    #[test]
    fn only_top_level_columns_have_statistics() {
        use crate::sample::{Sample, SampleConfig, Sampled, Sampler};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let t = crate::tokenize::tests::cased();
        let sampler = Sampler::new(SampleConfig::default(), t.special_ids()).unwrap();
        let mut out = Sampled::default();
        for (i, text) in
            ["Anarchism is a political philosophy and movement.", "Albedo is diffuse reflection."].iter().enumerate()
        {
            sampler.sample_sentence(9, "doc#0", i as i32, &t.tokenize(text).unwrap(), &mut out);
        }
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::<Sample>::new(dir.path(), ShardConfig::default(), vec![]).unwrap();
        writer.write(&out.samples).unwrap();
        let record = writer.finish().unwrap().remove(0);
        let file = File::open(dir.path().join(record.file)).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let group = reader.metadata().row_group(0);
        let with_statistics: Vec<String> =
            group.columns().iter().filter(|c| c.statistics().is_some()).map(|c| c.column_path().string()).collect();
        let top_level = ["doc_id", "title", "sent_id", "draw", "s1_start", "s1_end", "s2_start", "s2_end"];
        assert_eq!(with_statistics, top_level);
    }
}
