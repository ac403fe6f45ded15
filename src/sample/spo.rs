//! The span permutation objective (SPO): a segment splits into its first word, its middle
//! words and its last word, and the three parts are reordered by one of the 3! = 6
//! permutations. Words are permuted before sub-word tokenization, so a word's pieces move
//! together.

use super::spans::Span;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

/// The permutations in the order of Python's `itertools.permutations([0, 1, 2])`; label 0
/// is the identity. Entry `k` lists which part (0 first, 1 middle, 2 last) comes k-th.
pub const PERMUTATIONS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/// One permuted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoTarget {
    /// Segment index: 0..=4 for L, s1, M, s2, R.
    pub segment: i8,
    /// Index into [`PERMUTATIONS`].
    pub label: i8,
}

impl SpoTarget {
    /// Whether the target names one of the five segments and one of the permutations.
    pub fn in_range(&self) -> bool {
        let below = |value: i8, bound: usize| usize::try_from(value).is_ok_and(|v| v < bound);
        below(self.segment, super::spans::SEGMENT_NAMES.len()) && below(self.label, PERMUTATIONS.len())
    }
}

/// Visits the five `segments` in random order and permutes each one of at least
/// `min_len` words with a uniformly drawn label, until `max_segments` are done.
/// `order[i]` is the original index of the word now at position `i`. Targets are
/// returned sorted by segment.
pub fn permute_segments<R: Rng + ?Sized>(
    order: &mut [u32],
    segments: &[Span; 5],
    min_len: u32,
    max_segments: usize,
    rng: &mut R,
) -> Vec<SpoTarget> {
    let mut visit = [0usize, 1, 2, 3, 4];
    visit.shuffle(rng);
    let mut targets = Vec::with_capacity(max_segments);
    for segment in visit {
        if targets.len() >= max_segments {
            break;
        }
        let span = segments[segment];
        if span.len() < min_len {
            continue;
        }
        let label = rng.random_range(0..PERMUTATIONS.len());
        permute_parts(&mut order[span.start as usize..span.end as usize], label);
        targets.push(SpoTarget { segment: segment as i8, label: label as i8 });
    }
    targets.sort_by_key(|t| t.segment);
    targets
}

/// Reorders first / middle / last of `words` (at least 2 long) by `PERMUTATIONS[label]`.
pub fn permute_parts<T: Clone>(words: &mut [T], label: usize) {
    let n = words.len();
    let parts = [&words[..1], &words[1..n - 1], &words[n - 1..]];
    let permuted: Vec<T> = PERMUTATIONS[label].iter().flat_map(|&p| parts[p].iter().cloned()).collect();
    words.clone_from_slice(&permuted);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn labels_follow_itertools_order() {
        let expected = [
            "a b c d", // (0, 1, 2)
            "a d b c", // (0, 2, 1)
            "b c a d", // (1, 0, 2)
            "b c d a", // (1, 2, 0)
            "d a b c", // (2, 0, 1)
            "d b c a", // (2, 1, 0)
        ];
        for (label, want) in expected.iter().enumerate() {
            let mut words = ["a", "b", "c", "d"];
            permute_parts(&mut words, label);
            assert_eq!(words.join(" "), *want, "label {label}");
        }
    }

    #[test]
    fn at_most_two_long_segments_are_permuted_with_uniform_labels() {
        let segments = [
            Span { start: 0, end: 2 },
            Span { start: 2, end: 5 },
            Span { start: 5, end: 9 },
            Span { start: 9, end: 10 },
            Span { start: 10, end: 14 },
        ];
        let mut labels = [0u32; 6];
        let mut chosen = [0u32; 5];
        for sent in 0..6000 {
            let mut order: Vec<u32> = (0..14).collect();
            let targets = permute_segments(&mut order, &segments, 3, 2, &mut stream(1, "spo", sent));
            assert_eq!(targets.len(), 2);
            for t in &targets {
                labels[t.label as usize] += 1;
                chosen[t.segment as usize] += 1;
            }
            // Words move only inside permuted segments.
            for (seg, span) in segments.iter().enumerate() {
                let mut inside: Vec<u32> = order[span.start as usize..span.end as usize].to_vec();
                inside.sort();
                assert_eq!(inside, (span.start..span.end).collect::<Vec<_>>());
                if !targets.iter().any(|t| t.segment as usize == seg) {
                    assert_eq!(&order[span.start as usize..span.end as usize], &inside[..]);
                }
            }
        }
        assert_eq!(chosen[0] + chosen[3], 0, "segments under 3 words are never permuted");
        // 12000 labels, 2000 expected each; 5 standard errors is about 200.
        assert!(labels.iter().all(|&c| (1800..2200).contains(&c)), "{labels:?}");
        // The three long segments are chosen equally often: 4000 each.
        assert!([1, 2, 4].iter().all(|&s| (3750..4250).contains(&chosen[s])), "{chosen:?}");
    }
}
