//! The libtorch parts that every training command shares, whatever it trains: pre-training
//! (`spe train`), fine-tuning (`spe finetune`) and evaluation. Checkpoint directories, the
//! metrics file and the progress bar need no libtorch and live in `spe::run`.
//!
//! - [`device`]: choosing the device, bf16 autocast on CUDA, copying host buffers to it;
//! - [`optim`]: AdamW with parameter groups (a learning-rate scale and a weight decay per
//!   variable), the warm-up and decay schedule, gradient clipping;
//! - [`fault`]: libtorch's exceptions (CUDA out of memory, …) as errors naming the step;
//! - [`threads`]: libtorch's CPU thread count, which gives cores up to a busy neighbour;
//! - [`dist`]: the process group of a data-parallel run (c10d), and its collectives;
//! - [`ffi`]: calling the C++ shims beside them (`*.cpp`), for what tch does not expose.
//!
//! Nothing here knows the objectives, the model or the data: the trainers in
//! [`crate::train`] and [`crate::finetune`] compose these pieces.

pub mod device;
pub mod dist;
pub mod fault;
pub mod ffi;
pub mod optim;
pub mod threads;
