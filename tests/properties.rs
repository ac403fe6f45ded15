//! Property tests of the sampler over random sentences, tokenized with the paper's
//! vocabulary: every sample keeps the invariants of the shard format whatever the input.

mod common;

use proptest::prelude::*;
use spe::sample::spo::PERMUTATIONS;
use spe::sample::{tbo, SampleConfig, Sampled, Sampler};
use spe::tokenize::{Casing, TokenizerConfig, WordTokenizer};
use std::sync::OnceLock;

fn tokenizer() -> &'static WordTokenizer {
    static T: OnceLock<WordTokenizer> = OnceLock::new();
    T.get_or_init(|| WordTokenizer::load(&TokenizerConfig { path: common::vocab(), casing: Casing::Auto }).unwrap())
}

/// Words of one and of many pieces, punctuation, accents, CJK and unknown symbols.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["the", "of", "a", "is", "Paris", "in", "was", "and"]).prop_map(String::from),
        4 => prop::sample::select(vec!["anarchism", "Zhuangzi", "hierarchical", "self-governed", "Proudhon", "albedo",
            "photosynthesis", "antidisestablishmentarianism", "Kharijites"]).prop_map(String::from),
        2 => prop::sample::select(vec![",", ".", "(", ")", "\"", "'s", ";", "--"]).prop_map(String::from),
        1 => prop::sample::select(vec!["Étienne", "Boétie", "東京", "naïve", "\u{1F600}", "x\u{0301}y"]).prop_map(String::from),
        1 => "[a-zA-Z]{1,14}",
    ]
}

fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..70).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn samples_keep_every_invariant(text in sentence(), seed in any::<u32>(), dupe in 1u32..4, tbo_max in 1usize..25) {
        let t = tokenizer();
        let config = SampleConfig { dupe_factor: dupe, tbo_max, ..SampleConfig::default() };
        let sampler = Sampler::new(config.clone(), t.special_ids()).unwrap();
        let sentence = t.tokenize(&text).unwrap();
        let mut out = Sampled::default();
        sampler.sample_sentence(u64::from(seed), "doc", 0, &sentence, &mut out);
        let n = sentence.word_count();
        if n < 2 || sentence.ids.len() + 2 > config.max_subtokens {
            prop_assert!(out.samples.is_empty());
            prop_assert_eq!(out.dropped_sentences.values().sum::<u64>(), 1);
            return Ok(());
        }
        // Every sentence of two or more words gets its pair within the tries.
        prop_assert_eq!(out.samples.len(), dupe as usize);
        for sample in &out.samples {
            prop_assert_eq!(sample.check(&t.special_ids()), Ok(()));

            // Undoing each permutation restores the original word order; other segments are untouched.
            let mut words: Vec<String> = sample.words.iter().map(String::from).collect();
            for target in &sample.inputs.spo {
                let span = sample.inputs.pair.segments(n as u32)[target.segment as usize];
                let seg = &mut words[span.start as usize..span.end as usize];
                let len = seg.len();
                // Part sizes in the permuted order, then put each part back in its place.
                let sizes = [1, len - 2, 1];
                let mut parts: [Vec<String>; 3] = Default::default();
                let mut at = 0;
                for &p in &PERMUTATIONS[target.label as usize] {
                    parts[p] = seg[at..at + sizes[p]].to_vec();
                    at += sizes[p];
                }
                seg.clone_from_slice(&parts.concat());
            }
            prop_assert_eq!(words, sentence.words.iter().collect::<Vec<_>>());

            // Unmasked, each word's pieces are exactly its sub-tokens in the sentence.
            let mut ids = sample.inputs.input_ids.clone();
            for target in &sample.inputs.tbo {
                ids[target.position as usize] = target.label;
            }
            let original_index: Vec<usize> = {
                // The i-th word of the sample is a word of the sentence with equal text; match in order.
                let mut used = vec![false; n];
                sample.words.iter().map(|w| {
                    let i = (0..n).find(|&i| !used[i] && sentence.words.get(i) == Some(w)).unwrap();
                    used[i] = true;
                    i
                }).collect()
            };
            for (w, (start, end)) in sample.inputs.word_bounds().into_iter().enumerate() {
                let pieces: Vec<u32> = ids[start as usize..end as usize].iter().map(|&id| id as u32).collect();
                prop_assert_eq!(&pieces[..], sentence.pieces(original_index[w]));
            }

            // The TBO budget: reached unless the candidates run out, crossed by one word at most.
            let budget = tbo::budget(sample.inputs.input_ids.len() - 2, config.tbo_ratio, config.tbo_max);
            let maskable: usize = sample.inputs.word_bounds().iter().map(|(s, e)| (e - s - 1) as usize).sum();
            let masked = sample.inputs.tbo.len();
            prop_assert!(masked >= budget.min(maskable));
            let largest = sample.inputs.word_bounds().iter()
                .filter(|(s, _)| sample.inputs.tbo.iter().any(|t| t.anchor == *s as i32))
                .map(|(s, e)| (e - s - 1) as usize).max().unwrap_or(0);
            prop_assert!(masked == 0 || masked - largest < budget);
        }
    }
}

