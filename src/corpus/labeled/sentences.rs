//! Sentence JSON lines: one sentence per line with its article's id, in two layouts.
//!
//! NERE (Sun et al. 2019, the paper authors' format): `sentText` is tokenized, its words
//! are split at whitespace, and mentions give word offsets with exclusive ends:
//!
//! ```json
//! {"sentText": "w w w", "articleId": "…", "sentId": "…",
//!  "entityMentions": [{"emId": "1", "text": "w w", "offset": [start, end], "label": "PER"}],
//!  "relationMentions": [{"em1Id": "1", "em2Id": "2", "em1Text": "…", "em2Text": "…", "label": "…"}]}
//! ```
//!
//! ARNOR's NYT (Jia et al. 2019), as the NYT release of Riedel et al. (2010) and CoType
//! distribute it:
//!
//! ```json
//! {"sentId": 1, "articleId": "2", "sentText": "w w w\r\n",
//!  "entityMentions": [{"start": 0, "text": "w w", "label": "PERSON"}],
//!  "relationMentions": [{"em1Text": "w w", "em2Text": "w", "label": "/people/person/place_lived"}]}
//! ```
//!
//! Here `start` is the mention's ordinal (0, 1, 3, … with gaps), not a position: a mention
//! is found by its text. `sentText` is mostly split by spaces, but not always (a quote can
//! be glued to the next word), so the sentence and each mention's text are split into words
//! by the same rule, BERT's basic split at whitespace and around punctuation
//! ([`crate::tokenize::split_words`]), and the mention's words are looked for as a sequence
//! of the sentence's words. A text may occur more than once, and mentions may share a
//! text: the k-th mention with a given text takes the k-th occurrence of it, left to right,
//! and a mention beyond the last occurrence takes the last one (a mention of the same span,
//! counted as such in the manifest). A text that does not occur is a bad record. Relations
//! name their arguments by text, the first mention with that text (a tail of the head's
//! own text, the next such mention: "New York , New York"). The release folds the accents
//! of some arguments' texts where the mention keeps them (`em2Text` "Guantanamo Bay" for
//! the mention "Guantánamo Bay"), so an argument that reads as no mention is matched with
//! both texts' accents folded ([`crate::tokenize::fold_accents`]). Pairs labeled with the
//! no-relation label (`None`, which the release gives every related pair in reverse) are
//! left out and counted, and so are test relations marked `is_noise`.
//!
//! Consecutive lines of one `articleId` make a document; `sentId` is not kept (sentences
//! are numbered in order).

use super::{Entity, Fault, Format, LabelConfig, LabeledDocument, LabeledSentence, Relation};
use crate::corpus::{SkipReason, SourceReport};
use crate::counts::count;
use crate::tokenize::{fold_accents, split_words};
use serde_json::Value;

