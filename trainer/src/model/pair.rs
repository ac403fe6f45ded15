//! The span-pair encoder (paper §3.1): the five segments L, s1, M, s2, R through the span
//! encoder, then position-aware attention over them with the `[CLS]` vector as query:
//!
//! ```text
//! e_j = vᵀ tanh(W_h h_j + W_cls h_cls + W_s1 p^s1_j + W_s2 p^s2_j),  a = softmax(e),  h_p = Σ_j a_j h_j
//! ```
//!
//! where p^s1_j and p^s2_j embed segment j's position relative to s1 and to s2 (Zhang et
//! al., 2017). The authors' code uses GELU where the paper writes tanh; spe follows the
//! paper.

use super::layers::{embedding, linear, INIT_STD};
use super::span::{SpanConfig, SpanEncoder, Spans};
use anyhow::Result;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Relative positions run from -3 (R seen from s1 is +3, L seen from s2 is -3) to +3.
const RELATIVE_POSITIONS: i64 = 7;

/// Attention over the five segment vectors.
#[derive(Debug)]
pub struct SpanPairEncoder {
    positions: nn::Embedding,
    w_h: nn::Linear,
    w_cls: nn::Linear,
    w_s1: nn::Linear,
    w_s2: nn::Linear,
    v: nn::Linear,
    dropout: f64,
}

/// What the span-pair encoder computes for a batch.
#[derive(Debug)]
pub struct PairOutput {
    /// `[P, 5, span]` h_L, h_s1, h_M, h_s2, h_R.
    pub segments: Tensor,
    /// `[P, 5]` attention over the segments.
    pub attention: Tensor,
    /// `[P, span]` h_p.
    pub pair: Tensor,
}

impl SpanPairEncoder {
    /// An encoder over span vectors of `config.size` features and a query of `query` features.
    pub fn new(p: nn::Path, query: i64, config: &SpanConfig) -> SpanPairEncoder {
        let (size, att, pos) = (config.size, config.attention_size, config.position_size);
        let weights = |name: &str, input: i64, output: i64| linear(&p / name, input, output, INIT_STD, false);
        SpanPairEncoder {
            positions: embedding(&p / "positions", RELATIVE_POSITIONS, pos, INIT_STD),
            w_h: weights("w_h", size, att),
            w_cls: weights("w_cls", query, att),
            w_s1: weights("w_s1", pos, att),
            w_s2: weights("w_s2", pos, att),
            v: weights("v", att, 1),
            dropout: config.dropout,
        }
    }

    /// `words`: `[B, W, D]`; `segments`: `[P, 5, 2]` word ranges of L, s1, M, s2, R, each
    /// row in the sentence `segments.rows` names; `cls`: `[P, D]` the pooler output of
    /// that sentence.
    pub fn forward(
        &self,
        span_encoder: &SpanEncoder,
        words: &Tensor,
        segments: &Spans,
        cls: &Tensor,
        train: bool,
    ) -> Result<PairOutput> {
        let h = span_encoder.forward(words, segments, train)?; // [P, 5, span]
        let device = words.device();
        let index = Tensor::arange(5, (Kind::Int64, device));
        // Segment j sits at j - 1 from s1 and j - 3 from s2; shifted to 0..7.
        let p_s1 = self.positions.forward(&(&index - 1 + 3)); // [5, pos]
        let p_s2 = self.positions.forward(&(&index - 3 + 3)); // [5, pos]
        let energy = self.w_h.forward(&h) // [P, 5, att]
            + self.w_cls.forward(cls).unsqueeze(1)
            + (self.w_s1.forward(&p_s1) + self.w_s2.forward(&p_s2)).unsqueeze(0);
        let attention = self.v.forward(&energy.tanh()).squeeze_dim(2).softmax(1, h.kind()); // [P, 5]
        let pair = attention.unsqueeze(1).bmm(&h).squeeze_dim(1).dropout(self.dropout, train); // [P, span]
        Ok(PairOutput { segments: h, attention, pair })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_attention_and_gradients() {
        tch::manual_seed(3);
        let (b, w, d) = (2, 9, 8);
        let config = SpanConfig { filters: 4, size: 6, attention_size: 5, position_size: 3, ..SpanConfig::default() };
        let vs = nn::VarStore::new(Device::Cpu);
        let span = SpanEncoder::new(vs.root() / "span_encoder", d, &config);
        let pair = SpanPairEncoder::new(vs.root() / "pair_encoder", d, &config);
        let words = Tensor::randn([b, w, d], (Kind::Float, Device::Cpu));
        let cls = Tensor::randn([b, d], (Kind::Float, Device::Cpu));
        // L, s1, M, s2, R of two sentences; the second has an empty L and an empty M.
        let segments =
            Spans::upload(&[0i64, 2, 2, 4, 4, 5, 5, 7, 7, 9, 0, 0, 0, 3, 3, 3, 3, 6, 6, 9], &[b, 5, 2], Device::Cpu);
        let out = pair.forward(&span, &words, &segments, &cls, true).unwrap();
        assert_eq!(out.segments.size(), [b, 5, 6]);
        assert_eq!(out.attention.size(), [b, 5]);
        assert_eq!(out.pair.size(), [b, 6]);
        let sums = out.attention.sum_dim_intlist([1].as_slice(), false, Kind::Float);
        assert!(sums.allclose(&Tensor::ones([b], (Kind::Float, Device::Cpu)), 1e-6, 1e-6, false), "{sums}");
        assert!(bool::try_from(out.attention.ge(0.0).all()).unwrap());

        out.pair.square().sum(Kind::Float).backward();
        for (name, variable) in vs.variables() {
            let grad = variable.grad();
            let reached = grad.defined() && f64::try_from(grad.abs().sum(Kind::Float)).unwrap() > 0.0;
            assert!(reached, "no gradient reaches {name}");
        }
    }
}
