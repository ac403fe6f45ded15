//! Span pairs: two non-overlapping word spans per sentence, as SpanBERT samples spans.

use anyhow::{ensure, Result};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, RngExt};

/// A half-open range of word offsets: a sampled span here, a candidate entity in the
/// trainer's extractor. Ordered by start, then end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First word.
    pub start: u32,
    /// One past the last word.
    pub end: u32,
}

impl Span {
    /// Words `start..end`.
    pub const fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// Number of words.
    pub fn len(&self) -> u32 {
        self.end - self.start
    }

    /// Whether the span has no word.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether word `w` lies in the span.
    pub fn contains(&self, w: u32) -> bool {
        self.start <= w && w < self.end
    }

    fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Two spans of a sentence with `s1` before `s2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanPair {
    /// The earlier span.
    pub s1: Span,
    /// The later span.
    pub s2: Span,
}

/// Names of the five segments, in sentence order.
pub const SEGMENT_NAMES: [&str; 5] = ["L", "s1", "M", "s2", "R"];

impl SpanPair {
    /// The five segments L, s1, M, s2, R of a sentence of `n` words; any may be empty.
    pub fn segments(&self, n: u32) -> [Span; 5] {
        [
            Span { start: 0, end: self.s1.start },
            self.s1,
            Span { start: self.s1.end, end: self.s2.start },
            self.s2,
            Span { start: self.s2.end, end: n },
        ]
    }

    /// Whether word `w` belongs to s1 or s2.
    pub fn contains(&self, w: u32) -> bool {
        self.s1.contains(w) || self.s2.contains(w)
    }
}

/// The span-length distribution: P(L) proportional to p(1-p)^(L-1) on min..=max,
/// renormalised (SpanBERT's geometric distribution, clipped).
#[derive(Debug, Clone)]
pub struct SpanLengths {
    min: u32,
    weights: Vec<f64>,
    index: WeightedIndex<f64>,
}

impl SpanLengths {
    /// The distribution on `min..=max` with parameter `p`.
    pub fn new(min: u32, max: u32, p: f64) -> Result<SpanLengths> {
        ensure!(min >= 1 && min <= max, "span lengths need 1 <= span_len_min <= span_len_max");
        ensure!(p > 0.0 && p <= 1.0, "span_len_p must lie in (0, 1]");
        let raw: Vec<f64> = (min..=max).map(|l| p * (1.0 - p).powi(l as i32 - 1)).collect();
        let total: f64 = raw.iter().sum();
        ensure!(total > 0.0, "span_len_p = 1 allows only length 1; set span_len_min = 1");
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let index = WeightedIndex::new(&weights)?;
        Ok(SpanLengths { min, weights, index })
    }

    /// P(L = min + i) for each i.
    pub fn probabilities(&self) -> &[f64] {
        &self.weights
    }

    /// Draws one length.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        self.min + self.index.sample(rng) as u32
    }
}

/// Draws two non-overlapping spans in a sentence of `n` words: a length from `lengths`, a
/// uniform start, rejection when the span runs past the end or overlaps the first span,
/// at most `max_tries` draws. `None` when no pair was found; the sentence is then dropped.
///
/// The reference code gives up as soon as its first span covers the whole sentence, which
/// drops short sentences for one unlucky draw; here such a first span is redrawn, so that
/// every sentence of two or more words gets its pair within the tries, as the paper means.
pub fn sample_pair<R: Rng + ?Sized>(n: u32, lengths: &SpanLengths, max_tries: u32, rng: &mut R) -> Option<SpanPair> {
    let mut first: Option<Span> = None;
    for _ in 0..max_tries {
        let len = lengths.sample(rng);
        let start = rng.random_range(0..n);
        if start + len > n {
            continue;
        }
        let span = Span { start, end: start + len };
        match first {
            None if len == n => continue, // nothing would be left for a second span
            None => first = Some(span),
            Some(f) if f.overlaps(&span) => continue,
            Some(f) => {
                let (s1, s2) = if f.start < span.start { (f, span) } else { (span, f) };
                return Some(SpanPair { s1, s2 });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn length_distribution_matches_the_geometric_law() {
        let lengths = SpanLengths::new(1, 10, 0.2).unwrap();
        let p = lengths.probabilities();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[0] / p[1] - 1.25).abs() < 1e-12);
        let mut rng = stream(7, "lengths", 0);
        let n = 200_000;
        let mut hist = [0u32; 10];
        for _ in 0..n {
            hist[lengths.sample(&mut rng) as usize - 1] += 1;
        }
        // Each frequency within 5 standard errors of its probability.
        for (l, (&h, &q)) in hist.iter().zip(p).enumerate() {
            let f = f64::from(h) / n as f64;
            let se = (q * (1.0 - q) / n as f64).sqrt();
            assert!((f - q).abs() < 5.0 * se, "L={}: {f} vs {q}", l + 1);
        }
    }

    #[test]
    fn pairs_are_ordered_disjoint_and_in_range() {
        let lengths = SpanLengths::new(1, 10, 0.2).unwrap();
        for sent in 0..2000 {
            let n = 2 + (sent % 40) as u32;
            let mut rng = stream(3, "pairs", sent);
            let pair = sample_pair(n, &lengths, 1000, &mut rng).expect("a pair fits");
            assert!(pair.s1.end <= pair.s2.start, "{pair:?}");
            assert!(pair.s2.end <= n && !pair.s1.is_empty() && !pair.s2.is_empty());
            let segs = pair.segments(n);
            assert_eq!(segs.iter().map(Span::len).sum::<u32>(), n);
            assert!(segs.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn a_one_word_sentence_has_no_pair() {
        let lengths = SpanLengths::new(1, 10, 0.2).unwrap();
        assert_eq!(sample_pair(1, &lengths, 1000, &mut stream(0, "x", 0)), None);
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(SpanLengths::new(0, 10, 0.2).is_err());
        assert!(SpanLengths::new(5, 4, 0.2).is_err());
        assert!(SpanLengths::new(1, 10, 0.0).is_err());
    }
}
