//! The streaming loader: shard rows in a seeded order, as padded micro-batches, decoded on
//! background threads.
//!
//! Memory stays bounded whatever the corpus size: only the Parquet footers are read up
//! front, and row groups are decoded a window at a time. The order is a pure function of
//! the seed and of the global row index, which is what makes resuming exact:
//!
//! 1. Every epoch shuffles the list of row groups of every shard with a stream keyed by the
//!    seed and the epoch.
//! 2. The shuffled row groups are cut into windows of `shuffle_row_groups` row groups. A window is
//!    decoded, its rows shuffled with a stream keyed by the seed, epoch and window, and
//!    emitted. This is the bounded shuffle buffer: rows from several row groups mix, and
//!    at most one window (plus the batches in flight) is in memory.
//! 3. Rows flow into micro-batches of `micro_batch` rows across window and epoch
//!    boundaries, so row `n` of the stream is the same row however the run was split.
//!
//! Resuming at row `n` skips whole windows by their row counts from the footers and
//! decodes only the window that contains row `n`.

use super::{collate, Batch};
use crate::rng::stream;
use crate::sample::Inputs;
use crate::shard::manifest::{format_of, LABELED_FORMAT};
use crate::shard::schema::{inputs_from_batch, schema, INPUT_COLUMNS, META_SCHEMA_VERSION};
use crate::shard::{Manifest, SCHEMA_VERSION};
use crate::tokenize::SpecialIds;
use anyhow::{bail, ensure, Context, Result};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Configuration of the loader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Rows per micro-batch (one forward and backward pass).
    pub micro_batch: usize,
    /// Row groups decoded and shuffled together (the shuffle buffer, in row groups).
    pub shuffle_row_groups: usize,
    /// Micro-batches decoded ahead of the trainer.
    pub prefetch: usize,
    /// Threads decoding the row groups of a window in parallel.
    pub decode_threads: usize,
    /// Micro-batches of rows of similar length, so that little padding is computed: each
    /// window's rows are sorted by length, cut into micro-batches, and the micro-batches
    /// shuffled. Off, micro-batches are drawn from the shuffled window as they come, as in
    /// the paper.
    pub bucket_by_length: bool,
}

impl LoaderConfig {
    /// The ranges of the settings.
    pub fn check(&self) -> Result<()> {
        ensure!(self.micro_batch > 0, "loader.micro_batch must be at least 1");
        ensure!(self.shuffle_row_groups > 0, "loader.shuffle_row_groups must be at least 1");
        // Each prefetched micro-batch is memory, each decoding thread a row group in
        // memory: beyond these the loader is no faster, only larger.
        let (prefetch, threads) = (self.prefetch, self.decode_threads);
        ensure!(prefetch <= 1024, "loader.prefetch must lie in [0, 1024], not {prefetch}");
        ensure!((1..=256).contains(&threads), "loader.decode_threads must lie in [1, 256], not {threads}");
        Ok(())
    }
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig { micro_batch: 16, shuffle_row_groups: 8, prefetch: 8, decode_threads: 1, bucket_by_length: false }
    }
}

/// A shard whose checksum was verified, as [`ShardSet::verify_checksums`] remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VerifiedShard {
    bytes: u64,
    modified_ns: u128,
    sha256: String,
}

/// One row group of one shard.
#[derive(Debug, Clone)]
struct RowGroup {
    file: usize,
    index: usize,
    rows: u64,
}

/// One shard file with its parsed footer.
struct ShardFile {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    /// Size and SHA-256 as the manifest records them.
    bytes: u64,
    sha256: String,
}

/// The shards of one or more pre-training outputs, opened for training.
pub struct ShardSet {
    files: Vec<ShardFile>,
    row_groups: Vec<RowGroup>,
    rows: u64,
    special: SpecialIds,
    vocab_size: u64,
    tokenizer_sha256: String,
}

