//! MediaWiki XML dumps (the English Wikipedia `pages-articles` export): one document per
//! article, whose wikitext the workers clean and split ([`crate::clean`]).
//!
//! Inputs may be `.xml`, `.xml.zst` or `.xml.bz2`. A `.bz2` dump is decoded in parallel,
//! stream by stream ([`multistream`]): with the `multistream-index` that comes with
//! `pages-articles-multistream` dumps (found next to the dump, or given), or else by
//! scanning for stream boundaries. Only articles (namespace 0) are kept; redirects,
//! disambiguation pages and pages over `read.max_document_bytes` are skipped and counted.
//! Document ids are page ids; the title goes with each sample.

pub mod dump;
pub mod multistream;

use super::input::{ByteProgress, Compression, ContentKind, InputDigest, InputRecord, OpenInput};
use super::{Content, Document, ReadConfig, SkipReason, Source, SourceReport};
use crate::counts::count;
use crate::partition::{file_size, Partition, PartitionRecord, Unit};
use anyhow::{bail, Context, Result};
use dump::{DumpReader, Page};
use multistream::{read_index, Boundaries, ParallelBz2};
use regex::Regex;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A dump to read, with the index of its streams if it has one.
#[derive(Debug, Clone)]
pub struct WikiInput {
    /// The dump file.
    pub dump: PathBuf,
    /// Its `multistream-index.txt.bz2`.
    pub index: Option<PathBuf>,
}

impl WikiInput {
    /// A dump, with the index that sits next to it under Wikipedia's naming
    /// (`…-multistream.xml.bz2` and `…-multistream-index.txt.bz2`) when there is one.
    pub fn with_sibling_index(dump: PathBuf) -> WikiInput {
        let name = dump.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let index = name
            .contains("multistream")
            .then(|| {
                dump.with_file_name(name.replacen("multistream", "multistream-index", 1).replacen(".xml", ".txt", 1))
            })
            .filter(|p| p.is_file());
        WikiInput { dump, index }
    }

    /// Pairs each dump with its index: `indexes` gives one per dump, in order, or none, in
    /// which case each dump takes the index beside it where there is one.
    pub fn pair(dumps: Vec<PathBuf>, indexes: Vec<PathBuf>) -> anyhow::Result<Vec<WikiInput>> {
        if indexes.is_empty() {
            return Ok(dumps.into_iter().map(WikiInput::with_sibling_index).collect());
        }
        anyhow::ensure!(
            indexes.len() == dumps.len(),
            "--index was given {} times for {} inputs; give one per input or none",
            indexes.len(),
            dumps.len()
        );
        Ok(dumps.into_iter().zip(indexes).map(|(dump, index)| WikiInput { dump, index: Some(index) }).collect())
    }
}

/// A dump to read, whole or in part.
struct Part {
    input: WikiInput,
    /// The bytes to read, where one rank of a partitioned run reads part of the dump.
    range: Option<Range<u64>>,
    /// The index's stream offsets and record, where they were read already.
    index: Option<(Vec<u64>, InputRecord)>,
}

/// Reads articles from MediaWiki XML dumps, in the order given.
///
/// A dump lists each page once, by increasing page id, so a page id that does not exceed
/// the one before it is a page given twice (or a damaged dump), and two files whose id
/// ranges overlap hold the same pages: both are bad input. The check keeps two ids and one
/// range per file, so memory stays flat whatever the dump's size.
pub struct WikiSource {
    inputs: std::vec::IntoIter<Part>,
    config: ReadConfig,
    threads: usize,
    current: Option<(DumpReader<Box<dyn BufRead + Send>>, InputDigest)>,
    report: SourceReport,
    progress: ByteProgress,
    /// The current file's name, for messages.
    file: String,
    /// The current file's first and last page ids so far.
    ids: Option<(u64, u64)>,
    /// The page id ranges of the files read.
    ranges: Vec<(String, u64, u64)>,
}

impl WikiSource {
    /// A source over `inputs`, decoding `.bz2` dumps on `threads` threads (0: one per core).
    pub fn new(inputs: Vec<WikiInput>, config: ReadConfig, threads: usize) -> Result<WikiSource> {
        anyhow::ensure!(!inputs.is_empty(), "no input files given");
        crate::overwrite::refuse_repeated(inputs.iter().map(|i| i.dump.as_path()))?;
        let progress = ByteProgress::of(inputs.iter().map(|i| i.dump.as_path()));
        Ok(WikiSource {
            inputs: inputs
                .into_iter()
                .map(|input| Part { input, range: None, index: None })
                .collect::<Vec<_>>()
                .into_iter(),
            config,
            threads,
            current: None,
            report: SourceReport::default(),
            progress,
            file: String::new(),
            ids: None,
            ranges: Vec::new(),
        })
    }

