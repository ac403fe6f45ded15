//! AdamW with decoupled weight decay (Loshchilov and Hutter, 2019) over parameter groups,
//! the linear warm-up and decay schedule of paper §3.3, and gradient clipping.
//!
//! The update is PyTorch's fused AdamW kernel (`adamw.cpp`), one call per group of
//! variables that share a learning rate and a weight decay, as `torch.optim.AdamW(fused=True)`
//! runs it.
//!
//! spe keeps its own AdamW rather than tch's optimizer so that the moments can be written
//! to a checkpoint and read back, which exact resumption needs, and so that every variable
//! has its own group: a share of the learning rate (fine-tuning gives each BERT layer its
//! own) and a weight decay. By default biases and LayerNorm weights are exempt from decay;
//! the authors' code decays every parameter.

use super::ffi::{checked, ptr};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use tch::{nn, Tensor};

/// AdamW and its learning-rate schedule (`[optim]`), one struct for `spe train` and `spe
/// finetune`. How many steps, of how many rows, is the stage's; so are fine-tuning's
/// layer-wise rates. Each stage starts from its own defaults (`TrainConfig`'s are the
/// paper's Wiki-Book pre-training set-up, §3.3, and these; `FinetuneConfig`'s spe's
/// fine-tuning recipe), and a file or `--set` changes only the keys it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Peak learning rate (of BERT's top layer and embeddings, in fine-tuning).
    pub learning_rate: f64,
    /// Share of the steps spent warming up (18,000 of 40,000 in the paper's pre-training).
    pub warmup_fraction: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Adam's bias correction of the moments; without it (the original BERT optimizer's
    /// and SpERT's) the first steps are larger, up to 6.5 times at β = (0.9, 0.999).
    pub bias_correction: bool,
    /// Largest global gradient norm; 0 turns clipping off.
    pub clip_norm: f64,
    /// bfloat16 autocast on CUDA.
    pub bf16: bool,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            learning_rate: 1e-4,
            warmup_fraction: 0.45,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: true,
            clip_norm: 1.0,
            bf16: true,
        }
    }
}

impl OptimConfig {
    /// Refuses values that would train to a wrong result without saying so.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("optim.learning_rate", self.learning_rate),
            ("optim.weight_decay", self.weight_decay),
            ("optim.clip_norm", self.clip_norm),
        ] {
            anyhow::ensure!(value.is_finite() && value >= 0.0, "{name} must be a finite number ≥ 0, not {value}");
        }
        anyhow::ensure!(
            self.eps.is_finite() && self.eps > 0.0,
            "optim.eps must be a finite number > 0, not {}",
            self.eps
        );
        for (name, value) in [("optim.beta1", self.beta1), ("optim.beta2", self.beta2)] {
            anyhow::ensure!((0.0..1.0).contains(&value), "{name} must lie in [0, 1), not {value}");
        }
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.warmup_fraction),
            "optim.warmup_fraction must lie in [0, 1], not {}",
            self.warmup_fraction
        );
        Ok(())
    }
}

/// How one variable is optimised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    /// Its learning rate as a share of the schedule's.
    pub lr_scale: f64,
    /// Its decoupled weight decay.
    pub weight_decay: f64,
}

impl ParamGroup {
    /// The default group of `name`: the full learning rate, and `weight_decay` unless the
    /// variable is a bias or a LayerNorm weight.
    pub fn default_for(name: &str, weight_decay: f64) -> ParamGroup {
        ParamGroup { lr_scale: 1.0, weight_decay: if decays(name) { weight_decay } else { 0.0 } }
    }
}

/// One trained variable and its moments.
struct Param {
    name: String,
    value: Tensor,
    group: ParamGroup,
    m: Tensor,
    v: Tensor,
}

/// The variables one fused call updates: those that share a group and a device.
struct Fused {
    group: ParamGroup,
    /// Their places in [`AdamW::params`], in name order.
    members: Vec<usize>,
    /// The optimizer's step count, as the kernel reads it: a float scalar on their device.
    step: Tensor,
}

extern "C" {
    fn spe_fused_adamw(
        params: *const *mut c_void,
        grads: *const *mut c_void,
        m: *const *mut c_void,
        v: *const *mut c_void,
        step: *mut c_void,
        n: c_int,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
}

/// AdamW over the trainable variables of a var store.
pub struct AdamW {
    params: Vec<Param>,
    fused: Vec<Fused>,
    betas: (f64, f64),
    eps: f64,
    bias_correction: bool,
    steps: i64,
}

/// Whether weight decay applies to the variable `name`: not to biases nor LayerNorm.
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm"))
}

