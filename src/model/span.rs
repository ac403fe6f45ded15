//! The span encoder (paper §3.1): a single convolution layer over a span's word vectors,
//! max-pooled over time, followed by an MLP.

use super::{linear, SpanConfig, INIT_STD};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

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

/// CNN + max-pool + MLP over the word vectors of a span.
#[derive(Debug)]
pub struct SpanEncoder {
    convs: Vec<(i64, nn::Conv1D)>,
    mlp: Dense,
}

impl SpanEncoder {
    /// A span encoder over word vectors of `input` features.
    pub fn new(p: nn::Path, input: i64, config: &SpanConfig) -> SpanEncoder {
        let convs = config
            .kernel_sizes
            .iter()
            .map(|&k| (k, nn::conv1d(&p / format!("conv{k}"), input, config.filters, k, Default::default())))
            .collect();
        let pooled = config.filters * config.kernel_sizes.len() as i64;
        SpanEncoder { convs, mlp: Dense::new(&p / "mlp", pooled, config.size, config.dropout) }
    }

    /// `words`: `[B, W, D]` word vectors; `spans`: `[B, S, 2]` half-open word ranges
    /// (empty ones allowed) → `[B, S, size]`.
    pub fn forward(&self, words: &Tensor, spans: &Tensor, train: bool) -> Tensor {
        let (b, w, d) = words.size3().expect("[B, W, D]");
        let s = spans.size()[1];
        let device = words.device();
        let start = spans.select(2, 0); // [B, S]
        let len = spans.select(2, 1) - &start; // [B, S]
        let longest_kernel = self.convs.iter().map(|(k, _)| *k).max().unwrap_or(1);
        let width = (i64::try_from(len.max()).expect("a span length")).max(longest_kernel);
        // [B, S, width]: the word index of each place in each span, and whether it is real.
        let offsets = Tensor::arange(width, (Kind::Int64, device)).view([1, 1, width]);
        let index = (start.unsqueeze(2) + &offsets).clamp(0, w - 1);
        let real = offsets.lt_tensor(&len.unsqueeze(2));
        // [B, S, width, D], zero outside the span
        let gathered = words.unsqueeze(1).expand([b, s, w, d], false).gather(
            2,
            &index.unsqueeze(3).expand([b, s, width, d], false),
            false,
        ) * real.unsqueeze(3).to_kind(words.kind());
        // [B*S, D, width] for Conv1d
        let channels = gathered.view([b * s, width, d]).transpose(1, 2);
        let len = len.view([b * s, 1]);
        let pooled: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(k, conv)| {
                // [B*S, F, width-k+1]; windows starting past the span's last full window see
                // only padding and are left out of the max (a span shorter than the kernel
                // keeps its first, zero-padded window).
                let out = conv.forward(&channels).gelu("none");
                let windows = width - k + 1;
                let starts = Tensor::arange(windows, (Kind::Int64, device)).view([1, 1, windows]);
                let last = (&len - (*k - 1)).clamp_min(1).unsqueeze(2);
                out.masked_fill(&starts.ge_tensor(&last), f64::NEG_INFINITY).amax([2].as_slice(), false)
            })
            .collect();
        // [B*S, filters * kernels] -> [B, S, size]
        self.mlp.forward(&Tensor::cat(&pooled, 1), train).view([b, s, -1])
    }
}
