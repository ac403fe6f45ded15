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
/// temporary file is removed when `write` fails.
pub fn write_file(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_path(path);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
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
    }
}
