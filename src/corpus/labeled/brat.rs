//! brat standoff, as Miwa and Bansal (2016) preprocess ACE05: per document, `ID.split.txt`
//! holds one sentence per line and `ID.split.ann` its annotations,
//!
//! ```text
//! T1<TAB>PER 0 10<TAB>John Smith
//! R1<TAB>PHYS Arg1:T1 Arg2:T2
//! ```
//!
//! with offsets in characters of the whole text file (exclusive ends). A split is a file
//! listing its document ids, one per line (`ID.txt` and `ID.ann` are read when there is no
//! `.split` pair).
//!
//! The text is not tokenized in this format; words are cut at whitespace, around each
//! punctuation character (ASCII punctuation and the General Punctuation block, as BERT's
//! basic tokenizer does for them) and at every entity boundary, so each mention covers
//! whole words. An annotation line is the unit of a bad record: a discontinuous entity,
//! one whose text differs from the file's, one across sentences, or an annotation kind
//! other than `T` and `R` is an error, or skipped and counted.

use super::{Entity, LabeledDocument, LabeledSentence, Relation};
use crate::corpus::input::OpenInput;
use crate::corpus::{bad_record, InputRecord, ReadConfig, SkipReason, SourceReport};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a split's id list: `(line number, id)` for each non-blank line.
pub fn read_id_list(path: &Path) -> Result<(Vec<(u64, String)>, InputRecord)> {
    let (text, record) = read_text(path)?;
    let mut ids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if id.contains(char::is_whitespace) {
            bail!("{}:{}: {id:?} is not a document id (it holds whitespace)", path.display(), i + 1);
        }
        ids.push((i as u64 + 1, id.to_string()));
    }
    Ok((ids, record))
}

fn read_text(path: &Path) -> Result<(String, InputRecord)> {
    let mut input = OpenInput::open(path)?;
    let mut text = String::new();
    input.reader.read_to_string(&mut text).with_context(|| format!("{}: cannot read as UTF-8 text", path.display()))?;
    Ok((text, input.finish()?))
}

/// The text and annotation files of document `id` in `dir`.
fn document_files(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    let split = (dir.join(format!("{id}.split.txt")), dir.join(format!("{id}.split.ann")));
    if split.0.exists() {
        return split;
    }
    (dir.join(format!("{id}.txt")), dir.join(format!("{id}.ann")))
}

/// One sentence line: its character range in the file and its text.
struct Line<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}

