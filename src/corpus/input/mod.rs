//! Opening input files: decompression by extension, the guards every reader passes
//! (`guards.rs`: regular files only, UTF-8 only), a SHA-256 of the raw bytes computed while
//! they stream past, so inputs are read once (`checksum.rs`; [`crate::digest`] hashes whole
//! files), and lines read within a bound (`lines.rs`).

mod checksum;
mod guards;
mod lines;

pub use checksum::InputDigest;
pub use lines::{read_line_bounded, Line};

use anyhow::{Context, Result};
use guards::{refuse_special_files, skip_byte_order_mark};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// An input file as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The path as given on the command line.
    pub path: String,
    /// Size of the file on disk (compressed size for compressed inputs).
    pub bytes: u64,
    /// SHA-256 of the file on disk, lowercase hex.
    pub sha256: String,
    /// Where one rank of a partitioned run read part of the file alone: that part, which
    /// `bytes` and `sha256` then describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
}

/// Part of a file: bytes `start..end` of a file of `file_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The size of the whole file.
    pub file_bytes: u64,
}

/// Input bytes read so far and in all, for progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteProgress {
    done: u64,
    total: u64,
}

impl ByteProgress {
    /// Nothing read yet of the files at `paths`.
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a Path>) -> ByteProgress {
        ByteProgress::bytes(paths.into_iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum())
    }

    /// Nothing read yet of `total` bytes.
    pub fn bytes(total: u64) -> ByteProgress {
        ByteProgress { done: 0, total }
    }

    /// A file of `bytes` has been read whole.
    pub fn finished(&mut self, bytes: u64) {
        self.done += bytes;
    }

    /// `(read, total)`, with `current` bytes read of the file being read.
    pub fn with_current(&self, current: u64) -> (u64, u64) {
        (self.done + current, self.total)
    }
}

/// How an input file is compressed, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Read as is.
    None,
    /// Zstandard, any number of frames.
    Zstd,
    /// bzip2, any number of streams.
    Bzip2,
}

impl Compression {
    /// Chooses the decoder from the file name (`.zst`, `.bz2`, anything else plain).
    pub fn from_path(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("zst") | Some("zstd") => Compression::Zstd,
            Some("bz2") => Compression::Bzip2,
            _ => Compression::None,
        }
    }

    /// `name` without the suffix of its compression (`a.txt.zst` gives `a.txt`), so that
    /// ids built from file names do not change when a file is compressed.
    pub fn strip_suffix(name: &str) -> &str {
        match Compression::from_path(Path::new(name)) {
            Compression::None => name,
            _ => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
        }
    }
}

/// An opened input: decoded UTF-8 bytes to read, and the checksum being computed.
pub struct OpenInput {
    /// The decompressed content, positioned after any UTF-8 byte-order mark.
    pub reader: Box<dyn BufRead + Send>,
    /// The checksum of the raw file, computed as it is read.
    pub digest: InputDigest,
}

impl OpenInput {
    /// Opens `path`, choosing the decoder from its extension. Fails on a missing or
    /// unreadable file and on UTF-16 content, which spe does not read.
    pub fn open(path: &Path) -> Result<OpenInput> {
        OpenInput::open_with(path, |raw| {
            Ok(match Compression::from_path(path) {
                Compression::None => raw,
                Compression::Zstd => Box::new(
                    zstd::stream::read::Decoder::new(raw)
                        .with_context(|| format!("cannot start zstd decoder for {}", path.display()))?,
                ),
                Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
            })
        })
    }