impl ShardSet {
    /// Opens the outputs in `dirs`: checks each manifest's format and schema version, that
    /// all were tokenized alike, and each shard's footer; decodes no rows.
    pub fn open(dirs: &[PathBuf]) -> Result<ShardSet> {
        ensure!(!dirs.is_empty(), "no shard directory given");
        crate::corpus::input::refuse_repeated(dirs.iter().map(PathBuf::as_path))?;
        let mut files = Vec::new();
        let mut groups = Vec::new();
        let mut first: Option<(PathBuf, Manifest)> = None;
        for dir in dirs {
            if format_of(dir).is_ok_and(|f| f == LABELED_FORMAT) {
                bail!(
                    "{} holds labeled shards, which spe finetune reads; spe train reads pre-training shards: \
                     prepare them with spe prep text, wiki, books or nyt, or add --pretrain-out DIR to the labeled \
                     prep for its training sentences",
                    dir.display()
                );
            }
            let manifest = Manifest::read(dir)
                .with_context(|| format!("{} is not a finished spe pre-training output", dir.display()))?;
            if let Some((first_dir, first)) = &first {
                ensure!(
                    first.tokenizer.sha256 == manifest.tokenizer.sha256,
                    "{} and {} were tokenized with different tokenizers ({} and {}); train on outputs of one tokenizer",
                    first_dir.display(),
                    dir.display(),
                    first.tokenizer.path,
                    manifest.tokenizer.path
                );
            }
            for shard in &manifest.shards {
                let path = dir.join(&shard.file);
                let bytes = std::fs::metadata(&path).with_context(|| format!("cannot open {}", path.display()))?.len();
                ensure!(
                    bytes == shard.bytes,
                    "{}: {bytes} bytes, but the manifest lists {}: the shard was changed or cut short (spe verify \
                     checks an output)",
                    path.display(),
                    shard.bytes
                );
                let metadata = open_footer(&path)?;
                let in_file = metadata.metadata().row_groups();
                let rows: u64 = in_file.iter().map(|g| g.num_rows() as u64).sum();
                ensure!(
                    rows == shard.rows,
                    "{}: the manifest lists {} rows but the file holds {rows}",
                    path.display(),
                    shard.rows
                );
                for (index, group) in in_file.iter().enumerate() {
                    if group.num_rows() > 0 {
                        groups.push(RowGroup { file: files.len(), index, rows: group.num_rows() as u64 });
                    }
                }
                files.push(ShardFile { path, metadata, bytes, sha256: shard.sha256.clone() });
            }
            first.get_or_insert((dir.clone(), manifest));
        }
        let (_, manifest) = first.expect("at least one directory");
        let rows = groups.iter().map(|u| u.rows).sum();
        ensure!(
            rows > 0,
            "the shards in {} hold no rows",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        let tokenizer = manifest.tokenizer;
        Ok(ShardSet {
            files,
            row_groups: groups,
            rows,
            special: SpecialIds { cls: tokenizer.cls_id, sep: tokenizer.sep_id, mask: tokenizer.mask_id },
            vocab_size: tokenizer.vocab_size,
            tokenizer_sha256: tokenizer.sha256,
        })
    }

    /// Checks every shard's SHA-256 against its manifest, as `spe verify` does, so that a
    /// shard altered since it was written is refused before training reads it. Checksums
    /// already verified are remembered in `cache` (a JSON file of path, size, modification
    /// time and checksum), so a resumed run hashes only what changed.
    pub fn verify_checksums(&self, cache: &Path) -> Result<()> {
        let known: HashMap<String, VerifiedShard> =
            std::fs::read_to_string(cache).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        let verified = self
            .files
            .par_iter()
            .map(|file| {
                crate::interrupt::check()?;
                let key = file.path.display().to_string();
                let meta = std::fs::metadata(&file.path).with_context(|| format!("cannot open {key}"))?;
                let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let stamp = VerifiedShard {
                    bytes: meta.len(),
                    modified_ns: modified.map_or(0, |d| d.as_nanos()),
                    sha256: file.sha256.clone(),
                };
                if known.get(&key) != Some(&stamp) {
                    let sha256 = crate::digest::sha256_file(&file.path)?;
                    ensure!(
                        sha256 == file.sha256 && meta.len() == file.bytes,
                        "{key}: its SHA-256 is {sha256}, but the manifest lists {}: the shard was changed after it \
                         was written (spe verify checks an output)",
                        file.sha256
                    );
                }
                Ok((key, stamp))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        crate::atomic::write_json(&verified, cache)
    }

    /// The SHA-256 of every shard, in order, as the manifests record them.
    pub fn checksums(&self) -> Vec<String> {
        self.files.iter().map(|f| f.sha256.clone()).collect()
    }

    /// Rows in one epoch.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The special token ids of the shards' tokenizer.
    pub fn special(&self) -> SpecialIds {
        self.special
    }

    /// Vocabulary size of the shards' tokenizer.
    pub fn vocab_size(&self) -> u64 {
        self.vocab_size
    }

    /// SHA-256 of the shards' tokenizer file.
    pub fn tokenizer_sha256(&self) -> &str {
        &self.tokenizer_sha256
    }

    /// Starts a background loader of micro-batches from global row `start` on (the rows
    /// consumed before, for a resumed run). The stream is endless: epochs follow each other.
    pub fn stream(self: &Arc<Self>, config: &LoaderConfig, seed: u64, start: u64) -> Result<BatchStream> {
        self.stream_share(config, seed, start, None)
    }

    /// [`ShardSet::stream`], keeping only the micro-batches of one rank of a data-parallel
    /// run (`share`); the others' rows are read but not collated. `start` must be a
    /// multiple of the global batch.
    pub fn stream_share(
        self: &Arc<Self>,
        config: &LoaderConfig,
        seed: u64,
        start: u64,
        share: Option<RankShare>,
    ) -> Result<BatchStream> {
        config.check()?;
        let (sender, receiver) = sync_channel(config.prefetch.max(1));
        let mut rows = RowStream {
            set: Arc::clone(self),
            config: config.clone(),
            seed,
            position: start,
            window: Vec::new().into_iter(),
            order: None,
        };
        let special = self.special;
        let micro_batch = config.micro_batch;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.decode_threads)
            .thread_name(|i| format!("spe-decode-{i}"))
            .build()
            .context("cannot start the loader's decoding threads")?;
        let handle = std::thread::Builder::new()
            .name("spe-loader".into())
            .spawn(move || {
                pool.install(|| {
                    for index in 0.. {
                        let mut chunk = Vec::with_capacity(micro_batch);
                        while chunk.len() < micro_batch {
                            match rows.next_row() {
                                Ok(row) => chunk.push(row),
                                Err(err) => {
                                    let _ = sender.send(Err(err));
                                    return;
                                }
                            }
                        }
                        if share.is_some_and(|share| !share.owns(index)) {
                            continue;
                        }
                        // The trainer hung up: stop quietly.
                        if sender.send(Ok(collate(&chunk, &special))).is_err() {
                            return;
                        }
                    }
                })
            })
            .context("cannot start the loader thread")?;
        Ok(BatchStream { receiver, handle: Some(handle) })
    }

    /// Decodes one row group into rows.
    fn decode(&self, group: &RowGroup) -> Result<Vec<Inputs>> {
        let file = &self.files[group.file];
        let path = &file.path;
        let reader = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, file.metadata.clone());
        let projection = ProjectionMask::columns(builder.parquet_schema(), INPUT_COLUMNS);
        let batches = builder
            .with_projection(projection)
            .with_row_groups(vec![group.index])
            .with_batch_size(group.rows as usize)
            .build()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut rows = Vec::with_capacity(group.rows as usize);
        for batch in batches {
            let batch =
                batch.with_context(|| format!("{}: cannot decode row group {}", path.display(), group.index))?;
            let context = || format!("{}: row group {}", path.display(), group.index);
            for (row, inputs) in inputs_from_batch(&batch).with_context(context)?.into_iter().enumerate() {
                check_row(&inputs, self.vocab_size).with_context(|| format!("row {row}")).with_context(context)?;
                rows.push(inputs);
            }
        }
        ensure!(
            rows.len() as u64 == group.rows,
            "{}: row group {} decoded to {} rows instead of {}",
            path.display(),
            group.index,
            rows.len(),
            group.rows
        );
        Ok(rows)
    }
}

/// Reads and checks the footer of one shard.
fn open_footer(path: &Path) -> Result<ArrowReaderMetadata> {
    let file = File::open(path).with_context(|| format!("cannot open shard {}", path.display()))?;
    let metadata = ArrowReaderMetadata::load(&file, Default::default())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let version = metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == META_SCHEMA_VERSION))
        .and_then(|kv| kv.value.clone());
    if version != Some(SCHEMA_VERSION.to_string()) {
        bail!(
            "{}: shard of schema version {}, but this spe reads version {SCHEMA_VERSION}",
            path.display(),
            version.as_deref().unwrap_or("(missing)")
        );
    }
    if metadata.schema().fields() != schema().fields() {
        bail!("{}: the columns do not match spe's shard schema version {SCHEMA_VERSION}", path.display());
    }
    Ok(metadata)
}

