//! SpERT's JSON (Eberts and Ulges, 2020), the format SpERT and many later papers share
//! their benchmarks in (CoNLL04, SciERC, ADE among them): one JSON array per split, one
//! object per sentence,
//!
//! ```json
//! [{"tokens": ["w", …],
//!   "entities": [{"type": "Label", "start": 0, "end": 2}, …],
//!   "relations": [{"type": "Label", "head": 0, "tail": 1}, …],
//!   "orig_id": "…"}, …]
//! ```
//!
//! with exclusive word offsets within the sentence and relations naming their arguments by
//! index into `entities`. `tokens`, `entities` and `relations` are required, as SpERT's own
//! reader requires them: a misspelt key (`"relation"`) would otherwise read as a sentence
//! without relations. Other keys are ignored. A types file beside the splits
//! (`NAME_types.json`) names the entity and relation types, and which relations are
//! `symmetric`.
//!
//! Each sentence is a document of its own, with `orig_id` (a string or a number) as its
//! id, or its position in the file where it has none. SpERT's conversions change the case
//! of released labels (SciERC's `USED-FOR` is `Used-for` there), so where the corpus has
//! label sets, a label that matches one of them but for ASCII case is read as that label.

use super::{Entity, Fault, LabelConfig, LabeledDocument, LabeledSentence, Relation};
use crate::corpus::input::{InputDigest, OpenInput};
use crate::corpus::SkipReason;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Map, Value};
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError};

/// Parses the record at `index` (0-based) of a split.
pub fn parse(value: &Value, index: u64, labels: &LabelConfig) -> Result<LabeledDocument, Fault> {
    let record = value.as_object().ok_or_else(|| Fault::new("record", SkipReason::BadField, "not a JSON object"))?;
    let id = match record.get("orig_id") {
        None | Some(Value::Null) => index.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(Fault::new("orig_id", SkipReason::BadField, format!("not a string or a number: {other}")))
        }
    };
    let list = |key: &str| -> Result<&[Value], Fault> {
        match record.get(key) {
            Some(Value::Array(items)) => Ok(items),
            None => {
                let keys: Vec<&str> = record.keys().map(String::as_str).collect();
                Err(Fault::new(key, SkipReason::MissingField, format!("missing (the record has {})", keys.join(", "))))
            }
            Some(_) => Err(Fault::new(key, SkipReason::BadField, "not a list")),
        }
    };
    let words: Option<Vec<String>> = list("tokens")?.iter().map(|w| w.as_str().map(str::to_string)).collect();
    let words = words.ok_or_else(|| Fault::new("tokens", SkipReason::BadField, "not a list of strings"))?;
    let field = |item: &Value, at: &str, key: &str| -> Result<Value, Fault> {
        item.get(key).cloned().ok_or_else(|| Fault::new(format!("{at}.{key}"), SkipReason::MissingField, "missing"))
    };
    let offset = |value: Value, at: String| -> Result<u32, Fault> {
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Fault::new(at, SkipReason::BadField, format!("not a word index: {value}")))
    };
    let label = |value: Value, at: String, set: &[String]| -> Result<String, Fault> {
        let text =
            value.as_str().ok_or_else(|| Fault::new(at, SkipReason::BadField, format!("not a string: {value}")))?;
        Ok(canonical(text, set))
    };
    let mut entities = Vec::new();
    for (j, item) in list("entities")?.iter().enumerate() {
        let at = format!("entities[{j}]");
        entities.push(Entity {
            start: offset(field(item, &at, "start")?, format!("{at}.start"))?,
            end: offset(field(item, &at, "end")?, format!("{at}.end"))?,
            label: label(field(item, &at, "type")?, format!("{at}.type"), &labels.entities)?,
        });
    }
    let mut relations = Vec::new();
    for (j, item) in list("relations")?.iter().enumerate() {
        let at = format!("relations[{j}]");
        relations.push(Relation {
            head: offset(field(item, &at, "head")?, format!("{at}.head"))?,
            tail: offset(field(item, &at, "tail")?, format!("{at}.tail"))?,
            label: label(field(item, &at, "type")?, format!("{at}.type"), &labels.relations)?,
        });
    }
    Ok(LabeledDocument {
        id,
        id_is_number: record.get("orig_id").is_some_and(Value::is_number),
        first_sentence: 0,
        sentences: vec![LabeledSentence { words, entities, relations }],
        clusters: 0,
    })
}

