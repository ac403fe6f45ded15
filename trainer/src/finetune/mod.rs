//! `spe finetune`: trains the extractor ([`crate::extract`]) on labeled shards, from the
//! encoders of a pre-training run (the paper's SPE rows) or from a plain Hugging Face BERT
//! with the span encoders at random (its BERT rows), as the authors set it up (paper §3.4):
//!
//! - scheduled sampling (Miwa and Bansal, 2016): the entities that feed the relation
//!   classifier are the gold ones for the first `schedule.gold_epochs` epochs, then the gold
//!   ones with probability k / (k + exp((epoch − gold_epochs) / k)), one draw per sentence,
//!   and the predicted ones otherwise ([`gold_probability`]);
//! - discriminative fine-tuning (Howard and Ruder, 2018): BERT layer i of L learns at
//!   lr × decay^(L − 1 − i), the embeddings and the heads at lr ([`layer_groups`]); AdamW
//!   without decay on biases and LayerNorm, linear warm-up then decay, clipping;
//! - after every epoch the dev split is scored and the model with the best entity F1 plus
//!   strict relation F1 is kept; training stops after `patience` epochs without a better
//!   one. Several seeds (`--seeds`) give a run each and the mean and standard deviation.
//!
//! This file is the run: set-up, the loop over seeds and epochs, and the end. [`config`]
//! holds the settings, [`schedule`] the scheduled sampling and the learning-rate groups,
//! [`data`] what is read (the encoder's source, the labeled splits), [`inference`] runs a
//! fine-tuned extractor (`spe evaluate`, `spe predict`), and [`report`] writes the scores.

pub mod config;
pub mod data;
pub mod inference;
pub mod report;
pub mod schedule;

pub use config::{FinetuneConfig, ScheduleConfig, TrainSubset};
pub use data::{gold_of, labels_of, EncoderSource};
pub use inference::predict_rows;

use crate::extract::candidates::CandidatesConfig;
use crate::extract::labels::Labels;
use crate::extract::model::Extractor;
use crate::extract::saved::{self, Description, PredictionConfig, Saved};
use crate::extract::step::{self, Mode};
use crate::model::bert::BertConfig;
use crate::model::heads::HeadsConfig;
use crate::model::weights::{load_span_encoders, load_variables, read_hf_bert};
use crate::model::{ModelConfig, BERT_PREFIX};
use crate::runtime::device::{autocast_bfloat16, parse_device};
use crate::runtime::fault::{guard, naming_memory_settings};
use crate::runtime::optim::{learning_rate, AdamW};
use crate::runtime::threads::{CpuShare, Threads};
use anyhow::{bail, ensure, Context, Result};
use data::{load_data, Data};
use rand::seq::SliceRandom;
use rand::RngExt;
use report::EpochRecord;
use schedule::{gold_probability, layer_groups};
use spe::config::Override;
use spe::counts::plural;
use spe::plot::draw_curves;
use spe::run::layout;
use spe::run::metrics::MetricsFile;
use spe::run::progress::{log_line, steps_bar};
use spe::run::report::{Report, SeedResult};
use spe::score::Scores;
use spe::shard::labeled::LabeledRow;
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn, Device};

/// What `spe finetune` was asked to do, besides the configuration.
#[derive(Debug, Clone)]
pub struct FinetuneOptions {
    /// The labeled output to train on (`train` and `dev` splits; `test` is reported).
    pub data: PathBuf,
    /// A pre-training run or a Hugging Face BERT directory.
    pub encoder: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// A configuration file; the defaults otherwise.
    pub config: Option<PathBuf>,
    /// `--set` overrides.
    pub overrides: Vec<Override>,
    /// `cpu`, `cuda`, `cuda:N`, or `None` for CUDA where there is one.
    pub device: Option<String>,
    /// Seeds, one run each; the configured seed when empty.
    pub seeds: Vec<u64>,
    /// libtorch's CPU threads.
    pub threads: Threads,
    /// Show a progress bar.
    pub progress: bool,
}