/// The invariants the batching relies on, so that a damaged shard fails with a message
/// instead of an out-of-range index inside the model.
fn check_row(row: &Inputs, vocab: u64) -> Result<()> {
    let len = row.input_ids.len();
    ensure!(len >= 2, "input_ids has {len} tokens");
    ensure!(row.target_mask.len() == len && row.context_mask.len() == len, "masks and input_ids differ in length");
    ensure!(row.word_starts.iter().all(|&s| 0 < s && (s as usize) < len), "a word start lies outside input_ids");
    let words = row.word_starts.len() as u32;
    ensure!(
        row.pair.s1.end <= row.pair.s2.start && row.pair.s2.end <= words,
        "span pair {:?} does not fit {words} words",
        row.pair
    );
    let ids = row.input_ids.iter().chain(row.tbo.iter().map(|t| &t.label));
    if let Some(id) = ids.copied().find(|&id| id < 0 || id as u64 >= vocab) {
        bail!("token id {id} lies outside the vocabulary of {vocab} entries the manifest records");
    }
    ensure!(
        row.spo.iter().all(|t| (0..5).contains(&t.segment) && (0..6).contains(&t.label)),
        "SPO target out of range"
    );
    ensure!(
        row.tbo.iter().all(|t| 0 < t.anchor && (t.anchor as usize) < len && t.offset >= 1 && t.label >= 0),
        "TBO target out of range"
    );
    Ok(())
}

