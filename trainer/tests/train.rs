//! The trainer on the CPU with tiny models: BERT parity with transformers on a real
//! checkpoint, falling losses, gradients of every objective, exact resumption, and an
//! export that transformers loads.
//!
//! Needs `SPE_PYTHON` (a Python with torch and transformers, as
//! `scripts/test.sh` installs) and `SPE_TEST_BERT` (the all-MiniLM-L6-v2 checkpoint
//! directory that `scripts/test.sh` unpacks).
#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use spe::batch::shards::ShardSet;
use spe::batch::LoaderConfig;
use spe::config::Override;
use spe::run::metrics;
use spe_trainer::model::bert::{Bert, BertConfig};
use spe_trainer::model::weights::{load_variables, read_hf_bert};
use spe_trainer::model::{Encoder, Heads, BERT_PREFIX};
use spe_trainer::runtime::threads::Threads;
use spe_trainer::train::device_batch::DeviceBatch;
use spe_trainer::train::moco::Moco;
use spe_trainer::train::objectives::{losses, ObjectiveConfig};
use spe_trainer::train::step_record::StepRecord;
use spe_trainer::train::{self as trainer, TrainOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// libtorch's random generator is one per process, and every training run re-seeds it, so
/// two tests training at once on the test harness's threads would disturb each other's
/// sequence (and the exact-resumption test would see it). Each test holds this while it runs.
static TORCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn torch() -> std::sync::MutexGuard<'static, ()> {
    TORCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn env_path(name: &str) -> PathBuf {
    let value = std::env::var_os(name)
        .unwrap_or_else(|| panic!("{name} is not set; run the tests with scripts/test.sh, which sets it up"));
    PathBuf::from(value)
}

/// Pre-training shards of the first `sentences` real sentences.
fn shards(dir: &Path, sentences: usize) -> PathBuf {
    shards_of(dir, "shards", sentences)
}

/// [`shards`] into `dir/name`.
fn shards_of(dir: &Path, name: &str, sentences: usize) -> PathBuf {
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let few: String = text.lines().take(sentences).map(|l| format!("{l}\n")).collect();
    let input = dir.join(format!("{name}.txt"));
    std::fs::write(&input, few).unwrap();
    let out = dir.join(name);
    prep(&[&input], &out, &["--set", "shard.row_group_rows=8"]);
    out
}

/// Options for a run with the tiny pipeline and `set` overrides.
fn options(shards: &Path, out: &Path, set: &[(&str, toml::Value)]) -> TrainOptions {
    TrainOptions {
        shards: vec![shards.to_path_buf()],
        out: out.to_path_buf(),
        init: None,
        config: Some(repo("pipelines/train-tiny.toml")),
        overrides: set.iter().map(|(k, v)| Override::new(k, v.clone())).collect(),
        objectives: None,
        device: Some("cpu".into()),
        resume: false,
        force: false,
        // A fixed count: the runs these tests compare must repeat bit for bit beside the
        // other tests.
        threads: Threads::Fixed(2),
        launch: None,
        progress: false,
    }
}

/// Runs transformers' BertModel from `model_dir` on `ids` (padded with `mask`).
fn transformers_outputs(model_dir: &Path, ids: &[Vec<i64>], mask: &[Vec<i64>]) -> (Tensor, Tensor) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.json");
    std::fs::write(&inputs, serde_json::json!({ "input_ids": ids, "attention_mask": mask }).to_string()).unwrap();
    let out = dir.path().join("outputs.safetensors");
    let status = Command::new(env_path("SPE_PYTHON"))
        .arg(repo("tests/python/bert_outputs.py"))
        .args([model_dir, &inputs, &out])
        .status()
        .unwrap();
    assert!(status.success(), "transformers could not run {}", model_dir.display());
    let tensors: std::collections::HashMap<_, _> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    (tensors["last_hidden_state"].shallow_clone(), tensors["pooler_output"].shallow_clone())
}

/// spe's BERT from `config` with the weights of `checkpoint`, on `ids`.
fn spe_outputs(config: &BertConfig, checkpoint: &Path, ids: &[Vec<i64>], mask: &[Vec<i64>]) -> (Tensor, Tensor) {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Bert::new(vs.root() / "bert", config);
    load_variables(&vs, BERT_PREFIX, &read_hf_bert(checkpoint).unwrap(), checkpoint).unwrap();
    let (ids, mask) = (Tensor::from_slice2(ids), Tensor::from_slice2(mask));
    let out = tch::no_grad(|| model.forward(&ids, &mask, false)).unwrap();
    (out.hidden, out.pooled)
}

