//! DyGIE / SciERC JSON lines: one document per line,
//!
//! ```json
//! {"doc_key": "…", "sentences": [["w", …], …],
//!  "ner": [[[start, end, "Label"], …], …],
//!  "relations": [[[start1, end1, start2, end2, "Label"], …], …],
//!  "clusters": [[[start, end], …], …]}
//! ```
//!
//! with token offsets counted across the whole document and inclusive ends. `ner` and
//! `relations` hold one list per sentence; other keys (`dataset`, `events`, …) are ignored.
//! A relation names its arguments by their offsets, which must be those of an entity of
//! the same sentence (the first such entity, if several share the offsets).

use super::{Entity, Fault, LabeledDocument, LabeledSentence, Relation};
use crate::corpus::SkipReason;
use serde_json::{json, Value};

/// Parses one line's record.
pub fn parse(value: &Value) -> Result<LabeledDocument, Fault> {
    let id = value
        .get("doc_key")
        .and_then(|k| k.as_str().map(str::to_string).or_else(|| k.as_i64().map(|n| n.to_string())))
        .ok_or_else(|| Fault::new("doc_key", SkipReason::MissingField, "missing, or not a string"))?;
    let raw_sentences = value
        .get("sentences")
        .and_then(Value::as_array)
        .ok_or_else(|| Fault::new("sentences", SkipReason::MissingField, "missing, or not a list"))?;
    let mut sentences = Vec::with_capacity(raw_sentences.len());
    // Document offset of each sentence's first word.
    let mut starts = Vec::with_capacity(raw_sentences.len());
    let mut offset = 0i64;
    for (i, raw) in raw_sentences.iter().enumerate() {
        let words: Option<Vec<String>> =
            raw.as_array().and_then(|ws| ws.iter().map(|w| w.as_str().map(str::to_string)).collect());
        let words = words
            .ok_or_else(|| Fault::new(format!("sentences[{i}]"), SkipReason::BadField, "not a list of strings"))?;
        starts.push(offset);
        offset += words.len() as i64;
        sentences.push(LabeledSentence { words, ..LabeledSentence::default() });
    }
    let per_sentence = |key: &str| -> Result<Vec<Value>, Fault> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(vec![Value::Array(Vec::new()); sentences.len()]),
            Some(Value::Array(lists)) if lists.len() == sentences.len() => Ok(lists.clone()),
            Some(Value::Array(lists)) => Err(Fault::new(
                key,
                SkipReason::BadField,
                format!("{} lists for {} sentences; one per sentence is expected", lists.len(), sentences.len()),
            )),
            Some(_) => Err(Fault::new(key, SkipReason::BadField, "not a list")),
        }
    };
    let ner = per_sentence("ner")?;
    let relations = per_sentence("relations")?;
    for (i, sentence) in sentences.iter_mut().enumerate() {
        let (first, n) = (starts[i], sentence.words.len() as i64);
        // Document offsets `[start, end]` to sentence offsets `start..end + 1`.
        let local = |field: &str, start: i64, end: i64| -> Result<(u32, u32), Fault> {
            if start > end {
                return Err(Fault::new(
                    field,
                    SkipReason::BadOffsets,
                    format!("offsets [{start}, {end}] are reversed"),
                ));
            }
            if start < first || end >= first + n {
                return Err(Fault::new(
                    field,
                    SkipReason::BadOffsets,
                    format!("offsets [{start}, {end}] lie outside sentence {i} (tokens {first}..={})", first + n - 1),
                ));
            }
            Ok(((start - first) as u32, (end - first + 1) as u32))
        };
        let items = |list: &Value, key: &str| -> Result<Vec<Value>, Fault> {
            list.as_array()
                .cloned()
                .ok_or_else(|| Fault::new(format!("{key}[{i}]"), SkipReason::BadField, "not a list"))
        };
        for (j, item) in items(&ner[i], "ner")?.iter().enumerate() {
            let field = format!("ner[{i}][{j}]");
            let (start, end, label) = match item.as_array().map(Vec::as_slice) {
                Some([s, e, l]) => (s.as_i64(), e.as_i64(), l.as_str()),
                _ => (None, None, None),
            };
            let (Some(start), Some(end)) = (start, end) else {
                return Err(Fault::new(
                    field,
                    SkipReason::BadField,
                    format!("expected [start, end, label], found {item}"),
                ));
            };
            let label =
                label.ok_or_else(|| Fault::new(&field, SkipReason::MissingLabel, format!("no label in {item}")))?;
            let (start, end) = local(&field, start, end)?;
            sentence.entities.push(Entity { start, end, label: label.to_string() });
        }
        for (j, item) in items(&relations[i], "relations")?.iter().enumerate() {
            let field = format!("relations[{i}][{j}]");
            let parts = item.as_array().map(Vec::as_slice);
            let Some([s1, e1, s2, e2, label]) = parts else {
                return Err(Fault::new(
                    field,
                    SkipReason::BadField,
                    format!("expected [start1, end1, start2, end2, label], found {item}"),
                ));
            };
            let label = label
                .as_str()
                .ok_or_else(|| Fault::new(&field, SkipReason::MissingLabel, format!("no label in {item}")))?;
            let argument = |s: &Value, e: &Value| -> Result<u32, Fault> {
                let (Some(s), Some(e)) = (s.as_i64(), e.as_i64()) else {
                    return Err(Fault::new(
                        &field,
                        SkipReason::BadField,
                        format!("offsets are not integers in {item}"),
                    ));
                };
                let (start, end) = local(&field, s, e)?;
                sentence.entities.iter().position(|x| x.start == start && x.end == end).map(|p| p as u32).ok_or_else(
                    || {
                        Fault::new(
                            &field,
                            SkipReason::ArgumentNotEntity,
                            format!("argument [{s}, {e}] is not an entity"),
                        )
                    },
                )
            };
            let (head, tail) = (argument(s1, e1)?, argument(s2, e2)?);
            sentence.relations.push(Relation { head, tail, label: label.to_string() });
        }
    }
    let clusters = value.get("clusters").and_then(Value::as_array).map_or(0, |c| c.len() as u64);
    Ok(LabeledDocument { id, id_is_number: false, first_sentence: 0, sentences, clusters })
}

