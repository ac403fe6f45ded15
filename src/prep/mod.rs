//! `spe prep`: the streaming pipeline from a [`Source`] to a finished output directory.
//!
//! Three stages run at once, joined by bounded channels so memory stays flat whatever the
//! input size:
//!
//! ```text
//! reader thread --batches of documents--> rayon workers --samples, in order--> writer thread
//! ```
//!
//! Workers tokenize and sample the documents of a batch in parallel; the batch's results
//! are collected in document order and each sentence draws from its own random stream
//! ([`crate::rng`]), so the output is byte-identical at any thread count. The
//! manifest is written last, after every shard is complete.
//!
//! Labeled corpora (entities and relations) take their own path, [`labeled`].

pub mod labeled;
pub mod output;

use crate::clean::wikitext::is_debris;
use crate::clean::{plain, CleanConfig, Cleaner, SplitConfig, Splitter};
use crate::config::Override;
use crate::corpus::books::BooksSource;
use crate::corpus::labeled::as_text::LabeledText;
use crate::corpus::labeled::LabelConfig;
use crate::corpus::text::TextSource;
use crate::corpus::wiki::{WikiInput, WikiSource};
use crate::corpus::{Content, Document, ReadConfig, SkipReason, Source, SourceReport};
use crate::counts::{count, describe, merge_counts, plural, Counts};
use crate::partition::{Partition, PartitionRecord};
use crate::sample::{SampleConfig, Sampled, Sampler};
use crate::shard::manifest::{Manifest, TokenizerRecord, ToolRecord, Totals, FORMAT};
use crate::shard::{ShardConfig, ShardRecord, ShardWriter, SCHEMA_VERSION};
use output::{prepare_output, shard_metadata, unix_now, RunLog, Uncommitted};

use crate::tokenize::{TokenizerConfig, WordTokenizer};
use anyhow::{anyhow, bail, ensure, Context, Result};
pub use output::{labeled_summary, summary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

/// The configuration of a `spe prep` run: one section per stage (`pipelines/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrepConfig {
    /// Seed of every random stream.
    pub seed: u64,
    /// Source readers.
    pub read: ReadConfig,
    /// Cleaning of markup (wikitext).
    pub clean: CleanConfig,
    /// Sentence splitting of cleaned text.
    pub split: SplitConfig,
    /// Tokenization.
    pub tokenizer: TokenizerConfig,
    /// Sampling.
    pub sample: SampleConfig,
    /// Shard writing.
    pub shard: ShardConfig,
    /// Work batching; changes speed and memory, never the output.
    pub pipeline: PipelineConfig,
    /// Labeled corpora: format, label sets, symmetric relations.
    pub labels: LabelConfig,
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            seed: 42,
            read: ReadConfig::default(),
            clean: CleanConfig::default(),
            split: SplitConfig::default(),
            tokenizer: TokenizerConfig::default(),
            sample: SampleConfig::default(),
            shard: ShardConfig::default(),
            pipeline: PipelineConfig::default(),
            labels: LabelConfig::default(),
        }
    }
}

impl PrepConfig {
    /// The built-in configuration of `corpus` (`pipelines/CORPUS.toml`): the defaults,
    /// with the label sets of the labeled corpora.
    pub fn for_corpus(corpus: &str) -> PrepConfig {
        PrepConfig { labels: LabelConfig::for_corpus(corpus), ..PrepConfig::default() }
    }

    /// The ranges of the settings that size memory (`pipeline`, `read`), checked before any
    /// input is opened.
    pub fn check(&self) -> Result<()> {
        self.pipeline.check()?;
        self.read.check()
    }

    /// The configuration of `corpus`: `file`, or the corpus's built-in configuration, with
    /// `overrides` (the `--set` flags and those named flags that stand for a key) applied.
    pub fn load(corpus: &str, file: Option<&Path>, overrides: &[Override]) -> Result<PrepConfig> {
        crate::config::load_with_defaults(PrepConfig::for_corpus(corpus), file, overrides)
    }
}

/// How work is cut into batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Sentences per batch handed to the workers.
    pub batch_sentences: usize,
    /// Batches in flight between two stages.
    pub queue_batches: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { batch_sentences: 8192, queue_batches: 2 }
    }
}

