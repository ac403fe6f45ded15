//! What a preparation run writes around its rows: the output directory (refusing to mix
//! two runs, clearing a previous output on `--force`), the key-value metadata every shard
//! carries, the run log (`_run.json`) and the summaries printed at the end.

use crate::atomic::TMP_SUFFIX;
use crate::counts::{describe, plural};
use crate::lock::{OutputLock, LOCK_FILE};
use crate::shard::manifest::{split_dir, LEGACY_MANIFEST_FILE, MANIFEST_FILE};
use crate::shard::manifest::{LabeledManifest, Manifest};
use crate::shard::schema::{META_CONFIG, META_CORPUS, META_SCHEMA_VERSION, META_TOKENIZER_SHA256};
use crate::shard::writer::is_shard_name;
use crate::tokenize::WordTokenizer;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Times and host details of a run, kept out of the manifest so that manifests compare
/// equal across machines and thread counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunLog {
    /// Start, in seconds since the Unix epoch.
    pub started_unix: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Worker threads used.
    pub threads: usize,
    /// Host name.
    pub host: String,
    /// Sentences read per second.
    pub sentences_per_second: f64,
    /// Input megabytes (as stored) read per second.
    pub input_mb_per_second: f64,
}

/// File name of the run log within an output directory.
pub const RUN_LOG_FILE: &str = "_run.json";

/// The run log's name in outputs of earlier versions of spe.
const LEGACY_RUN_LOG_FILE: &str = "run.json";

impl RunLog {
    /// The log of a run that started at `started` (and `started_unix`) on `threads` workers
    /// and read `sentences` sentences from `input_bytes` bytes.
    pub fn new(started: Instant, started_unix: u64, threads: usize, sentences: u64, input_bytes: u64) -> RunLog {
        let seconds = started.elapsed().as_secs_f64();
        RunLog {
            started_unix,
            seconds,
            threads,
            host: host_name(),
            sentences_per_second: sentences as f64 / seconds,
            input_mb_per_second: input_bytes as f64 / 1e6 / seconds,
        }
    }

    /// Writes `dir/_run.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::atomic::write_json(self, &dir.join(RUN_LOG_FILE))
    }

    /// Reads `dir/_run.json`.
    pub fn read(dir: &Path) -> Result<RunLog> {
        let path = dir.join(RUN_LOG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid run log", path.display()))
    }
}

/// Seconds since the Unix epoch, for [`RunLog::started_unix`].
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The Parquet key-value metadata every shard of a run carries.
pub fn shard_metadata(
    schema_version: u32,
    tokenizer: &WordTokenizer,
    config: &serde_json::Value,
    corpus: impl std::fmt::Display,
) -> Vec<(String, String)> {
    vec![
        (META_SCHEMA_VERSION.to_string(), schema_version.to_string()),
        (META_TOKENIZER_SHA256.to_string(), tokenizer.sha256().to_string()),
        (META_CONFIG.to_string(), config.to_string()),
        (META_CORPUS.to_string(), corpus.to_string()),
    ]
}