/// Reads document `id` (listed at `listed_at`) from `dir`. `None` when the document is
/// missing and bad records are skipped.
pub fn read_document(
    dir: &Path,
    id: &str,
    listed_at: &str,
    config: &ReadConfig,
    report: &mut SourceReport,
) -> Result<Option<LabeledDocument>> {
    let (txt_path, ann_path) = document_files(dir, id);
    if !txt_path.exists() || !ann_path.exists() {
        let what = format!("document {id}: {} or {} is missing", txt_path.display(), ann_path.display());
        bad_record(config.on_bad_record, report, listed_at, SkipReason::MissingDocument, &what)?;
        return Ok(None);
    }
    let (text, txt_record) = read_text(&txt_path)?;
    let (ann, ann_record) = read_text(&ann_path)?;
    report.inputs.extend([txt_record, ann_record]);

    // Sentence lines with character offsets (brat counts characters, newlines included).
    let mut lines = Vec::new();
    let mut chars = 0;
    for line in text.split('\n') {
        let n = line.chars().count();
        if !line.trim().is_empty() {
            lines.push(Line { start: chars, end: chars + n, text: line });
        }
        chars += n + 1;
    }
    let mut entities: HashMap<String, (usize, usize, usize, String)> = HashMap::new(); // id -> line, start, end, label
    let mut order = Vec::new();
    let mut relations = Vec::new();
    for (i, raw) in ann.lines().enumerate() {
        let location = format!("{}:{}", ann_path.display(), i + 1);
        let mut bad =
            |reason: SkipReason, what: String| bad_record(config.on_bad_record, report, &location, reason, &what);
        if raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split('\t').collect();
        let ann_id = fields[0];
        match ann_id.chars().next() {
            Some('T') => {
                let (Some(spec), Some(mention)) = (fields.get(1), fields.get(2)) else {
                    bad(
                        SkipReason::BadField,
                        format!("{ann_id}: expected ID, TYPE START END and text separated by tabs"),
                    )?;
                    continue;
                };
                let parts: Vec<&str> = spec.split(' ').collect();
                if spec.contains(';') {
                    bad(
                        SkipReason::DiscontinuousEntity,
                        format!("{ann_id}: discontinuous entities are not supported"),
                    )?;
                    continue;
                }
                let (label, start, end) = match parts.as_slice() {
                    [label, s, e] => (*label, s.parse::<usize>().ok(), e.parse::<usize>().ok()),
                    _ => ("", None, None),
                };
                let (Some(start), Some(end)) = (start, end) else {
                    bad(SkipReason::BadField, format!("{ann_id}: {spec:?} is not TYPE START END"))?;
                    continue;
                };
                if start >= end || end > chars {
                    bad(
                        SkipReason::BadOffsets,
                        format!("{ann_id}: offsets {start}..{end} are empty, reversed or past the text"),
                    )?;
                    continue;
                }
                let Some(line) = lines.iter().position(|l| l.start <= start && end <= l.end) else {
                    bad(
                        SkipReason::EntityAcrossSentences,
                        format!("{ann_id}: offsets {start}..{end} cross a sentence line"),
                    )?;
                    continue;
                };
                let l = &lines[line];
                let found: String = l.text.chars().skip(start - l.start).take(end - start).collect();
                if found != *mention {
                    bad(
                        SkipReason::MismatchedText,
                        format!("{ann_id}: text {mention:?} differs from the file's {found:?}"),
                    )?;
                    continue;
                }
                entities.insert(ann_id.to_string(), (line, start - l.start, end - l.start, label.to_string()));
                order.push(ann_id.to_string());
            }
            Some('R') => {
                let parts: Vec<&str> = fields.get(1).map_or(Vec::new(), |f| f.split(' ').collect());
                let args = |k: &str| parts.iter().find_map(|p| p.strip_prefix(k)).map(str::to_string);
                match (parts.first(), args("Arg1:"), args("Arg2:")) {
                    (Some(label), Some(a1), Some(a2)) if parts.len() == 3 => {
                        relations.push((location.clone(), ann_id.to_string(), label.to_string(), a1, a2))
                    }
                    _ => bad(SkipReason::BadField, format!("{ann_id}: expected TYPE Arg1:T… Arg2:T…"))?,
                }
            }
            _ => bad(
                SkipReason::UnsupportedAnnotation,
                format!("{ann_id}: only entities (T) and relations (R) are read, not {:?}", raw),
            )?,
        }
    }

    // Words of each line, cut at every entity boundary too.
    let mut cuts: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); lines.len()];
    for (line, start, end, _) in entities.values() {
        cuts[*line].extend([*start, *end]);
    }
    let mut sentences: Vec<LabeledSentence> = Vec::new();
    let mut word_bounds = Vec::new(); // per line: (char start -> word index, char end -> word index + 1)
    for (line, cuts) in lines.iter().zip(&cuts) {
        let words = split_words(line.text, cuts);
        let starts: HashMap<usize, u32> = words.iter().enumerate().map(|(i, w)| (w.0, i as u32)).collect();
        let ends: HashMap<usize, u32> = words.iter().enumerate().map(|(i, w)| (w.1, i as u32 + 1)).collect();
        word_bounds.push((starts, ends));
        sentences.push(LabeledSentence { words: words.into_iter().map(|w| w.2).collect(), ..Default::default() });
    }
    // Entity id -> (sentence, index in the sentence's entities).
    let mut placed: HashMap<&str, (usize, u32)> = HashMap::new();
    for ann_id in &order {
        let (line, start, end, label) = &entities[ann_id];
        let (starts, ends) = &word_bounds[*line];
        // Cuts make every mention boundary a word boundary, unless the mention starts or
        // ends in whitespace, which the words never include.
        let (Some(&start), Some(&end)) = (starts.get(start), ends.get(end)) else {
            let location = format!("{}: {ann_id}", ann_path.display());
            let what = "the mention begins or ends with whitespace".to_string();
            bad_record(config.on_bad_record, report, &location, SkipReason::BadOffsets, &what)?;
            continue;
        };
        let entities = &mut sentences[*line].entities;
        placed.insert(ann_id, (*line, entities.len() as u32));
        entities.push(Entity { start, end, label: label.clone() });
    }
    for (location, ann_id, label, a1, a2) in relations {
        let mut bad =
            |reason: SkipReason, what: String| bad_record(config.on_bad_record, report, &location, reason, &what);
        let (Some(&(s1, head)), Some(&(s2, tail))) = (placed.get(a1.as_str()), placed.get(a2.as_str())) else {
            bad(SkipReason::ArgumentNotEntity, format!("{ann_id}: {a1} or {a2} is not an entity of the document"))?;
            continue;
        };
        if s1 != s2 {
            bad(SkipReason::RelationAcrossSentences, format!("{ann_id}: {a1} and {a2} lie in different sentences"))?;
            continue;
        }
        sentences[s1].relations.push(Relation { head, tail, label });
    }
    Ok(Some(LabeledDocument { id: id.to_string(), id_is_number: false, first_sentence: 0, sentences, clusters: 0 }))
}

