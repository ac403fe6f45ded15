//! Reading one split file of a labeled corpus, document by document, whatever its layout:
//! JSON lines ([`dygie`], [`sentences`]), brat's id list ([`brat`]) or SpERT's array
//! ([`spert`]). Each layout is a [`Records`] source; every document any of them gives passes
//! the same checks ([`check_sentence`], [`check_labels`]) before it is handed on.

use super::spert::ArrayRecords;
use super::{brat, check_labels, check_sentence, dygie, sentences, spert, Format, LabelConfig, LabeledDocument};
use crate::corpus::input::{read_line_bounded, Line, OpenInput};
use crate::corpus::{bad_record, ReadConfig, SkipReason, SourceReport};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Reads one split file of a labeled corpus, document by document.
pub struct LabeledReader {
    shared: Shared,
    records: Box<dyn Records>,
}

/// What the sources of a reader share: the file, the settings, and the report of what was
/// read and skipped.
struct Shared {
    path: PathBuf,
    text_only: bool,
    config: ReadConfig,
    labels: LabelConfig,
    report: SourceReport,
}

/// The documents of one split file in one layout.
trait Records: Send {
    /// The next document that passed the checks, or `None` after the last.
    fn next_document(&mut self, shared: &mut Shared) -> Result<Option<LabeledDocument>>;
}

impl LabeledReader {
    /// A reader of `path` in `format`. For brat, `path` lists document ids, one per line,
    /// and the documents lie in `documents` (the list's directory by default).
    pub fn open(
        path: &Path,
        format: Format,
        config: &ReadConfig,
        labels: &LabelConfig,
        documents: Option<&Path>,
    ) -> Result<LabeledReader> {
        let mut report = SourceReport::default();
        let records: Box<dyn Records> = match format {
            Format::Brat => {
                let dir = documents
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")));
                let (ids, record) = brat::read_id_list(path)?;
                report.inputs.push(record);
                Box::new(BratDocuments { dir, ids: ids.into_iter() })
            }
            Format::Spert => Box::new(ArrayDocuments {
                records: Some(Box::new(ArrayRecords::open(path, config.max_line_bytes as u64)?)),
                index: 0,
            }),
            Format::Dygie | Format::Nere | Format::Arnor => Box::new(LineDocuments {
                format,
                input: Some(OpenInput::open(path)?),
                line: Vec::new(),
                line_no: 0,
                pending: None,
            }),
        };
        let shared = Shared {
            path: path.to_path_buf(),
            text_only: false,
            config: config.clone(),
            labels: labels.clone(),
            report,
        };
        Ok(LabeledReader { shared, records })
    }

    /// A reader of the text alone: the annotations of JSON lines records (`ner`,
    /// `relations` and `clusters`; `entityMentions` and `relationMentions`) are not read, so
    /// they can neither fail nor count. brat documents are read whole.
    pub fn text_only(mut self) -> LabeledReader {
        self.shared.text_only = true;
        self
    }

    /// The next document, or `None` after the last.
    pub fn next_document(&mut self) -> Result<Option<LabeledDocument>> {
        self.records.next_document(&mut self.shared)
    }

    /// The input records and skip counts, after the last document.
    pub fn finish(self) -> SourceReport {
        self.shared.report
    }
}

impl Shared {
    /// A bad record at `location`: an error, or skipped and counted (`read.on_bad_record`).
    fn bad(&mut self, location: &str, reason: SkipReason, what: &str) -> Result<()> {
        bad_record(self.config.on_bad_record, &mut self.report, location, reason, what)
    }

    /// Checks a parsed document against the common rules and the label sets; a fault is an
    /// error or a skipped, counted record.
    fn accept(&mut self, doc: LabeledDocument, location: &str) -> Result<Option<LabeledDocument>> {
        for (i, sentence) in doc.sentences.iter().enumerate() {
            let field = format!("sentence {i}");
            if let Err(fault) =
                check_sentence(sentence, &field).and_then(|()| check_labels(sentence, &self.labels, &field))
            {
                self.bad(location, fault.reason, &format!("{}: {}", fault.field, fault.what))?;
                return Ok(None);
            }
        }
        Ok(Some(doc))
    }
}

/// brat: the ids still to read, from the list at the reader's path.
struct BratDocuments {
    dir: PathBuf,
    ids: std::vec::IntoIter<(u64, String)>,
}

impl Records for BratDocuments {
    fn next_document(&mut self, shared: &mut Shared) -> Result<Option<LabeledDocument>> {
        for (line_no, id) in self.ids.by_ref() {
            let location = format!("{}:{line_no}", shared.path.display());
            let Some(doc) = brat::read_document(&self.dir, &id, &location, &shared.config, &mut shared.report)? else {
                continue;
            };
            if let Some(doc) = shared.accept(doc, &location)? {
                return Ok(Some(doc));
            }
        }
        Ok(None)
    }
}

