//! The Arrow schema of a labeled shard (one row per sentence of ACE05, SciERC or NYT, with
//! its entities and relations) and the conversions between [`LabeledRow`]s and batches.

use super::manifest::{LabeledManifest, SplitStats};
use super::schema::{item, list, LABELED_SCHEMA_VERSION};
use super::writer::ShardRow;
use crate::corpus::labeled::{Entity, Relation};
use crate::digest::sha256_file;
use crate::tokenize::SpecialIds;
use anyhow::{bail, ensure, Context, Result};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// One sentence of a labeled corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledRow {
    /// The document's id.
    pub doc_id: String,
    /// Whether the release wrote the id as a JSON number ([`crate::corpus::labeled::LabeledDocument::id_is_number`]).
    pub doc_id_is_number: bool,
    /// The sentence's index within its document.
    pub sent_id: i32,
    /// The words, as released.
    pub words: Vec<String>,
    /// `[CLS]`, each word's sub-tokens, `[SEP]`.
    pub input_ids: Vec<i32>,
    /// Position in `input_ids` of each word's first sub-token.
    pub word_starts: Vec<i32>,
    /// Entity mentions (exclusive word offsets), nested and overlapping ones included.
    pub entities: Vec<Entity>,
    /// Relations between entities, by index into `entities`.
    pub relations: Vec<Relation>,
}

impl LabeledRow {
    /// The invariants every labeled row holds; `Err` describes the first broken one.
    pub fn check(&self, special: &SpecialIds) -> Result<(), String> {
        let ids = &self.input_ids;
        if ids.len() < 2 || ids[0] != special.cls as i32 || ids[ids.len() - 1] != special.sep as i32 {
            return Err("input_ids do not run from [CLS] to [SEP]".into());
        }
        if self.words.is_empty() {
            return Err("the sentence has no words".into());
        }
        if self.word_starts.len() != self.words.len() {
            return Err(format!("{} word_starts for {} words", self.word_starts.len(), self.words.len()));
        }
        let mut previous = 0;
        for &start in &self.word_starts {
            if start <= previous || start as usize >= ids.len() - 1 {
                return Err(format!("word start {start} is out of order or outside the sub-tokens"));
            }
            previous = start;
        }
        let n = self.words.len() as u32;
        if let Some(e) = self.entities.iter().find(|e| e.start >= e.end || e.end > n || e.label.is_empty()) {
            return Err(format!(
                "entity {}..{} {:?} is empty, outside the {n} words or unlabeled",
                e.start, e.end, e.label
            ));
        }
        let m = self.entities.len() as u32;
        if let Some(r) = self.relations.iter().find(|r| r.head >= m || r.tail >= m || r.label.is_empty()) {
            return Err(format!("relation {} -> {} {:?} names no entity or has no label", r.head, r.tail, r.label));
        }
        if let Some(r) = self.relations.iter().find(|r| r.head == r.tail) {
            return Err(format!("relation {} -> {} {:?} relates an entity to itself", r.head, r.tail, r.label));
        }
        Ok(())
    }
}

fn entity_fields() -> Fields {
    Fields::from(vec![
        Field::new("start", DataType::Int32, false),
        Field::new("end", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
    ])
}

fn relation_fields() -> Fields {
    Fields::from(vec![
        Field::new("head", DataType::Int32, false),
        Field::new("tail", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
    ])
}

fn list_of(data_type: DataType) -> DataType {
    DataType::List(item(data_type))
}

impl ShardRow for LabeledRow {
    fn schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new("doc_id", DataType::Utf8, false),
                    Field::new("doc_id_is_number", DataType::Boolean, false),
                    Field::new("sent_id", DataType::Int32, false),
                    Field::new("words", list_of(DataType::Utf8), false),
                    Field::new("input_ids", list_of(DataType::Int32), false),
                    Field::new("word_starts", list_of(DataType::Int32), false),
                    Field::new("entities", list_of(DataType::Struct(entity_fields())), false),
                    Field::new("relations", list_of(DataType::Struct(relation_fields())), false),
                ]))
            })
            .clone()
    }

    fn to_batch(rows: &[LabeledRow]) -> Result<RecordBatch> {
        let ints = |f: &dyn Fn(&LabeledRow) -> &[i32]| -> ArrayRef {
            Arc::new(Int32Array::from_iter_values(rows.iter().flat_map(|r| f(r).iter().copied())))
        };
        let entities = rows.iter().flat_map(|r| &r.entities);
        let entity_values = StructArray::new(
            entity_fields(),
            vec![
                Arc::new(Int32Array::from_iter_values(entities.clone().map(|e| e.start as i32))),
                Arc::new(Int32Array::from_iter_values(entities.clone().map(|e| e.end as i32))),
                Arc::new(StringArray::from_iter_values(entities.map(|e| &e.label))),
            ],
            None,
        );
        let relations = rows.iter().flat_map(|r| &r.relations);
        let relation_values = StructArray::new(
            relation_fields(),
            vec![
                Arc::new(Int32Array::from_iter_values(relations.clone().map(|r| r.head as i32))),
                Arc::new(Int32Array::from_iter_values(relations.clone().map(|r| r.tail as i32))),
                Arc::new(StringArray::from_iter_values(relations.map(|r| &r.label))),
            ],
            None,
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.doc_id))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.doc_id_is_number)))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.sent_id))),
            list(
                rows.iter().map(|r| r.words.len()),
                Arc::new(StringArray::from_iter_values(rows.iter().flat_map(|r| &r.words))),
            ),
            list(rows.iter().map(|r| r.input_ids.len()), ints(&|r| &r.input_ids)),
            list(rows.iter().map(|r| r.word_starts.len()), ints(&|r| &r.word_starts)),
            list(rows.iter().map(|r| r.entities.len()), Arc::new(entity_values)),
            list(rows.iter().map(|r| r.relations.len()), Arc::new(relation_values)),
        ];
        RecordBatch::try_new(Self::schema(), columns).context("cannot assemble a record batch")
    }
}

