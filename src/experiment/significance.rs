//! How sure a row's difference from the baseline is, in the two ways the field reports it:
//!
//! - over seeds: a 95% confidence interval of the mean per-seed difference, from Student's
//!   t with n − 1 degrees of freedom (each seed is the same fine-tuning seed and the same
//!   documents for both rows, so the differences are paired);
//! - over test documents: a paired bootstrap (Koehn 2004; Dror et al. 2018). The test
//!   documents are resampled with replacement `RESAMPLES` times; in each resample both
//!   rows are scored on the same documents, every seed of each, and the difference of
//!   their mean F1 over the seeds is taken. The two-sided p-value is twice the smaller
//!   share of resamples on either side of zero (with one added to count and total, so
//!   that it is never 0).
//!
//! A cell's documents are read from its predictions (`predictions-test.json`, DyGIE JSON
//! lines with gold and predicted annotations, the files every fine-tuning run writes),
//! each document's sentences scored alone: a corpus's F1 is a function of the sums of the
//! documents' counts.

use crate::corpus::labeled::dygie;
use crate::score::{Scores, Tally};
use anyhow::{bail, ensure, Context, Result};
use rand::RngExt;
use serde_json::Value;
use std::path::Path;

/// Resamples of the paired bootstrap.
pub const RESAMPLES: usize = 10_000;

/// One document's counts of the three measures (Ent, Rel, Rel+).
pub type DocumentCounts = [Tally; 3];

/// The id and counts of every document of a predictions file, in its order.
pub fn document_counts(predictions: &Path, symmetric: &[String]) -> Result<Vec<(String, DocumentCounts)>> {
    let text = crate::regular_file::read_to_string(predictions, "the predictions")?;
    let mut documents = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", predictions.display(), i + 1);
        let value: Value = serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let gold = dygie::parse(&value).map_err(|f| anyhow::anyhow!("{}: {}: {}", at(), f.field, f.what))?;
        let mut predicted = value.clone();
        for (from, to) in [("predicted_ner", "ner"), ("predicted_relations", "relations")] {
            let found = value.get(from).cloned().with_context(|| format!("{}: no {from}", at()))?;
            predicted[to] = found;
        }
        let predicted = dygie::parse(&predicted).map_err(|f| anyhow::anyhow!("{}: {}: {}", at(), f.field, f.what))?;
        let scores = Scores::of(gold.sentences.iter().zip(&predicted.sentences), symmetric);
        documents.push((gold.id, [scores.ent.total, scores.rel.total, scores.rel_strict.total]));
    }
    Ok(documents)
}

/// The 95% confidence interval of the mean of `values` (at least two), from Student's t.
pub fn t_interval(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let half = t_975(n - 1) * sd / (n as f64).sqrt();
    Some((mean - half, mean + half))
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    TABLE.get(df.saturating_sub(1)).copied().unwrap_or(1.960)
}

/// The paired bootstrap's two-sided p-value of each measure for `other` against `base`:
/// each holds one seed's documents (the same documents in the same order in every seed
/// and row), seeds paired by position.
pub fn paired_bootstrap(base: &[Vec<DocumentCounts>], other: &[Vec<DocumentCounts>], seed: u64) -> Result<[f64; 3]> {
    ensure!(!base.is_empty() && base.len() == other.len(), "the bootstrap pairs seeds: give as many of each");
    let documents = base[0].len();
    if base.iter().chain(other).any(|d| d.len() != documents) || documents == 0 {
        bail!("the bootstrap needs the same documents in every cell");
    }
    let f1 = |cells: &[Vec<DocumentCounts>], picks: &[usize], m: usize| -> f64 {
        let mean: f64 = cells
            .iter()
            .map(|docs| {
                let mut total = Tally::default();
                for &i in picks {
                    let t = &docs[i][m];
                    total.gold += t.gold;
                    total.predicted += t.predicted;
                    total.correct += t.correct;
                }
                total.prf().f1
            })
            .sum();
        mean / cells.len() as f64
    };
    let mut rng = crate::rng::stream(seed, "paired-bootstrap", 0);
    let (mut at_or_below, mut at_or_above) = ([0usize; 3], [0usize; 3]);
    let mut picks = vec![0; documents];
    for _ in 0..RESAMPLES {
        picks.iter_mut().for_each(|p| *p = rng.random_range(0..documents));
        for m in 0..3 {
            let delta = f1(other, &picks, m) - f1(base, &picks, m);
            at_or_below[m] += usize::from(delta <= 0.0);
            at_or_above[m] += usize::from(delta >= 0.0);
        }
    }
    Ok(std::array::from_fn(|m| {
        let side = at_or_below[m].min(at_or_above[m]) as f64 + 1.0;
        (2.0 * side / (RESAMPLES as f64 + 1.0)).min(1.0)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(gold: u64, predicted: u64, correct: u64) -> DocumentCounts {
        let t = Tally { gold, predicted, correct };
        [t, t, t]
    }

    #[test]
    fn the_interval_is_students_and_needs_two_seeds() {
        let (lo, hi) = t_interval(&[1.0, 2.0, 3.0]).unwrap();
        // mean 2, sd 1, t(2) = 4.303: 2 ± 4.303 / √3.
        assert!((lo - (2.0 - 4.303 / 3f64.sqrt())).abs() < 1e-9 && (hi - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-9);
        assert_eq!(t_interval(&[1.0]), None);
        assert_eq!(t_975(1000), 1.960);
    }

    #[test]
    fn a_system_better_on_every_document_is_significant_and_an_equal_one_is_not() {
        let base: Vec<DocumentCounts> = (0..40).map(|_| counts(10, 10, 5)).collect();
        let better: Vec<DocumentCounts> = (0..40).map(|_| counts(10, 10, 8)).collect();
        let p = paired_bootstrap(&[base.clone(), base.clone()], &[better.clone(), better], 1).unwrap();
        assert!(p.iter().all(|&p| p < 0.001), "{p:?}");
        let one = std::slice::from_ref(&base);
        let p = paired_bootstrap(one, one, 1).unwrap();
        assert!(p.iter().all(|&p| p == 1.0), "{p:?}");
        // Better on half the documents, worse on the other half by as much: no difference.
        let mixed: Vec<DocumentCounts> =
            (0..40).map(|i| if i % 2 == 0 { counts(10, 10, 8) } else { counts(10, 10, 2) }).collect();
        let p = paired_bootstrap(one, &[mixed], 1).unwrap();
        assert!(p.iter().all(|&p| p > 0.2), "{p:?}");
        assert!(paired_bootstrap(one, &[base[..3].to_vec()], 1).is_err());
    }

    #[test]
    fn documents_are_scored_from_a_predictions_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions-test.json");
        let line = serde_json::json!({"doc_key": "D1", "sentences": [["a", "b", "c"]],
            "ner": [[[0, 0, "Task"], [2, 2, "Method"]]], "relations": [[[0, 0, 2, 2, "USED-FOR"]]],
            "predicted_ner": [[[0, 0, "Task"], [1, 1, "Method"]]], "predicted_relations": [[[0, 0, 1, 1, "USED-FOR"]]]});
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let docs = document_counts(&path, &[]).unwrap();
        assert_eq!(docs[0].0, "D1");
        assert_eq!(docs[0].1[0], Tally { gold: 2, predicted: 2, correct: 1 });
        assert_eq!(docs[0].1[1], Tally { gold: 1, predicted: 1, correct: 0 });
    }
}
