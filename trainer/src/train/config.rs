//! The configuration of `spe train`, and how `--init` and `--objectives` change it.

use super::moco::MocoConfig;
use super::objectives::ObjectiveConfig;
use super::TrainOptions;
use crate::model::bert::BertConfig;
use crate::model::ModelConfig;
use crate::runtime::optim::OptimConfig;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::batch::LoaderConfig;
use spe::run::layout;

/// The configuration of `spe train` (`pipelines/train*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seed of initialisation, dropout, queues and data order.
    pub seed: u64,
    /// Optimizer steps.
    pub steps: u64,
    /// Rows per optimizer step, reached by accumulating micro-batches.
    pub batch_size: usize,
    /// Steps whose gradient norm is not finite (a NaN or infinite loss) that are skipped,
    /// their gradients dropped and the skip reported, before the run stops with an error;
    /// 0 stops at the first.
    pub skip_nonfinite_steps: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Checkpoints kept; older ones are deleted.
    pub keep_checkpoints: usize,
    /// Steps between lines of the log and of the metrics file.
    pub log_every: u64,
    /// Steps after which the encoders are also exported, each into `exports/step-N/` as a
    /// finished run's (an `--encoder` for `spe finetune`), to fine-tune from points along
    /// the run.
    pub export_steps: Vec<u64>,
    /// The network.
    pub model: ModelConfig,
    /// Loss weights.
    pub objectives: ObjectiveConfig,
    /// Momentum contrast.
    pub moco: MocoConfig,
    /// Optimisation.
    pub optim: OptimConfig,
    /// The data loader.
    pub loader: LoaderConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 5216,
            steps: 40_000,
            batch_size: 256,
            skip_nonfinite_steps: 0,
            checkpoint_every: 1000,
            keep_checkpoints: 2,
            log_every: 10,
            export_steps: Vec::new(),
            model: ModelConfig::default(),
            objectives: ObjectiveConfig::default(),
            moco: MocoConfig::default(),
            optim: OptimConfig::default(),
            loader: LoaderConfig::default(),
        }
    }
}

impl TrainConfig {
    /// The keys that moved out of `[optim]`, which every stage shares, into the stage.
    pub const MOVED: &'static [(&'static str, &'static str)] = &[
        ("optim.steps", "steps"),
        ("optim.batch_size", "batch_size"),
        ("optim.skip_nonfinite_steps", "skip_nonfinite_steps"),
    ];

    /// Micro-batches per optimizer step and rank, over `ranks` data-parallel ranks.
    pub fn accumulation(&self, ranks: usize) -> Result<usize> {
        let (global, micro) = (self.batch_size, self.loader.micro_batch);
        let per_step = micro * ranks;
        ensure!(
            micro > 0 && global >= per_step && global % per_step == 0,
            "batch_size ({global}) must be a multiple of loader.micro_batch ({micro}){}",
            if ranks > 1 { format!(" times the {ranks} ranks") } else { String::new() }
        );
        Ok(global / per_step)
    }

    /// Refuses settings out of range before any work.
    pub fn check(&self) -> Result<()> {
        self.model.bert.check().context("model.bert")?;
        self.model.span.check().context("model.span")?;
        self.model.heads.check().context("model.heads")?;
        let o = &self.objectives;
        for (name, weight) in [("tbo", o.tbo), ("spo", o.spo), ("cspo", o.cspo)] {
            ensure!(weight.is_finite() && weight >= 0.0, "objectives.{name} must be a finite weight ≥ 0, not {weight}");
        }
        ensure!(o.tbo + o.spo + o.cspo > 0.0, "every objective is off");
        ensure!(self.steps > 0, "steps must be at least 1");
        self.optim.check()?;
        self.moco.check()?;
        self.loader.check()?;
        ensure!(self.checkpoint_every > 0 && self.log_every > 0, "checkpoint_every and log_every must be at least 1");
        // 0 would delete every checkpoint, the one --resume needs too.
        ensure!(self.keep_checkpoints > 0, "keep_checkpoints must be at least 1, not 0");
        if let Some(step) = self.export_steps.iter().find(|&&s| s == 0 || s > self.steps) {
            anyhow::bail!("export_steps: step {step} is not one of the run's steps 1..={}", self.steps);
        }
        self.accumulation(1).map(|_| ())
    }
}

