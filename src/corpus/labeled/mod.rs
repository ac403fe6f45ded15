//! Labeled corpora (ACE05, SciERC, NYT): sentences with entity mentions and relations, for
//! fine-tuning, evaluation and distantly supervised pre-training.
//!
//! Every release format becomes the same [`LabeledDocument`]: the sentence's words,
//! entities as exclusive word offsets within the sentence, relations as indices into the
//! sentence's entities. The formats:
//!
//! - [`dygie`]: DyGIE / SciERC JSON lines, one document per line, document-wide inclusive
//!   token offsets (the official SciERC release; most ACE05 preprocessing today).
//! - [`sentences`]: sentence JSON lines with `sentText`, either the NERE layout of Sun et
//!   al. (2019) (`offset: [start, end)`, relations by mention id) or NYT's release as
//!   ARNOR distributes it (Jia et al. 2019: mentions found by their `text`, `start` only an
//!   ordinal, relations by mention text).
//! - [`brat`]: brat standoff `.split.txt` and `.split.ann` files (Miwa and Bansal 2016's
//!   ACE05 preprocessing), one document per id in a split's id list.
//! - [`spert`]: SpERT's JSON, one array of sentences per split with a types file beside it
//!   (CoNLL04, SciERC, ADE as SpERT and later papers share them), read element by element.

pub mod as_text;
pub mod brat;
pub mod dygie;
pub mod label_sets;
pub mod sentences;
pub mod spert;

pub use label_sets::LabelConfig;

use super::input::{read_line_bounded, InputDigest, Line, OpenInput};
use super::{bad_record, ReadConfig, SkipReason, SourceReport};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError};

/// An entity mention: words `start..end` of its sentence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entity {
    /// First word.
    pub start: u32,
    /// One past the last word.
    pub end: u32,
    /// The entity type.
    pub label: String,
}

/// A relation between two entities of one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// Index of the head (first argument) in the sentence's entities.
    pub head: u32,
    /// Index of the tail (second argument).
    pub tail: u32,
    /// The relation type.
    pub label: String,
}

/// A sentence with its annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabeledSentence {
    /// The words, as released.
    pub words: Vec<String>,
    /// Entity mentions, in release order; nested and overlapping mentions are kept.
    pub entities: Vec<Entity>,
    /// Relations, in release order.
    pub relations: Vec<Relation>,
}

/// A document: consecutive sentences sharing an id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabeledDocument {
    /// The document id (`doc_key`, `articleId`, or the brat file id).
    pub id: String,
    /// Index of the first sentence within the whole document (long documents of sentence
    /// formats arrive in parts).
    pub first_sentence: u32,
    /// The sentences, in order.
    pub sentences: Vec<LabeledSentence>,
    /// Coreference clusters in the release; counted, not kept (no objective uses them).
    pub clusters: u64,
}

/// A labeled release format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// DyGIE / SciERC JSON lines.
    Dygie,
    /// NERE sentence JSON lines (Sun et al. 2019).
    Nere,
    /// ARNOR's NYT sentence JSON lines (Jia et al. 2019).
    Arnor,
    /// brat standoff files, listed by a file of document ids.
    Brat,
    /// SpERT's JSON: one array of sentences.
    Spert,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 5] = [Format::Dygie, Format::Nere, Format::Arnor, Format::Brat, Format::Spert];

    /// The name used on the command line and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dygie => "dygie",
            Format::Nere => "nere",
            Format::Arnor => "arnor",
            Format::Brat => "brat",
            Format::Spert => "spert",
        }
    }

    /// Tells the format of `path` from its first records: a DyGIE document, a NERE or
    /// ARNOR sentence (told apart by their mentions: NERE's have `offset`, ARNOR's a
    /// `start` ordinal), a JSON array of SpERT sentences, or, when the lines are not
    /// JSON, a brat list of document ids.
    pub fn detect(path: &Path) -> Result<Format> {
        let mut input = OpenInput::open(path)?;
        let mut line = Vec::new();
        let mut sentence_json = false;
        for line_no in 1..=1000 {
            match read_line_bounded(&mut *input.reader, &mut line, 1 << 26)
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                Line::Eof => break,
                Line::TooLong => bail!("{}:{line_no}: line too long to tell the format", path.display()),
                Line::Ok => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if text.starts_with('[') {
                return detect_array(path);
            }
            if text.starts_with('<') {
                bail!(
                    "{}:{line_no}: XML, not a labeled corpus; for a MediaWiki dump use spe prep wiki",
                    path.display()
                );
            }
            if !text.starts_with('{') {
                return Ok(Format::Brat);
            }
            let value: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("{}:{line_no}: not valid JSON, so the format is unknown", path.display()))?;
            if value.get("sentences").is_some() {
                return Ok(Format::Dygie);
            }
            if value.get("sentText").is_none() {
                bail!(
                    "{}:{line_no}: unknown format: a JSON record with neither `sentences` (DyGIE) nor `sentText` \
                     (NERE, ARNOR); pass --format",
                    path.display()
                );
            }
            sentence_json = true;
            let mentions = value.get("entityMentions").and_then(|m| m.as_array());
            if let Some(first) = mentions.and_then(|m| m.first()) {
                if first.get("offset").is_some() {
                    return Ok(Format::Nere);
                }
                if first.get("start").is_some() {
                    return Ok(Format::Arnor);
                }
            }
        }
        if sentence_json {
            bail!("{}: cannot tell NERE from ARNOR without an entity mention; pass --format", path.display());
        }
        bail!("{}: the file holds no record, so its format is unknown", path.display())
    }
}

