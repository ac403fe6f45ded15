//! The pre-training network of paper §3.1 in tch: the sentence encoder ([`bert`]), the
//! span encoder ([`span`]), the span-pair encoder ([`pair`]) and the objectives' heads
//! ([`heads`]).
//!
//! [`Encoder`] is the part that MoCo keeps twice (query and momentum key encoder): BERT,
//! the span and span-pair encoders and the CSPO projection. [`Heads`] holds the TBO and
//! SPO heads, which only the query side has.

pub mod bert;
pub mod heads;
pub mod pair;
pub mod span;

use anyhow::{bail, Result};
use bert::{Bert, BertConfig};
use heads::{Projection, SpoHead, TboHead};
use pair::{PairOutput, SpanPairEncoder};
use serde::{Deserialize, Serialize};
use span::SpanEncoder;
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Tensor};

/// Standard deviation of the initial weights of everything outside BERT, as BERT's
/// `initializer_range`.
pub const INIT_STD: f64 = 0.02;

/// A linear layer initialised as Hugging Face initialises BERT's: weights from N(0, std²),
/// biases 0.
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

/// Each row of `[N, C]` scaled to unit L2 norm.
pub fn unit_rows(xs: &Tensor) -> Tensor {
    xs / xs.norm_scalaropt_dim(2, [1].as_slice(), true).clamp_min(1e-12)
}

/// Copies every variable of `vs` whose name starts with `prefix` from `tensors`, where it
/// is named without the prefix. Every variable must be found with its exact shape;
/// `source` names the file in errors.
pub fn load_variables(vs: &nn::VarStore, prefix: &str, tensors: &HashMap<String, Tensor>, source: &Path) -> Result<()> {
    let mut variables: Vec<(String, Tensor)> =
        vs.variables().into_iter().filter(|(name, _)| name.starts_with(prefix)).collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut variable) in variables {
        let key = &name[prefix.len()..];
        let Some(value) = tensors.get(key) else {
            bail!("{}: the checkpoint has no tensor {key}", source.display());
        };
        if value.size() != variable.size() {
            bail!(
                "{}: tensor {key} has shape {:?}, but the configured model needs {:?}",
                source.display(),
                value.size(),
                variable.size()
            );
        }
        tch::no_grad(|| variable.copy_(value));
    }
    Ok(())
}

/// Sizes of the span and span-pair encoders; the defaults are the paper's and the
/// reference code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanConfig {
    /// Convolution kernel sizes, in words.
    pub kernel_sizes: Vec<i64>,
    /// Filters per kernel size.
    pub filters: i64,
    /// Size of a span vector (the MLP's output).
    pub size: i64,
    /// Size of the span-pair attention's hidden layer.
    pub attention_size: i64,
    /// Size of a relative position embedding.
    pub position_size: i64,
    /// Dropout after the MLP and the attention.
    pub dropout: f64,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig {
            kernel_sizes: vec![2, 3, 4],
            filters: 100,
            size: 300,
            attention_size: 500,
            position_size: 100,
            dropout: 0.1,
        }
    }
}

/// Sizes of the heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The whole network's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The sentence encoder; replaced by the checkpoint's `config.json` with `--init`.
    pub bert: BertConfig,
    /// The span and span-pair encoders.
    pub span: SpanConfig,
    /// The heads.
    pub heads: HeadsConfig,
}

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
    pub segments: Tensor,
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

/// Variable name prefixes of the encoder's parts.
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
    pub fn forward(&self, view: &ViewInput, train: bool) -> EncodedView {
        let bert = self.bert.forward(&view.input_ids, &view.attention_mask, train);
        let (b, w) = view.word_starts.size2().expect("[B, W]");
        let d = bert.hidden.size()[2];
        let words = bert.hidden.gather(1, &view.word_starts.unsqueeze(2).expand([b, w, d], false), false); // [B, W, D]
        let pair = self.pair.forward(&self.span, &words, &view.segments, &bert.pooled, train);
        let projected = match &self.projection {
            Some(projection) => projection.forward(&pair.pair, train),
            None => pair.pair.shallow_clone(),
        };
        // MoCo compares unit vectors; the authors' code leaves them unnormalised, which lets
        // the dot products, divided by a temperature of 0.2, grow without bound.
        let key = unit_rows(&projected);
        EncodedView { hidden: bert.hidden, pair, key }
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
