//! Checkpoints of a pre-training run: everything it needs to continue exactly where it
//! stopped, in the atomic directories of [`spe::run::checkpoints`].
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
use spe::run::checkpoints;
use spe::run::layout::STATE_FILE;
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

/// What a pre-training run carries from step to step: what a checkpoint saves and a
/// resumed run restores, and what rank 0 gives every other rank of a data-parallel run.
pub struct TrainState {
    /// Every variable of the model (the query encoder and the heads).
    pub vs: nn::VarStore,
    /// AdamW and its moments.
    pub optimizer: AdamW,
    /// The momentum encoder and its queues, when CSPO is on.
    pub moco: Option<Moco>,
    /// Optimizer steps taken.
    pub step: u64,
    /// Rows the loader has delivered.
    pub rows: u64,
}

impl TrainState {
    /// The variables an export writes: the query encoder's, or the momentum encoder's
    /// (`moco.export_momentum_encoder`).
    pub fn exported(&self, config: &TrainConfig) -> &nn::VarStore {
        match (&self.moco, config.moco.export_momentum_encoder) {
            (Some(moco), true) => moco.vars(),
            _ => &self.vs,
        }
    }

    /// Writes the checkpoint of the current step (recording `config` and the checksums of
    /// the `shards` read) and deletes all but the `keep` newest.
    pub fn save(&self, out: &Path, config: &TrainConfig, shards: &[String], keep: usize) -> Result<PathBuf> {
        checkpoints::save(out, self.step, keep, |dir| {
            let mut files = vec![
                ("model.safetensors", sorted_variables(&self.vs)),
                ("optimizer.safetensors", self.optimizer.state()),
            ];
            if let Some(moco) = &self.moco {
                files.push(("moco.safetensors", moco.state()));
            }
            let mut sums = BTreeMap::new();
            for (name, tensors) in files {
                write_safetensors(&tensors, &dir.join(name))?;
                sums.insert(name.to_string(), sha256_file(&dir.join(name))?);
            }
            Ok(CheckpointState {
                step: self.step,
                rows: self.rows,
                optimizer_steps: self.optimizer.steps(),
                config: config.clone(),
                spe_version: env!("CARGO_PKG_VERSION").to_string(),
                files: sums,
                shards: shards.to_vec(),
            })
        })
    }

    /// Restores the checkpoint at `path`, whose [`verify`]d state is `state`. Its
    /// configuration must equal `config` but for the number of steps.
    pub fn restore(&mut self, path: &Path, state: &CheckpointState, config: &TrainConfig) -> Result<()> {
        let mut theirs = state.config.clone();
        theirs.steps = config.steps;
        if &theirs != config {
            let (a, b) = (serde_json::to_value(&theirs)?, serde_json::to_value(config)?);
            let differ: Vec<&String> = (a.as_object().into_iter().flatten())
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, _)| k)
                .collect();
            bail!(
                "{} was written with another configuration (sections differing: {}); resume with the run's \
                 configuration",
                path.display(),
                differ.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let model_path = path.join("model.safetensors");
        load_variables(&self.vs, "", &read_safetensors(&model_path)?, &model_path)?;
        (self.optimizer)
            .load_state(read_safetensors(&path.join("optimizer.safetensors"))?, state.optimizer_steps)
            .with_context(|| path.display().to_string())?;
        if let Some(moco) = &mut self.moco {
            let moco_path = path.join("moco.safetensors");
            moco.load_state(&read_safetensors(&moco_path)?, &moco_path)?;
        }
        (self.step, self.rows) = (state.step, state.rows);
        Ok(())
    }
}

/// Checks the files of the checkpoint at `path` against the checksums its state records,
/// and its state's step against the step its directory is named for.
pub fn verify(path: &Path) -> Result<CheckpointState> {
    let mut state: serde_json::Value = checkpoints::read_state(path)?;
    moved_keys_renamed(&mut state);
    let state: CheckpointState = serde_json::from_value(state)
        .with_context(|| format!("{} is not a checkpoint state", path.join(STATE_FILE).display()))?;
    ensure!(
        checkpoints::step_of(path) == Some(state.step),
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

/// The newest checkpoint of `out` whose files match their recorded checksums; a damaged
/// one is reported and the one before it tried. The run must read the shards it started
/// on (`shards`, their checksums), unless `force`.
pub fn intact(out: &Path, shards: &[String], force: bool) -> Result<(PathBuf, CheckpointState)> {
    for path in checkpoints::list(out)?.iter().rev() {
        match verify(path) {
            Ok(state) => {
                ensure!(
                    force || state.shards.is_empty() || state.shards == shards,
                    "{}: the run was trained on other shards than --shards gives (their checksums differ); pass \
                     --force with --resume to continue on these",
                    path.display()
                );
                return Ok((path.clone(), state));
            }
            Err(e) => eprintln!("warning: {e:#}; this checkpoint is damaged, trying the one before it"),
        }
    }
    bail!("--resume: no checkpoint in {} is intact", out.display())
}

/// A state written before the keys of [`TrainConfig::MOVED`] left `[optim]` records its
/// configuration under the old names: they are read under the new ones, so such a run
/// resumes as it was.
fn moved_keys_renamed(state: &mut serde_json::Value) {
    let Some(config) = state.get_mut("config") else { return };
    for (old, new) in TrainConfig::MOVED {
        let Some((section, key)) = old.split_once('.') else { continue };
        let value = config.get_mut(section).and_then(|s| s.as_object_mut()).and_then(|s| s.remove(key));
        if let (Some(value), Some(config)) = (value, config.as_object_mut()) {
            config.entry(new.to_string()).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_of_the_keys_old_names_reads_as_the_new_ones() {
        let mut config = serde_json::to_value(TrainConfig::default()).unwrap();
        let object = config.as_object_mut().unwrap();
        let (steps, batch) = (object.remove("steps").unwrap(), object.remove("batch_size").unwrap());
        object["optim"]["steps"] = steps;
        object["optim"]["batch_size"] = batch;
        let mut state = serde_json::json!({"step": 3, "rows": 6, "optimizer_steps": 3, "config": config,
            "spe_version": "0.1.0"});
        assert!(serde_json::from_value::<CheckpointState>(state.clone()).is_err(), "the old names are unknown");
        moved_keys_renamed(&mut state);
        let read: CheckpointState = serde_json::from_value(state).unwrap();
        assert_eq!(read.config, TrainConfig::default());
    }
}
