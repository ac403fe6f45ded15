//! Fine-tuning and prediction throughput of the extractor, in sentences per second
//! (criterion's "elem/s"), on the 52 real sentences of the bundled SciERC training sample,
//! for the paper's set-up (the tagger, the classifiers reading the paper's inputs) and spe's
//! default (every span up to 10 words with 100 negatives a sentence, the entity edges and
//! the pair's arguments read too): one optimizer step on a batch of the default size
//! (candidate spans and pairs, backward, clipping, AdamW), and prediction of all 52. The
//! sentence encoder has the size of all-MiniLM-L6-v2 (6 layers, 384 hidden) with random
//! weights, the span encoders the paper's sizes; in training the relation candidates come
//! from the gold entities.
//!
//! Run with `cargo bench -p spe-trainer --bench finetune`; `SPE_BENCH_DEVICE` picks the
//! device (`cpu`, `cuda`; CUDA where there is one by default, with bf16 autocast).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spe::prep::{PrepConfig, PrepOptions};
use spe::shard::labeled::read_split;
use spe::shard::manifest::LabeledManifest;
use spe::tokenize::TokenizerConfig;
use spe_trainer::extract::candidates::CandidatesConfig;
use spe_trainer::extract::labels::Scheme;
use spe_trainer::extract::model::{ClassifiersConfig, Extractor};
use spe_trainer::extract::saved::{Description, PredictionConfig};
use spe_trainer::extract::step::{self, Mode};
use spe_trainer::finetune::{labels_of, predict_rows, FinetuneConfig};
use spe_trainer::model::bert::BertConfig;
use spe_trainer::runtime::device::{autocast_bfloat16, parse_device};
use spe_trainer::runtime::optim::AdamW;
use std::path::{Path, PathBuf};
use tch::nn;

fn repo(path: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

fn finetune(c: &mut Criterion) {
    let device = parse_device(std::env::var("SPE_BENCH_DEVICE").ok().as_deref()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("scierc");
    let config = PrepConfig {
        tokenizer: TokenizerConfig { path: repo("data/bert-base-cased-vocab.txt"), ..TokenizerConfig::default() },
        ..PrepConfig::for_corpus(spe::corpus::CorpusName::Scierc)
    };
    let inputs = spe::prep::labeled::LabeledInputs {
        splits: vec![("train".into(), repo("data/sample/scierc/train.json"))],
        documents: None,
        types: None,
    };
    spe::prep::labeled::run(
        spe::corpus::CorpusName::Scierc,
        &inputs,
        &config,
        &PrepOptions { out: data.clone(), threads: 0, force: true, partition: None },
    )
    .unwrap();
    let manifest = LabeledManifest::read(&data).unwrap();
    let rows = read_split(&data, &manifest, "train").unwrap();
    let labels = labels_of(&manifest, Scheme::Bieou).unwrap();
    let bert = BertConfig {
        hidden_size: 384,
        num_hidden_layers: 6,
        intermediate_size: 1536,
        num_attention_heads: 12,
        ..BertConfig::default()
    };
    let finetune = FinetuneConfig::default();
    let autocast = device.is_cuda() && finetune.optim.bf16;
    if autocast {
        autocast_bfloat16();
    }
    let batch = &rows[..finetune.batch_size];
    let gold = vec![true; batch.len()];

    let mut group = c.benchmark_group("finetune");
    group.sample_size(10);
    let set_ups = [
        (CandidatesConfig::paper(), ClassifiersConfig::paper()),
        (CandidatesConfig::default(), ClassifiersConfig::default()),
    ];
    for (candidates, classifiers) in set_ups {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(device);
        let model = Extractor::new(&vs.root(), &bert, &finetune.span, &labels, &classifiers);
        let mut optimizer = AdamW::new(&vs, &spe_trainer::runtime::optim::OptimConfig::default());
        let description = Description {
            format: spe::run::layout::EXTRACTOR_FORMAT.into(),
            labels: labels.clone(),
            bert: bert.clone(),
            span: finetune.span.clone(),
            tokenizer: manifest.tokenizer.clone(),
            tokenizer_file: String::new(),
            candidates: candidates.clone(),
            classifiers,
            prediction: PredictionConfig { batch_size: 32, bf16: true },
            weights_sha256: None,
        };
        let name = format!("{:?}", candidates.proposer).to_lowercase();
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function(format!("{name}_step_{}_sentences_{device:?}", batch.len()), |b| {
            b.iter(|| {
                let out = tch::autocast(autocast, || {
                    let mode = Mode::Train { gold_entities: &gold, seed: 1, weights: Default::default() };
                    step::run(&model, &labels, &candidates, batch, device, mode)
                })
                .unwrap();
                let loss = out.loss.unwrap();
                loss.backward();
                optimizer.clip_gradients(1.0);
                optimizer.step(2.5e-5).unwrap();
                f64::try_from(loss).unwrap()
            })
        });
        group.throughput(Throughput::Elements(rows.len() as u64));
        group.bench_function(format!("{name}_predict_{}_sentences_{device:?}", rows.len()), |b| {
            b.iter(|| predict_rows(&model, &description, &rows, device).unwrap().len())
        });
    }
    group.finish();
}

criterion_group!(benches, finetune);
criterion_main!(benches);
