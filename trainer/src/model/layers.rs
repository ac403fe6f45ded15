//! The building blocks every part of the network shares, initialised as Hugging Face
//! initialises BERT: weights from N(0, std²), biases 0, LayerNorm 1 and 0.

use anyhow::{Context, Result};
use tch::nn::{self, Module};
use tch::Tensor;

/// Standard deviation of the initial weights of everything outside BERT, as BERT's
/// `initializer_range`.
pub const INIT_STD: f64 = 0.02;

/// A linear layer with weights from N(0, std²) and, with `bias`, biases 0.
pub fn linear(p: nn::Path, input: i64, output: i64, std: f64, bias: bool) -> nn::Linear {
    let config = nn::LinearConfig {
        ws_init: nn::Init::Randn { mean: 0.0, stdev: std },
        bs_init: bias.then_some(nn::Init::Const(0.0)),
        bias,
    };
    nn::linear(p, input, output, config)
}

/// An embedding table with weights from N(0, std²).
pub fn embedding(p: nn::Path, count: i64, dim: i64, std: f64) -> nn::Embedding {
    let config = nn::EmbeddingConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: std }, ..Default::default() };
    nn::embedding(p, count, dim, config)
}

/// LayerNorm over the last dimension of size `dim`.
pub fn layer_norm(p: nn::Path, dim: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], nn::LayerNormConfig { eps, ..Default::default() })
}

/// Each row of `[N, C]` scaled to unit L2 norm.
pub fn unit_rows(xs: &Tensor) -> Tensor {
    xs / xs.norm_scalaropt_dim(2, [1].as_slice(), true).clamp_min(1e-12)
}

/// Each word's vector, its first sub-token's state: `hidden` `[B, T, D]` gathered at
/// `word_starts` `[B, W]` → `[B, W, D]`.
pub fn word_vectors(hidden: &Tensor, word_starts: &Tensor) -> Result<Tensor> {
    let (b, w) = word_starts.size2()?;
    let (_, t, d) = hidden.size3()?;
    hidden
        .f_gather(1, &word_starts.unsqueeze(2).expand([b, w, d], false), false)
        .with_context(|| format!("a word starts outside its sentence of {t} sub-tokens"))
}

/// Each word's vector, the element-wise maximum of its sub-tokens' states: `hidden`
/// `[B, T, D]`, `word_of` `[B, T]` the word of each sub-token (`words` where it is none:
/// `[CLS]`, `[SEP]`, padding) → `[B, words, D]`, zero past a row's last word.
pub fn word_maxima(hidden: &Tensor, word_of: &Tensor, words: i64) -> Result<Tensor> {
    let (b, t, d) = hidden.size3()?;
    let index = word_of.unsqueeze(2).expand([b, t, d], false);
    let maxima = Tensor::zeros([b, words + 1, d], (hidden.kind(), hidden.device()))
        .f_internal_scatter_reduce(1, &index, hidden, "amax", false)
        .with_context(|| format!("a sub-token belongs to no word of {words}"))?;
    Ok(maxima.narrow(1, 0, words).contiguous())
}

/// Linear, GELU, LayerNorm, dropout: the MLP block of the span encoder and of every head
/// (the authors' `BertLinear`).
#[derive(Debug)]
pub struct Dense {
    linear: nn::Linear,
    norm: nn::LayerNorm,
    dropout: f64,
}

impl Dense {
    /// A block from `input` to `output` features.
    pub fn new(p: nn::Path, input: i64, output: i64, dropout: f64) -> Dense {
        Dense {
            linear: linear(&p / "linear", input, output, INIT_STD, true),
            norm: nn::layer_norm(&p / "LayerNorm", vec![output], Default::default()),
            dropout,
        }
    }

    /// `[…, input]` → `[…, output]`.
    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        self.norm.forward(&self.linear.forward(xs).gelu("none")).dropout(self.dropout, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_words_maximum_reads_its_own_sub_tokens_only() {
        // Row 0: [CLS] a1 a2 b1 [SEP]; row 1: [CLS] c1 [SEP] and padding: two words at most.
        let states = [9.0f32, 9.0, 1.0, -4.0, 3.0, -2.0, 5.0, 6.0, 9.0, 9.0, 9.0, 9.0, -1.0, -1.0]
            .into_iter()
            .chain([9.0f32; 6])
            .collect::<Vec<_>>();
        let hidden = Tensor::from_slice(&states).view([2, 5, 2]);
        let word_of = Tensor::from_slice(&[2i64, 0, 0, 1, 2, 2, 0, 2, 2, 2]).view([2, 5]);
        let maxima = word_maxima(&hidden, &word_of, 2).unwrap();
        assert_eq!(Vec::<f32>::try_from(maxima.view([-1])).unwrap(), [3.0, -2.0, 5.0, 6.0, -1.0, -1.0, 0.0, 0.0]);
        let first = word_vectors(&hidden, &Tensor::from_slice(&[1i64, 3, 1, 0]).view([2, 2])).unwrap();
        assert_eq!(Vec::<f32>::try_from(first.view([-1])).unwrap(), [1.0, -4.0, 5.0, 6.0, -1.0, -1.0, 9.0, 9.0]);
    }
}
