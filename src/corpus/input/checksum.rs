//! The SHA-256 of an input file, computed from the raw bytes as the reader streams them.

use super::{ByteRange, InputRecord};
use crate::digest::HashWriter;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The SHA-256 of an input file, fed by the reader of its raw bytes.
#[derive(Clone)]
pub struct InputDigest {
    path: PathBuf,
    range: Option<ByteRange>,
    state: Arc<Mutex<(Sha256, u64)>>,
}

impl InputDigest {
    pub(super) fn new(path: &Path, range: Option<ByteRange>) -> Self {
        InputDigest { path: path.to_path_buf(), range, state: Arc::new(Mutex::new((Sha256::new(), 0))) }
    }

    /// A reader of `inner` (the raw bytes of the file, or of its range) that hashes what it reads.
    pub(super) fn reader(&self, inner: io::Take<File>) -> HashingReader {
        HashingReader { inner, digest: self.clone() }
    }

    /// Raw bytes of the file read so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.state.lock().expect("digest lock").1
    }

    /// Completes the checksum (hashing any raw bytes the decoder did not consume) and
    /// returns the manifest record.
    pub fn finish(self) -> Result<InputRecord> {
        let (mut hasher, mut seen) = {
            let guard = self.state.lock().expect("digest lock");
            guard.clone()
        };
        let (start, size) = match self.range {
            Some(range) => (range.start, range.end - range.start),
            None => (
                0,
                std::fs::metadata(&self.path).with_context(|| format!("cannot stat {}", self.path.display()))?.len(),
            ),
        };
        if seen < size {
            // A decoder may stop before the end of the raw file (trailing padding); the
            // checksum still covers the whole file (or range).
            let mut file = File::open(&self.path)?;
            file.seek(SeekFrom::Start(start + seen))?;
            seen += io::copy(&mut file.take(size - seen), &mut HashWriter(&mut hasher))?;
        }
        Ok(InputRecord {
            path: self.path.display().to_string(),
            bytes: seen,
            sha256: hex::encode(hasher.finalize()),
            range: self.range,
        })
    }
}

/// Raw bytes of a file, hashed into an [`InputDigest`] as they are read.
pub(super) struct HashingReader {
    inner: io::Take<File>,
    digest: InputDigest,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.digest.state.lock().expect("digest lock");
        state.0.update(&buf[..n]);
        state.1 += n as u64;
        Ok(n)
    }
}