/// `label` as the corpus spells it: the member of `set` equal to it but for ASCII case,
/// or `label` itself.
fn canonical(label: &str, set: &[String]) -> String {
    if set.iter().any(|known| known == label) {
        return label.to_string();
    }
    set.iter().find(|known| known.eq_ignore_ascii_case(label)).map_or(label, String::as_str).to_string()
}

/// One sentence as a SpERT record; `id` is written as a number where `numeric_id` says
/// the release wrote it so (and it is one).
pub fn to_json(sentence: &LabeledSentence, id: &str, numeric_id: bool) -> Value {
    let orig_id = match (numeric_id, id.parse::<serde_json::Number>()) {
        (true, Ok(n)) => Value::Number(n),
        _ => Value::String(id.to_string()),
    };
    json!({
        "tokens": sentence.words,
        "entities": sentence.entities.iter().map(|e| json!({"type": e.label, "start": e.start, "end": e.end})).collect::<Vec<_>>(),
        "relations": sentence.relations.iter().map(|r| json!({"type": r.label, "head": r.head, "tail": r.tail})).collect::<Vec<_>>(),
        "orig_id": orig_id,
    })
}

/// A SpERT types file: the entity and relation types, each with whatever SpERT keeps of it
/// (`short`, `verbose`, and for relations `symmetric`).
#[derive(Debug, Clone, PartialEq)]
pub struct Types {
    /// The file as read, kept to be written back by `spe export --format spert`.
    pub value: Value,
    /// Entity types, in name order.
    pub entities: Vec<String>,
    /// Relation types, in name order.
    pub relations: Vec<String>,
    /// Relation types marked `symmetric`.
    pub symmetric: Vec<String>,
}

impl Types {
    /// Reads and checks the types file at `path`.
    pub fn read(path: &Path) -> Result<Types> {
        let text = crate::regular_file::read_to_string(path, "the types file")?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not a JSON types file", path.display()))?;
        Types::of(value).with_context(|| format!("{}: not a SpERT types file", path.display()))
    }

    /// Checks a types file's content.
    pub fn of(value: Value) -> Result<Types> {
        let section = |key: &str| -> Result<&Map<String, Value>> {
            value
                .get(key)
                .and_then(Value::as_object)
                .with_context(|| format!("`{key}` is missing or not an object of types"))
        };
        let entities: Vec<String> = section("entities")?.keys().cloned().collect();
        let mut relations = Vec::new();
        let mut symmetric = Vec::new();
        for (name, info) in section("relations")? {
            match info.get("symmetric") {
                None | Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) => symmetric.push(name.clone()),
                Some(other) => bail!("relations.{name}.symmetric is {other}, not true or false"),
            }
            relations.push(name.clone());
        }
        ensure!(!entities.is_empty(), "`entities` names no type");
        Ok(Types { value, entities, relations, symmetric })
    }

    /// The types file of label sets: each type its own `short` and `verbose` name.
    pub fn from_labels(entities: &[String], relations: &[String], symmetric: &[String]) -> Types {
        let names = |label: &String| json!({"short": label, "verbose": label});
        let value = json!({
            "entities": entities.iter().map(|e| (e.clone(), names(e))).collect::<Map<_, _>>(),
            "relations": relations.iter().map(|r| {
                let mut info = names(r);
                info["symmetric"] = Value::Bool(symmetric.contains(r));
                (r.clone(), info)
            }).collect::<Map<_, _>>(),
        });
        Types { value, entities: entities.to_vec(), relations: relations.to_vec(), symmetric: symmetric.to_vec() }
    }

    /// The label sets of `corpus` with these types: the types themselves where the corpus
    /// has none, or the corpus's own sets, which the types must equal but for ASCII case.
    pub fn apply(&self, labels: &LabelConfig) -> Result<LabelConfig> {
        let mut out = labels.clone();
        for (what, ours, theirs, target) in [
            ("entity", &labels.entities, &self.entities, &mut out.entities),
            ("relation", &labels.relations, &self.relations, &mut out.relations),
        ] {
            if ours.is_empty() {
                target.clone_from(theirs);
                continue;
            }
            let fold = |set: &[String]| {
                let mut set: Vec<String> = set.iter().map(|s| s.to_ascii_lowercase()).collect();
                set.sort();
                set
            };
            ensure!(
                fold(ours) == fold(theirs),
                "the types file's {what} types ({}) are not the corpus's ({})",
                theirs.join(", "),
                ours.join(", ")
            );
        }
        if labels.relations.is_empty() {
            out.symmetric.clone_from(&self.symmetric);
        }
        Ok(out)
    }
}