impl AdamW {
    /// An optimizer over every trainable variable of `vs`, in name order, each in its
    /// [`ParamGroup::default_for`] group.
    pub fn new(vs: &nn::VarStore, config: &OptimConfig) -> AdamW {
        AdamW::with_groups(vs, config, |name| ParamGroup::default_for(name, config.weight_decay))
    }

    /// An optimizer over every trainable variable of `vs`, in name order, each in the group
    /// `group` gives its name.
    pub fn with_groups(vs: &nn::VarStore, config: &OptimConfig, group: impl Fn(&str) -> ParamGroup) -> AdamW {
        let mut variables: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        let params: Vec<Param> = variables
            .into_iter()
            .map(|(name, value)| Param {
                group: group(&name),
                m: value.zeros_like(),
                v: value.zeros_like(),
                name,
                value,
            })
            .collect();
        let mut fused: Vec<Fused> = Vec::new();
        for (i, p) in params.iter().enumerate() {
            let device = p.value.device();
            match fused.iter_mut().find(|f| f.group == p.group && f.step.device() == device) {
                Some(f) => f.members.push(i),
                None => fused.push(Fused {
                    group: p.group,
                    members: vec![i],
                    step: Tensor::zeros([], (tch::Kind::Float, device)),
                }),
            }
        }
        AdamW {
            params,
            fused,
            betas: (config.beta1, config.beta2),
            eps: config.eps,
            bias_correction: config.bias_correction,
            steps: 0,
        }
    }

    /// The group of the variable `name`, if the optimizer has it.
    pub fn group(&self, name: &str) -> Option<ParamGroup> {
        self.params.iter().find(|p| p.name == name).map(|p| p.group)
    }