/// Largest difference between two outputs over the real tokens of each row.
fn max_difference(a: &(Tensor, Tensor), b: &(Tensor, Tensor), mask: &[Vec<i64>]) -> f64 {
    let real = Tensor::from_slice2(mask).to_kind(Kind::Float).unsqueeze(2);
    let hidden = ((&a.0 - &b.0) * &real).abs().max();
    let pooled = (&a.1 - &b.1).abs().max();
    f64::try_from(hidden.maximum(&pooled)).unwrap()
}

/// Token ids of real sentences under the checkpoint's own tokenizer, padded with 0.
fn sentences(tokenizer: &Path) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let tokenizer = tokenizers::Tokenizer::from_file(tokenizer).unwrap();
    let texts = [
        "Anarchism is a political philosophy that advocates self-governed societies.",
        "Paris is the capital of France.",
        "Hi",
    ];
    let ids: Vec<Vec<i64>> = texts
        .iter()
        .map(|t| tokenizer.encode(*t, true).unwrap().get_ids().iter().map(|&i| i64::from(i)).collect())
        .collect();
    let longest = ids.iter().map(Vec::len).max().unwrap();
    let mask = ids.iter().map(|row| (0..longest).map(|i| i64::from(i < row.len())).collect()).collect();
    let ids = ids.into_iter().map(|mut row| {
        row.resize(longest, 0);
        row
    });
    (ids.collect(), mask)
}

#[test]
fn bert_matches_transformers_on_a_real_checkpoint() {
    let _torch = torch();
    let dir = env_path("SPE_TEST_BERT");
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    assert_eq!((config.hidden_size, config.num_hidden_layers), (384, 6));
    let (ids, mask) = sentences(&dir.join("tokenizer.json"));
    let ours = spe_outputs(&config, &dir.join("model.safetensors"), &ids, &mask);
    let theirs = transformers_outputs(&dir, &ids, &mask);
    assert_eq!(ours.0.size(), [3, ids[0].len() as i64, 384]);
    let difference = max_difference(&ours, &theirs, &mask);
    assert!(difference < 1e-4, "largest difference {difference}");
    // The check can fail: a perturbed weight shows.
    let perturbed =
        spe_outputs(&BertConfig { layer_norm_eps: 1e-3, ..config }, &dir.join("model.safetensors"), &ids, &mask);
    assert!(max_difference(&perturbed, &theirs, &mask) > 1e-4);
}

#[test]
fn every_objective_sends_gradient_into_the_sentence_encoder() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let out = shards(dir.path(), 40);
    let set = Arc::new(ShardSet::open(&[out]).unwrap());
    let batch = set.stream(&LoaderConfig { micro_batch: 8, ..Default::default() }, 1, 0).unwrap().next_batch().unwrap();
    let config = trainer::load_config(&options(dir.path(), dir.path(), &[])).unwrap();
    for (name, weights) in [
        ("tbo", ObjectiveConfig { tbo: 1.0, spo: 0.0, cspo: 0.0 }),
        ("spo", ObjectiveConfig { tbo: 0.0, spo: 1.0, cspo: 0.0 }),
        ("cspo", ObjectiveConfig { tbo: 0.0, spo: 0.0, cspo: 1.0 }),
    ] {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let encoder = Encoder::new(&vs.root(), &config.model);
        let heads = Heads::new(&vs.root(), &config.model);
        let moco = Moco::new(&vs, &config.model, &config.moco, Device::Cpu).unwrap();
        let result = losses(&encoder, &heads, Some(&moco), &DeviceBatch::new(&batch, Device::Cpu), &weights).unwrap();
        result.total.backward();
        let grad = |var: &str| {
            let g = vs.variables()[var].grad();
            if g.defined() {
                f64::try_from(g.abs().sum(Kind::Float)).unwrap()
            } else {
                0.0
            }
        };
        for var in ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight"] {
            assert!(grad(var) > 0.0, "{name}: no gradient reaches {var}");
        }
        let span = grad("span_encoder.conv3.weight");
        let tbo_head = grad("tbo_head.decoder.weight");
        match name {
            "tbo" => assert!(span == 0.0 && tbo_head > 0.0, "TBO reads hidden states, not spans"),
            _ => assert!(span > 0.0 && tbo_head == 0.0, "{name} trains the span encoder"),
        }
        assert_eq!(grad("pair_encoder.w_cls.weight") > 0.0, name == "cspo", "only CSPO uses the pair vector");
    }
}

