//! The encoder of a view: BERT, the span and span-pair encoders and the CSPO projection,
//! in the paper's order (§3.1). MoCo keeps it twice: the query encoder, trained, and the
//! momentum key encoder ([`crate::train::moco`]).

use super::bert::Bert;
use super::heads::Projection;
use super::layers::unit_rows;
use super::pair::{PairOutput, SpanPairEncoder};
use super::span::{SpanEncoder, Spans};
use super::ModelConfig;
use anyhow::Result;
use tch::{nn, Tensor};

/// One CSPO view of a batch, on the model's device.
#[derive(Debug)]
pub struct ViewInput {
    /// `[B, T]` token ids.
    pub input_ids: Tensor,
    /// `[B, T]` 1 on tokens, 0 on padding.
    pub attention_mask: Tensor,
    /// `[B, W]` position of each word's first sub-token.
    pub word_starts: Tensor,
    /// `[B, 5, 2]` word ranges of L, s1, M, s2, R.
    pub segments: Spans,
}

/// What the encoder computes for a view.
#[derive(Debug)]
pub struct EncodedView {
    /// `[B, T, D]` BERT's last hidden states.
    pub hidden: Tensor,
    /// The span-pair encoder's segments, attention and h_p.
    pub pair: PairOutput,
    /// `[B, C]` the L2-normalised CSPO representation f(x).
    pub key: Tensor,
}

/// BERT, span and span-pair encoders and the CSPO projection.
#[derive(Debug)]
pub struct Encoder {
    bert: Bert,
    span: SpanEncoder,
    pair: SpanPairEncoder,
    projection: Option<Projection>,
}

/// Variable name prefix of the sentence encoder.
pub const BERT_PREFIX: &str = "bert.";

impl Encoder {
    /// A randomly initialised encoder under `p`.
    pub fn new(p: &nn::Path, config: &ModelConfig) -> Encoder {
        let hidden = config.bert.hidden_size;
        let dropout = config.span.dropout;
        Encoder {
            bert: Bert::new(p / "bert", &config.bert),
            span: SpanEncoder::new(p / "span_encoder", hidden, &config.span),
            pair: SpanPairEncoder::new(p / "pair_encoder", hidden, &config.span),
            projection: config
                .heads
                .projection
                .then(|| Projection::new(p / "projection", config.span.size, config.heads.projection_size, dropout)),
        }
    }

    /// The sentence encoder.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// Encodes one view: BERT, word vectors (each word's first sub-token), the span-pair
    /// encoder with the pooler output as query, and the normalised CSPO representation.
    pub fn forward(&self, view: &ViewInput, train: bool) -> Result<EncodedView> {
        let bert = self.bert.forward(&view.input_ids, &view.attention_mask, train)?;
        let words = super::layers::word_vectors(&bert.hidden, &view.word_starts)?; // [B, W, D]
        let pair = self.pair.forward(&self.span, &words, &view.segments, &bert.pooled, train)?;
        let projected = match &self.projection {
            Some(projection) => projection.forward(&pair.pair, train),
            None => pair.pair.shallow_clone(),
        };
        // MoCo compares unit vectors; the authors' code leaves them unnormalised, which lets
        // the dot products, divided by a temperature of 0.2, grow without bound.
        let key = unit_rows(&projected);
        Ok(EncodedView { hidden: bert.hidden, pair, key })
    }
}