/// `ner` and `relations` of `sentences` as DyGIE writes them: per sentence, with
/// document-wide word offsets and inclusive ends.
fn annotations<'a>(sentences: impl IntoIterator<Item = &'a LabeledSentence>) -> (Vec<Value>, Vec<Value>) {
    let mut offset = 0i64;
    let (mut ner, mut relations) = (Vec::new(), Vec::new());
    for s in sentences {
        let bounds = |e: &Entity| (offset + i64::from(e.start), offset + i64::from(e.end) - 1);
        ner.push(Value::Array(
            s.entities
                .iter()
                .map(|e| {
                    let (start, end) = bounds(e);
                    json!([start, end, e.label])
                })
                .collect(),
        ));
        relations.push(Value::Array(
            s.relations
                .iter()
                .map(|r| {
                    let (hs, he) = bounds(&s.entities[r.head as usize]);
                    let (ts, te) = bounds(&s.entities[r.tail as usize]);
                    json!([hs, he, ts, te, r.label])
                })
                .collect(),
        ));
        offset += s.words.len() as i64;
    }
    (ner, relations)
}

/// The DyGIE record of a document.
pub fn to_json(doc: &LabeledDocument) -> Value {
    let (ner, relations) = annotations(&doc.sentences);
    let sentences: Vec<&Vec<String>> = doc.sentences.iter().map(|s| &s.words).collect();
    json!({"doc_key": doc.id, "sentences": sentences, "ner": ner, "relations": relations})
}

/// The DyGIE record of a document with a prediction for each of its sentences, as
/// `predicted_ner` and `predicted_relations` (the fields PURE's and DyGIE++'s scorers read).
pub fn with_predictions(doc: &LabeledDocument, predicted: &[LabeledSentence]) -> Value {
    let mut value = to_json(doc);
    // The predictions' offsets count the gold sentences' words.
    let placed: Vec<LabeledSentence> = doc
        .sentences
        .iter()
        .zip(predicted)
        .map(|(gold, p)| LabeledSentence { words: gold.words.clone(), ..p.clone() })
        .collect();
    let (ner, relations) = annotations(&placed);
    value["predicted_ner"] = Value::Array(ner);
    value["predicted_relations"] = Value::Array(relations);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Value {
        json!({
            "doc_key": "X01", "clusters": [[[0, 0], [4, 4]]],
            "sentences": [["Tagging", "uses", "HMMs", "."], ["HMMs", "and", "CRFs", "help", "."]],
            "ner": [[[0, 0, "Task"], [2, 2, "Method"]], [[4, 4, "Method"], [6, 6, "Method"], [4, 6, "Method"]]],
            "relations": [[[2, 2, 0, 0, "USED-FOR"]], [[4, 4, 6, 6, "CONJUNCTION"]]]
        })
    }

    #[test]
    fn offsets_become_sentence_local_and_exclusive_and_come_back() {
        let doc = parse(&record()).unwrap();
        assert_eq!(doc.id, "X01");
        assert_eq!(doc.clusters, 1);
        let s = &doc.sentences[1];
        let spans: Vec<_> = s.entities.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(spans, [(0, 1), (2, 3), (0, 3)]);
        assert_eq!(s.relations, [Relation { head: 0, tail: 1, label: "CONJUNCTION".into() }]);
        assert_eq!(doc.sentences[0].relations[0].head, 1);
        let mut expected = record();
        expected.as_object_mut().unwrap().remove("clusters");
        assert_eq!(to_json(&doc), expected);
    }

    #[test]
    fn faults_name_the_field() {
        let cases: [(&str, Value, &str); 6] = [
            ("ner", json!([[[0, 0, "Task"]]]), "ner: 1 lists for 2 sentences"),
            ("ner", json!([[[2, 0, "Task"]], []]), "reversed"),
            ("ner", json!([[[0, 5, "Task"]], []]), "lie outside sentence 0"),
            ("ner", json!([[[0, 0]], []]), "expected [start, end, label]"),
            ("relations", json!([[[1, 1, 0, 0, "USED-FOR"]], []]), "argument [1, 1] is not an entity"),
            ("relations", json!([[[2, 2, 0, 0]], []]), "expected [start1"),
        ];
        for (key, bad, message) in cases {
            let mut value = record();
            value[key] = bad;
            let fault = parse(&value).unwrap_err();
            let text = format!("{}: {}", fault.field, fault.what);
            assert!(text.contains(message), "{text}");
        }
        let fault = parse(&json!({"sentences": []})).unwrap_err();
        assert_eq!(fault.field, "doc_key");
    }
}
