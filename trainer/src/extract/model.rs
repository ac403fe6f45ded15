//! The extractor's network (paper §3.4 and appendix A): the sentence encoder, a softmax
//! tagger of entity spans over its word vectors, the span encoder and a softmax over entity
//! classes for each candidate span, and the span-pair encoder and a softmax over relation
//! classes for each candidate pair. The span and span-pair encoders are pre-training's
//! ([`crate::model::span`], [`crate::model::pair`]) under the same variable names, so a
//! pre-training run's `span_encoders.safetensors` loads into them.

use crate::model::bert::{Bert, BertConfig};
use crate::model::layers::{linear, word_vectors, INIT_STD};
use crate::model::pair::SpanPairEncoder;
use crate::model::span::{SpanConfig, SpanEncoder, Spans};
use anyhow::Result;
use spe::extract::labels::Labels;
use tch::nn::{self, Module};
use tch::Tensor;

/// The sentence encoder's output for a batch.
pub struct Encoded {
    /// `[B, W, D]` each word's first sub-token state (past a row's last word, the `[CLS]`
    /// state, which no span reaches).
    pub words: Tensor,
    /// `[B, D]` the pooler output, the span-pair encoder's query.
    pub cls: Tensor,
}

/// The joint entity and relation extractor.
#[derive(Debug)]
pub struct Extractor {
    bert: Bert,
    tagger: nn::Linear,
    span_encoder: SpanEncoder,
    entity_classifier: nn::Linear,
    pair_encoder: SpanPairEncoder,
    relation_classifier: nn::Linear,
    dropout: f64,
}

impl Extractor {
    /// A randomly initialised extractor under `p` for the classes of `labels`.
    pub fn new(p: &nn::Path, bert: &BertConfig, span: &SpanConfig, labels: &Labels) -> Extractor {
        let hidden = bert.hidden_size;
        Extractor {
            bert: Bert::new(p / "bert", bert),
            tagger: linear(p / "tagger", hidden, labels.tag_names().len() as i64, INIT_STD, true),
            span_encoder: SpanEncoder::new(p / "span_encoder", hidden, span),
            entity_classifier: linear(p / "entity_classifier", span.size, labels.entity_classes(), INIT_STD, true),
            pair_encoder: SpanPairEncoder::new(p / "pair_encoder", hidden, span),
            relation_classifier: linear(
                p / "relation_classifier",
                span.size,
                labels.relation_classes(),
                INIT_STD,
                true,
            ),
            dropout: span.dropout,
        }
    }

    /// BERT over `[B, T]` ids and mask; each word's vector is its first sub-token's state,
    /// gathered at `word_starts` `[B, W]`.
    pub fn encode(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        word_starts: &Tensor,
        train: bool,
    ) -> Result<Encoded> {
        let out = self.bert.forward(input_ids, attention_mask, train)?;
        Ok(Encoded { words: word_vectors(&out.hidden, word_starts)?, cls: out.pooled })
    }

    /// `[B, W, tags]` span tag logits of every word.
    pub fn tag_logits(&self, encoded: &Encoded, train: bool) -> Tensor {
        self.tagger.forward(&encoded.words.dropout(self.dropout, train))
    }

    /// `[N, entity classes]` logits of N candidate spans: `rows` `[N]` picks each span's
    /// sentence, `spans` `[N, 2]` its half-open word range.
    pub fn entity_logits(&self, encoded: &Encoded, rows: &Tensor, spans: &Spans, train: bool) -> Result<Tensor> {
        let words = encoded.words.index_select(0, rows); // [N, W, D]
        let spans = self.span_encoder.forward(&words, &spans.unsqueeze(1), train)?.squeeze_dim(1); // [N, span]
        Ok(self.entity_classifier.forward(&spans))
    }

    /// `[P, relation classes]` logits of P candidate pairs: `rows` `[P]` picks each pair's
    /// sentence, `segments` `[P, 5, 2]` its L, e1, M, e2 and R.
    pub fn relation_logits(&self, encoded: &Encoded, rows: &Tensor, segments: &Spans, train: bool) -> Result<Tensor> {
        let words = encoded.words.index_select(0, rows); // [P, W, D]
        let cls = encoded.cls.index_select(0, rows); // [P, D]
        let pair = self.pair_encoder.forward(&self.span_encoder, &words, segments, &cls, train)?; // [P, span]
        Ok(self.relation_classifier.forward(&pair.pair))
    }
}
