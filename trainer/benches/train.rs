//! Training throughput of the paper's model (BERT-base, span and span-pair encoders, all
//! three objectives with MoCo) at sequence length 128, in samples per second (criterion's
//! "elem/s"; tokens per second are 128 times that). One iteration is one optimizer step on
//! a micro-batch: both views through the query encoder and the heads, both views through
//! the key encoder, backward, clipping, AdamW, momentum update and enqueue.
//!
//! Run with `cargo bench -p spe-trainer --bench train`. `SPE_BENCH_DEVICE` picks the
//! device (`cpu`, `cuda`; CUDA where there is one by default, with bf16 autocast) and
//! `SPE_BENCH_BATCH` the micro-batch (16 by default).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spe::batch::collate;
use spe::sample::{Inputs, Span, SpanPair, SpoTarget, TboTarget};
use spe::tokenize::SpecialIds;
use spe_trainer::model::{Encoder, Heads};
use spe_trainer::runtime::device::{autocast_bfloat16, parse_device};
use spe_trainer::runtime::optim::AdamW;
use spe_trainer::train::device_batch::DeviceBatch;
use spe_trainer::train::moco::Moco;
use spe_trainer::train::objectives::losses;
use spe_trainer::train::TrainConfig;
use tch::nn;

const SEQ_LEN: usize = 128;

/// A row of exactly 128 sub-tokens: 84 words alternating one and two pieces, a span pair
/// of 4 and 5 words, 19 TBO pieces and two permuted segments, as the sampler makes them.
fn row(seed: usize) -> Inputs {
    let mut input_ids = vec![101];
    let mut word_starts = Vec::new();
    let mut bounds = Vec::new();
    while input_ids.len() < SEQ_LEN - 1 {
        let pieces = if word_starts.len() % 2 == 0 || input_ids.len() == SEQ_LEN - 2 { 1 } else { 2 };
        word_starts.push(input_ids.len() as i32);
        bounds.push((input_ids.len(), input_ids.len() + pieces));
        for p in 0..pieces {
            input_ids.push((1000 + (seed * 7919 + input_ids.len() * 31 + p) % 27000) as i32);
        }
    }
    input_ids.push(102);
    let pair = SpanPair { s1: Span { start: 10, end: 14 }, s2: Span { start: 40, end: 45 } };
    let in_pair = |w: usize| pair.s1.contains(w as u32) || pair.s2.contains(w as u32);
    let mut target_mask = vec![false; SEQ_LEN];
    let mut context_mask = vec![false; SEQ_LEN];
    for (w, &(s, e)) in bounds.iter().enumerate() {
        let mask = if in_pair(w) { &mut target_mask } else { &mut context_mask };
        mask[s..e].fill(true);
    }
    let tbo = bounds
        .iter()
        .filter(|(s, e)| e - s == 2)
        .step_by(2)
        .take(19)
        .map(|&(s, _)| TboTarget { position: s as i32 + 1, label: input_ids[s + 1], anchor: s as i32, offset: 1 })
        .collect();
    let spo = vec![SpoTarget { segment: 0, label: (seed % 6) as i8 }, SpoTarget { segment: 3, label: 2 }];
    Inputs { input_ids, word_starts, pair, spo, tbo, target_mask, context_mask }
}

fn train_step(c: &mut Criterion) {
    let device = parse_device(std::env::var("SPE_BENCH_DEVICE").ok().as_deref()).unwrap();
    let micro_batch: usize = std::env::var("SPE_BENCH_BATCH").ok().map_or(16, |b| b.parse().unwrap());
    let config = TrainConfig::default();
    let special = SpecialIds { cls: 101, sep: 102, mask: 103 };
    let rows: Vec<Inputs> = (0..micro_batch).map(row).collect();
    let batch = collate(&rows, &special);
    assert_eq!(batch.seq_len, SEQ_LEN);

    tch::manual_seed(1);
    let vs = nn::VarStore::new(device);
    let encoder = Encoder::new(&vs.root(), &config.model);
    let heads = Heads::new(&vs.root(), &config.model);
    let mut moco = Moco::new(&vs, &config.model, &config.moco, device).unwrap();
    let mut optimizer = AdamW::new(&vs, &config.optim);
    let autocast = device.is_cuda() && config.optim.bf16;
    if autocast {
        autocast_bfloat16();
    }

    let mut group = c.benchmark_group("train");
    group.throughput(Throughput::Elements(micro_batch as u64));
    group.sample_size(10);
    group.bench_function(format!("bert_base_seq128_step_{micro_batch}_{device:?}"), |b| {
        b.iter(|| {
            let device_batch = DeviceBatch::new(&batch, device);
            let result = tch::autocast(autocast, || {
                losses(&encoder, &heads, Some(&moco), &device_batch, &config.objectives).unwrap()
            });
            result.total.backward();
            optimizer.clip_gradients(config.optim.clip_norm);
            optimizer.step(1e-4);
            moco.momentum_update(&vs);
            moco.enqueue(result.keys.as_ref().unwrap());
            // Wait for the device so that each iteration is timed whole.
            f64::try_from(result.total).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