impl PipelineConfig {
    /// Every stage holds whole batches, and every batch in flight is memory: a batch
    /// beyond a million sentences, or more than 64 of them queued, buys no speed and can
    /// exhaust memory before the first shard.
    pub fn check(&self) -> Result<()> {
        let (b, q) = (self.batch_sentences, self.queue_batches);
        ensure!((1..=1_000_000).contains(&b), "pipeline.batch_sentences must lie in [1, 1000000], not {b}");
        ensure!((1..=64).contains(&q), "pipeline.queue_batches must lie in [1, 64], not {q}");
        Ok(())
    }
}

/// Settings of a run that are not part of its configuration, since they do not change
/// the output.
#[derive(Debug, Clone)]
pub struct PrepOptions {
    /// The output directory.
    pub out: PathBuf,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Replace an existing output in `out`.
    pub force: bool,
    /// This rank's share of a partitioned run, written to `out/rank-R-of-N/`; the whole
    /// input where `None`.
    pub partition: Option<Partition>,
}

impl PrepOptions {
    /// Refuses a thread count over [`crate::config::MAX_THREADS`], before any work.
    pub fn check(&self) -> Result<()> {
        let max = crate::config::MAX_THREADS;
        anyhow::ensure!(self.threads <= max, "--threads must lie in 0..={max} (0: one per core), not {}", self.threads);
        Ok(())
    }
}

/// `spe prep text`: sentence-per-line files to shards.
pub fn text(inputs: Vec<PathBuf>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = TextSource::new(inputs, config.read.clone())?;
    run(Box::new(source), "text", config, options)
}

/// `spe prep books`: directory trees of plain-text books to shards.
pub fn books(roots: Vec<PathBuf>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = BooksSource::new(roots, config.read.clone())?;
    run(Box::new(source), "books", config, options)
}

/// `spe prep wiki`: MediaWiki XML dumps to shards.
pub fn wiki(inputs: Vec<WikiInput>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = WikiSource::new(inputs, config.read.clone(), options.threads)?;
    run(Box::new(source), "wiki", config, options)
}

/// `spe prep nyt` (and `--pretrain-out` of the labeled corpora): the sentences of labeled
/// files to pre-training shards.
pub fn labeled_text(
    corpus: &str,
    files: Vec<PathBuf>,
    documents: Option<PathBuf>,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = LabeledText::new(files, config.labels.format, documents, config.read.clone(), config.labels.clone())?;
    run(Box::new(source), corpus, config, options)
}

