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

mod config;
pub mod labeled;
pub mod output;
mod pipeline;
mod stages;

pub use config::{PipelineConfig, PrepConfig, PrepOptions};
pub use output::{labeled_summary, summary};

use crate::corpus::books::BooksSource;
use crate::corpus::labeled::as_text::LabeledText;
use crate::corpus::text::TextSource;
use crate::corpus::wiki::{WikiInput, WikiSource};
use crate::corpus::{CorpusName, Prepared};
use crate::shard::manifest::Manifest;
use anyhow::Result;
use output::RunLog;
use pipeline::run;
use std::path::PathBuf;

/// `spe prep text`: sentence-per-line files to shards.
pub fn text(inputs: Vec<PathBuf>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = TextSource::new(inputs, config.read.clone())?;
    run(Box::new(source), Prepared::Corpus(CorpusName::Text), config, options)
}

/// `spe prep books`: directory trees of plain-text books to shards.
pub fn books(roots: Vec<PathBuf>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = BooksSource::new(roots, config.read.clone())?;
    run(Box::new(source), Prepared::Corpus(CorpusName::Books), config, options)
}

/// `spe prep wiki`: MediaWiki XML dumps to shards.
pub fn wiki(inputs: Vec<WikiInput>, config: &PrepConfig, options: &PrepOptions) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = WikiSource::new(inputs, config.read.clone(), options.threads)?;
    run(Box::new(source), Prepared::Corpus(CorpusName::Wiki), config, options)
}

/// `spe prep nyt` (and `--pretrain-out` of the labeled corpora): the sentences of labeled
/// files to pre-training shards.
pub fn labeled_text(
    corpus: Prepared,
    files: Vec<PathBuf>,
    documents: Option<PathBuf>,
    config: &PrepConfig,
    options: &PrepOptions,
) -> Result<(Manifest, RunLog)> {
    config.check()?;
    let source = LabeledText::new(files, config.labels.format, documents, config.read.clone(), config.labels.clone())?;
    run(Box::new(source), corpus, config, options)
}
