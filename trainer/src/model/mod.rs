//! The pre-training network of paper §3.1 in tch, one struct per component, named as the
//! paper names them:
//!
//! - [`bert`]: the sentence encoder, BERT under Hugging Face's variable names;
//! - [`span`]: the span encoder (CNN, max-pool, MLP);
//! - [`pair`]: the span-pair encoder (attention over L, s1, M, s2, R);
//! - [`heads`]: the TBO and SPO heads and the CSPO projection;
//! - [`encoder`]: BERT, span and span-pair encoders and projection together, the part that
//!   MoCo keeps twice (query and momentum key encoder);
//! - [`layers`]: the shared building blocks and their initialisation;
//! - [`weights`]: reading and writing weights: Hugging Face BERT checkpoints, the exports of
//!   a run (`encoder/`, `span_encoders.safetensors`), loading variables by prefix.

pub mod bert;
pub mod encoder;
pub mod heads;
pub mod layers;
pub mod pair;
pub mod span;
pub mod weights;

use bert::BertConfig;
use heads::HeadsConfig;
use serde::{Deserialize, Serialize};
use span::SpanConfig;

pub use encoder::{EncodedView, Encoder, ViewInput, BERT_PREFIX};
pub use heads::Heads;

/// The whole network's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The sentence encoder; replaced by the checkpoint's `config.json` with `--init`.
    pub bert: BertConfig,
    /// The span and span-pair encoders.
    pub span: SpanConfig,
    /// The heads.
    pub heads: HeadsConfig,
}

#[cfg(test)]
impl ModelConfig {
    /// A model small enough for unit tests.
    pub(crate) fn tiny() -> ModelConfig {
        let mut model = ModelConfig::default();
        model.bert.vocab_size = 50;
        model.bert.hidden_size = 8;
        model.bert.num_hidden_layers = 1;
        model.bert.num_attention_heads = 2;
        model.bert.intermediate_size = 16;
        model.span.filters = 4;
        model.span.size = 6;
        model.span.attention_size = 5;
        model.span.position_size = 3;
        model.heads.projection_size = 4;
        model
    }
}
