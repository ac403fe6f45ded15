//! Source readers: each corpus format becomes a stream of [`Document`]s.
//!
//! A reader owns its input files, decompresses them, reports bad records according to the
//! user's [`BadRecordPolicy`], and at the end returns a [`SourceReport`] with a checksum of
//! every input file and the count of every record it skipped.

pub mod books;
pub mod input;
pub mod labeled;
pub mod text;
pub mod wiki;

use crate::counts::{count, Counts};
use crate::partition::{Partition, PartitionRecord};
use serde::{Deserialize, Serialize};

pub use input::InputRecord;

/// The corpora `spe prep` reads: its subcommands, the files `pipelines/NAME.toml`, and the
/// `corpus` its manifests record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusName {
    /// Plain text, one sentence per line.
    Text,
    /// MediaWiki XML dumps.
    Wiki,
    /// Folders of plain-text books.
    Books,
    /// NYT as ARNOR distributes it.
    Nyt,
    /// ACE05.
    Ace05,
    /// SciERC.
    Scierc,
    /// A labeled corpus of the user's.
    Labeled,
}

impl CorpusName {
    /// Every corpus.
    pub const ALL: [CorpusName; 7] = [
        CorpusName::Text,
        CorpusName::Wiki,
        CorpusName::Books,
        CorpusName::Nyt,
        CorpusName::Ace05,
        CorpusName::Scierc,
        CorpusName::Labeled,
    ];

    /// The name on the command line, in `pipelines/` and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            CorpusName::Text => "text",
            CorpusName::Wiki => "wiki",
            CorpusName::Books => "books",
            CorpusName::Nyt => "nyt",
            CorpusName::Ace05 => "ace05",
            CorpusName::Scierc => "scierc",
            CorpusName::Labeled => "labeled",
        }
    }
}

impl std::fmt::Display for CorpusName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an output was prepared from, as its manifest and shards record it: a corpus, or
/// the sentences of a labeled corpus's training split as pre-training text
/// (`--pretrain-out`), recorded as `NAME-text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The corpus itself.
    Corpus(CorpusName),
    /// The sentences of a labeled corpus.
    SentencesOf(CorpusName),
}

impl std::fmt::Display for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prepared::Corpus(corpus) => write!(f, "{corpus}"),
            Prepared::SentencesOf(corpus) => write!(f, "{corpus}-text"),
        }
    }
}

/// Why a record, document or input was skipped: the keys of a manifest's `skipped` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A file in a books folder that is no book (not `.txt`).
    NotABook,
    /// A page or book longer than `read.max_document_bytes`.
    DocumentTooLarge,
    /// An input with no sentence.
    EmptyFile,
    /// A brat annotation file without its text.
    MissingDocument,
    /// Word or character offsets out of order or out of range.
    BadOffsets,
    /// A relation argument that is no entity of the record.
    ArgumentNotEntity,
    /// A field the format requires is absent.
    MissingField,
    /// A field of the wrong type or shape.
    BadField,
    /// A word that is empty or only blanks.
    EmptyWord,
    /// A labeled sentence with no words.
    EmptySentence,
    /// A relation whose head is its tail.
    SelfRelation,
    /// An entity or relation without a type.
    MissingLabel,
    /// A type outside the corpus's label sets.
    UnknownLabel,
    /// A line longer than `read.max_line_bytes`.
    LineTooLong,
    /// A line that is not JSON.
    InvalidJson,
    /// A JSON array where a record was expected.
    JsonArray,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A mention whose text differs from the words at its offsets.
    MismatchedText,
    /// A mention whose text is not among the sentence's words.
    MentionNotFound,
    /// An NYT sentence with no related pair (kept out, as the field does).
    NoRelationPairs,
    /// An NYT sentence whose relations are all marked noise.
    NoiseRelations,
    /// A labeled document with no sentence.
    EmptyDocument,
    /// A brat annotation of a kind spe does not read (events, attributes, notes).
    UnsupportedAnnotation,
    /// A wiki page without an id.
    PageWithoutId,
    /// A wiki page whose id does not follow the one before it.
    RepeatedPage,
    /// A wiki page outside the article namespace.
    NotAnArticle,
    /// A wiki redirect.
    Redirect,
    /// A wiki disambiguation page.
    Disambiguation,
    /// A page or book whose cleaned text holds no sentence of prose.
    TooLittleProse,
    /// A brat entity in several fragments.
    DiscontinuousEntity,
    /// A brat entity that crosses a sentence line.
    EntityAcrossSentences,
    /// A brat relation between two sentences.
    RelationAcrossSentences,
}

impl SkipReason {
    /// The key counted in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotABook => "not_a_book",
            SkipReason::DocumentTooLarge => "document_too_large",
            SkipReason::EmptyFile => "empty_file",
            SkipReason::MissingDocument => "missing_document",
            SkipReason::BadOffsets => "bad_offsets",
            SkipReason::ArgumentNotEntity => "argument_not_entity",
            SkipReason::MissingField => "missing_field",
            SkipReason::BadField => "bad_field",
            SkipReason::EmptyWord => "empty_word",
            SkipReason::EmptySentence => "empty_sentence",
            SkipReason::SelfRelation => "self_relation",
            SkipReason::MissingLabel => "missing_label",
            SkipReason::UnknownLabel => "unknown_label",
            SkipReason::LineTooLong => "line_too_long",
            SkipReason::InvalidJson => "invalid_json",
            SkipReason::JsonArray => "json_array",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::MismatchedText => "mismatched_text",
            SkipReason::MentionNotFound => "mention_not_found",
            SkipReason::NoRelationPairs => "no_relation_pairs",
            SkipReason::NoiseRelations => "noise_relations",
            SkipReason::EmptyDocument => "empty_document",
            SkipReason::UnsupportedAnnotation => "unsupported_annotation",
            SkipReason::PageWithoutId => "page_without_id",
            SkipReason::RepeatedPage => "repeated_page",
            SkipReason::NotAnArticle => "not_an_article",
            SkipReason::Redirect => "redirect",
            SkipReason::Disambiguation => "disambiguation",
            SkipReason::TooLittleProse => "too_little_prose",
            SkipReason::DiscontinuousEntity => "discontinuous_entity",
            SkipReason::EntityAcrossSentences => "entity_across_sentences",
            SkipReason::RelationAcrossSentences => "relation_across_sentences",
        }
    }
}