/// A generated sentence: words (none, few, or more than BERT's 512 positions hold), and
/// annotations that may be out of range, or relate an entity to itself.
#[derive(Debug, Clone)]
struct GenSentence {
    words: Vec<String>,
    entities: Vec<(u32, u32, &'static str)>,
    relations: Vec<(u32, u32, &'static str)>,
}

fn gen_sentence() -> impl Strategy<Value = GenSentence> {
    let words = prop_oneof![
        1 => Just(0usize),
        8 => 1usize..12,
        1 => 520usize..560,
    ]
    .prop_flat_map(|n| {
        prop::collection::vec(prop::sample::select(vec!["Graph", "parsing", "is", "fast", "(", "x"]), n)
    });
    (
        words,
        prop::collection::vec((0u32..14, 1u32..3, any::<bool>()), 0..4),
        prop::collection::vec((0u32..4, 0u32..4), 0..3),
    )
        .prop_map(|(words, entities, relations)| GenSentence {
            words: words.into_iter().map(String::from).collect(),
            entities: entities.into_iter().map(|(s, w, t)| (s, s + w, if t { "Task" } else { "Method" })).collect(),
            relations: relations.into_iter().map(|(h, t)| (h, t, "USED-FOR")).collect(),
        })
}

/// Documents with numeric or string ids, as SpERT (one record a sentence), DyGIE (one
/// line a document) or brat (one text and annotation file a document).
fn gen_documents() -> impl Strategy<Value = Vec<(bool, Vec<GenSentence>)>> {
    prop::collection::vec((any::<bool>(), prop::collection::vec(gen_sentence(), 1..4)), 1..6)
}

/// Writes `docs` in `format` into `dir`; returns the split file.
fn write_split(dir: &std::path::Path, format: &str, docs: &[(bool, Vec<GenSentence>)]) -> std::path::PathBuf {
    use serde_json::json;
    let id = |i: usize, numeric: bool| if numeric { json!(100 + i) } else { json!(format!("D-{i}")) };
    match format {
        "spert" => {
            let records: Vec<_> = docs
                .iter()
                .enumerate()
                .flat_map(|(i, (numeric, sentences))| {
                    sentences.iter().map(move |s| json!({"tokens": s.words,
                        "entities": s.entities.iter().map(|e| json!({"type": e.2, "start": e.0, "end": e.1})).collect::<Vec<_>>(),
                        "relations": s.relations.iter().map(|r| json!({"type": r.2, "head": r.0, "tail": r.1})).collect::<Vec<_>>(),
                        "orig_id": id(i, *numeric)}))
                })
                .collect();
            let path = dir.join("split.json");
            std::fs::write(&path, serde_json::to_string(&records).unwrap()).unwrap();
            path
        }
        "dygie" => {
            let mut lines = String::new();
            for (i, (_, sentences)) in docs.iter().enumerate() {
                let mut offset = 0u32;
                let (mut ner, mut relations) = (Vec::new(), Vec::new());
                for s in sentences {
                    ner.push(
                        s.entities.iter().map(|e| json!([e.0 + offset, e.1 + offset - 1, e.2])).collect::<Vec<_>>(),
                    );
                    let span = |k: u32| s.entities.get(k as usize).map(|e| (e.0 + offset, e.1 + offset - 1));
                    relations.push(
                        s.relations
                            .iter()
                            .filter_map(|r| Some(json!([span(r.0)?.0, span(r.0)?.1, span(r.1)?.0, span(r.1)?.1, r.2])))
                            .collect::<Vec<_>>(),
                    );
                    offset += s.words.len() as u32;
                }
                let words: Vec<&Vec<String>> = sentences.iter().map(|s| &s.words).collect();
                let doc = json!({"doc_key": format!("D-{i}"), "sentences": words, "ner": ner, "relations": relations});
                lines.push_str(&format!("{doc}\n"));
            }
            let path = dir.join("split.json");
            std::fs::write(&path, lines).unwrap();
            path
        }
        _ => {
            let mut ids = String::new();
            for (i, (_, sentences)) in docs.iter().enumerate() {
                let (mut text, mut ann, mut t) = (String::new(), String::new(), 0);
                for s in sentences {
                    let starts: Vec<usize> = s
                        .words
                        .iter()
                        .scan(text.len(), |at, w| {
                            let start = *at;
                            *at += w.len() + 1;
                            Some(start)
                        })
                        .collect();
                    let mut numbers = Vec::new();
                    for e in &s.entities {
                        let (a, b) = (e.0 as usize, e.1 as usize);
                        if b <= s.words.len() {
                            t += 1;
                            let end = starts[b - 1] + s.words[b - 1].len();
                            ann.push_str(&format!("T{t}\t{} {} {end}\t{}\n", e.2, starts[a], s.words[a..b].join(" ")));
                            numbers.push(t);
                        }
                    }
                    for (k, r) in s.relations.iter().enumerate() {
                        if let (Some(h), Some(tl)) = (numbers.get(r.0 as usize), numbers.get(r.1 as usize)) {
                            ann.push_str(&format!("R{}{k}\t{} Arg1:T{h} Arg2:T{tl}\n", t, r.2));
                        }
                    }
                    text.push_str(&s.words.join(" "));
                    text.push('\n');
                }
                std::fs::write(dir.join(format!("D-{i}.split.txt")), text).unwrap();
                std::fs::write(dir.join(format!("D-{i}.split.ann")), ann).unwrap();
                ids.push_str(&format!("D-{i}\n"));
            }
            let path = dir.join("split.ids");
            std::fs::write(&path, ids).unwrap();
            path
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the records, with bad ones skipped and counted, the labeled output spe
    /// writes passes `spe verify`, and every record is a kept sentence or a counted skip.
    #[test]
    fn every_labeled_output_passes_verify(docs in gen_documents(), format in prop::sample::select(vec!["spert", "dygie", "brat"])) {
        use spe::config::Override;
        use spe::corpus::CorpusName;
        use spe::prep::labeled::{run, LabeledInputs};
        use spe::prep::{PrepConfig, PrepOptions};
        let dir = tempfile::tempdir().unwrap();
        let split = write_split(dir.path(), format, &docs);
        let overrides = [
            Override::new("read.on_bad_record", "skip"),
            Override::new("labels.format", format),
            Override::new("tokenizer.path", common::vocab().display().to_string()),
        ];
        let config = PrepConfig::load(CorpusName::Labeled, None, &overrides).unwrap();
        let out = dir.path().join("out");
        let options = PrepOptions { out: out.clone(), threads: 1, force: false, partition: None };
        let inputs = LabeledInputs { splits: vec![("train".into(), split)], ..LabeledInputs::default() };
        match run(CorpusName::Labeled, &inputs, &config, &options) {
            Ok(manifest) => {
                let report = spe::shard::verify::verify(&out, spe::shard::verify::Inputs::Check).unwrap();
                prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
                let split = &manifest.splits["train"];
                let skipped: u64 = split.skipped_records.values().sum();
                let records = match format {
                    "spert" => docs.iter().map(|(_, s)| s.len() as u64).sum::<u64>(),
                    _ => docs.len() as u64,
                };
                let kept = if format == "spert" { split.stats.sentences } else { split.stats.documents };
                prop_assert!(kept + skipped >= records, "{kept} kept and {skipped} skipped of {records}");
                let numeric = docs.iter().filter(|(n, _)| *n).count() as u64;
                prop_assert!(format != "spert" || split.stats.numeric_ids <= numeric * 3);
            }
            // Nothing left to write is an error naming the split, never a panic.
            Err(e) => prop_assert!(format!("{e:#}").contains("holds no sentence"), "{e:#}"),
        }
    }
}
