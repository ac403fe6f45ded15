//! The sampler: from a tokenized sentence, the training samples of the paper's three
//! objectives, as the authors' `inputs/preprocess.py` intends.
//!
//! For each draw of a sentence, in this order: a span pair (s1, s2) and the segments
//! L, s1, M, s2, R ([`spans`]); up to two segments permuted for SPO ([`spo`]); the
//! sub-token sequence `[CLS] … [SEP]` of the permuted words; TBO masking ([`tbo`]); the
//! CSPO view masks ([`views`]). All randomness comes from the sentence's own stream
//! ([`crate::rng`]).

pub mod spans;
pub mod spo;
pub mod tbo;
pub mod views;

use crate::counts::{count, Counts};
use crate::rng;
use crate::tokenize::{SpecialIds, TokenizedSentence, Words};
use anyhow::{ensure, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use spans::{Span, SpanPair};
pub use spo::SpoTarget;
pub use tbo::TboTarget;

/// Configuration of the sampler. The defaults are the paper's and the reference code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Sentences with fewer words are dropped.
    pub min_words: usize,
    /// Sentences whose `[CLS] … [SEP]` sequence is longer are dropped.
    pub max_subtokens: usize,
    /// Shortest span length in words.
    pub span_len_min: u32,
    /// Longest span length in words.
    pub span_len_max: u32,
    /// Parameter p of P(L) ∝ p(1-p)^(L-1).
    pub span_len_p: f64,
    /// Span draws per sentence before it is dropped for lack of a pair.
    pub max_tries: u32,
    /// Segments shorter than this are never permuted (first, middle and last must exist).
    pub spo_min_len: u32,
    /// Most segments permuted per sample.
    pub spo_max_segments: usize,
    /// Share of a sentence's sub-tokens (without `[CLS]`, `[SEP]`) to mask for TBO.
    pub tbo_ratio: f64,
    /// Most TBO pieces per sample (before the last word's overshoot).
    pub tbo_max: usize,
    /// Samples drawn per sentence (the dupe factor of BERT's data preparation).
    pub dupe_factor: u32,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            min_words: 2,
            max_subtokens: 128,
            span_len_min: 1,
            span_len_max: 10,
            span_len_p: 0.2,
            max_tries: 1000,
            spo_min_len: 3,
            spo_max_segments: 2,
            tbo_ratio: 0.15,
            tbo_max: 20,
            dupe_factor: 1,
        }
    }
}

/// Why a sentence or a draw produced no sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Fewer than `min_words` words.
    TooFewWords,
    /// More than `max_subtokens` sub-tokens with `[CLS]` and `[SEP]`.
    TooManySubtokens,
    /// No two non-overlapping spans found within `max_tries` draws.
    NoSpanPair,
}

impl DropReason {
    /// The key used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooFewWords => "too_few_words",
            DropReason::TooManySubtokens => "too_many_subtokens",
            DropReason::NoSpanPair => "no_span_pair",
        }
    }
}

/// One row of a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The document's id.
    pub doc_id: String,
    /// The document's title, where the corpus has one.
    pub title: Option<String>,
    /// The sentence's index within its document.
    pub sent_id: i32,
    /// Which of the `dupe_factor` draws of the sentence.
    pub draw: i32,
    /// The words in the order the model sees them (after permutation).
    pub words: Words,
    /// What the model reads.
    pub inputs: Inputs,
}

/// The part of a sample the model reads, and all that training decodes of a shard row.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// `[CLS]`, the permuted words' sub-tokens with TBO masks applied, `[SEP]`.
    pub input_ids: Vec<i32>,
    /// Position in `input_ids` of each word's first sub-token.
    pub word_starts: Vec<i32>,
    /// The span pair, in word offsets.
    pub pair: SpanPair,
    /// Permuted segments.
    pub spo: Vec<SpoTarget>,
    /// Masked sub-tokens.
    pub tbo: Vec<TboTarget>,
    /// Sub-tokens of s1 and s2.
    pub target_mask: Vec<bool>,
    /// Sub-tokens of L, M and R.
    pub context_mask: Vec<bool>,
}

/// Draws samples from tokenized sentences.
pub struct Sampler {
    config: SampleConfig,
    lengths: spans::SpanLengths,
    special: SpecialIds,
}