/// Runs `spe finetune`; returns the report of every seed.
pub fn run(options: &FinetuneOptions) -> Result<Report> {
    let config = FinetuneConfig::load(options.config.as_deref(), &options.overrides)?;
    if let Some(seed) = spe::counts::first_repeat(&options.seeds) {
        bail!("--seeds names seed {seed} twice: its run would count twice in the mean and standard deviation");
    }
    spe::overwrite::refuse_inputs(
        "--out",
        &options.out,
        &[("the labeled data", &options.data), ("the encoder", &options.encoder)],
    )?;
    // A finished run, one that stopped before its end, or a pre-training run.
    spe::overwrite::refuse_held(&options.out, &[layout::REPORT_FILE, layout::METRICS_FILE])?;
    let device = parse_device(options.device.as_deref())?;
    let source = EncoderSource::of(&options.encoder)?;
    let bert = BertConfig::from_file(&source.bert_dir().join(layout::BERT_CONFIG_FILE))?;
    let span = match &source {
        EncoderSource::Run(dir) => crate::model::weights::read_span_encoders(dir)?.0.span,
        EncoderSource::Bert(_) => config.span.clone(),
    };
    let data = load_data(&options.data, config.scheme, bert.max_position_embeddings, &config.train_subset)?;
    ensure!(
        data.manifest.tokenizer.vocab_size == bert.vocab_size as u64,
        "the labeled shards in {} were tokenized with a vocabulary of {} entries, but the encoder in {} has {}: \
         prepare them with the encoder's vocabulary (--tokenizer)",
        options.data.display(),
        data.manifest.tokenizer.vocab_size,
        source.bert_dir().display(),
        bert.vocab_size
    );
    let shards = format!("the labeled shards in {}", options.data.display());
    let (tokenizer_file, tokenizer) = data.manifest.tokenizer.file(&shards)?;
    data.manifest.tokenizer.check_vocabulary(&shards, &source.bert_dir())?;
    let _lock = spe::lock::OutputLock::acquire(&options.out)?;
    if data.train_too_long > 0 {
        eprintln!(
            "training without {} longer than the encoder's {} positions (counted in report.json); dev and test \
             sentences of any length are scored, in windows",
            plural(data.train_too_long as u64, "sentence"),
            bert.max_position_embeddings
        );
    }
    if let Some(subset) = &data.subset {
        spe::atomic::write_json(subset, &options.out.join(layout::TRAIN_DOCUMENTS_FILE))?;
        eprintln!(
            "training on {} of the {} training documents (train_subset.fraction {}, seed {}): {} sentences",
            subset.kept.len(),
            subset.documents,
            subset.fraction,
            subset.seed,
            data.train.len()
        );
    }
    let description = Description {
        format: layout::EXTRACTOR_FORMAT.into(),
        labels: data.labels.clone(),
        bert,
        span,
        tokenizer: data.manifest.tokenizer.clone(),
        tokenizer_file,
        candidates: config.candidates.clone(),
        classifiers: config.classifiers,
        prediction: PredictionConfig { batch_size: config.eval_batch_size, bf16: config.optim.bf16 },
        weights_sha256: None,
    };
    let seeds = if options.seeds.is_empty() { vec![config.seed] } else { options.seeds.clone() };
    let mut cpu = CpuShare::new(options.threads);
    let mut results = Vec::new();
    for &seed in &seeds {
        let dir = if seeds.len() > 1 { options.out.join(format!("seed-{seed}")) } else { options.out.clone() };
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let run = SeedRun { config: &config, source: &source, description: &description, data: &data, device, dir };
        results.push(run.train(seed, &tokenizer, &mut cpu, options.progress)?);
    }
    spe::run::report::write(&options.out, &results, data.train_too_long as u64)
}

/// The extractor before its first step: built under `seed`, with BERT's weights from the
/// source's encoder and, from a pre-training run, its span and span-pair encoders (every
/// variable under `bert.`, `span_encoder.` and `pair_encoder.` found by name with its
/// shape, or an error); the classifiers alone start at random.
pub(crate) fn starting_point(
    source: &EncoderSource,
    d: &Description,
    seed: u64,
    device: Device,
) -> Result<(nn::VarStore, Extractor)> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let model = naming_memory_settings(
        guard(
            || format!("cannot build the extractor on {device:?}"),
            || Ok(Extractor::new(&vs.root(), &d.bert, &d.span, &d.labels, &d.classifiers)),
        ),
        "the encoder's sizes (its config.json) or span.*",
    )?;
    let bert_weights = source.bert_dir().join(layout::BERT_WEIGHTS_FILE);
    load_variables(&vs, BERT_PREFIX, &read_hf_bert(&bert_weights)?, &bert_weights)?;
    if let EncoderSource::Run(run) = source {
        let sizes = ModelConfig { bert: d.bert.clone(), span: d.span.clone(), heads: HeadsConfig::default() };
        load_span_encoders(&vs, &sizes, run)?;
    }
    Ok((vs, model))
}

