//! The streaming pipeline of `spe prep`: a reader thread, the rayon workers and a writer
//! thread joined by bounded channels, then the manifest over what they wrote.

use super::config::{PipelineConfig, PrepConfig, PrepOptions};
use super::output::{prepare_output, shard_metadata, unix_now, RunLog, Uncommitted};
use super::stages::Stages;
use crate::corpus::{Content, Document, Prepared, Source, SourceReport};
use crate::counts::{count, describe, merge_counts, plural, Counts};
use crate::partition::PartitionRecord;
use crate::sample::{Sample, Sampled, Sampler};
use crate::shard::manifest::{Manifest, TokenizerRecord, ToolRecord, Totals, FORMAT};
use crate::shard::{ShardRecord, ShardWriter, SCHEMA_VERSION};
use crate::tokenize::WordTokenizer;
use anyhow::{anyhow, bail, Result};
use rayon::prelude::*;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

/// Runs the pipeline from `source` into `options.out`.
pub(super) fn run(
    mut source: Box<dyn Source>,
    corpus: Prepared,
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
    let stages = Stages::new(config, &tokenizer, &sampler);
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
    let writer = ShardWriter::<Sample>::new(&out, config.shard.clone(), metadata)?.with_pool(pool.clone());
    let Streamed { report, shards, totals, sampled, uncommitted } =
        stream(source, writer, &stages, &pool, &config.pipeline, &out)?;

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

/// What the three stages made of the whole input.
struct Streamed {
    report: SourceReport,
    shards: Vec<ShardRecord>,
    totals: Totals,
    sampled: Sampled,
    /// The shards written, removed unless the run commits them with its manifest.
    uncommitted: Uncommitted,
}

/// Runs the reader thread, the workers (on `pool`) and the writer thread over the whole
/// input of `source`, into `writer`'s shards in `out`.
fn stream(
    source: Box<dyn Source>,
    writer: ShardWriter<Sample>,
    stages: &Stages,
    pool: &rayon::ThreadPool,
    pipeline: &PipelineConfig,
    out: &Path,
) -> Result<Streamed> {
    let queue = pipeline.queue_batches.max(1);
    let (doc_tx, doc_rx) = sync_channel::<Vec<Document>>(queue);
    let (sample_tx, sample_rx) = sync_channel(queue);
    let batch_sentences = pipeline.batch_sentences.max(1);

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
    uncommitted.add(out, &shards);
    processed?;
    let mut report = read??;
    merge_counts(&mut report.skipped, &skipped_documents);

    Ok(Streamed { report, shards, totals, sampled, uncommitted })
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

fn write_batches(mut writer: ShardWriter<Sample>, rx: Receiver<Vec<Sample>>) -> Result<Vec<ShardRecord>> {
    for samples in rx {
        writer.write(&samples)?;
    }
    writer.finish()
}
