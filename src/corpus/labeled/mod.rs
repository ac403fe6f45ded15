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
mod format;
pub mod label_sets;
mod reader;
pub mod sentences;
pub mod spert;

pub use format::Format;
pub use label_sets::LabelConfig;
pub use reader::LabeledReader;

use super::SkipReason;

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
    /// Whether the release wrote the id as a JSON number (SpERT's `orig_id` in CoNLL04 and
    /// ADE), so that an export writes it back as one.
    pub id_is_number: bool,
    /// Index of the first sentence within the whole document (long documents of sentence
    /// formats arrive in parts).
    pub first_sentence: u32,
    /// The sentences, in order.
    pub sentences: Vec<LabeledSentence>,
    /// Coreference clusters in the release; counted, not kept (no objective uses them).
    pub clusters: u64,
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

/// Checks what every format must hold: at least one word, entity offsets within the
/// sentence and not reversed, labels present, relation arguments among the sentence's
/// entities and two different ones (no extractor predicts a relation of an entity with
/// itself, so one in the gold would be trained on and scored against without ever being
/// found). `field` names the sentence in messages.
pub fn check_sentence(sentence: &LabeledSentence, field: &str) -> Result<(), Fault> {
    let n = sentence.words.len() as u32;
    if n == 0 {
        return Err(Fault::new(field, SkipReason::EmptySentence, "the sentence has no words"));
    }
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
        if r.head == r.tail {
            return Err(Fault::new(
                at(),
                SkipReason::SelfRelation,
                format!("head and tail are the same entity ({}): no extractor relates an entity to itself", r.head),
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