/// Creates and locks `out` for the run ([`OutputLock`]), and clears a previous spe output
/// in it when `force` is set: in `out` itself, in every split folder (`split=NAME/`, those
/// of an earlier run with other splits too, which a Parquet reader of the directory would
/// otherwise read beside the new ones), and in the plain-named folders of this run's
/// `splits` that earlier versions of spe wrote. Only what spe writes is ever removed: the
/// manifest, the run log, shards under spe's names and their temporary files, and split
/// folders left empty; the manifest goes first, so an interrupted clean-up never leaves a
/// finished-looking output. A directory holding other files is refused without `force`,
/// and with it they are left alone. The run holds the returned lock until it ends.
pub fn prepare_output(out: &Path, force: bool, splits: &[&str]) -> Result<OutputLock> {
    let lock = OutputLock::acquire(out)?;
    let (mut previous, mut foreign) = (Vec::new(), Vec::new());
    let mut split_dirs: Vec<PathBuf> = splits.iter().map(|s| out.join(s)).collect();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && entry.file_name().to_string_lossy().starts_with(&split_dir("")) {
            split_dirs.push(entry.path());
        }
    }
    split_dirs.sort();
    split_dirs.dedup();
    let dirs = std::iter::once(out.to_path_buf()).chain(split_dirs.iter().cloned());
    for dir in dirs.filter(|d| d.is_dir()) {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if written_by_spe(&name) {
                previous.push(path);
            } else if name != LOCK_FILE && !entry.file_type()?.is_dir() {
                foreign.push(path);
            }
        }
    }
    if !foreign.is_empty() && !force {
        let names: Vec<String> = foreign.iter().take(3).map(|p| p.display().to_string()).collect();
        bail!(
            "{} holds files spe did not write ({}{}); choose an empty directory, or pass --force to write beside them \
             (they are left alone)",
            out.display(),
            names.join(", "),
            if foreign.len() > 3 { ", …" } else { "" }
        );
    }
    if previous.is_empty() {
        return Ok(lock);
    }
    if !force {
        bail!("{} already holds spe output; pass --force to replace it", out.display());
    }
    let is_manifest = |p: &Path| p.file_name().is_some_and(|n| n == MANIFEST_FILE || n == LEGACY_MANIFEST_FILE);
    previous.sort_by_key(|p| !is_manifest(p));
    for path in previous {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    for dir in split_dirs.iter().filter(|d| d.is_dir()) {
        // Fails, and is meant to, where the folder still holds files spe did not write.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(lock)
}

/// The shards a run has written, removed again unless the run commits them by writing its
/// manifest: a run that fails after its shards are complete leaves no shard behind for a
/// `*.parquet` glob to read.
#[derive(Debug, Default)]
pub struct Uncommitted {
    paths: Vec<std::path::PathBuf>,
}

impl Uncommitted {
    /// Adds the shards of `records`, named relative to `dir`.
    pub fn add(&mut self, dir: &Path, records: &[crate::shard::ShardRecord]) {
        self.paths.extend(records.iter().map(|r| dir.join(&r.file)));
    }

    /// The manifest is written: the shards stay.
    pub fn commit(mut self) {
        self.paths.clear();
    }
}

impl Drop for Uncommitted {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `name` is a file spe writes in an output directory.
fn written_by_spe(name: &str) -> bool {
    let name = name.strip_suffix(TMP_SUFFIX).unwrap_or(name);
    [MANIFEST_FILE, LEGACY_MANIFEST_FILE, RUN_LOG_FILE, LEGACY_RUN_LOG_FILE].contains(&name) || is_shard_name(name)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// The end-of-run summary printed on stderr.
pub fn summary(manifest: &Manifest, log: &RunLog) -> String {
    let t = &manifest.totals;
    format!(
        "{}, {} -> {} in {} ({} words, {} sub-tokens) in {:.2} s ({:.0} sentences/s, {:.1} MB/s of input \
         files as stored, {})\nskipped records: {}; dropped sentences: {}; dropped draws: {}",
        plural(t.documents, "document"),
        plural(t.sentences, "sentence"),
        plural(t.samples, "sample"),
        plural(manifest.shards.len() as u64, "shard"),
        t.words,
        t.subtokens,
        log.seconds,
        log.sentences_per_second,
        log.input_mb_per_second,
        plural(log.threads as u64, "thread"),
        describe(&manifest.skipped_records),
        describe(&manifest.dropped_sentences),
        describe(&manifest.dropped_draws),
    )
}

/// The end-of-run summary printed on stderr: counts per split.
pub fn labeled_summary(manifest: &LabeledManifest) -> String {
    let mut lines = vec![format!("{} ({} format) -> labeled shards:", manifest.corpus, manifest.source_format)];
    for (name, split) in manifest.ordered_splits() {
        let s = &split.stats;
        let mut repeats = String::new();
        if s.duplicate_documents > 0 {
            repeats += &format!("; {} repeated within the split (kept)", plural(s.duplicate_documents, "document"));
        }
        if s.split_overlap > 0 {
            repeats += &format!("; {} shared with an earlier split (kept)", plural(s.split_overlap, "document"));
        }
        lines.push(format!(
            "  {name}: {}, {}, {} ({} nested, {} overlapping), {}{repeats}; skipped: {}",
            plural(s.documents, "document"),
            plural(s.sentences, "labeled sentence"),
            plural(s.entities, "entity"),
            s.nested_entities,
            s.overlapping_entities,
            plural(s.relations, "relation"),
            describe(&split.skipped_records)
        ));
    }
    lines.join("\n")
}
