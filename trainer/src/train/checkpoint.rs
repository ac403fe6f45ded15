//! Checkpoints of a pre-training run: everything it needs to continue exactly where it
//! stopped, in the atomic directories of [`spe::runtime::checkpoint`].
//!
//! `out/checkpoints/step-NNNNNNNN/` holds `model.safetensors` (every query variable),
//! `optimizer.safetensors` (AdamW's moments), `moco.safetensors` (queues, queue position and
//! key encoder) and `state.json` (step, rows consumed, optimizer steps, configuration).
//! Random state needs no file: torch's generator is re-seeded from the step before each
//! micro-batch, and the loader's order is a function of the seed and the row index.

use super::moco::Moco;
use super::TrainConfig;
use crate::model::weights::{load_variables, read_safetensors, sorted_variables, write_safetensors};
use crate::runtime::optim::AdamW;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::digest::sha256_file;
use spe::runtime::checkpoint;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn;

/// The `state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Rows the loader has delivered.
    pub rows: u64,
    /// AdamW's step count (its bias correction).
    pub optimizer_steps: i64,
    /// The configuration of the run.
    pub config: TrainConfig,
    /// The spe version that wrote the checkpoint.
    pub spe_version: String,
    /// SHA-256 of each file of the checkpoint, checked before it is loaded.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// SHA-256 of each shard the run reads, in order: a run resumes on the same data.
    #[serde(default)]
    pub shards: Vec<String>,
}

/// Writes the checkpoint of `step` and deletes all but the `keep` newest.
#[allow(clippy::too_many_arguments)]
pub fn save(
    out: &Path,
    config: &TrainConfig,
    (step, rows): (u64, u64),
    shards: &[String],
    vs: &nn::VarStore,
    optimizer: &AdamW,
    moco: Option<&Moco>,
    keep: usize,
) -> Result<PathBuf> {
    checkpoint::save(out, step, keep, |dir| {
        let mut files = vec![("model.safetensors", sorted_variables(vs)), ("optimizer.safetensors", optimizer.state())];
        if let Some(moco) = moco {
            files.push(("moco.safetensors", moco.state()));
        }
        let mut sums = BTreeMap::new();
        for (name, tensors) in files {
            write_safetensors(&tensors, &dir.join(name))?;
            sums.insert(name.to_string(), sha256_file(&dir.join(name))?);
        }
        Ok(CheckpointState {
            step,
            rows,
            optimizer_steps: optimizer.steps(),
            config: config.clone(),
            spe_version: env!("CARGO_PKG_VERSION").to_string(),
            files: sums,
            shards: shards.to_vec(),
        })
    })
}

/// Checks the files of the checkpoint at `path` against the checksums its state records,
/// and its state's step against the step its directory is named for.
pub fn verify(path: &Path) -> Result<CheckpointState> {
    let state: CheckpointState = checkpoint::read_state(path)?;
    ensure!(
        checkpoint::step_of(path) == Some(state.step),
        "{}: its state says step {}, its name another; the state was edited or moved",
        path.display(),
        state.step
    );
    for (name, expected) in &state.files {
        let found = sha256_file(&path.join(name))?;
        ensure!(
            &found == expected,
            "{}: its SHA-256 is {found}, the checkpoint recorded {expected}",
            path.join(name).display()
        );
    }
    Ok(state)
}

/// Restores the checkpoint at `path`, whose [`verify`]d state is `state`, into the model,
/// optimizer and MoCo state. Its configuration must equal `config` but for the number of
/// steps.
pub fn load(
    path: &Path,
    state: &CheckpointState,
    config: &TrainConfig,
    vs: &nn::VarStore,
    optimizer: &mut AdamW,
    moco: Option<&mut Moco>,
) -> Result<()> {
    let mut theirs = state.config.clone();
    theirs.optim.steps = config.optim.steps;
    if &theirs != config {
        let (a, b) = (serde_json::to_value(&theirs)?, serde_json::to_value(config)?);
        let differ: Vec<&String> =
            a.as_object().into_iter().flatten().filter(|(k, v)| b.get(k.as_str()) != Some(v)).map(|(k, _)| k).collect();
        bail!(
            "{} was written with another configuration (sections differing: {}); resume with the run's configuration",
            path.display(),
            differ.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let model_path = path.join("model.safetensors");
    load_variables(vs, "", &read_safetensors(&model_path)?, &model_path)?;
    optimizer
        .load_state(read_safetensors(&path.join("optimizer.safetensors"))?, state.optimizer_steps)
        .with_context(|| path.display().to_string())?;
    if let Some(moco) = moco {
        let moco_path = path.join("moco.safetensors");
        moco.load_state(&read_safetensors(&moco_path)?, &moco_path)?;
    }
    Ok(())
}
