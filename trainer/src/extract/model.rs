//! The extractor's network (paper §3.4 and appendix A): the sentence encoder, a softmax
//! tagger of entity spans over its word vectors, the span encoder and a softmax over entity
//! classes for each candidate span, and the span-pair encoder and a softmax over relation
//! classes for each candidate pair. The span and span-pair encoders are pre-training's
//! ([`crate::model::span`], [`crate::model::pair`]) under the same variable names, so a
//! pre-training run's `span_encoders.safetensors` loads into them.
//!
//! Three inputs beside the paper's, each a switch of [`ClassifiersConfig`] (on in spe's
//! recipe, off in the paper's set-up):
//!
//! - `word_vectors = "max"`: a word's vector is the maximum of its sub-tokens' states,
//!   where the paper takes its first sub-token's (§3.3), which pre-training's TBO trains
//!   to carry the whole word. A plain BERT was not trained so: the first piece of a word
//!   that WordPiece splits says little of it. SpERT max-pools a span's sub-tokens.
//! - `entity_edges`: the entity classifier also reads the span's first and last word
//!   vectors and an embedding of its width, as PURE (Zhong and Chen, 2021) does and SpERT
//!   (Eberts and Ulges, 2020) with its width embedding. Enumerated candidates
//!   ([`super::candidates::Proposer::Spans`]) differ from each other by a word at an edge,
//!   which the span encoder's max-pool over windows barely tells apart.
//! - `pair_arguments`: the relation classifier also reads the span-pair encoder's vectors
//!   of its two arguments, h_s1 and h_s2, beside h_p. The paper's h_p is an attention
//!   average of the five segment vectors, all made by one span encoder: which words were
//!   the first argument and which the second survives only in the attention weights, so
//!   the direction of a relation and the types of its arguments are hard to read from it.
//!   SpERT's relation classifier reads both arguments and the context between them.

use crate::extract::labels::Labels;
use crate::model::bert::{Bert, BertConfig};
use crate::model::layers::{embedding, linear, word_maxima, word_vectors, INIT_STD};
use crate::model::pair::SpanPairEncoder;
use crate::model::span::{SpanConfig, SpanEncoder, Spans};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

/// The sentence encoder's output for a batch.
pub struct Encoded {
    /// `[B, W, D]` each word's vector, as [`WordVectors`] says (past a row's last word,
    /// a vector that no span reaches).
    pub words: Tensor,
    /// `[B, D]` the pooler output, the span-pair encoder's query.
    pub cls: Tensor,
}

/// How a word's vector is read from the states of its sub-tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WordVectors {
    /// The first sub-token's state (the paper's).
    First,
    /// The element-wise maximum over the word's sub-tokens.
    Max,
}

/// Where each word lies among a batch's sub-tokens.
pub struct WordPositions {
    /// `[B, W]` each word's first sub-token.
    pub starts: Tensor,
    /// `[B, T]` each sub-token's word, `W` where it is none.
    pub owners: Tensor,
}

/// What the entity and relation classifiers read beside the paper's inputs
/// (`[classifiers]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifiersConfig {
    /// How a word's vector is read from its sub-tokens: `first` (the paper's) or `max`.
    pub word_vectors: WordVectors,
    /// The entity classifier also reads the span's first and last word vectors and a
    /// width embedding.
    pub entity_edges: bool,
    /// The relation classifier also reads the vectors of the pair's two arguments, h_s1
    /// and h_s2, beside h_p.
    pub pair_arguments: bool,
}

impl Default for ClassifiersConfig {
    fn default() -> Self {
        ClassifiersConfig { word_vectors: WordVectors::Max, entity_edges: true, pair_arguments: true }
    }
}

impl ClassifiersConfig {
    /// The paper's: the span encoder's vector for entities, h_p for relations.
    pub fn paper() -> ClassifiersConfig {
        ClassifiersConfig { word_vectors: WordVectors::First, entity_edges: false, pair_arguments: false }
    }
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
    /// Span widths, for the entity edges.
    widths: Option<nn::Embedding>,
    word_vectors: WordVectors,
    pair_arguments: bool,
    dropout: f64,
}

/// Widths of 1 to this many words have an embedding each; wider spans share the last.
const WIDTHS: i64 = 64;

/// Size of a width embedding (SpERT's 25).
const WIDTH_SIZE: i64 = 25;