/// The rows of the loader's order from a global row index on.
struct RowStream {
    set: Arc<ShardSet>,
    config: LoaderConfig,
    seed: u64,
    position: u64,
    window: std::vec::IntoIter<Inputs>,
    /// The row-group order of the epoch being read, kept across its windows.
    order: Option<(u64, Vec<usize>)>,
}

impl RowStream {
    fn next_row(&mut self) -> Result<Inputs> {
        loop {
            if let Some(row) = self.window.next() {
                self.position += 1;
                return Ok(row);
            }
            self.load_window()?;
        }
    }

    /// Decodes the window containing row `position` and skips to it.
    fn load_window(&mut self) -> Result<()> {
        let set = &self.set;
        let epoch = self.position / set.rows;
        let offset = self.position % set.rows;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, epoch_order(set.row_groups.len(), self.seed, epoch)));
        }
        let order = &self.order.as_ref().expect("just set").1;
        let mut first_row = 0;
        for (index, window) in order.chunks(self.config.shuffle_row_groups).enumerate() {
            let rows: u64 = window.iter().map(|&u| set.row_groups[u].rows).sum();
            if offset >= first_row + rows {
                first_row += rows;
                continue;
            }
            let decoded: Vec<Vec<Inputs>> =
                window.par_iter().map(|&u| set.decode(&set.row_groups[u])).collect::<Result<_>>()?;
            let mut rows: Vec<Inputs> = decoded.into_iter().flatten().collect();
            let mut random = stream(self.seed, &format!("loader-window-{epoch}"), index as u64);
            rows.shuffle(&mut random);
            if self.config.bucket_by_length {
                let start = epoch * set.rows + first_row;
                rows = bucket_by_length(rows, self.config.micro_batch, start, &mut random);
            }
            rows.drain(..(offset - first_row) as usize);
            self.window = rows.into_iter();
            return Ok(());
        }
        unreachable!("row {offset} lies within the epoch's {} rows", set.rows)
    }
}

/// `rows` (a shuffled window whose first row is the stream's row `start`) in micro-batches
/// of similar length: sorted by length (ties in their shuffled order), cut where the
/// stream's micro-batches are cut (every `micro_batch` rows from row 0), and the whole
/// micro-batches put in random order; the parts of micro-batches shared with the windows
/// before and after stay at the ends.
fn bucket_by_length(mut rows: Vec<Inputs>, micro_batch: usize, start: u64, random: &mut impl rand::Rng) -> Vec<Inputs> {
    rows.sort_by_key(|row| row.input_ids.len());
    let head = ((micro_batch as u64 - start % micro_batch as u64) % micro_batch as u64) as usize;
    let head = head.min(rows.len());
    let whole = (rows.len() - head) / micro_batch;
    let mut order: Vec<usize> = (0..whole).collect();
    order.shuffle(random);
    // Rows are moved once each: out of their sorted slots, in the new order.
    let mut slots: Vec<Option<Inputs>> = rows.into_iter().map(Some).collect();
    let tail = head + whole * micro_batch..slots.len();
    let batches = order.into_iter().map(|b| head + b * micro_batch..head + (b + 1) * micro_batch);
    let mut out = Vec::with_capacity(slots.len());
    for range in std::iter::once(0..head).chain(batches).chain(std::iter::once(tail)) {
        out.extend(range.map(|i| slots[i].take().expect("each slot is taken once")));
    }
    out
}

/// The order of the row groups in `epoch`.
fn epoch_order(groups: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups).collect();
    order.shuffle(&mut stream(seed, "loader-epoch", epoch));
    order
}

/// The micro-batches of one rank of a data-parallel run: each global batch is
/// `ranks × micro_batches` micro-batches in a row, and rank R takes the R-th run of
/// `micro_batches` of them, so the ranks together read exactly the rows one process would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankShare {
    /// This rank.
    pub rank: usize,
    /// The number of ranks.
    pub ranks: usize,
    /// Micro-batches per rank and step.
    pub micro_batches: usize,
}

