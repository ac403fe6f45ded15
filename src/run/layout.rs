//! The layout of a run directory, written by `spe-trainer` and read back by `spe inspect`,
//! `spe plot` and the trainers themselves: every name in it is defined here, once.
//!
//! A pre-training run (`spe train --out RUN`):
//!
//! ```text
//! RUN/metrics.jsonl                 one record per logged step
//! RUN/loss-curves.png               its curves (spe plot)
//! RUN/verified-shards.json          the shards whose checksums were verified
//! RUN/checkpoints/step-NNNNNNNN/    everything to resume (state.json written last)
//! RUN/encoder/                      the sentence encoder, a Hugging Face BERT directory
//! RUN/span_encoders.safetensors     the span and span-pair encoders
//! RUN/span_encoders.json            their sizes
//! ```
//!
//! A fine-tuning run (`spe finetune --out RUN`):
//!
//! ```text
//! RUN/metrics.jsonl                 one record per epoch
//! RUN/loss-curves.png
//! RUN/report.json                   dev and test scores of every seed
//! RUN/train-documents.json          the training documents kept (train_subset.fraction < 1)
//! RUN/model/                        the extractor: extractor.safetensors, extractor.json,
//!                                   tokenizer/ (for spe evaluate and spe predict)
//! ```

/// The metrics: one JSON record per logged step or epoch.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The picture of a run's curves.
pub const PLOT_FILE: &str = "loss-curves.png";
/// The checkpoint directories.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The file that completes a checkpoint, written last.
pub const STATE_FILE: &str = "state.json";
/// A pre-training run's record of the shards whose checksums it verified.
pub const VERIFIED_SHARDS_FILE: &str = "verified-shards.json";
/// A pre-training run's sentence encoder, a Hugging Face BERT directory.
pub const ENCODER_DIR: &str = "encoder";
/// A pre-training run's exports at chosen steps (`export_steps`), each laid out as a
/// finished run's: `exports/step-N/encoder/` and its span encoders.
pub const EXPORTS_DIR: &str = "exports";

/// The export of step `step` within a pre-training run's [`EXPORTS_DIR`].
pub fn export_dir(step: u64) -> String {
    format!("step-{step}")
}
/// A Hugging Face BERT directory's configuration.
pub const BERT_CONFIG_FILE: &str = "config.json";
/// A Hugging Face BERT directory's weights.
pub const BERT_WEIGHTS_FILE: &str = "model.safetensors";
/// A pre-training run's span and span-pair encoder weights.
pub const SPAN_ENCODERS_FILE: &str = "span_encoders.safetensors";
/// Their sizes, beside [`SPAN_ENCODERS_FILE`].
pub const SPAN_ENCODERS_CONFIG: &str = "span_encoders.json";
/// A fine-tuning run's scores.
pub const REPORT_FILE: &str = "report.json";
/// The training documents a fine-tuning run kept, where it kept a share of them.
pub const TRAIN_DOCUMENTS_FILE: &str = "train-documents.json";
/// A fine-tuning run's extractor.
pub const MODEL_DIR: &str = "model";
/// The extractor's weights, in [`MODEL_DIR`].
pub const EXTRACTOR_WEIGHTS: &str = "extractor.safetensors";
/// The extractor's description (labels, sizes, candidates), in [`MODEL_DIR`].
pub const EXTRACTOR_DESCRIPTION: &str = "extractor.json";
/// The `format` of an extractor's description.
pub const EXTRACTOR_FORMAT: &str = "spe-extractor";
/// The extractor's tokenizer, in [`MODEL_DIR`].
pub const EXTRACTOR_TOKENIZER_DIR: &str = "tokenizer";
