//! `spe verify`: re-checks an output directory (pre-training or labeled) against its
//! manifest.
//!
//! Every shard's size, checksum, row and row-group counts and embedded metadata (schema
//! version, tokenizer checksum, corpus, configuration) are compared with the manifest;
//! every row is decoded and checked against the sample invariants
//! ([`crate::sample::Sample::check`]) and the vocabulary; the manifest's totals are
//! recomputed, and its drop counts must account for every sentence read; its seed must be
//! the configuration's; the input files, where they are found at their recorded paths, are
//! hashed again; stray or unfinished files, and folders the manifest does not list, are
//! reported.

use super::labeled::from_batch as labeled_rows;
use super::manifest::{
    format_of, split_dir, LabeledManifest, Manifest, SplitStats, Totals, LABELED_FORMAT, MANIFEST_FILE,
};
use super::schema::LABELED_SCHEMA_VERSION;
use super::schema::{from_batch, META_CONFIG, META_CORPUS, META_SCHEMA_VERSION, META_TOKENIZER_SHA256, SCHEMA_VERSION};
use super::writer::ShardRecord;
use crate::atomic::TMP_SUFFIX;
use crate::corpus::input::InputRecord;
use crate::counts::plural;
use crate::digest::{sha256_file, sha256_range};
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
    /// What could not be checked and why (an input file not found where it was read).
    pub unchecked: Vec<String>,
}

/// Whether [`verify`] hashes the input files again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inputs {
    /// Hash each input found at its recorded path; report those not found.
    Check,
    /// Leave the inputs alone (they may be large, or elsewhere).
    Skip,
}

