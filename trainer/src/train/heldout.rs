//! What pre-training learned, on text it never trained on: a run's checkpoints (and its
//! starting point, rebuilt from its seed and `--init`) scored on the rows of held-out
//! pre-training shards, each objective as a loss and an accuracy.
//!
//! - TBO: cross-entropy and accuracy of the masked pieces (chance: one over the vocabulary).
//! - SPO: cross-entropy and accuracy of the permuted segments' classes (chance 1/6).
//! - CSPO: the training loss scores a query against the momentum encoder's queue, which
//!   changes from step to step, so a held-out score is the same InfoNCE within a batch
//!   instead: each x_target's representation against every x_context's of the batch (its
//!   own sentence's the positive), and the reverse, at the run's temperature; with it the
//!   accuracy of picking the own sentence (chance: one over the batch).
//!
//! Dropout is off and no gradient is kept, so a checkpoint's scores do not depend on the
//! order in which they are computed; the rows are the first `rows` of the shards in the
//! order drawn from seed 0.

use super::TrainConfig;
use crate::model::weights::{load_variables, read_hf_bert, read_safetensors};
use crate::model::{Encoder, Heads, BERT_PREFIX};
use crate::train::device_batch::DeviceBatch;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::batch::shards::ShardSet;
use spe::batch::{Batch, LoaderConfig};
use spe::run::{checkpoints, layout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// What to score.
#[derive(Debug, Clone)]
pub struct HeldOutOptions {
    /// The pre-training run whose checkpoints are scored.
    pub run: PathBuf,
    /// Held-out pre-training outputs (`spe prep`), of the run's tokenizer.
    pub shards: Vec<PathBuf>,
    /// The run's `--init`, to score its starting point (step 0) too.
    pub init: Option<PathBuf>,
    /// Rows scored (the first of the held-out shards).
    pub rows: usize,
    /// Rows a batch: CSPO's in-batch negatives are the batch's other rows.
    pub batch: usize,
    /// `cpu`, `cuda`, `cuda:N`.
    pub device: Option<String>,
}

/// One point's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutScores {
    /// The optimizer steps the weights had taken.
    pub step: u64,
    /// Rows scored.
    pub rows: u64,
    /// TBO: mean cross-entropy and accuracy over the masked pieces.
    pub tbo_loss: f64,
    /// TBO accuracy.
    pub tbo_accuracy: f64,
    /// SPO: mean cross-entropy and accuracy over the permuted segments.
    pub spo_loss: f64,
    /// SPO accuracy (chance 1/6).
    pub spo_accuracy: f64,
    /// CSPO within a batch: mean symmetric InfoNCE.
    pub cspo_loss: f64,
    /// The share of views whose own sentence's other view scores highest.
    pub cspo_accuracy: f64,
    /// Rows a batch, the candidates CSPO picks among (chance is one over it).
    pub cspo_candidates: u64,
}

/// Scores the starting point (with `init`) and every checkpoint of the run, in step order.
pub fn score_run(options: &HeldOutOptions) -> Result<Vec<HeldOutScores>> {
    let device = crate::runtime::device::parse_device(options.device.as_deref())?;
    ensure!(options.batch >= 2, "--batch must be at least 2: CSPO picks a sentence among the batch's");
    ensure!(options.rows >= options.batch, "--rows ({}) must be at least --batch ({})", options.rows, options.batch);
    let saved = checkpoints::list(&options.run)?;
    ensure!(!saved.is_empty(), "{} holds no checkpoint: is it a pre-training run?", options.run.display());
    let first = super::checkpoint::verify(&saved[0])?;
    let set = Arc::new(ShardSet::open(&options.shards)?);
    let run_vocabulary = options.run.join(layout::ENCODER_DIR);
    if run_vocabulary.is_dir() {
        set.tokenizer().check_vocabulary("the held-out shards", &run_vocabulary)?;
    }
    ensure!(
        set.tokenizer().vocab_size == first.config.model.bert.vocab_size as u64,
        "the held-out shards were tokenized with a vocabulary of {} entries, the run's model has {}",
        set.tokenizer().vocab_size,
        first.config.model.bert.vocab_size
    );
    let batches = held_out_batches(&set, options.rows, options.batch)?;
    let mut scores = Vec::new();
    if let Some(init) = &options.init {
        scores.push(score_weights(&first.config, Weights::Init(init), 0, &batches, device)?);
    }
    for path in &saved {
        let state = super::checkpoint::verify(path)?;
        let weights = path.join("model.safetensors");
        scores.push(score_weights(&state.config, Weights::Checkpoint(&weights), state.step, &batches, device)?);
    }
    Ok(scores)
}

/// The first `rows` rows of `set`, in batches of `batch`.
fn held_out_batches(set: &Arc<ShardSet>, rows: usize, batch: usize) -> Result<Vec<Batch>> {
    ensure!(
        set.rows() >= rows as u64,
        "the held-out shards hold {} rows, fewer than the {rows} asked for (--rows)",
        set.rows()
    );
    let config = LoaderConfig { micro_batch: batch, ..LoaderConfig::default() };
    let mut stream = set.stream(&config, 0, 0)?;
    (0..rows / batch).map(|_| stream.next_batch()).collect()
}

