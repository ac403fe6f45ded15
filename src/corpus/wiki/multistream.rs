//! Parallel decoding of bzip2 files made of many independent streams, such as Wikipedia's
//! `pages-articles-multistream.xml.bz2`: streams are decoded on several threads and their
//! output is handed on in file order, so readers see one ordinary byte stream.
//!
//! Stream boundaries come from the dump's `multistream-index.txt.bz2` (lines of
//! `OFFSET:PAGE_ID:TITLE`), or are found by scanning for the bzip2 stream header
//! (`BZh1`..`BZh9` followed by the block magic). A stream too long to hold (a single-stream
//! file) is decoded sequentially from there on, so memory stays bounded either way.

use crate::corpus::input::{InputRecord, OpenInput};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Where the streams of a file start.
#[derive(Debug, Clone)]
pub enum Boundaries {
    /// Stream offsets from an index, sorted.
    Index(Vec<u64>),
    /// Found by scanning for stream headers.
    Scan,
}

/// A stream longer than this is decoded sequentially with the rest of the file.
const MAX_STREAM_BYTES: usize = 64 << 20;
/// Compressed bytes read at a time.
const READ_BYTES: usize = 4 << 20;

/// Reads the stream offsets of a `multistream-index.txt(.bz2)`, sorted.
pub fn read_index(path: &Path) -> Result<(Vec<u64>, InputRecord)> {
    let mut input = OpenInput::open(path)?;
    let mut offsets = BTreeSet::new();
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        if input.reader.read_line(&mut line).with_context(|| format!("cannot read {}", path.display()))? == 0 {
            break;
        }
        line_no += 1;
        let offset = line.split(':').next().and_then(|o| o.trim().parse::<u64>().ok());
        match offset {
            Some(offset) => {
                offsets.insert(offset);
            }
            None if line.trim().is_empty() => {}
            None => bail!("{}:{line_no}: expected OFFSET:PAGE_ID:TITLE, found {:?}", path.display(), line.trim_end()),
        }
    }
    if offsets.is_empty() {
        bail!("{}: the index lists no stream", path.display());
    }
    Ok((offsets.into_iter().collect(), input.finish()?))
}

/// A `Read` of the decoded content of a multi-stream bzip2 file, decoded in parallel.
pub struct ParallelBz2 {
    rx: Receiver<io::Result<Vec<u8>>>,
    /// Read chunks go back to the splitter, whose decoders fill them again: a dump is
    /// decoded into the same few buffers instead of a fresh allocation (and fresh, zeroed
    /// pages from the kernel) per stream.
    spare: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ParallelBz2 {
    /// Decodes `raw` (the compressed file, from byte `start`, a stream start) on `threads`
    /// threads (0: one per core). `name` names the file in errors.
    pub fn new(
        raw: Box<dyn Read + Send>,
        boundaries: Boundaries,
        start: u64,
        threads: usize,
        name: String,
    ) -> Result<ParallelBz2> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let batch = 4 * pool.current_num_threads();
        let (tx, rx) = sync_channel(batch);
        let (spare, spares) = sync_channel(2 * batch + 1);
        std::thread::Builder::new().name("bz2-streams".into()).spawn(move || {
            let splitter = Splitter {
                raw,
                boundaries,
                name: name.clone(),
                buf: Vec::new(),
                start: 0,
                base: start,
                scanned: 1,
                eof: false,
                spares,
            };
            let errors = tx.clone();
            // A panic must not look like the end of the file to the reader.
            let run = std::panic::AssertUnwindSafe(|| splitter.run(&pool, batch, tx));
            if std::panic::catch_unwind(run).is_err() {
                let _ = errors.send(Err(io::Error::other(format!("{name}: the bzip2 decoder failed"))));
            }
        })?;
        Ok(ParallelBz2 { rx, spare, chunk: Vec::new(), pos: 0 })
    }
}

