//! `_manifest.json`: what an output directory holds and how it was made. Written last and
//! atomically; its presence marks a finished output. Its leading underscore keeps it out of
//! Arrow's dataset discovery, so `pyarrow.parquet.read_table(DIR)` reads the shards alone.
//! Outputs written before the underscore (`manifest.json`) are read as well.

use super::schema::{LABELED_SCHEMA_VERSION, SCHEMA_VERSION};
use super::writer::ShardRecord;
use crate::corpus::labeled::Format;
use crate::corpus::InputRecord;
use crate::counts::Counts;
use crate::digest::sha256_bytes;
use crate::partition::PartitionRecord;
use crate::sample::Sample;
use crate::tokenize::{
    tokenizer_bytes, Casing, SpecialIds, TokenizerConfig, WordTokenizer, BUILTIN_VOCAB_FILE, BUILTIN_VOCAB_NAME,
};
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the manifest within an output directory.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// The manifest's name in outputs of earlier versions of spe, still read.
pub const LEGACY_MANIFEST_FILE: &str = "manifest.json";

/// The folder of split `name` in a labeled output: hive-style, so that Arrow tools reading
/// the whole output give each row its split in a `split` column.
pub fn split_dir(name: &str) -> String {
    format!("split={name}")
}

/// The value of [`Manifest::format`].
pub const FORMAT: &str = "spe-shards";

/// The value of [`LabeledManifest::format`].
pub const LABELED_FORMAT: &str = "spe-labeled-shards";

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
    /// The share of one rank of a partitioned run; absent from a whole or merged output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionRecord>,
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

impl TokenizerRecord {
    /// The configuration that reads the recorded tokenizer again alike.
    pub fn config(&self) -> TokenizerConfig {
        TokenizerConfig { path: PathBuf::from(&self.path), casing: self.casing() }
    }

    /// The casing the recorded tokenizer was read with, to read it again alike.
    pub fn casing(&self) -> Casing {
        match self.lowercase {
            Some(true) => Casing::Uncased,
            Some(false) => Casing::Cased,
            None => Casing::Auto,
        }
    }

    /// The record of `tokenizer`, loaded from `config`.
    pub fn of(config: &TokenizerConfig, tokenizer: &WordTokenizer) -> TokenizerRecord {
        TokenizerRecord {
            path: config.path.display().to_string(),
            sha256: tokenizer.sha256().to_string(),
            vocab_size: tokenizer.vocab_size() as u64,
            lowercase: tokenizer.lowercase(),
            cls_id: tokenizer.special_ids().cls,
            sep_id: tokenizer.special_ids().sep,
            mask_id: tokenizer.special_ids().mask,
        }
    }

    /// The special ids it records.
    pub fn special(&self) -> SpecialIds {
        SpecialIds { cls: self.cls_id, sep: self.sep_id, mask: self.mask_id }
    }

    /// The recorded tokenizer's file name and bytes: the built-in vocabulary, or the file
    /// found as recorded (relative paths from the working directory), checked against its
    /// checksum. `what` names the shards it tokenized.
    pub fn file(&self, what: &str) -> Result<(String, Vec<u8>)> {
        let path = PathBuf::from(&self.path);
        let built_in = path == Path::new(BUILTIN_VOCAB_NAME);
        if !built_in && !path.is_file() {
            bail!(
                "{what} were tokenized with {}, which is not here; run from the directory they were prepared in, \
                 or prepare them again",
                path.display()
            );
        }
        let bytes = tokenizer_bytes(&path)?.into_owned();
        let sha256 = sha256_bytes(&bytes);
        if sha256 != self.sha256 {
            bail!(
                "{} has changed since {what} were tokenized with it (checksum {sha256}, recorded {})",
                path.display(),
                self.sha256
            );
        }
        let name = match path.file_name() {
            Some(name) if !built_in => name.to_string_lossy().into_owned(),
            _ => BUILTIN_VOCAB_FILE.to_string(),
        };
        Ok((name, bytes))
    }

