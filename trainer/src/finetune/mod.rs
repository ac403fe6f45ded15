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
//! [`inference`] runs a fine-tuned extractor (`spe evaluate`, `spe predict`); [`report`]
//! writes the scores.

pub mod inference;
pub mod report;

use crate::extract::candidates::CandidatesConfig;
use crate::extract::model::{ClassifiersConfig, Extractor};
use crate::extract::saved::{self, Description, Saved};
use crate::extract::step::{self, Mode};
use crate::model::bert::BertConfig;
use crate::model::heads::HeadsConfig;
use crate::model::span::SpanConfig;
use crate::model::weights::{load_span_encoders, load_variables, read_hf_bert, ENCODER_DIR, SPAN_ENCODERS_CONFIG};
use crate::model::{ModelConfig, BERT_PREFIX};
use crate::runtime::device::{autocast_bfloat16, parse_device};
use crate::runtime::fault::{guard, naming_memory_settings};
use crate::runtime::optim::{learning_rate, AdamW, OptimConfig, ParamGroup};
use anyhow::{bail, ensure, Context, Result};
use rand::seq::SliceRandom;
use rand::RngExt;
use report::{EpochRecord, SeedResult};
use serde::{Deserialize, Serialize};
use spe::config::{self, Override};
use spe::corpus::labeled::LabeledSentence;
use spe::extract::labels::{Labels, Scheme};
use spe::plot::draw_curves;
use spe::runtime::metrics::MetricsFile;
use spe::runtime::progress::{log_line, steps_bar};
use spe::score::Scores;
use spe::shard::labeled::{read_split, LabeledRow};
use spe::shard::manifest::{LabeledManifest, TokenizerRecord};
use spe::tokenize::{Casing, TokenizerConfig, WordTokenizer};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device};

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

/// Optimisation of fine-tuning (`[optim]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneOptim {
    /// Peak learning rate of the heads, the embeddings and BERT's top layer.
    pub learning_rate: f64,
    /// Each BERT layer below the top learns at this share of the one above (the authors'
    /// 0.9; spe's recipe 1, every layer at `learning_rate`, as SpERT trains).
    pub layer_decay: f64,
    /// Everything outside BERT (span encoders, tagger, classifiers) learns at this multiple
    /// of `learning_rate`. The authors use 1; heads that start at random learn little on
    /// a few dozen sentences at BERT's rate.
    pub head_lr_scale: f64,
    /// Share of the steps spent warming up.
    pub warmup_fraction: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Adam's bias correction of the moments; without it (the original BERT optimizer's
    /// and SpERT's) the first steps are larger.
    pub bias_correction: bool,
    /// Largest global gradient norm; 0 turns clipping off.
    pub clip_norm: f64,
    /// bfloat16 autocast on CUDA.
    pub bf16: bool,
}

impl Default for FinetuneOptim {
    /// spe's recipe for a normal budget (10 to 50 epochs), chosen on SciERC with
    /// all-MiniLM-L6-v2 (README, "Fine-tuning"): SpERT's learning rate, warm-up and
    /// uncorrected Adam moments for every BERT layer alike, with the parts outside BERT,
    /// which start at random or come from pre-training on other text, learning ten times
    /// faster.
    fn default() -> Self {
        FinetuneOptim {
            learning_rate: 5e-5,
            layer_decay: 1.0,
            head_lr_scale: 10.0,
            warmup_fraction: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: false,
            clip_norm: 1.0,
            bf16: true,
        }
    }
}

