//! What fine-tuning reports per epoch: a record in `metrics.jsonl` and a line on the
//! terminal. The report at the end, `report.json`, is `spe::run::report`, which the
//! commands that read runs share.

use serde::{Deserialize, Serialize};
use spe::score::Scores;
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
