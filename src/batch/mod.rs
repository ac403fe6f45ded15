//! From shard rows to training batches: the rows' [`Inputs`] as the loader decodes them, and
//! micro-batches padded to their longest row and split into the two CSPO views
//! ([`Batch`]). Nothing here needs libtorch: the trainer turns a [`Batch`] into tensors.
//!
//! The paper's model sees each sample twice: `x_target`, where the context (L, M, R) is
//! masked, and `x_context`, where the span pair is masked. As in the authors' code, each
//! view also carries the TBO and SPO targets of the part it leaves visible: TBO pieces of
//! the pair's words and SPO labels of s1 and s2 go with `x_target`, the others with
//! `x_context`, so every target is predicted once, from a view in which it is visible.

pub mod loader;
pub mod order;
pub mod shards;

use crate::sample::Inputs;
use crate::tokenize::SpecialIds;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

/// Configuration of the loader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Rows per micro-batch (one forward and backward pass).
    pub micro_batch: usize,
    /// Row groups decoded and shuffled together (the shuffle buffer, in row groups).
    pub shuffle_row_groups: usize,
    /// Micro-batches decoded ahead of the trainer.
    pub prefetch: usize,
    /// Threads decoding the row groups of a window in parallel.
    pub decode_threads: usize,
    /// Micro-batches of rows of similar length, so that little padding is computed: each
    /// window's rows are sorted by length, cut into micro-batches, and the micro-batches
    /// shuffled. Off, micro-batches are drawn from the shuffled window as they come, as in
    /// the paper.
    pub bucket_by_length: bool,
}

impl LoaderConfig {
    /// The ranges of the settings.
    pub fn check(&self) -> Result<()> {
        ensure!(self.micro_batch > 0, "loader.micro_batch must be at least 1");
        ensure!(self.shuffle_row_groups > 0, "loader.shuffle_row_groups must be at least 1");
        // Each prefetched micro-batch is memory, each decoding thread a row group in
        // memory: beyond these the loader is no faster, only larger.
        let (prefetch, threads) = (self.prefetch, self.decode_threads);
        ensure!(prefetch <= 1024, "loader.prefetch must lie in [0, 1024], not {prefetch}");
        ensure!((1..=256).contains(&threads), "loader.decode_threads must lie in [1, 256], not {threads}");
        Ok(())
    }
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig { micro_batch: 16, shuffle_row_groups: 8, prefetch: 8, decode_threads: 1, bucket_by_length: false }
    }
}

/// The two views of a sample, in the order of [`Batch::views`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `x_target`: the span pair visible, its context masked.
    Target,
    /// `x_context`: the context visible, the span pair masked.
    Context,
}

impl View {
    /// Both views.
    pub const ALL: [View; 2] = [View::Target, View::Context];

    /// Whether segment `segment` (0..5 for L, s1, M, s2, R) is visible in this view.
    pub fn shows_segment(self, segment: usize) -> bool {
        (segment == 1 || segment == 3) == (self == View::Target)
    }
}

/// TBO targets of a batch, one entry per masked piece.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TboBatch {
    /// Row of the batch.
    pub row: Vec<i64>,
    /// Position of the word's first sub-token.
    pub anchor: Vec<i64>,
    /// The piece's offset from the anchor (1, 2, …).
    pub offset: Vec<i64>,
    /// The original sub-token id.
    pub label: Vec<i64>,
}

/// SPO targets of a batch, one entry per permuted segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpoBatch {
    /// Row of the batch.
    pub row: Vec<i64>,
    /// Segment index, 0..5 for L, s1, M, s2, R.
    pub segment: Vec<i64>,
    /// Index into [`crate::sample::spo::PERMUTATIONS`].
    pub label: Vec<i64>,
}

/// One view of a batch: its token ids and the targets it carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewBatch {
    /// `[rows, seq_len]` token ids, the other view's part replaced by `[MASK]`.
    pub input_ids: Vec<i64>,
    /// TBO targets visible in this view.
    pub tbo: TboBatch,
    /// SPO targets visible in this view.
    pub spo: SpoBatch,
}

/// A padded micro-batch. Flat row-major buffers; shapes in the field docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Number of rows.
    pub rows: usize,
    /// Longest `input_ids` of the batch.
    pub seq_len: usize,
    /// Most words of a row.
    pub words: usize,
    /// `[rows, seq_len]`: 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<i64>,
    /// `[rows, words]`: each word's first sub-token (0 for padding words).
    pub word_starts: Vec<i64>,
    /// `[rows, 5, 2]`: `[start, end)` in words of L, s1, M, s2, R.
    pub segments: Vec<i64>,
    /// The views in [`View::ALL`] order.
    pub views: [ViewBatch; 2],
    /// Real (unpadded) tokens of the batch.
    pub tokens: usize,
}

