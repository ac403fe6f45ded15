//! What fine-tuning reports: a record per epoch (`metrics.jsonl` and the terminal), and at
//! the end `report.json` with each seed's dev and test scores and, over several seeds, the
//! mean and standard deviation of every F1.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use spe::counts::plural;
use spe::run::layout::REPORT_FILE;
use spe::score::{Measure, Scores};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One epoch's line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: u64,
    /// Optimizer steps taken.
    pub step: u64,
    /// Mean training loss of the epoch (tags + entities + relations).
    pub loss: f64,
    /// Probability of gold entities for the relation classifier in the epoch.
    pub p_gold: f64,
    /// Dev entity F1.
    pub dev_ent_f1: f64,
    /// Dev relation F1.
    pub dev_rel_f1: f64,
    /// Dev strict relation F1.
    pub dev_rel_strict_f1: f64,
    /// Seconds since training started.
    pub elapsed_s: f64,
    /// The fewest threads libtorch's CPU kernels ran on in the epoch
    /// ([`crate::runtime::threads`]); absent from runs of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

impl EpochRecord {
    /// The record of `epoch`.
    pub fn new(epoch: u64, step: u64, loss: f64, p_gold: f64, dev: &Scores, started: Instant) -> EpochRecord {
        EpochRecord {
            epoch,
            step,
            loss,
            p_gold,
            dev_ent_f1: dev.ent.total.prf().f1,
            dev_rel_f1: dev.rel.total.prf().f1,
            dev_rel_strict_f1: dev.rel_strict.total.prf().f1,
            elapsed_s: started.elapsed().as_secs_f64(),
            threads: None,
        }
    }

    /// The score that selects the model: entity F1 plus strict relation F1 on dev.
    pub fn selection_score(&self) -> f64 {
        self.dev_ent_f1 + self.dev_rel_strict_f1
    }

    /// The terminal line.
    pub fn line(&self, epochs: u64) -> String {
        format!(
            "epoch {}/{epochs} loss {:.4} p(gold) {:.2} | dev Ent {:.2} Rel {:.2} Rel+ {:.2} | {:.0} s",
            self.epoch,
            self.loss,
            self.p_gold,
            100.0 * self.dev_ent_f1,
            100.0 * self.dev_rel_f1,
            100.0 * self.dev_rel_strict_f1,
            self.elapsed_s
        )
    }
}

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
    fn of(values: &[f64]) -> Spread {
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
}

/// The report of `results`, written to `out/report.json`; returns it.
pub fn write(out: &Path, results: &[SeedResult]) -> Result<Report> {
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
    let report = Report { seeds: results.to_vec(), f1 };
    spe::atomic::write_json(&report, &out.join(REPORT_FILE))?;
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
