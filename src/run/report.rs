//! A fine-tuning run's `report.json` ([`super::layout::REPORT_FILE`]): each seed's dev and
//! test scores and, over several seeds, the mean and sample standard deviation of every
//! F1. `spe finetune` writes it; `spe experiment` and `spe inspect` read it back.

use crate::counts::plural;
use crate::run::layout::REPORT_FILE;
use crate::score::{Measure, Scores};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// The epoch of the kept model.
    pub best_epoch: u64,
    /// Its directory (`model/`, `metrics.jsonl`, predictions).
    pub dir: PathBuf,
    /// Scores of the kept model on dev.
    pub dev: Scores,
    /// And on test, where the data has a test split.
    pub test: Option<Scores>,
}

/// Mean and sample standard deviation of an F1 over seeds, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
}

impl Spread {
    /// The mean and sample standard deviation of `values` (at least one).
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var =
            if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Spread { mean, std: var.sqrt() }
    }
}

/// One of the three measures of a [`Scores`].
type MeasureOf = fn(&Scores) -> &Measure;

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Every seed's run.
    pub seeds: Vec<SeedResult>,
    /// Over the seeds, `split.measure` (`test.ent`, `test.rel`, `test.rel_strict`, …) →
    /// the spread of its F1 in percent.
    pub f1: std::collections::BTreeMap<String, Spread>,
    /// Training sentences left out as longer than the encoder's positions (dev and test
    /// sentences of any length are scored, in windows).
    #[serde(default)]
    pub long_training_sentences_skipped: u64,
}

/// The report of `results` (trained without `long_skipped` sentences, too long for the
/// encoder), written to `out/report.json`; returns it.
pub fn write(out: &Path, results: &[SeedResult], long_skipped: u64) -> Result<Report> {
    let mut f1 = std::collections::BTreeMap::new();
    for split in ["dev", "test"] {
        let scores: Vec<&Scores> =
            results.iter().filter_map(|r| if split == "dev" { Some(&r.dev) } else { r.test.as_ref() }).collect();
        if scores.is_empty() {
            continue;
        }
        let measures: [(&str, MeasureOf); 3] =
            [("ent", |s| &s.ent), ("rel", |s| &s.rel), ("rel_strict", |s| &s.rel_strict)];
        for (name, measure) in measures {
            let values: Vec<f64> = scores.iter().map(|s| 100.0 * measure(s).total.prf().f1).collect();
            f1.insert(format!("{split}.{name}"), Spread::of(&values));
        }
    }
    let report = Report { seeds: results.to_vec(), f1, long_training_sentences_skipped: long_skipped };
    crate::atomic::write_json(&report, &out.join(REPORT_FILE))?;
    Ok(report)
}

impl Report {
    /// The text report: each seed's table, then the spread over seeds.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        for r in &self.seeds {
            parts.push(format!("seed {} (best dev epoch {}), dev:\n{}", r.seed, r.best_epoch, r.dev.table()));
            if let Some(test) = &r.test {
                parts.push(format!("seed {}, test:\n{}", r.seed, test.table()));
            }
        }
        if self.seeds.len() > 1 {
            let lines: Vec<String> =
                self.f1.iter().map(|(k, s)| format!("  {k:<16} F1 {:.2} ± {:.2}", s.mean, s.std)).collect();
            let seeds = plural(self.seeds.len() as u64, "seed");
            parts.push(format!("over {seeds} (mean ± standard deviation):\n{}", lines.join("\n")));
        }
        parts.join("\n\n")
    }
}

impl Report {
    /// Reads `dir/report.json`.
    pub fn read(dir: &Path) -> Result<Report> {
        let path = dir.join(REPORT_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a fine-tuning report", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_the_sample_standard_deviation() {
        let s = Spread::of(&[60.0, 62.0, 64.0]);
        assert_eq!((s.mean, s.std), (62.0, 2.0));
        assert_eq!(Spread::of(&[50.0]).std, 0.0);
    }
}