#[test]
fn losses_fall_when_overfitting_a_few_rows() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    let mut set = vec![
        ("steps", 80.into()),
        ("batch_size", 16.into()),
        ("loader.micro_batch", 16.into()),
        ("optim.learning_rate", toml::Value::Float(3e-3)),
        ("log_every", 1.into()),
        ("moco.queue_size", 64.into()),
    ];
    set.extend(no_dropout());
    let run = options(&shards, &dir.path().join("run"), &set);
    let summary = trainer::run(&run).unwrap();
    let records = &summary.records;
    assert_eq!(records.len(), 80);
    let mean = |rows: &[StepRecord], f: fn(&StepRecord) -> Option<f64>| {
        rows.iter().filter_map(f).sum::<f64>() / rows.iter().filter_map(f).count() as f64
    };
    let (first, last) = (&records[..5], &records[75..]);
    for (name, f) in [
        ("tbo", (|r: &StepRecord| r.tbo) as fn(&StepRecord) -> Option<f64>),
        ("spo", |r: &StepRecord| r.spo),
        ("cspo", |r: &StepRecord| r.cspo),
        ("total", |r: &StepRecord| Some(r.loss)),
    ] {
        let (a, b) = (mean(first, f), mean(last, f));
        assert!(b < 0.7 * a, "{name}: {a} over the first steps, {b} over the last");
    }
    assert_eq!(metrics::read::<StepRecord>(&dir.path().join("run")).unwrap(), *records);

    // The run's curves were drawn, and inspect summarises it from its metrics.
    let out = dir.path().join("run");
    assert!(std::fs::read(out.join("loss-curves.png")).unwrap().starts_with(b"\x89PNG"));
    let inspected = spe(&["inspect", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(text.contains("a pre-training run, 80 logged records up to step 80"), "{text}");
    let spo = |r: &StepRecord| r.spo.unwrap();
    let line = format!("spo                {:.4} -> {:.4}", spo(&records[0]), spo(&records[79]));
    assert!(text.contains(&line) && text.contains("sentence encoder"), "{line} not in {text}");
    std::fs::remove_file(out.join("loss-curves.png")).unwrap();
    let plotted = spe(&["plot", out.to_str().unwrap()]);
    assert!(plotted.status.success() && out.join("loss-curves.png").exists(), "{}", stderr(&plotted));
}

#[test]
fn a_resumed_run_equals_the_uninterrupted_run_and_its_export_loads_in_transformers() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 60);
    let set = [
        ("steps", 6.into()),
        ("checkpoint_every", 3.into()),
        ("log_every", 1.into()),
        ("moco.queue_size", 48.into()),
        ("export_steps", toml::Value::Array(vec![3.into()])),
    ];
    let whole = dir.path().join("whole");
    trainer::run(&options(&shards, &whole, &set)).unwrap();
    let checkpoints = whole.join("checkpoints");
    assert!(checkpoints.join("step-00000003/moco.safetensors").exists());
    // The export of step 3, laid out as a finished run's, holds that step's weights.
    let step3 = whole.join("exports/step-3");
    assert!(step3.join("span_encoders.json").is_file() && step3.join("encoder/vocab.txt").is_file());

    // Interrupted after step 3: the later checkpoint and metrics never happened.
    let cut = dir.path().join("cut");
    interrupted_copy(&whole, &cut, "step-00000006");
    let mut resume = options(&shards, &cut, &set);
    resume.resume = true;
    let resumed = trainer::run(&resume).unwrap();
    assert_eq!(resumed.steps, 3);
    let strip = |records: Vec<StepRecord>| -> Vec<_> {
        records.into_iter().map(|r| (r.step, r.lr, r.loss, r.tbo, r.spo, r.cspo, r.grad_norm)).collect()
    };
    assert_eq!(strip(metrics::read(&cut).unwrap()), strip(metrics::read(&whole).unwrap()));
    let weights = |dir: &Path| std::fs::read(dir.join("encoder/model.safetensors")).unwrap();
    assert!(weights(&cut) == weights(&whole), "the resumed run ends with the same weights");

    // A fresh run into a finished directory is refused instead of mixing two runs.
    let err = trainer::run(&options(&shards, &whole, &set)).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");

    // transformers loads the export and computes what spe computes with the trained weights.
    let encoder = whole.join("encoder");
    let config = BertConfig::from_file(&encoder.join("config.json")).unwrap();
    let ids: Vec<Vec<i64>> =
        vec![vec![101, 1109, 4937, 1110, 1113, 1103, 12477, 119, 102], vec![101, 8667, 102, 0, 0, 0, 0, 0, 0]];
    let mask: Vec<Vec<i64>> =
        ids.iter().map(|r| r.iter().enumerate().map(|(i, &id)| i64::from(i == 0 || id != 0)).collect()).collect();
    let trained = spe_outputs(&config, &checkpoints.join("step-00000006/model.safetensors"), &ids, &mask);
    let reloaded = spe_outputs(&config, &encoder.join("model.safetensors"), &ids, &mask);
    assert_eq!(max_difference(&trained, &reloaded, &mask), 0.0);
    let at_step3 = spe_outputs(&config, &checkpoints.join("step-00000003/model.safetensors"), &ids, &mask);
    let exported3 = spe_outputs(&config, &step3.join("encoder/model.safetensors"), &ids, &mask);
    assert_eq!(max_difference(&at_step3, &exported3, &mask), 0.0);
    let difference = max_difference(&trained, &transformers_outputs(&encoder, &ids, &mask), &mask);
    assert!(difference < 1e-4, "largest difference {difference}");
    let spans: std::collections::HashMap<_, _> =
        Tensor::read_safetensors(whole.join("span_encoders.safetensors")).unwrap().into_iter().collect();
    assert!(spans.contains_key("span_encoder.conv2.weight") && spans.contains_key("pair_encoder.v.weight"));
    assert!(spans.keys().all(|k| !k.starts_with("bert.")));
}