impl Format {
    /// Whether `path` holds nothing but whitespace, so that no format can be told.
    pub fn is_empty(path: &Path) -> Result<bool> {
        let mut input = OpenInput::open(path)?;
        let mut buf = [0u8; 4096];
        loop {
            let n = input.reader.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                return Ok(true);
            }
            if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                return Ok(false);
            }
        }
    }
}

/// A JSON array is SpERT's when its first element is a sentence with `tokens`.
fn detect_array(path: &Path) -> Result<Format> {
    let mut records = ArrayRecords::open(path, 1 << 26)?;
    match records.next(path)? {
        Some(Ok(first)) if first.get("tokens").is_some() => Ok(Format::Spert),
        Some(Ok(_)) => bail!(
            "{}: a JSON array whose first element has no `tokens`, so not SpERT's format; spe reads other \
             formats as JSON lines, one record per line (convert with jq -c '.[]')",
            path.display()
        ),
        Some(Err(_)) => bail!("{}: the JSON array's first element is too long to tell the format", path.display()),
        None => bail!("{}: an empty JSON array, so its format is unknown", path.display()),
    }
}

/// The elements of a file holding one JSON array, parsed one at a time (the file is never
/// held whole); an element of more than `max_bytes` is refused before it is held.
struct ArrayRecords {
    json: JsonStreamReader<Bounded>,
    left: Arc<AtomicU64>,
    max_bytes: u64,
    digest: InputDigest,
    started: bool,
}

