//! `spe prep ace05|scierc`, `spe prep nyt --labeled`: a labeled corpus's splits to one
//! folder of labeled shards each (`train/`, `dev/`, `test/`) under one manifest.
//!
//! Documents are read in order, tokenized in parallel in batches and written in order, so
//! the output is byte-identical at any thread count. Each word keeps its release
//! boundaries and gets its own sub-tokens ([`WordTokenizer::tokenize_words`]), so the
//! entity offsets stay word offsets.
//!
//! This path does not go through the pre-training pipeline of [`super::run`]: that one
//! streams [`crate::corpus::Document`]s of text through cleaning, sentence splitting and
//! sampling into one shard writer, while a labeled split keeps its release's words and
//! annotations, needs none of those stages, and is written per split under one manifest.
//! Labeled splits are also small (the largest, ACE05's training split, has about 10,000
//! sentences), so one batch loop on the calling thread, with the tokenizing in parallel,
//! is all they need.

use super::output::{labeled_summary, prepare_output, shard_metadata, summary, RunLog, Uncommitted};
use super::{PrepConfig, PrepOptions};
use crate::corpus::labeled::label_sets::RepeatedDocuments;
use crate::corpus::labeled::spert::Types;
use crate::corpus::labeled::{unescape_ptb, Format, LabeledDocument, LabeledReader};
use crate::corpus::{CorpusName, Prepared, SkipReason};
use crate::counts::{count, merge_counts};
use crate::shard::labeled::LabeledRow;
use crate::shard::manifest::{
    split_dir, LabeledManifest, Manifest, SplitRecord, SplitStats, TokenizerRecord, ToolRecord, LABELED_FORMAT,
};
use crate::shard::schema::LABELED_SCHEMA_VERSION;
use crate::shard::ShardWriter;
use crate::tokenize::WordTokenizer;
use anyhow::{bail, ensure, Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The split names, in the order they are written.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// The input of a labeled run.
#[derive(Debug, Clone, Default)]
pub struct LabeledInputs {
    /// `(split name, file)`: a JSON lines file, or for brat a list of document ids.
    pub splits: Vec<(String, PathBuf)>,
    /// Where brat documents lie (each id list's directory by default).
    pub documents: Option<PathBuf>,
    /// A SpERT types file: the label sets of a corpus of the user's, or a check of a
    /// known corpus's.
    pub types: Option<PathBuf>,
}

impl LabeledInputs {
    /// The release format: the configured one, or the one detected in every split that
    /// holds a record (they must agree; an empty split is reported as such later).
    pub fn format(&self, configured: Option<Format>) -> Result<Format> {
        if let Some(format) = configured {
            return Ok(format);
        }
        let mut found: Option<(Format, &Path)> = None;
        for (_, path) in &self.splits {
            if Format::is_empty(path)? {
                continue;
            }
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
        match (found, self.splits.first()) {
            (Some((format, _)), _) => Ok(format),
            (None, Some((_, path))) => Format::detect(path),
            (None, None) => bail!("no split given: pass --train, --dev or --test"),
        }
    }
}

/// What a labeled preparation wrote: the labeled shards, and the in-domain pre-training
/// shards when they were asked for.
#[derive(Debug, Clone)]
pub struct LabeledRun {
    /// The labeled output's manifest.
    pub manifest: LabeledManifest,
    /// The pre-training output of the training split's sentences (`--pretrain-out`).
    pub pretraining: Option<(Manifest, RunLog)>,
}

impl LabeledRun {
    /// The end-of-run summary.
    pub fn summary(&self) -> String {
        let mut text = labeled_summary(&self.manifest);
        if let Some((manifest, log)) = &self.pretraining {
            text = format!("{text}\n{}", summary(manifest, log));
        }
        text
    }
}

/// Writes the labeled shards of `inputs` into `options.out` and, with `pretrain_out`, the
/// pre-training shards of the training split's sentences there (`CORPUS-text`).
pub fn run_with_pretraining(
    corpus: CorpusName,
    inputs: &LabeledInputs,
    pretrain_out: Option<&Path>,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<LabeledRun> {
    if let Some(out) = pretrain_out {
        // One output over the other would leave one manifest over the other's shards.
        crate::overwrite::refuse_inputs("--pretrain-out", out, &[("the --out of the labeled shards", &options.out)])?;
        crate::overwrite::refuse_inputs("--out", &options.out, &[("the --pretrain-out", out)])?;
    }
    let manifest = run(corpus, inputs, config, options)?;
    let pretraining = match pretrain_out {
        Some(out) => {
            let train = inputs.splits.iter().find(|(name, _)| name == "train");
            let (_, train) = train.context("--pretrain-out reads the training split: pass --train")?;
            let options = PrepOptions { out: out.to_path_buf(), ..options.clone() };
            let text = Prepared::SentencesOf(corpus);
            Some(super::labeled_text(text, vec![train.clone()], inputs.documents.clone(), config, &options)?)
        }
        None => None,
    };
    Ok(LabeledRun { manifest, pretraining })
}

/// Writes the labeled shards of `inputs` into `options.out`.
pub fn run(
    corpus: CorpusName,
    inputs: &LabeledInputs,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<LabeledManifest> {
    config.check()?;
    options.check()?;
    if inputs.splits.is_empty() {
        bail!("no split given: pass --train, --dev or --test");
    }
    let format = inputs.format(config.labels.format)?;
    let types = inputs.types.as_deref().map(Types::read).transpose()?;
    let with_types;
    let config = match &types {
        Some(types) => {
            let labels = types.apply(&config.labels).with_context(|| {
                format!(
                    "{}: the types file does not fit corpus {corpus}",
                    inputs.types.as_ref().expect("read").display()
                )
            })?;
            with_types = PrepConfig { labels, ..config.clone() };
            &with_types
        }
        None => config,
    };
    let tokenizer = WordTokenizer::load(&config.tokenizer)?;
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(options.threads).build()?);
    let names: Vec<&str> = inputs.splits.iter().map(|(name, _)| name.as_str()).collect();
    let _lock = prepare_output(&options.out, options.force, &names)?;
    let config_json = serde_json::to_value(config)?;
    let metadata = shard_metadata(LABELED_SCHEMA_VERSION, &tokenizer, &config_json, corpus);
    let mut splits = BTreeMap::new();
    let mut seen = Seen::default();
    let mut uncommitted = Uncommitted::default();
    for (name, path) in &inputs.splits {
        if splits.contains_key(name) {
            bail!("split {name} is given twice");
        }
        let folder = split_dir(name);
        let dir = options.out.join(&folder);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let writer =
            ShardWriter::<LabeledRow>::new(&dir, config.shard.clone(), metadata.clone())?.with_pool(pool.clone());
        let reader = LabeledReader::open(path, format, &config.read, &config.labels, inputs.documents.as_deref())?;
        let split = write_split(reader, writer, &tokenizer, &pool, config, &mut seen.split(name, format))
            .with_context(|| format!("split {name} ({})", path.display()))?;
        uncommitted.add(&dir, &split.shards);
        ensure!(
            split.stats.sentences > 0,
            "split {name} ({}) holds no sentence (skipped records: {})",
            path.display(),
            crate::counts::describe(&split.skipped_records)
        );
        let shards = split
            .shards
            .into_iter()
            .map(|mut s| {
                s.file = format!("{folder}/{}", s.file);
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
        types: types.map(|t| t.value),
        splits,
    };
    manifest.write(&options.out)?;
    uncommitted.commit();
    Ok(manifest)
}

/// The documents of the splits written so far, by id and by words, to find a document
/// given twice: within a split (kept and counted: releases repeat sentences, and the field
/// scores them as released), or, the leak that inflates every score, in two splits.
#[derive(Default)]
struct Seen {
    ids: HashMap<String, String>,
    words: HashMap<[u8; 32], (String, String)>,
}

/// [`Seen`] while writing split `split`.
struct SeenSplit<'a> {
    seen: &'a mut Seen,
    split: &'a str,
    /// Whether a document id names one record (DyGIE, brat). In sentence formats it names
    /// an article whose sentences need not be consecutive, so only the words are compared.
    ids_are_documents: bool,
}

impl Seen {
    fn split<'a>(&'a mut self, split: &'a str, format: Format) -> SeenSplit<'a> {
        SeenSplit { seen: self, split, ids_are_documents: matches!(format, Format::Dygie | Format::Brat) }
    }
}

impl SeenSplit<'_> {
    /// Records `doc`; a repeat within the split is counted in `stats`, one from an earlier
    /// split is an error or counted, as `policy` says.
    fn check(&mut self, doc: &LabeledDocument, policy: RepeatedDocuments, stats: &mut SplitStats) -> Result<()> {
        let mut hasher = Sha256::new();
        for sentence in &doc.sentences {
            for word in &sentence.words {
                hasher.update(word.as_bytes());
                hasher.update([0x1f]);
            }
            hasher.update([0x1e]);
        }
        let words: [u8; 32] = hasher.finalize().into();
        let by_id =
            self.ids_are_documents.then(|| self.seen.ids.get(&doc.id).map(|split| (split.clone(), doc.id.clone())));
        let earlier = match by_id.flatten() {
            Some(found) => Some(("id", found)),
            None => self.seen.words.get(&words).cloned().map(|found| ("words", found)),
        };
        if let Some((how, (split, id))) = earlier {
            let same_split = split == self.split;
            if policy == RepeatedDocuments::Error && !same_split {
                bail!(
                    "document {} repeats document {id} of split {split} (the same {how}): documents shared by \
                     splits inflate every score; pass --allow-split-overlap to keep and count such documents",
                    doc.id
                );
            }
            match same_split {
                true => stats.duplicate_documents += 1,
                false => stats.split_overlap += 1,
            }
        }
        self.seen.ids.entry(doc.id.clone()).or_insert_with(|| self.split.to_string());
        self.seen.words.entry(words).or_insert_with(|| (self.split.to_string(), doc.id.clone()));
        Ok(())
    }
}

/// Reads, tokenizes and writes one split.
fn write_split(
    mut reader: LabeledReader,
    mut writer: ShardWriter<LabeledRow>,
    tokenizer: &WordTokenizer,
    pool: &rayon::ThreadPool,
    config: &PrepConfig,
    seen: &mut SeenSplit,
) -> Result<SplitRecord> {
    let mut stats = SplitStats::default();
    let mut skipped = BTreeMap::new();
    let batch_sentences = config.pipeline.batch_sentences.max(1);
    let mut done = false;
    while !done {
        crate::interrupt::check()?;
        let mut batch = Vec::new();
        let mut sentences = 0;
        while sentences < batch_sentences {
            let Some(doc) = reader.next_document()? else {
                done = true;
                break;
            };
            if doc.sentences.is_empty() {
                count(&mut skipped, SkipReason::EmptyDocument.as_str(), 1);
                continue;
            }
            seen.check(&doc, config.labels.repeated_documents, &mut stats)?;
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
pub fn rows(doc: LabeledDocument, tokenizer: &WordTokenizer, unescape: bool) -> Result<Vec<LabeledRow>> {
    let special = tokenizer.special_ids();
    let LabeledDocument { id, id_is_number, first_sentence, sentences, .. } = doc;
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
                doc_id_is_number: id_is_number,
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