#[test]
fn a_damaged_checkpoint_is_passed_over_and_other_shards_are_refused() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 60);
    let set = [("steps", 6.into()), ("checkpoint_every", 3.into()), ("moco.queue_size", 48.into())];
    let whole = dir.path().join("whole");
    trainer::run(&options(&shards, &whole, &set)).unwrap();

    // The latest checkpoint damaged: the run resumes from the one before and ends where the
    // uninterrupted run ended.
    let damaged = dir.path().join("damaged");
    copy_dir(&whole, &damaged);
    std::fs::remove_dir_all(damaged.join("encoder")).unwrap();
    let model = damaged.join("checkpoints/step-00000006/model.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&model, bytes).unwrap();
    let mut resume = options(&shards, &damaged, &set);
    resume.resume = true;
    let resumed = trainer::run(&resume).unwrap();
    assert_eq!(resumed.steps, 3, "steps 4 to 6 again, from the checkpoint of step 3");
    let weights = |dir: &Path| std::fs::read(dir.join("encoder/model.safetensors")).unwrap();
    assert!(weights(&damaged) == weights(&whole));

    // A state whose step was edited is damaged too.
    let edited = dir.path().join("edited");
    copy_dir(&whole, &edited);
    std::fs::remove_dir_all(edited.join("encoder")).unwrap();
    let state_path = edited.join("checkpoints/step-00000006/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["step"] = 5.into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    let mut resume = options(&shards, &edited, &set);
    resume.resume = true;
    assert_eq!(trainer::run(&resume).unwrap().steps, 3, "resumed from step 3, not from the edited step 5");
    assert!(weights(&edited) == weights(&whole));

    // Resuming on other shards is refused unless forced.
    let other = shards_of(dir.path(), "other", 40);
    let more = [("steps", 8.into()), ("checkpoint_every", 3.into()), ("moco.queue_size", 48.into())];
    let mut elsewhere = options(&other, &whole, &more);
    elsewhere.resume = true;
    let err = trainer::run(&elsewhere).unwrap_err().to_string();
    assert!(err.contains("trained on other shards"), "{err}");
    elsewhere.force = true;
    assert_eq!(trainer::run(&elsewhere).unwrap().steps, 2);
}

#[test]
fn a_run_whose_gradient_is_not_finite_stops_and_exports_nothing() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    // A learning rate this large makes the weights infinite after the first step, and the
    // second step's loss and gradient NaN.
    let set = [
        ("optim.learning_rate", toml::Value::Float(1e30)),
        ("optim.warmup_fraction", toml::Value::Float(0.0)),
        ("steps", 6.into()),
        ("moco.queue_size", 64.into()),
    ];
    let out = dir.path().join("run");
    let err = trainer::run(&options(&shards, &out, &set)).unwrap_err().to_string();
    assert!(err.contains("step 2: the gradient norm is NaN"), "{err}");
    assert!(!out.join("encoder").exists() && !out.join("span_encoders.safetensors").exists());
    // Skipping is bounded: with one skip allowed, the next NaN step still stops the run.
    let mut skip = set.to_vec();
    skip.push(("skip_nonfinite_steps", 1.into()));
    let err = trainer::run(&options(&shards, &dir.path().join("skip"), &skip)).unwrap_err().to_string();
    assert!(err.contains("step 3") && err.contains("more than skip_nonfinite_steps = 1"), "{err}");
}

