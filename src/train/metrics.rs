//! The metrics file (`metrics.jsonl`, one JSON object per logged step) and the log line.

use super::ObjectiveConfig;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// File name of the metrics in the output directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// What one logged step measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Optimizer steps taken.
    pub step: u64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Weighted total of the step's losses.
    pub loss: f64,
    /// TBO loss, when on and the step had targets.
    pub tbo: Option<f64>,
    /// SPO loss.
    pub spo: Option<f64>,
    /// CSPO loss.
    pub cspo: Option<f64>,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Rows per second since the previous logged step.
    pub samples_per_s: f64,
    /// Real (unpadded) tokens per second since the previous logged step.
    pub tokens_per_s: f64,
    /// Seconds since this invocation started.
    pub elapsed_s: f64,
}

impl StepRecord {
    /// A record; `losses` are TBO, SPO and CSPO.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        step: u64,
        lr: f64,
        losses: [Option<f64>; 3],
        weights: &ObjectiveConfig,
        grad_norm: f64,
        samples_per_s: f64,
        tokens_per_s: f64,
        elapsed_s: f64,
    ) -> StepRecord {
        let [tbo, spo, cspo] = losses;
        let loss = [(tbo, weights.tbo), (spo, weights.spo), (cspo, weights.cspo)]
            .iter()
            .filter_map(|(l, w)| l.map(|l| l * w))
            .sum();
        StepRecord { step, lr, loss, tbo, spo, cspo, grad_norm, samples_per_s, tokens_per_s, elapsed_s }
    }

    /// The terminal line of the record.
    pub fn line(&self, total: u64) -> String {
        let show = |name: &str, v: Option<f64>| v.map(|v| format!(" {name} {v:.4}")).unwrap_or_default();
        format!(
            "step {}/{total} loss {:.4}{}{}{} lr {:.3e} |g| {:.2} {:.1} samples/s {:.0} tokens/s",
            self.step,
            self.loss,
            show("tbo", self.tbo),
            show("spo", self.spo),
            show("cspo", self.cspo),
            self.lr,
            self.grad_norm,
            self.samples_per_s,
            self.tokens_per_s
        )
    }
}

/// The open metrics file.
pub struct Metrics {
    file: File,
    path: PathBuf,
}

impl Metrics {
    /// Opens `out/metrics.jsonl` for a run at `step`: records of later steps (written
    /// after the checkpoint a resumed run starts from) are dropped.
    pub fn open(out: &Path, step: u64) -> Result<Metrics> {
        let path = out.join(METRICS_FILE);
        let kept = match File::open(&path) {
            Ok(file) => BufReader::new(file)
                .lines()
                .map(|line| line.with_context(|| format!("cannot read {}", path.display())))
                .filter(|line| match line {
                    Ok(line) => serde_json::from_str::<StepRecord>(line).is_ok_and(|r| r.step <= step),
                    Err(_) => true,
                })
                .collect::<Result<Vec<String>>>()?,
            Err(_) => Vec::new(),
        };
        let mut file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        for line in kept {
            writeln!(file, "{line}")?;
        }
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Metrics { file, path })
    }

    /// Appends a record.
    pub fn write(&mut self, record: &StepRecord) -> Result<()> {
        let line = serde_json::to_string(record)?;
        writeln!(self.file, "{line}").with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Reads every record of `out/metrics.jsonl`.
pub fn read(out: &Path) -> Result<Vec<StepRecord>> {
    let path = out.join(METRICS_FILE);
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line?;
            serde_json::from_str(&line).with_context(|| format!("{}:{}: not a metrics record", path.display(), i + 1))
        })
        .collect()
}
