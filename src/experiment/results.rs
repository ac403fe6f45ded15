//! A grid's results: one table per share of the training documents, a row per encoder, in
//! the layout of the paper's tables. Each row gives Ent, Rel and Rel+ F1 (test, or dev
//! where the data has no test split) as the mean ± sample standard deviation over the
//! seeds run, and its difference from the baseline's row: the mean ± sample standard
//! deviation of the per-seed differences, over the seeds both rows have (a seed is the
//! same fine-tuning seed and the same documents for every encoder, so the pairs are
//! matched), with its 95% confidence interval over the seeds and the p-value of a paired
//! bootstrap over the test documents ([`super::significance`]). Cells still to run are
//! listed, not guessed.

use super::file::{percent, ExperimentFile};
use super::plan::{CellRecord, Plan, Status};
use super::significance::{self, DocumentCounts};
use super::{RESULTS_JSON, RESULTS_MD, RESULTS_PNG};
use crate::run::report::{Report, Spread};
use crate::score::Scores;
use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

/// `results.json`'s `format`.
pub const RESULTS_FORMAT: &str = "spe-experiment-results";

/// `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`RESULTS_FORMAT`].
    pub format: String,
    /// The split scored: `test`, or `dev` where a cell's data has no test split.
    pub split: String,
    /// The baseline encoder.
    pub baseline: String,
    /// One table per share of the training documents, in the file's order.
    pub tables: Vec<Table>,
    /// The cells without a report yet.
    pub pending: Vec<String>,
}

/// The rows of one share of the training documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The share, in (0, 1].
    pub fraction: f64,
    /// One row per encoder, in the file's order.
    pub rows: Vec<Row>,
}

/// One encoder's cells of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The encoder.
    pub encoder: String,
    /// The seeds with a report.
    pub seeds: Vec<u64>,
    /// Entity F1.
    pub ent: Column,
    /// Relation F1.
    pub rel: Column,
    /// Strict relation F1.
    pub rel_strict: Column,
}

/// One measure of a row, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Each seed's F1, in the order of [`Row::seeds`].
    pub values: Vec<f64>,
    /// Their mean and sample standard deviation; none without a seed.
    pub spread: Option<Spread>,
    /// The per-seed differences from the baseline's row, over the seeds both have; none
    /// for the baseline's row, or without such a seed.
    pub difference: Option<Spread>,
    /// The 95% confidence interval of the mean difference, from two paired seeds on.
    #[serde(default)]
    pub difference_ci95: Option<(f64, f64)>,
    /// The paired bootstrap's two-sided p-value over the test documents, where every
    /// paired cell's predictions are there.
    #[serde(default)]
    pub p_bootstrap: Option<f64>,
}

/// A measure's F1, as a fraction, from a split's scores.
type F1Of = fn(&Scores) -> f64;

/// The three measures of a row, with their names.
const MEASURES: [(&str, F1Of); 3] =
    [("Ent", |s| s.ent.total.prf().f1), ("Rel", |s| s.rel.total.prf().f1), ("Rel+", |s| s.rel_strict.total.prf().f1)];

