//! The token boundary objective (TBO): for a chosen word, every sub-token after the first
//! is replaced by `[MASK]` and predicted from the first sub-token's state and its offset.

use rand::seq::SliceRandom;
use rand::Rng;

/// One masked sub-token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TboTarget {
    /// Position in `input_ids`.
    pub position: i32,
    /// The original sub-token id.
    pub label: i32,
    /// Position of the word's first sub-token.
    pub anchor: i32,
    /// `position - anchor`: 1, 2, … inside the word.
    pub offset: i8,
}

/// Masks the non-first sub-tokens of randomly visited words of two or more sub-tokens until
/// `budget` pieces are masked (a whole word at a time, so the last word may overshoot).
/// `word_bounds[w]` is the `[start, end)` of word `w` in `ids`. Targets are sorted by
/// position. Words of more than 128 pieces are never chosen, since offsets are 8-bit.
pub fn mask_boundaries<R: Rng + ?Sized>(
    ids: &mut [u32],
    word_bounds: &[(u32, u32)],
    mask_id: u32,
    budget: usize,
    rng: &mut R,
) -> Vec<TboTarget> {
    let mut candidates: Vec<(u32, u32)> =
        word_bounds.iter().copied().filter(|(s, e)| (2..=128).contains(&(e - s))).collect();
    candidates.shuffle(rng);
    let mut targets = Vec::new();
    for (start, end) in candidates {
        if targets.len() >= budget {
            break;
        }
        for p in start + 1..end {
            targets.push(TboTarget {
                position: p as i32,
                label: ids[p as usize] as i32,
                anchor: start as i32,
                offset: (p - start) as i8,
            });
            ids[p as usize] = mask_id;
        }
    }
    targets.sort_by_key(|t| t.position);
    targets
}

/// The budget of masked pieces: min(`max`, ceil(`ratio` × `pieces`)), where `pieces`
/// excludes `[CLS]` and `[SEP]`.
pub fn budget(pieces: usize, ratio: f64, max: usize) -> usize {
    max.min((ratio * pieces as f64).ceil() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn budget_follows_the_reference() {
        assert_eq!(budget(10, 0.15, 20), 2);
        assert_eq!(budget(20, 0.15, 20), 3);
        assert_eq!(budget(126, 0.15, 20), 19);
        assert_eq!(budget(200, 0.15, 20), 20);
        assert_eq!(budget(5, 0.0, 20), 0);
    }

    #[test]
    fn whole_words_are_masked_until_the_budget_is_reached() {
        // [CLS] w0(1 piece) w1(3) w2(2) w3(4) w4(1) [SEP]
        let bounds = [(1, 2), (2, 5), (5, 7), (7, 11), (11, 12)];
        for sent in 0..500 {
            let mut ids: Vec<u32> = (1000..1013).collect();
            let original = ids.clone();
            let targets = mask_boundaries(&mut ids, &bounds, 103, 3, &mut stream(5, "tbo", sent));
            let words: std::collections::BTreeSet<i32> = targets.iter().map(|t| t.anchor).collect();
            let masked: usize = targets.len();
            // Whole words, and only the last word visited crosses the budget: without the
            // largest word the count is below it.
            let sizes: Vec<usize> = words.iter().map(|&a| targets.iter().filter(|t| t.anchor == a).count()).collect();
            assert!(masked >= 3 && masked - sizes.iter().max().unwrap() < 3, "{targets:?}");
            for t in &targets {
                assert_eq!(ids[t.position as usize], 103);
                assert_eq!(t.label as u32, original[t.position as usize]);
                assert_eq!(t.position - t.anchor, i32::from(t.offset));
                assert!(t.offset >= 1);
                assert_ne!(ids[t.anchor as usize], 103, "first pieces stay");
            }
            assert!(!words.contains(&1) && !words.contains(&11), "single-piece words are never chosen");
            let unmasked = ids.iter().zip(&original).filter(|(a, b)| a != b).count();
            assert_eq!(unmasked, masked);
            assert!(targets.windows(2).all(|w| w[0].position < w[1].position));
        }
    }
}