    fn open(&mut self, part: Part) -> Result<(DumpReader<Box<dyn BufRead + Send>>, InputDigest)> {
        let path = &part.input.dump;
        let opened = if Compression::from_path(path) == Compression::Bzip2 {
            let boundaries = match (&part.input.index, part.index) {
                (Some(_), Some((offsets, record))) => {
                    self.report.inputs.push(record);
                    Boundaries::Index(offsets)
                }
                (Some(index), None) => {
                    let (offsets, record) = read_index(index)?;
                    self.report.inputs.push(record);
                    Boundaries::Index(offsets)
                }
                (None, _) => Boundaries::Scan,
            };
            let name = path.display().to_string();
            let threads = self.threads;
            let range = part.range.clone();
            let size = file_size(path)?;
            OpenInput::open_range(path, part.range, |raw| {
                let start = range.as_ref().map_or(0, |r| r.start);
                let streams = ParallelBz2::new(raw, boundaries, start, threads, name)?;
                // A part of the dump is a run of <page> elements: it gets the root element
                // the whole dump opens and closes it with, so it reads as an export of its own.
                let open: &[u8] = if start > 0 { b"<mediawiki>\n" } else { b"" };
                let close: &[u8] = if range.is_some_and(|r| r.end < size) { b"</mediawiki>\n" } else { b"" };
                Ok(Box::new(open.chain(streams).chain(close)))
            })?
        } else {
            OpenInput::open(path)?
        };
        let mut opened = opened;
        if !matches!(
            opened.kind().with_context(|| path.display().to_string())?,
            ContentKind::MediaWiki | ContentKind::Xml
        ) {
            bail!(
                "{} does not look like a MediaWiki XML dump (it does not begin with <mediawiki or <?xml); for plain \
                 text use spe prep text",
                path.display()
            );
        }
        let reader = DumpReader::new(opened.reader, &path.display().to_string(), self.config.max_document_bytes);
        Ok((reader, opened.digest))
    }

    /// Whether `page` has an id above the one before it in the current file; a page that
    /// has not is an error, or skipped (false) and counted under its reason.
    fn check_id(&mut self, page: &Page) -> Result<bool> {
        let fault = match &self.ids {
            _ if page.id == 0 => Some((SkipReason::PageWithoutId, "has no page id".to_string())),
            Some((_, last)) if page.id <= *last => Some((
                SkipReason::RepeatedPage,
                format!("follows page id {last}: a dump lists each page once, by increasing id"),
            )),
            _ => None,
        };
        if let Some((reason, what)) = fault {
            let what = format!("page {:?} (id {}) {what}", page.title, page.id);
            crate::corpus::bad_record(self.config.on_bad_record, &mut self.report, &self.file, reason, &what)?;
            return Ok(false);
        }
        self.ids.get_or_insert((page.id, page.id)).1 = page.id;
        Ok(true)
    }

    /// Refuses a file whose page ids overlap those of a file read before.
    fn check_range(&mut self, range: (String, u64, u64)) -> Result<()> {
        let (file, first, last) = &range;
        if let Some((other, a, b)) = self.ranges.iter().find(|(_, a, b)| first <= b && a <= last) {
            bail!(
                "{file} holds pages {first}..={last} and {other} pages {a}..={b}: the same pages would be read twice"
            );
        }
        self.ranges.push(range);
        Ok(())
    }

    /// Why a page is not an article to keep, if it is not.
    fn skip_reason(page: &Page) -> Option<SkipReason> {
        if page.ns != 0 {
            Some(SkipReason::NotAnArticle)
        } else if page.redirect || page.text.trim_start().get(..9).is_some_and(|t| t.eq_ignore_ascii_case("#redirect"))
        {
            Some(SkipReason::Redirect)
        } else if page.too_large {
            Some(SkipReason::DocumentTooLarge)
        } else if is_disambiguation(page) {
            Some(SkipReason::Disambiguation)
        } else {
            None
        }
    }
}

/// Disambiguation pages: by title, or by their templates (`{{disambiguation}}`,
/// `{{hndis}}`, `{{geodis}}`, `{{set index article}}`, …).
fn is_disambiguation(page: &Page) -> bool {
    static TEMPLATE: OnceLock<Regex> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        Regex::new(r"(?i)\{\{\s*(disambiguation|disambig|disamb|dab|dbig|hndis|geodis|set index article|[a-z ]+ disambiguation|[a-z]+ ?index)\s*(\||\}\})")
            .expect("valid pattern")
    });
    page.title.ends_with("(disambiguation)") || template.is_match(&page.text)
}

