//! TBO, the token boundary objective (paper §3.2): the pieces of a word after its first are
//! masked and predicted from the first piece's hidden state and the piece's offset in the
//! word. The masking is the sampler's ([`spe::sample::tbo`]); the head is
//! [`crate::model::heads::TboHead`].

use crate::model::{EncodedView, Heads};
use crate::train::device_batch::TboTensors;
use tch::{Kind, Tensor};

/// Cross-entropy of each masked piece, averaged over the pieces of both views; `None`
/// when the batch has none.
pub fn loss(heads: &Heads, encoded: &[EncodedView], targets: &[TboTensors; 2]) -> Option<Tensor> {
    let anchors: Vec<Tensor> = encoded
        .iter()
        .zip(targets)
        .map(|(view, t)| view.hidden.index(&[Some(&t.row), Some(&t.anchor)])) // [N, D]
        .collect();
    let anchors = Tensor::cat(&anchors, 0);
    if anchors.size()[0] == 0 {
        return None;
    }
    let offsets = Tensor::cat(&[&targets[0].offset, &targets[1].offset], 0);
    let labels = Tensor::cat(&[&targets[0].label, &targets[1].label], 0);
    let logits = heads.tbo.forward(&anchors, &offsets, true);
    Some(logits.to_kind(Kind::Float).cross_entropy_for_logits(&labels))
}
