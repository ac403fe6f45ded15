//! SHA-256 checksums, lowercase hex, as the manifests, checkpoints and extractors record
//! them: of bytes in memory, of a file, or of part of one.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// An `io::Write` that feeds a SHA-256, for `io::copy` from a reader.
pub struct HashWriter<'a>(pub &'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a whole file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    sha256_range(path, 0..u64::MAX)
}

/// The SHA-256 of bytes `range` of a file (up to its end), lowercase hex.
pub fn sha256_range(path: &Path, range: Range<u64>) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(range.start)).with_context(|| format!("cannot seek in {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file.take(range.end - range.start), &mut HashWriter(&mut hasher))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}
