//! Plain text, one sentence per line: the input of the authors' preprocessing and of
//! BERT's `create_pretraining_data.py`. A blank line ends a document; a file with no blank
//! lines is one document (handed on in parts, see [`ReadConfig::max_document_sentences`]).
//! Document ids are `FILE_NAME#N`, N counting documents from 0 within the file, with any
//! compression suffix removed so that `a.txt`, `a.txt.zst` and `a.txt.bz2` give the same
//! samples.

use super::input::{read_line_bounded, ByteProgress, Compression, ContentKind, Line, OpenInput};
use super::{bad_record, Content, Document, ReadConfig, SkipReason, Source, SourceReport};
use crate::partition::{Partition, PartitionRecord};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Reads sentence-per-line text files (plain, `.zst` or `.bz2`) in the order given.
pub struct TextSource {
    files: std::vec::IntoIter<PathBuf>,
    config: ReadConfig,
    current: Option<OpenFile>,
    report: SourceReport,
    line: Vec<u8>,
    progress: ByteProgress,
}

struct OpenFile {
    path: PathBuf,
    name: String,
    input: OpenInput,
    line_no: u64,
    doc_index: u64,
    /// Sentences of the current document handed on in earlier parts.
    emitted: i32,
    sentences: Vec<String>,
    nonblank_lines: u64,
}

impl TextSource {
    /// A source over `files`. File names must be distinct, since document ids are built
    /// from them.
    pub fn new(files: Vec<PathBuf>, config: ReadConfig) -> Result<TextSource> {
        if files.is_empty() {
            bail!("no input files given");
        }
        let mut names = BTreeSet::new();
        for path in &files {
            let name = file_name(path);
            if !names.insert(name.clone()) {
                bail!("two inputs are named {name:?}; document ids are built from file names, so they must differ");
            }
        }
        crate::overwrite::refuse_repeated(files.iter().map(PathBuf::as_path))?;
        Ok(TextSource {
            progress: ByteProgress::of(files.iter().map(PathBuf::as_path)),
            files: files.into_iter(),
            config,
            current: None,
            report: SourceReport::default(),
            line: Vec::new(),
        })
    }

    fn bad_record(&mut self, location: String, reason: SkipReason, what: String) -> Result<()> {
        bad_record(self.config.on_bad_record, &mut self.report, &location, reason, &what)
    }

    /// Closes the current file, recording its checksum; an input without a single
    /// sentence is a bad record.
    fn close_file(&mut self) -> Result<()> {
        let file = self.current.take().expect("a file is open");
        if file.nonblank_lines == 0 {
            self.bad_record(
                file.path.display().to_string(),
                SkipReason::EmptyFile,
                "the file holds no sentence".into(),
            )?;
        }
        let record = file.input.finish()?;
        self.progress.finished(record.bytes);
        self.report.inputs.push(record);
        Ok(())
    }
}

/// The file name that document ids are built from: without a compression suffix.
fn file_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    Compression::strip_suffix(&name).to_string()
}

impl OpenFile {
    fn take_document(&mut self, ends: bool) -> Document {
        let sentences = std::mem::take(&mut self.sentences);
        let count = sentences.len() as i32;
        let doc = Document {
            id: format!("{}#{}", self.name, self.doc_index),
            title: None,
            first_sentence: self.emitted,
            content: Content::Sentences(sentences),
        };
        if ends {
            self.end_document();
        } else {
            self.emitted += count;
        }
        doc
    }

    /// The next sentence begins another document.
    fn end_document(&mut self) {
        self.doc_index += 1;
        self.emitted = 0;
    }
}