impl Read for ParallelBz2 {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let read = std::mem::replace(&mut self.chunk, chunk);
                    // A full return channel only means enough buffers are in use already.
                    let _ = self.spare.try_send(read);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Cuts the compressed file into streams.
struct Splitter {
    raw: Box<dyn Read + Send>,
    boundaries: Boundaries,
    name: String,
    /// Compressed bytes read; `buf[start..]` is not yet handed out, and `buf[start]` is a
    /// stream start at file offset `base`. The handed-out head is dropped only when more is
    /// read, so cutting a stream never moves the rest of the buffer.
    buf: Vec<u8>,
    start: usize,
    base: u64,
    /// Scan mode: `buf[start..start + scanned]` holds no stream header after its first byte.
    scanned: usize,
    eof: bool,
    /// Buffers the reader is done with, to decode into again.
    spares: Receiver<Vec<u8>>,
}

impl Splitter {
    fn run(mut self, pool: &rayon::ThreadPool, batch: usize, tx: SyncSender<io::Result<Vec<u8>>>) {
        loop {
            let mut streams = Vec::with_capacity(batch);
            while streams.len() < batch {
                match self.next_stream() {
                    Ok(Some((offset, data))) => {
                        streams.push((offset, data, self.spares.try_recv().unwrap_or_default()))
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if self.pending().len() > MAX_STREAM_BYTES {
                    break;
                }
            }
            let name = &self.name;
            let decoded: Vec<io::Result<Vec<u8>>> = pool.install(|| {
                streams.into_par_iter().map(|(offset, data, out)| decode(name, offset, &data, out)).collect()
            });
            let done = decoded.is_empty();
            for result in decoded {
                let failed = result.is_err();
                if tx.send(result).is_err() || failed {
                    return;
                }
            }
            if self.pending().len() > MAX_STREAM_BYTES {
                self.sequential(tx);
                return;
            }
            if done {
                return;
            }
        }
    }

    /// The compressed bytes not yet handed out.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next whole stream (or, at the end, the rest of the file) with its offset.
    fn next_stream(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        loop {
            if let Some(cut) = self.find_cut() {
                let stream = self.pending()[..cut].to_vec();
                let offset = self.base;
                self.start += cut;
                self.base += cut as u64;
                self.scanned = 1;
                return Ok(Some((offset, stream)));
            }
            if self.eof {
                if self.pending().is_empty() {
                    return Ok(None);
                }
                let rest = self.pending().to_vec();
                self.start = self.buf.len();
                return Ok(Some((self.base, rest)));
            }
            if self.pending().len() > MAX_STREAM_BYTES {
                return Ok(None);
            }
            self.buf.drain(..self.start);
            self.start = 0;
            let end = self.buf.len();
            self.buf.resize(end + READ_BYTES, 0);
            let n = read_full(&mut self.raw, &mut self.buf[end..])?;
            self.buf.truncate(end + n);
            self.eof = n == 0;
        }
    }

    /// Where the stream at `buf[start]` ends, relative to it, if that is already read.
    fn find_cut(&mut self) -> Option<usize> {
        let pending = &self.buf[self.start..];
        match &self.boundaries {
            Boundaries::Index(offsets) => {
                let i = offsets.partition_point(|&o| o <= self.base);
                let next = *offsets.get(i)?;
                let cut = (next - self.base) as usize;
                (cut <= pending.len()).then_some(cut)
            }
            Boundaries::Scan => {
                let from = self.scanned.max(1);
                if pending.len() <= from {
                    return None;
                }
                for at in memchr::memmem::find_iter(&pending[from..], b"1AY&SY").map(|k| from + k) {
                    if at >= from + 4 && pending[at - 4..at - 1] == *b"BZh" && (b'1'..=b'9').contains(&pending[at - 1])
                    {
                        return Some(at - 4);
                    }
                }
                // A header may straddle the end of what has been read.
                self.scanned = pending.len().saturating_sub(9).max(1);
                None
            }
        }
    }

    /// Decodes the rest of the file on this thread, for streams too long to hold.
    fn sequential(mut self, tx: SyncSender<io::Result<Vec<u8>>>) {
        self.buf.drain(..self.start);
        let rest = io::Cursor::new(self.buf).chain(self.raw);
        let mut decoder = bzip2::read::MultiBzDecoder::new(rest);
        loop {
            let mut chunk = vec![0; READ_BYTES];
            match read_full(&mut decoder, &mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let e = io::Error::new(e.kind(), format!("{}: bzip2 stream at byte {}: {e}", self.name, self.base));
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    }
}

/// Decodes the stream(s) in `data`, which start at byte `offset` of the file `name`, into
/// `out` (a spare buffer, emptied first).
fn decode(name: &str, offset: u64, data: &[u8], mut out: Vec<u8>) -> io::Result<Vec<u8>> {
    out.clear();
    out.reserve(data.len() * 5);
    bzip2::read::MultiBzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| io::Error::new(e.kind(), format!("{name}: bzip2 stream at byte {offset}: {e}")))?;
    Ok(out)
}

/// Reads until `buf` is full or the input ends.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn bz2(data: &[u8]) -> Vec<u8> {
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// 50 streams of distinct content, and their offsets.
    fn multistream() -> (Vec<u8>, Vec<u8>, Vec<u64>) {
        let (mut file, mut plain, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..50 {
            let part = format!("<page>{i} {}</page>\n", "text ".repeat(i * 37)).into_bytes();
            offsets.push(file.len() as u64);
            file.extend(bz2(&part));
            plain.extend(part);
        }
        (file, plain, offsets)
    }

    fn decode_all(file: Vec<u8>, boundaries: Boundaries, threads: usize) -> io::Result<Vec<u8>> {
        let mut reader =
            ParallelBz2::new(Box::new(io::Cursor::new(file)), boundaries, 0, threads, "t.bz2".into()).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn index_and_scan_decode_in_order() {
        let (file, plain, offsets) = multistream();
        // The index leaves out the first stream, as real indexes leave out the header.
        let index = Boundaries::Index(offsets[1..].to_vec());
        for threads in [1, 2, 3] {
            assert_eq!(decode_all(file.clone(), index.clone(), threads).unwrap(), plain);
            assert_eq!(decode_all(file.clone(), Boundaries::Scan, threads).unwrap(), plain);
        }
    }

    #[test]
    fn a_range_of_streams_decodes_alone_and_names_file_offsets_in_errors() {
        let (file, plain, offsets) = multistream();
        let (from, to) = (offsets[10] as usize, offsets[20] as usize);
        let part = |i: usize| format!("<page>{i} {}</page>\n", "text ".repeat(i * 37)).into_bytes();
        let expected: Vec<u8> = (10..20).flat_map(part).collect();
        assert!(plain.windows(expected.len()).any(|w| w == expected));
        let read = |raw: Vec<u8>| {
            let raw = Box::new(io::Cursor::new(raw));
            let mut reader = ParallelBz2::new(raw, Boundaries::Index(offsets.clone()), from as u64, 2, "t.bz2".into())?;
            let mut out = Vec::new();
            reader.read_to_end(&mut out)?;
            anyhow::Ok(out)
        };
        assert_eq!(read(file[from..to].to_vec()).unwrap(), expected);
        let err = format!("{:#}", read(file[from..to - 5].to_vec()).unwrap_err());
        assert!(err.contains(&format!("t.bz2: bzip2 stream at byte {}", offsets[19])), "{err}");
    }

    #[test]
    fn a_truncated_file_is_an_error_naming_the_stream() {
        let (file, _, offsets) = multistream();
        let cut = file[..file.len() - 20].to_vec();
        let err = decode_all(cut, Boundaries::Index(offsets), 2).unwrap_err().to_string();
        assert!(err.contains("t.bz2: bzip2 stream at byte"), "{err}");
        let garbage = b"BZh91AY&SYnot bzip2 at all".to_vec();
        assert!(decode_all(garbage, Boundaries::Scan, 2).is_err());
    }
}