/// Verifies the output in `dir`, pre-training or labeled. Fails only when the manifest
/// cannot be read; everything else found wrong is listed in the report.
pub fn verify(dir: &Path, inputs: Inputs) -> Result<Report> {
    if format_of(dir)? == LABELED_FORMAT {
        return verify_labeled(dir, inputs);
    }
    let manifest = Manifest::read(dir)?;
    let special = manifest.tokenizer.special();
    let mut report = Report { shards: manifest.shards.len(), ..Report::default() };
    // A merged output lists the shards of its ranks' folders; a rank that wrote no shard
    // still has its folder, with its own manifest.
    let folders: std::collections::BTreeSet<&str> =
        manifest.shards.iter().filter_map(|s| Some(s.file.rsplit_once('/')?.0)).collect();
    let mut outputs = folders.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && entry.path().join(MANIFEST_FILE).is_file() {
            outputs.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let allowed: Vec<&str> = outputs.iter().map(String::as_str).collect();
    stray_files(dir, None, &manifest.shards, &allowed, &mut report.problems)?;
    for folder in &folders {
        stray_files(dir, Some(folder), &manifest.shards, &[], &mut report.problems)?;
    }
    check_seed(manifest.seed, &manifest.config, &mut report.problems);
    if inputs == Inputs::Check {
        check_inputs(&manifest.inputs, &mut report);
    }
    let expected = Expected {
        schema_version: SCHEMA_VERSION,
        tokenizer_sha256: &manifest.tokenizer.sha256,
        corpus: &manifest.corpus,
        config: &manifest.config,
    };
    let checked: Vec<(Option<Totals>, Vec<String>)> = manifest
        .shards
        .par_iter()
        .map(|shard| {
            let mut problems = Vec::new();
            let totals = check_shard(dir, shard, &expected, &manifest, &special, &mut problems)
                .map_err(|e| problems.push(format!("{}: {e:#}", shard.file)))
                .ok();
            (totals, problems)
        })
        .collect();
    let mut sum = Totals::default();
    let mut unreadable = 0u64;
    for (totals, problems) in checked {
        match totals {
            Some(totals) => sum.add_all(&totals),
            None => unreadable += 1,
        }
        report.problems.extend(problems);
    }
    report.rows = sum.samples;
    if unreadable > 0 {
        // A recount without the unreadable shards would only repeat that they are missing.
        let unreadable = plural(unreadable, "shard");
        report.problems.push(format!("totals not recounted: {unreadable} could not be read whole"));
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
    check_drops(&manifest, &mut report.problems);
    Ok(report)
}

/// The manifest's seed is the configuration's.
fn check_seed(seed: u64, config: &serde_json::Value, problems: &mut Vec<String>) {
    let configured = config.get("seed").and_then(serde_json::Value::as_u64);
    if configured != Some(seed) {
        problems.push(format!("seed: the manifest says {seed}, its configuration {}", shown(configured)));
    }
}

/// Every sentence read is dropped whole or drawn `sample.dupe_factor` times, and every
/// draw is a sample or a dropped draw: the drop counts must account for every row.
fn check_drops(manifest: &Manifest, problems: &mut Vec<String>) {
    let Some(dupe_factor) = manifest.config.pointer("/sample/dupe_factor").and_then(serde_json::Value::as_u64) else {
        problems.push("config.sample.dupe_factor: missing from the manifest's configuration".into());
        return;
    };
    let t = &manifest.totals;
    let dropped_sentences: u64 = manifest.dropped_sentences.values().sum();
    let dropped_draws: u64 = manifest.dropped_draws.values().sum();
    let draws = t.sentences.checked_sub(dropped_sentences).map(|kept| kept * dupe_factor);
    if draws != Some(t.samples + dropped_draws) {
        problems.push(format!(
            "drop counts: {} sentences read, {dropped_sentences} dropped, {dupe_factor} draw(s) each should give {} \
             draws, but {} samples and {dropped_draws} dropped draws are recorded",
            t.sentences,
            shown(draws),
            t.samples
        ));
    }
}

/// Each input found at its recorded path must still have its recorded size and checksum;
/// one not found is listed as unchecked.
fn check_inputs(inputs: &[InputRecord], report: &mut Report) {
    for input in inputs {
        let path = Path::new(&input.path);
        let Ok(meta) = std::fs::metadata(path) else {
            report.unchecked.push(format!("input {}: not found here; its checksum was not checked", input.path));
            continue;
        };
        // A rank of a partitioned run records the part of the file it read.
        let (size, hashed) = match input.range {
            Some(r) => (r.file_bytes, r.start..r.end),
            None => (input.bytes, 0..input.bytes),
        };
        let found = match meta.len() == size {
            true => sha256_range(path, hashed).map(|sha| (sha != input.sha256).then_some("its checksum differs")),
            false => Ok(Some("its size differs")),
        };
        match found {
            Ok(None) => {}
            Ok(Some(what)) => report.problems.push(format!(
                "input {}: {what} from the manifest's: the file changed since the output was made from it",
                input.path
            )),
            Err(e) => report.problems.push(format!("input {}: {e:#}", input.path)),
        }
    }
}

fn shown(value: Option<u64>) -> String {
    value.map_or_else(|| "none".into(), |v| v.to_string())
}

/// The folder, relative to the output, of split `split`: where its listed shards are,
/// else `split=NAME`.
fn split_folder(split: &str, listed: &[ShardRecord]) -> String {
    match listed.first().and_then(|r| r.file.rsplit_once('/')) {
        Some((folder, _)) => folder.to_string(),
        None => split_dir(split),
    }
}

/// Reports unfinished files, shards the manifest does not list, and folders other than
/// `folders`, in `dir` or in its `subfolder`. A folder is reported whatever it holds: a
/// Parquet reader of the directory (`pq.read_table(DIR)`) would read what lies in it.
fn stray_files(
    dir: &Path,
    subfolder: Option<&str>,
    listed: &[ShardRecord],
    folders: &[&str],
    problems: &mut Vec<String>,
) -> Result<()> {
    let folder = subfolder.as_ref().map_or(dir.to_path_buf(), |s| dir.join(s));
    for entry in std::fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let name = subfolder.as_ref().map_or(name.clone(), |s| format!("{s}/{name}"));
        if entry.file_type()?.is_dir() {
            if !folders.contains(&name.as_str()) {
                problems.push(format!("{name}/: a folder the manifest does not list"));
            }
        } else if name.ends_with(TMP_SUFFIX) {
            problems.push(format!("{name}: an unfinished file is present"));
        } else if name.ends_with(".parquet") && !listed.iter().any(|s| s.file == name) {
            problems.push(format!("{name}: a shard not listed in the manifest"));
        }
    }
    Ok(())
}

/// What a manifest says every one of its shards carries in its metadata.
struct Expected<'a> {
    schema_version: u32,
    tokenizer_sha256: &'a str,
    corpus: &'a str,
    config: &'a serde_json::Value,
}

