//! Where the extractor's candidate entity spans come from, and how many of them reach the
//! relation classifier.
//!
//! - [`Proposer::Tagger`] is the paper's (§3.4, the authors' joint model): a BIEOU tagger
//!   over the words proposes the spans, and in training every gold span is added. What the
//!   tagger misses, nothing downstream can find.
//! - [`Proposer::Spans`] enumerates every span of at most `max_width` words, as SpERT
//!   (Eberts and Ulges, 2020) and PURE (Zhong and Chen, 2021) do: in training the gold
//!   spans and `negative_spans` of the others drawn at random per sentence, in prediction
//!   all of them. Each candidate still goes through the pre-trained span encoder, and each
//!   pair through the span-pair encoder; only the source of the candidates changes. It is
//!   spe's default: on SciERC with all-MiniLM-L6-v2 the tagger's recall capped what the
//!   classifiers could find (docs/performance.md, "Fine-tuning").
//!
//! Either way a sentence's relation candidates grow with the square of its entities, so at
//! most `max_pair_entities` of them (32: 496 pairs), the most confident first, are paired
//! (the paper pairs every entity; a bound keeps a long sentence of a half-trained model
//! within memory: at random weights most enumerated spans are typed as entities).
//! Prediction also scores the pairs in bounded chunks ([`super::step`]).

use anyhow::{ensure, Result};
use rand::seq::index;
use serde::{Deserialize, Serialize};
pub use spe::sample::spans::Span;

/// The source of candidate spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Proposer {
    /// The paper's BIEOU (or BIO) tagger.
    Tagger,
    /// Every span of at most `max_width` words.
    Spans,
}

/// How candidates are made (`[candidates]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CandidatesConfig {
    /// `spans` (every span up to `max_width` words) or `tagger` (the paper's).
    pub proposer: Proposer,
    /// The widest span, in words, that `spans` proposes (SpERT's 10; a gold entity wider
    /// than this is trained on but never predicted).
    pub max_width: u32,
    /// Spans that are no entity drawn per training sentence with `spans` (SpERT's 100);
    /// 0 takes them all.
    pub negative_spans: usize,
    /// The most entities of one sentence that are paired for relations, the most
    /// confident first.
    pub max_pair_entities: usize,
}

impl Default for CandidatesConfig {
    fn default() -> Self {
        CandidatesConfig { proposer: Proposer::Spans, max_width: 10, negative_spans: 100, max_pair_entities: 32 }
    }
}

impl CandidatesConfig {
    /// The paper's: the tagger proposes.
    pub fn paper() -> CandidatesConfig {
        CandidatesConfig { proposer: Proposer::Tagger, ..CandidatesConfig::default() }
    }

    /// Range checks, naming the key.
    pub fn check(&self) -> Result<()> {
        ensure!(
            (1..=512).contains(&self.max_width),
            "candidates.max_width must be 1 to 512 words (a BERT sentence's length), not {}",
            self.max_width
        );
        ensure!(
            self.negative_spans <= 100_000,
            "candidates.negative_spans must be at most 100000, not {}",
            self.negative_spans
        );
        ensure!(
            (1..=1000).contains(&self.max_pair_entities),
            "candidates.max_pair_entities must be 1 to 1000 (pairs grow with its square), not {}",
            self.max_pair_entities
        );
        Ok(())
    }
}

/// Every span of at most `max_width` words in a sentence of `words` words, by start, then
/// end.
pub fn every_span(words: u32, max_width: u32) -> impl Iterator<Item = Span> {
    (0..words).flat_map(move |start| (start + 1..=words.min(start + max_width)).map(move |end| Span::new(start, end)))
}

/// `count` of the spans of [`every_span`] that are not in `gold` (sorted), drawn without
/// replacement by `rng`, in span order; all of them when `count` is 0 or exceeds them.
pub fn negative_spans(words: u32, max_width: u32, gold: &[Span], count: usize, rng: &mut impl rand::Rng) -> Vec<Span> {
    let others: Vec<Span> = every_span(words, max_width).filter(|s| gold.binary_search(s).is_err()).collect();
    if count == 0 || count >= others.len() {
        return others;
    }
    let mut picked = index::sample(rng, others.len(), count).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| others[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_stops_at_the_width_and_the_sentence() {
        let spans: Vec<Span> = every_span(4, 2).collect();
        let expected = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)].map(|(s, e)| Span::new(s, e));
        assert_eq!(spans, expected);
        assert_eq!(every_span(5, 10).count(), 15);
        assert_eq!(every_span(0, 3).count(), 0);
    }

    #[test]
    fn negatives_leave_out_gold_and_are_reproducible() {
        let gold = vec![Span::new(0, 2), Span::new(3, 4)];
        let all = negative_spans(6, 3, &gold, 0, &mut spe::rng::stream(1, "n", 0));
        assert_eq!(all.len(), every_span(6, 3).count() - 2);
        assert!(all.iter().all(|s| !gold.contains(s)));
        let draw = |seed| negative_spans(6, 3, &gold, 4, &mut spe::rng::stream(seed, "n", 0));
        assert_eq!(draw(1), draw(1));
        assert_eq!(draw(1).len(), 4);
        assert!(draw(1).windows(2).all(|w| w[0] < w[1]));
        assert!((2..20).any(|seed| draw(seed) != draw(1)), "the draw depends on the seed");
        assert_eq!(negative_spans(6, 3, &gold, 1000, &mut spe::rng::stream(1, "n", 0)), all);
    }

    #[test]
    fn settings_out_of_range_are_refused_by_name() {
        let bad = CandidatesConfig { max_width: 0, ..CandidatesConfig::default() };
        assert!(bad.check().unwrap_err().to_string().contains("candidates.max_width"));
        let bad = CandidatesConfig { max_pair_entities: 0, ..CandidatesConfig::default() };
        assert!(bad.check().unwrap_err().to_string().contains("candidates.max_pair_entities"));
        CandidatesConfig::default().check().unwrap();
        CandidatesConfig::paper().check().unwrap();
    }
}