impl Extractor {
    /// A randomly initialised extractor under `p` for the classes of `labels`, its
    /// classifiers reading what `classifiers` says.
    pub fn new(
        p: &nn::Path,
        bert: &BertConfig,
        span: &SpanConfig,
        labels: &Labels,
        classifiers: &ClassifiersConfig,
    ) -> Extractor {
        let hidden = bert.hidden_size;
        let widths = classifiers.entity_edges.then(|| embedding(p / "width_embedding", WIDTHS, WIDTH_SIZE, INIT_STD));
        let entity_features = span.size + if widths.is_some() { 2 * hidden + WIDTH_SIZE } else { 0 };
        let pair_features = span.size * if classifiers.pair_arguments { 3 } else { 1 };
        Extractor {
            bert: Bert::new(p / "bert", bert),
            tagger: linear(p / "tagger", hidden, labels.tag_names().len() as i64, INIT_STD, true),
            span_encoder: SpanEncoder::new(p / "span_encoder", hidden, span),
            entity_classifier: linear(
                p / "entity_classifier",
                entity_features,
                labels.entity_classes(),
                INIT_STD,
                true,
            ),
            pair_encoder: SpanPairEncoder::new(p / "pair_encoder", hidden, span),
            relation_classifier: linear(
                p / "relation_classifier",
                pair_features,
                labels.relation_classes(),
                INIT_STD,
                true,
            ),
            widths,
            word_vectors: classifiers.word_vectors,
            pair_arguments: classifiers.pair_arguments,
            dropout: span.dropout,
        }
    }

    /// BERT over `[B, T]` ids and mask, and each word's vector read at `words`.
    pub fn encode(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        words: &WordPositions,
        train: bool,
    ) -> Result<Encoded> {
        let out = self.bert.forward(input_ids, attention_mask, train)?;
        let words = match self.word_vectors {
            WordVectors::First => word_vectors(&out.hidden, &words.starts)?,
            WordVectors::Max => word_maxima(&out.hidden, &words.owners, words.starts.size2()?.1)?,
        };
        Ok(Encoded { words, cls: out.pooled })
    }

    /// `[B, W, tags]` span tag logits of every word.
    pub fn tag_logits(&self, encoded: &Encoded, train: bool) -> Tensor {
        self.tagger.forward(&encoded.words.dropout(self.dropout, train))
    }

    /// `[B, S, entity classes]` logits of each sentence's S candidate spans, `spans`
    /// `[B, S, 2]` half-open word ranges (empty ones pad a sentence with fewer). The span
    /// encoder reads each sentence's words where they are, so the cost grows with the
    /// candidates times their width, not times the sentence's length.
    pub fn entity_logits(&self, encoded: &Encoded, spans: &Spans, train: bool) -> Result<Tensor> {
        let vectors = self.span_encoder.forward(&encoded.words, spans, train)?; // [B, S, span]
        let Some(widths) = &self.widths else {
            return Ok(self.entity_classifier.forward(&vectors));
        };
        let (b, s, _) = spans.ranges.size3()?;
        let d = encoded.words.size()[2];
        let (start, end) = (spans.ranges.select(2, 0), spans.ranges.select(2, 1)); // [B, S]
        let word = |at: &Tensor| encoded.words.gather(1, &at.unsqueeze(2).expand([b, s, d], false), false);
        let first = word(&start); // [B, S, D]
        let last = word(&(&end - 1).clamp_min(0));
        let width = widths.forward(&(&end - &start - 1).clamp(0, WIDTHS - 1)); // [B, S, width]
        let edges = Tensor::cat(&[first, last, width], 2).dropout(self.dropout, train);
        Ok(self.entity_classifier.forward(&Tensor::cat(&[vectors, edges], 2)))
    }

    /// `[P, relation classes]` logits of P candidate pairs: `rows` `[P]` picks each pair's
    /// sentence, `segments` `[P, 5, 2]` its L, e1, M, e2 and R.
    pub fn relation_logits(&self, encoded: &Encoded, rows: &Tensor, segments: Spans, train: bool) -> Result<Tensor> {
        let cls = encoded.cls.index_select(0, rows); // [P, D]
        let segments = segments.in_rows(rows.shallow_clone());
        let pair = self.pair_encoder.forward(&self.span_encoder, &encoded.words, &segments, &cls, train)?;
        if !self.pair_arguments {
            return Ok(self.relation_classifier.forward(&pair.pair));
        }
        // h_s1 and h_s2 had the span encoder's dropout already.
        let features = [pair.pair, pair.segments.select(1, 1), pair.segments.select(1, 3)]; // [P, span] each
        Ok(self.relation_classifier.forward(&Tensor::cat(&features, 1)))
    }
}