/// Runs the pipeline from `source` into `options.out`.
fn run(
    mut source: Box<dyn Source>,
    corpus: &str,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<(Manifest, RunLog)> {
    options.check()?;
    let started = Instant::now();
    let (out, partition) = match &options.partition {
        Some(p) => (options.out.join(p.dir_name()), Some(source.take_share(p)?)),
        None => (options.out.clone(), None),
    };
    let started_unix = unix_now();
    let tokenizer = WordTokenizer::load(&config.tokenizer)?;
    let sampler = Sampler::new(config.sample.clone(), tokenizer.special_ids())?;
    let stages = Stages {
        cleaner: Cleaner::new(config.clean.clone()),
        splitter: Splitter::new(&config.split),
        tokenizer: &tokenizer,
        sampler: &sampler,
        seed: config.seed,
    };
    let mut config_json = serde_json::to_value(config)?;
    // The manifest records the sections the run used: only labeled files read `labels`.
    if !source.reads_labels() {
        config_json.as_object_mut().map(|sections| sections.remove("labels"));
    }
    // The manifest is written last and whole, so a finished rank is seen without the lock.
    if let Some(done) = partition.as_ref().and_then(|p| finished_rank(&out, p, &config_json, &tokenizer, options)) {
        return Ok(done);
    }
    let _lock = prepare_output(&out, options.force, &[])?;
    if partition.is_some() {
        crate::shard::merge::remove_stale(&options.out)?;
    }
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(options.threads).build()?);
    let metadata = shard_metadata(SCHEMA_VERSION, &tokenizer, &config_json, corpus);
    let writer =
        ShardWriter::<crate::sample::Sample>::new(&out, config.shard.clone(), metadata)?.with_pool(pool.clone());
    let queue = config.pipeline.queue_batches.max(1);
    let (doc_tx, doc_rx) = sync_channel::<Vec<Document>>(queue);
    let (sample_tx, sample_rx) = sync_channel(queue);
    let batch_sentences = config.pipeline.batch_sentences.max(1);

    let mut totals = Totals::default();
    let mut sampled = Sampled::default();
    let mut skipped_documents = Counts::new();
    let (read, processed, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_batches(source, batch_sentences, doc_tx));
        let writer = scope.spawn(move || write_batches(writer, sample_rx));
        // The block owns the sender, so the writer stops however processing ends.
        let processed = {
            let sample_tx = sample_tx;
            (|| -> Result<()> {
                for batch in doc_rx {
                    crate::interrupt::check()?;
                    let work = || pool.install(|| batch.par_iter().map(|doc| stages.process(doc)).collect::<Vec<_>>());
                    let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned());
                        anyhow!(
                            "internal error while processing documents {}..: {}",
                            batch[0].id,
                            what.unwrap_or_default()
                        )
                    })?;
                    let mut samples = Vec::new();
                    for (doc, result) in batch.iter().zip(results) {
                        let mut out = result?;
                        if let Some(reason) = out.skipped {
                            count(&mut skipped_documents, reason.as_str(), 1);
                            continue;
                        }
                        totals.documents += u64::from(doc.first_sentence == 0);
                        totals.sentences += out.sentences;
                        merge_counts(&mut sampled.dropped_sentences, &out.sampled.dropped_sentences);
                        merge_counts(&mut sampled.dropped_draws, &out.sampled.dropped_draws);
                        out.sampled.samples.iter().for_each(|s| totals.add(s));
                        samples.append(&mut out.sampled.samples);
                    }
                    if sample_tx.send(samples).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Ok(())
            })()
        };
        let written = writer.join().map_err(|_| anyhow!("the shard writer panicked"));
        let read = reader.join().map_err(|_| anyhow!("the reader panicked"));
        (read, processed, written)
    });
    // The writer's error explains a stopped pipeline best, then the workers', then the reader's.
    let shards = written??;
    let mut uncommitted = Uncommitted::default();
    uncommitted.add(&out, &shards);
    processed?;
    let mut report = read??;
    merge_counts(&mut report.skipped, &skipped_documents);

    // A rank's share may hold no sample; the merge refuses an output without any.
    if totals.samples == 0 && partition.is_none() {
        bail!(
            "no sample was produced from {} (dropped sentences: {}; dropped draws: {}); nothing was written",
            plural(totals.sentences, "sentence"),
            describe(&sampled.dropped_sentences),
            describe(&sampled.dropped_draws)
        );
    }
    let input_bytes: u64 = report.inputs.iter().map(|i| i.bytes).sum();
    let log = RunLog::new(started, started_unix, pool.current_num_threads(), totals.sentences, input_bytes);
    let manifest = Manifest {
        format: FORMAT.to_string(),
        schema_version: SCHEMA_VERSION,
        tool: ToolRecord::current(),
        corpus: corpus.to_string(),
        seed: config.seed,
        config: config_json,
        tokenizer: TokenizerRecord::of(&config.tokenizer, &tokenizer),
        inputs: report.inputs,
        shards,
        totals,
        skipped_records: report.skipped,
        dropped_sentences: sampled.dropped_sentences,
        dropped_draws: sampled.dropped_draws,
        partition,
    };
    log.write(&out)?;
    manifest.write(&out)?;
    uncommitted.commit();
    Ok((manifest, log))
}

/// The finished output of this rank in `out`, where a previous run of it wrote one from the
/// same share, configuration and tokenizer with this version of spe: rerunning a rank that
/// completed (a requeued job) is a no-op. `--force` runs it again.
fn finished_rank(
    out: &Path,
    partition: &PartitionRecord,
    config: &serde_json::Value,
    tokenizer: &WordTokenizer,
    options: &PrepOptions,
) -> Option<(Manifest, RunLog)> {
    let manifest = Manifest::read(out).ok().filter(|m| {
        !options.force
            && m.partition.as_ref() == Some(partition)
            && m.config == *config
            && m.tokenizer.sha256 == tokenizer.sha256()
            && m.tool == ToolRecord::current()
    })?;
    let log = RunLog::read(out).ok()?;
    eprintln!(
        "rank {} of {} is already complete in {} (same inputs, configuration and tokenizer): nothing to do",
        partition.rank,
        partition.world_size,
        out.display()
    );
    Some((manifest, log))
}

/// The stages a worker runs on each document.
struct Stages<'a> {
    cleaner: Cleaner,
    splitter: Splitter,
    tokenizer: &'a WordTokenizer,
    sampler: &'a Sampler,
    seed: u64,
}