/// Reads the configuration, applying `--init`'s BERT config and `--objectives`.
pub fn load_config(options: &TrainOptions) -> Result<TrainConfig> {
    let mut config: TrainConfig =
        spe::config::load_moved(options.config.as_deref(), &options.overrides, TrainConfig::MOVED)?;
    if let Some(init) = &options.init {
        config.model.bert = BertConfig::from_file(&init.join(layout::BERT_CONFIG_FILE))?;
    }
    if let Some(list) = &options.objectives {
        config.objectives.keep_only(list)?;
    }
    config.check()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spe::config::{self, Override};

    #[test]
    fn the_pipeline_files_are_the_defaults_and_a_valid_tiny_model() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let paper: TrainConfig = config::load(Some(&root.join("pipelines/train.toml")), &[]).unwrap();
        assert_eq!(paper, TrainConfig::default());
        let tiny: TrainConfig = config::load(Some(&root.join("pipelines/train-tiny.toml")), &[]).unwrap();
        tiny.check().unwrap();
        assert!(tiny.model.bert.hidden_size < 100 && tiny.steps <= 300);
    }

    #[test]
    fn values_that_would_train_to_nothing_are_refused() {
        for (key, value) in [
            ("optim.learning_rate", f64::INFINITY),
            ("optim.learning_rate", f64::NAN),
            ("optim.weight_decay", -0.1),
            ("objectives.spo", f64::INFINITY),
            ("optim.beta2", 1.0),
            ("optim.eps", 0.0),
        ] {
            let config: TrainConfig = config::load(None, &[Override::new(key, value)]).unwrap();
            let err = config.check().unwrap_err().to_string();
            assert!(err.contains(key), "{key} = {value}: {err}");
        }
        let none_kept = TrainConfig { keep_checkpoints: 0, ..TrainConfig::default() };
        assert!(none_kept.check().unwrap_err().to_string().contains("keep_checkpoints must be at least 1"));
        TrainConfig::default().check().unwrap();
    }

    #[test]
    fn model_sizes_out_of_range_and_typos_under_model_are_refused_before_any_work() {
        for item in [
            "model.bert.hidden_size=0",
            "model.bert.num_hidden_layers=100000",
            "model.bert.hidden_dropout_prob=1.5",
            "model.bert.layer_norm_eps=0.0",
            "model.span.kernel_sizes=[]",
            "model.span.kernel_sizes=[2, 0]",
            "model.span.filters=0",
            "model.span.size=9223372036854775807",
            "model.span.dropout=1.0",
            "model.heads.projection_size=-1",
            "model.heads.tbo_offsets=100",
        ] {
            let config: TrainConfig = config::load(None, &[Override::parse(item).unwrap()]).unwrap();
            let err = format!("{:#}", config.check().unwrap_err());
            let (section, key) = item.split('=').next().unwrap().rsplit_once('.').unwrap();
            assert!(err.contains(section) && err.contains(key), "{item}: {err}");
        }
        for typo in ["model.bert.hiden_size=64", "model.span.filter=4", "model.heads.projection_sise=4"] {
            let err = config::load::<TrainConfig>(None, &[Override::parse(typo).unwrap()]).unwrap_err();
            assert!(format!("{err:#}").contains("unknown field"), "{typo}: {err:#}");
        }
    }

    #[test]
    fn the_global_batch_must_split_into_micro_batches() {
        let mut config = TrainConfig::default();
        assert_eq!(config.accumulation(1).unwrap(), 16);
        assert_eq!(config.accumulation(4).unwrap(), 4);
        config.loader.micro_batch = 24;
        assert!(config.accumulation(1).unwrap_err().to_string().contains("multiple"));
        config.loader.micro_batch = 32;
        assert!(config.accumulation(3).unwrap_err().to_string().contains("times the 3 ranks"));
    }
}
