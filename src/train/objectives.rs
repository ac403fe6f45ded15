//! The three pre-training objectives on one micro-batch (paper §3.2): TBO and SPO from the
//! query encoder's views, CSPO against the momentum keys, and their weighted sum.

use super::moco::{Keys, Moco};
use super::ObjectiveConfig;
use crate::batch::{Batch, SpoBatch, TboBatch};
use crate::model::{EncodedView, Encoder, Heads, ViewInput};
use tch::{Device, Kind, Tensor};

/// TBO targets of one view on the device: `[N]` each.
pub struct TboTensors {
    row: Tensor,
    anchor: Tensor,
    offset: Tensor,
    label: Tensor,
}

/// SPO targets of one view on the device: `[N]` each.
pub struct SpoTensors {
    row: Tensor,
    segment: Tensor,
    label: Tensor,
}

/// A micro-batch on the device.
pub struct DeviceBatch {
    /// x_target and x_context.
    pub views: [ViewInput; 2],
    tbo: [TboTensors; 2],
    spo: [SpoTensors; 2],
}

/// A host buffer as a tensor on `device`: pinned and copied without blocking on CUDA, so
/// that the copy overlaps the previous micro-batch's work.
fn upload(values: &[i64], shape: &[i64], device: Device) -> Tensor {
    let host = Tensor::from_slice(values).view(shape);
    match device {
        Device::Cpu => host,
        _ => host.pin_memory(device).to_device_(device, Kind::Int64, true, false),
    }
}

impl DeviceBatch {
    /// Moves `batch` to `device`.
    pub fn new(batch: &Batch, device: Device) -> DeviceBatch {
        let (b, t, w) = (batch.rows as i64, batch.seq_len as i64, batch.words as i64);
        let attention_mask = upload(&batch.attention_mask, &[b, t], device);
        let word_starts = upload(&batch.word_starts, &[b, w], device);
        let segments = upload(&batch.segments, &[b, 5, 2], device);
        let view = |i: usize| ViewInput {
            input_ids: upload(&batch.views[i].input_ids, &[b, t], device),
            attention_mask: attention_mask.shallow_clone(),
            word_starts: word_starts.shallow_clone(),
            segments: segments.shallow_clone(),
        };
        let tbo = |t: &TboBatch| {
            let n = [t.row.len() as i64];
            TboTensors {
                row: upload(&t.row, &n, device),
                anchor: upload(&t.anchor, &n, device),
                offset: upload(&t.offset, &n, device),
                label: upload(&t.label, &n, device),
            }
        };
        let spo = |s: &SpoBatch| {
            let n = [s.row.len() as i64];
            SpoTensors {
                row: upload(&s.row, &n, device),
                segment: upload(&s.segment, &n, device),
                label: upload(&s.label, &n, device),
            }
        };
        DeviceBatch {
            views: [view(0), view(1)],
            tbo: [tbo(&batch.views[0].tbo), tbo(&batch.views[1].tbo)],
            spo: [spo(&batch.views[0].spo), spo(&batch.views[1].spo)],
        }
    }
}

/// The losses of one micro-batch; an objective that is off, or has no target in the
/// batch, is `None`.
pub struct Losses {
    /// Token boundary objective.
    pub tbo: Option<Tensor>,
    /// Span permutation objective.
    pub spo: Option<Tensor>,
    /// Contrastive span pair objective.
    pub cspo: Option<Tensor>,
    /// The weighted sum.
    pub total: Tensor,
    /// Keys for the queues, when CSPO is on.
    pub keys: Option<Keys>,
}

/// Runs the query encoder on both views, the heads, and the key encoder when CSPO is on.
pub fn losses(
    encoder: &Encoder,
    heads: &Heads,
    moco: Option<&Moco>,
    batch: &DeviceBatch,
    weights: &ObjectiveConfig,
) -> Losses {
    let encoded: Vec<EncodedView> = batch.views.iter().map(|v| encoder.forward(v, true)).collect();
    let tbo = (weights.tbo > 0.0).then(|| tbo_loss(heads, &encoded, &batch.tbo)).flatten();
    let spo = (weights.spo > 0.0).then(|| spo_loss(heads, &encoded, &batch.spo)).flatten();
    let (cspo, keys) = match moco.filter(|_| weights.cspo > 0.0) {
        Some(moco) => {
            let keys = moco.keys(&batch.views[0], &batch.views[1]);
            (Some(moco.loss(&encoded[0].key, &encoded[1].key, &keys)), Some(keys))
        }
        None => (None, None),
    };
    let device = batch.views[0].input_ids.device();
    let mut total = Tensor::zeros([], (Kind::Float, device));
    for (loss, weight) in [(&tbo, weights.tbo), (&spo, weights.spo), (&cspo, weights.cspo)] {
        if let Some(loss) = loss {
            total += loss.to_kind(Kind::Float) * weight;
        }
    }
    Losses { tbo, spo, cspo, total, keys }
}

/// Cross-entropy of each masked piece, predicted from its word's first sub-token state
/// and its offset, averaged over the pieces of both views.
fn tbo_loss(heads: &Heads, encoded: &[EncodedView], targets: &[TboTensors; 2]) -> Option<Tensor> {
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

/// Cross-entropy of each permuted segment's class from its span vector, averaged over the
/// segments of both views.
fn spo_loss(heads: &Heads, encoded: &[EncodedView], targets: &[SpoTensors; 2]) -> Option<Tensor> {
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
