//! Checkpoint directories: `out/checkpoints/step-NNNNNNNN/`, each written into a hidden
//! temporary directory, its `state.json` last, and renamed when complete, so a directory
//! with that name is always a whole checkpoint. What goes inside is the trainer's.

use super::layout::{CHECKPOINTS_DIR, STATE_FILE};
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Writes the checkpoint of `step` in `out`: `write` fills the directory and returns the
/// state, which is written last, and the directory is renamed; where either fails, the
/// temporary directory is removed. All but the `keep` newest checkpoints are deleted.
pub fn save<S: Serialize>(
    out: &Path,
    step: u64,
    keep: usize,
    write: impl FnOnce(&Path) -> Result<S>,
) -> Result<PathBuf> {
    let root = out.join(CHECKPOINTS_DIR);
    let name = format!("step-{step:08}");
    let tmp = root.join(format!(".{name}.tmp"));
    let done = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    let written = std::fs::create_dir_all(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))
        .and_then(|()| write(&tmp))
        .and_then(|state| crate::atomic::write_json(&state, &tmp.join(STATE_FILE)));
    if let Err(e) = written {
        // A full disk leaves no half-written checkpoint behind.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if done.exists() {
        std::fs::remove_dir_all(&done).with_context(|| format!("cannot replace {}", done.display()))?;
    }
    std::fs::rename(&tmp, &done).with_context(|| format!("cannot rename {} to {}", tmp.display(), done.display()))?;
    let all = list(out)?;
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
        if let Some(step) = step_of(&path) {
            if path.join(STATE_FILE).exists() {
                found.push((step, path));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// The step a checkpoint directory is named for (`step-00000042` → 42).
pub fn step_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_prefix("step-")?.parse().ok()
}

/// The newest finished checkpoint of `out`.
pub fn latest(out: &Path) -> Result<Option<PathBuf>> {
    Ok(list(out)?.pop())
}

/// Reads the `state.json` of the checkpoint at `path`.
pub fn read_state<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let state_path = path.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).with_context(|| format!("cannot read {}", state_path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a checkpoint state", state_path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_checkpoints_count_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for step in [1, 2, 3] {
            save(out, step, 2, |tmp| {
                std::fs::write(tmp.join("weights"), step.to_string())?;
                Ok(serde_json::json!({ "step": step }))
            })
            .unwrap();
        }
        let kept = list(out).unwrap();
        assert_eq!(
            kept.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(),
            ["step-00000002", "step-00000003"]
        );
        // A checkpoint whose writing failed leaves no finished directory.
        assert!(save(out, 4, 2, |_| -> Result<u8> { anyhow::bail!("disk full") }).is_err());
        assert_eq!(latest(out).unwrap().unwrap(), kept[1]);
        assert!(!out.join(CHECKPOINTS_DIR).join(".step-00000004.tmp").exists(), "nothing is left behind");
        assert_eq!(step_of(&kept[1]), Some(3));
        let state: serde_json::Value = read_state(&kept[1]).unwrap();
        assert_eq!(state["step"], 3);
    }
}