    /// Refuses this tokenizer (of `what`, shards) where the BERT directory `bert_dir` ships
    /// another (`tokenizer.json` or `vocab.txt`, where it ships one; a pre-training run's
    /// `encoder/` ships the one its shards were tokenized with), or its vocabulary read with
    /// another casing ([`TokenizerRecord::check_same`]): of equal size, another
    /// vocabulary's ids name other words, and a cased reading of an uncased vocabulary makes
    /// every capitalised word `[UNK]`; a model would learn from noise.
    pub fn check_vocabulary(&self, what: &str, bert_dir: &Path) -> Result<()> {
        match ["tokenizer.json", "vocab.txt"].map(|f| bert_dir.join(f)).into_iter().find(|p| p.is_file()) {
            Some(file) => self.check_same(what, &TokenizerConfig { path: file, casing: Casing::Auto }),
            None => Ok(()),
        }
    }

    /// Refuses this tokenizer (of `what`, shards) where the one `theirs` configures, the
    /// encoder's, makes other ids of the same words.
    pub fn check_same(&self, what: &str, theirs: &TokenizerConfig) -> Result<()> {
        let file = &theirs.path;
        let ours = WordTokenizer::load(&self.config())?;
        let theirs = WordTokenizer::load(theirs)?;
        if let Some((id, a, b)) = ours.first_difference(&theirs) {
            let show = |t: Option<String>| t.map_or("nothing".to_string(), |t| format!("{t:?}"));
            bail!(
                "{what} were tokenized with {}, whose vocabulary differs from the encoder's {}: id {id} is {} there \
                 and {} in the encoder's; prepare them with the encoder's vocabulary (--tokenizer {})",
                self.path,
                file.display(),
                show(a),
                show(b),
                file.display()
            );
        }
        // One vocabulary read with another casing gives other ids for the same words.
        let text = "The English Ångström";
        if let Some(d) = ours.reading_difference(&theirs, text)? {
            bail!(
                "{what} were tokenized with {}{}, which makes {:?} of {text:?} where the encoder's {} makes {:?}; \
                 prepare them with the encoder's own tokenizer (--tokenizer {})",
                self.path,
                match self.lowercase {
                    Some(true) => " read uncased",
                    Some(false) => " read cased",
                    None => "",
                },
                d.ours,
                file.display(),
                d.theirs,
                file.display()
            );
        }
        Ok(())
    }

    /// Every id must be an entry of its vocabulary; `Err` names the first that is not.
    pub fn check_ids<'a>(&self, ids: impl IntoIterator<Item = &'a i32>) -> Result<(), String> {
        let vocab = self.vocab_size;
        match ids.into_iter().find(|&&id| id < 0 || id as u64 >= vocab) {
            Some(id) => Err(format!("token id {id} lies outside the vocabulary of {vocab} entries")),
            None => Ok(()),
        }
    }
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
        self.subtokens += sample.inputs.input_ids.len() as u64;
        self.spo_targets += sample.inputs.spo.len() as u64;
        self.tbo_targets += sample.inputs.tbo.len() as u64;
    }

    /// Adds the totals of another output.
    pub fn add_all(&mut self, other: &Totals) {
        self.documents += other.documents;
        self.sentences += other.sentences;
        self.samples += other.samples;
        self.words += other.words;
        self.subtokens += other.subtokens;
        self.spo_targets += other.spo_targets;
        self.tbo_targets += other.tbo_targets;
    }
}

impl Manifest {
    /// Writes `dir/_manifest.json` through a temporary file and a rename.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(self, dir)
    }

    /// Reads `dir/_manifest.json` (or an earlier version's `manifest.json`), checking
    /// format and schema version.
    pub fn read(dir: &Path) -> Result<Manifest> {
        read_json(dir, FORMAT, SCHEMA_VERSION)
    }
}

/// The manifest of a labeled output: one folder of shards per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledManifest {
    /// Always [`LABELED_FORMAT`].
    pub format: String,
    /// The labeled shards' column layout version.
    pub schema_version: u32,
    /// The program that wrote the output.
    pub tool: ToolRecord,
    /// The corpus (`ace05`, `scierc`, `nyt`).
    pub corpus: String,
    /// The release format read.
    pub source_format: Format,
    /// The full configuration of the run.
    pub config: serde_json::Value,
    /// The tokenizer used.
    pub tokenizer: TokenizerRecord,
    /// Relation types whose arguments are unordered, as configured.
    pub symmetric_relations: Vec<String>,
    /// The SpERT types file given with `--types`, as read, for `spe export --format spert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<serde_json::Value>,
    /// Each split (`train`, `dev`, `test`) by name.
    pub splits: BTreeMap<String, SplitRecord>,
}

