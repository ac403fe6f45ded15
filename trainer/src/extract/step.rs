//! One pass of the extractor over a batch of sentences, in the order of the pipeline:
//!
//! 1. BERT encodes the batch. With the tagger ([`Proposer::Tagger`]) its arg-max tags give
//!    the proposed spans; with [`Proposer::Spans`] every span up to a width is proposed.
//! 2. Candidate spans: the proposed ones; while training every gold span too, and with
//!    `spans` only a random draw of the spans that are no entity (the negatives). Each is
//!    typed; a candidate that is no gold entity has the class `None`. The predicted
//!    entities are the proposed spans with a type.
//! 3. Candidate pairs: every two entities, the first before the second in word order and
//!    not overlapping, among a sentence's most confident entities (at most
//!    `max_pair_entities`). While training, a sentence's entities are its gold ones or its
//!    predicted ones by scheduled sampling ([`Mode::Train`]), and every gold relation's
//!    pair is added. Each pair is classified into a relation class, with its direction.
//!
//! Candidates are gathered on the host, where the tags and types are decoded, and scored
//! on the device in one batch per kind: `[N, 2]` spans and `[P, 5, 2]` pairs, never a loop
//! over them. Training minimises the sum of the cross-entropies (tags, with the tagger;
//! entity classes; relation classes), each weighted by [`LossWeights`]. The host decoding waits for the device once or
//! twice per batch (tags, then types), which the pipeline needs.

use super::candidates::{every_span, negative_spans, CandidatesConfig, Proposer, Span};
use super::model::{Extractor, WordPositions};
use crate::extract::labels::{Labels, NONE};
use crate::model::span::Spans;
use crate::runtime::device::upload;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::corpus::labeled::{Entity, LabeledSentence, Relation};
use spe::shard::labeled::LabeledRow;
use std::borrow::Borrow;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// The weight of each loss in the training loss (`[losses]`). All 1 is the paper's sum
/// (and these defaults'); spe's fine-tuning recipe weighs the relations at 0.2. The
/// relation loss reaches BERT and the span encoder, which the entity classifier reads too,
/// through the span-pair encoder; at equal weight it pulls them as hard as the entities
/// do. SpERT's relation loss is a binary cross-entropy averaged over the relation types,
/// which weighs it at about one over their number against its entities'. Adam's step is
/// the same for a loss at any weight, so a weight changes only the shared parts' mix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LossWeights {
    /// The span tags' (with the tagger proposer).
    pub tags: f64,
    /// The entity classes'.
    pub entities: f64,
    /// The relation classes'.
    pub relations: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights { tags: 1.0, entities: 1.0, relations: 1.0 }
    }
}

impl LossWeights {
    /// Each weight is finite and ≥ 0, and one of them is above 0.
    pub fn check(&self) -> Result<()> {
        for (key, w) in
            [("losses.tags", self.tags), ("losses.entities", self.entities), ("losses.relations", self.relations)]
        {
            ensure!(w.is_finite() && w >= 0.0, "{key} must be a finite weight ≥ 0, not {w}");
        }
        ensure!(self.tags + self.entities + self.relations > 0.0, "every loss weight (losses.*) is 0");
        Ok(())
    }
}

/// What a pass is for.
pub enum Mode<'a> {
    /// Training: losses against the gold annotation; `gold_entities[i]` says whether
    /// sentence `i`'s relation candidates come from its gold entities (else its predicted
    /// ones).
    Train {
        /// One scheduled-sampling draw per sentence.
        gold_entities: &'a [bool],
        /// Seed of the negative spans drawn for this batch (sentence `i` draws from
        /// stream `i` under it).
        seed: u64,
        /// The weight of each loss.
        weights: LossWeights,
    },
    /// Prediction, with no gold annotation read.
    Predict,
}

/// What a pass computed.
pub struct Output {
    /// The weighted sum of the span tag, entity and relation cross-entropies (training
    /// only).
    pub loss: Option<Tensor>,
    /// Each sentence's predicted entities and relations (the words are left empty).
    pub predictions: Vec<LabeledSentence>,
}

