//! The metrics of a run: `metrics.jsonl`, one JSON object per logged step with at least a
//! `step` field, and the throughput since the last logged step. The trainer decides what
//! else a record holds.

use super::layout::METRICS_FILE;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The open metrics file.
pub struct MetricsFile {
    file: File,
    path: PathBuf,
}

/// The one field every record has.
#[derive(Deserialize)]
struct Step {
    step: u64,
}

impl MetricsFile {
    /// Opens `out/metrics.jsonl` for a run at `step`: records of later steps (written
    /// after the checkpoint a resumed run starts from) are dropped.
    pub fn open(out: &Path, step: u64) -> Result<MetricsFile> {
        let path = out.join(METRICS_FILE);
        let kept = match File::open(&path) {
            Ok(file) => BufReader::new(file)
                .lines()
                .map(|line| line.with_context(|| format!("cannot read {}", path.display())))
                .filter(|line| match line {
                    Ok(line) => serde_json::from_str::<Step>(line).is_ok_and(|r| r.step <= step),
                    Err(_) => true,
                })
                .collect::<Result<Vec<String>>>()?,
            Err(_) => Vec::new(),
        };
        let mut file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        for line in kept {
            writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
        }
        let file =
            OpenOptions::new().append(true).open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(MetricsFile { file, path })
    }

    /// Appends a record.
    pub fn write(&mut self, record: &impl Serialize) -> Result<()> {
        let line = serde_json::to_string(record)?;
        writeln!(self.file, "{line}").with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Reads every record of `out/metrics.jsonl`.
pub fn read<T: DeserializeOwned>(out: &Path) -> Result<Vec<T>> {
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

/// Rows, real tokens and model FLOPs since the last logged step, and the time they took.
pub struct Throughput {
    since: Instant,
    rows: usize,
    tokens: usize,
    flops: f64,
}

/// Throughput over a window of steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Rows a second.
    pub samples_per_s: f64,
    /// Real (unpadded) tokens a second.
    pub tokens_per_s: f64,
    /// Model FLOPs a second, counted as the trainer's model defines them.
    pub model_flops_per_s: f64,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput { since: Instant::now(), rows: 0, tokens: 0, flops: 0.0 }
    }
}

impl Throughput {
    /// Counts a micro-batch of `rows` rows, `tokens` real tokens and `flops` model FLOPs.
    pub fn add(&mut self, rows: usize, tokens: usize, flops: f64) {
        self.rows += rows;
        self.tokens += tokens;
        self.flops += flops;
    }

    /// The rates since the last [`Throughput::restart`].
    pub fn rates(&self) -> Rates {
        let seconds = self.since.elapsed().as_secs_f64().max(1e-9);
        Rates {
            samples_per_s: self.rows as f64 / seconds,
            tokens_per_s: self.tokens as f64 / seconds,
            model_flops_per_s: self.flops / seconds,
        }
    }

    /// Starts a new window.
    pub fn restart(&mut self) {
        *self = Throughput::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_at_a_step_drops_the_later_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = MetricsFile::open(dir.path(), 0).unwrap();
        for step in 1..=4u64 {
            file.write(&serde_json::json!({ "step": step, "loss": 1.0 / step as f64 })).unwrap();
        }
        drop(file);
        let mut file = MetricsFile::open(dir.path(), 2).unwrap();
        file.write(&serde_json::json!({ "step": 3, "loss": 0.0 })).unwrap();
        let records: Vec<serde_json::Value> = read(dir.path()).unwrap();
        let steps: Vec<u64> = records.iter().map(|r| r["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, [1, 2, 3]);
        assert_eq!(records[2]["loss"], 0.0);
    }
}