/// SpERT: the array's elements still to read; `index` counts those read.
struct ArrayDocuments {
    records: Option<Box<ArrayRecords>>,
    index: u64,
}

impl Records for ArrayDocuments {
    fn next_document(&mut self, shared: &mut Shared) -> Result<Option<LabeledDocument>> {
        loop {
            let Some(open) = self.records.as_mut() else { return Ok(None) };
            let next = open.next(&shared.path)?;
            let location = format!("{}: record {}", shared.path.display(), self.index + 1);
            self.index += 1;
            let value = match next {
                None => {
                    let record = self.records.take().expect("open").finish(&shared.path)?;
                    shared.report.inputs.push(record);
                    return Ok(None);
                }
                Some(Ok(value)) => value,
                Some(Err(())) => bail!(
                    "{location}: longer than {} bytes (read.max_line_bytes), so the rest of the array cannot be read",
                    shared.config.max_line_bytes
                ),
            };
            let mut value = value;
            if let (true, Some(record)) = (shared.text_only, value.as_object_mut()) {
                for key in ["entities", "relations"] {
                    record.insert(key.to_string(), Value::Array(Vec::new()));
                }
            }
            match spert::parse(&value, self.index - 1, &shared.labels) {
                Ok(doc) => {
                    if let Some(doc) = shared.accept(doc, &location)? {
                        return Ok(Some(doc));
                    }
                }
                Err(fault) => shared.bad(&location, fault.reason, &format!("{}: {}", fault.field, fault.what))?,
            }
        }
    }
}

/// JSON lines: DyGIE documents, or NERE and ARNOR sentences gathered into documents.
struct LineDocuments {
    format: Format,
    input: Option<OpenInput>,
    line: Vec<u8>,
    line_no: u64,
    /// The sentence formats' document being gathered.
    pending: Option<LabeledDocument>,
}

impl Records for LineDocuments {
    fn next_document(&mut self, shared: &mut Shared) -> Result<Option<LabeledDocument>> {
        loop {
            let Some(open) = self.input.as_mut() else {
                return Ok(None);
            };
            let read = read_line_bounded(&mut *open.reader, &mut self.line, shared.config.max_line_bytes)
                .with_context(|| format!("{}:{}: read error", shared.path.display(), self.line_no + 1))?;
            if read == Line::Eof {
                let record = self.input.take().expect("open").finish()?;
                shared.report.inputs.push(record);
                return Ok(self.pending.take());
            }
            self.line_no += 1;
            let location = format!("{}:{}", shared.path.display(), self.line_no);
            if read == Line::TooLong {
                let what = format!("line longer than {} bytes (read.max_line_bytes)", shared.config.max_line_bytes);
                shared.bad(&location, SkipReason::LineTooLong, &what)?;
                continue;
            }
            let mut value: serde_json::Value = match std::str::from_utf8(&self.line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => match serde_json::from_str(text) {
                    Ok(value) => value,
                    Err(e) => {
                        shared.bad(&location, SkipReason::InvalidJson, &format!("not a JSON record ({e})"))?;
                        continue;
                    }
                },
                Err(e) => {
                    let what = format!("invalid UTF-8 at byte {} of the line", e.valid_up_to());
                    shared.bad(&location, SkipReason::InvalidUtf8, &what)?;
                    continue;
                }
            };
            if value.is_array() {
                let what =
                    "a JSON array, not a record: spe reads JSON lines, one record per line (convert with jq -c '.[]')";
                shared.bad(&location, SkipReason::JsonArray, what)?;
                continue;
            }
            if let (true, Some(record)) = (shared.text_only, value.as_object_mut()) {
                for key in ["ner", "relations", "clusters", "entityMentions", "relationMentions"] {
                    record.remove(key);
                }
            }
            let parsed = match self.format {
                Format::Dygie => dygie::parse(&value),
                _ => sentences::parse(&value, self.format, &shared.labels, &mut shared.report),
            };
            let doc = match parsed {
                Ok(doc) => doc,
                Err(fault) => {
                    shared.bad(&location, fault.reason, &format!("{}: {}", fault.field, fault.what))?;
                    continue;
                }
            };
            let Some(doc) = shared.accept(doc, &location)? else { continue };
            if self.format == Format::Dygie {
                return Ok(Some(doc));
            }
            // Sentence formats: consecutive sentences of one article make a document,
            // handed on in parts of at most `read.max_document_sentences` sentences.
            match &mut self.pending {
                Some(open) if open.id == doc.id && open.sentences.len() < shared.config.max_document_sentences => {
                    open.sentences.extend(doc.sentences);
                }
                Some(open) if open.id == doc.id => {
                    let first_sentence = open.first_sentence + open.sentences.len() as u32;
                    let next = LabeledDocument { first_sentence, ..doc };
                    return Ok(self.pending.replace(next));
                }
                _ => {
                    if let Some(done) = self.pending.replace(doc) {
                        return Ok(Some(done));
                    }
                }
            }
        }
    }
}
