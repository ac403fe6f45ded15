//! CSPO with momentum contrast (paper §3.2 and appendix D).
//!
//! The key encoder f_k is a copy of the query encoder f_q (BERT, span and span-pair
//! encoders, projection) that follows it by momentum, θ_k ← m θ_k + (1 − m) θ_q, after each
//! optimizer step. Two queues keep the K most recent keys of each view. The loss is
//! symmetric ([`crate::train::objectives::cspo`], which maps every part of CSPO).
//!
//! Deviations from the authors' code, each for the paper's meaning: the key encoder starts
//! as a copy of the query encoder (their heads start from separate random weights); the
//! context key encodes x_context (their appendix encodes x_target twice); keys are unit
//! vectors (see [`crate::model::Encoder::forward`]); the queues start as random unit
//! vectors, as in MoCo, instead of switching the loss off until they have filled.

use crate::model::layers::unit_rows;
use crate::model::weights::load_variables;
use crate::model::{Encoder, ModelConfig, ViewInput};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Momentum contrast (`[moco]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// Keys per queue (K). The authors' code keeps 4,096 micro-batches of 16 keys.
    pub queue_size: i64,
    /// Momentum m of the key encoder.
    pub momentum: f64,
    /// Temperature of the contrastive loss.
    pub temperature: f64,
    /// Export the momentum (key) encoder instead of the query encoder (an ablation of
    /// paper §4.4).
    pub export_momentum_encoder: bool,
}

impl Default for MocoConfig {
    fn default() -> Self {
        MocoConfig { queue_size: 65536, momentum: 0.999, temperature: 0.2, export_momentum_encoder: false }
    }
}

impl MocoConfig {
    /// The ranges of the settings.
    pub fn check(&self) -> Result<()> {
        // Two queues of queue_size keys each live on the device: 2^24 keys (256 times the
        // paper's 65,536) of 300 floats are 40 GB.
        let keys = self.queue_size;
        ensure!((1..=1 << 24).contains(&keys), "moco.queue_size must lie in [1, 16777216], not {keys}");
        ensure!((0.0..1.0).contains(&self.momentum), "moco.momentum must lie in [0, 1)");
        ensure!(self.temperature > 0.0, "moco.temperature must be positive");
        Ok(())
    }
}

/// The momentum encoder and the two queues.
pub struct Moco {
    vs: nn::VarStore,
    encoder: Encoder,
    target_queue: Tensor,
    context_queue: Tensor,
    next: i64,
    config: MocoConfig,
}

/// Keys of one micro-batch, waiting for the end of the optimizer step to be enqueued.
pub struct Keys {
    /// `[B, C]` keys of x_target.
    pub target: Tensor,
    /// `[B, C]` keys of x_context.
    pub context: Tensor,
}

impl Moco {
    /// A key encoder copied from the query encoder in `query_vs`, and random queues
    /// (from torch's generator, which the caller seeds).
    pub fn new(query_vs: &nn::VarStore, model: &ModelConfig, config: &MocoConfig, device: Device) -> Result<Moco> {
        config.check()?;
        let mut vs = nn::VarStore::new(device);
        let encoder = Encoder::new(&vs.root(), model);
        vs.copy(query_vs).context("cannot copy the query encoder into the key encoder")?;
        vs.freeze();
        let size = if model.heads.projection { model.heads.projection_size } else { model.span.size };
        let queue = || unit_rows(&Tensor::randn([config.queue_size, size], (Kind::Float, device)));
        Ok(Moco { vs, target_queue: queue(), context_queue: queue(), next: 0, encoder, config: config.clone() })
    }

    /// The key encoder's variables.
    pub fn vars(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The keys of both views, without gradient.
    pub fn keys(&self, target: &ViewInput, context: &ViewInput) -> Result<Keys> {
        tch::no_grad(|| {
            Ok(Keys {
                target: self.encoder.forward(target, true)?.key.to_kind(Kind::Float),
                context: self.encoder.forward(context, true)?.key.to_kind(Kind::Float),
            })
        })
    }

    /// The queues of x_target and x_context keys, `[K, C]` each.
    pub fn queues(&self) -> (&Tensor, &Tensor) {
        (&self.target_queue, &self.context_queue)
    }

    /// The temperature of the contrastive loss.
    pub fn temperature(&self) -> f64 {
        self.config.temperature
    }

    /// θ_k ← m θ_k + (1 − m) θ_q for every key variable.
    pub fn momentum_update(&mut self, query_vs: &nn::VarStore) {
        let query = query_vs.variables();
        tch::no_grad(|| {
            for (name, mut key) in self.vs.variables() {
                let _ = key.lerp_(&query[&name], 1.0 - self.config.momentum);
            }
        });
    }

    /// Puts `keys` into the queues, replacing the oldest.
    pub fn enqueue(&mut self, keys: &Keys) {
        let n = keys.target.size()[0];
        let k = self.config.queue_size;
        let slots = (Tensor::arange(n, (Kind::Int64, self.target_queue.device())) + self.next).remainder(k);
        tch::no_grad(|| {
            let _ = self.target_queue.index_copy_(0, &slots, &keys.target);
            let _ = self.context_queue.index_copy_(0, &slots, &keys.context);
        });
        self.next = (self.next + n) % k;
    }

    /// Queues, queue position and key encoder, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = vec![
            ("queue.target".to_string(), self.target_queue.shallow_clone()),
            ("queue.context".to_string(), self.context_queue.shallow_clone()),
            ("queue.next".to_string(), Tensor::from_slice(&[self.next])),
        ];
        state.extend(self.vs.variables().into_iter().map(|(name, t)| (format!("key.{name}"), t)));
        state
    }

    /// Restores what [`Moco::state`] wrote, read from `source`.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, source: &Path) -> Result<()> {
        let get = |name: &str| tensors.get(name).with_context(|| format!("the checkpoint has no {name}"));
        tch::no_grad(|| -> Result<()> {
            ensure!(get("queue.target")?.size() == self.target_queue.size(), "the checkpoint's queue has another size");
            self.target_queue.copy_(get("queue.target")?);
            self.context_queue.copy_(get("queue.context")?);
            Ok(())
        })?;
        let keys: HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(name, t)| Some((name.strip_prefix("key.")?.to_string(), t.shallow_clone())))
            .collect();
        load_variables(&self.vs, "", &keys, source)?;
        self.next = i64::try_from(get("queue.next")?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_size_is_bounded_before_anything_is_allocated() {
        MocoConfig::default().check().unwrap();
        let huge = MocoConfig { queue_size: 10_000_000_000, ..MocoConfig::default() };
        assert!(huge.check().unwrap_err().to_string().contains("moco.queue_size must lie in [1, 16777216]"));
    }

    #[test]
    fn the_key_encoder_starts_as_a_copy_and_follows_by_momentum() {
        tch::manual_seed(1);
        let model = ModelConfig::tiny();
        let query_vs = nn::VarStore::new(Device::Cpu);
        let _query = Encoder::new(&query_vs.root(), &model);
        let config = MocoConfig { queue_size: 5, momentum: 0.75, ..Default::default() };
        let mut moco = Moco::new(&query_vs, &model, &config, Device::Cpu).unwrap();
        let query = query_vs.variables();
        let name = "pair_encoder.w_h.weight";
        assert!(moco.vars().variables()[name].equal(&query[name]));
        assert_eq!(moco.vars().len(), query.len());
        let before = moco.vars().variables()[name].copy();
        tch::no_grad(|| {
            let _ = query[name].shallow_clone().g_add_scalar_(1.0);
        });
        moco.momentum_update(&query_vs);
        let expected = &before * 0.75 + &query[name] * 0.25;
        assert!(moco.vars().variables()[name].allclose(&expected, 1e-6, 1e-6, false));
        assert!(!moco.vars().variables()[name].requires_grad());
    }

    #[test]
    fn queues_replace_their_oldest_keys_in_order() {
        let model = ModelConfig::tiny();
        let query_vs = nn::VarStore::new(Device::Cpu);
        let _query = Encoder::new(&query_vs.root(), &model);
        let config = MocoConfig { queue_size: 5, ..Default::default() };
        let mut moco = Moco::new(&query_vs, &model, &config, Device::Cpu).unwrap();
        let keys = |first: f32, n: i64| Keys {
            target: Tensor::arange(n, (Kind::Float, Device::Cpu)).unsqueeze(1).repeat([1, 4]) + f64::from(first),
            context: -(Tensor::arange(n, (Kind::Float, Device::Cpu)).unsqueeze(1).repeat([1, 4]) + f64::from(first)),
        };
        moco.enqueue(&keys(10.0, 3));
        moco.enqueue(&keys(20.0, 3));
        let column: Vec<f32> = Vec::try_from(moco.target_queue.select(1, 0)).unwrap();
        // Slots 0..3 took 10, 11, 12; then 20, 21 went to slots 3, 4 and 22 wrapped to 0.
        assert_eq!(column, [22.0, 11.0, 12.0, 20.0, 21.0]);
        let column: Vec<f32> = Vec::try_from(moco.context_queue.select(1, 0)).unwrap();
        assert_eq!(column, [-22.0, -11.0, -12.0, -20.0, -21.0]);
        assert_eq!(moco.next, 1);
    }
}
