//! Exact-match scores of entity and relation extraction, micro-averaged over a corpus, as
//! the authors' `utils/eval.py` and PURE's evaluation (Zhong and Chen, 2021) define them:
//!
//! - **Ent**: an entity is right when its boundaries and its type are;
//! - **Rel**: a relation is right when both arguments' boundaries, its type and its
//!   direction are, both arguments being among the predicted entities;
//! - **Rel+** (strict): Rel, and both arguments' predicted types are right too.
//!
//! Rel and Rel+ are always reported side by side: papers that mix them overstate ACE05 by
//! points. Predictions and gold are sets per sentence, so a repeated prediction counts
//! once. A relation type listed as symmetric has no direction: (a, b) and (b, a) are the
//! same relation, in the gold as in the predictions (both are put in word order).

use crate::corpus::labeled::{Entity, LabeledSentence, Relation};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

/// Tally of one measure: gold items, predicted items and right predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Items in the gold annotation.
    pub gold: u64,
    /// Items predicted.
    pub predicted: u64,
    /// Predicted items that are in the gold annotation.
    pub correct: u64,
}

/// Precision, recall and F1, each 0 where its denominator is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// correct / predicted.
    pub precision: f64,
    /// correct / gold.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
}

impl Tally {
    /// Precision, recall and F1 of the counts.
    pub fn prf(&self) -> Prf {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(self.correct, self.predicted), ratio(self.correct, self.gold));
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        Prf { precision, recall, f1 }
    }

    fn add(&mut self, other: &Tally) {
        self.gold += other.gold;
        self.predicted += other.predicted;
        self.correct += other.correct;
    }
}

/// One measure over a corpus: its total and its counts by type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Over every type.
    pub total: Tally,
    /// By entity or relation type.
    pub by_type: BTreeMap<String, Tally>,
}

impl Measure {
    /// Tally the gold and predicted items of one sentence; an item's type is `type_of`.
    fn add<T: Ord>(&mut self, gold: &BTreeSet<T>, predicted: &BTreeSet<T>, type_of: impl Fn(&T) -> &str) {
        for (items, is_gold) in [(gold, true), (predicted, false)] {
            for item in items {
                let mut one = Tally::default();
                if is_gold {
                    one.gold = 1;
                } else {
                    one.predicted = 1;
                    one.correct = u64::from(gold.contains(item));
                }
                self.total.add(&one);
                self.by_type.entry(type_of(item).to_string()).or_default().add(&one);
            }
        }
    }
}

/// Ent, Rel and Rel+ over a corpus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Entities: boundaries and type.
    pub ent: Measure,
    /// Relations: argument boundaries, type and direction.
    pub rel: Measure,
    /// Strict relations: Rel and both arguments' types.
    pub rel_strict: Measure,
}

/// A relation as Rel scores it: head span, tail span, relation type.
type Rel<'a> = ((u32, u32), (u32, u32), &'a str);
/// A relation as Rel+ scores it: head span, head type, tail span, tail type, relation type.
type RelStrict<'a> = ((u32, u32), &'a str, (u32, u32), &'a str, &'a str);

impl Scores {
    /// Scores of nothing yet.
    pub fn new() -> Scores {
        Scores::default()
    }

    /// Adds one sentence: its gold annotation and the prediction for it (both with
    /// relations by index into their own entities). `symmetric` lists the relation types
    /// without direction.
    pub fn add(&mut self, gold: &LabeledSentence, predicted: &LabeledSentence, symmetric: &[String]) {
        let entities = |s: &LabeledSentence| -> BTreeSet<(u32, u32, String)> {
            s.entities.iter().map(|e| (e.start, e.end, e.label.clone())).collect()
        };
        self.ent.add(&entities(gold), &entities(predicted), |e| &e.2);
        let (gold_rel, gold_strict) = relations(gold, symmetric);
        let (pred_rel, pred_strict) = relations(predicted, symmetric);
        self.rel.add(&gold_rel, &pred_rel, |r| r.2);
        self.rel_strict.add(&gold_strict, &pred_strict, |r| r.4);
    }

    /// The scores of a corpus of `(gold, predicted)` sentences.
    pub fn of<G: Borrow<LabeledSentence>, P: Borrow<LabeledSentence>>(
        sentences: impl IntoIterator<Item = (G, P)>,
        symmetric: &[String],
    ) -> Scores {
        let mut scores = Scores::new();
        for (gold, predicted) in sentences {
            scores.add(gold.borrow(), predicted.borrow(), symmetric);
        }
        scores
    }

    /// A table of the three measures and, under each, its types.
    pub fn table(&self) -> String {
        let mut lines =
            vec![format!("{:<34} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}", "", "gold", "pred", "right", "P", "R", "F1")];
        let row = |name: &str, c: &Tally| {
            let prf = c.prf();
            format!(
                "{name:<34} {:>6} {:>6} {:>6} {:>7.2} {:>7.2} {:>7.2}",
                c.gold,
                c.predicted,
                c.correct,
                100.0 * prf.precision,
                100.0 * prf.recall,
                100.0 * prf.f1
            )
        };
        for (name, measure) in [("Ent", &self.ent), ("Rel", &self.rel), ("Rel+ (strict)", &self.rel_strict)] {
            lines.push(row(name, &measure.total));
            for (label, counts) in &measure.by_type {
                lines.push(row(&format!("  {label}"), counts));
            }
        }
        lines.join("\n")
    }
}