impl Source for WikiSource {
    fn next_document(&mut self) -> Result<Option<Document>> {
        loop {
            if self.current.is_none() {
                let Some(part) = self.inputs.next() else { return Ok(None) };
                self.file = part.input.dump.display().to_string();
                self.current = Some(self.open(part)?);
            }
            let (reader, _) = self.current.as_mut().expect("opened above");
            let Some(page) = reader.next_page()? else {
                let (_, digest) = self.current.take().expect("open");
                let record = digest.finish()?;
                self.progress.finished(record.bytes);
                self.report.inputs.push(record);
                if let Some((first, last)) = self.ids.take() {
                    let file = std::mem::take(&mut self.file);
                    self.check_range((file, first, last))?;
                }
                continue;
            };
            if !self.check_id(&page)? {
                continue;
            }
            if let Some(reason) = Self::skip_reason(&page) {
                count(&mut self.report.skipped, reason.as_str(), 1);
                continue;
            }
            return Ok(Some(Document {
                id: page.id.to_string(),
                title: Some(page.title),
                first_sentence: 0,
                content: Content::Wikitext(page.text),
            }));
        }
    }

    fn progress(&self) -> (u64, u64) {
        self.progress.with_current(self.current.as_ref().map_or(0, |(_, digest)| digest.bytes_read()))
    }

    /// Each bzip2 stream of a dump with an index is a unit, and any other dump one unit:
    /// N ranks share one multistream dump, each reading its own run of streams.
    fn take_share(&mut self, partition: &Partition) -> Result<PartitionRecord> {
        let mut parts: Vec<Part> = std::mem::take(&mut self.inputs).collect();
        let (mut units, mut unit_part, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        for (i, part) in parts.iter_mut().enumerate() {
            let path = &part.input.dump;
            let size = file_size(path)?;
            sizes.push(size);
            let mut starts = vec![0];
            if let (Some(index), Compression::Bzip2) = (&part.input.index, Compression::from_path(path)) {
                let (offsets, record) = read_index(index)?;
                // The header stream before the first indexed one goes with it.
                starts.extend(offsets.iter().copied().filter(|&o| 0 < o && o < size));
                part.index = Some((offsets, record));
            }
            let ends = starts.iter().skip(1).copied().chain([size]);
            for (start, end) in starts.iter().copied().zip(ends) {
                units.push(Unit { path: path.clone(), bytes: start..end });
                unit_part.push(i);
            }
        }
        let share = partition.share(&units);
        // The share's units are contiguous, so each dump's part is one byte range.
        let mut ranges: Vec<Option<Range<u64>>> = vec![None; parts.len()];
        for (unit, &i) in units[share.units.clone()].iter().zip(&unit_part[share.units.clone()]) {
            ranges[i].get_or_insert(unit.bytes.clone()).end = unit.bytes.end;
        }
        let kept: Vec<Part> = parts
            .into_iter()
            .zip(ranges.into_iter().zip(sizes))
            .filter_map(|(part, (range, size))| {
                let range = range?;
                let whole = range == (0..size);
                Some(Part { range: (!whole).then_some(range), ..part })
            })
            .collect();
        let bytes = units[share.units.clone()].iter().map(|u| u.bytes.end - u.bytes.start).sum();
        self.progress = ByteProgress::bytes(bytes);
        self.inputs = kept.into_iter();
        Ok(share.record)
    }

    fn finish(self: Box<Self>) -> Result<SourceReport> {
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sibling_index_is_found_by_wikipedia_naming() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("enwiki-20190301-pages-articles-multistream.xml.bz2");
        let index = dir.path().join("enwiki-20190301-pages-articles-multistream-index.txt.bz2");
        std::fs::write(&dump, b"").unwrap();
        assert_eq!(WikiInput::with_sibling_index(dump.clone()).index, None);
        std::fs::write(&index, b"").unwrap();
        assert_eq!(WikiInput::with_sibling_index(dump).index, Some(index));
        let split = dir.path().join("enwiki-20190301-pages-articles-multistream1.xml-p1p41242.bz2");
        let split_index = dir.path().join("enwiki-20190301-pages-articles-multistream-index1.txt-p1p41242.bz2");
        std::fs::write(&split_index, b"").unwrap();
        assert_eq!(WikiInput::with_sibling_index(split).index, Some(split_index));
    }

    #[test]
    fn disambiguation_pages_are_recognised() {
        let page = |title: &str, text: &str| Page {
            id: 1,
            ns: 0,
            title: title.into(),
            redirect: false,
            text: text.into(),
            too_large: false,
        };
        assert!(is_disambiguation(&page("Mercury (disambiguation)", "")));
        assert!(is_disambiguation(&page("Mercury", "'''Mercury''' may refer to:\n{{disambiguation}}")));
        assert!(is_disambiguation(&page("Smith", "{{Surname index|Smith}}")));
        assert!(is_disambiguation(&page("X", "{{hndis|Smith, John}}")));
        assert!(!is_disambiguation(&page("Anarchism", "{{Anarchism sidebar}} {{dablink|x}} text")));
    }
}
