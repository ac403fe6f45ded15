//! SPO, the span permutation objective (paper §3.2): the first, middle and last words of a
//! segment were shuffled by one of the 3! permutations, and the segment's span vector
//! predicts which. The shuffling is the sampler's ([`spe::sample::spo`]); the head is
//! [`crate::model::heads::SpoHead`].

use crate::model::{EncodedView, Heads};
use crate::train::device_batch::SpoTensors;
use tch::{Kind, Tensor};

/// Cross-entropy of each permuted segment's class, averaged over the segments of both
/// views; `None` when the batch has none.
pub fn loss(heads: &Heads, encoded: &[EncodedView], targets: &[SpoTensors; 2]) -> Option<Tensor> {
    let spans: Vec<Tensor> = encoded
        .iter()
        .zip(targets)
        .map(|(view, t)| view.pair.segments.index(&[Some(&t.row), Some(&t.segment)])) // [N, span]
        .collect();
    let spans = Tensor::cat(&spans, 0);
    if spans.size()[0] == 0 {
        return None;
    }
    let labels = Tensor::cat(&[&targets[0].label, &targets[1].label], 0);
    Some(heads.spo.forward(&spans, true).to_kind(Kind::Float).cross_entropy_for_logits(&labels))
}