/// The relations of a sentence as Rel and Rel+ score them.
fn relations<'a>(s: &'a LabeledSentence, symmetric: &[String]) -> (BTreeSet<Rel<'a>>, BTreeSet<RelStrict<'a>>) {
    let mut rel = BTreeSet::new();
    let mut strict = BTreeSet::new();
    for Relation { head, tail, label } in &s.relations {
        let (Some(h), Some(t)) = (s.entities.get(*head as usize), s.entities.get(*tail as usize)) else { continue };
        let (mut h, mut t): (&Entity, &Entity) = (h, t);
        if symmetric.contains(label) && (t.start, t.end) < (h.start, h.end) {
            (h, t) = (t, h);
        }
        rel.insert(((h.start, h.end), (t.start, t.end), label.as_str()));
        strict.insert(((h.start, h.end), h.label.as_str(), (t.start, t.end), t.label.as_str(), label.as_str()));
    }
    (rel, strict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(start: u32, end: u32, label: &str) -> Entity {
        Entity { start, end, label: label.into() }
    }

    fn r(head: u32, tail: u32, label: &str) -> Relation {
        Relation { head, tail, label: label.into() }
    }

    fn sentence(entities: Vec<Entity>, relations: Vec<Relation>) -> LabeledSentence {
        LabeledSentence { words: vec!["w".into(); 12], entities, relations }
    }

    fn gold() -> LabeledSentence {
        // Nested gold entities: 0..2 PER inside 0..3 ORG.
        sentence(
            vec![e(0, 2, "PER"), e(0, 3, "ORG"), e(5, 6, "GPE"), e(8, 9, "PER")],
            vec![r(0, 2, "PHYS"), r(3, 0, "PER-SOC")],
        )
    }

    #[test]
    fn a_perfect_prediction_scores_one_and_nothing_scores_zero() {
        let symmetric = ["PER-SOC".to_string()];
        let scores = Scores::of([(&gold(), &gold())], &symmetric);
        for m in [&scores.ent, &scores.rel, &scores.rel_strict] {
            assert_eq!(m.total.prf().f1, 1.0);
        }
        assert_eq!(scores.ent.total, Tally { gold: 4, predicted: 4, correct: 4 });
        assert_eq!(scores.ent.by_type["PER"], Tally { gold: 2, predicted: 2, correct: 2 });
        let empty = sentence(vec![], vec![]);
        let scores = Scores::of([(&gold(), &empty)], &symmetric);
        assert_eq!(scores.rel.total, Tally { gold: 2, predicted: 0, correct: 0 });
        assert_eq!(scores.rel.total.prf(), Prf::default());
    }

    #[test]
    fn boundaries_types_directions_and_duplicates() {
        let symmetric = ["PER-SOC".to_string()];
        // A wrong boundary (5..7), a wrong type (PER for ORG), the PHYS relation reversed,
        // the symmetric PER-SOC given the other way round, and one entity predicted twice.
        let predicted = sentence(
            vec![e(0, 2, "PER"), e(0, 3, "PER"), e(5, 7, "GPE"), e(8, 9, "PER"), e(8, 9, "PER")],
            vec![r(2, 0, "PHYS"), r(0, 3, "PER-SOC")],
        );
        let scores = Scores::of([(&gold(), &predicted)], &symmetric);
        assert_eq!(scores.ent.total, Tally { gold: 4, predicted: 4, correct: 2 });
        assert_eq!(scores.ent.by_type["ORG"], Tally { gold: 1, predicted: 0, correct: 0 });
        assert_eq!(scores.ent.by_type["PER"], Tally { gold: 2, predicted: 3, correct: 2 });
        // PHYS: reversed and on a wrong boundary; PER-SOC: right in either order.
        assert_eq!(scores.rel.total, Tally { gold: 2, predicted: 2, correct: 1 });
        assert_eq!(scores.rel.by_type["PER-SOC"].correct, 1);
        assert_eq!(scores.rel_strict.total.correct, 1);
        let prf = scores.ent.total.prf();
        assert_eq!((prf.precision, prf.recall, prf.f1), (0.5, 0.5, 0.5));
    }

    #[test]
    fn strict_relations_need_the_argument_types() {
        // Right boundaries and relation, but the head's type is wrong: Rel counts it, Rel+
        // does not.
        let predicted = sentence(vec![e(0, 2, "ORG"), e(5, 6, "GPE")], vec![r(0, 1, "PHYS")]);
        let scores = Scores::of([(&gold(), &predicted)], &[]);
        assert_eq!(scores.rel.total.correct, 1);
        assert_eq!(scores.rel_strict.total.correct, 0);
        assert!(scores.table().contains("Rel+ (strict)"));
    }
}