/// What a worker made of one document.
struct DocumentOutput {
    sampled: Sampled,
    sentences: u64,
    /// Why the document was skipped whole, if it was.
    skipped: Option<SkipReason>,
}

impl Stages<'_> {
    /// Cleans and splits (where the content is markup), tokenizes and samples one document.
    fn process(&self, doc: &Document) -> Result<DocumentOutput> {
        let cleaned;
        let sentences: Vec<&str> = match &doc.content {
            Content::Sentences(sentences) => sentences.iter().map(String::as_str).collect(),
            Content::Wikitext(text) => {
                cleaned = self.cleaner.paragraphs(text);
                cleaned.iter().flat_map(|p| self.splitter.split(p)).filter(|s| !is_debris(s)).collect()
            }
            Content::Prose(text) => {
                cleaned = plain::paragraphs(text);
                cleaned.iter().flat_map(|p| self.splitter.split(p)).collect()
            }
        };
        let mut out = DocumentOutput { sampled: Sampled::default(), sentences: sentences.len() as u64, skipped: None };
        if sentences.is_empty() {
            out.skipped = Some(SkipReason::TooLittleProse);
            return Ok(out);
        }
        for (i, text) in sentences.iter().enumerate() {
            let sent_id = doc.first_sentence + i as i32;
            let sentence =
                self.tokenizer.tokenize(text).with_context(|| format!("document {} sentence {sent_id}", doc.id))?;
            self.sampler.sample_sentence(self.seed, &doc.id, sent_id, &sentence, &mut out.sampled);
        }
        if doc.title.is_some() {
            out.sampled.samples.iter_mut().for_each(|s| s.title = doc.title.clone());
        }
        Ok(out)
    }
}

/// Reads documents into batches of about `batch_sentences` sentences.
fn read_batches(
    mut source: Box<dyn Source>,
    batch_sentences: usize,
    tx: SyncSender<Vec<Document>>,
) -> Result<SourceReport> {
    let mut batch = Vec::new();
    let mut sentences = 0;
    let progress = progress_bar();
    let mut documents = 0u64;
    while let Some(doc) = source.next_document()? {
        crate::interrupt::check()?;
        if let Some(bar) = &progress {
            documents += 1;
            let (done, total) = source.progress();
            bar.set_length(total);
            bar.set_position(done);
            if documents.is_multiple_of(64) {
                bar.set_message(format!("{documents} documents"));
            }
        }
        sentences += match &doc.content {
            Content::Sentences(s) => s.len(),
            // About one sentence per 300 bytes of wikitext or 100 of prose: batches of similar work.
            Content::Wikitext(text) => text.len() / 300 + 1,
            Content::Prose(text) => text.len() / 100 + 1,
        };
        batch.push(doc);
        if sentences >= batch_sentences {
            if tx.send(std::mem::take(&mut batch)).is_err() {
                bail!("the pipeline stopped before the input was read");
            }
            sentences = 0;
        }
    }
    if !batch.is_empty() && tx.send(batch).is_err() {
        bail!("the pipeline stopped before the input was read");
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    source.finish()
}

/// A progress bar on stderr (input bytes, rate, ETA, documents), only when it is a terminal.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
    .expect("valid template");
    bar.set_style(style);
    Some(bar)
}

fn write_batches(
    mut writer: ShardWriter<crate::sample::Sample>,
    rx: Receiver<Vec<crate::sample::Sample>>,
) -> Result<Vec<ShardRecord>> {
    for samples in rx {
        writer.write(&samples)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_settings_are_bounded_before_any_work() {
        PipelineConfig::default().check().unwrap();
        let huge = PipelineConfig { queue_batches: usize::MAX, ..PipelineConfig::default() };
        assert!(huge.check().unwrap_err().to_string().contains("pipeline.queue_batches must lie in [1, 64]"));
        let none = PipelineConfig { batch_sentences: 0, ..PipelineConfig::default() };
        assert!(none.check().unwrap_err().to_string().contains("pipeline.batch_sentences"));
    }

    #[test]
    fn the_shipped_pipeline_files_hold_the_defaults() {
        for corpus in ["text", "wiki", "books", "nyt", "ace05", "scierc", "labeled"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("pipelines/{corpus}.toml"));
            let config: PrepConfig = crate::config::load(Some(&path), &[]).unwrap();
            assert_eq!(config, PrepConfig::for_corpus(corpus), "{corpus}");
        }
        assert_ne!(PrepConfig::for_corpus("ace05"), PrepConfig::default());
    }
}
