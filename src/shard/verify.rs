//! `spe verify`: re-checks an output directory (pre-training or labeled) against its
//! manifest.
//!
//! Every shard's size, checksum, row and row-group counts and embedded schema version are
//! compared with the manifest; every row is decoded and checked against the sample
//! invariants ([`crate::sample::Sample::check`]); the manifest's totals are recomputed; stray or
//! unfinished files are reported.

use super::labeled::{from_batch as labeled_rows, LABELED_SCHEMA_VERSION};
use super::manifest::{format_of, LabeledManifest, Manifest, SplitStats, Totals, LABELED_FORMAT};
use super::schema::{from_batch, META_SCHEMA_VERSION, META_TOKENIZER_SHA256, SCHEMA_VERSION};
use super::writer::ShardRecord;
use crate::atomic::TMP_SUFFIX;
use crate::corpus::input::sha256_file;
use crate::tokenize::SpecialIds;
use anyhow::{Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use std::path::Path;

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Shards checked.
    pub shards: usize,
    /// Rows decoded and checked.
    pub rows: u64,
    /// Every difference found; empty when the output is intact.
    pub problems: Vec<String>,
}

/// Verifies the output in `dir`, pre-training or labeled. Fails only when the manifest
/// cannot be read; everything else found wrong is listed in the report.
pub fn verify(dir: &Path) -> Result<Report> {
    if format_of(dir)? == LABELED_FORMAT {
        return verify_labeled(dir);
    }
    let manifest = Manifest::read(dir)?;
    let special =
        SpecialIds { cls: manifest.tokenizer.cls_id, sep: manifest.tokenizer.sep_id, mask: manifest.tokenizer.mask_id };
    let mut report = Report { shards: manifest.shards.len(), ..Report::default() };
    stray_files(dir, None, &manifest.shards, &mut report.problems)?;
    let checked: Vec<(Option<Totals>, Vec<String>)> = manifest
        .shards
        .par_iter()
        .map(|shard| {
            let mut problems = Vec::new();
            let totals = check_shard(dir, shard, &manifest, &special, &mut problems)
                .map_err(|e| problems.push(format!("{}: {e:#}", shard.file)))
                .ok();
            (totals, problems)
        })
        .collect();
    let mut sum = Totals::default();
    let mut unreadable = 0;
    for (totals, problems) in checked {
        match totals {
            Some(totals) => {
                sum.samples += totals.samples;
                sum.words += totals.words;
                sum.subtokens += totals.subtokens;
                sum.spo_targets += totals.spo_targets;
                sum.tbo_targets += totals.tbo_targets;
            }
            None => unreadable += 1,
        }
        report.problems.extend(problems);
    }
    report.rows = sum.samples;
    if unreadable > 0 {
        // A recount without the unreadable shards would only repeat that they are missing.
        report.problems.push(format!("totals not recounted: {unreadable} shard(s) could not be read whole"));
        return Ok(report);
    }
    let expected = &manifest.totals;
    let pairs = [
        ("samples", sum.samples, expected.samples),
        ("words", sum.words, expected.words),
        ("subtokens", sum.subtokens, expected.subtokens),
        ("spo_targets", sum.spo_targets, expected.spo_targets),
        ("tbo_targets", sum.tbo_targets, expected.tbo_targets),
    ];
    for (name, found, listed) in pairs {
        if found != listed {
            report.problems.push(format!("totals.{name}: the shards hold {found}, the manifest says {listed}"));
        }
    }
    Ok(report)
}

/// Reports unfinished files, and shards the manifest does not list, in `dir` (or in its
/// split folder `split`).
fn stray_files(dir: &Path, split: Option<&str>, listed: &[ShardRecord], problems: &mut Vec<String>) -> Result<()> {
    let folder = split.map_or(dir.to_path_buf(), |s| dir.join(s));
    for entry in std::fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let name = split.map_or(name.clone(), |s| format!("{s}/{name}"));
        if name.ends_with(TMP_SUFFIX) {
            problems.push(format!("{name}: an unfinished file is present"));
        } else if name.ends_with(".parquet") && !listed.iter().any(|s| s.file == name) {
            problems.push(format!("{name}: a shard not listed in the manifest"));
        }
    }
    Ok(())
}

/// Checks a shard file against its record: size, checksum, rows, row groups, schema
/// version and tokenizer. Returns its reader for the row checks.
fn check_file(
    dir: &Path,
    shard: &ShardRecord,
    schema_version: u32,
    tokenizer_sha256: &str,
    problems: &mut Vec<String>,
) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
    let path = dir.join(&shard.file);
    let name = &shard.file;
    let bytes = std::fs::metadata(&path).with_context(|| "the file is missing or unreadable")?.len();
    if bytes != shard.bytes {
        problems.push(format!("{name}: {bytes} bytes, the manifest says {}", shard.bytes));
    }
    let sha256 = sha256_file(&path)?;
    if sha256 != shard.sha256 {
        problems.push(format!("{name}: checksum {sha256}, the manifest says {}", shard.sha256));
    }
    let file = std::fs::File::open(&path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).context("not a readable Parquet file")?;
    let meta = builder.metadata().clone();
    let rows = meta.file_metadata().num_rows() as u64;
    if rows != shard.rows {
        problems.push(format!("{name}: {rows} rows, the manifest says {}", shard.rows));
    }
    if meta.num_row_groups() as u64 != shard.row_groups {
        problems.push(format!("{name}: {} row groups, the manifest says {}", meta.num_row_groups(), shard.row_groups));
    }
    let kv = |key: &str| {
        meta.file_metadata()
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
    if kv(META_SCHEMA_VERSION) != Some(schema_version.to_string()) {
        problems.push(format!(
            "{name}: schema version {:?} in the file, expected {schema_version}",
            kv(META_SCHEMA_VERSION)
        ));
    }
    if kv(META_TOKENIZER_SHA256).as_deref() != Some(tokenizer_sha256) {
        problems.push(format!("{name}: the tokenizer checksum in the file differs from the manifest's"));
    }
    Ok(builder)
}

