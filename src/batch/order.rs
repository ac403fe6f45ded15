//! The loader's order: which row of the shards is the stream's `n`-th.
//!
//! The order is a pure function of the seed and of the global row index, which is what
//! makes resuming exact:
//!
//! 1. Every epoch shuffles the list of row groups of every shard with a stream keyed by the
//!    seed and the epoch.
//! 2. The shuffled row groups are cut into windows of `shuffle_row_groups` row groups. A window is
//!    decoded, its rows shuffled with a stream keyed by the seed, epoch and window, and
//!    emitted. This is the bounded shuffle buffer: rows from several row groups mix, and
//!    at most one window (plus the batches in flight) is in memory.
//! 3. Rows flow into micro-batches of `micro_batch` rows across window and epoch
//!    boundaries, so row `n` of the stream is the same row however the run was split.
//!
//! Resuming at row `n` skips whole windows by their row counts from the footers and
//! decodes only the window that contains row `n`.

use super::shards::ShardSet;
use super::LoaderConfig;
use crate::rng::stream;
use crate::sample::Inputs;
use anyhow::Result;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::sync::Arc;

/// The rows of the loader's order from a global row index on.
pub(super) struct RowStream {
    set: Arc<ShardSet>,
    config: LoaderConfig,
    seed: u64,
    position: u64,
    window: std::vec::IntoIter<Inputs>,
    /// The row-group order of the epoch being read, kept across its windows.
    order: Option<(u64, Vec<usize>)>,
}

impl RowStream {
    /// The rows of `set` in the order of `config` and `seed`, from global row `start` on.
    pub(super) fn new(set: Arc<ShardSet>, config: LoaderConfig, seed: u64, start: u64) -> RowStream {
        RowStream { set, config, seed, position: start, window: Vec::new().into_iter(), order: None }
    }

    /// The next row of the stream.
    pub(super) fn next_row(&mut self) -> Result<Inputs> {
        loop {
            if let Some(row) = self.window.next() {
                self.position += 1;
                return Ok(row);
            }
            self.load_window()?;
        }
    }

    /// Decodes the window containing row `position` and skips to it.
    fn load_window(&mut self) -> Result<()> {
        let set = &self.set;
        let epoch = self.position / set.rows;
        let offset = self.position % set.rows;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, epoch_order(set.row_groups.len(), self.seed, epoch)));
        }
        let order = &self.order.as_ref().expect("just set").1;
        let mut first_row = 0;
        for (index, window) in order.chunks(self.config.shuffle_row_groups).enumerate() {
            let rows: u64 = window.iter().map(|&u| set.row_groups[u].rows).sum();
            if offset >= first_row + rows {
                first_row += rows;
                continue;
            }
            let decoded: Vec<Vec<Inputs>> =
                window.par_iter().map(|&u| set.decode(&set.row_groups[u])).collect::<Result<_>>()?;
            let mut rows: Vec<Inputs> = decoded.into_iter().flatten().collect();
            let mut random = stream(self.seed, &format!("loader-window-{epoch}"), index as u64);
            rows.shuffle(&mut random);
            if self.config.bucket_by_length {
                let start = epoch * set.rows + first_row;
                rows = bucket_by_length(rows, self.config.micro_batch, start, &mut random);
            }
            rows.drain(..(offset - first_row) as usize);
            self.window = rows.into_iter();
            return Ok(());
        }
        unreachable!("row {offset} lies within the epoch's {} rows", set.rows)
    }
}

