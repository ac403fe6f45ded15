//! The three pre-training objectives on one micro-batch (paper §3.2), each in its own
//! module: [`tbo`] and [`spo`] from the query encoder's views, [`cspo`] against the momentum
//! keys; here their weights, their weighted sum, and their means over a step.

pub mod cspo;
pub mod spo;
pub mod tbo;

use super::device_batch::DeviceBatch;
use super::moco::{Keys, Moco};
use crate::model::{EncodedView, Encoder, Heads};
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Weights of the objectives in the loss (`[objectives]`); 0 turns one off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    /// Token boundary objective.
    pub tbo: f64,
    /// Span permutation objective.
    pub spo: f64,
    /// Contrastive span pair objective.
    pub cspo: f64,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig { tbo: 0.5, spo: 1.0, cspo: 0.3 }
    }
}

impl ObjectiveConfig {
    /// Keeps the weights of the objectives named in `list` (comma-separated `tbo`, `spo`,
    /// `cspo`) and sets the others to 0.
    pub fn keep_only(&mut self, list: &str) -> Result<()> {
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        for name in &names {
            ensure!(["tbo", "spo", "cspo"].contains(name), "unknown objective {name:?}: expected tbo, spo or cspo");
        }
        ensure!(!names.is_empty(), "--objectives needs at least one of tbo, spo, cspo");
        for (name, weight) in [("tbo", &mut self.tbo), ("spo", &mut self.spo), ("cspo", &mut self.cspo)] {
            if !names.contains(&name) {
                *weight = 0.0;
            }
        }
        Ok(())
    }
}

/// The losses of one micro-batch; an objective that is off, or has no target in the
/// batch, is `None`.
pub struct Losses {
    /// Token boundary objective.
    pub tbo: Option<Tensor>,
    /// Span permutation objective.
    pub spo: Option<Tensor>,
    /// Contrastive span pair objective.
    pub cspo: Option<Tensor>,
    /// The weighted sum.
    pub total: Tensor,
    /// Keys for the queues, when CSPO is on.
    pub keys: Option<Keys>,
}

/// Runs the query encoder on both views, the heads, and the key encoder when CSPO is on.
pub fn losses(
    encoder: &Encoder,
    heads: &Heads,
    moco: Option<&Moco>,
    batch: &DeviceBatch,
    weights: &ObjectiveConfig,
) -> Result<Losses> {
    let encoded = batch.views.iter().map(|v| encoder.forward(v, true)).collect::<Result<Vec<EncodedView>>>()?;
    let tbo = (weights.tbo > 0.0).then(|| tbo::loss(heads, &encoded, &batch.tbo)).flatten();
    let spo = (weights.spo > 0.0).then(|| spo::loss(heads, &encoded, &batch.spo)).flatten();
    let (cspo, keys) = match moco.filter(|_| weights.cspo > 0.0) {
        Some(moco) => {
            let keys = moco.keys(&batch.views[0], &batch.views[1])?;
            (Some(cspo::loss(moco, &encoded[0].key, &encoded[1].key, &keys)), Some(keys))
        }
        None => (None, None),
    };
    let device = batch.views[0].input_ids.device();
    let mut total = Tensor::zeros([], (Kind::Float, device));
    for (loss, weight) in [(&tbo, weights.tbo), (&spo, weights.spo), (&cspo, weights.cspo)] {
        if let Some(loss) = loss {
            total += loss.to_kind(Kind::Float) * weight;
        }
    }
    Ok(Losses { tbo, spo, cspo, total, keys })
}

/// Each objective's mean loss over the micro-batches of one optimizer step.
#[derive(Default)]
pub struct StepLosses {
    sums: [Option<Tensor>; 3],
    counts: [u32; 3],
}

impl StepLosses {
    /// Adds a micro-batch's losses (detached, in float).
    pub fn add(&mut self, losses: &Losses) {
        for (i, loss) in [&losses.tbo, &losses.spo, &losses.cspo].into_iter().enumerate() {
            if let Some(loss) = loss {
                let loss = loss.detach().to_kind(Kind::Float);
                self.sums[i] = Some(match self.sums[i].take() {
                    Some(sum) => sum + loss,
                    None => loss,
                });
                self.counts[i] += 1;
            }
        }
    }

    /// The means of TBO, SPO and CSPO, `None` for an objective that had no loss. Reading
    /// them waits for the device.
    pub fn means(&self) -> Result<[Option<f64>; 3]> {
        let mean = |i: usize| -> Result<Option<f64>> {
            self.sums[i].as_ref().map(|sum| Ok(f64::try_from(sum)? / f64::from(self.counts[i]))).transpose()
        };
        Ok([mean(0)?, mean(1)?, mean(2)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_can_be_switched_off_by_name() {
        let mut o = ObjectiveConfig::default();
        o.keep_only("tbo, cspo").unwrap();
        assert_eq!((o.tbo, o.spo, o.cspo), (0.5, 0.0, 0.3));
        assert!(ObjectiveConfig::default().keep_only("mlm").is_err());
        assert!(ObjectiveConfig::default().keep_only("").is_err());
    }

    #[test]
    fn step_losses_average_each_objective_over_its_micro_batches() {
        let scalar = |v: f64| Some(Tensor::from(v));
        let mut step = StepLosses::default();
        let total = Tensor::from(0.0);
        step.add(&Losses { tbo: scalar(1.0), spo: None, cspo: scalar(4.0), total: total.copy(), keys: None });
        step.add(&Losses { tbo: scalar(3.0), spo: None, cspo: None, total, keys: None });
        assert_eq!(step.means().unwrap(), [Some(2.0), None, Some(4.0)]);
    }
}
