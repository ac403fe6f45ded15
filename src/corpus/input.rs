//! Opening input files: decompression by extension, encoding checks, and a SHA-256 of the
//! raw bytes computed while they stream past, so inputs are read once ([`crate::digest`]
//! hashes whole files).

use crate::digest::HashWriter;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
        let raw = Box::new(HashingReader { inner: file.take(limit), digest: digest.clone() });
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

/// spe reads regular files (and the compressed streams in them). A FIFO would block and a
/// device such as `/dev/zero` never end, so both are refused before they are opened.
fn refuse_special_files(path: &Path) -> Result<()> {
    let kind = std::fs::metadata(path).with_context(|| format!("cannot open input {}", path.display()))?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    bail!("{} is {what}; spe reads regular files (plain, .zst or .bz2)", path.display())
}

/// Drops a UTF-8 byte-order mark; rejects UTF-16, with its byte-order mark or without
/// (then told by the NUL bytes that every other byte of text in the Latin script is), with
/// a message that says how to convert.
fn skip_byte_order_mark(reader: &mut dyn BufRead, path: &Path) -> Result<()> {
    let head = reader.fill_buf().with_context(|| format!("cannot read {}", path.display()))?;
    let bom = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    let sample = &head[..head.len().min(4096)];
    let nul_at = |parity: usize| sample.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let without_bom = sample.len() >= 16 && (nul_at(0) > sample.len() / 4 || nul_at(1) > sample.len() / 4);
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    } else if bom || without_bom {
        bail!(
            "{}: the content is UTF-16{}; spe reads UTF-8 (convert it first, for example with \
             `iconv -f UTF-16 -t UTF-8`)",
            path.display(),
            if bom { "" } else { " (without a byte-order mark: every other byte is NUL)" }
        );
    }
    Ok(())
}

/// The SHA-256 of an input file, fed by the reader of its raw bytes.
#[derive(Clone)]
pub struct InputDigest {
    path: PathBuf,
    range: Option<ByteRange>,
    state: Arc<Mutex<(Sha256, u64)>>,
}

impl InputDigest {
    fn new(path: &Path, range: Option<ByteRange>) -> Self {
        InputDigest { path: path.to_path_buf(), range, state: Arc::new(Mutex::new((Sha256::new(), 0))) }
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

struct HashingReader {
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

/// Outcome of [`read_line_bounded`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its terminator) is in the buffer.
    Ok,
    /// The line was longer than the limit; it was consumed and the buffer is empty.
    TooLong,
    /// End of input.
    Eof,
}

/// Reads one line into `buf` without ever holding more than `max` bytes of it, so an
/// input without line breaks cannot exhaust memory. Strips `\n` and `\r\n`.
pub fn read_line_bounded(reader: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (i, i + 1),
            None => (available.len(), available.len()),
        };
        if !too_long {
            buf.extend_from_slice(&available[..take]);
            if buf.len() > max {
                too_long = true;
                buf.clear();
            }
        }
        let found_newline = take < done;
        reader.consume(done);
        if found_newline {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    if !any {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Ok)
}

/// Refuses a path given twice, under the same name or another (a symbolic or hard link,
/// `./`): everything in it would be read, and then trained or evaluated on, twice. A file
/// is known by its device and inode, so that two hard links to it are one file.
pub fn refuse_repeated<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    #[derive(PartialEq, Eq, Hash)]
    enum Identity {
        Inode(u64, u64),
        Path(PathBuf),
    }
    let mut seen = std::collections::HashMap::new();
    for path in paths {
        let identity = match std::fs::metadata(path) {
            Ok(meta) => Identity::Inode(meta.dev(), meta.ino()),
            Err(_) => Identity::Path(path.to_path_buf()),
        };
        if let Some(first) = seen.insert(identity, path) {
            anyhow::bail!(
                "{} is given twice (also as {}): its contents would be read twice",
                path.display(),
                first.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_file;
    use std::io::{Cursor, Write};

    #[test]
    fn bounded_lines() {
        let mut r = Cursor::new(b"ab\r\n\nccccccc\nd".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"ab");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::TooLong);
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"d");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Eof);
    }

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

    #[test]
    fn utf16_is_rejected_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u16.txt");
        std::fs::write(&path, [0xFF, 0xFE, b'a', 0]).unwrap();
        let err = OpenInput::open(&path).err().unwrap();
        assert!(format!("{err:#}").contains("UTF-16"), "{err:#}");
        for big_endian in [false, true] {
            let units = "A sentence in UTF-16 with no byte-order mark.\n".encode_utf16();
            let bytes: Vec<u8> =
                units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect();
            std::fs::write(&path, bytes).unwrap();
            let err = OpenInput::open(&path).err().unwrap();
            assert!(format!("{err:#}").contains("without a byte-order mark"), "{err:#}");
        }
        std::fs::write(&path, "Plain UTF-8 text, long enough to be sampled.\n").unwrap();
        OpenInput::open(&path).unwrap();
    }
}
