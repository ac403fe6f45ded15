//! Model FLOPs of a pre-training step, for model FLOP utilisation (MFU) as PaLM defines it
//! (Chowdhery et al., 2022, appendix B): the matrix products the model needs, whatever the
//! implementation computes (padding, recomputation), over the device's peak.
//!
//! Only the sentence encoder (BERT) is counted, on each row's real tokens: forward and
//! backward (twice the forward) of both views through the query encoder, and the forward of
//! both views through the key encoder when CSPO is on. The embeddings, the span and
//! span-pair encoders and the heads are left out; they are a few per cent of BERT-base's
//! work, so the figure is a slight underestimate, never an overestimate.

use crate::model::bert::BertConfig;

/// The sizes that set BERT's FLOPs.
#[derive(Debug, Clone, Copy)]
pub struct BertFlops {
    layers: f64,
    hidden: f64,
    intermediate: f64,
}

impl BertFlops {
    /// The FLOPs of a BERT of `config`'s sizes.
    pub fn of(config: &BertConfig) -> BertFlops {
        BertFlops {
            layers: config.num_hidden_layers as f64,
            hidden: config.hidden_size as f64,
            intermediate: config.intermediate_size as f64,
        }
    }

    /// Forward FLOPs of one row of `tokens` real tokens: in every layer, each token goes
    /// through the Q, K, V and output projections (4·h² multiply-adds) and the feed-forward
    /// (2·h·i), and attends to every token (2·t·h for the scores and the weighted sum).
    pub fn forward_row(&self, tokens: usize) -> f64 {
        let (t, h, i) = (tokens as f64, self.hidden, self.intermediate);
        2.0 * self.layers * t * (4.0 * h * h + 2.0 * h * i + 2.0 * t * h)
    }

    /// Model FLOPs of one micro-batch of rows of `lengths` real tokens: both views forward
    /// and backward through the query encoder, and forward through the key encoder when
    /// `key_encoder`.
    pub fn micro_batch(&self, lengths: impl IntoIterator<Item = usize>, key_encoder: bool) -> f64 {
        let forwards_per_row = 2.0 * 3.0 + if key_encoder { 2.0 } else { 0.0 };
        lengths.into_iter().map(|t| forwards_per_row * self.forward_row(t)).sum()
    }
}

/// `flops_per_s` with the SI prefix that keeps three figures readable: "1.23 TFLOP/s".
pub fn rate(flops_per_s: f64) -> String {
    let (value, prefix) = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")]
        .into_iter()
        .find(|(scale, _)| flops_per_s >= *scale)
        .map_or((flops_per_s, ""), |(scale, prefix)| (flops_per_s / scale, prefix));
    format!("{value:.3} {prefix}FLOP/s")
}

/// Real tokens of each row of a batch, from its `[rows, seq_len]` attention mask.
pub fn row_lengths(attention_mask: &[i64], seq_len: usize) -> impl Iterator<Item = usize> + '_ {
    attention_mask.chunks(seq_len.max(1)).map(|row| row.iter().filter(|&&m| m != 0).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_base_at_128_tokens_costs_what_the_literature_says() {
        // BERT-base's 85M non-embedding parameters: 2 FLOPs each per token, plus attention.
        let flops = BertFlops::of(&BertConfig::default());
        let per_token = flops.forward_row(128) / 128.0;
        let params = 12.0 * (4.0 * 768.0 * 768.0 + 2.0 * 768.0 * 3072.0);
        assert_eq!(per_token, 2.0 * params + 2.0 * 12.0 * 2.0 * 128.0 * 768.0);
        assert!((per_token / 1e9 - 0.175).abs() < 0.005, "{per_token}");
        // Two views forward and backward, and the key encoder's two forwards: 8 forwards.
        assert_eq!(flops.micro_batch([128, 128], true), 16.0 * flops.forward_row(128));
        assert_eq!(flops.micro_batch([128], false), 6.0 * flops.forward_row(128));
    }

    #[test]
    fn rates_read_with_a_prefix() {
        assert_eq!(rate(4.2e14), "420.000 TFLOP/s");
        assert_eq!(rate(3.1e9), "3.100 GFLOP/s");
        assert_eq!(rate(12.0), "12.000 FLOP/s");
    }

    #[test]
    fn padding_is_not_counted() {
        let mask = [1, 1, 1, 0, 1, 1, 1, 1];
        assert_eq!(row_lengths(&mask, 4).collect::<Vec<_>>(), [3, 4]);
    }
}
