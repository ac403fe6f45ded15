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
