//! The shards a training reads, opened and checked: each output's manifest (format, schema
//! version, one tokenizer for all), each shard's size, footer, row count and, before the
//! first step, its SHA-256; then one row group at a time decoded into [`Inputs`], each row
//! checked ([`Inputs::check_indices`]) where it is read.

use crate::sample::Inputs;
use crate::shard::manifest::{format_of, TokenizerRecord, LABELED_FORMAT};
use crate::shard::schema::{inputs_from_batch, schema, INPUT_COLUMNS, META_SCHEMA_VERSION};
use crate::shard::{Manifest, SCHEMA_VERSION};
use crate::tokenize::SpecialIds;
use anyhow::{bail, ensure, Context, Result};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A shard whose checksum was verified, as [`ShardSet::verify_checksums`] remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VerifiedShard {
    bytes: u64,
    modified_ns: u128,
    sha256: String,
}

/// One row group of one shard.
#[derive(Debug, Clone)]
pub(super) struct RowGroup {
    file: usize,
    index: usize,
    pub(super) rows: u64,
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
    pub(super) row_groups: Vec<RowGroup>,
    pub(super) rows: u64,
    pub(super) special: SpecialIds,
    tokenizer: TokenizerRecord,
}

impl ShardSet {
    /// Opens the outputs in `dirs`: checks each manifest's format and schema version, that
    /// all were tokenized alike, and each shard's footer; decodes no rows.
    pub fn open(dirs: &[PathBuf]) -> Result<ShardSet> {
        ensure!(!dirs.is_empty(), "no shard directory given");
        crate::overwrite::refuse_repeated(dirs.iter().map(PathBuf::as_path))?;
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
        Ok(ShardSet {
            files,
            row_groups: groups,
            rows,
            special: manifest.tokenizer.special(),
            tokenizer: manifest.tokenizer,
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

    /// The shards' tokenizer, as their manifests record it.
    pub fn tokenizer(&self) -> &TokenizerRecord {
        &self.tokenizer
    }

    /// Decodes one row group into rows.
    pub(super) fn decode(&self, group: &RowGroup) -> Result<Vec<Inputs>> {
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
                inputs
                    .check_indices(self.tokenizer.vocab_size)
                    .with_context(|| format!("row {row}"))
                    .with_context(context)?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn damaged_rows_are_refused_with_a_reason() {
        let good = crate::batch::tests::row();
        let vocab = 28996;
        assert!(good.check_indices(vocab).is_ok());
        let mut bad = good.clone();
        bad.word_starts[0] = 40;
        assert!(bad.check_indices(vocab).unwrap_err().to_string().contains("word start"));
        let mut bad = good.clone();
        bad.pair.s2.end = 9;
        assert!(bad.check_indices(vocab).unwrap_err().to_string().contains("span pair"));
        let mut bad = good.clone();
        bad.tbo[0].anchor = 0;
        assert!(bad.check_indices(vocab).is_err());
        let max = good.input_ids.iter().chain(good.tbo.iter().map(|t| &t.label)).max().copied().unwrap() as u64;
        assert!(good.check_indices(max).unwrap_err().to_string().contains("outside the vocabulary"));
        assert!(good.check_indices(max + 1).is_ok());
    }
}
