//! The two CSPO views of a sentence: `x_target` keeps the span pair's sub-tokens and masks
//! the rest, `x_context` keeps the context (L, M, R) and masks the pair.
//!
//! The released reference code builds these masks by testing word offsets against
//! sub-token positions, which masks the wrong tokens as soon as a word has several
//! pieces. Here every sub-token is assigned through the word-to-sub-token alignment.
//! `[CLS]` and `[SEP]` are in neither mask and stay visible in both views.

use super::spans::SpanPair;

/// `(target_mask, context_mask)` over `len` sub-tokens, from each word's `[start, end)`.
pub fn view_masks(word_bounds: &[(u32, u32)], len: usize, pair: &SpanPair) -> (Vec<bool>, Vec<bool>) {
    let mut target = vec![false; len];
    let mut context = vec![false; len];
    for (w, &(start, end)) in word_bounds.iter().enumerate() {
        let mask = if pair.contains(w as u32) { &mut target } else { &mut context };
        mask[start as usize..end as usize].fill(true);
    }
    (target, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::spans::Span;

    #[test]
    fn masks_follow_the_alignment_not_word_offsets() {
        // [CLS] An ##arch ##ism is a political philo ##sophy [SEP]
        // words:   0 (3 pieces), 1, 2, 3, 4 (2 pieces)
        let bounds = [(1, 4), (4, 5), (5, 6), (6, 7), (7, 9)];
        let pair = SpanPair { s1: Span { start: 0, end: 1 }, s2: Span { start: 4, end: 5 } };
        let (target, context) = view_masks(&bounds, 10, &pair);
        let t: Vec<usize> = (0..10).filter(|&i| target[i]).collect();
        let c: Vec<usize> = (0..10).filter(|&i| context[i]).collect();
        assert_eq!(t, [1, 2, 3, 7, 8]);
        assert_eq!(c, [4, 5, 6]);
        // The reference code would have marked positions 0 and 4 (word offsets) as the pair.
        assert!(!target[0] && !target[9] && !context[0] && !context[9]);
    }
}