/// Where a point's weights come from.
enum Weights<'a> {
    /// The run's starting point: its seed's random weights, BERT's from `--init`.
    Init(&'a Path),
    /// A checkpoint's `model.safetensors`.
    Checkpoint(&'a Path),
}

/// The scores of one point's weights.
fn score_weights(
    config: &TrainConfig,
    weights: Weights,
    step: u64,
    batches: &[Batch],
    device: Device,
) -> Result<HeldOutScores> {
    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(device);
    let (encoder, heads) = (Encoder::new(&vs.root(), &config.model), Heads::new(&vs.root(), &config.model));
    match weights {
        Weights::Init(init) => {
            let path = init.join(layout::BERT_WEIGHTS_FILE);
            load_variables(&vs, BERT_PREFIX, &read_hf_bert(&path)?, &path)?;
        }
        Weights::Checkpoint(path) => load_variables(&vs, "", &read_safetensors(path)?, path)
            .with_context(|| format!("the weights of step {step}"))?,
    }
    let temperature = config.moco.temperature;
    let mut sums = Sums::default();
    tch::no_grad(|| -> Result<()> {
        for batch in batches {
            let batch = DeviceBatch::new(batch, device);
            let encoded = [encoder.forward(&batch.views[0], false)?, encoder.forward(&batch.views[1], false)?];
            for (view, t) in encoded.iter().zip(&batch.tbo) {
                let anchors = view.hidden.index(&[Some(&t.row), Some(&t.anchor)]);
                let logits = heads.tbo.forward(&anchors, &t.offset, false).to_kind(Kind::Float);
                sums.tbo.add(&logits, &t.label)?;
            }
            for (view, t) in encoded.iter().zip(&batch.spo) {
                let spans = view.pair.segments.index(&[Some(&t.row), Some(&t.segment)]);
                sums.spo.add(&heads.spo.forward(&spans, false).to_kind(Kind::Float), &t.label)?;
            }
            let (target, context) = (encoded[0].key.to_kind(Kind::Float), encoded[1].key.to_kind(Kind::Float));
            let logits = target.mm(&context.tr()) / temperature;
            let own = Tensor::arange(logits.size()[0], (Kind::Int64, device));
            sums.cspo.add(&logits, &own)?;
            sums.cspo.add(&logits.tr(), &own)?;
        }
        Ok(())
    })?;
    Ok(HeldOutScores {
        step,
        rows: batches.iter().map(|b| b.rows as u64).sum(),
        tbo_loss: sums.tbo.loss(),
        tbo_accuracy: sums.tbo.accuracy(),
        spo_loss: sums.spo.loss(),
        spo_accuracy: sums.spo.accuracy(),
        cspo_loss: sums.cspo.loss(),
        cspo_accuracy: sums.cspo.accuracy(),
        cspo_candidates: batches.first().map_or(0, |b| b.rows as u64),
    })
}

/// Summed cross-entropy and right answers of one objective.
#[derive(Default)]
struct Tally {
    loss: f64,
    correct: f64,
    items: f64,
}

impl Tally {
    /// Adds the items of `logits` `[N, C]` with their `labels` `[N]`.
    fn add(&mut self, logits: &Tensor, labels: &Tensor) -> Result<()> {
        let n = labels.size()[0];
        if n == 0 {
            return Ok(());
        }
        self.loss += f64::try_from(logits.cross_entropy_loss::<Tensor>(labels, None, tch::Reduction::Sum, -100, 0.0))?;
        self.correct += f64::try_from(logits.argmax(1, false).eq_tensor(labels).sum(Kind::Float))?;
        self.items += n as f64;
        Ok(())
    }

    fn loss(&self) -> f64 {
        self.loss / self.items.max(1.0)
    }

    fn accuracy(&self) -> f64 {
        self.correct / self.items.max(1.0)
    }
}

/// The tallies of the three objectives.
#[derive(Default)]
struct Sums {
    tbo: Tally,
    spo: Tally,
    cspo: Tally,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_loss_and_right_answers_per_item() {
        let mut tally = Tally::default();
        let logits = Tensor::from_slice2(&[[2.0f32, 0.0], [0.0, 2.0], [2.0, 0.0]]);
        tally.add(&logits, &Tensor::from_slice(&[0i64, 1, 1])).unwrap();
        tally
            .add(&Tensor::zeros([0, 2], (Kind::Float, Device::Cpu)), &Tensor::zeros([0], (Kind::Int64, Device::Cpu)))
            .unwrap();
        assert!((tally.accuracy() - 2.0 / 3.0).abs() < 1e-9);
        let small = (1.0 + (-2.0f64).exp()).ln();
        let large = (1.0 + 2.0f64.exp()).ln();
        assert!((tally.loss() - (2.0 * small + large) / 3.0).abs() < 1e-5, "{}", tally.loss());
    }
}