impl FinetuneOptim {
    /// The authors' (meant for 200 epochs on a GPU): every part at 2.5e-5, 20% warm-up.
    pub fn paper() -> FinetuneOptim {
        FinetuneOptim {
            learning_rate: 2.5e-5,
            layer_decay: 0.9,
            head_lr_scale: 1.0,
            warmup_fraction: 0.2,
            bias_correction: true,
            ..FinetuneOptim::default()
        }
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
    /// How entity spans are tagged.
    pub scheme: Scheme,
    /// Scheduled sampling.
    pub schedule: ScheduleConfig,
    /// Optimisation.
    pub optim: FinetuneOptim,
    /// Where candidate spans come from, and how many entities are paired.
    pub candidates: CandidatesConfig,
    /// What the entity and relation classifiers read beside the paper's inputs.
    pub classifiers: ClassifiersConfig,
    /// Sizes of the span and span-pair encoders when they start at random (from a plain
    /// BERT); a pre-training run brings its own.
    pub span: SpanConfig,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            seed: 5216,
            epochs: 20,
            patience: 20,
            batch_size: 2,
            eval_batch_size: 32,
            scheme: Scheme::Bieou,
            schedule: ScheduleConfig::default(),
            optim: FinetuneOptim::default(),
            candidates: CandidatesConfig::default(),
            classifiers: ClassifiersConfig::default(),
            span: SpanConfig::default(),
        }
    }
}

impl FinetuneConfig {
    /// The authors' set-up (their `examples/attention_entity_relation/config.yml`): the
    /// tagger proposes the spans, the classifiers read the paper's inputs; 200 epochs of 32
    /// sentences at 2.5e-5 for every part.
    pub fn paper() -> FinetuneConfig {
        FinetuneConfig {
            epochs: 200,
            patience: 100,
            batch_size: 32,
            optim: FinetuneOptim::paper(),
            candidates: CandidatesConfig::paper(),
            classifiers: ClassifiersConfig::paper(),
            ..FinetuneConfig::default()
        }
    }

    fn check(&self) -> Result<()> {
        let o = &self.optim;
        for (name, value) in [
            ("optim.layer_decay", o.layer_decay),
            ("optim.head_lr_scale", o.head_lr_scale),
            ("schedule.k", self.schedule.k),
        ] {
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
        self.candidates.check()?;
        self.span.check().context("span")?;
        self.adamw(1).check()
    }

    /// AdamW's settings for a run of `steps` steps.
    fn adamw(&self, steps: u64) -> OptimConfig {
        let o = &self.optim;
        OptimConfig {
            steps,
            batch_size: self.batch_size,
            learning_rate: o.learning_rate,
            warmup_fraction: o.warmup_fraction,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            weight_decay: o.weight_decay,
            bias_correction: o.bias_correction,
            clip_norm: o.clip_norm,
            bf16: o.bf16,
            skip_nonfinite_steps: 0,
        }
    }
}

/// The probability that a sentence's relation candidates come from its gold entities in
/// `epoch` (counted from 1).
pub fn gold_probability(schedule: &ScheduleConfig, epoch: u64) -> f64 {
    if epoch <= schedule.gold_epochs || schedule.k == 0.0 {
        return 1.0;
    }
    let k = schedule.k;
    k / (k + ((epoch - schedule.gold_epochs) as f64 / k).exp())
}

/// The group of variable `name` in an extractor whose BERT has `layers` layers: layer i
/// learns at decay^(layers − 1 − i) of the rate, the rest of BERT (embeddings, pooler) at
/// the rate, and everything outside BERT at `head_scale` times the rate.
pub fn layer_groups(name: &str, layers: i64, optim: &FinetuneOptim) -> ParamGroup {
    let layer = name.strip_prefix("bert.encoder.layer.").and_then(|rest| rest.split('.').next()?.parse::<i64>().ok());
    let lr_scale = match (layer, name.starts_with(BERT_PREFIX)) {
        (Some(i), _) => optim.layer_decay.powi((layers - 1 - i) as i32),
        (None, true) => 1.0,
        (None, false) => optim.head_lr_scale,
    };
    ParamGroup { lr_scale, ..ParamGroup::default_for(name, optim.weight_decay) }
}

/// Where the sentence encoder comes from.
#[derive(Debug, Clone)]
pub enum EncoderSource {
    /// A pre-training run: `encoder/` and its span encoders.
    Run(PathBuf),
    /// A Hugging Face BERT directory; the span encoders start at random.
    Bert(PathBuf),
}

impl EncoderSource {
    /// Tells a run from a BERT directory by the files in `dir`.
    pub fn of(dir: &Path) -> Result<EncoderSource> {
        if dir.join(ENCODER_DIR).join("config.json").is_file() {
            ensure!(
                dir.join(SPAN_ENCODERS_CONFIG).is_file(),
                "{} holds an encoder/ but no {SPAN_ENCODERS_CONFIG}: is it a finished spe train run?",
                dir.display()
            );
            return Ok(EncoderSource::Run(dir.to_path_buf()));
        }
        if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
            return Ok(EncoderSource::Bert(dir.to_path_buf()));
        }
        bail!(
            "{} is neither an spe train run (encoder/config.json, span_encoders.json) nor a Hugging Face BERT \
             directory (config.json, model.safetensors)",
            dir.display()
        )
    }