    /// The trained variables, in name order.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.params.iter().map(|p| (p.name.as_str(), &p.value))
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// Scales the gradients so that their global L2 norm is at most `max_norm`, as
    /// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
    pub fn clip_gradients(&self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.value.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norm = tch::no_grad(|| {
            let squares: Vec<Tensor> =
                grads.iter().map(|g| g.to_kind(tch::Kind::Float).square().sum(tch::Kind::Float)).collect();
            Tensor::stack(&squares, 0).sum(tch::Kind::Float).sqrt()
        });
        let norm = f64::try_from(&norm).unwrap_or(f64::NAN);
        if max_norm > 0.0 && norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(scale);
                }
            });
        }
        norm
    }

    /// One update with the schedule's learning rate `lr` (scaled by each variable's
    /// group), then clears the gradients. Variables without a gradient are left alone.
    ///
    /// Every variable's bias correction counts the optimizer's steps, the one count a
    /// checkpoint records. PyTorch counts each variable's own updates; the two differ only
    /// for a variable whose first gradient comes after the first step, where PyTorch's
    /// count would make a resumed run differ from the uninterrupted one.
    ///
    /// Without bias correction the update is lr·m/(√v + ε), as transformers' `AdamW(...,
    /// correct_bias=False)` computes it: the fused kernel's corrected update at a learning
    /// rate of lr·(1 − β1ᵗ)/√(1 − β2ᵗ), so that its ε is scaled by √(1 − β2ᵗ) ≤ 1, and its
    /// weight decay divided by the same factor, so that the decay stays lr·λ.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.steps += 1;
        let steps = self.steps;
        let uncorrected = match self.bias_correction {
            true => 1.0,
            false => (1.0 - self.betas.0.powi(steps as i32)) / (1.0 - self.betas.1.powi(steps as i32)).sqrt(),
        };
        for fused in &mut self.fused {
            let (members, grads): (Vec<&Param>, Vec<Tensor>) = fused
                .members
                .iter()
                .map(|&i| &self.params[i])
                .filter_map(|p| {
                    let grad = p.value.grad();
                    grad.defined().then_some((p, grad))
                })
                .unzip();
            if members.is_empty() {
                continue;
            }
            let _ = fused.step.fill_(steps as f64);
            let pointers = |f: fn(&Param) -> &Tensor| members.iter().map(|p| ptr(f(p))).collect::<Vec<_>>();
            let (values, m, v) = (pointers(|p| &p.value), pointers(|p| &p.m), pointers(|p| &p.v));
            let grads: Vec<*mut c_void> = grads.iter().map(ptr).collect();
            // SAFETY: live tensors of matching shapes and devices; the shim catches every
            // exception.
            checked(
                || format!("AdamW step {steps}"),
                |err, len| unsafe {
                    spe_fused_adamw(
                        values.as_ptr(),
                        grads.as_ptr(),
                        m.as_ptr(),
                        v.as_ptr(),
                        ptr(&fused.step),
                        members.len() as c_int,
                        lr * fused.group.lr_scale * uncorrected,
                        self.betas.0,
                        self.betas.1,
                        fused.group.weight_decay / uncorrected,
                        self.eps,
                        err,
                        len,
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Clears the gradients without updating.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut grad = p.value.grad();
            if grad.defined() {
                let _ = grad.zero_();
            }
        }
    }

    /// The moments, named `m.<variable>` and `v.<variable>`, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .flat_map(|p| {
                [(format!("m.{}", p.name), p.m.shallow_clone()), (format!("v.{}", p.name), p.v.shallow_clone())]
            })
            .collect()
    }

    /// Restores the moments written by [`AdamW::state`] and the step count.
    pub fn load_state(&mut self, mut tensors: HashMap<String, Tensor>, steps: i64) -> Result<()> {
        for p in &mut self.params {
            for (kind, moment) in [("m", &mut p.m), ("v", &mut p.v)] {
                let name = format!("{kind}.{}", p.name);
                let value = tensors.remove(&name).with_context(|| format!("the optimizer state has no {name}"))?;
                anyhow::ensure!(value.size() == moment.size(), "optimizer state {name} has the wrong shape");
                tch::no_grad(|| moment.copy_(&value));
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// The learning rate at optimizer step `step` (0-based): linear warm-up over the first
/// `warmup_fraction` of `total` steps, then linear decay to 0 at `total`.
pub fn learning_rate(config: &OptimConfig, step: u64, total: u64) -> f64 {
    let warmup = (config.warmup_fraction * total as f64).round() as u64;
    let step = step + 1;
    if step <= warmup {
        config.learning_rate * step as f64 / warmup as f64
    } else {
        config.learning_rate * (total.saturating_sub(step) as f64 / (total - warmup).max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        let config = OptimConfig { learning_rate: 1.0, warmup_fraction: 0.2, ..Default::default() };
        let lr: Vec<f64> = (0..10).map(|s| learning_rate(&config, s, 10)).collect();
        assert_eq!(lr[0], 0.5);
        assert_eq!(lr[1], 1.0);
        assert!(lr.windows(2).skip(1).all(|w| w[1] < w[0]));
        assert_eq!(lr[9], 0.0);
        assert!((lr[2] - 7.0 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn biases_and_layer_norms_are_not_decayed() {
        assert!(decays("bert.encoder.layer.0.attention.self.query.weight"));
        assert!(!decays("bert.encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("bert.embeddings.LayerNorm.weight"));
        assert!(!decays("span_encoder.mlp.LayerNorm.weight"));
        assert!(decays("span_encoder.conv2.weight"));
    }

    #[test]
    fn groups_scale_the_learning_rate_and_set_the_decay() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let layer = vs.root() / "layer";
        let a = (&layer / 0).var_copy("weight", &Tensor::from_slice(&[1.0f32]));
        let b = (&layer / 1).var_copy("weight", &Tensor::from_slice(&[1.0f32]));
        let _bias = (&layer / 1).var_copy("bias", &Tensor::from_slice(&[1.0f32]));
        let config = OptimConfig { weight_decay: 0.5, ..Default::default() };
        let mut adam = AdamW::with_groups(&vs, &config, |name| {
            let scale = if name.starts_with("layer.0.") { 0.5 } else { 1.0 };
            ParamGroup { lr_scale: scale, ..ParamGroup::default_for(name, config.weight_decay) }
        });
        assert_eq!(adam.group("layer.0.weight"), Some(ParamGroup { lr_scale: 0.5, weight_decay: 0.5 }));
        assert_eq!(adam.group("layer.1.bias"), Some(ParamGroup { lr_scale: 1.0, weight_decay: 0.0 }));
        assert_eq!(adam.group("nothing"), None);
        (&a + &b).sum(tch::Kind::Float).backward();
        adam.step(0.1).unwrap();
        // Adam's first step moves each weight by its learning rate (the normalised gradient
        // is 1), after decay by 1 - lr * 0.5: 1 * (1 - 0.025) - 0.05 and 1 * (1 - 0.05) - 0.1.
        let (a, b) = (f64::try_from(&a).unwrap(), f64::try_from(&b).unwrap());
        assert!((a - 0.925).abs() < 1e-5 && (b - 0.85).abs() < 1e-5, "{a} {b}");
    }

    #[test]
    fn one_step_matches_torch_adamw() {
        // torch.optim.AdamW([w], lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
        // on w = [1, -2] with gradient [0.5, 0.25] gives [0.899, -2.098].
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let config = OptimConfig { eps: 1e-6, weight_decay: 0.01, ..Default::default() };
        let mut adam = AdamW::new(&vs, &config);
        (&w * Tensor::from_slice(&[0.5f32, 0.25])).sum(tch::Kind::Float).backward();
        adam.step(0.1).unwrap();
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        assert!((got[0] - 0.899).abs() < 1e-5 && (got[1] + 2.098).abs() < 1e-5, "{got:?}");
        assert_eq!(f64::try_from(w.grad().abs().sum(tch::Kind::Float)).unwrap(), 0.0);
    }

    #[test]
    fn without_bias_correction_the_first_step_is_the_raw_moments_ratio() {
        // m = 0.1 g, v = 0.001 g², so the step is lr·m/(√v + ε√0.001) ≈ 3.16 lr, after the
        // decay by lr·λ: 1·(1 − 0.001) − 0.31623 and −2·(1 − 0.001) − 0.31623.
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let config = OptimConfig { eps: 1e-6, weight_decay: 0.01, bias_correction: false, ..Default::default() };
        let mut adam = AdamW::new(&vs, &config);
        (&w * Tensor::from_slice(&[0.5f32, 0.25])).sum(tch::Kind::Float).backward();
        adam.step(0.1).unwrap();
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        assert!((got[0] - 0.682_773).abs() < 1e-5 && (got[1] + 2.314_227).abs() < 1e-5, "{got:?}");
    }

    #[test]
    fn a_resumed_optimizer_steps_as_the_uninterrupted_one_when_a_gradient_starts_late() {
        // `b` has no gradient at the first step; the state written after step 2 and read
        // back into a new optimizer must give step 3 exactly as the optimizer kept alive.
        let config = OptimConfig { eps: 1e-6, weight_decay: 0.01, ..Default::default() };
        let run = |resume_after: Option<i64>| {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
            let b = vs.root().var_copy("b", &Tensor::from_slice(&[0.5f32]));
            let mut adam = AdamW::new(&vs, &config);
            for step in 1..=3i64 {
                let loss = (&w * Tensor::from_slice(&[0.5f32, -0.25])).sum(tch::Kind::Float);
                let loss = if step == 1 { loss } else { loss + (&b * 2.0).sum(tch::Kind::Float) };
                loss.backward();
                adam.step(0.1).unwrap();
                if resume_after == Some(step) {
                    let state = adam.state().into_iter().map(|(n, t)| (n, t.copy())).collect();
                    adam = AdamW::new(&vs, &config);
                    adam.load_state(state, step).unwrap();
                }
            }
            (Vec::<f32>::try_from(&w).unwrap(), Vec::<f32>::try_from(&b).unwrap())
        };
        assert_eq!(run(None), run(Some(2)));
    }

    #[test]
    fn three_steps_in_two_groups_match_torch_adamw() {
        // torch.optim.AdamW([{params: [w], lr: 0.1, weight_decay: 0.01}, {params: [b], lr:
        // 0.05, weight_decay: 0}], betas=(0.9, 0.999), eps=1e-6), three steps with the
        // gradients below, gives w = [0.8433298, -2.1693268] and b = [0.4751397].
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let b = (vs.root() / "b").var_copy("bias", &Tensor::from_slice(&[0.5f32]));
        let config = OptimConfig { eps: 1e-6, weight_decay: 0.01, ..Default::default() };
        let mut adam = AdamW::with_groups(&vs, &config, |name| match name {
            "w" => ParamGroup { lr_scale: 1.0, weight_decay: 0.01 },
            _ => ParamGroup { lr_scale: 0.5, weight_decay: 0.0 },
        });
        for (gw, gb) in [([0.5f32, 0.25], 1.0f32), ([-0.3, 0.1], -2.0), ([0.2, -0.4], 0.5)] {
            ((&w * Tensor::from_slice(&gw)).sum(tch::Kind::Float) + &b * f64::from(gb))
                .sum(tch::Kind::Float)
                .backward();
            adam.step(0.1).unwrap();
        }
        let (w, b): (Vec<f32>, Vec<f32>) = (Vec::try_from(&w).unwrap(), Vec::try_from(&b).unwrap());
        assert!((w[0] - 0.8433298).abs() < 1e-6 && (w[1] + 2.1693268).abs() < 1e-6, "{w:?}");
        assert!((b[0] - 0.4751397).abs() < 1e-6, "{b:?}");
        assert_eq!(adam.steps(), 3);
    }
}