/// A reader that fails once its shared budget of bytes is spent.
struct Bounded {
    inner: Box<dyn BufRead + Send>,
    left: Arc<AtomicU64>,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left.load(Ordering::Relaxed);
        if left == 0 {
            return Err(std::io::Error::other("a record longer than read.max_line_bytes"));
        }
        let room = buf.len().min(left as usize);
        let n = self.inner.read(&mut buf[..room])?;
        self.left.fetch_sub(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl ArrayRecords {
    fn open(path: &Path, max_bytes: u64) -> Result<ArrayRecords> {
        let OpenInput { reader, digest } = OpenInput::open(path)?;
        let left = Arc::new(AtomicU64::new(max_bytes));
        let json = JsonStreamReader::new(Bounded { inner: reader, left: left.clone() });
        Ok(ArrayRecords { json, left, max_bytes, digest, started: false })
    }

    /// The next element: `Ok(value)`, `Err(())` for one longer than the budget (which ends
    /// the array: nothing after it can be found), or `None` after the last.
    fn next(&mut self, path: &Path) -> Result<Option<Result<Value, ()>>> {
        let syntax = |e: ReaderError| anyhow::anyhow!("{}: not a JSON array of records ({e})", path.display());
        self.left.store(self.max_bytes, Ordering::Relaxed);
        if !self.started {
            self.json.begin_array().map_err(syntax)?;
            self.started = true;
        }
        if !self.json.has_next().map_err(syntax)? {
            self.json.end_array().map_err(syntax)?;
            return Ok(None);
        }
        match self.json.deserialize_next::<Value>() {
            Ok(value) => Ok(Some(Ok(value))),
            Err(_) if self.left.load(Ordering::Relaxed) == 0 => Ok(Some(Err(()))),
            Err(e) => bail!("{}: not a JSON array of records ({e})", path.display()),
        }
    }

    /// After the last element: nothing but whitespace may follow the array.
    fn finish(self, path: &Path) -> Result<crate::corpus::InputRecord> {
        self.left.store(self.max_bytes, Ordering::Relaxed);
        self.json
            .consume_trailing_whitespace()
            .map_err(|e| anyhow::anyhow!("{}: more than one JSON array ({e})", path.display()))?;
        self.digest.finish()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s).with_context(|| {
            format!("unknown format {s:?}; expected one of {}", Format::ALL.map(|f| f.as_str()).join(", "))
        })
    }
}

/// A fault in one record: the field it is in, what is wrong, and the manifest's key for
/// counting it when bad records are skipped.
#[derive(Debug)]
pub struct Fault {
    /// The field, as a path into the record (`ner[0][2]`).
    pub field: String,
    /// What is wrong.
    pub what: String,
    /// The count key.
    pub reason: SkipReason,
}

impl Fault {
    /// A fault in `field`.
    pub fn new(field: impl Into<String>, reason: SkipReason, what: impl Into<String>) -> Fault {
        Fault { field: field.into(), what: what.into(), reason }
    }
}

/// Checks what every format must hold: entity offsets within the sentence and not
/// reversed, labels present, relation arguments among the sentence's entities. `field`
/// names the sentence in messages.
pub fn check_sentence(sentence: &LabeledSentence, field: &str) -> Result<(), Fault> {
    let n = sentence.words.len() as u32;
    if let Some(i) = sentence.words.iter().position(|w| w.trim().is_empty()) {
        return Err(Fault::new(format!("{field} word {i}"), SkipReason::EmptyWord, "the word is empty or blank"));
    }
    for (i, e) in sentence.entities.iter().enumerate() {
        let at = || format!("{field} entity {i}");
        if e.start >= e.end {
            return Err(Fault::new(
                at(),
                SkipReason::BadOffsets,
                format!("offsets {}..{} are empty or reversed", e.start, e.end),
            ));
        }
        if e.end > n {
            return Err(Fault::new(
                at(),
                SkipReason::BadOffsets,
                format!("offsets {}..{} lie outside the sentence's {n} words", e.start, e.end),
            ));
        }
        if e.label.trim().is_empty() {
            return Err(Fault::new(at(), SkipReason::MissingLabel, "the entity has no label"));
        }
    }
    for (i, r) in sentence.relations.iter().enumerate() {
        let at = || format!("{field} relation {i}");
        let entities = sentence.entities.len() as u32;
        if r.head >= entities || r.tail >= entities {
            return Err(Fault::new(
                at(),
                SkipReason::ArgumentNotEntity,
                "an argument is not an entity of the sentence",
            ));
        }
        if r.label.trim().is_empty() {
            return Err(Fault::new(at(), SkipReason::MissingLabel, "the relation has no label"));
        }
    }
    Ok(())
}

/// Checks that every label is in the configured sets (no check where a set is empty).
pub fn check_labels(sentence: &LabeledSentence, labels: &LabelConfig, field: &str) -> Result<(), Fault> {
    let known = |set: &[String], label: &str| set.is_empty() || set.iter().any(|l| l == label);
    if let Some((i, e)) = sentence.entities.iter().enumerate().find(|(_, e)| !known(&labels.entities, &e.label)) {
        return Err(Fault::new(
            format!("{field} entity {i}"),
            SkipReason::UnknownLabel,
            format!("entity label {:?} is not one of {}", e.label, labels.entities.join(", ")),
        ));
    }
    if let Some((i, r)) = sentence.relations.iter().enumerate().find(|(_, r)| !known(&labels.relations, &r.label)) {
        return Err(Fault::new(
            format!("{field} relation {i}"),
            SkipReason::UnknownLabel,
            format!("relation label {:?} is not one of {}", r.label, labels.relations.join(", ")),
        ));
    }
    Ok(())
}

/// Checks a parsed document against the common rules and the label sets; a fault is an
/// error or a skipped, counted record.
fn accept(
    doc: LabeledDocument,
    location: &str,
    config: &ReadConfig,
    labels: &LabelConfig,
    report: &mut SourceReport,
) -> Result<Option<LabeledDocument>> {
    for (i, sentence) in doc.sentences.iter().enumerate() {
        let field = format!("sentence {i}");
        if let Err(fault) = check_sentence(sentence, &field).and_then(|()| check_labels(sentence, labels, &field)) {
            bad_record(
                config.on_bad_record,
                report,
                location,
                fault.reason,
                &format!("{}: {}", fault.field, fault.what),
            )?;
            return Ok(None);
        }
    }
    Ok(Some(doc))
}

/// The text a Penn Treebank escape stands for, or `word` itself.
pub fn unescape_ptb(word: &str) -> &str {
    match word {
        "-LRB-" => "(",
        "-RRB-" => ")",
        "-LSB-" => "[",
        "-RSB-" => "]",
        "-LCB-" => "{",
        "-RCB-" => "}",
        "``" | "''" => "\"",
        _ => word,
    }
}

/// Reads one split file of a labeled corpus, document by document.
pub struct LabeledReader {
    path: PathBuf,
    format: Format,
    text_only: bool,
    config: ReadConfig,
    labels: LabelConfig,
    report: SourceReport,
    inner: Inner,
}

enum Inner {
    /// JSON lines formats.
    Lines { input: Option<OpenInput>, line: Vec<u8>, line_no: u64, pending: Option<LabeledDocument> },
    /// brat: the ids still to read, from the list at `path`.
    Brat { dir: PathBuf, ids: std::vec::IntoIter<(u64, String)> },
    /// SpERT: the array's elements still to read; `index` counts those read, and
    /// `numeric_ids` those whose `orig_id` is a number.
    Array { records: Option<Box<ArrayRecords>>, index: u64, numeric_ids: u64 },
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
        let inner = if format == Format::Brat {
            let dir = documents
                .map(Path::to_path_buf)
                .unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")));
            let (ids, record) = brat::read_id_list(path)?;
            report.inputs.push(record);
            Inner::Brat { dir, ids: ids.into_iter() }
        } else if format == Format::Spert {
            let records = Box::new(ArrayRecords::open(path, config.max_line_bytes as u64)?);
            Inner::Array { records: Some(records), index: 0, numeric_ids: 0 }
        } else {
            Inner::Lines { input: Some(OpenInput::open(path)?), line: Vec::new(), line_no: 0, pending: None }
        };
        Ok(LabeledReader {
            path: path.to_path_buf(),
            format,
            text_only: false,
            config: config.clone(),
            labels: labels.clone(),
            report,
            inner,
        })
    }