#[test]
fn a_shard_altered_after_it_was_written_is_refused() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    let set = [("steps", 1.into()), ("moco.queue_size", 64.into())];
    let out = dir.path().join("run");
    trainer::run(&options(&shards, &out, &set)).unwrap();
    assert!(out.join(spe::run::layout::VERIFIED_SHARDS_FILE).exists());
    // One byte changed in the middle of the data: same size, intact footer.
    let shard = shards.join("part-00000.parquet");
    let mut bytes = std::fs::read(&shard).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&shard, bytes).unwrap();
    let err = trainer::run(&options(&shards, &dir.path().join("again"), &set)).unwrap_err().to_string();
    assert!(
        err.contains("part-00000.parquet: its SHA-256 is") && err.contains("changed after it was written"),
        "{err}"
    );
}

#[test]
fn a_new_run_writes_neither_over_its_shards_nor_over_a_folder_holding_metrics() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    let set = [("steps", 1.into()), ("moco.queue_size", 64.into())];
    let refused = |out: &Path| trainer::run(&options(&shards, out, &set)).unwrap_err().to_string();
    assert!(refused(&shards).contains("is the pre-training data"));
    assert!(refused(&shards.join("run")).contains("lies inside the pre-training data"));
    // A fine-tuning run, or a folder of the user's, with a metrics file of its own.
    let other = dir.path().join("finetuned");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("metrics.jsonl"), "mine\n").unwrap();
    let err = refused(&other);
    assert!(err.contains("already holds") && err.contains("metrics.jsonl"), "{err}");
    assert_eq!(std::fs::read_to_string(other.join("metrics.jsonl")).unwrap(), "mine\n");
    assert!(!shards.join("run").exists());
}

#[test]
fn a_vocabulary_mismatch_is_refused_before_training() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    let mut run = options(&shards, &dir.path().join("run"), &[]);
    run.init = Some(env_path("SPE_TEST_BERT"));
    let err = trainer::run(&run).unwrap_err().to_string();
    assert!(err.contains("vocabulary of 28996 entries, but the model's has 30522 (from --init)"), "{err}");
}

/// Overrides that turn every dropout of the model off.
fn no_dropout() -> [(&'static str, toml::Value); 3] {
    ["model.bert.hidden_dropout_prob", "model.bert.attention_probs_dropout_prob", "model.span.dropout"]
        .map(|key| (key, toml::Value::Float(0.0)))
}

#[test]
fn a_signal_stops_training_between_steps_and_says_how_to_resume() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 60);
    let out = dir.path().join("run");
    let child = Command::new(spe_binary())
        .args(["train", "--shards", shards.to_str().unwrap(), "--out", out.to_str().unwrap(), "--config"])
        .arg(repo("pipelines/train-tiny.toml"))
        .args([
            "--device",
            "cpu",
            "--steps",
            "100000",
            "--set",
            "checkpoint_every=2",
            "--set",
            "moco.queue_size=48",
            "--quiet",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join("checkpoints/step-00000002"), 300);
    send_signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume continues from") && err.contains("interrupted by SIGINT"), "{err}");
    let unfinished: Vec<_> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:?}");
    assert!(!out.join("encoder").exists(), "an interrupted run exports nothing");
}

