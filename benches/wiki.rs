//! Throughput of each `spe prep wiki` stage on the bundled dump sample, in pages of the dump
//! per second (criterion's "elem/s") and MB of dump XML per second ("B/s"): decompression
//! (sequential and by parallel streams), XML parsing, cleaning, sentence splitting,
//! tokenizing and sampling, and the whole pipeline.
//!
//! Run with `cargo bench --bench wiki`; `cargo bench --bench wiki -- decompress` runs one group.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spe::clean::{CleanConfig, Cleaner, SplitConfig, Splitter};
use spe::corpus::wiki::dump::{DumpReader, Page};
use spe::corpus::wiki::multistream::{Boundaries, ParallelBz2};
use spe::corpus::wiki::WikiInput;
use spe::prep::{PrepConfig, PrepOptions};
use spe::sample::{SampleConfig, Sampled, Sampler};
use spe::tokenize::{TokenizerConfig, WordTokenizer};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

// As in the spe binary: the pipeline's many small allocations on several threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sample_xml() -> Vec<u8> {
    let mut xml = Vec::new();
    let file = std::fs::File::open(repo("data/sample/enwiki-sample.xml.bz2")).unwrap();
    bzip2::read::MultiBzDecoder::new(file).read_to_end(&mut xml).unwrap();
    xml
}

/// The sample's pages repeated `times` times in one XML export, each copy's page ids
/// shifted past the last's, as a dump lists each page once by increasing id.
fn repeated_xml(times: usize) -> Vec<u8> {
    let xml = String::from_utf8(sample_xml()).unwrap();
    let (first, last) = (xml.find("  <page>").unwrap(), xml.rfind("</mediawiki>").unwrap());
    let page_id = regex::Regex::new(r"(</ns>\s*<id>)(\d+)(</id>)").unwrap();
    let copies: String = (0..times)
        .map(|copy| {
            page_id.replace_all(&xml[first..last], |c: &regex::Captures| {
                let id: u64 = c[2].parse().unwrap();
                format!("{}{}{}", &c[1], id + copy as u64 * 100_000_000, &c[3])
            })
        })
        .collect();
    format!("{}{}{}", &xml[..first], copies, &xml[last..]).into_bytes()
}

/// `xml` compressed as many bzip2 streams of about `stream_bytes`, cut at page ends, as
/// Wikipedia's multistream dumps are.
fn multistream(xml: &[u8], stream_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < xml.len() {
        let mut end = (start + stream_bytes).min(xml.len());
        if let Some(k) = memchr::memmem::find(&xml[end..], b"</page>\n") {
            end += k + 8;
        } else {
            end = xml.len();
        }
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        enc.write_all(&xml[start..end]).unwrap();
        out.extend(enc.finish().unwrap());
        start = end;
    }
    out
}

/// Pages and bytes of dump XML, the two throughputs reported.
fn throughput(xml: &[u8]) -> Throughput {
    let pages = memchr::memmem::find_iter(xml, b"<page>").count() as u64;
    Throughput::ElementsAndBytes { elements: pages, bytes: xml.len() as u64 }
}

fn pages(xml: &[u8]) -> Vec<Page> {
    let mut reader = DumpReader::new(xml, "sample", 16 << 20);
    std::iter::from_fn(|| reader.next_page().unwrap()).filter(|p| p.ns == 0 && !p.redirect).collect()
}