/// The elements of a file holding one JSON array, parsed one at a time (the file is never
/// held whole); an element of more than `max_bytes` is refused before it is held.
pub(super) struct ArrayRecords {
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
    pub(super) fn open(path: &Path, max_bytes: u64) -> Result<ArrayRecords> {
        let OpenInput { reader, digest } = OpenInput::open(path)?;
        let left = Arc::new(AtomicU64::new(max_bytes));
        let json = JsonStreamReader::new(Bounded { inner: reader, left: left.clone() });
        Ok(ArrayRecords { json, left, max_bytes, digest, started: false })
    }

    /// The next element: `Ok(value)`, `Err(())` for one longer than the budget (which ends
    /// the array: nothing after it can be found), or `None` after the last.
    pub(super) fn next(&mut self, path: &Path) -> Result<Option<Result<Value, ()>>> {
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
    pub(super) fn finish(self, path: &Path) -> Result<crate::corpus::InputRecord> {
        self.left.store(self.max_bytes, Ordering::Relaxed);
        self.json
            .consume_trailing_whitespace()
            .map_err(|e| anyhow::anyhow!("{}: more than one JSON array ({e})", path.display()))?;
        self.digest.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> LabelConfig {
        LabelConfig::for_corpus(crate::corpus::CorpusName::Scierc)
    }

    #[test]
    fn a_record_reads_with_exclusive_offsets_and_entity_indices() {
        let value = json!({"tokens": ["Graph", "unification", "is", "costly"],
            "entities": [{"type": "Task", "start": 0, "end": 2}, {"type": "Metric", "start": 3, "end": 4}],
            "relations": [{"type": "Evaluate-for", "head": 1, "tail": 0}], "orig_id": "P00-1"});
        let doc = parse(&value, 7, &labels()).unwrap();
        assert_eq!(doc.id, "P00-1");
        let s = &doc.sentences[0];
        assert_eq!(s.words, ["Graph", "unification", "is", "costly"]);
        assert_eq!(s.entities[0], Entity { start: 0, end: 2, label: "Task".into() });
        // SpERT's capitalised SciERC label is read as the corpus spells it.
        assert_eq!(s.relations[0], Relation { head: 1, tail: 0, label: "EVALUATE-FOR".into() });
        // Without label sets, labels stay as written.
        let doc = parse(&value, 7, &LabelConfig::default()).unwrap();
        assert_eq!(doc.sentences[0].relations[0].label, "Evaluate-for");
    }

    #[test]
    fn ids_are_strings_numbers_or_the_position() {
        let id = |orig: Value| {
            let mut v = json!({"tokens": ["a"], "entities": [], "relations": []});
            if !orig.is_null() {
                v["orig_id"] = orig;
            }
            parse(&v, 3, &labels()).unwrap().id
        };
        assert_eq!(id(json!("x-1")), "x-1");
        assert_eq!(id(json!(2447)), "2447");
        assert_eq!(id(Value::Null), "3");
        let numeric = |orig: Value| {
            parse(&json!({"tokens": ["a"], "entities": [], "relations": [], "orig_id": orig}), 0, &labels())
                .unwrap()
                .id_is_number
        };
        assert!(numeric(json!(2447)) && !numeric(json!("2447")));
        let doc =
            parse(&json!({"tokens": ["a"], "entities": [], "relations": [], "orig_id": 5}), 0, &labels()).unwrap();
        let back = to_json(&doc.sentences[0], &doc.id, doc.id_is_number);
        assert_eq!(back, json!({"tokens": ["a"], "entities": [], "relations": [], "orig_id": 5}));
        assert_eq!(to_json(&doc.sentences[0], "5", false)["orig_id"], json!("5"));
    }

    #[test]
    fn malformed_records_name_the_field() {
        let fault = |v: Value| parse(&v, 0, &labels()).unwrap_err();
        assert_eq!(fault(json!({"entities": []})).field, "tokens");
        assert_eq!(fault(json!({"tokens": "a b"})).field, "tokens");
        // SpERT's reader requires both lists; a misspelt key is no list of relations.
        let f = fault(json!({"tokens": ["a"], "entities": [], "relation": []}));
        assert_eq!((f.field.as_str(), f.reason.as_str()), ("relations", "missing_field"));
        assert!(f.what.contains("entities, relation, tokens"), "{}", f.what);
        assert_eq!(fault(json!({"tokens": ["a"], "relations": []})).field, "entities");
        assert_eq!(fault(json!({"tokens": ["a"], "entities": null, "relations": []})).reason.as_str(), "bad_field");
        let f = fault(json!({"tokens": ["a"], "entities": [{"type": "Task", "start": 0}], "relations": []}));
        assert_eq!((f.field.as_str(), f.reason.as_str()), ("entities[0].end", "missing_field"));
        let f = fault(json!({"tokens": ["a"], "entities": [{"type": "Task", "start": -1, "end": 1}], "relations": []}));
        assert_eq!(f.field, "entities[0].start");
        let f = fault(json!({"tokens": ["a"], "entities": [], "relations": [{"type": 3, "head": 0, "tail": 0}]}));
        assert_eq!(f.field, "relations[0].type");
        assert_eq!(fault(json!(["a"])).field, "record");
        assert_eq!(fault(json!({"tokens": ["a"], "entities": [], "relations": [], "orig_id": [1]})).field, "orig_id");
    }

    #[test]
    fn types_give_label_sets_or_must_match_the_corpus() {
        let value = json!({"entities": {"Loc": {"short": "Loc", "verbose": "Location"}, "Peop": {}},
            "relations": {"Live_In": {"symmetric": false}, "Kill": {"symmetric": true}}});
        let types = Types::of(value).unwrap();
        let sets = types.apply(&LabelConfig::default()).unwrap();
        assert_eq!(sets.entities.len(), 2);
        assert_eq!(sets.relations.len(), 2);
        assert_eq!(sets.symmetric, ["Kill"]);
        let err = types.apply(&labels()).unwrap_err().to_string();
        assert!(err.contains("are not the corpus's"), "{err}");
        let scierc = labels();
        let spert_case: Vec<String> =
            scierc.relations.iter().map(|r| r[..1].to_string() + &r[1..].to_lowercase()).collect();
        let types = Types::from_labels(&scierc.entities, &spert_case, &[]);
        assert_eq!(types.apply(&scierc).unwrap(), scierc);
        assert!(Types::of(json!({"entities": {}, "relations": {}})).is_err());
        assert!(Types::of(json!({"entities": {"A": {}}, "relations": {"R": {"symmetric": "yes"}}})).is_err());
    }
}
