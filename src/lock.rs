//! One run per output directory. Every command that writes a directory (`spe prep`,
//! `spe train`, `spe finetune`) holds an exclusive advisory lock on `DIR/.spe.lock` for as
//! long as it runs, so a second run into the same directory stops at once with an error
//! instead of interleaving its shards, checkpoints or manifest with the first's. The lock
//! is the operating system's (`flock`): it goes away with the process, however that ends,
//! and the empty file left behind is ignored by spe and by Arrow tools (a dot file). A
//! directory the lock made and the run left empty (a run refused before it wrote) goes
//! with the lock, so that a refused run leaves nothing on disk.

use anyhow::{Context, Result};
use fs4::{FileExt, TryLockError};
use std::fs::File;
use std::path::Path;

/// Name of the lock file inside an output directory.
pub const LOCK_FILE: &str = ".spe.lock";

/// The lock of one output directory, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    /// The directory, where the lock made it.
    created: Option<std::path::PathBuf>,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let Some(dir) = &self.created else { return };
        let only_the_lock = std::fs::read_dir(dir)
            .map(|entries| entries.flatten().all(|e| e.file_name() == LOCK_FILE))
            .unwrap_or(false);
        if only_the_lock {
            let _ = std::fs::remove_file(dir.join(LOCK_FILE));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl OutputLock {
    /// Creates `dir` if needed and locks it, or says which run holds it.
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        let created = (!dir.exists()).then(|| dir.to_path_buf());
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(OutputLock { _file: file, created }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "another spe run is writing {} (it holds {}); wait for it to end or choose another output directory",
                dir.display(),
                path.display()
            ),
            Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::acquire(&out).unwrap();
        let err = OutputLock::acquire(&out).unwrap_err().to_string();
        assert!(err.contains("another spe run is writing") && err.contains(".spe.lock"), "{err}");
        drop(first);
        assert!(!out.exists(), "a folder the lock made and nothing filled is removed with it");
        let held = OutputLock::acquire(&out).unwrap();
        std::fs::write(out.join("result.json"), "{}").unwrap();
        drop(held);
        assert!(out.join("result.json").is_file());
        // A folder that was there before stays, empty or not.
        drop(OutputLock::acquire(dir.path()).unwrap());
        assert!(dir.path().is_dir());
    }
}
