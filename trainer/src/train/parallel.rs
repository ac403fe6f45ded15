//! What a data-parallel run ([`crate::runtime::dist`]) exchanges between its ranks: rank
//! 0's state at the start, every step's gradients and MoCo keys, and the logged figures.

use super::checkpoint::TrainState;
use super::moco::Keys;
use crate::runtime::dist::Group;
use crate::runtime::optim::AdamW;
use anyhow::{bail, Result};
use spe::run::metrics::Rates;

/// Gives every rank rank 0's weights, optimizer state and MoCo state, by name.
pub fn broadcast_state(group: &Group, train: &TrainState) -> Result<()> {
    let mut state: Vec<(String, tch::Tensor)> = train.vs.variables().into_iter().collect();
    state.extend(train.optimizer.state());
    if let Some(moco) = &train.moco {
        state.extend(moco.state());
    }
    // Every rank walks the same names in the same order. A tensor off the device (MoCo's
    // queue position, a host copy of a count every rank keeps alike) is not exchanged.
    state.sort_by(|a, b| a.0.cmp(&b.0));
    let mut on_device = state.iter().filter(|(_, t)| t.device() == group.device);
    tch::no_grad(|| on_device.try_for_each(|(_, tensor)| group.broadcast(tensor, 0)))
}

/// Sums the step's gradients over the ranks (in buckets, in the optimizer's name order) and
/// gathers every rank's keys, in the order one process would have made them.
pub fn all_reduce_step(group: &Group, optimizer: &AdamW, keys: Vec<Keys>, step: u64) -> Result<Vec<Keys>> {
    let grads: Vec<tch::Tensor> = optimizer.variables().map(|(_, v)| v.grad()).collect();
    // Every rank must sum the same gradients: one that is missing on a rank would shift the
    // buckets of all that follow.
    let defined = tch::Tensor::from_slice(&grads.iter().map(|g| f32::from(u8::from(g.defined()))).collect::<Vec<_>>())
        .to_device(group.device);
    group.all_reduce_sum(&defined)?;
    let counts = Vec::<f32>::try_from(&defined)?;
    if let Some(i) = counts.iter().position(|&c| c != 0.0 && c != group.world_size as f32) {
        let name = optimizer.variables().nth(i).map_or("a variable", |(name, _)| name);
        bail!("step {step}: {name} has a gradient on some ranks only");
    }
    let defined: Vec<tch::Tensor> = grads.into_iter().filter(|g| g.defined()).collect();
    group.all_reduce_buckets(&defined, 25 << 20)?;
    if keys.is_empty() {
        return Ok(keys);
    }
    let rows: Vec<i64> = keys.iter().map(|k| k.target.size()[0]).collect();
    let gather = |part: fn(&Keys) -> &tch::Tensor| -> Result<Vec<tch::Tensor>> {
        let local = tch::Tensor::cat(&keys.iter().map(part).collect::<Vec<_>>(), 0);
        Ok(group.all_gather(&local)?.iter().flat_map(|t| t.split_with_sizes(rows.as_slice(), 0)).collect())
    };
    let (targets, contexts) = (gather(|k| &k.target)?, gather(|k| &k.context)?);
    Ok(targets.into_iter().zip(contexts).map(|(target, context)| Keys { target, context }).collect())
}

/// The mean of each loss over the ranks (each rank's is the mean over its micro-batches),
/// and the sum of their rates: the whole run's.
pub fn over_ranks(group: &Group, means: [Option<f64>; 3], rates: Rates) -> Result<([Option<f64>; 3], Rates)> {
    let [a, b, c] = means.map(|m| m.unwrap_or(0.0));
    let sums = tch::Tensor::from_slice(&[a, b, c, rates.samples_per_s, rates.tokens_per_s, rates.model_flops_per_s])
        .to_device(group.device);
    group.all_reduce_sum(&sums)?;
    let s = Vec::<f64>::try_from(&sums)?;
    let means = [0, 1, 2].map(|i| means[i].map(|_| s[i] / group.world_size as f64));
    Ok((means, Rates { samples_per_s: s[3], tokens_per_s: s[4], model_flops_per_s: s[5] }))
}
