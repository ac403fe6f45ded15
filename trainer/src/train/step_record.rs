//! What a logged pre-training step records: one line of `metrics.jsonl` (written by
//! [`spe::run::metrics`]) and of the terminal.

use super::objectives::ObjectiveConfig;
use serde::{Deserialize, Serialize};
use spe::run::metrics::Rates;

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
    /// The sentence encoder's FLOPs per second since the previous logged step, in TFLOP/s
    /// (see [`super::flops`]); absent from runs of earlier versions.
    #[serde(default)]
    pub model_tflops_per_s: f64,
    /// Seconds since this invocation started.
    pub elapsed_s: f64,
    /// The fewest threads libtorch's CPU kernels ran on since the previous logged step
    /// ([`crate::runtime::threads`]); absent from runs of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
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
        rates: Rates,
        elapsed_s: f64,
    ) -> StepRecord {
        let [tbo, spo, cspo] = losses;
        let loss = [(tbo, weights.tbo), (spo, weights.spo), (cspo, weights.cspo)]
            .iter()
            .filter_map(|(l, w)| l.map(|l| l * w))
            .sum();
        StepRecord {
            step,
            lr,
            loss,
            tbo,
            spo,
            cspo,
            grad_norm,
            samples_per_s: rates.samples_per_s,
            tokens_per_s: rates.tokens_per_s,
            model_tflops_per_s: rates.model_flops_per_s / 1e12,
            elapsed_s,
            threads: None,
        }
    }

    /// The losses, `loss L tbo T spo S cspo C` (the objectives that are on).
    pub fn losses(&self) -> String {
        let show = |name: &str, v: Option<f64>| v.map(|v| format!(" {name} {v:.4}")).unwrap_or_default();
        format!("loss {:.4}{}{}{}", self.loss, show("tbo", self.tbo), show("spo", self.spo), show("cspo", self.cspo))
    }

    /// The terminal line of the record.
    pub fn line(&self, total: u64) -> String {
        format!(
            "step {}/{total} {} lr {:.3e} |g| {:.2} {:.1} samples/s {:.0} tokens/s {}",
            self.step,
            self.losses(),
            self.lr,
            self.grad_norm,
            self.samples_per_s,
            self.tokens_per_s,
            super::flops::rate(self.model_tflops_per_s * 1e12)
        )
    }
}
