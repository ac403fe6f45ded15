//! Checkpoints: everything a run needs to continue exactly where it stopped.
//!
//! `out/checkpoints/step-NNNNNNNN/` holds `model.safetensors` (every query variable),
//! `optimizer.safetensors` (AdamW's moments), `moco.safetensors` (queues, queue position and
//! key encoder) and `state.json` (step, rows consumed, optimizer steps, configuration).
//! Random state needs no file: torch's generator is re-seeded from the step before each
//! micro-batch, and the loader's order is a function of the seed and the row index. A
//! checkpoint is written into a temporary directory, `state.json` last, and renamed.

use super::export::write_safetensors as write;
use super::moco::Moco;
use super::optim::AdamW;
use super::TrainConfig;
use crate::model::load_variables;
use crate::shard::manifest::write_json_file;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Tensor};

/// Directory of the checkpoints inside the output directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
const STATE_FILE: &str = "state.json";

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
}

/// Saving, finding and loading checkpoints.
pub struct Checkpoint;

impl Checkpoint {
    /// Writes the checkpoint of `step` and deletes all but the `keep` newest.
    #[allow(clippy::too_many_arguments)]
    pub fn save(
        out: &Path,
        config: &TrainConfig,
        step: u64,
        rows: u64,
        vs: &nn::VarStore,
        optimizer: &AdamW,
        moco: Option<&Moco>,
        keep: usize,
    ) -> Result<PathBuf> {
        let root = out.join(CHECKPOINTS_DIR);
        let name = format!("step-{step:08}");
        let tmp = root.join(format!(".{name}.tmp"));
        let done = root.join(&name);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        write(&variables, &tmp.join("model.safetensors"))?;
        write(&optimizer.state(), &tmp.join("optimizer.safetensors"))?;
        if let Some(moco) = moco {
            write(&moco.state(), &tmp.join("moco.safetensors"))?;
        }
        let state = CheckpointState {
            step,
            rows,
            optimizer_steps: optimizer.steps(),
            config: config.clone(),
            spe_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        write_json_file(&state, &tmp.join(STATE_FILE))?;
        if done.exists() {
            std::fs::remove_dir_all(&done).with_context(|| format!("cannot replace {}", done.display()))?;
        }
        std::fs::rename(&tmp, &done)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), done.display()))?;
        let all = Self::list(out)?;
        for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            std::fs::remove_dir_all(old).with_context(|| format!("cannot remove {}", old.display()))?;
        }
        Ok(done)
    }

    /// The finished checkpoints of `out`, oldest first.
    pub fn list(out: &Path) -> Result<Vec<PathBuf>> {
        let root = out.join(CHECKPOINTS_DIR);
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.with_context(|| format!("cannot list {}", root.display()))?.path();
            let step = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("step-"));
            if let Some(step) = step.and_then(|s| s.parse::<u64>().ok()) {
                if path.join(STATE_FILE).exists() {
                    found.push((step, path));
                }
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    /// The newest finished checkpoint of `out`.
    pub fn latest(out: &Path) -> Result<Option<PathBuf>> {
        Ok(Self::list(out)?.pop())
    }

    /// Restores the checkpoint at `path` into the model, optimizer and MoCo state. Its
    /// configuration must equal `config` but for the number of steps.
    pub fn load(
        path: &Path,
        config: &TrainConfig,
        vs: &nn::VarStore,
        optimizer: &mut AdamW,
        moco: Option<&mut Moco>,
    ) -> Result<CheckpointState> {
        let state_path = path.join(STATE_FILE);
        let text =
            std::fs::read_to_string(&state_path).with_context(|| format!("cannot read {}", state_path.display()))?;
        let state: CheckpointState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a checkpoint state", state_path.display()))?;
        let mut theirs = state.config.clone();
        theirs.optim.steps = config.optim.steps;
        if &theirs != config {
            let (a, b) = (serde_json::to_value(&theirs)?, serde_json::to_value(config)?);
            let differ: Vec<&String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, _)| k)
                .collect();
            bail!(
                "{} was written with another configuration (sections differing: {}); resume with the run's configuration",
                path.display(),
                differ.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let model_path = path.join("model.safetensors");
        load_variables(vs, "", &read(&model_path)?, &model_path)?;
        optimizer
            .load_state(read(&path.join("optimizer.safetensors"))?, state.optimizer_steps)
            .with_context(|| path.display().to_string())?;
        if let Some(moco) = moco {
            let moco_path = path.join("moco.safetensors");
            moco.load_state(&read(&moco_path)?, &moco_path)?;
        }
        Ok(state)
    }
}

fn read(path: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(Tensor::read_safetensors(path).with_context(|| format!("cannot read {}", path.display()))?.into_iter().collect())
}