    /// A reader of the text alone: the annotations of JSON lines records (`ner`,
    /// `relations` and `clusters`; `entityMentions` and `relationMentions`) are not read, so
    /// they can neither fail nor count. brat documents are read whole.
    pub fn text_only(self) -> LabeledReader {
        LabeledReader { text_only: true, ..self }
    }

    /// The next document, or `None` after the last.
    pub fn next_document(&mut self) -> Result<Option<LabeledDocument>> {
        match &mut self.inner {
            Inner::Brat { dir, ids } => {
                for (line_no, id) in ids.by_ref() {
                    let location = format!("{}:{line_no}", self.path.display());
                    let Some(doc) = brat::read_document(dir, &id, &location, &self.config, &mut self.report)? else {
                        continue;
                    };
                    if let Some(doc) = accept(doc, &location, &self.config, &self.labels, &mut self.report)? {
                        return Ok(Some(doc));
                    }
                }
                Ok(None)
            }
            Inner::Lines { .. } => self.next_from_lines(),
            Inner::Array { .. } => self.next_from_array(),
        }
    }

    /// How many documents so far had a number for an id (SpERT's `orig_id`), so that
    /// `spe export` writes them back as numbers.
    pub fn numeric_ids(&self) -> u64 {
        match &self.inner {
            Inner::Array { numeric_ids, .. } => *numeric_ids,
            _ => 0,
        }
    }

