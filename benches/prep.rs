//! Throughput of each `spe prep` stage and of the whole pipeline on the bundled sample of
//! real Wikipedia sentences, in sentences per second (criterion's "elem/s"), next to the
//! tokenizers crate alone as the baseline.
//!
//! Run with `cargo bench --bench prep`; `cargo bench --bench prep -- pipeline` runs one group.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use spe::prep::{PrepConfig, PrepOptions};
use spe::sample::{SampleConfig, Sampled, Sampler};
use spe::shard::schema::to_batch;
use spe::shard::{ShardConfig, ShardWriter};
use spe::tokenize::{TokenizerConfig, WordTokenizer};
use std::hint::black_box;
use std::path::{Path, PathBuf};

// As in the spe binary: the pipeline's many small allocations on several threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sentences() -> Vec<String> {
    let text = std::fs::read_to_string(repo("data/sample/enwiki-sentences.txt")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

fn tokenizer() -> WordTokenizer {
    WordTokenizer::load(&TokenizerConfig { path: repo("data/bert-base-cased-vocab.txt"), ..TokenizerConfig::default() })
        .unwrap()
}

fn stages(c: &mut Criterion) {
    let sentences = sentences();
    let t = tokenizer();
    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(sentences.len() as u64));
    group.sample_size(20);

    group.bench_function("tokenize", |b| {
        b.iter(|| sentences.iter().map(|s| t.tokenize(s).unwrap().ids.len()).sum::<usize>())
    });

    let tokenized: Vec<_> = sentences.iter().map(|s| t.tokenize(s).unwrap()).collect();
    let sampler = Sampler::new(SampleConfig::default(), t.special_ids()).unwrap();
    let sample_all = || {
        let mut out = Sampled::default();
        for (i, sentence) in tokenized.iter().enumerate() {
            sampler.sample_sentence(42, "bench#0", i as i32, sentence, &mut out);
        }
        out.samples
    };
    group.bench_function("sample", |b| b.iter(|| black_box(sample_all()).len()));

    let samples = sample_all();
    group.bench_function("to_arrow", |b| b.iter(|| to_batch(black_box(&samples)).unwrap().num_rows()));
    group.bench_function("write_parquet", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let mut writer = ShardWriter::new(dir.path(), ShardConfig::default(), vec![]).unwrap();
                writer.write(&samples).unwrap();
                writer.finish().unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// The tokenizers crate alone: `encode_batch` of the same sentences with BERT's pipeline,
/// the speed a user gets without spe.
fn baseline(c: &mut Criterion) {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::Tokenizer;
    let sentences = sentences();
    let vocab = repo("data/bert-base-cased-vocab.txt");
    let mut tokenizer = Tokenizer::new(WordPiece::from_file(vocab.to_str().unwrap()).build().unwrap());
    tokenizer.with_normalizer(Some(BertNormalizer::new(true, true, None, false))).unwrap();
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    let inputs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(sentences.len() as u64));
    group.sample_size(20);
    group.bench_function("tokenizers_encode_batch", |b| {
        b.iter(|| tokenizer.encode_batch(inputs.clone(), true).unwrap().len())
    });
    group.finish();
}

/// `spe prep text` end to end on the sample repeated 20 times (14,000 sentences, 2 MB).
fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample20.txt");
    let text = std::fs::read_to_string(repo("data/sample/enwiki-sentences.txt")).unwrap();
    std::fs::write(&input, vec![text.as_str(); 20].join("\n")).unwrap();
    let config = PrepConfig {
        tokenizer: TokenizerConfig { path: repo("data/bert-base-cased-vocab.txt"), ..TokenizerConfig::default() },
        ..PrepConfig::default()
    };
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(20 * sentences().len() as u64));
    group.sample_size(10);
    for threads in [1, 2] {
        let options = PrepOptions { out: dir.path().join("out"), threads, force: true, partition: None };
        group.bench_function(format!("prep_text_{threads}_threads"), |b| {
            b.iter(|| spe::prep::text(vec![input.clone()], &config, &options).unwrap().0.totals.samples)
        });
    }
    group.finish();
}

criterion_group!(benches, stages, baseline, pipeline);
criterion_main!(benches);
