//! `spe prep ace05|scierc`, `spe prep nyt --labeled`: a labeled corpus's splits to one
//! folder of labeled shards each (`train/`, `dev/`, `test/`) under one manifest.
//!
//! Documents are read in order, tokenized in parallel in batches and written in order, so
//! the output is byte-identical at any thread count. Each word keeps its release
//! boundaries and gets its own sub-tokens ([`WordTokenizer::tokenize_words`]), so the
//! entity offsets stay word offsets.

use super::{prepare_output, shard_metadata, PrepConfig, PrepOptions};
use crate::corpus::labeled::{unescape_ptb, Format, LabeledDocument, LabeledReader};
use crate::corpus::{count, merge_counts};
use crate::shard::labeled::{LabeledRow, LABELED_SCHEMA_VERSION};
use crate::shard::manifest::{LabeledManifest, SplitRecord, SplitStats, TokenizerRecord, ToolRecord, LABELED_FORMAT};
use crate::shard::ShardWriter;
use crate::tokenize::WordTokenizer;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The split names, in the order they are written.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// The input of a labeled run.
#[derive(Debug, Clone, Default)]
pub struct LabeledInputs {
    /// `(split name, file)`: a JSON lines file, or for brat a list of document ids.
    pub splits: Vec<(String, PathBuf)>,
    /// Where brat documents lie (each id list's directory by default).
    pub documents: Option<PathBuf>,
}

impl LabeledInputs {
    /// The release format: the configured one, or the one detected in every split (which
    /// must agree).
    pub fn format(&self, configured: Option<Format>) -> Result<Format> {
        if let Some(format) = configured {
            return Ok(format);
        }
        let mut found: Option<(Format, &Path)> = None;
        for (_, path) in &self.splits {
            let format = Format::detect(path)?;
            match found {
                Some((other, at)) if other != format => bail!(
                    "{} reads as {format} but {} as {other}; pass --format to choose",
                    path.display(),
                    at.display()
                ),
                _ => found = Some((format, path)),
            }
        }
        found.map(|(f, _)| f).context("no split given: pass --train, --dev or --test")
    }
}

/// Writes the labeled shards of `inputs` into `options.out`.
pub fn run(
    corpus: &str,
    inputs: &LabeledInputs,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<LabeledManifest> {
    if inputs.splits.is_empty() {
        bail!("no split given: pass --train, --dev or --test");
    }
    let format = inputs.format(config.labels.format)?;
    let tokenizer = WordTokenizer::load(&config.tokenizer)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(options.threads).build()?;
    let names: Vec<&str> = inputs.splits.iter().map(|(name, _)| name.as_str()).collect();
    prepare_output(&options.out, options.force, &names)?;
    let config_json = serde_json::to_value(config)?;
    let metadata = shard_metadata(LABELED_SCHEMA_VERSION, &tokenizer, &config_json, corpus);
    let mut splits = BTreeMap::new();
    for (name, path) in &inputs.splits {
        if splits.contains_key(name) {
            bail!("split {name} is given twice");
        }
        let dir = options.out.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let writer = ShardWriter::<LabeledRow>::new(&dir, config.shard.clone(), metadata.clone())?;
        let reader = LabeledReader::open(path, format, &config.read, &config.labels, inputs.documents.as_deref())?;
        let split = write_split(reader, writer, &tokenizer, &pool, config)
            .with_context(|| format!("split {name} ({})", path.display()))?;
        let shards = split
            .shards
            .into_iter()
            .map(|mut s| {
                s.file = format!("{name}/{}", s.file);
                s
            })
            .collect();
        splits.insert(name.clone(), SplitRecord { shards, ..split });
    }
    let manifest = LabeledManifest {
        format: LABELED_FORMAT.to_string(),
        schema_version: LABELED_SCHEMA_VERSION,
        tool: ToolRecord::current(),
        corpus: corpus.to_string(),
        source_format: format,
        config: config_json,
        tokenizer: TokenizerRecord::of(&config.tokenizer, &tokenizer),
        symmetric_relations: config.labels.symmetric.clone(),
        splits,
    };
    manifest.write(&options.out)?;
    Ok(manifest)
}

/// Reads, tokenizes and writes one split.
fn write_split(
    mut reader: LabeledReader,
    mut writer: ShardWriter<LabeledRow>,
    tokenizer: &WordTokenizer,
    pool: &rayon::ThreadPool,
    config: &PrepConfig,
) -> Result<SplitRecord> {
    let mut stats = SplitStats::default();
    let mut skipped = BTreeMap::new();
    let batch_sentences = config.pipeline.batch_sentences.max(1);
    let mut done = false;
    while !done {
        let mut batch = Vec::new();
        let mut sentences = 0;
        while sentences < batch_sentences {
            let Some(doc) = reader.next_document()? else {
                done = true;
                break;
            };
            if doc.sentences.is_empty() {
                count(&mut skipped, "empty_document", 1);
                continue;
            }
            stats.clusters_not_kept += doc.clusters;
            sentences += doc.sentences.len();
            batch.push(doc);
        }
        let unescape = config.labels.unescape_ptb;
        let rows = pool
            .install(|| batch.into_par_iter().map(|doc| rows(doc, tokenizer, unescape)).collect::<Result<Vec<_>>>())?;
        let rows: Vec<LabeledRow> = rows.into_iter().flatten().collect();
        rows.iter().for_each(|row| stats.add(row, &config.labels.symmetric));
        writer.write(&rows)?;
    }
    let report = reader.finish();
    merge_counts(&mut skipped, &report.skipped);
    Ok(SplitRecord { inputs: report.inputs, shards: writer.finish()?, stats, skipped_records: skipped })
}

/// The rows of one document; `unescape` gives Penn Treebank escapes the sub-tokens of
/// what they stand for.
fn rows(doc: LabeledDocument, tokenizer: &WordTokenizer, unescape: bool) -> Result<Vec<LabeledRow>> {
    let special = tokenizer.special_ids();
    let LabeledDocument { id, first_sentence, sentences, .. } = doc;
    sentences
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let sent_id = (first_sentence as usize + i) as i32;
            let pieced: Vec<&str> =
                s.words.iter().map(|w| if unescape { unescape_ptb(w) } else { w.as_str() }).collect();
            let t = tokenizer.tokenize_words(&pieced).with_context(|| format!("document {id} sentence {sent_id}"))?;
            let mut input_ids = Vec::with_capacity(t.ids.len() + 2);
            input_ids.push(special.cls as i32);
            input_ids.extend(t.ids.iter().map(|&id| id as i32));
            input_ids.push(special.sep as i32);
            let word_starts =
                std::iter::once(0).chain(t.ends.iter().copied()).take(s.words.len()).map(|e| e as i32 + 1);
            Ok(LabeledRow {
                doc_id: id.clone(),
                sent_id,
                words: s.words,
                input_ids,
                word_starts: word_starts.collect(),
                entities: s.entities,
                relations: s.relations,
            })
        })
        .collect()
}

/// The end-of-run summary printed on stderr: counts per split.
pub fn summary(manifest: &LabeledManifest) -> String {
    let mut lines = vec![format!("{} ({} format) -> labeled shards:", manifest.corpus, manifest.source_format)];
    for (name, split) in &manifest.splits {
        let s = &split.stats;
        lines.push(format!(
            "  {name}: {} documents, {} sentences, {} entities ({} nested, {} overlapping), {} relations; \
             skipped: {}",
            s.documents,
            s.sentences,
            s.entities,
            s.nested_entities,
            s.overlapping_entities,
            s.relations,
            super::describe(&split.skipped_records)
        ));
    }
    lines.join("\n")
}