/// Parses one line's record into a one-sentence document. Relations left out by the
/// configuration (`is_noise`, the no-relation label) are counted in `report`.
pub fn parse(
    value: &Value,
    format: Format,
    labels: &LabelConfig,
    report: &mut SourceReport,
) -> Result<LabeledDocument, Fault> {
    let text = |v: &Value, field: &str| -> Result<String, Fault> {
        match v.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(Fault::new(field, SkipReason::MissingField, "missing, or not a string")),
        }
    };
    let id = text(value, "articleId")?;
    let sent_text = text(value, "sentText")?;
    // NERE's offsets count whitespace tokens; ARNOR's mentions are found among BERT's words.
    let split = |text: &str, field: &str| -> Result<Vec<String>, Fault> {
        match format {
            Format::Nere => Ok(text.split_whitespace().map(str::to_string).collect()),
            _ => Ok(split_words(text)
                .map_err(|e| Fault::new(field, SkipReason::BadField, e.to_string()))?
                .into_iter()
                .map(str::to_string)
                .collect()),
        }
    };
    let words = split(&sent_text, "sentText")?;
    let list = |field: &str| -> Result<Vec<Value>, Fault> {
        match value.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(Fault::new(field, SkipReason::BadField, "not a list")),
        }
    };
    let mut sentence = LabeledSentence { words, ..LabeledSentence::default() };
    let mut ids = Vec::new();
    for (i, mention) in list("entityMentions")?.iter().enumerate() {
        let field = format!("entityMentions[{i}]");
        let at = |key: &str| format!("{field}.{key}");
        let mention_text = mention
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| Fault::new(at("text"), SkipReason::MissingField, "missing, or not a string"))?;
        let mention_words = split(mention_text, &at("text"))?;
        let (start, end) = match format {
            Format::Nere => {
                let offset = mention.get("offset").and_then(Value::as_array).map(Vec::as_slice);
                let (Some(start), Some(end)) = (match offset {
                    Some([s, e]) => (s.as_i64(), e.as_i64()),
                    _ => (None, None),
                }) else {
                    return Err(Fault::new(at("offset"), SkipReason::BadField, "missing, or not word offsets"));
                };
                let n = sentence.words.len() as i64;
                if start < 0 || start >= end || end > n {
                    return Err(Fault::new(
                        at("offset"),
                        SkipReason::BadOffsets,
                        format!("words {start}..{end} are empty, reversed or outside the sentence's {n} words"),
                    ));
                }
                let (start, end) = (start as u32, end as u32);
                let span = &sentence.words[start as usize..end as usize];
                if span != mention_words.as_slice() {
                    return Err(Fault::new(
                        at("text"),
                        SkipReason::MismatchedText,
                        format!("{mention_text:?} differs from words {start}..{end}, {:?}", span.join(" ")),
                    ));
                }
                (start, end)
            }
            _ => {
                let earlier = sentence.entities.iter().filter(|e| words_of(&sentence, e) == mention_words).count();
                let found = occurrences(&sentence.words, &mention_words);
                let Some(&start) = found.get(earlier).or(found.last()) else {
                    return Err(Fault::new(
                        at("text"),
                        SkipReason::MentionNotFound,
                        format!("{mention_text:?} is not among the sentence's words"),
                    ));
                };
                (start, start + mention_words.len() as u32)
            }
        };
        let label = mention.get("label").and_then(Value::as_str).unwrap_or_default();
        if label.trim().is_empty() {
            return Err(Fault::new(at("label"), SkipReason::MissingLabel, "the mention has no label"));
        }
        ids.push(mention.get("emId").map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string)));
        sentence.entities.push(Entity { start, end, label: label.to_string() });
    }
    for (i, relation) in list("relationMentions")?.iter().enumerate() {
        let field = format!("relationMentions[{i}]");
        let at = |key: &str| format!("{field}.{key}");
        let label = relation.get("label").and_then(Value::as_str).unwrap_or_default();
        if label.trim().is_empty() {
            return Err(Fault::new(at("label"), SkipReason::MissingLabel, "the relation has no label"));
        }
        if labels.no_relation.as_deref() == Some(label) {
            count(&mut report.skipped, SkipReason::NoRelationPairs.as_str(), 1);
            continue;
        }
        if relation.get("is_noise").and_then(Value::as_bool) == Some(true) && !labels.keep_noise {
            count(&mut report.skipped, SkipReason::NoiseRelations.as_str(), 1);
            continue;
        }
        let argument = |n: u8, other: Option<u32>| -> Result<u32, Fault> {
            let text_key = format!("em{n}Text");
            let wanted = relation.get(&text_key).and_then(Value::as_str);
            let found = match format {
                Format::Nere => {
                    let id_key = format!("em{n}Id");
                    let id = relation
                        .get(&id_key)
                        .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string))
                        .ok_or_else(|| Fault::new(at(&id_key), SkipReason::MissingField, "missing"))?;
                    let index = ids.iter().position(|m| m.as_deref() == Some(id.as_str())).ok_or_else(|| {
                        Fault::new(
                            at(&id_key),
                            SkipReason::ArgumentNotEntity,
                            format!("no entity mention has emId {id:?}"),
                        )
                    })?;
                    let e = &sentence.entities[index];
                    let words = &sentence.words[e.start as usize..e.end as usize];
                    if let Some(wanted) = wanted {
                        if words.join(" ") != wanted.split_whitespace().collect::<Vec<_>>().join(" ") {
                            return Err(Fault::new(
                                at(&text_key),
                                SkipReason::MismatchedText,
                                format!("{wanted:?} differs from mention {id:?}, {:?}", words.join(" ")),
                            ));
                        }
                    }
                    index
                }
                _ => {
                    let wanted =
                        wanted.ok_or_else(|| Fault::new(at(&text_key), SkipReason::MissingField, "missing"))?;
                    let wanted_words = split(wanted, &at(&text_key))?;
                    let reading = |e: &Entity| words_of(&sentence, e) == wanted_words.as_slice();
                    let folded = fold_accents(&wanted_words.join(" "));
                    let reading_folded = |e: &Entity| fold_accents(&words_of(&sentence, e).join(" ")) == folded;
                    let mut found: Vec<usize> =
                        sentence.entities.iter().enumerate().filter(|(_, e)| reading(e)).map(|(i, _)| i).collect();
                    if found.is_empty() {
                        found = sentence
                            .entities
                            .iter()
                            .enumerate()
                            .filter(|(_, e)| reading_folded(e))
                            .map(|(i, _)| i)
                            .collect();
                    }
                    let first = found.iter().find(|&&i| Some(i as u32) != other).or(found.first());
                    *first.ok_or_else(|| {
                        Fault::new(
                            at(&text_key),
                            SkipReason::ArgumentNotEntity,
                            format!("no entity mention reads {wanted:?}"),
                        )
                    })?
                }
            };
            Ok(found as u32)
        };
        let head = argument(1, None)?;
        let tail = argument(2, Some(head))?;
        sentence.relations.push(Relation { head, tail, label: label.to_string() });
    }
    Ok(LabeledDocument { id, id_is_number: false, first_sentence: 0, sentences: vec![sentence], clusters: 0 })
}