/// Characters that are words of their own.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || ('\u{2000}'..='\u{206F}').contains(&c) || matches!(c, '«' | '»' | '¡' | '¿')
}

/// Words of `line` as `(char start, char end, text)`, also cut at the char offsets `cuts`.
fn split_words(line: &str, cuts: &BTreeSet<usize>) -> Vec<(usize, usize, String)> {
    let mut words = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let close = |current: &mut Option<(usize, String)>, at: usize, words: &mut Vec<(usize, usize, String)>| {
        if let Some((start, word)) = current.take() {
            words.push((start, at, word));
        }
    };
    for (i, c) in line.chars().enumerate() {
        if cuts.contains(&i) || c.is_whitespace() || is_punctuation(c) {
            close(&mut current, i, &mut words);
        }
        if c.is_whitespace() {
            continue;
        }
        if is_punctuation(c) {
            words.push((i, i + 1, c.to_string()));
            continue;
        }
        current.get_or_insert_with(|| (i, String::new())).1.push(c);
    }
    close(&mut current, line.chars().count(), &mut words);
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::BadRecordPolicy;

    #[test]
    fn words_are_cut_at_spaces_punctuation_and_entity_bounds() {
        let words: Vec<String> =
            split_words("Mr. Smith's firm, AcmeCorp.", &BTreeSet::from([18, 22])).into_iter().map(|w| w.2).collect();
        assert_eq!(words, ["Mr", ".", "Smith", "'", "s", "firm", ",", "Acme", "Corp", "."]);
    }

    fn document(ann: &str, policy: BadRecordPolicy) -> Result<(LabeledDocument, SourceReport)> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("D1.split.txt"), "Smith visited Baghdad.\n\nHis wife stayed home.\n").unwrap();
        std::fs::write(dir.path().join("D1.split.ann"), ann).unwrap();
        let config = ReadConfig { on_bad_record: policy, ..ReadConfig::default() };
        let mut report = SourceReport::default();
        let doc = read_document(dir.path(), "D1", "ids:1", &config, &mut report)?.unwrap();
        Ok((doc, report))
    }

    #[test]
    fn entities_and_relations_map_to_words_of_their_line() {
        let ann = "T1\tPER 0 5\tSmith\nT2\tGPE 14 21\tBaghdad\nT3\tPER 24 27\tHis\nT4\tPER 24 32\tHis wife\n\
                   R1\tPHYS Arg1:T1 Arg2:T2\nR2\tPER-SOC Arg1:T4 Arg2:T3\n";
        let (doc, report) = document(ann, BadRecordPolicy::Error).unwrap();
        assert_eq!(doc.sentences.len(), 2);
        assert_eq!(doc.sentences[0].words, ["Smith", "visited", "Baghdad", "."]);
        assert_eq!(doc.sentences[0].entities[1], Entity { start: 2, end: 3, label: "GPE".into() });
        assert_eq!(doc.sentences[1].entities[1], Entity { start: 0, end: 2, label: "PER".into() });
        assert_eq!(doc.sentences[1].relations, [Relation { head: 1, tail: 0, label: "PER-SOC".into() }]);
        assert_eq!(report.inputs.len(), 2);
    }

    #[test]
    fn bad_annotations_name_the_line_or_are_counted() {
        let ann = "T1\tPER 0 5\tSmyth\nT2\tGPE 14 21;22 23\tBaghdad\nT3\tPER 14 30\tBaghdad.\n\n\
                   T4\tPER 24 27\tHis\nR1\tPHYS Arg1:T1 Arg2:T4\nE1\tAttack:T4\n";
        let err = document(ann, BadRecordPolicy::Error).unwrap_err();
        assert!(format!("{err:#}").contains("D1.split.ann:1: T1: text \"Smyth\" differs"), "{err:#}");
        let (doc, report) = document(ann, BadRecordPolicy::Skip).unwrap();
        assert_eq!(doc.sentences[1].entities.len(), 1);
        let skipped: Vec<(&str, u64)> = report.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            skipped,
            [
                ("argument_not_entity", 1),
                ("discontinuous_entity", 1),
                ("entity_across_sentences", 1),
                ("mismatched_text", 1),
                ("unsupported_annotation", 1)
            ]
        );
    }
}