    fn next_from_array(&mut self) -> Result<Option<LabeledDocument>> {
        loop {
            let Inner::Array { records, index, .. } = &mut self.inner else { unreachable!("array") };
            let Some(open) = records.as_mut() else { return Ok(None) };
            let next = open.next(&self.path)?;
            let location = format!("{}: record {}", self.path.display(), *index + 1);
            *index += 1;
            let value = match next {
                None => {
                    let record = records.take().expect("open").finish(&self.path)?;
                    self.report.inputs.push(record);
                    return Ok(None);
                }
                Some(Ok(value)) => value,
                Some(Err(())) => bail!(
                    "{location}: longer than {} bytes (read.max_line_bytes), so the rest of the array cannot be read",
                    self.config.max_line_bytes
                ),
            };
            let value = match self.text_only {
                true => value
                    .as_object()
                    .map(|record| record.iter().filter(|(k, _)| k.as_str() != "entities" && k.as_str() != "relations"))
                    .map(|kept| Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect()))
                    .unwrap_or(value),
                false => value,
            };
            let numeric = spert::has_numeric_id(&value);
            match spert::parse(&value, *index - 1, &self.labels) {
                Ok(doc) => {
                    if let Some(doc) = accept(doc, &location, &self.config, &self.labels, &mut self.report)? {
                        let Inner::Array { numeric_ids, .. } = &mut self.inner else { unreachable!("array") };
                        *numeric_ids += u64::from(numeric);
                        return Ok(Some(doc));
                    }
                }
                Err(fault) => self.bad(&location, fault.reason, &format!("{}: {}", fault.field, fault.what))?,
            }
        }
    }

    fn next_from_lines(&mut self) -> Result<Option<LabeledDocument>> {
        loop {
            let Inner::Lines { input, line, line_no, pending } = &mut self.inner else { unreachable!("lines") };
            let Some(open) = input.as_mut() else {
                return Ok(None);
            };
            let read = read_line_bounded(&mut *open.reader, line, self.config.max_line_bytes)
                .with_context(|| format!("{}:{}: read error", self.path.display(), *line_no + 1))?;
            if read == Line::Eof {
                let record = input.take().expect("open").finish()?;
                self.report.inputs.push(record);
                return Ok(pending.take());
            }
            *line_no += 1;
            let location = format!("{}:{line_no}", self.path.display());
            if read == Line::TooLong {
                let what = format!("line longer than {} bytes (read.max_line_bytes)", self.config.max_line_bytes);
                self.bad(&location, SkipReason::LineTooLong, &what)?;
                continue;
            }
            let mut value: serde_json::Value = match std::str::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => match serde_json::from_str(text) {
                    Ok(value) => value,
                    Err(e) => {
                        self.bad(&location, SkipReason::InvalidJson, &format!("not a JSON record ({e})"))?;
                        continue;
                    }
                },
                Err(e) => {
                    let what = format!("invalid UTF-8 at byte {} of the line", e.valid_up_to());
                    self.bad(&location, SkipReason::InvalidUtf8, &what)?;
                    continue;
                }
            };
            if value.is_array() {
                let what =
                    "a JSON array, not a record: spe reads JSON lines, one record per line (convert with jq -c '.[]')";
                self.bad(&location, SkipReason::JsonArray, what)?;
                continue;
            }
            if let (true, Some(record)) = (self.text_only, value.as_object_mut()) {
                for key in ["ner", "relations", "clusters", "entityMentions", "relationMentions"] {
                    record.remove(key);
                }
            }
            let parsed = match self.format {
                Format::Dygie => dygie::parse(&value),
                Format::Nere | Format::Arnor => sentences::parse(&value, self.format, &self.labels, &mut self.report),
                Format::Brat | Format::Spert => unreachable!("{} is not read by lines", self.format),
            };
            let doc = match parsed {
                Ok(doc) => doc,
                Err(fault) => {
                    self.bad(&location, fault.reason, &format!("{}: {}", fault.field, fault.what))?;
                    continue;
                }
            };
            let Some(doc) = accept(doc, &location, &self.config, &self.labels, &mut self.report)? else { continue };
            if self.format == Format::Dygie {
                return Ok(Some(doc));
            }
            // Sentence formats: consecutive sentences of one article make a document,
            // handed on in parts of at most `read.max_document_sentences` sentences.
            let Inner::Lines { pending, .. } = &mut self.inner else { unreachable!("lines") };
            match pending {
                Some(open) if open.id == doc.id && open.sentences.len() < self.config.max_document_sentences => {
                    open.sentences.extend(doc.sentences);
                }
                Some(open) if open.id == doc.id => {
                    let first_sentence = open.first_sentence + open.sentences.len() as u32;
                    let next = LabeledDocument { first_sentence, ..doc };
                    return Ok(pending.replace(next));
                }
                _ => {
                    if let Some(done) = pending.replace(doc) {
                        return Ok(Some(done));
                    }
                }
            }
        }
    }

    fn bad(&mut self, location: &str, reason: SkipReason, what: &str) -> Result<()> {
        bad_record(self.config.on_bad_record, &mut self.report, location, reason, what)
    }

    /// The input records and skip counts, after the last document.
    pub fn finish(self) -> SourceReport {
        self.report
    }
}