impl RankShare {
    /// Whether the `index`-th micro-batch of the stream is this rank's.
    pub fn owns(&self, index: usize) -> bool {
        (index % (self.ranks * self.micro_batches)) / self.micro_batches == self.rank
    }
}

/// Micro-batches from the loader thread.
pub struct BatchStream {
    receiver: Receiver<Result<Batch>>,
    handle: Option<JoinHandle<()>>,
}

impl BatchStream {
    /// The next micro-batch; waits for the loader thread when it is behind.
    pub fn next_batch(&mut self) -> Result<Batch> {
        match self.receiver.recv() {
            Ok(batch) => batch,
            Err(_) => {
                let panicked = self.handle.take().map(|h| h.join().is_err()).unwrap_or(false);
                bail!("the loader thread stopped{}", if panicked { " after a panic" } else { "" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_settings_are_bounded() {
        LoaderConfig::default().check().unwrap();
        let prefetch = LoaderConfig { prefetch: usize::MAX, ..LoaderConfig::default() };
        assert!(prefetch.check().unwrap_err().to_string().contains("loader.prefetch must lie in [0, 1024]"));
        let threads = LoaderConfig { decode_threads: 1 << 40, ..LoaderConfig::default() };
        assert!(threads.check().unwrap_err().to_string().contains("loader.decode_threads must lie in [1, 256]"));
    }

    #[test]
    fn buckets_are_micro_batches_of_neighbouring_lengths_cut_where_the_stream_cuts() {
        let span = crate::sample::spans::Span { start: 0, end: 1 };
        let row = |len: usize| Inputs {
            input_ids: vec![0; len],
            word_starts: Vec::new(),
            pair: crate::sample::spans::SpanPair { s1: span, s2: span },
            spo: Vec::new(),
            tbo: Vec::new(),
            target_mask: Vec::new(),
            context_mask: Vec::new(),
        };
        let rows: Vec<Inputs> = [9, 3, 7, 1, 8, 2, 6, 4, 5, 10, 12, 11].iter().map(|&n| row(n)).collect();
        // The window starts at row 6 of the stream: 2 rows complete a micro-batch of 4
        // begun before it, then 2 whole micro-batches, then 2 rows begin the next.
        let out = bucket_by_length(rows, 4, 6, &mut crate::rng::stream(1, "t", 0));
        let lengths: Vec<usize> = out.iter().map(|r| r.input_ids.len()).collect();
        assert_eq!(&lengths[..2], [1, 2]);
        assert_eq!(&lengths[10..], [11, 12]);
        let mut middle: Vec<&[usize]> = lengths[2..10].chunks(4).collect();
        middle.sort();
        assert_eq!(middle, [[3, 4, 5, 6], [7, 8, 9, 10]]);
    }

    #[test]
    fn the_ranks_shares_take_each_micro_batch_once_in_runs_of_their_accumulation() {
        let shares: Vec<RankShare> = (0..3).map(|rank| RankShare { rank, ranks: 3, micro_batches: 2 }).collect();
        let owners: Vec<usize> = (0..14).map(|i| shares.iter().filter(|s| s.owns(i)).map(|s| s.rank).sum()).collect();
        assert_eq!(owners, [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 0, 0]);
        assert!((0..60).all(|i| shares.iter().filter(|s| s.owns(i)).count() == 1));
    }

    #[test]
    fn every_epoch_visits_every_unit_once_in_a_seeded_order() {
        let a = epoch_order(50, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(50, 7, 0));
        assert_ne!(a, epoch_order(50, 7, 1));
        assert_ne!(a, epoch_order(50, 8, 0));
    }

    #[test]
    fn damaged_rows_are_refused_with_a_reason() {
        let good = crate::batch::tests::row();
        let vocab = 28996;
        assert!(check_row(&good, vocab).is_ok());
        let mut bad = good.clone();
        bad.word_starts[0] = 40;
        assert!(check_row(&bad, vocab).unwrap_err().to_string().contains("word start"));
        let mut bad = good.clone();
        bad.pair.s2.end = 9;
        assert!(check_row(&bad, vocab).unwrap_err().to_string().contains("span pair"));
        let mut bad = good.clone();
        bad.tbo[0].anchor = 0;
        assert!(check_row(&bad, vocab).is_err());
        let max = good.input_ids.iter().chain(good.tbo.iter().map(|t| &t.label)).max().copied().unwrap() as u64;
        assert!(check_row(&good, max).unwrap_err().to_string().contains("outside the vocabulary"));
        assert!(check_row(&good, max + 1).is_ok());
    }
}