/// One seed's training.
struct SeedRun<'a> {
    config: &'a FinetuneConfig,
    source: &'a EncoderSource,
    description: &'a Description,
    data: &'a Data,
    device: Device,
    dir: PathBuf,
}

impl SeedRun<'_> {
    fn train(&self, seed: u64, tokenizer: &[u8], cpu: &mut CpuShare, progress: bool) -> Result<SeedResult> {
        let (config, data, device) = (self.config, self.data, self.device);
        let d = self.description;
        let (vs, model) = starting_point(self.source, d, seed, device)?;
        let steps_per_epoch = data.train.len().div_ceil(config.batch_size) as u64;
        let total = steps_per_epoch * config.epochs;
        let layers = d.bert.num_hidden_layers;
        let mut optimizer = AdamW::with_groups(&vs, &config.optim, |name| layer_groups(name, layers, config));
        let autocast = config.optim.bf16 && device.is_cuda();
        if autocast {
            autocast_bfloat16();
        }
        let mut metrics = MetricsFile::open(&self.dir, 0)?;
        let bar = steps_bar(progress, total, 0);
        let model_dir = self.dir.join(layout::MODEL_DIR);
        let started = Instant::now();
        let memory_settings = format!(
            "batch_size ({}), candidates.negative_spans ({}), candidates.max_width ({}) or \
             candidates.max_pair_entities ({})",
            config.batch_size,
            config.candidates.negative_spans,
            config.candidates.max_width,
            config.candidates.max_pair_entities
        );
        let (mut step, mut best, mut since_best) = (0u64, None::<(f64, u64)>, 0u64);
        for epoch in 1..=config.epochs {
            let mut order: Vec<usize> = (0..data.train.len()).collect();
            order.shuffle(&mut spe::rng::stream(seed, "finetune-order", epoch));
            let p_gold = gold_probability(&config.schedule, epoch);
            let mut draws = spe::rng::stream(seed, "finetune-schedule", epoch);
            let (mut loss_sum, mut batches) = (0.0, 0u32);
            for chunk in order.chunks(config.batch_size) {
                spe::interrupt::check().with_context(|| format!("stopped in epoch {epoch}, at step {step}"))?;
                let rows: Vec<&LabeledRow> = chunk.iter().map(|&i| &data.train[i]).collect();
                let gold: Vec<bool> = rows.iter().map(|_| draws.random::<f64>() < p_gold).collect();
                let step_seed = spe::rng::stream(seed, "finetune-step", step).random::<u64>();
                tch::manual_seed(step_seed as i64 >> 1);
                let mode = Mode::Train { gold_entities: &gold, seed: step_seed, weights: config.losses };
                let update = Update {
                    clip_norm: config.optim.clip_norm,
                    lr: learning_rate(&config.optim, step, total),
                    autocast,
                };
                let loss = guard(
                    || "libtorch failed".into(),
                    || update.apply(&model, &mut optimizer, (&d.labels, &d.candidates), &rows, device, mode),
                )
                .with_context(|| format!("epoch {epoch}, step {step}"));
                let loss = naming_memory_settings(loss, &memory_settings)?;
                if let Some(value) = loss {
                    loss_sum += value;
                    batches += 1;
                }
                step += 1;
                bar.inc(1);
                if let Some(line) = cpu.adjust() {
                    log_line(&bar, format!("epoch {epoch}, step {step}: {line}"));
                }
            }
            let dev = Scores::of(
                data.dev.iter().map(gold_of).zip(&predict_rows(&model, d, &data.dev, device)?),
                &d.labels.symmetric,
            );
            let record = EpochRecord {
                threads: Some(cpu.take_fewest()),
                ..EpochRecord::new(epoch, step, loss_sum / f64::from(batches.max(1)), p_gold, &dev, started)
            };
            log_line(&bar, record.line(config.epochs));
            bar.set_message(format!("loss {:.4}, dev Rel F1 {:.2}", record.loss, 100.0 * record.dev_rel_f1));
            metrics.write(&record)?;
            let score = record.selection_score();
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, epoch));
                since_best = 0;
                saved::save(&model_dir, &vs, d, tokenizer)?;
            } else {
                since_best += 1;
                if since_best >= config.patience {
                    log_line(
                        &bar,
                        format!("no better dev score for {since_best} epochs: stopping after epoch {epoch}"),
                    );
                    break;
                }
            }
        }
        bar.finish_and_clear();
        draw_curves(&self.dir);
        let (_, best_epoch) = best.context("no epoch was trained")?;
        let saved = Saved::load(&model_dir, device)?;
        let mut result = SeedResult { seed, best_epoch, dir: self.dir.clone(), dev: Scores::new(), test: None };
        for (split, rows) in [("dev", Some(&data.dev)), ("test", data.test.as_ref())] {
            let Some(rows) = rows else { continue };
            let predicted = predict_rows(&saved.model, &saved.description, rows, device)?;
            spe::export::predictions(&self.dir.join(format!("predictions-{split}.json")), rows, &predicted)?;
            let scores = Scores::of(rows.iter().map(gold_of).zip(&predicted), &d.labels.symmetric);
            match split {
                "dev" => result.dev = scores,
                _ => result.test = Some(scores),
            }
        }
        Ok(result)
    }
}