impl Results {
    /// The results of `plan`'s finished cells (`file`, the grid's experiment).
    pub fn collect(file: &ExperimentFile, plan: &Plan) -> Result<Results> {
        let mut reports = Vec::new();
        let mut pending = Vec::new();
        for cell in &plan.cells {
            if Plan::cell_status(cell)? != Status::Done {
                pending.push(cell.name.clone());
                continue;
            }
            let report = Report::read(&cell.dir)?;
            let [seed] = report.seeds.as_slice() else {
                bail!("{}: a cell's report holds one seed, not {}", cell.dir.display(), report.seeds.len());
            };
            reports.push((cell, seed.clone()));
        }
        let split = match reports.iter().all(|(_, r)| r.test.is_some()) {
            true => "test",
            false => "dev",
        };
        let scores: Vec<(&CellRecord, &Scores)> = reports
            .iter()
            .map(|(c, r)| (&c.record, if split == "test" { r.test.as_ref().unwrap_or(&r.dev) } else { &r.dev }))
            .collect();
        // Each finished cell's documents, for the bootstrap, where its predictions are there.
        let symmetric = crate::shard::manifest::LabeledManifest::read(&file.data)
            .map(|m| m.symmetric_relations)
            .unwrap_or_default();
        let mut documents: Vec<(&CellRecord, Vec<DocumentCounts>)> = Vec::new();
        for (cell, _) in &reports {
            let path = cell.dir.join(format!("predictions-{split}.json"));
            if path.is_file() {
                let counts = significance::document_counts(&path, &symmetric)?;
                documents.push((&cell.record, counts.into_iter().map(|(_, c)| c).collect()));
            }
        }
        let tables = file
            .fractions
            .iter()
            .map(|&fraction| {
                let mut rows: Vec<Row> = file
                    .encoders
                    .iter()
                    .filter(|e| e.runs_at(fraction))
                    .map(|e| {
                        Row::of(&e.name, scores.iter().filter(|(c, _)| c.encoder == e.name && c.fraction == fraction))
                    })
                    .collect();
                if let Some(base) = rows.iter().find(|r| r.encoder == file.baseline).cloned() {
                    for row in rows.iter_mut().filter(|r| r.encoder != file.baseline) {
                        row.compare(&base);
                        let of = |encoder: &str, seed: u64| {
                            documents
                                .iter()
                                .find(|(c, _)| c.encoder == encoder && c.fraction == fraction && c.seed == seed)
                                .map(|(_, d)| d.clone())
                        };
                        let paired: Option<Vec<(Vec<DocumentCounts>, Vec<DocumentCounts>)>> = row
                            .seeds
                            .iter()
                            .filter(|s| base.seeds.contains(s))
                            .map(|&s| Some((of(&base.encoder, s)?, of(&row.encoder, s)?)))
                            .collect();
                        if let Some((b, o)) =
                            paired.filter(|p| !p.is_empty()).map(|p| p.into_iter().unzip::<_, _, Vec<_>, Vec<_>>())
                        {
                            let p = significance::paired_bootstrap(&b, &o, 0)?;
                            for (column, p) in row.columns_mut().into_iter().zip(p) {
                                column.p_bootstrap = Some(p);
                            }
                        }
                    }
                }
                Ok(Table { fraction, rows })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Results {
            format: RESULTS_FORMAT.into(),
            split: split.into(),
            baseline: file.baseline.clone(),
            tables,
            pending,
        })
    }

    /// Reads `dir/results.json`.
    pub fn read(dir: &Path) -> Result<Results> {
        let path = dir.join(RESULTS_JSON);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an experiment's results", path.display()))?;
        if results.format != RESULTS_FORMAT {
            bail!("{}: format {:?}, not {RESULTS_FORMAT:?}", path.display(), results.format);
        }
        Ok(results)
    }

    /// Writes `results.json`, `results.md` and `results.png` into `dir`; a picture that
    /// cannot be drawn is reported, not fatal, since the tables are written.
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::atomic::write_json(self, &dir.join(RESULTS_JSON))?;
        crate::atomic::write_bytes(&dir.join(RESULTS_MD), self.markdown().as_bytes())?;
        if let Err(e) = self.png().and_then(|png| crate::atomic::write_bytes(&dir.join(RESULTS_PNG), &png)) {
            eprintln!("warning: {e:#}");
        }
        Ok(())
    }

