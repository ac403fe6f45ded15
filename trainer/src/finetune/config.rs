//! The configuration of `spe finetune` (`pipelines/finetune*.toml`), one struct per section.

use crate::extract::candidates::CandidatesConfig;
use crate::extract::labels::Scheme;
use crate::extract::model::ClassifiersConfig;
use crate::extract::step::LossWeights;
use crate::model::span::SpanConfig;
use crate::runtime::optim::OptimConfig;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// Scheduled sampling of gold against predicted entities (`[schedule]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Epochs that feed only gold entities to the relation classifier.
    pub gold_epochs: u64,
    /// k of the inverse sigmoid decay; 0 turns scheduled sampling off (always gold).
    pub k: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig { gold_epochs: 5, k: 3.0 }
    }
}

/// The share of the training split's documents a run trains on (`[train_subset]`), as
/// the paper's Table 5 fine-tunes on 10%, 20% and 50% of the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSubset {
    /// The share of the documents kept, in (0, 1]; at least one document is.
    pub fraction: f64,
    /// Seed of the documents' order, from which the first `fraction` are kept: apart from
    /// the run's seed, so that every seed of a comparison trains on the same documents, and
    /// a smaller share is a part of a larger one.
    pub seed: u64,
}

impl Default for TrainSubset {
    fn default() -> Self {
        TrainSubset { fraction: 1.0, seed: 0 }
    }
}

/// The configuration of `spe finetune` (`pipelines/finetune-*.toml`). The defaults are
/// spe's recipe for 10 to 50 epochs; [`FinetuneConfig::paper`] (`finetune-scierc.toml`,
/// `finetune-ace05.toml`) is the authors' set-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// Seed of initialisation, dropout, data order and scheduled sampling.
    pub seed: u64,
    /// Most epochs.
    pub epochs: u64,
    /// Epochs without a better dev score before training stops.
    pub patience: u64,
    /// Sentences per optimizer step.
    pub batch_size: usize,
    /// Sentences per batch when predicting.
    pub eval_batch_size: usize,
    /// Each BERT layer below the top learns at this share of the one above (the authors'
    /// 0.9; spe's recipe 1, every layer at `optim.learning_rate`, as SpERT trains).
    pub layer_decay: f64,
    /// Everything outside BERT (span encoders, tagger, classifiers) learns at this multiple
    /// of `optim.learning_rate`. The authors use 1; heads that start at random learn little
    /// on a few dozen sentences at BERT's rate.
    pub head_lr_scale: f64,
    /// How entity spans are tagged.
    pub scheme: Scheme,
    /// Scheduled sampling.
    pub schedule: ScheduleConfig,
    /// AdamW and its schedule.
    pub optim: OptimConfig,
    /// The weight of each loss in the training loss.
    pub losses: LossWeights,
    /// Where candidate spans come from, and how many entities are paired.
    pub candidates: CandidatesConfig,
    /// What the entity and relation classifiers read beside the paper's inputs.
    pub classifiers: ClassifiersConfig,
    /// Sizes of the span and span-pair encoders when they start at random (from a plain
    /// BERT); a pre-training run brings its own.
    pub span: SpanConfig,
    /// The training documents used.
    pub train_subset: TrainSubset,
}

impl Default for FinetuneConfig {
    /// spe's recipe for a normal budget (10 to 50 epochs), chosen on SciERC with
    /// all-MiniLM-L6-v2 (docs/performance.md, "Fine-tuning"): SpERT's batch, learning rate, warm-up and
    /// uncorrected Adam moments for every BERT layer alike, with the parts outside BERT,
    /// which start at random or come from pre-training on other text, learning ten times
    /// faster.
    fn default() -> Self {
        FinetuneConfig {
            seed: 5216,
            epochs: 20,
            patience: 20,
            batch_size: 2,
            eval_batch_size: 32,
            layer_decay: 1.0,
            head_lr_scale: 10.0,
            scheme: Scheme::Bieou,
            schedule: ScheduleConfig::default(),
            optim: OptimConfig {
                learning_rate: 5e-5,
                warmup_fraction: 0.1,
                bias_correction: false,
                ..OptimConfig::default()
            },
            // The relations' pull on the shared encoders at a fifth of the entities': dev
            // Ent 49.2 after one epoch of SciERC where equal weights had 28.7 (docs/performance.md).
            losses: LossWeights { relations: 0.2, ..LossWeights::default() },
            candidates: CandidatesConfig::default(),
            classifiers: ClassifiersConfig::default(),
            span: SpanConfig::default(),
            train_subset: TrainSubset::default(),
        }
    }
}

