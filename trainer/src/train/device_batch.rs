//! A micro-batch on the model's device: the host [`Batch`] of the loader copied into
//! tensors, the two CSPO views as [`ViewInput`]s and each view's TBO and SPO targets.

use crate::model::span::Spans;
use crate::model::ViewInput;
use crate::runtime::device::upload;
use spe::batch::{Batch, SpoBatch, TboBatch};
use tch::{Device, Tensor};

/// TBO targets of one view: `[N]` each, one entry per masked piece.
pub struct TboTensors {
    /// Row of the batch.
    pub row: Tensor,
    /// Position of the piece's word's first sub-token.
    pub anchor: Tensor,
    /// The piece's offset from the anchor.
    pub offset: Tensor,
    /// The original sub-token id.
    pub label: Tensor,
}

/// SPO targets of one view: `[N]` each, one entry per permuted segment.
pub struct SpoTensors {
    /// Row of the batch.
    pub row: Tensor,
    /// Segment index, 0..5 for L, s1, M, s2, R.
    pub segment: Tensor,
    /// The permutation's class.
    pub label: Tensor,
}

/// A micro-batch on the device.
pub struct DeviceBatch {
    /// x_target and x_context.
    pub views: [ViewInput; 2],
    /// The TBO targets each view shows.
    pub tbo: [TboTensors; 2],
    /// The SPO targets each view shows.
    pub spo: [SpoTensors; 2],
}

impl DeviceBatch {
    /// Copies `batch` to `device`.
    pub fn new(batch: &Batch, device: Device) -> DeviceBatch {
        let (b, t, w) = (batch.rows as i64, batch.seq_len as i64, batch.words as i64);
        let attention_mask = upload(&batch.attention_mask, &[b, t], device);
        let word_starts = upload(&batch.word_starts, &[b, w], device);
        let segments = Spans::upload(&batch.segments, &[b, 5, 2], device);
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