fn decompress(c: &mut Criterion) {
    let xml = repeated_xml(10);
    let compressed = multistream(&xml, 1 << 20);
    let mut group = c.benchmark_group("decompress");
    group.throughput(throughput(&xml));
    group.sample_size(10);
    group.bench_function("bzip2_sequential", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            bzip2::read::MultiBzDecoder::new(&compressed[..]).read_to_end(&mut out).unwrap();
            out.len()
        })
    });
    for threads in [1, 2] {
        group.bench_function(format!("multistream_scan_{threads}_threads"), |b| {
            b.iter(|| {
                let raw = Box::new(std::io::Cursor::new(compressed.clone()));
                let mut out = Vec::new();
                ParallelBz2::new(raw, Boundaries::Scan, 0, threads, "bench".into())
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

fn stages(c: &mut Criterion) {
    let xml = sample_xml();
    let articles = pages(&xml);
    let cleaner = Cleaner::new(CleanConfig::default());
    let splitter = Splitter::new(&SplitConfig::default());
    let tokenizer = WordTokenizer::load(&TokenizerConfig {
        path: repo("data/bert-base-cased-vocab.txt"),
        ..TokenizerConfig::default()
    })
    .unwrap();
    let sampler = Sampler::new(SampleConfig::default(), tokenizer.special_ids()).unwrap();
    let paragraphs: Vec<Vec<String>> = articles.iter().map(|p| cleaner.paragraphs(&p.text)).collect();
    let sentences: Vec<&str> = paragraphs.iter().flatten().flat_map(|p| splitter.split(p)).collect();

    let mut group = c.benchmark_group("stage");
    group.throughput(throughput(&xml));
    group.sample_size(20);
    group.bench_function("parse_xml", |b| b.iter(|| pages(black_box(&xml)).len()));
    group.bench_function("clean", |b| {
        b.iter(|| articles.iter().map(|p| cleaner.paragraphs(&p.text).len()).sum::<usize>())
    });
    group.bench_function("split", |b| {
        b.iter(|| paragraphs.iter().flatten().map(|p| splitter.split(p).len()).sum::<usize>())
    });
    group.bench_function("tokenize", |b| {
        b.iter(|| sentences.iter().map(|s| tokenizer.tokenize(s).unwrap().ids.len()).sum::<usize>())
    });
    let tokenized: Vec<_> = sentences.iter().map(|s| tokenizer.tokenize(s).unwrap()).collect();
    group.bench_function("sample", |b| {
        b.iter(|| {
            let mut out = Sampled::default();
            for (i, sentence) in tokenized.iter().enumerate() {
                sampler.sample_sentence(42, "bench", i as i32, sentence, &mut out);
            }
            out.samples.len()
        })
    });
    group.finish();
}

/// `spe prep wiki` end to end on the sample repeated 10 times in multistream form.
/// Cleaning nested link markup at two depths: markup handled in linear time takes ten
/// times as long at ten times the depth (the unit test checks only what is left).
fn pathological(c: &mut Criterion) {
    let cleaner = Cleaner::new(CleanConfig::default());
    let mut group = c.benchmark_group("pathological");
    group.sample_size(10);
    for depth in [10_000, 100_000] {
        let nested = format!("{}x{}", "[[a|".repeat(depth), "]]".repeat(depth));
        group.throughput(Throughput::Bytes(nested.len() as u64));
        group.bench_function(format!("nested_links_{depth}"), |b| {
            b.iter(|| cleaner.paragraphs(black_box(&nested)).len())
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let xml = repeated_xml(10);
    let dump = dir.path().join("sample10-multistream.xml.bz2");
    std::fs::write(&dump, multistream(&xml, 1 << 20)).unwrap();
    let config = PrepConfig {
        tokenizer: TokenizerConfig { path: repo("data/bert-base-cased-vocab.txt"), ..TokenizerConfig::default() },
        ..PrepConfig::default()
    };
    let mut group = c.benchmark_group("pipeline");
    group.throughput(throughput(&xml));
    group.sample_size(10);
    for threads in [1, 2] {
        let options = PrepOptions { out: dir.path().join("out"), threads, force: true, partition: None };
        group.bench_function(format!("prep_wiki_{threads}_threads"), |b| {
            b.iter(|| {
                spe::prep::wiki(vec![WikiInput { dump: dump.clone(), index: None }], &config, &options)
                    .unwrap()
                    .0
                    .totals
                    .samples
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decompress, stages, pathological, pipeline);
criterion_main!(benches);