/// Floats of gathered words a chunk of pairs may take when predicting (256 MB): each pair
/// gathers its five segments, padded to the widest, so a chunk of P pairs needs about
/// `P × 5 × words × hidden` floats, and a long sentence's pairs go in smaller chunks.
const PREDICTION_FLOATS: usize = 1 << 26;

/// Runs the extractor over `rows` (owned or borrowed) on `device`, its candidates made as
/// `candidates` says.
pub fn run<R: Borrow<LabeledRow>>(
    model: &Extractor,
    labels: &Labels,
    candidates: &CandidatesConfig,
    rows: &[R],
    device: Device,
    mode: Mode,
) -> Result<Output> {
    let rows: Vec<&LabeledRow> = rows.iter().map(Borrow::borrow).collect();
    let train = matches!(mode, Mode::Train { .. });
    let weights = match &mode {
        Mode::Train { weights, .. } => *weights,
        Mode::Predict => LossWeights::default(),
    };
    let b = rows.len();
    let seq_len = rows.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
    let max_words = rows.iter().map(|r| r.words.len()).max().unwrap_or(0);
    let (mut ids, mut mask, mut starts) = (vec![0i64; b * seq_len], vec![0i64; b * seq_len], vec![0i64; b * max_words]);
    let mut owners = vec![max_words as i64; b * seq_len];
    for (i, row) in rows.iter().enumerate() {
        for (j, &id) in row.input_ids.iter().enumerate() {
            ids[i * seq_len + j] = i64::from(id);
            mask[i * seq_len + j] = 1;
        }
        // A word's sub-tokens run to the next word's first, the last word's to [SEP].
        let ends = row.word_starts.iter().skip(1).copied().chain([row.input_ids.len() as i32 - 1]);
        for (j, (&s, e)) in row.word_starts.iter().zip(ends).enumerate() {
            starts[i * max_words + j] = i64::from(s);
            owners[i * seq_len + s as usize..i * seq_len + e as usize].fill(j as i64);
        }
    }
    let (bt, bw) = ([b as i64, seq_len as i64], [b as i64, max_words as i64]);
    let words = WordPositions { starts: upload(&starts, &bw, device), owners: upload(&owners, &bt, device) };
    let encoded = model.encode(&upload(&ids, &bt, device), &upload(&mask, &bt, device), &words, train)?;
    let mut losses: Vec<Tensor> = Vec::new();

    // 1. Proposed spans.
    let proposed: Vec<Vec<Span>> = match candidates.proposer {
        // In training the spans are the gold ones and a draw of the others (step 2).
        Proposer::Spans if train => vec![Vec::new(); b],
        Proposer::Spans => {
            rows.iter().map(|row| every_span(row.words.len() as u32, candidates.max_width).collect()).collect()
        }
        Proposer::Tagger => {
            let tag_logits = model.tag_logits(&encoded, train); // [B, W, tags]
            if train {
                let (mut positions, mut targets) = (Vec::new(), Vec::new());
                for (i, row) in rows.iter().enumerate() {
                    let spans: Vec<Span> = row.entities.iter().map(|e| Span::new(e.start, e.end)).collect();
                    for (j, tag) in labels.tags(row.words.len(), &spans).into_iter().enumerate() {
                        positions.push((i * max_words + j) as i64);
                        targets.push(tag);
                    }
                }
                let n = [positions.len() as i64];
                let logits =
                    tag_logits.view([(b * max_words) as i64, -1]).index_select(0, &upload(&positions, &n, device));
                let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&upload(&targets, &n, device));
                losses.push(loss * weights.tags);
            }
            let tags = tag_logits.argmax(2, false).to_device(Device::Cpu);
            let tags = Vec::<i64>::try_from(tags.view([-1])).context("cannot read the predicted tags")?;
            rows.iter()
                .enumerate()
                .map(|(i, row)| labels.spans(&tags[i * max_words..i * max_words + row.words.len()]))
                .collect()
        }
    };

    // 2. Candidate spans and their types.
    let mut spans_of: Vec<(usize, Span, i64)> = Vec::new(); // (row, span, gold class)
    for (i, row) in rows.iter().enumerate() {
        let mut spans: BTreeMap<Span, i64> = BTreeMap::new();
        match (&mode, candidates.proposer) {
            (Mode::Train { seed, .. }, Proposer::Spans) => {
                let mut gold: Vec<Span> = row.entities.iter().map(|e| Span::new(e.start, e.end)).collect();
                gold.sort_unstable();
                let mut rng = spe::rng::stream(*seed, "negative-spans", i as u64);
                let n = row.words.len() as u32;
                let negatives = negative_spans(n, candidates.max_width, &gold, candidates.negative_spans, &mut rng);
                spans.extend(negatives.into_iter().map(|s| (s, NONE)));
            }
            _ => spans.extend(proposed[i].iter().map(|&s| (s, NONE))),
        }
        if train {
            for e in &row.entities {
                let class = labels.entity_class(&e.label).unwrap_or(NONE);
                let slot = spans.entry(Span::new(e.start, e.end)).or_insert(NONE);
                if *slot == NONE {
                    *slot = class;
                }
            }
        }
        spans_of.extend(spans.into_iter().map(|(span, class)| (i, span, class)));
    }
    // Each sentence's predicted entities, with the probability that each is one.
    let mut predicted: Vec<Vec<(Entity, f32)>> = vec![Vec::new(); b];
    if !spans_of.is_empty() {
        // [B, S, 2], each sentence's candidates padded with empty spans to the most any has.
        let mut per_row = vec![0usize; b];
        let slots: Vec<usize> = spans_of
            .iter()
            .map(|c| {
                per_row[c.0] += 1;
                per_row[c.0] - 1
            })
            .collect();
        let s = per_row.iter().copied().max().unwrap_or(0);
        let mut flat = vec![0i64; b * s * 2];
        let mut picks = Vec::with_capacity(spans_of.len());
        for (c, slot) in spans_of.iter().zip(slots) {
            let at = c.0 * s + slot;
            flat[2 * at] = i64::from(c.1.start);
            flat[2 * at + 1] = i64::from(c.1.end);
            picks.push(at as i64);
        }
        let n = spans_of.len() as i64;
        let logits = model.entity_logits(&encoded, &Spans::upload(&flat, &[b as i64, s as i64, 2], device), train)?;
        let logits = logits.view([(b * s) as i64, -1]).index_select(0, &upload(&picks, &[n], device)); // [N, classes]
        if train {
            let gold: Vec<i64> = spans_of.iter().map(|c| c.2).collect();
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&upload(&gold, &[n], device));
            losses.push(loss * weights.entities);
        }
        let classes = Vec::<i64>::try_from(logits.argmax(1, false).to_device(Device::Cpu))
            .context("cannot read the predicted entity classes")?;
        let p_none =
            logits.detach().to_kind(Kind::Float).softmax(1, Kind::Float).select(1, NONE).to_device(Device::Cpu);
        let p_none = Vec::<f32>::try_from(p_none).context("cannot read the entity probabilities")?;
        let proposes = |i: usize, span: &Span| match candidates.proposer {
            Proposer::Spans => true,
            Proposer::Tagger => proposed[i].contains(span),
        };
        for (((i, span, _), class), p_none) in spans_of.iter().zip(classes).zip(p_none) {
            if let (true, Some(label)) = (proposes(*i, span), labels.entity_type(class)) {
                predicted[*i]
                    .push((Entity { start: span.start, end: span.end, label: label.to_string() }, 1.0 - p_none));
            }
        }
    }
    // The entities paired for relations: the most confident, in word order.
    let paired: Vec<Vec<Span>> = predicted
        .iter()
        .map(|entities| {
            let mut ranked: Vec<&(Entity, f32)> = entities.iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut spans: Vec<Span> =
                ranked.into_iter().take(candidates.max_pair_entities).map(|(e, _)| Span::new(e.start, e.end)).collect();
            spans.sort_unstable();
            spans
        })
        .collect();
    let predicted: Vec<Vec<Entity>> =
        predicted.into_iter().map(|entities| entities.into_iter().map(|(e, _)| e).collect()).collect();

    // 3. Candidate pairs and their relation classes.
    let mut pairs: Vec<(usize, Span, Span, i64)> = Vec::new(); // (row, first, second, gold class)
    for (i, row) in rows.iter().enumerate() {
        let entities: Vec<Span> = match mode {
            Mode::Train { gold_entities, .. } if gold_entities.get(i).copied().unwrap_or(true) => {
                row.entities.iter().map(|e| Span::new(e.start, e.end)).collect()
            }
            _ => paired[i].clone(),
        };
        let mut row_pairs: BTreeMap<(Span, Span), i64> = BTreeMap::new();
        for &a in &entities {
            for &c in &entities {
                if a.end <= c.start {
                    row_pairs.insert((a, c), NONE);
                }
            }
        }
        if train {
            for r in &row.relations {
                let (h, t) = (&row.entities[r.head as usize], &row.entities[r.tail as usize]);
                let (h, t) = (Span::new(h.start, h.end), Span::new(t.start, t.end));
                // A relation between overlapping mentions has no L, e1, M, e2, R: it cannot
                // be classified, and is left to count against recall.
                let (key, head_first) = match (h.end <= t.start, t.end <= h.start) {
                    (true, _) => ((h, t), true),
                    (_, true) => ((t, h), false),
                    _ => continue,
                };
                let class = labels.relation_class(&r.label, head_first).unwrap_or(NONE);
                let slot = row_pairs.entry(key).or_insert(NONE);
                if *slot == NONE {
                    *slot = class;
                }
            }
        }
        pairs.extend(row_pairs.into_iter().map(|((a, c), class)| (i, a, c, class)));
    }
    let mut relations: Vec<Vec<Relation>> = vec![Vec::new(); b];
    // Training scores every pair at once (the loss needs them all); prediction scores them
    // in chunks, so that its memory stays bounded however long a sentence is and however
    // many entities it has.
    let hidden = encoded.words.size().last().copied().unwrap_or(1).max(1) as usize;
    let chunk = if train { pairs.len().max(1) } else { (PREDICTION_FLOATS / (5 * max_words.max(1) * hidden)).max(1) };
    for pairs in pairs.chunks(chunk) {
        let p = pairs.len() as i64;
        let rows_t = upload(&pairs.iter().map(|c| c.0 as i64).collect::<Vec<_>>(), &[p], device);
        let segments: Vec<i64> = pairs
            .iter()
            .flat_map(|&(i, a, c, _)| {
                let n = rows[i].words.len() as u32;
                [Span::new(0, a.start), a, Span::new(a.end, c.start), c, Span::new(c.end, n)]
                    .into_iter()
                    .flat_map(|s| [i64::from(s.start), i64::from(s.end)])
            })
            .collect();
        let logits = model.relation_logits(&encoded, &rows_t, Spans::upload(&segments, &[p, 5, 2], device), train)?;
        if train {
            let gold: Vec<i64> = pairs.iter().map(|c| c.3).collect();
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&upload(&gold, &[p], device));
            losses.push(loss * weights.relations);
        } else {
            let classes = Vec::<i64>::try_from(logits.argmax(1, false).to_device(Device::Cpu))
                .context("cannot read the predicted relation classes")?;
            for (&(i, a, c, _), class) in pairs.iter().zip(classes) {
                let Some((label, head_first)) = labels.relation_of(class) else { continue };
                let index =
                    |s: Span| predicted[i].iter().position(|e| Span::new(e.start, e.end) == s).map(|k| k as u32);
                if let (Some(x), Some(y)) = (index(a), index(c)) {
                    let (head, tail) = if head_first { (x, y) } else { (y, x) };
                    relations[i].push(Relation { head, tail, label });
                }
            }
        }
    }

    let loss = losses.into_iter().reduce(|a, b| a + b);
    let predictions = predicted
        .into_iter()
        .zip(relations)
        .map(|(entities, relations)| LabeledSentence { words: Vec::new(), entities, relations })
        .collect();
    Ok(Output { loss, predictions })
}