/// One optimizer step's settings.
struct Update {
    clip_norm: f64,
    lr: f64,
    autocast: bool,
}

impl Update {
    /// One optimizer step on `rows`: the gradients of the losses, clipped and applied (a
    /// batch with no candidate still counts as a step). AdamW's step clears them, so that
    /// the next batch's backward pass (which libtorch adds to the gradients held) starts
    /// from none. Returns the loss, or `None` where the batch gave no candidate.
    fn apply(
        &self,
        model: &Extractor,
        optimizer: &mut AdamW,
        (labels, candidates): (&Labels, &CandidatesConfig),
        rows: &[&LabeledRow],
        device: Device,
        mode: Mode,
    ) -> Result<Option<f64>> {
        let out = tch::autocast(self.autocast, || step::run(model, labels, candidates, rows, device, mode))?;
        let value = match out.loss {
            Some(loss) => {
                loss.backward();
                let value = f64::try_from(&loss)?;
                ensure!(value.is_finite(), "the loss is {value}");
                Some(value)
            }
            None => None,
        };
        let norm = optimizer.clip_gradients(self.clip_norm);
        ensure!(norm.is_finite(), "the gradient norm is {norm}");
        optimizer.step(self.lr)?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::labels::Scheme;
    use crate::extract::model::ClassifiersConfig;
    use crate::model::span::SpanConfig;
    use crate::runtime::optim::OptimConfig;

    /// The tests' network: a one-layer BERT of width 8 and span encoders to match.
    fn tiny() -> (BertConfig, SpanConfig) {
        let bert = BertConfig {
            vocab_size: 30,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 32,
            ..BertConfig::default()
        };
        (bert, SpanConfig { filters: 4, size: 6, attention_size: 5, position_size: 3, ..SpanConfig::default() })
    }

    #[test]
    fn an_update_learns_from_its_batch_alone_and_leaves_no_gradient_behind() {
        use spe::corpus::labeled::{Entity, Relation};
        tch::manual_seed(1);
        let (bert, span) = tiny();
        let labels = Labels::new(Scheme::Bieou, vec!["Task".into()], vec!["USED-FOR".into()], vec![]).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Extractor::new(&vs.root(), &bert, &span, &labels, &ClassifiersConfig::default());
        let mut optimizer = AdamW::new(&vs, &OptimConfig::default());
        let entity = |start, end| Entity { start, end, label: "Task".into() };
        let row = LabeledRow {
            doc_id: "D".into(),
            doc_id_is_number: false,
            sent_id: 0,
            words: ["a", "b", "c", "d"].map(String::from).to_vec(),
            input_ids: vec![1, 5, 6, 7, 8, 2],
            word_starts: vec![1, 2, 3, 4],
            entities: vec![entity(0, 1), entity(2, 4)],
            relations: vec![Relation { head: 0, tail: 1, label: "USED-FOR".into() }],
        };
        let update = Update { clip_norm: 1.0, lr: 1e-3, autocast: false };
        let candidates = CandidatesConfig::default();
        for seed in [1, 2] {
            let mode = Mode::Train { gold_entities: &[true], seed, weights: Default::default() };
            let loss = update.apply(&model, &mut optimizer, (&labels, &candidates), &[&row], Device::Cpu, mode);
            assert!(loss.unwrap().is_some_and(f64::is_finite));
            for (name, variable) in vs.variables() {
                let grad = variable.grad();
                let zero = !grad.defined() || f64::try_from(grad.abs().sum(tch::Kind::Float)).unwrap() == 0.0;
                assert!(zero, "after update {seed}, {name} still holds a gradient for the next step to add to");
            }
        }
    }

    /// A fine-tuning starts from every pre-trained variable of the run, found by name: BERT
    /// from `encoder/`, the span and span-pair encoders from the run's export; without the
    /// run (its BERT alone, the paper's "- CNN"), the span encoders start at random.
    #[test]
    fn the_extractor_starts_from_the_pretrained_span_encoders_by_name() {
        use crate::model::weights::{export_encoders, read_safetensors};
        use crate::model::{Encoder, Heads};
        let dir = tempfile::tempdir().unwrap();
        let (bert, span) = tiny();
        let model = ModelConfig { bert, span, heads: HeadsConfig { projection_size: 4, ..HeadsConfig::default() } };
        tch::manual_seed(7);
        let pretrained = nn::VarStore::new(Device::Cpu);
        let _parts = (Encoder::new(&pretrained.root(), &model), Heads::new(&pretrained.root(), &model));
        let run = dir.path().join("run");
        export_encoders(&run, &pretrained, &model, &("vocab.txt".into(), b"[PAD]\n".to_vec())).unwrap();
        let labels = Labels::new(Scheme::Bieou, vec!["Task".into()], vec!["USED-FOR".into()], vec![]).unwrap();
        let description = Description {
            format: layout::EXTRACTOR_FORMAT.into(),
            labels,
            bert: model.bert.clone(),
            span: model.span.clone(),
            tokenizer: spe::shard::manifest::TokenizerRecord {
                path: "vocab.txt".into(),
                sha256: "0".repeat(64),
                vocab_size: 30,
                lowercase: Some(false),
                cls_id: 1,
                sep_id: 2,
                mask_id: 3,
            },
            tokenizer_file: "vocab.txt".into(),
            candidates: CandidatesConfig::default(),
            classifiers: ClassifiersConfig::default(),
            prediction: PredictionConfig::default(),
            weights_sha256: None,
        };
        let bert = read_safetensors(&run.join("encoder/model.safetensors")).unwrap();
        let spans = read_safetensors(&run.join(layout::SPAN_ENCODERS_FILE)).unwrap();
        let same = |a: &tch::Tensor, b: &tch::Tensor| a.size() == b.size() && a.equal(b);
        for (source, spans_pretrained) in
            [(EncoderSource::Run(run.clone()), true), (EncoderSource::Bert(run.join("encoder")), false)]
        {
            let (vs, _extractor) = starting_point(&source, &description, 99, Device::Cpu).unwrap();
            let (mut from_bert, mut from_spans, mut fresh) = (0, 0, Vec::new());
            for (name, value) in vs.variables() {
                if let Some(hf) = name.strip_prefix(BERT_PREFIX) {
                    assert!(same(&value, &bert[hf]), "{name} is not the pre-trained BERT's");
                    from_bert += 1;
                } else if name.starts_with("span_encoder.") || name.starts_with("pair_encoder.") {
                    let theirs = &spans[&name];
                    // A fresh encoder's constant starts (zero biases, unit LayerNorm
                    // weights) equal the export's; its drawn weights do not.
                    let drawn = theirs.numel() > 1 && f64::try_from(theirs.std(false)).unwrap() > 0.0;
                    if spans_pretrained || drawn {
                        assert_eq!(same(&value, theirs), spans_pretrained, "{name}");
                    }
                    from_spans += 1;
                } else {
                    fresh.push(name);
                }
            }
            assert_eq!(from_bert, bert.len(), "every BERT tensor of the export is a variable of the extractor");
            let exported = spans.keys().filter(|k| !k.starts_with("projection.")).count();
            assert_eq!(from_spans, exported, "every span and span-pair encoder tensor is one of its variables");
            // What starts at random is the classifiers' alone.
            assert!(!fresh.is_empty() && fresh.iter().all(|n| !n.contains("encoder")), "{fresh:?}");
        }
    }
}
