//! The training loader's throughput in rows per second (criterion's "elem/s"): decoding
//! real shards, shuffling and padding them into micro-batches of 16 on one decoding thread,
//! as `spe train` consumes them. Compare with `cargo bench -p spe-trainer --bench train`,
//! the rows per second the model consumes.
//!
//! Run with `cargo bench --bench loader`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spe::batch::shards::ShardSet;
use spe::batch::LoaderConfig;
use spe::prep::{PrepConfig, PrepOptions};
use spe::tokenize::TokenizerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Shards of the bundled sentences repeated 20 times (13,940 rows in row groups of 1,024).
fn shards(dir: &Path) -> PathBuf {
    let input = dir.join("sample20.txt");
    let text = std::fs::read_to_string(repo("data/sample/enwiki-sentences.txt")).unwrap();
    std::fs::write(&input, vec![text.as_str(); 20].join("\n")).unwrap();
    let mut config = PrepConfig {
        tokenizer: TokenizerConfig { path: repo("data/bert-base-cased-vocab.txt"), ..TokenizerConfig::default() },
        ..PrepConfig::default()
    };
    config.shard.row_group_rows = 1024;
    let out = dir.join("shards");
    spe::prep::text(vec![input], &config, &PrepOptions { out: out.clone(), threads: 0, force: true, partition: None })
        .unwrap();
    out
}

fn loader(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let set = Arc::new(ShardSet::open(&[shards(dir.path())]).unwrap());
    let config = LoaderConfig { micro_batch: 16, decode_threads: 1, ..LoaderConfig::default() };
    let batches = set.rows() / 16;
    let mut group = c.benchmark_group("loader");
    group.throughput(Throughput::Elements(batches * 16));
    group.sample_size(10);
    group.bench_function("epoch_micro_batches_of_16", |b| {
        b.iter(|| {
            let mut stream = set.stream(&config, 1, 0).unwrap();
            (0..batches).map(|_| stream.next_batch().unwrap().tokens).sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, loader);
criterion_main!(benches);