/// Checks one shard; returns the totals of its rows.
fn check_shard(
    dir: &Path,
    shard: &ShardRecord,
    manifest: &Manifest,
    special: &SpecialIds,
    problems: &mut Vec<String>,
) -> Result<Totals> {
    let builder = check_file(dir, shard, SCHEMA_VERSION, &manifest.tokenizer.sha256, problems)?;
    let name = &shard.file;
    let mut totals = Totals::default();
    let mut row = 0u64;
    let mut bad_rows = RowProblems::new(name);
    for batch in builder.build()? {
        for sample in from_batch(&batch?)? {
            let ids = sample.inputs.input_ids.iter().chain(sample.inputs.tbo.iter().map(|t| &t.label));
            let checked = sample.check(special).and_then(|()| in_vocabulary(ids, manifest.tokenizer.vocab_size));
            if let Err(what) = checked {
                bad_rows.push(problems, format!("row {row} ({} sentence {}): {what}", sample.doc_id, sample.sent_id));
            }
            totals.add(&sample);
            row += 1;
        }
    }
    bad_rows.finish(problems);
    Ok(totals)
}

/// Verifies a labeled output: every split's shards, rows and counts.
fn verify_labeled(dir: &Path) -> Result<Report> {
    let manifest = LabeledManifest::read(dir)?;
    let t = &manifest.tokenizer;
    let special = SpecialIds { cls: t.cls_id, sep: t.sep_id, mask: t.mask_id };
    let mut report = Report::default();
    stray_files(dir, None, &[], &mut report.problems)?;
    for (name, split) in &manifest.splits {
        stray_files(dir, Some(name), &split.shards, &mut report.problems)?;
        // What only the whole corpus shows is taken from the manifest; the rest is recounted.
        let mut unreadable = 0;
        let mut stats = SplitStats {
            clusters_not_kept: split.stats.clusters_not_kept,
            duplicate_documents: split.stats.duplicate_documents,
            split_overlap: split.stats.split_overlap,
            ..SplitStats::default()
        };
        for shard in &split.shards {
            report.shards += 1;
            let checked = check_file(dir, shard, LABELED_SCHEMA_VERSION, &t.sha256, &mut report.problems)
                .and_then(|builder| Ok(builder.build()?));
            let reader = match checked {
                Ok(reader) => reader,
                Err(e) => {
                    report.problems.push(format!("{}: {e:#}", shard.file));
                    unreadable += 1;
                    continue;
                }
            };
            let mut bad_rows = RowProblems::new(&shard.file);
            for batch in reader {
                for row in labeled_rows(&batch?)? {
                    if let Err(what) = row.check(&special).and_then(|()| in_vocabulary(&row.input_ids, t.vocab_size)) {
                        let what = format!("row {} ({} sentence {}): {what}", stats.sentences, row.doc_id, row.sent_id);
                        bad_rows.push(&mut report.problems, what);
                    }
                    stats.add(&row, &manifest.symmetric_relations);
                    report.rows += 1;
                }
            }
            bad_rows.finish(&mut report.problems);
        }
        if unreadable > 0 {
            report
                .problems
                .push(format!("split {name}: counts not recounted: {unreadable} shard(s) could not be read"));
        } else if stats != split.stats {
            report.problems.push(format!(
                "split {name}: the shards' counts differ from the manifest's: {}",
                serde_json::to_string(&stats)?
            ));
        }
    }
    Ok(report)
}

/// Every id must be an entry of a vocabulary of `vocab` entries.
fn in_vocabulary<'a>(ids: impl IntoIterator<Item = &'a i32>, vocab: u64) -> Result<(), String> {
    match ids.into_iter().find(|&&id| id < 0 || id as u64 >= vocab) {
        Some(id) => Err(format!("token id {id} lies outside the vocabulary of {vocab} entries")),
        None => Ok(()),
    }
}

/// The problems of one shard's rows: the first [`RowProblems::SHOWN`] in full, then a count,
/// so a damaged shard reads as a few lines rather than one per row.
struct RowProblems<'a> {
    shard: &'a str,
    count: usize,
}

impl<'a> RowProblems<'a> {
    const SHOWN: usize = 10;

    fn new(shard: &'a str) -> Self {
        RowProblems { shard, count: 0 }
    }

    fn push(&mut self, problems: &mut Vec<String>, what: String) {
        if self.count < Self::SHOWN {
            problems.push(format!("{}: {what}", self.shard));
        }
        self.count += 1;
    }

    fn finish(self, problems: &mut Vec<String>) {
        if self.count > Self::SHOWN {
            problems.push(format!("{}: {} more rows with problems", self.shard, self.count - Self::SHOWN));
        }
    }
}
