//! `spe verify`: re-checks an output directory against its manifest.
//!
//! Every shard's size, checksum, row and row-group counts and embedded schema version are
//! compared with the manifest; every row is decoded and checked against the sample
//! invariants ([`Sample::check`]); the manifest's totals are recomputed; stray or
//! unfinished files are reported.

use super::manifest::{Manifest, Totals};
use super::schema::{from_batch, META_SCHEMA_VERSION, META_TOKENIZER_SHA256, SCHEMA_VERSION};
use super::writer::{ShardRecord, TMP_SUFFIX};
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

/// Verifies the output in `dir`. Fails only when the manifest cannot be read; everything
/// else found wrong is listed in the report.
pub fn verify(dir: &Path) -> Result<Report> {
    let manifest = Manifest::read(dir)?;
    let special =
        SpecialIds { cls: manifest.tokenizer.cls_id, sep: manifest.tokenizer.sep_id, mask: manifest.tokenizer.mask_id };
    let mut report = Report { shards: manifest.shards.len(), ..Report::default() };
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(TMP_SUFFIX) {
            report.problems.push(format!("{name}: an unfinished file is present"));
        } else if name.ends_with(".parquet") && !manifest.shards.iter().any(|s| s.file == name) {
            report.problems.push(format!("{name}: a shard not listed in the manifest"));
        }
    }
    let checked: Vec<(Totals, Vec<String>)> = manifest
        .shards
        .par_iter()
        .map(|shard| {
            let mut problems = Vec::new();
            let totals = check_shard(dir, shard, &manifest, &special, &mut problems).unwrap_or_else(|e| {
                problems.push(format!("{}: {e:#}", shard.file));
                Totals::default()
            });
            (totals, problems)
        })
        .collect();
    let mut sum = Totals::default();
    for (totals, problems) in checked {
        sum.samples += totals.samples;
        sum.words += totals.words;
        sum.subtokens += totals.subtokens;
        sum.spo_targets += totals.spo_targets;
        sum.tbo_targets += totals.tbo_targets;
        report.problems.extend(problems);
    }
    report.rows = sum.samples;
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

/// Checks one shard; returns the totals of its rows.
fn check_shard(
    dir: &Path,
    shard: &ShardRecord,
    manifest: &Manifest,
    special: &SpecialIds,
    problems: &mut Vec<String>,
) -> Result<Totals> {
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
    if kv(META_SCHEMA_VERSION) != Some(SCHEMA_VERSION.to_string()) {
        problems.push(format!(
            "{name}: schema version {:?} in the file, expected {SCHEMA_VERSION}",
            kv(META_SCHEMA_VERSION)
        ));
    }
    if kv(META_TOKENIZER_SHA256).as_deref() != Some(manifest.tokenizer.sha256.as_str()) {
        problems.push(format!("{name}: the tokenizer checksum in the file differs from the manifest's"));
    }
    let mut totals = Totals::default();
    let mut row = 0u64;
    for batch in builder.build()? {
        for sample in from_batch(&batch?)? {
            if let Err(what) = sample.check(special) {
                problems.push(format!("{name}: row {row} ({} sentence {}): {what}", sample.doc_id, sample.sent_id));
            }
            totals.add(&sample);
            row += 1;
        }
    }
    Ok(totals)
}