/// What sampling a run of sentences produced.
#[derive(Debug, Default)]
pub struct Sampled {
    /// The samples, in sentence then draw order.
    pub samples: Vec<Sample>,
    /// Sentences dropped whole, by reason.
    pub dropped_sentences: Counts,
    /// Draws that produced no sample, by reason.
    pub dropped_draws: Counts,
}

impl Sampler {
    /// A sampler; fails on an inconsistent configuration.
    pub fn new(config: SampleConfig, special: SpecialIds) -> Result<Sampler> {
        ensure!(config.min_words >= 2, "sample.min_words must be at least 2 (a span pair needs two words)");
        ensure!(config.max_subtokens >= 4, "sample.max_subtokens must be at least 4");
        ensure!(config.spo_min_len >= 3, "sample.spo_min_len must be at least 3 (first, middle and last word)");
        ensure!(config.spo_max_segments <= 5, "sample.spo_max_segments cannot exceed the 5 segments");
        ensure!((0.0..=1.0).contains(&config.tbo_ratio), "sample.tbo_ratio must lie in [0, 1]");
        ensure!(config.dupe_factor >= 1, "sample.dupe_factor must be at least 1");
        ensure!(config.max_tries >= 1, "sample.max_tries must be at least 1");
        let lengths = spans::SpanLengths::new(config.span_len_min, config.span_len_max, config.span_len_p)?;
        Ok(Sampler { config, lengths, special })
    }

    /// The configuration.
    pub fn config(&self) -> &SampleConfig {
        &self.config
    }

    /// Samples every draw of one sentence into `out`, drawing from the sentence's own
    /// random stream.
    pub fn sample_sentence(
        &self,
        seed: u64,
        doc_id: &str,
        sent_id: i32,
        sentence: &TokenizedSentence,
        out: &mut Sampled,
    ) {
        if sentence.word_count() < self.config.min_words {
            count(&mut out.dropped_sentences, DropReason::TooFewWords.as_str(), 1);
            return;
        }
        if sentence.ids.len() + 2 > self.config.max_subtokens {
            count(&mut out.dropped_sentences, DropReason::TooManySubtokens.as_str(), 1);
            return;
        }
        let mut rng = rng::stream(seed, doc_id, sent_id as u64); // ids count from 0
        for draw in 0..self.config.dupe_factor {
            match self.draw(sentence, &mut rng) {
                Some(mut sample) => {
                    sample.doc_id = doc_id.to_string();
                    sample.sent_id = sent_id;
                    sample.draw = draw as i32;
                    out.samples.push(sample);
                }
                None => count(&mut out.dropped_draws, DropReason::NoSpanPair.as_str(), 1),
            }
        }
    }

    /// One draw: span pair, SPO, sub-tokens, TBO and views. `None` without a span pair.
    fn draw<R: Rng + ?Sized>(&self, sentence: &TokenizedSentence, rng: &mut R) -> Option<Sample> {
        let cfg = &self.config;
        let n = sentence.word_count() as u32;
        let pair = spans::sample_pair(n, &self.lengths, cfg.max_tries, rng)?;

        let mut order: Vec<u32> = (0..n).collect();
        let spo = spo::permute_segments(&mut order, &pair.segments(n), cfg.spo_min_len, cfg.spo_max_segments, rng);

        let mut ids = Vec::with_capacity(sentence.ids.len() + 2);
        let mut bounds = Vec::with_capacity(order.len());
        ids.push(self.special.cls);
        for &w in &order {
            let start = ids.len() as u32;
            ids.extend_from_slice(sentence.pieces(w as usize));
            bounds.push((start, ids.len() as u32));
        }
        ids.push(self.special.sep);

        let budget = tbo::budget(ids.len() - 2, cfg.tbo_ratio, cfg.tbo_max);
        let tbo = tbo::mask_boundaries(&mut ids, &bounds, self.special.mask, budget, rng);
        let (target_mask, context_mask) = views::view_masks(&bounds, ids.len(), &pair);

        Some(Sample {
            doc_id: String::new(),
            title: None,
            sent_id: 0,
            draw: 0,
            words: sentence.words.in_order(&order),
            inputs: Inputs {
                input_ids: ids.iter().map(|&id| id as i32).collect(),
                word_starts: bounds.iter().map(|&(s, _)| s as i32).collect(),
                pair,
                spo,
                tbo,
                target_mask,
                context_mask,
            },
        })
    }
}