/// Pads `rows` into a [`Batch`]; padding uses id 0, which attention never sees.
pub fn collate(rows: &[Inputs], special: &SpecialIds) -> Batch {
    let seq_len = rows.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
    let words = rows.iter().map(|r| r.word_starts.len()).max().unwrap_or(0);
    let mut batch = Batch {
        rows: rows.len(),
        seq_len,
        words,
        attention_mask: vec![0; rows.len() * seq_len],
        word_starts: vec![0; rows.len() * words],
        segments: Vec::with_capacity(rows.len() * 10),
        views: Default::default(),
        tokens: 0,
    };
    for view in &mut batch.views {
        view.input_ids = vec![0; rows.len() * seq_len];
    }
    let mask = i64::from(special.mask);
    for (r, row) in rows.iter().enumerate() {
        let base = r * seq_len;
        batch.tokens += row.input_ids.len();
        batch.attention_mask[base..base + row.input_ids.len()].fill(1);
        for (w, &start) in row.word_starts.iter().enumerate() {
            batch.word_starts[r * words + w] = i64::from(start);
        }
        let segments = row.pair.segments(row.word_starts.len() as u32);
        batch.segments.extend(segments.iter().flat_map(|s| [i64::from(s.start), i64::from(s.end)]));
        for (view, out) in View::ALL.iter().zip(&mut batch.views) {
            let hidden = match view {
                View::Target => &row.context_mask,
                View::Context => &row.target_mask,
            };
            for (i, (&id, &masked)) in row.input_ids.iter().zip(hidden).enumerate() {
                out.input_ids[base + i] = if masked { mask } else { i64::from(id) };
            }
            let visible = match view {
                View::Target => &row.target_mask,
                View::Context => &row.context_mask,
            };
            for t in row.tbo.iter().filter(|t| visible[t.anchor as usize]) {
                out.tbo.row.push(r as i64);
                out.tbo.anchor.push(i64::from(t.anchor));
                out.tbo.offset.push(i64::from(t.offset));
                out.tbo.label.push(i64::from(t.label));
            }
            for t in row.spo.iter().filter(|t| view.shows_segment(t.segment as usize)) {
                out.spo.row.push(r as i64);
                out.spo.segment.push(i64::from(t.segment));
                out.spo.label.push(i64::from(t.label));
            }
        }
    }
    batch
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn loader_settings_are_bounded() {
        LoaderConfig::default().check().unwrap();
        let prefetch = LoaderConfig { prefetch: usize::MAX, ..LoaderConfig::default() };
        assert!(prefetch.check().unwrap_err().to_string().contains("loader.prefetch must lie in [0, 1024]"));
        let threads = LoaderConfig { decode_threads: 1 << 40, ..LoaderConfig::default() };
        assert!(threads.check().unwrap_err().to_string().contains("loader.decode_threads must lie in [1, 256]"));
    }
    use crate::sample::{Span, SpanPair, SpoTarget, TboTarget};

    /// `[CLS] a b ##c d e ##f [SEP]` with words a, bc, d, ef; pair (bc, ef); "c" and "f"
    /// masked for TBO; segment s1 (0-based 1) and M (2) permuted.
    pub(crate) fn row() -> Inputs {
        Inputs {
            input_ids: vec![101, 10, 11, 103, 13, 14, 103, 102],
            word_starts: vec![1, 2, 4, 5],
            pair: SpanPair { s1: Span { start: 1, end: 2 }, s2: Span { start: 3, end: 4 } },
            spo: vec![SpoTarget { segment: 1, label: 0 }, SpoTarget { segment: 2, label: 3 }],
            tbo: vec![
                TboTarget { position: 3, label: 12, anchor: 2, offset: 1 },
                TboTarget { position: 6, label: 15, anchor: 5, offset: 1 },
            ],
            target_mask: vec![false, false, true, true, false, true, true, false],
            context_mask: vec![false, true, false, false, true, false, false, false],
        }
    }

    #[test]
    fn views_mask_each_other_and_take_the_visible_targets() {
        let special = SpecialIds { cls: 101, sep: 102, mask: 103 };
        let mut short = row();
        short.input_ids.truncate(4);
        short.input_ids.push(102);
        short.word_starts = vec![1, 2];
        short.pair = SpanPair { s1: Span { start: 0, end: 1 }, s2: Span { start: 1, end: 2 } };
        short.spo.clear();
        short.tbo = vec![TboTarget { position: 3, label: 12, anchor: 2, offset: 1 }];
        short.target_mask = vec![false, true, true, true, false];
        short.context_mask = vec![false; 5];
        let batch = collate(&[row(), short], &special);
        assert_eq!((batch.rows, batch.seq_len, batch.words, batch.tokens), (2, 8, 4, 13));
        assert_eq!(batch.attention_mask, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(batch.word_starts, [1, 2, 4, 5, 1, 2, 0, 0]);
        assert_eq!(batch.segments, [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
        let [target, context] = &batch.views;
        assert_eq!(&target.input_ids[..8], [101, 103, 11, 103, 103, 14, 103, 102]);
        assert_eq!(&context.input_ids[..8], [101, 10, 103, 103, 13, 103, 103, 102]);
        assert_eq!(&target.input_ids[8..], [101, 10, 11, 103, 102, 0, 0, 0]);
        assert_eq!(
            target.tbo,
            TboBatch { row: vec![0, 0, 1], anchor: vec![2, 5, 2], offset: vec![1; 3], label: vec![12, 15, 12] }
        );
        assert!(context.tbo.row.is_empty());
        assert_eq!(target.spo, SpoBatch { row: vec![0], segment: vec![1], label: vec![0] });
        assert_eq!(context.spo, SpoBatch { row: vec![0], segment: vec![2], label: vec![3] });
    }
}
