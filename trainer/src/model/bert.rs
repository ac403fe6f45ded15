//! The sentence encoder: BERT (Devlin et al., 2018), laid out like Hugging Face's
//! `BertModel` so that its checkpoints load by name and spe's exports load back into it.
//!
//! Variable names are Hugging Face's (`embeddings.word_embeddings.weight`,
//! `encoder.layer.0.attention.self.query.weight`, …, `pooler.dense.weight`); attention runs
//! through `scaled_dot_product_attention`.

use super::layers::{embedding, layer_norm, linear};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The fields of a Hugging Face BERT `config.json` that the model uses. The defaults are
/// BERT-base cased, the paper's encoder. A key it does not know is refused (a typo in
/// `model.bert`); [`BertConfig::from_file`] drops the many others a `config.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Transformer layers.
    pub num_hidden_layers: i64,
    /// Attention heads per layer.
    pub num_attention_heads: i64,
    /// Feed-forward size.
    pub intermediate_size: i64,
    /// Feed-forward activation; only `gelu` (the exact, erf-based GELU) is supported.
    pub hidden_act: String,
    /// Dropout on embeddings and sub-layer outputs.
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence.
    pub max_position_embeddings: i64,
    /// Segment (token type) vocabulary.
    pub type_vocab_size: i64,
    /// Standard deviation of the initial weights.
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 28996,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
        }
    }
}

impl BertConfig {
    /// Reads a Hugging Face `config.json`; fields spe does not use are ignored.
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let text = spe::regular_file::read_to_string(path, "BERT's configuration")?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        if let Some(kind) = value.get("model_type").and_then(|v| v.as_str()) {
            ensure!(kind == "bert", "{}: model_type is {kind:?}; spe loads BERT checkpoints only", path.display());
        }
        let known = serde_json::to_value(BertConfig::default())?;
        if let (Some(fields), Some(known)) = (value.as_object_mut(), known.as_object()) {
            fields.retain(|key, _| known.contains_key(key));
        }
        let config: BertConfig =
            serde_json::from_value(value).with_context(|| format!("{}: not a BERT config", path.display()))?;
        config.check().with_context(|| path.display().to_string())?;
        Ok(config)
    }

    /// Checks that the sizes are in range and fit together, and that the activation is
    /// supported. The bounds are far above any released BERT (BERT-large: 1,024 wide, 24
    /// layers, 4,096 in the feed-forward) and keep a typo from allocating terabytes.
    pub fn check(&self) -> Result<()> {
        ensure!(self.hidden_act == "gelu", "hidden_act {:?} is not supported (only \"gelu\")", self.hidden_act);
        for (key, value, most) in [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 16),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            ("max_position_embeddings", self.max_position_embeddings, 1 << 16),
            ("type_vocab_size", self.type_vocab_size, 1 << 10),
        ] {
            ensure!((1..=most).contains(&value), "{key} must lie in [1, {most}], not {value}");
        }
        ensure!(
            self.hidden_size % self.num_attention_heads == 0,
            "hidden_size {} is not a multiple of num_attention_heads {}",
            self.hidden_size,
            self.num_attention_heads
        );
        for (key, value) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            ensure!((0.0..1.0).contains(&value), "{key} must lie in [0, 1), not {value}");
        }
        ensure!(
            self.initializer_range.is_finite() && self.initializer_range >= 0.0,
            "initializer_range must be a finite number ≥ 0, not {}",
            self.initializer_range
        );
        ensure!(
            self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0,
            "layer_norm_eps must be a finite number > 0, not {}",
            self.layer_norm_eps
        );
        Ok(())
    }

    /// The `config.json` of an export, loadable by `transformers.BertModel.from_pretrained`.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a BERT config serializes");
        let map = value.as_object_mut().expect("an object");
        map.insert("model_type".into(), "bert".into());
        map.insert("architectures".into(), serde_json::json!(["BertModel"]));
        map.insert("pad_token_id".into(), 0.into());
        map.insert("position_embedding_type".into(), "absolute".into());
        value
    }
}

/// Word, position and segment embeddings, summed and normalised.
#[derive(Debug)]
struct Embeddings {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl Embeddings {
    fn new(p: nn::Path, c: &BertConfig) -> Embeddings {
        let std = c.initializer_range;
        Embeddings {
            word_embeddings: embedding(&p / "word_embeddings", c.vocab_size, c.hidden_size, std),
            position_embeddings: embedding(&p / "position_embeddings", c.max_position_embeddings, c.hidden_size, std),
            token_type_embeddings: embedding(&p / "token_type_embeddings", c.type_vocab_size, c.hidden_size, std),
            layer_norm: layer_norm(&p / "LayerNorm", c.hidden_size, c.layer_norm_eps),
            dropout: c.hidden_dropout_prob,
        }
    }