/// One split of a labeled output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// Every input file, in reading order.
    pub inputs: Vec<InputRecord>,
    /// Every shard, in order; file names relative to the output directory.
    pub shards: Vec<ShardRecord>,
    /// Counts over the split's rows.
    pub stats: SplitStats,
    /// Input records skipped, and annotations left out, by reason.
    pub skipped_records: Counts,
}

/// Counts over the rows of a split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Documents with at least one sentence.
    pub documents: u64,
    /// Sentences (rows).
    pub sentences: u64,
    /// Words.
    pub words: u64,
    /// Sub-tokens, `[CLS]` and `[SEP]` included.
    pub subtokens: u64,
    /// The longest row's sub-tokens.
    pub max_subtokens: u64,
    /// Entity mentions.
    pub entities: u64,
    /// Relations.
    pub relations: u64,
    /// Entity mentions by type.
    pub entity_labels: Counts,
    /// Relations by type.
    pub relation_labels: Counts,
    /// Mentions lying inside another mention with other bounds (kept).
    pub nested_entities: u64,
    /// Mentions crossing another mention's bounds (kept).
    pub overlapping_entities: u64,
    /// Mentions with the same bounds as an earlier mention of the sentence (kept).
    pub same_span_entities: u64,
    /// Symmetric relations also present in the other direction, counted once per pair.
    pub symmetric_both_directions: u64,
    /// Coreference clusters of the release, which the shards do not keep.
    pub clusters_not_kept: u64,
    /// Documents whose id or words appeared earlier in the same split (kept).
    pub duplicate_documents: u64,
    /// Documents whose id or words appeared in a split written earlier (kept, as asked).
    pub split_overlap: u64,
    /// Documents whose id was a JSON number in the release (SpERT's `orig_id`; the rows'
    /// `doc_id_is_number`), so that an export writes them back as numbers.
    pub numeric_ids: u64,
}

impl LabeledManifest {
    /// The splits in the order a reader expects them: train, dev, test, then any other.
    pub fn ordered_splits(&self) -> Vec<(&String, &SplitRecord)> {
        let mut splits: Vec<_> = self.splits.iter().collect();
        let rank = |name: &str| ["train", "dev", "test"].iter().position(|&s| s == name).unwrap_or(3);
        splits.sort_by_key(|&(name, _)| (rank(name), name.clone()));
        splits
    }

    /// Writes `dir/_manifest.json` through a temporary file and a rename.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(self, dir)
    }

    /// Reads `dir/_manifest.json` (or an earlier version's `manifest.json`), checking
    /// format and schema version.
    pub fn read(dir: &Path) -> Result<LabeledManifest> {
        read_json(dir, LABELED_FORMAT, LABELED_SCHEMA_VERSION)
    }
}

/// The `format` of the manifest in `dir`: [`FORMAT`] or [`LABELED_FORMAT`].
pub fn format_of(dir: &Path) -> Result<String> {
    let value = read_value(dir)?;
    Ok(value.get("format").and_then(|f| f.as_str()).unwrap_or_default().to_string())
}

fn write_json<T: Serialize>(manifest: &T, dir: &Path) -> Result<()> {
    crate::atomic::write_json(manifest, &dir.join(MANIFEST_FILE))
}

/// The manifest of `dir`, under its name or an earlier version's.
pub fn manifest_path(dir: &Path) -> PathBuf {
    let legacy = dir.join(LEGACY_MANIFEST_FILE);
    match !dir.join(MANIFEST_FILE).exists() && legacy.exists() {
        true => legacy,
        false => dir.join(MANIFEST_FILE),
    }
}

fn read_value(dir: &Path) -> Result<serde_json::Value> {
    let path = manifest_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !dir.is_dir() {
                bail!("{} does not exist", dir.display());
            }
            bail!("{} has no {MANIFEST_FILE}: it is not a finished spe output", dir.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_json<T: DeserializeOwned>(dir: &Path, format: &str, schema_version: u32) -> Result<T> {
    let path = manifest_path(dir);
    let value = read_value(dir)?;
    let found = value.get("format").and_then(|f| f.as_str()).unwrap_or_default();
    if found != format {
        bail!("{} is not an spe manifest of format {format} (its format is {found:?})", path.display());
    }
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(schema_version)) {
        bail!(
            "{} describes shards of schema version {}, but this spe reads version {schema_version}",
            path.display(),
            version.map_or("(missing)".to_string(), |v| v.to_string())
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} is not a valid spe manifest", path.display()))
}
