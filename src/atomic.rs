//! Files that are either absent or complete. Everything spe writes whole (manifests, run
//! logs, checkpoint states, weights, exports) goes to `NAME.tmp` first, is synced, and is
//! renamed when complete, so an interrupted run never leaves a finished-looking file. The
//! shard writer streams into the same `.tmp` names ([`TMP_SUFFIX`]).

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of a file being written.
pub const TMP_SUFFIX: &str = ".tmp";

/// `path` with [`TMP_SUFFIX`] appended.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    PathBuf::from(tmp)
}

/// Lets `write` fill the temporary file of `path`, then renames it to `path`. The
/// temporary file is removed when `write` fails or panics, or the rename fails (`path` is
/// a directory).
pub fn write_file(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let mut pending = Pending { tmp: tmp_path(path), renamed: false };
    write(&pending.tmp)?;
    std::fs::rename(&pending.tmp, path)
        .with_context(|| format!("cannot rename {} to {}", pending.tmp.display(), path.display()))?;
    pending.renamed = true;
    Ok(())
}

/// A temporary file, removed when dropped before it was renamed.
struct Pending {
    tmp: PathBuf,
    renamed: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically, synced to disk.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, |tmp| {
        let mut file = std::fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))
    })
}

/// Writes `value` to `path` atomically as pretty JSON with a final newline.
pub fn write_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    write_bytes(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_neither_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let err = write_file(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(err.is_err());
        assert!(!path.exists() && !tmp_path(&path).exists());
        write_json(&serde_json::json!({ "a": 1 }), &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\n  \"a\": 1\n}\n");
        assert!(!tmp_path(&path).exists());
        // Over a directory of that name, and in a panic, the temporary file goes too.
        let folder = dir.path().join("predictions.json");
        std::fs::create_dir(&folder).unwrap();
        assert!(write_bytes(&folder, b"{}").is_err());
        assert!(!tmp_path(&folder).exists());
        let panicked = std::panic::catch_unwind(|| {
            let _ = write_file(&path, |tmp| {
                std::fs::write(tmp, b"half").unwrap();
                panic!("a bug")
            });
        });
        assert!(panicked.is_err() && !tmp_path(&path).exists());
    }
}