    /// `[B, T]` ids → `[B, T, D]`. Every token is of segment 0: the paper drops BERT's
    /// sentence pairs. An id outside the vocabulary, or a sequence longer than the
    /// position table, is an error.
    fn forward(&self, input_ids: &Tensor, train: bool) -> Result<Tensor> {
        let (_, seq_len) = input_ids.size2()?;
        let max_positions = self.position_embeddings.ws.size()[0];
        ensure!(
            seq_len <= max_positions,
            "a sequence of {seq_len} tokens is longer than BERT's {max_positions} positions"
        );
        let positions = Tensor::arange(seq_len, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let segments = input_ids.zeros_like();
        let words = Tensor::f_embedding(&self.word_embeddings.ws, input_ids, -1, false, false).with_context(|| {
            format!("a token id lies outside the vocabulary of {} entries", self.word_embeddings.ws.size()[0])
        })?;
        let sum = words + self.position_embeddings.forward(&positions) + self.token_type_embeddings.forward(&segments);
        Ok(self.layer_norm.forward(&sum).dropout(self.dropout, train))
    }
}

/// One Transformer layer: self-attention then feed-forward, each with a residual
/// connection and LayerNorm after it (post-norm, as BERT).
#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_output: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
    heads: i64,
    hidden_dropout: f64,
    attention_dropout: f64,
}

impl Layer {
    fn new(p: nn::Path, c: &BertConfig) -> Layer {
        let (d, std) = (c.hidden_size, c.initializer_range);
        let attention = &p / "attention";
        let own = &attention / "self";
        let output = &attention / "output";
        Layer {
            query: linear(&own / "query", d, d, std, true),
            key: linear(&own / "key", d, d, std, true),
            value: linear(&own / "value", d, d, std, true),
            attention_output: linear(&output / "dense", d, d, std, true),
            attention_norm: layer_norm(&output / "LayerNorm", d, c.layer_norm_eps),
            intermediate: linear(&p / "intermediate" / "dense", d, c.intermediate_size, std, true),
            output: linear(&p / "output" / "dense", c.intermediate_size, d, std, true),
            output_norm: layer_norm(&p / "output" / "LayerNorm", d, c.layer_norm_eps),
            heads: c.num_attention_heads,
            hidden_dropout: c.hidden_dropout_prob,
            attention_dropout: c.attention_probs_dropout_prob,
        }
    }

    /// `[B, T, D]` → `[B, T, D]`; `mask` is `[B, 1, 1, T]`, true where a key may be attended.
    fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let (b, t, d) = xs.size3()?;
        // [B, T, D] -> [B, H, T, D/H]
        let split = |x: Tensor| x.view([b, t, self.heads, d / self.heads]).transpose(1, 2);
        let (q, k, v) = (split(self.query.forward(xs)), split(self.key.forward(xs)), split(self.value.forward(xs)));
        let dropout = if train { self.attention_dropout } else { 0.0 };
        let context = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(mask), dropout, false, None, false);
        let context = context.transpose(1, 2).contiguous().view([b, t, d]);
        let attended = self
            .attention_norm
            .forward(&(self.attention_output.forward(&context).dropout(self.hidden_dropout, train) + xs));
        let inner = self.intermediate.forward(&attended).gelu("none");
        Ok(self.output_norm.forward(&(self.output.forward(&inner).dropout(self.hidden_dropout, train) + attended)))
    }
}

/// BERT's outputs for a batch.
#[derive(Debug)]
pub struct BertOutput {
    /// `[B, T, D]` hidden states of the last layer.
    pub hidden: Tensor,
    /// `[B, D]` the pooler's output: `tanh(W h_[CLS] + b)`.
    pub pooled: Tensor,
}

/// The BERT sentence encoder.
#[derive(Debug)]
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: nn::Linear,
    config: BertConfig,
}

impl Bert {
    /// A randomly initialised BERT under `p` (whose variables are named as Hugging Face's).
    pub fn new(p: nn::Path, config: &BertConfig) -> Bert {
        let encoder = &p / "encoder" / "layer";
        Bert {
            embeddings: Embeddings::new(&p / "embeddings", config),
            layers: (0..config.num_hidden_layers).map(|i| Layer::new(&encoder / i, config)).collect(),
            pooler: linear(
                &p / "pooler" / "dense",
                config.hidden_size,
                config.hidden_size,
                config.initializer_range,
                true,
            ),
            config: config.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// `[B, T]` ids and `[B, T]` attention mask (1 real, 0 padding) → hidden states and
    /// pooled output.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<BertOutput> {
        let mask = attention_mask.gt(0).unsqueeze(1).unsqueeze(1);
        let mut hidden = self.embeddings.forward(input_ids, train)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask, train)?;
        }
        let pooled = self.pooler.forward(&hidden.select(1, 0)).tanh();
        Ok(BertOutput { hidden, pooled })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn ids_outside_the_vocabulary_and_overlong_rows_are_errors() {
        let config = BertConfig {
            vocab_size: 10,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 6,
            ..BertConfig::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let bert = Bert::new(vs.root(), &config);
        let run = |ids: &[i64]| {
            let ids = Tensor::from_slice(ids).view([1, -1]);
            bert.forward(&ids, &ids.ones_like(), false).map(|out| out.hidden.size())
        };
        assert_eq!(run(&[1, 2, 9]).unwrap(), [1, 3, 8]);
        let err = format!("{:#}", run(&[1, 10, 2]).unwrap_err());
        assert!(err.contains("outside the vocabulary of 10 entries"), "{err}");
        let err = run(&[1; 7]).unwrap_err().to_string();
        assert!(err.contains("7 tokens is longer than BERT's 6 positions"), "{err}");
    }
}