/// Checks a shard file against its record: size, checksum, rows, row groups, and the
/// metadata `expected`. Returns its reader for the row checks.
fn check_file(
    dir: &Path,
    shard: &ShardRecord,
    expected: &Expected,
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
        problems.push(format!("{name}: {}, the manifest says {}", plural(rows, "row"), shard.rows));
    }
    if meta.num_row_groups() as u64 != shard.row_groups {
        let groups = plural(meta.num_row_groups() as u64, "row group");
        problems.push(format!("{name}: {groups}, the manifest says {}", shard.row_groups));
    }
    let kv = |key: &str| {
        meta.file_metadata()
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
    let schema_version = expected.schema_version;
    if kv(META_SCHEMA_VERSION) != Some(schema_version.to_string()) {
        problems.push(format!(
            "{name}: schema version {:?} in the file, expected {schema_version}",
            kv(META_SCHEMA_VERSION)
        ));
    }
    if kv(META_TOKENIZER_SHA256).as_deref() != Some(expected.tokenizer_sha256) {
        problems.push(format!("{name}: the tokenizer checksum in the file differs from the manifest's"));
    }
    if kv(META_CORPUS).as_deref() != Some(expected.corpus) {
        problems.push(format!(
            "{name}: corpus {:?} in the file, the manifest says {:?}",
            kv(META_CORPUS),
            expected.corpus
        ));
    }
    let config = kv(META_CONFIG).and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    if config.as_ref() != Some(expected.config) {
        problems.push(format!("{name}: the configuration in the file differs from the manifest's"));
    }
    Ok(builder)
}

/// Checks one shard; returns the totals of its rows.
fn check_shard(
    dir: &Path,
    shard: &ShardRecord,
    expected: &Expected,
    manifest: &Manifest,
    special: &SpecialIds,
    problems: &mut Vec<String>,
) -> Result<Totals> {
    let builder = check_file(dir, shard, expected, problems)?;
    let name = &shard.file;
    let mut totals = Totals::default();
    let mut row = 0u64;
    let mut bad_rows = RowProblems::new(name);
    for batch in builder.build()? {
        for sample in from_batch(&batch?)? {
            let ids = sample.inputs.input_ids.iter().chain(sample.inputs.tbo.iter().map(|t| &t.label));
            let checked = sample.check(special).and_then(|()| manifest.tokenizer.check_ids(ids));
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
fn verify_labeled(dir: &Path, inputs: Inputs) -> Result<Report> {
    let manifest = LabeledManifest::read(dir)?;
    let t = &manifest.tokenizer;
    let special = t.special();
    let expected = Expected {
        schema_version: LABELED_SCHEMA_VERSION,
        tokenizer_sha256: &t.sha256,
        corpus: &manifest.corpus,
        config: &manifest.config,
    };
    let mut report = Report::default();
    let folders: Vec<String> =
        manifest.ordered_splits().into_iter().map(|(name, split)| split_folder(name, &split.shards)).collect();
    stray_files(dir, None, &[], &folders.iter().map(String::as_str).collect::<Vec<_>>(), &mut report.problems)?;
    for (name, split) in manifest.ordered_splits() {
        stray_files(dir, Some(&split_folder(name, &split.shards)), &split.shards, &[], &mut report.problems)?;
        if inputs == Inputs::Check {
            check_inputs(&split.inputs, &mut report);
        }
        // What only the whole corpus shows is taken from the manifest; the rest is recounted.
        let mut unreadable = 0u64;
        let mut stats = SplitStats {
            clusters_not_kept: split.stats.clusters_not_kept,
            duplicate_documents: split.stats.duplicate_documents,
            split_overlap: split.stats.split_overlap,
            ..SplitStats::default()
        };
        for shard in &split.shards {
            report.shards += 1;
            let checked =
                check_file(dir, shard, &expected, &mut report.problems).and_then(|builder| Ok(builder.build()?));
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
                    if let Err(what) = row.check(&special).and_then(|()| t.check_ids(&row.input_ids)) {
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
                .push(format!("split {name}: counts not recounted: {} could not be read", plural(unreadable, "shard")));
        } else if stats != split.stats {
            report.problems.push(format!(
                "split {name}: the shards' counts differ from the manifest's: {}",
                serde_json::to_string(&stats)?
            ));
        }
    }
    Ok(report)
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