/// Reads the rows back from a record batch of the labeled schema.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<LabeledRow>> {
    if batch.schema().fields() != LabeledRow::schema().fields() {
        bail!("the columns do not match spe's labeled shard schema version {LABELED_SCHEMA_VERSION}");
    }
    let lists = |i: usize| batch.column(i).as_list::<i32>();
    let (doc_id, doc_id_is_number) = (batch.column(0).as_string::<i32>(), batch.column(1).as_boolean());
    let sent_id = batch.column(2).as_primitive::<Int32Type>();
    let (words, input_ids, word_starts, entities, relations) = (lists(3), lists(4), lists(5), lists(6), lists(7));
    let ints = |l: &ListArray, row: usize| l.value(row).as_primitive::<Int32Type>().values().to_vec();
    // (int, int, label) triples of a struct list's row.
    let triples = |l: &ListArray, row: usize| -> Vec<(u32, u32, String)> {
        let values = l.value(row);
        let s = values.as_struct();
        let (a, b) = (s.column(0).as_primitive::<Int32Type>(), s.column(1).as_primitive::<Int32Type>());
        let label = s.column(2).as_string::<i32>();
        (0..s.len()).map(|i| (a.value(i) as u32, b.value(i) as u32, label.value(i).to_string())).collect()
    };
    Ok((0..batch.num_rows())
        .map(|row| LabeledRow {
            doc_id: doc_id.value(row).to_string(),
            doc_id_is_number: doc_id_is_number.value(row),
            sent_id: sent_id.value(row),
            words: words.value(row).as_string::<i32>().iter().map(|w| w.unwrap_or("").to_string()).collect(),
            input_ids: ints(input_ids, row),
            word_starts: ints(word_starts, row),
            entities: triples(entities, row)
                .into_iter()
                .map(|(start, end, label)| Entity { start, end, label })
                .collect(),
            relations: triples(relations, row)
                .into_iter()
                .map(|(head, tail, label)| Relation { head, tail, label })
                .collect(),
        })
        .collect())
}

/// The rows of the labeled shard at `path`, a record batch at a time, as stored: nothing
/// checks them (`spe verify` reads shards this way to report what is wrong with them).
pub fn read_batches(path: &Path) -> Result<impl Iterator<Item = Result<Vec<LabeledRow>>>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?
        .build()?;
    let path = path.to_path_buf();
    Ok(reader.map(move |batch| {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        from_batch(&batch).with_context(|| path.display().to_string())
    }))
}

/// Hands every row of split `split` of the labeled output in `dir` to `each`, in order.
/// Each shard is first checked against the manifest's record of it (size and SHA-256, so
/// a shard swapped for another split's, or changed since, is refused), and each row
/// against the labeled invariants and the tokenizer's vocabulary, so that an inconsistent
/// row ends the run with the shard and the row named, as `spe verify` reports it.
pub fn for_each_row(
    dir: &Path,
    manifest: &LabeledManifest,
    split: &str,
    mut each: impl FnMut(LabeledRow) -> Result<()>,
) -> Result<()> {
    let record = manifest.splits.get(split).with_context(|| {
        let have: Vec<&str> = manifest.ordered_splits().into_iter().map(|(name, _)| name.as_str()).collect();
        format!("{} has no {split} split (it has {})", dir.display(), have.join(", "))
    })?;
    let special = manifest.tokenizer.special();
    for shard in &record.shards {
        let path = dir.join(&shard.file);
        let bytes = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?.len();
        let sha256 = sha256_file(&path)?;
        ensure!(
            bytes == shard.bytes && sha256 == shard.sha256,
            "{}: {bytes} bytes with SHA-256 {sha256}, but the manifest lists {} bytes with {}: the shard was \
             changed or replaced after it was written (spe verify {} says more)",
            path.display(),
            shard.bytes,
            shard.sha256,
            dir.display()
        );
        let mut index = 0u64;
        for rows in read_batches(&path)? {
            for row in rows? {
                if let Err(what) = row.check(&special).and_then(|()| manifest.tokenizer.check_ids(&row.input_ids)) {
                    bail!("{}: row {index} ({} sentence {}): {what}", path.display(), row.doc_id, row.sent_id);
                }
                each(row)?;
                index += 1;
            }
        }
        ensure!(index == shard.rows, "{}: {index} rows, the manifest lists {}", path.display(), shard.rows);
    }
    Ok(())
}