    fn bert_dir(&self) -> PathBuf {
        match self {
            EncoderSource::Run(dir) => dir.join(ENCODER_DIR),
            EncoderSource::Bert(dir) => dir.clone(),
        }
    }
}

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
    /// Show a progress bar.
    pub progress: bool,
}

/// The labeled data of a run.
struct Data {
    labels: Labels,
    manifest: LabeledManifest,
    train: Vec<LabeledRow>,
    dev: Vec<LabeledRow>,
    test: Option<Vec<LabeledRow>>,
}

/// The label sets of a labeled output: its configured sets, or where none is configured
/// (a corpus of the user's), the labels its training split holds.
pub fn labels_of(manifest: &LabeledManifest, scheme: Scheme) -> Result<Labels> {
    let configured = |key: &str| -> Vec<String> {
        manifest.config["labels"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    let (mut entities, mut relations) = (configured("entities"), configured("relations"));
    if let Some(train) = manifest.splits.get("train") {
        if entities.is_empty() {
            entities = train.stats.entity_labels.keys().cloned().collect();
        }
        if relations.is_empty() {
            relations = train.stats.relation_labels.keys().cloned().collect();
        }
    }
    Labels::new(scheme, entities, relations, manifest.symmetric_relations.clone())
}

fn load_data(dir: &Path, scheme: Scheme, max_positions: i64) -> Result<Data> {
    let manifest = LabeledManifest::read(dir)?;
    for split in ["train", "dev"] {
        ensure!(
            manifest.splits.contains_key(split),
            "{} has no {split} split: fine-tuning trains on train and selects on dev (prepare it with --{split})",
            dir.display()
        );
    }
    let labels = labels_of(&manifest, scheme)?;
    let read = |split: &str| -> Result<Vec<LabeledRow>> {
        let rows = read_split(dir, &manifest, split)?;
        if let Some(row) = rows.iter().find(|r| r.input_ids.len() as i64 > max_positions) {
            bail!(
                "{}: {split} sentence {} of {} has {} sub-tokens, more than the encoder's {max_positions} positions",
                dir.display(),
                row.sent_id,
                row.doc_id,
                row.input_ids.len()
            );
        }
        Ok(rows)
    };
    let (train, dev) = (read("train")?, read("dev")?);
    let test = manifest.splits.contains_key("test").then(|| read("test")).transpose()?;
    Ok(Data { labels, manifest, train, dev, test })
}

/// Refuses labeled shards tokenized with a vocabulary other than the one the encoder in
/// `bert_dir` ships (`tokenizer.json` or `vocab.txt`, where it ships one), or with its
/// vocabulary read with another casing: of equal size, another vocabulary's ids name other
/// words, and a cased reading of an uncased vocabulary makes every capitalised word
/// `[UNK]`; the extractor would learn from noise.
fn check_vocabulary(record: &TokenizerRecord, data: &Path, bert_dir: &Path) -> Result<()> {
    let Some(file) = ["tokenizer.json", "vocab.txt"].map(|f| bert_dir.join(f)).into_iter().find(|p| p.is_file()) else {
        return Ok(());
    };
    let ours = WordTokenizer::load(&TokenizerConfig { path: PathBuf::from(&record.path), casing: record.casing() })?;
    let theirs = WordTokenizer::load(&TokenizerConfig { path: file.clone(), casing: Casing::Auto })?;
    if let Some((id, a, b)) = ours.first_difference(&theirs) {
        let show = |t: Option<String>| t.map_or("nothing".to_string(), |t| format!("{t:?}"));
        bail!(
            "the labeled shards in {} were tokenized with {}, whose vocabulary differs from the encoder's {}: \
             id {id} is {} there and {} in the encoder's; prepare them with the encoder's vocabulary (--tokenizer {})",
            data.display(),
            record.path,
            file.display(),
            show(a),
            show(b),
            file.display()
        );
    }
    // One vocabulary read with another casing gives other ids for the same words.
    let text = "The English Ångström";
    if let Some(d) = ours.reading_difference(&theirs, text)? {
        bail!(
            "the labeled shards in {} were tokenized with {}{}, which makes {:?} of {text:?} where the \
             encoder's {} makes {:?}; prepare them with the encoder's own tokenizer (--tokenizer {})",
            data.display(),
            record.path,
            match record.lowercase {
                Some(true) => " read uncased",
                Some(false) => " read cased",
                None => "",
            },
            d.ours,
            file.display(),
            d.theirs,
            file.display()
        );
    }
    Ok(())
}

/// Runs `spe finetune`; returns the report of every seed.
pub fn run(options: &FinetuneOptions) -> Result<report::Report> {
    let config: FinetuneConfig = config::load(options.config.as_deref(), &options.overrides)?;
    config.check()?;
    if let Some(seed) = options.seeds.iter().enumerate().find_map(|(i, s)| options.seeds[..i].contains(s).then_some(s))
    {
        bail!("--seeds names seed {seed} twice: its run would count twice in the mean and standard deviation");
    }
    spe::overwrite::refuse_inputs(
        "--out",
        &options.out,
        &[("the labeled data", &options.data), ("the encoder", &options.encoder)],
    )?;
    // A finished run, one that stopped before its end, or a pre-training run.
    spe::overwrite::refuse_held(&options.out, &[report::REPORT_FILE, spe::runtime::metrics::METRICS_FILE])?;
    let device = parse_device(options.device.as_deref())?;
    let source = EncoderSource::of(&options.encoder)?;
    let bert = BertConfig::from_file(&source.bert_dir().join("config.json"))?;
    let span = match &source {
        EncoderSource::Run(dir) => crate::model::weights::read_span_encoders(dir)?.0.span,
        EncoderSource::Bert(_) => config.span.clone(),
    };
    let data = load_data(&options.data, config.scheme, bert.max_position_embeddings)?;
    ensure!(
        data.manifest.tokenizer.vocab_size == bert.vocab_size as u64,
        "the labeled shards in {} were tokenized with a vocabulary of {} entries, but the encoder in {} has {}: \
         prepare them with the encoder's vocabulary (--tokenizer)",
        options.data.display(),
        data.manifest.tokenizer.vocab_size,
        source.bert_dir().display(),
        bert.vocab_size
    );
    let (tokenizer_file, tokenizer) = saved::tokenizer_file(&data.manifest.tokenizer)?;
    check_vocabulary(&data.manifest.tokenizer, &options.data, &source.bert_dir())?;
    let _lock = spe::lock::OutputLock::acquire(&options.out)?;
    let description = Description {
        format: "spe-extractor".into(),
        labels: data.labels.clone(),
        bert,
        span,
        tokenizer: data.manifest.tokenizer.clone(),
        tokenizer_file,
        candidates: config.candidates.clone(),
        classifiers: config.classifiers,
        weights_sha256: None,
    };
    let seeds = if options.seeds.is_empty() { vec![config.seed] } else { options.seeds.clone() };
    let mut results = Vec::new();
    for &seed in &seeds {
        let dir = if seeds.len() > 1 { options.out.join(format!("seed-{seed}")) } else { options.out.clone() };
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let run = SeedRun { config: &config, source: &source, description: &description, data: &data, device, dir };
        results.push(run.train(seed, &tokenizer, options.progress)?);
    }
    report::write(&options.out, &results)
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
    fn train(&self, seed: u64, tokenizer: &[u8], progress: bool) -> Result<SeedResult> {
        let (config, data, device) = (self.config, self.data, self.device);
        let d = self.description;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let model = naming_memory_settings(
            guard(
                || format!("cannot build the extractor on {device:?}"),
                || Ok(Extractor::new(&vs.root(), &d.bert, &d.span, &d.labels, &d.classifiers)),
            ),
            "the encoder's sizes (its config.json) or span.*",
        )?;
        let bert_weights = self.source.bert_dir().join("model.safetensors");
        load_variables(&vs, BERT_PREFIX, &read_hf_bert(&bert_weights)?, &bert_weights)?;
        if let EncoderSource::Run(run) = self.source {
            let sizes = ModelConfig { bert: d.bert.clone(), span: d.span.clone(), heads: HeadsConfig::default() };
            load_span_encoders(&vs, &sizes, run)?;
        }
        let steps_per_epoch = data.train.len().div_ceil(config.batch_size) as u64;
        let total = steps_per_epoch * config.epochs;
        let adamw = config.adamw(total);
        let layers = d.bert.num_hidden_layers;
        let mut optimizer = AdamW::with_groups(&vs, &adamw, |name| layer_groups(name, layers, &config.optim));
        let autocast = config.optim.bf16 && device.is_cuda();
        if autocast {
            autocast_bfloat16();
        }
        let mut metrics = MetricsFile::open(&self.dir, 0)?;
        let bar = steps_bar(progress, total, 0);
        let model_dir = self.dir.join("model");
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
            order.shuffle(&mut spe::rng::stream(seed, "finetune-order", epoch as i32));
            let p_gold = gold_probability(&config.schedule, epoch);
            let mut draws = spe::rng::stream(seed, "finetune-schedule", epoch as i32);
            let (mut loss_sum, mut batches) = (0.0, 0u32);
            for chunk in order.chunks(config.batch_size) {
                spe::interrupt::check().with_context(|| format!("stopped in epoch {epoch}, at step {step}"))?;
                let rows: Vec<&LabeledRow> = chunk.iter().map(|&i| &data.train[i]).collect();
                let gold: Vec<bool> = rows.iter().map(|_| draws.random::<f64>() < p_gold).collect();
                let step_seed = spe::rng::stream(seed, "finetune-step", step as i32).random::<u64>();
                tch::manual_seed(step_seed as i64 >> 1);
                let mode = Mode::Train { gold_entities: &gold, seed: step_seed };
                let update =
                    Update { clip_norm: config.optim.clip_norm, lr: learning_rate(&adamw, step, total), autocast };
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
            }
            let dev = Scores::of(
                data.dev.iter().map(gold_of).zip(&predictions_of(&model, d, &data.dev, config, device)?),
                &d.labels.symmetric,
            );
            let record = EpochRecord::new(epoch, step, loss_sum / f64::from(batches.max(1)), p_gold, &dev, started);
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
            let predicted = predictions_of(&saved.model, &saved.description, rows, config, device)?;
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

/// A row's gold annotation as a sentence.
pub fn gold_of(row: &LabeledRow) -> LabeledSentence {
    LabeledSentence { words: row.words.clone(), entities: row.entities.clone(), relations: row.relations.clone() }
}

/// The predictions of `model` for `rows`, in batches of `config.eval_batch_size`.
fn predictions_of(
    model: &Extractor,
    description: &Description,
    rows: &[LabeledRow],
    config: &FinetuneConfig,
    device: Device,
) -> Result<Vec<LabeledSentence>> {
    predict_rows(model, description, rows, config.eval_batch_size, device, config.optim.bf16)
}

/// The predictions of `model` (described by `description`) for `rows`, in batches of
/// `batch_size`, without gradient (and in bf16 on CUDA when `bf16`).
pub fn predict_rows(
    model: &Extractor,
    description: &Description,
    rows: &[LabeledRow],
    batch_size: usize,
    device: Device,
    bf16: bool,
) -> Result<Vec<LabeledSentence>> {
    let autocast = bf16 && device.is_cuda();
    let mut predictions = Vec::with_capacity(rows.len());
    let batch_size = batch_size.max(1);
    for (i, chunk) in rows.chunks(batch_size).enumerate() {
        let out = guard(
            || format!("predicting sentences {}..{}", i * batch_size + 1, i * batch_size + chunk.len()),
            || {
                tch::no_grad(|| {
                    tch::autocast(autocast, || {
                        step::run(model, &description.labels, &description.candidates, chunk, device, Mode::Predict)
                    })
                })
            },
        );
        let settings = format!(
            "the sentences predicted at once ({batch_size}: eval_batch_size) or candidates.max_width ({})",
            description.candidates.max_width
        );
        let out = naming_memory_settings(out, &settings)?;
        predictions.extend(out.predictions);
    }
    Ok(predictions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_sampling_feeds_gold_first_then_decays() {
        let s = ScheduleConfig::default();
        assert!((1..=5).all(|e| gold_probability(&s, e) == 1.0));
        let p6 = gold_probability(&s, 6);
        assert!((p6 - 3.0 / (3.0 + (1.0f64 / 3.0).exp())).abs() < 1e-12, "{p6}");
        let curve: Vec<f64> = (6..40).map(|e| gold_probability(&s, e)).collect();
        assert!(curve.windows(2).all(|w| w[1] < w[0]) && curve[curve.len() - 1] < 0.01);
        assert_eq!(gold_probability(&ScheduleConfig { k: 0.0, ..s }, 50), 1.0);
    }

    #[test]
    fn bert_layers_learn_slower_the_lower_they_are() {
        let optim = FinetuneOptim { head_lr_scale: 20.0, layer_decay: 0.9, ..FinetuneOptim::default() };
        let g = |name: &str| layer_groups(name, 12, &optim);
        assert_eq!(g("bert.encoder.layer.11.output.dense.weight").lr_scale, 1.0);
        assert!((g("bert.encoder.layer.0.attention.self.query.weight").lr_scale - 0.9f64.powi(11)).abs() < 1e-12);
        assert!((g("bert.encoder.layer.10.intermediate.dense.bias").lr_scale - 0.9).abs() < 1e-12);
        assert_eq!(g("bert.encoder.layer.10.intermediate.dense.bias").weight_decay, 0.0);
        assert_eq!(g("bert.embeddings.word_embeddings.weight").lr_scale, 1.0);
        assert_eq!(g("bert.pooler.dense.weight").lr_scale, 1.0);
        assert_eq!(g("relation_classifier.weight"), ParamGroup { lr_scale: 20.0, weight_decay: 0.01 });
        assert_eq!(g("span_encoder.conv2.bias"), ParamGroup { lr_scale: 20.0, weight_decay: 0.0 });
    }

    #[test]
    fn an_update_learns_from_its_batch_alone_and_leaves_no_gradient_behind() {
        use spe::corpus::labeled::{Entity, Relation};
        tch::manual_seed(1);
        let bert = BertConfig {
            vocab_size: 30,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 32,
            ..BertConfig::default()
        };
        let span = SpanConfig { filters: 4, size: 6, attention_size: 5, position_size: 3, ..SpanConfig::default() };
        let labels = Labels::new(Scheme::Bieou, vec!["Task".into()], vec!["USED-FOR".into()], vec![]).unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Extractor::new(&vs.root(), &bert, &span, &labels, &ClassifiersConfig::default());
        let mut optimizer = AdamW::new(&vs, &OptimConfig::default());
        let entity = |start, end| Entity { start, end, label: "Task".into() };
        let row = LabeledRow {
            doc_id: "D".into(),
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
            let mode = Mode::Train { gold_entities: &[true], seed };
            let loss = update.apply(&model, &mut optimizer, (&labels, &candidates), &[&row], Device::Cpu, mode);
            assert!(loss.unwrap().is_some_and(f64::is_finite));
            for (name, variable) in vs.variables() {
                let grad = variable.grad();
                let zero = !grad.defined() || f64::try_from(grad.abs().sum(tch::Kind::Float)).unwrap() == 0.0;
                assert!(zero, "after update {seed}, {name} still holds a gradient for the next step to add to");
            }
        }
    }

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
        ] {
            let config: FinetuneConfig = config::load(None, &[Override::parse(item).unwrap()]).unwrap();
            let err = format!("{:#}", config.check().unwrap_err());
            let key = item.split('=').next().unwrap().rsplit('.').next().unwrap();
            assert!(err.contains(key) && (!item.starts_with("span.") || err.contains("span")), "{item}: {err}");
        }
        FinetuneConfig::default().check().unwrap();
    }
}