impl FinetuneConfig {
    /// The keys that moved out of `[optim]`, which every stage shares, into the stage.
    pub const MOVED: &'static [(&'static str, &'static str)] =
        &[("optim.layer_decay", "layer_decay"), ("optim.head_lr_scale", "head_lr_scale")];

    /// The authors' set-up (their `examples/attention_entity_relation/config.yml`, meant
    /// for 200 epochs on a GPU): the tagger proposes the spans, the classifiers read the
    /// paper's inputs; 32 sentences a step at 2.5e-5 for every part, 20% warm-up, layer
    /// decay 0.9.
    pub fn paper() -> FinetuneConfig {
        let recipe = FinetuneConfig::default();
        FinetuneConfig {
            epochs: 200,
            patience: 100,
            batch_size: 32,
            layer_decay: 0.9,
            head_lr_scale: 1.0,
            optim: OptimConfig { learning_rate: 2.5e-5, warmup_fraction: 0.2, bias_correction: true, ..recipe.optim },
            losses: LossWeights::default(),
            candidates: CandidatesConfig::paper(),
            classifiers: ClassifiersConfig::paper(),
            ..FinetuneConfig::default()
        }
    }

    /// The configuration of a run: the file at `path` (the defaults without one), then
    /// `overrides`, range-checked.
    pub fn load(path: Option<&std::path::Path>, overrides: &[spe::config::Override]) -> Result<FinetuneConfig> {
        let config: FinetuneConfig = spe::config::load_moved(path, overrides, FinetuneConfig::MOVED)?;
        config.check()?;
        Ok(config)
    }

    /// Refuses settings out of range before any work.
    pub fn check(&self) -> Result<()> {
        for (name, value) in
            [("layer_decay", self.layer_decay), ("head_lr_scale", self.head_lr_scale), ("schedule.k", self.schedule.k)]
        {
            ensure!(value.is_finite() && value >= 0.0, "{name} must be a finite number ≥ 0, not {value}");
        }
        // A batch is padded to its longest sentence on the device: 65,536 sentences of
        // BERT's 512 positions is already beyond any device.
        for (key, value, most) in [
            ("epochs", self.epochs, 1_000_000),
            ("batch_size", self.batch_size as u64, 65_536),
            ("eval_batch_size", self.eval_batch_size as u64, 65_536),
        ] {
            ensure!((1..=most).contains(&value), "{key} must lie in [1, {most}], not {value}");
        }
        let fraction = self.train_subset.fraction;
        ensure!(
            fraction > 0.0 && fraction <= 1.0,
            "train_subset.fraction must lie in (0, 1], the share of the training documents kept, not {fraction}"
        );
        self.candidates.check()?;
        self.span.check().context("span")?;
        self.losses.check()?;
        self.optim.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spe::config::{self, Override};
    use std::path::Path;

    #[test]
    fn the_pipeline_files_are_the_defaults() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        for corpus in ["ace05", "scierc"] {
            let path = root.join(format!("pipelines/finetune-{corpus}.toml"));
            let config: FinetuneConfig = config::load(Some(&path), &[]).unwrap();
            assert_eq!(config, FinetuneConfig::paper(), "{corpus}");
        }
        let recipe: FinetuneConfig = config::load(Some(&root.join("pipelines/finetune.toml")), &[]).unwrap();
        assert_eq!(recipe, FinetuneConfig::default());
        let tiny: FinetuneConfig = config::load(Some(&root.join("pipelines/finetune-tiny.toml")), &[]).unwrap();
        tiny.check().unwrap();
        assert!(tiny.epochs <= 30 && tiny.span.size < 100);
    }

    #[test]
    fn sizes_out_of_range_are_refused_before_any_work() {
        for item in [
            "span.kernel_sizes=[]",
            "span.filters=0",
            "span.dropout=1.5",
            "span.attention_size=1000000",
            "batch_size=0",
            "eval_batch_size=100000000",
            "epochs=0",
            "train_subset.fraction=0",
            "train_subset.fraction=1.5",
            "train_subset.fraction=nan",
        ] {
            let config: FinetuneConfig = config::load(None, &[Override::parse(item).unwrap()]).unwrap();
            let err = format!("{:#}", config.check().unwrap_err());
            let key = item.split('=').next().unwrap().rsplit('.').next().unwrap();
            assert!(err.contains(key) && (!item.starts_with("span.") || err.contains("span")), "{item}: {err}");
        }
        FinetuneConfig::default().check().unwrap();
    }
}