impl Inputs {
    /// The `[start, end)` of each word's sub-tokens in `input_ids`.
    pub fn word_bounds(&self) -> Vec<(u32, u32)> {
        let sep = self.input_ids.len().saturating_sub(1) as u32;
        let starts = self.word_starts.iter().map(|&s| s as u32);
        let ends = starts.clone().skip(1).chain(std::iter::once(sep));
        starts.zip(ends).collect()
    }

    /// The invariants batching and the model's indexing rely on, checked on every row the
    /// loader decodes, so that a damaged shard fails with a message instead of an
    /// out-of-range index inside the model; `vocab` is the manifest's vocabulary size.
    /// ([`Sample::check`] is the whole set, which `spe verify` applies.)
    pub fn check_indices(&self, vocab: u64) -> Result<()> {
        let len = self.input_ids.len();
        ensure!(len >= 2, "input_ids has {len} tokens");
        ensure!(
            self.target_mask.len() == len && self.context_mask.len() == len,
            "masks and input_ids differ in length"
        );
        ensure!(self.word_starts.iter().all(|&s| 0 < s && (s as usize) < len), "a word start lies outside input_ids");
        let words = self.word_starts.len() as u32;
        ensure!(
            self.pair.s1.end <= self.pair.s2.start && self.pair.s2.end <= words,
            "span pair {:?} does not fit {words} words",
            self.pair
        );
        let ids = self.input_ids.iter().chain(self.tbo.iter().map(|t| &t.label));
        if let Some(id) = ids.copied().find(|&id| id < 0 || id as u64 >= vocab) {
            anyhow::bail!("token id {id} lies outside the vocabulary of {vocab} entries the manifest records");
        }
        ensure!(self.spo.iter().all(SpoTarget::in_range), "SPO target out of range");
        ensure!(
            self.tbo.iter().all(|t| 0 < t.anchor && (t.anchor as usize) < len && t.offset >= 1 && t.label >= 0),
            "TBO target out of range"
        );
        Ok(())
    }
}