    /// Opens `path` with the decoder that `decode` wraps around the raw, checksummed bytes.
    pub fn open_with(
        path: &Path,
        decode: impl FnOnce(Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>>,
    ) -> Result<OpenInput> {
        OpenInput::open_range(path, None, decode)
    }

    /// Opens bytes `range` of `path` (the whole file where `None`) with the decoder that
    /// `decode` wraps around the raw, checksummed bytes; the record describes that range.
    pub fn open_range(
        path: &Path,
        range: Option<Range<u64>>,
        decode: impl FnOnce(Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>>,
    ) -> Result<OpenInput> {
        refuse_special_files(path)?;
        let mut file = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
        let range = match range {
            Some(range) => {
                file.seek(SeekFrom::Start(range.start))
                    .with_context(|| format!("cannot seek in {}", path.display()))?;
                let file_bytes = file.metadata()?.len();
                Some(ByteRange { start: range.start, end: range.end.min(file_bytes), file_bytes })
            }
            None => None,
        };
        let digest = InputDigest::new(path, range);
        let limit = range.map_or(u64::MAX, |r| r.end - r.start);
        let raw = Box::new(digest.reader(file.take(limit)));
        let decoded = decode(raw)?;
        let mut reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 16, decoded));
        skip_byte_order_mark(&mut *reader, path)?;
        Ok(OpenInput { reader, digest })
    }

    /// What the (decoded) input looks like, for a reader to refuse a file of another kind:
    /// the first non-blank bytes name a MediaWiki dump, JSON lines, a JSON array or text.
    pub fn kind(&mut self) -> Result<ContentKind> {
        let head = self.reader.fill_buf().context("cannot read the input")?;
        let head = &head[head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len())..];
        // What follows a byte, blanks skipped: `{"` opens JSON lines, `[{` or `[[` an array; a
        // sentence may well begin with `[1]` or `{`.
        let then = |at: usize| head[at..].iter().find(|b| !b.is_ascii_whitespace()).copied();
        Ok(if head.starts_with(b"<mediawiki") || (head.starts_with(b"<?xml") && contains(head, b"<mediawiki")) {
            ContentKind::MediaWiki
        } else if head.starts_with(b"<?xml") {
            ContentKind::Xml
        } else if head.starts_with(b"{") && then(1) == Some(b'"') {
            ContentKind::JsonLines
        } else if head.starts_with(b"[") && matches!(then(1), Some(b'{' | b'[')) {
            ContentKind::JsonArray
        } else {
            ContentKind::Text
        })
    }

    /// Finishes the checksum (hashing any raw bytes the decoder did not consume) and
    /// returns the manifest record.
    pub fn finish(self) -> Result<InputRecord> {
        drop(self.reader);
        self.digest.finish()
    }
}

/// What an input looks like from its first bytes ([`OpenInput::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// A MediaWiki XML export: `spe prep wiki`.
    MediaWiki,
    /// Other XML (`<?xml`).
    Xml,
    /// JSON objects, one per line: the labeled corpora and NYT.
    JsonLines,
    /// One JSON array.
    JsonArray,
    /// Anything else.
    Text,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_file;
    use std::io::Write;

    #[test]
    fn compressed_inputs_decode_and_hash_the_raw_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"first line\nsecond line\n";
        let zst = dir.path().join("a.txt.zst");
        // Two frames: the decoder must read past the first.
        let mut bytes = zstd::encode_all(&text[..11], 3).unwrap();
        bytes.extend(zstd::encode_all(&text[11..], 3).unwrap());
        std::fs::write(&zst, &bytes).unwrap();
        let bz = dir.path().join("a.txt.bz2");
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(&text[..11]).unwrap();
        let mut two = enc.finish().unwrap();
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(&text[11..]).unwrap();
        two.extend(enc.finish().unwrap());
        std::fs::write(&bz, &two).unwrap();
        for path in [zst, bz] {
            let mut input = OpenInput::open(&path).unwrap();
            let mut out = String::new();
            input.reader.read_to_string(&mut out).unwrap();
            assert_eq!(out.as_bytes(), text, "{}", path.display());
            let record = input.finish().unwrap();
            assert_eq!(record.bytes, std::fs::metadata(&path).unwrap().len());
            assert_eq!(record.sha256, sha256_file(&path).unwrap());
        }
    }
}
