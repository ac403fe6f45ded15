//! The streaming loader: the rows of [`ShardSet`] in the seeded order of [`super::order`],
//! collated into padded micro-batches on a background thread (decoding row groups on its own
//! pool), a few micro-batches ahead of the trainer.
//!
//! Memory stays bounded whatever the corpus size: only the Parquet footers are read up
//! front, and row groups are decoded a window at a time.

use super::order::{RankShare, RowStream};
use super::shards::ShardSet;
use super::{collate, Batch, LoaderConfig};
use anyhow::{bail, Context, Result};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

impl ShardSet {
    /// Starts a background loader of micro-batches from global row `start` on (the rows
    /// consumed before, for a resumed run). The stream is endless: epochs follow each other.
    pub fn stream(self: &Arc<Self>, config: &LoaderConfig, seed: u64, start: u64) -> Result<BatchStream> {
        self.stream_share(config, seed, start, None)
    }

    /// [`ShardSet::stream`], keeping only the micro-batches of one rank of a data-parallel
    /// run (`share`); the others' rows are read but not collated. `start` must be a
    /// multiple of the global batch.
    pub fn stream_share(
        self: &Arc<Self>,
        config: &LoaderConfig,
        seed: u64,
        start: u64,
        share: Option<RankShare>,
    ) -> Result<BatchStream> {
        config.check()?;
        let (sender, receiver) = sync_channel(config.prefetch.max(1));
        let mut rows = RowStream::new(Arc::clone(self), config.clone(), seed, start);
        let special = self.special;
        let micro_batch = config.micro_batch;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.decode_threads)
            .thread_name(|i| format!("spe-decode-{i}"))
            .build()
            .context("cannot start the loader's decoding threads")?;
        let handle = std::thread::Builder::new()
            .name("spe-loader".into())
            .spawn(move || {
                pool.install(|| {
                    for index in 0.. {
                        let mut chunk = Vec::with_capacity(micro_batch);
                        while chunk.len() < micro_batch {
                            match rows.next_row() {
                                Ok(row) => chunk.push(row),
                                Err(err) => {
                                    let _ = sender.send(Err(err));
                                    return;
                                }
                            }
                        }
                        if share.is_some_and(|share| !share.owns(index)) {
                            continue;
                        }
                        // The trainer hung up: stop quietly.
                        if sender.send(Ok(collate(&chunk, &special))).is_err() {
                            return;
                        }
                    }
                })
            })
            .context("cannot start the loader thread")?;
        Ok(BatchStream { receiver, handle: Some(handle) })
    }
}

/// Micro-batches from the loader thread.
pub struct BatchStream {
    receiver: Receiver<Result<Batch>>,
    handle: Option<JoinHandle<()>>,
}

impl BatchStream {
    /// The next micro-batch; waits for the loader thread when it is behind.
    pub fn next_batch(&mut self) -> Result<Batch> {
        match self.receiver.recv() {
            Ok(batch) => batch,
            Err(_) => {
                let panicked = self.handle.take().map(|h| h.join().is_err()).unwrap_or(false);
                bail!("the loader thread stopped{}", if panicked { " after a panic" } else { "" })
            }
        }
    }
}