/// `rows` (a shuffled window whose first row is the stream's row `start`) in micro-batches
/// of similar length: sorted by length (ties in their shuffled order), cut where the
/// stream's micro-batches are cut (every `micro_batch` rows from row 0), and the whole
/// micro-batches put in random order; the parts of micro-batches shared with the windows
/// before and after stay at the ends.
fn bucket_by_length(mut rows: Vec<Inputs>, micro_batch: usize, start: u64, random: &mut impl rand::Rng) -> Vec<Inputs> {
    rows.sort_by_key(|row| row.input_ids.len());
    let head = ((micro_batch as u64 - start % micro_batch as u64) % micro_batch as u64) as usize;
    let head = head.min(rows.len());
    let whole = (rows.len() - head) / micro_batch;
    let mut order: Vec<usize> = (0..whole).collect();
    order.shuffle(random);
    // Rows are moved once each: out of their sorted slots, in the new order.
    let mut slots: Vec<Option<Inputs>> = rows.into_iter().map(Some).collect();
    let tail = head + whole * micro_batch..slots.len();
    let batches = order.into_iter().map(|b| head + b * micro_batch..head + (b + 1) * micro_batch);
    let mut out = Vec::with_capacity(slots.len());
    for range in std::iter::once(0..head).chain(batches).chain(std::iter::once(tail)) {
        out.extend(range.map(|i| slots[i].take().expect("each slot is taken once")));
    }
    out
}

/// The order of the row groups in `epoch`.
fn epoch_order(groups: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups).collect();
    order.shuffle(&mut stream(seed, "loader-epoch", epoch));
    order
}

/// The micro-batches of one rank of a data-parallel run: each global batch is
/// `ranks × micro_batches` micro-batches in a row, and rank R takes the R-th run of
/// `micro_batches` of them, so the ranks together read exactly the rows one process would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankShare {
    /// This rank.
    pub rank: usize,
    /// The number of ranks.
    pub ranks: usize,
    /// Micro-batches per rank and step.
    pub micro_batches: usize,
}

impl RankShare {
    /// Whether the `index`-th micro-batch of the stream is this rank's.
    pub fn owns(&self, index: usize) -> bool {
        (index % (self.ranks * self.micro_batches)) / self.micro_batches == self.rank
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_micro_batches_of_neighbouring_lengths_cut_where_the_stream_cuts() {
        let span = crate::sample::spans::Span { start: 0, end: 1 };
        let row = |len: usize| Inputs {
            input_ids: vec![0; len],
            word_starts: Vec::new(),
            pair: crate::sample::spans::SpanPair { s1: span, s2: span },
            spo: Vec::new(),
            tbo: Vec::new(),
            target_mask: Vec::new(),
            context_mask: Vec::new(),
        };
        let rows: Vec<Inputs> = [9, 3, 7, 1, 8, 2, 6, 4, 5, 10, 12, 11].iter().map(|&n| row(n)).collect();
        // The window starts at row 6 of the stream: 2 rows complete a micro-batch of 4
        // begun before it, then 2 whole micro-batches, then 2 rows begin the next.
        let out = bucket_by_length(rows, 4, 6, &mut crate::rng::stream(1, "t", 0));
        let lengths: Vec<usize> = out.iter().map(|r| r.input_ids.len()).collect();
        assert_eq!(&lengths[..2], [1, 2]);
        assert_eq!(&lengths[10..], [11, 12]);
        let mut middle: Vec<&[usize]> = lengths[2..10].chunks(4).collect();
        middle.sort();
        assert_eq!(middle, [[3, 4, 5, 6], [7, 8, 9, 10]]);
    }

    #[test]
    fn the_ranks_shares_take_each_micro_batch_once_in_runs_of_their_accumulation() {
        let shares: Vec<RankShare> = (0..3).map(|rank| RankShare { rank, ranks: 3, micro_batches: 2 }).collect();
        let owners: Vec<usize> = (0..14).map(|i| shares.iter().filter(|s| s.owns(i)).map(|s| s.rank).sum()).collect();
        assert_eq!(owners, [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 0, 0]);
        assert!((0..60).all(|i| shares.iter().filter(|s| s.owns(i)).count() == 1));
    }

    #[test]
    fn every_epoch_visits_every_unit_once_in_a_seeded_order() {
        let a = epoch_order(50, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(50, 7, 0));
        assert_ne!(a, epoch_order(50, 7, 1));
        assert_ne!(a, epoch_order(50, 8, 0));
    }
}