#[test]
fn the_papers_model_on_a_cpu_is_announced_with_a_measured_step() {
    use std::io::BufRead;
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 20);
    let out = dir.path().join("run");
    // No --config: BERT-base. A small batch keeps the one step short; the run is stopped
    // once that step is measured, before anything of that size is written.
    let mut child = Command::new(spe_binary())
        .args(["train", "--shards", shards.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu"])
        .args(["--quiet", "--set", "batch_size=2", "--set", "loader.micro_batch=2", "--set", "moco.queue_size=8"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("the paper's set-up (134M parameters, 2 rows a step, 40000 steps)"), "{first}");
    assert!(first.contains("--config pipelines/train-tiny.toml"), "{first}");
    let measured = lines.next().unwrap().unwrap();
    assert!(measured.starts_with("note: a step took") && measured.contains("the 39999 steps left would take about"));
    send_signal(&child, "INT");
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{rest:?}");
}

/// On a GPU only (`SPE_TEST_CUDA=1`; skipped elsewhere, so that CI without one stays green):
/// the first step's losses on CUDA in fp32 equal the CPU's from the same weights, queues and
/// batch; MiniLM (`--init`) trains 300 steps in bf16 on the bundled Wikipedia sample with
/// finite, falling losses; `--resume` on CUDA continues that run; and its export loads in
/// transformers with spe's outputs.
#[test]
fn on_a_gpu_the_first_step_equals_the_cpus_and_bf16_training_learns_and_resumes() {
    if std::env::var_os("SPE_TEST_CUDA").is_none() {
        eprintln!("skipped: SPE_TEST_CUDA is not set (set it on a machine with a GPU)");
        return;
    }
    assert!(tch::Cuda::is_available(), "SPE_TEST_CUDA is set, but libtorch finds no CUDA device");
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let cuda = Device::Cuda(0);

    // One micro-batch through the same weights and queues on both devices, without dropout
    // (its masks come from each device's own generator).
    let out = shards(dir.path(), 40);
    let set = Arc::new(ShardSet::open(&[out]).unwrap());
    let batch = set.stream(&LoaderConfig { micro_batch: 8, ..Default::default() }, 1, 0).unwrap().next_batch().unwrap();
    let config = trainer::load_config(&options(dir.path(), dir.path(), &no_dropout())).unwrap();
    let weights = ObjectiveConfig { tbo: 1.0, spo: 1.0, cspo: 1.0 };
    let first_losses = |device: Device, from: Option<(&nn::VarStore, &Moco)>| {
        tch::manual_seed(3);
        let mut vs = nn::VarStore::new(device);
        let encoder = Encoder::new(&vs.root(), &config.model);
        let heads = Heads::new(&vs.root(), &config.model);
        let mut moco = Moco::new(&vs, &config.model, &config.moco, device).unwrap();
        if let Some((cpu_vs, cpu_moco)) = from {
            vs.copy(cpu_vs).unwrap();
            let state = cpu_moco.state().into_iter().collect();
            moco.load_state(&state, Path::new("the CPU's MoCo")).unwrap();
        }
        let l = losses(&encoder, &heads, Some(&moco), &DeviceBatch::new(&batch, device), &weights).unwrap();
        let value = |t: &Tensor| f64::try_from(t.to_device(Device::Cpu)).unwrap();
        let values =
            [l.tbo.as_ref().map(value), l.spo.as_ref().map(value), l.cspo.as_ref().map(value), Some(value(&l.total))];
        (values, vs, moco)
    };
    let (on_cpu, cpu_vs, cpu_moco) = first_losses(Device::Cpu, None);
    let (on_cuda, _, _) = first_losses(cuda, Some((&cpu_vs, &cpu_moco)));
    for (name, (a, b)) in ["tbo", "spo", "cspo", "total"].iter().zip(on_cpu.iter().zip(&on_cuda)) {
        let (a, b) = (a.unwrap(), b.unwrap());
        // fp32 on both; cuBLAS and the CPU sum in different orders (TF32 is off in libtorch).
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{name}: {a} on the CPU, {b} on CUDA");
    }

    // MiniLM in bf16 on the bundled Wikipedia sample, tokenized with its own vocabulary.
    let bert = env_path("SPE_TEST_BERT");
    let wiki = dir.path().join("wiki");
    let dump = repo("data/sample/enwiki-sample-multistream.xml.bz2");
    ok(spe(&[
        "prep",
        "wiki",
        "--input",
        dump.to_str().unwrap(),
        "--out",
        wiki.to_str().unwrap(),
        "--tokenizer",
        bert.join("vocab.txt").to_str().unwrap(),
    ]));
    let set = [("steps", 300.into()), ("log_every", 10.into()), ("checkpoint_every", 150.into())];
    let run = dir.path().join("minilm");
    let mut bf16 = options(&wiki, &run, &set);
    bf16.init = Some(bert.clone());
    bf16.device = Some("cuda".into());
    let summary = trainer::run(&bf16).unwrap();
    let records = &summary.records;
    assert_eq!(records.len(), 30);
    assert!(records.iter().all(|r| r.loss.is_finite()), "a loss is not finite");
    let mean = |rows: &[StepRecord]| rows.iter().map(|r| r.loss).sum::<f64>() / rows.len() as f64;
    let (first, last) = (mean(&records[..3]), mean(&records[27..]));
    assert!(last < 0.9 * first, "the loss went from {first} to {last} over 300 bf16 steps");

    // Interrupted after step 150, then resumed on CUDA: it continues to step 300.
    let cut = dir.path().join("cut");
    interrupted_copy(&run, &cut, "step-00000300");
    let mut resume = options(&wiki, &cut, &set);
    resume.init = Some(bert);
    resume.device = Some("cuda".into());
    resume.resume = true;
    let resumed = trainer::run(&resume).unwrap();
    assert_eq!(resumed.steps, 150);
    let steps: Vec<u64> = metrics::read::<StepRecord>(&cut).unwrap().iter().map(|r| r.step).collect();
    assert_eq!(steps, (1..=30).map(|k| k * 10).collect::<Vec<_>>());

    // The export loads in transformers and computes what spe computes.
    let encoder = run.join("encoder");
    let bert_config = BertConfig::from_file(&encoder.join("config.json")).unwrap();
    let ids: Vec<Vec<i64>> = vec![vec![101, 1996, 4937, 2003, 2006, 1996, 13523, 1012, 102]];
    let mask = vec![vec![1i64; 9]];
    let ours = spe_outputs(&bert_config, &encoder.join("model.safetensors"), &ids, &mask);
    let difference = max_difference(&ours, &transformers_outputs(&encoder, &ids, &mask), &mask);
    assert!(difference < 1e-4, "largest difference {difference}");
}

/// `spe heldout` scores every checkpoint of a run on sentences it never trained on, each
/// objective as a loss and an accuracy in [0, 1], in the table and the JSON records alike.
#[test]
fn heldout_scores_every_checkpoint_on_unseen_sentences() {
    let _torch = torch();
    let dir = tempfile::tempdir().unwrap();
    let shards = shards(dir.path(), 60);
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let unseen: String = text.lines().skip(200).take(80).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("unseen.txt"), unseen).unwrap();
    let heldout = dir.path().join("heldout");
    prep(&[&dir.path().join("unseen.txt")], &heldout, &[]);
    let run = dir.path().join("run");
    let set = [("steps", 4.into()), ("checkpoint_every", 2.into()), ("moco.queue_size", 48.into())];
    trainer::run(&options(&shards, &run, &set)).unwrap();
    let out = dir.path().join("heldout.jsonl");
    let args = ["heldout", s(&run), "--shards", s(&heldout), "--rows", "32", "--batch", "16", "--out", s(&out)];
    let printed = ok(spe(&[&args[..], &["--device", "cpu"]].concat()));
    let table = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(table.contains("SPO acc") && table.lines().count() == 3, "{table}");
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.iter().map(|r| r["step"].as_u64().unwrap()).collect::<Vec<_>>(), [2, 4]);
    for r in &records {
        assert_eq!((r["rows"].as_u64(), r["cspo_candidates"].as_u64()), (Some(32), Some(16)));
        for key in ["tbo_accuracy", "spo_accuracy", "cspo_accuracy"] {
            let a = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{key} {a}");
        }
        for key in ["tbo_loss", "spo_loss", "cspo_loss"] {
            assert!(r[key].as_f64().unwrap().is_finite(), "{key}");
        }
    }
    // Scoring the same weights again gives the same figures: no dropout, no state.
    let again = dir.path().join("again.jsonl");
    ok(spe(&["heldout", s(&run), "--shards", s(&heldout), "--rows", "32", "--batch", "16", "--out", s(&again)]));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    let refused = spe(&["heldout", s(&run), "--shards", s(&heldout), "--out", s(&run.join("h.jsonl"))]);
    assert!(stderr(&refused).contains("lies inside the run"), "{}", stderr(&refused));
    let refused = spe(&["heldout", s(&run), "--shards", s(&heldout), "--rows", "500"]);
    assert!(stderr(&refused).contains("fewer than the 500 asked for"), "{}", stderr(&refused));
}