    /// The tables in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "F1 on {} in percent: mean ± sample standard deviation over the seeds; Δ: each seed's difference \
             from {}'s with the same seed, mean ± sample standard deviation, [its 95% confidence interval over \
             the seeds], and p: the two-sided p-value of a paired bootstrap over the {} documents ({} resamples).",
            self.split,
            self.baseline,
            self.split,
            significance::RESAMPLES
        );
        let show = |s: &Option<Spread>| match s {
            Some(s) => format!("{:.2} ± {:.2}", s.mean, s.std),
            None => "–".into(),
        };
        let delta = |c: &Column| match &c.difference {
            Some(s) => {
                let mut text = format!("{:+.2} ± {:.2}", s.mean, s.std);
                if let Some((lo, hi)) = c.difference_ci95 {
                    text += &format!(" [{lo:+.2}, {hi:+.2}]");
                }
                if let Some(p) = c.p_bootstrap {
                    text += &format!(" p {p:.3}");
                }
                text
            }
            None => "–".into(),
        };
        for table in &self.tables {
            let _ = writeln!(out, "\n{}% of the training documents:\n", percent(table.fraction));
            let _ = writeln!(out, "| encoder | seeds | Ent | Rel | Rel+ | Δ Ent | Δ Rel | Δ Rel+ |");
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for row in &table.rows {
                let name = match row.encoder == self.baseline {
                    true => format!("{} (baseline)", row.encoder),
                    false => row.encoder.clone(),
                };
                let columns = row.columns();
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                    row.seeds.len(),
                    show(&columns[0].spread),
                    show(&columns[1].spread),
                    show(&columns[2].spread),
                    delta(columns[0]),
                    delta(columns[1]),
                    delta(columns[2]),
                );
            }
        }
        if !self.pending.is_empty() {
            let _ = writeln!(out, "\n{} cells still to run: {}", self.pending.len(), self.pending.join(", "));
        }
        out
    }

    /// One panel per measure: each row's seeds as points, their mean as a bar.
    fn png(&self) -> Result<Vec<u8>> {
        let rows: Vec<(String, &Row)> = self
            .tables
            .iter()
            .flat_map(|t| t.rows.iter().map(move |r| (format!("{} {}%", r.encoder, percent(t.fraction)), r)))
            .collect();
        let panel = ((160 + 70 * rows.len() as u32).min(4000), 400);
        crate::plot::render_panels(panel, MEASURES.len(), |i, area| {
            let values: Vec<f64> = rows.iter().flat_map(|(_, r)| r.columns()[i].values.clone()).collect();
            let (lo, hi) =
                values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let (lo, hi) = if lo <= hi { ((lo - 1.0).max(0.0), (hi + 1.0).min(100.0)) } else { (0.0, 100.0) };
            let n = rows.len() as f64;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{} F1 ({})", MEASURES[i].0, self.split), ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(48)
                .y_label_area_size(52)
                .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
                .map_err(crate::plot::plotting)?;
            let label = |x: &f64| {
                let i = x.round();
                match (i - x).abs() < 1e-6 && i >= 0.0 && (i as usize) < rows.len() {
                    true => rows[i as usize].0.clone(),
                    false => String::new(),
                }
            };
            chart
                .configure_mesh()
                .x_labels(rows.len() * 2 + 1)
                .x_label_formatter(&label)
                .y_desc("F1 (%); a point per seed, the bar their mean")
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(crate::plot::plotting)?;
            for (x, (_, row)) in rows.iter().enumerate() {
                let column = &row.columns()[i];
                let x = x as f64;
                chart
                    .draw_series(column.values.iter().map(|&v| Circle::new((x, v), 4, BLUE.mix(0.7).filled())))
                    .map_err(crate::plot::plotting)?;
                if let Some(s) = column.spread {
                    chart
                        .draw_series(LineSeries::new([(x - 0.3, s.mean), (x + 0.3, s.mean)], RED.stroke_width(3)))
                        .map_err(crate::plot::plotting)?;
                }
            }
            Ok(())
        })
    }
}

impl Row {
    /// The row of `encoder`'s cells, each with its scores.
    fn of<'a>(encoder: &str, cells: impl Iterator<Item = &'a (&'a CellRecord, &'a Scores)>) -> Row {
        let cells: Vec<&(&CellRecord, &Scores)> = cells.collect();
        let column = |f1: F1Of| {
            let values: Vec<f64> = cells.iter().map(|(_, s)| 100.0 * f1(s)).collect();
            Column {
                spread: (!values.is_empty()).then(|| Spread::of(&values)),
                values,
                difference: None,
                difference_ci95: None,
                p_bootstrap: None,
            }
        };
        Row {
            encoder: encoder.to_string(),
            seeds: cells.iter().map(|(c, _)| c.seed).collect(),
            ent: column(MEASURES[0].1),
            rel: column(MEASURES[1].1),
            rel_strict: column(MEASURES[2].1),
        }
    }

    /// Sets each column's difference from the baseline's row `base`.
    fn compare(&mut self, base: &Row) {
        let seeds = self.seeds.clone();
        for (column, base_column) in self.columns_mut().into_iter().zip(base.columns()) {
            let differences = paired_differences(&seeds, &column.values, &base.seeds, &base_column.values);
            column.difference = (!differences.is_empty()).then(|| Spread::of(&differences));
            column.difference_ci95 = significance::t_interval(&differences);
        }
    }

    fn columns(&self) -> [&Column; 3] {
        [&self.ent, &self.rel, &self.rel_strict]
    }

    fn columns_mut(&mut self) -> [&mut Column; 3] {
        [&mut self.ent, &mut self.rel, &mut self.rel_strict]
    }
}

/// `values − base` over the seeds both have, in the order of `seeds`.
fn paired_differences(seeds: &[u64], values: &[f64], base_seeds: &[u64], base: &[f64]) -> Vec<f64> {
    seeds
        .iter()
        .zip(values)
        .filter_map(|(seed, v)| base_seeds.iter().position(|s| s == seed).map(|j| v - base[j]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_pair_the_seeds_both_rows_have() {
        let d = paired_differences(&[1, 2, 3], &[60.0, 62.0, 70.0], &[2, 1], &[61.0, 58.0]);
        // seed 1: 60 − 58 = 2, seed 2: 62 − 61 = 1; seed 3 has no partner.
        assert_eq!(d, [2.0, 1.0]);
        assert!(paired_differences(&[3], &[1.0], &[1], &[1.0]).is_empty());
    }
}