/// Handles a bad record at `location` (`FILE:LINE`, or `FILE` for the whole file): an
/// error under [`BadRecordPolicy::Error`], a count in `report` under [`BadRecordPolicy::Skip`].
pub fn bad_record(
    policy: BadRecordPolicy,
    report: &mut SourceReport,
    location: &str,
    reason: SkipReason,
    what: &str,
) -> anyhow::Result<()> {
    match policy {
        BadRecordPolicy::Error => {
            anyhow::bail!("{location}: {what} (pass --skip-bad-records to skip and count such records)")
        }
        BadRecordPolicy::Skip => {
            count(&mut report.skipped, reason.as_str(), 1);
            Ok(())
        }
    }
}

/// A document: the unit of parallel work and of the random streams.
///
/// Long documents may arrive in several parts with the same `id`; `first_sentence` is the
/// index of the part's first sentence within the whole document, so sentence ids (and
/// therefore the samples) do not depend on where a document was cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Stable identifier, unique within one output.
    pub id: String,
    /// The document's title, where the corpus has one.
    pub title: Option<String>,
    /// Index of the part's first sentence within the document.
    pub first_sentence: i32,
    /// The text, split into sentences or still to be cleaned and split.
    pub content: Content,
}

/// What a reader hands on: sentences, or raw markup for the workers to clean and split in
/// parallel (see [`crate::clean`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Sentences, in order.
    Sentences(Vec<String>),
    /// A MediaWiki page's wikitext.
    Wikitext(String),
    /// Plain prose, paragraphs separated by blank lines (a book).
    Prose(String),
}

/// What a source read, for the manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceReport {
    /// Every input file with its size and checksum, in reading order.
    pub inputs: Vec<InputRecord>,
    /// Records skipped by reason (only under [`BadRecordPolicy::Skip`]).
    pub skipped: Counts,
}

/// A stream of documents from one corpus.
pub trait Source: Send {
    /// The next document in input order, or `None` after the last one.
    fn next_document(&mut self) -> anyhow::Result<Option<Document>>;
    /// Input bytes read so far and in all, for progress reports (`(0, 0)` if unknown).
    fn progress(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Called once after `next_document` returned `None`.
    fn finish(self: Box<Self>) -> anyhow::Result<SourceReport>;
    /// Keeps only `partition`'s share of the input ([`crate::partition`]), before the
    /// first document is read, and returns what the manifest records of it.
    fn take_share(&mut self, partition: &Partition) -> anyhow::Result<PartitionRecord>;
    /// Whether the reader uses the `labels` configuration (labeled files read as text).
    fn reads_labels(&self) -> bool {
        false
    }
}

/// What to do with a record that cannot be read (invalid UTF-8, a line over the length
/// limit, an empty file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadRecordPolicy {
    /// Stop with an error naming the file and the record.
    #[default]
    Error,
    /// Skip the record and count it in the manifest.
    Skip,
}

/// Configuration of the source readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReadConfig {
    /// What to do with unreadable records.
    pub on_bad_record: BadRecordPolicy,
    /// Longest accepted line in bytes; longer lines are bad records. Bounds memory when an
    /// input has no line breaks.
    pub max_line_bytes: usize,
    /// Documents with more sentences are handed on in parts of this size, which bounds
    /// memory and keeps the workers busy when an input has no document breaks.
    pub max_document_sentences: usize,
    /// Wiki pages and books that are longer are skipped and counted, which bounds memory.
    pub max_document_bytes: usize,
}

impl ReadConfig {
    /// Each limit is memory a reader holds at once (a line, a document's sentences, a page)
    /// and 0 would make every record bad or every sentence a document of its own: a line
    /// of 1 byte to 1 GiB, 1 to 10 million sentences, a page of 1 byte to 4 GiB.
    pub fn check(&self) -> anyhow::Result<()> {
        for (key, value, most) in [
            ("read.max_line_bytes", self.max_line_bytes, 1 << 30),
            ("read.max_document_sentences", self.max_document_sentences, 10_000_000),
            ("read.max_document_bytes", self.max_document_bytes, 1 << 32),
        ] {
            anyhow::ensure!((1..=most).contains(&value), "{key} must lie in [1, {most}], not {value}");
        }
        Ok(())
    }
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            on_bad_record: BadRecordPolicy::Error,
            max_line_bytes: 1 << 20,
            max_document_sentences: 10_000,
            max_document_bytes: 16 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_limits_are_bounded_before_any_work() {
        ReadConfig::default().check().unwrap();
        let none = ReadConfig { max_document_sentences: 0, ..ReadConfig::default() };
        assert_eq!(
            none.check().unwrap_err().to_string(),
            "read.max_document_sentences must lie in [1, 10000000], not 0"
        );
        let huge = ReadConfig { max_line_bytes: usize::MAX, ..ReadConfig::default() };
        assert!(huge.check().unwrap_err().to_string().starts_with("read.max_line_bytes must lie in [1, 1073741824]"));
        let page = ReadConfig { max_document_bytes: 0, ..ReadConfig::default() };
        assert!(page.check().unwrap_err().to_string().starts_with("read.max_document_bytes"));
    }
}
