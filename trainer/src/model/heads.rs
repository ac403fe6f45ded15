//! The heads of the three objectives (paper §3.2) and the CSPO projection.

use super::layers::{embedding, linear, Dense, INIT_STD};
use super::ModelConfig;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

/// Sizes of the heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeadsConfig {
    /// Entries of the TBO offset embedding (offsets inside a word are below 128).
    pub tbo_offsets: i64,
    /// Size of a TBO offset embedding.
    pub tbo_offset_size: i64,
    /// Whether CSPO compares projections (MLP head) or the span-pair vectors themselves
    /// (the paper's "w/o MLP head" ablation).
    pub projection: bool,
    /// Size of the projection.
    pub projection_size: i64,
}

impl Default for HeadsConfig {
    fn default() -> Self {
        HeadsConfig { tbo_offsets: 150, tbo_offset_size: 200, projection: true, projection_size: 768 }
    }
}

impl HeadsConfig {
    /// The ranges of the sizes.
    pub fn check(&self) -> Result<()> {
        // TBO's sampler skips words of more than 128 pieces (spe::sample::tbo).
        ensure!(
            (129..=1 << 16).contains(&self.tbo_offsets),
            "tbo_offsets must lie in [129, 65536] (offsets inside a word reach 127), not {}",
            self.tbo_offsets
        );
        for (key, value) in [("tbo_offset_size", self.tbo_offset_size), ("projection_size", self.projection_size)] {
            ensure!((1..=1 << 16).contains(&value), "{key} must lie in [1, 65536], not {value}");
        }
        Ok(())
    }
}

/// TBO: a masked piece is predicted from its word's first sub-token state and an
/// embedding of the piece's offset inside the word.
#[derive(Debug)]
pub struct TboHead {
    offsets: nn::Embedding,
    mlp: Dense,
    decoder: nn::Linear,
}

impl TboHead {
    /// A head over hidden states of `hidden` features into `vocab` logits.
    pub fn new(p: nn::Path, hidden: i64, vocab: i64, config: &HeadsConfig, dropout: f64) -> TboHead {
        TboHead {
            offsets: embedding(&p / "offsets", config.tbo_offsets, config.tbo_offset_size, INIT_STD),
            mlp: Dense::new(&p / "mlp", hidden + config.tbo_offset_size, hidden, dropout),
            decoder: linear(&p / "decoder", hidden, vocab, INIT_STD, true),
        }
    }

    /// `anchors`: `[N, D]` first sub-token states; `offsets`: `[N]` → `[N, vocab]` logits.
    pub fn forward(&self, anchors: &Tensor, offsets: &Tensor, train: bool) -> Tensor {
        let input = Tensor::cat(&[anchors.shallow_clone(), self.offsets.forward(offsets)], 1);
        self.decoder.forward(&self.mlp.forward(&input, train))
    }
}

/// SPO: which of the 3! orders of first, middle and last word a segment was given.
#[derive(Debug)]
pub struct SpoHead {
    mlp: Dense,
    classifier: nn::Linear,
}

/// Number of SPO classes: the permutations of a segment's three parts.
pub const SPO_CLASSES: i64 = 6;

impl SpoHead {
    /// A head over span vectors of `span` features.
    pub fn new(p: nn::Path, span: i64, dropout: f64) -> SpoHead {
        SpoHead {
            mlp: Dense::new(&p / "mlp", span, span, dropout),
            classifier: linear(&p / "classifier", span, SPO_CLASSES, INIT_STD, true),
        }
    }

    /// `[N, span]` segment vectors → `[N, 6]` logits.
    pub fn forward(&self, spans: &Tensor, train: bool) -> Tensor {
        self.classifier.forward(&self.mlp.forward(spans, train))
    }
}

/// CSPO's projection head f = MLP(SpanPairEncoder(x)): two blocks, span → size → size.
#[derive(Debug)]
pub struct Projection {
    first: Dense,
    second: Dense,
}

impl Projection {
    /// A head from span-pair vectors of `span` features to `size`.
    pub fn new(p: nn::Path, span: i64, size: i64, dropout: f64) -> Projection {
        Projection {
            first: Dense::new(&p / "first", span, size, dropout),
            second: Dense::new(&p / "second", size, size, dropout),
        }
    }

    /// `[B, span]` → `[B, size]`.
    pub fn forward(&self, pair: &Tensor, train: bool) -> Tensor {
        self.second.forward(&self.first.forward(pair, train), train)
    }
}

/// The query side's heads of TBO and SPO.
#[derive(Debug)]
pub struct Heads {
    /// Token boundary objective.
    pub tbo: TboHead,
    /// Span permutation objective.
    pub spo: SpoHead,
}

impl Heads {
    /// Randomly initialised heads under `p`.
    pub fn new(p: &nn::Path, config: &ModelConfig) -> Heads {
        let dropout = config.span.dropout;
        Heads {
            tbo: TboHead::new(p / "tbo_head", config.bert.hidden_size, config.bert.vocab_size, &config.heads, dropout),
            spo: SpoHead::new(p / "spo_head", config.span.size, dropout),
        }
    }
}
