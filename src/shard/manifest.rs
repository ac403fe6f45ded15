//! `manifest.json`: what an output directory holds and how it was made. Written last and
//! atomically; its presence marks a finished output.

use super::schema::SCHEMA_VERSION;
use super::writer::ShardRecord;
use crate::corpus::{Counts, InputRecord};
use crate::sample::Sample;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File name of the manifest within an output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The value of [`Manifest::format`].
pub const FORMAT: &str = "spe-shards";

/// The manifest of an output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The shards' column layout version.
    pub schema_version: u32,
    /// The program that wrote the output.
    pub tool: ToolRecord,
    /// The corpus reader (`text`, …).
    pub corpus: String,
    /// The random seed.
    pub seed: u64,
    /// The full configuration of the run.
    pub config: serde_json::Value,
    /// The tokenizer used.
    pub tokenizer: TokenizerRecord,
    /// Every input file, in reading order.
    pub inputs: Vec<InputRecord>,
    /// Every shard, in order.
    pub shards: Vec<ShardRecord>,
    /// Totals over the whole output.
    pub totals: Totals,
    /// Input records skipped, by reason (only when asked to skip bad records).
    pub skipped_records: Counts,
    /// Sentences dropped before sampling, by reason.
    pub dropped_sentences: Counts,
    /// Draws that produced no sample, by reason.
    pub dropped_draws: Counts,
}

/// Name and version of the writing program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// `spe`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl ToolRecord {
    /// This program.
    pub fn current() -> ToolRecord {
        ToolRecord { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// The tokenizer of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerRecord {
    /// The path as configured.
    pub path: String,
    /// SHA-256 of the tokenizer file.
    pub sha256: String,
    /// Vocabulary size.
    pub vocab_size: u64,
    /// Whether a `vocab.txt` was read lower-cased; `null` for a `tokenizer.json`.
    pub lowercase: Option<bool>,
    /// Id of `[CLS]`.
    pub cls_id: u32,
    /// Id of `[SEP]`.
    pub sep_id: u32,
    /// Id of `[MASK]`.
    pub mask_id: u32,
}

/// Totals over an output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Documents read.
    pub documents: u64,
    /// Sentences read.
    pub sentences: u64,
    /// Samples written (rows over all shards).
    pub samples: u64,
    /// Words over all samples.
    pub words: u64,
    /// Sub-tokens over all samples, `[CLS]` and `[SEP]` included.
    pub subtokens: u64,
    /// Permuted segments over all samples.
    pub spo_targets: u64,
    /// Masked sub-tokens over all samples.
    pub tbo_targets: u64,
}

impl Totals {
    /// Counts one sample.
    pub fn add(&mut self, sample: &Sample) {
        self.samples += 1;
        self.words += sample.words.len() as u64;
        self.subtokens += sample.input_ids.len() as u64;
        self.spo_targets += sample.spo.len() as u64;
        self.tbo_targets += sample.tbo.len() as u64;
    }
}

impl Manifest {
    /// Writes `dir/manifest.json` through a temporary file and a rename.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        let mut file = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Reads `dir/manifest.json`, checking format and schema version.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{} has no {MANIFEST_FILE}: it is not a finished spe output", dir.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            bail!("{} is not an spe manifest (its format is not {FORMAT:?})", path.display());
        }
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(SCHEMA_VERSION)) {
            bail!(
                "{} describes shards of schema version {}, but this spe reads version {SCHEMA_VERSION}",
                path.display(),
                version.map_or("(missing)".to_string(), |v| v.to_string())
            );
        }
        serde_json::from_value(value).with_context(|| format!("{} is not a valid spe manifest", path.display()))
    }
}