/// The words of entity `e` of `sentence`.
fn words_of<'a>(sentence: &'a LabeledSentence, e: &Entity) -> &'a [String] {
    &sentence.words[e.start as usize..e.end as usize]
}

/// Where `needle` occurs in `words` as a sequence, left to right (overlapping occurrences
/// included); nowhere for an empty needle.
fn occurrences(words: &[String], needle: &[String]) -> Vec<u32> {
    if needle.is_empty() || needle.len() > words.len() {
        return Vec::new();
    }
    words.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nere() -> Value {
        json!({"sentText": "John Smith lives in New York .", "articleId": "A1", "sentId": "0",
            "entityMentions": [
                {"emId": "1", "text": "John Smith", "offset": [0, 2], "label": "PER"},
                {"emId": "2", "text": "New York", "offset": [4, 6], "label": "GPE"}],
            "relationMentions": [{"em1Id": "1", "em2Id": "2", "em1Text": "John Smith", "em2Text": "New York",
                "label": "PHYS"}]})
    }

    /// A line in the release's layout: an integer `sentId`, `start` an ordinal with a gap,
    /// `\r\n` at the end, every related pair also reversed with `None`.
    fn arnor() -> Value {
        json!({"sentId": 3, "articleId": "1", "sentText": "He visited Paris , France .\r\n",
            "entityMentions": [{"start": 0, "label": "LOCATION", "text": "Paris"},
                {"start": 2, "label": "LOCATION", "text": "France"}],
            "relationMentions": [
                {"em1Text": "France", "em2Text": "Paris", "label": "/location/location/contains"},
                {"em1Text": "Paris", "em2Text": "France", "label": "None"},
                {"em1Text": "Paris", "em2Text": "France", "label": "/location/location/contains", "is_noise": true}]})
    }

    fn parse_one(value: &Value, format: Format) -> Result<(LabeledSentence, SourceReport), Fault> {
        let labels = LabelConfig { no_relation: Some("None".into()), ..LabelConfig::default() };
        let mut report = SourceReport::default();
        let doc = parse(value, format, &labels, &mut report)?;
        Ok((doc.sentences.into_iter().next().unwrap(), report))
    }

    #[test]
    fn both_layouts_give_word_offsets_and_entity_indices() {
        let (s, _) = parse_one(&nere(), Format::Nere).unwrap();
        assert_eq!(s.entities[1], Entity { start: 4, end: 6, label: "GPE".into() });
        assert_eq!(s.relations, [Relation { head: 0, tail: 1, label: "PHYS".into() }]);
        let (s, report) = parse_one(&arnor(), Format::Arnor).unwrap();
        assert_eq!(s.entities[0], Entity { start: 2, end: 3, label: "LOCATION".into() });
        assert_eq!(s.relations, [Relation { head: 1, tail: 0, label: "/location/location/contains".into() }]);
        assert_eq!(report.skipped.get("noise_relations"), Some(&1));
        assert_eq!(report.skipped.get("no_relation_pairs"), Some(&1));
    }

    /// As in the real test release: the argument's text folds the mention's accents.
    #[test]
    fn an_argument_folded_of_its_accents_is_its_mention_and_a_repeated_text_the_next_one() {
        let value = json!({"sentId": 7, "articleId": "9",
            "sentText": "Detainees at Guantánamo Bay , Cuba , and in New York , New York .\r\n",
            "entityMentions": [{"start": 0, "label": "LOCATION", "text": "Guantánamo Bay"},
                {"start": 1, "label": "LOCATION", "text": "Cuba"},
                {"start": 2, "label": "LOCATION", "text": "New York"},
                {"start": 3, "label": "LOCATION", "text": "New York"}],
            "relationMentions": [
                {"em1Text": "Cuba", "em2Text": "Guantanamo Bay", "label": "/location/location/contains"},
                {"em1Text": "New York", "em2Text": "New York", "label": "/location/location/contains"}]});
        let (s, _) = parse_one(&value, Format::Arnor).unwrap();
        let relation = |head, tail| Relation { head, tail, label: "/location/location/contains".into() };
        assert_eq!(s.relations, [relation(1, 0), relation(2, 3)]);
        assert_eq!((s.entities[2].start, s.entities[3].start), (9, 12));
        // A text that matches no mention, folded or not, is still refused.
        let mut other = value.clone();
        other["relationMentions"][0]["em2Text"] = json!("Guantanamo Bays");
        assert_eq!(parse_one(&other, Format::Arnor).unwrap_err().reason.as_str(), "argument_not_entity");
    }

    #[test]
    fn arnor_mentions_are_found_by_their_text() {
        // A quote glued to the first word, and a text that occurs twice for two mentions.
        let v = json!({"sentId": 7, "articleId": "2",
            "sentText": "\"Panama City Beach , too , is near Panama City and Panama City Beach .\r\n",
            "entityMentions": [{"start": 0, "label": "LOCATION", "text": "Panama City Beach"},
                {"start": 1, "label": "LOCATION", "text": "Panama City"},
                {"start": 3, "label": "LOCATION", "text": "Panama City Beach"}],
            "relationMentions": [{"em1Text": "Panama City", "em2Text": "Panama City Beach", "label": "/x/y"}]});
        let (s, _) = parse_one(&v, Format::Arnor).unwrap();
        assert_eq!(s.words[..3], ["\"", "Panama", "City"]);
        assert_eq!(s.words.last().map(String::as_str), Some("."));
        let spans: Vec<(u32, u32)> = s.entities.iter().map(|e| (e.start, e.end)).collect();
        // The first "Panama City Beach" is words 1..4, the second its second occurrence;
        // "Panama City" is the first sequence of those words, inside the first mention.
        assert_eq!(spans, [(1, 4), (1, 3), (12, 15)]);
        assert_eq!(s.relations, [Relation { head: 1, tail: 0, label: "/x/y".into() }]);

        // A mention beyond the text's last occurrence takes that occurrence again.
        let mut v = arnor();
        v["entityMentions"].as_array_mut().unwrap().push(json!({"start": 5, "label": "LOCATION", "text": "France"}));
        let (s, _) = parse_one(&v, Format::Arnor).unwrap();
        assert_eq!((s.entities[2].start, s.entities[2].end), (4, 5));

        // A text that is not in the sentence is a fault naming the mention.
        let mut v = arnor();
        v["entityMentions"][1]["text"] = json!("Lyon");
        let fault = parse_one(&v, Format::Arnor).unwrap_err();
        assert_eq!((fault.field.as_str(), fault.reason.as_str()), ("entityMentions[1].text", "mention_not_found"));
        assert!(fault.what.contains("\"Lyon\""), "{}", fault.what);
    }

    #[test]
    fn faults_name_the_field() {
        let mut v = nere();
        v["entityMentions"][1]["offset"] = json!([5, 4]);
        assert_eq!(parse_one(&v, Format::Nere).unwrap_err().field, "entityMentions[1].offset");
        let mut v = nere();
        v["entityMentions"][0]["text"] = json!("Jon Smith");
        assert_eq!(parse_one(&v, Format::Nere).unwrap_err().reason.as_str(), "mismatched_text");
        let mut v = nere();
        v["relationMentions"][0]["em2Id"] = json!("9");
        assert_eq!(parse_one(&v, Format::Nere).unwrap_err().reason.as_str(), "argument_not_entity");
        let mut v = arnor();
        v["relationMentions"][0]["em1Text"] = json!("Lyon");
        let fault = parse_one(&v, Format::Arnor).unwrap_err();
        assert_eq!(
            (fault.field.as_str(), fault.reason.as_str()),
            ("relationMentions[0].em1Text", "argument_not_entity")
        );
        let mut v = arnor();
        v["entityMentions"][0]["label"] = json!("");
        assert_eq!(parse_one(&v, Format::Arnor).unwrap_err().reason.as_str(), "missing_label");
        let mut v = arnor();
        v.as_object_mut().unwrap().remove("articleId");
        assert_eq!(parse_one(&v, Format::Arnor).unwrap_err().field, "articleId");
    }
}