/// Every row of split `split` of the labeled output in `dir`, in order, checked as
/// [`for_each_row`] checks them.
pub fn read_split(dir: &Path, manifest: &LabeledManifest, split: &str) -> Result<Vec<LabeledRow>> {
    let mut rows = Vec::new();
    for_each_row(dir, manifest, split, |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}

impl SplitStats {
    /// Counts one row (the manifest's statistics of a split); `symmetric` lists the relation types without direction.
    pub fn add(&mut self, row: &LabeledRow, symmetric: &[String]) {
        self.documents += u64::from(row.sent_id == 0);
        self.numeric_ids += u64::from(row.sent_id == 0 && row.doc_id_is_number);
        self.sentences += 1;
        self.words += row.words.len() as u64;
        self.subtokens += row.input_ids.len() as u64;
        self.max_subtokens = self.max_subtokens.max(row.input_ids.len() as u64);
        self.entities += row.entities.len() as u64;
        self.relations += row.relations.len() as u64;
        for e in &row.entities {
            crate::counts::count(&mut self.entity_labels, &e.label, 1);
        }
        for r in &row.relations {
            crate::counts::count(&mut self.relation_labels, &r.label, 1);
        }
        for (i, a) in row.entities.iter().enumerate() {
            let others = row.entities.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, b)| b);
            let same = |b: &&Entity| b.start == a.start && b.end == a.end;
            self.same_span_entities += u64::from(row.entities[..i].iter().any(|b| same(&b)));
            self.nested_entities +=
                u64::from(others.clone().any(|b| !same(&b) && b.start <= a.start && a.end <= b.end));
            self.overlapping_entities += u64::from(others.clone().any(|b| {
                (b.start < a.start && a.start < b.end && b.end < a.end)
                    || (a.start < b.start && b.start < a.end && a.end < b.end)
            }));
        }
        for (i, r) in row.relations.iter().enumerate() {
            if symmetric.contains(&r.label) {
                let spans = |h: u32, t: u32| {
                    let (h, t) = (&row.entities[h as usize], &row.entities[t as usize]);
                    (h.start, h.end, t.start, t.end)
                };
                let (hs, he, ts, te) = spans(r.head, r.tail);
                self.symmetric_both_directions += u64::from(
                    row.relations[..i].iter().any(|o| o.label == r.label && spans(o.head, o.tail) == (ts, te, hs, he)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_round_trip_and_their_checks_catch_faults() {
        let row = LabeledRow {
            doc_id: "D".into(),
            doc_id_is_number: false,
            sent_id: 2,
            words: vec!["Smith".into(), "left".into()],
            input_ids: vec![101, 7, 8, 9, 102],
            word_starts: vec![1, 3],
            entities: vec![
                Entity { start: 0, end: 1, label: "PER".into() },
                Entity { start: 1, end: 2, label: "V".into() },
            ],
            relations: vec![Relation { head: 0, tail: 1, label: "X".into() }],
        };
        let empty = LabeledRow {
            doc_id: "7".into(),
            doc_id_is_number: true,
            entities: vec![],
            relations: vec![],
            ..row.clone()
        };
        let rows = vec![row.clone(), empty];
        assert_eq!(from_batch(&LabeledRow::to_batch(&rows).unwrap()).unwrap(), rows);
        let special = SpecialIds { cls: 101, sep: 102, mask: 103 };
        assert_eq!(row.check(&special), Ok(()));
        let mut bad = row.clone();
        bad.entities[0].end = 3;
        assert!(bad.check(&special).unwrap_err().contains("outside"));
        let mut bad = row.clone();
        bad.relations[0].tail = 2;
        assert!(bad.check(&special).is_err());
        let mut bad = row.clone();
        bad.relations[0].tail = 0;
        assert!(bad.check(&special).unwrap_err().contains("to itself"));
        let mut bad = row;
        bad.word_starts = vec![3, 1];
        assert!(bad.check(&special).is_err());
    }
}
