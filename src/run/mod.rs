//! What every training command shares and what reads its runs back without libtorch:
//! `spe inspect` and `spe plot` use these, and so do the trainers of `spe-trainer`, which
//! add the libtorch parts (device, AdamW, faults) in their own `runtime`.
//!
//! - [`layout`]: the names of a run directory's files;
//! - [`checkpoints`]: checkpoint directories written atomically, found and pruned;
//! - [`metrics`]: the `metrics.jsonl` file of a run and the throughput since the last log;
//! - [`progress`]: the progress bar;
//! - [`report`]: a fine-tuning run's `report.json`.

pub mod checkpoints;
pub mod layout;
pub mod metrics;
pub mod progress;
pub mod report;
