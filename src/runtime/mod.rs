//! What every training command shares, whatever it trains: pre-training (`spe train`),
//! fine-tuning (`spe finetune`) and evaluation. The parts on libtorch need the `train`
//! feature; checkpoints, metrics and the progress bar do not, so that `spe inspect` and
//! `spe plot` read runs in any build.
//!
//! - [`device`]: choosing the device, bf16 autocast on CUDA, copying host buffers to it;
//! - [`optim`]: AdamW with parameter groups (a learning-rate scale and a weight decay per
//!   variable), the warm-up and decay schedule, gradient clipping;
//! - [`checkpoint`]: checkpoint directories written atomically, found and pruned;
//! - [`fault`]: libtorch's exceptions (CUDA out of memory, …) as errors naming the step;
//! - [`metrics`]: the `metrics.jsonl` file of a run and the throughput since the last log;
//! - [`progress`]: the progress bar.
//!
//! Nothing here knows the objectives, the model or the data: the trainers in
//! [`crate::train`] and [`crate::finetune`] compose these pieces.

pub mod checkpoint;
#[cfg(feature = "train")]
pub mod device;
#[cfg(feature = "train")]
pub mod fault;
pub mod metrics;
#[cfg(feature = "train")]
pub mod optim;
pub mod progress;