impl Sample {
    /// Checks the invariants every sample satisfies; used by `spe verify` and the tests.
    /// Returns a description of the first violation.
    pub fn check(&self, special: &SpecialIds) -> std::result::Result<(), String> {
        let Inputs { input_ids, word_starts, pair, spo, tbo, target_mask, context_mask } = &self.inputs;
        let len = input_ids.len();
        let n = self.words.len() as u32;
        let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        ensure(len >= 4, "input_ids is shorter than [CLS] w w [SEP]")?;
        ensure(input_ids[0] == special.cls as i32, "input_ids does not start with [CLS]")?;
        ensure(input_ids[len - 1] == special.sep as i32, "input_ids does not end with [SEP]")?;
        ensure(word_starts.len() == self.words.len(), "word_starts and words differ in length")?;
        ensure(word_starts.first() == Some(&1), "the first word does not start at position 1")?;
        ensure(word_starts.windows(2).all(|w| w[0] < w[1]), "word_starts is not increasing")?;
        ensure(*word_starts.last().unwrap() < len as i32 - 1, "a word starts at or after [SEP]")?;
        let (s1, s2) = (pair.s1, pair.s2);
        ensure(
            !s1.is_empty() && !s2.is_empty() && s1.end <= s2.start && s2.end <= n,
            "the span pair is empty, unordered or out of range",
        )?;
        ensure(target_mask.len() == len && context_mask.len() == len, "a view mask differs in length from input_ids")?;
        let (target, context) = views::view_masks(&self.inputs.word_bounds(), len, pair);
        ensure(&target == target_mask, "target_mask does not cover exactly the sub-tokens of s1 and s2")?;
        ensure(&context == context_mask, "context_mask does not cover exactly the sub-tokens of L, M and R")?;
        let segments = pair.segments(n);
        ensure(spo.windows(2).all(|w| w[0].segment < w[1].segment), "spo segments are repeated or unsorted")?;
        for t in spo {
            ensure(t.in_range(), "an spo segment or label is out of range")?;
            ensure(segments[t.segment as usize].len() >= 3, "a permuted segment has fewer than 3 words")?;
        }
        ensure(tbo.windows(2).all(|w| w[0].position < w[1].position), "tbo positions are repeated or unsorted")?;
        for t in tbo {
            let p = t.position as usize;
            ensure(p > 0 && p < len - 1, "a tbo position is outside the words")?;
            ensure(input_ids[p] == special.mask as i32, "a tbo position is not [MASK] in input_ids")?;
            ensure(
                t.offset >= 1 && t.anchor + i32::from(t.offset) == t.position,
                "a tbo offset does not match its anchor",
            )?;
            ensure(word_starts.binary_search(&t.anchor).is_ok(), "a tbo anchor is not a word's first sub-token")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::tests::cased;

    fn sampler(config: SampleConfig) -> (Sampler, &'static crate::tokenize::WordTokenizer) {
        let t = cased();
        (Sampler::new(config, t.special_ids()).unwrap(), t)
    }

    #[test]
    fn samples_keep_words_and_pieces_aligned() {
        let (s, t) = sampler(SampleConfig { dupe_factor: 50, ..SampleConfig::default() });
        let text = "Zhuangzi's philosophy has been described by various sources as anarchist, notably by Pierre-Joseph Proudhon.";
        let sentence = t.tokenize(text).unwrap();
        let mut out = Sampled::default();
        s.sample_sentence(1, "doc", 0, &sentence, &mut out);
        assert_eq!(out.samples.len(), 50);
        let mut saw_tbo = false;
        for sample in &out.samples {
            sample.check(&t.special_ids()).unwrap();
            // Each word's pieces (unmasked) spell the word itself.
            let mut unmasked = sample.inputs.input_ids.clone();
            for target in &sample.inputs.tbo {
                unmasked[target.position as usize] = target.label;
            }
            for (w, (start, end)) in sample.inputs.word_bounds().into_iter().enumerate() {
                let pieces: String =
                    (start..end).map(|p| t.token(unmasked[p as usize] as u32).unwrap().replace("##", "")).collect();
                assert_eq!(Some(pieces.as_str()), sample.words.get(w));
            }
            let mut sorted: Vec<String> = sample.words.iter().map(String::from).collect();
            sorted.sort();
            let mut original: Vec<String> = sentence.words.iter().map(String::from).collect();
            original.sort();
            assert_eq!(sorted, original, "permutation keeps the multiset of words");
            saw_tbo |= !sample.inputs.tbo.is_empty();
        }
        assert!(saw_tbo);
    }

    #[test]
    fn short_and_long_sentences_are_dropped_and_counted() {
        let (s, t) = sampler(SampleConfig { max_subtokens: 8, ..SampleConfig::default() });
        let mut out = Sampled::default();
        s.sample_sentence(1, "d", 0, &t.tokenize("Alone").unwrap(), &mut out);
        s.sample_sentence(1, "d", 1, &t.tokenize("one two three four five six seven").unwrap(), &mut out);
        s.sample_sentence(1, "d", 2, &t.tokenize("one two three four five six").unwrap(), &mut out);
        assert_eq!(out.samples.len(), 1);
        assert_eq!(out.dropped_sentences.get("too_few_words"), Some(&1));
        assert_eq!(out.dropped_sentences.get("too_many_subtokens"), Some(&1));
    }

    #[test]
    fn no_pair_within_the_tries_is_counted_per_draw() {
        // Two words and spans of at least 2 words: no pair can fit.
        let (s, t) = sampler(SampleConfig { span_len_min: 2, dupe_factor: 3, ..SampleConfig::default() });
        let mut out = Sampled::default();
        s.sample_sentence(1, "d", 0, &t.tokenize("two words").unwrap(), &mut out);
        assert!(out.samples.is_empty());
        assert_eq!(out.dropped_draws.get("no_span_pair"), Some(&3));
    }

    #[test]
    fn inconsistent_configurations_are_rejected() {
        let special = cased().special_ids();
        for bad in [
            SampleConfig { spo_min_len: 2, ..SampleConfig::default() },
            SampleConfig { min_words: 1, ..SampleConfig::default() },
            SampleConfig { dupe_factor: 0, ..SampleConfig::default() },
            SampleConfig { tbo_ratio: 1.5, ..SampleConfig::default() },
        ] {
            assert!(Sampler::new(bad, special).is_err());
        }
    }
}