impl Source for TextSource {
    fn next_document(&mut self) -> Result<Option<Document>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                let mut input = OpenInput::open(&path)?;
                let hint = match input.kind().with_context(|| path.display().to_string())? {
                    ContentKind::MediaWiki => Some("a MediaWiki XML dump: use spe prep wiki"),
                    ContentKind::Xml => Some("XML, not sentences: for a MediaWiki dump use spe prep wiki"),
                    ContentKind::JsonLines | ContentKind::JsonArray => Some(
                        "JSON, not sentences: for a labeled corpus use spe prep scierc, ace05 or labeled, for NYT \
                         spe prep nyt",
                    ),
                    ContentKind::Text => None,
                };
                if let Some(hint) = hint {
                    bail!("{} looks like {hint} (spe prep text reads one sentence per line)", path.display());
                }
                self.current = Some(OpenFile {
                    name: file_name(&path),
                    path,
                    input,
                    line_no: 0,
                    doc_index: 0,
                    emitted: 0,
                    sentences: Vec::new(),
                    nonblank_lines: 0,
                });
            }
            let file = self.current.as_mut().expect("opened above");
            let read = read_line_bounded(&mut *file.input.reader, &mut self.line, self.config.max_line_bytes);
            let read = match read {
                Ok(read) => read,
                Err(e) => bail!("{}:{}: read error: {e}", file.path.display(), file.line_no + 1),
            };
            if read == Line::Eof {
                let doc = (!file.sentences.is_empty()).then(|| file.take_document(true));
                self.close_file()?;
                match doc {
                    Some(doc) => return Ok(Some(doc)),
                    None => continue,
                }
            }
            file.line_no += 1;
            let (path, line_no) = (file.path.clone(), file.line_no);
            if read == Line::TooLong {
                let what = format!("line longer than {} bytes (read.max_line_bytes)", self.config.max_line_bytes);
                self.bad_record(format!("{}:{line_no}", path.display()), SkipReason::LineTooLong, what)?;
                continue;
            }
            let text = match std::str::from_utf8(&self.line) {
                Ok(text) => text.trim(),
                Err(e) => {
                    let what = format!("invalid UTF-8 at byte {} of the line", e.valid_up_to());
                    self.bad_record(format!("{}:{line_no}", path.display()), SkipReason::InvalidUtf8, what)?;
                    continue;
                }
            };
            let file = self.current.as_mut().expect("still open");
            if text.is_empty() {
                if !file.sentences.is_empty() {
                    return Ok(Some(file.take_document(true)));
                }
                // A document whose last part filled read.max_document_sentences exactly
                // ends here, with nothing left to hand on.
                if file.emitted > 0 {
                    file.end_document();
                }
                continue;
            }
            file.nonblank_lines += 1;
            file.sentences.push(text.to_string());
            if file.sentences.len() >= self.config.max_document_sentences {
                return Ok(Some(file.take_document(false)));
            }
        }
    }

    fn progress(&self) -> (u64, u64) {
        self.progress.with_current(self.current.as_ref().map_or(0, |f| f.input.digest.bytes_read()))
    }

    fn take_share(&mut self, partition: &Partition) -> Result<PartitionRecord> {
        let (record, bytes) = partition.take_files(&mut self.files, PathBuf::as_path)?;
        self.progress = ByteProgress::bytes(bytes);
        Ok(record)
    }

    fn finish(self: Box<Self>) -> Result<SourceReport> {
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::BadRecordPolicy;
    use crate::counts::Counts;

    fn sentences(doc: &Document) -> &[String] {
        match &doc.content {
            Content::Sentences(s) => s,
            other => panic!("text gives sentences, not {other:?}"),
        }
    }

    fn read_all(files: Vec<PathBuf>, config: ReadConfig) -> Result<(Vec<Document>, SourceReport)> {
        let mut source = Box::new(TextSource::new(files, config)?);
        let mut docs = Vec::new();
        while let Some(doc) = source.next_document()? {
            docs.push(doc);
        }
        Ok((docs, source.finish()?))
    }

    #[test]
    fn blank_lines_separate_documents_and_long_ones_come_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "s1\ns2\ns3\n\n\n t1 \n").unwrap();
        let config = ReadConfig { max_document_sentences: 2, ..ReadConfig::default() };
        let (docs, report) = read_all(vec![path.clone()], config).unwrap();
        let ids: Vec<_> = docs.iter().map(|d| (d.id.as_str(), d.first_sentence, sentences(d).len())).collect();
        assert_eq!(ids, [("a.txt#0", 0, 2), ("a.txt#0", 2, 1), ("a.txt#1", 0, 1)]);
        assert_eq!(sentences(&docs[2]), ["t1"]);
        assert_eq!(report.inputs.len(), 1);
        // A document of exactly the limit ends at its blank line, like any other.
        std::fs::write(&path, "s1\ns2\n\n\nt1\n\nu1\nu2\nu3\nu4\n").unwrap();
        let config = ReadConfig { max_document_sentences: 2, ..ReadConfig::default() };
        let (docs, _) = read_all(vec![path], config).unwrap();
        let ids: Vec<_> = docs.iter().map(|d| (d.id.as_str(), d.first_sentence, sentences(d).len())).collect();
        assert_eq!(ids, [("a.txt#0", 0, 2), ("a.txt#1", 0, 1), ("a.txt#2", 0, 2), ("a.txt#2", 2, 2)]);
    }

    #[test]
    fn bad_records_error_with_file_and_line_or_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"good line\nbad \xff line\nxxxxxxxxxxxxxxxxxxxx\nok\n").unwrap();
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, b"\n\n").unwrap();
        let config = ReadConfig { max_line_bytes: 12, ..ReadConfig::default() };
        let err = read_all(vec![path.clone()], config.clone()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("bad.txt:2") && msg.contains("UTF-8"), "{msg}");
        let err = read_all(vec![empty.clone()], config.clone()).unwrap_err();
        assert!(format!("{err:#}").contains("empty.txt"), "{err:#}");

        let skip = ReadConfig { on_bad_record: BadRecordPolicy::Skip, ..config };
        let (docs, report) = read_all(vec![path, empty], skip).unwrap();
        assert_eq!(sentences(&docs[0]), ["good line", "ok"]);
        let expected: Counts =
            [("empty_file", 1), ("invalid_utf8", 1), ("line_too_long", 1)].map(|(k, v)| (k.to_string(), v)).into();
        assert_eq!(report.skipped, expected);
    }

    #[test]
    fn missing_file_and_duplicate_names_are_errors() {
        let err = read_all(vec!["/nonexistent/x.txt".into()], ReadConfig::default()).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.txt"));
        assert!(TextSource::new(vec!["a/x.txt".into(), "b/x.txt".into()], ReadConfig::default()).is_err());
        // One file under two names: a hard link.
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        std::fs::write(&a, "s1\n").unwrap();
        std::fs::hard_link(&a, &b).unwrap();
        let err = TextSource::new(vec![a, b], ReadConfig::default()).err().unwrap();
        assert!(format!("{err:#}").contains("b.txt is given twice (also as"), "{err:#}");
    }
}
