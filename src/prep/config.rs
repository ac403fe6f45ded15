//! The configuration of a `spe prep` run, one typed section per stage, and the options of a
//! run that do not change its output.

use crate::clean::{CleanConfig, SplitConfig};
use crate::config::Override;
use crate::corpus::labeled::LabelConfig;
use crate::corpus::{CorpusName, ReadConfig};
use crate::partition::Partition;
use crate::sample::SampleConfig;
use crate::shard::ShardConfig;
use crate::tokenize::TokenizerConfig;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    pub fn for_corpus(corpus: CorpusName) -> PrepConfig {
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
    pub fn load(corpus: CorpusName, file: Option<&Path>, overrides: &[Override]) -> Result<PrepConfig> {
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
        ensure!(self.threads <= max, "--threads must lie in 0..={max} (0: one per core), not {}", self.threads);
        Ok(())
    }
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
        for corpus in CorpusName::ALL {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("pipelines/{corpus}.toml"));
            let config: PrepConfig = crate::config::load(Some(&path), &[]).unwrap();
            assert_eq!(config, PrepConfig::for_corpus(corpus), "{corpus}");
        }
        assert_ne!(PrepConfig::for_corpus(CorpusName::Ace05), PrepConfig::default());
    }
}
