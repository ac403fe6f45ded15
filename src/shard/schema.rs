//! The Arrow schema of a shard and the conversions between [`Sample`]s and record batches.
//!
//! The column names and meanings are spe's interface to every consumer (the trainer,
//! pyarrow, DuckDB, polars); [`SCHEMA_VERSION`] changes whenever they do.

use crate::sample::{Inputs, Sample, Span, SpanPair, SpoTarget, TboTarget};
use anyhow::{bail, ensure, Context, Result};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, Int32Array, Int8Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int32Type, Int8Type, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};

/// Version of the column layout, stored in every shard and in the manifest.
pub const SCHEMA_VERSION: u32 = 1;

/// Version of the labeled column layout, stored in every labeled shard and manifest.
pub const LABELED_SCHEMA_VERSION: u32 = 2;

/// Parquet key-value metadata key of the schema version.
pub const META_SCHEMA_VERSION: &str = "spe.schema_version";
/// Parquet key-value metadata key of the tokenizer checksum.
pub const META_TOKENIZER_SHA256: &str = "spe.tokenizer_sha256";
/// Parquet key-value metadata key of the run's configuration (JSON).
pub const META_CONFIG: &str = "spe.config";
/// Parquet key-value metadata key of the corpus reader.
pub const META_CORPUS: &str = "spe.corpus";

/// The non-null item field of a list column.
pub(crate) fn item(data_type: DataType) -> FieldRef {
    Arc::new(Field::new("item", data_type, false))
}

fn spo_fields() -> Fields {
    Fields::from(vec![Field::new("segment", DataType::Int8, false), Field::new("label", DataType::Int8, false)])
}

fn tbo_fields() -> Fields {
    Fields::from(vec![
        Field::new("position", DataType::Int32, false),
        Field::new("label", DataType::Int32, false),
        Field::new("anchor", DataType::Int32, false),
        Field::new("offset", DataType::Int8, false),
    ])
}

/// The schema of a pre-training shard.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let list = |data_type: DataType| DataType::List(item(data_type));
            Arc::new(Schema::new(vec![
                Field::new("doc_id", DataType::Utf8, false),
                Field::new("title", DataType::Utf8, true),
                Field::new("sent_id", DataType::Int32, false),
                Field::new("draw", DataType::Int32, false),
                Field::new("words", list(DataType::Utf8), false),
                Field::new("input_ids", list(DataType::Int32), false),
                Field::new("word_starts", list(DataType::Int32), false),
                Field::new("s1_start", DataType::Int32, false),
                Field::new("s1_end", DataType::Int32, false),
                Field::new("s2_start", DataType::Int32, false),
                Field::new("s2_end", DataType::Int32, false),
                Field::new("spo", list(DataType::Struct(spo_fields())), false),
                Field::new("tbo", list(DataType::Struct(tbo_fields())), false),
                Field::new("target_mask", list(DataType::Boolean), false),
                Field::new("context_mask", list(DataType::Boolean), false),
            ]))
        })
        .clone()
}

/// A list column from per-row lengths and the flattened values.
pub(crate) fn list(lengths: impl Iterator<Item = usize>, values: ArrayRef) -> ArrayRef {
    let field = item(values.data_type().clone());
    Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(lengths), values, None))
}

/// Builds the record batch of `samples`.
pub fn to_batch(samples: &[Sample]) -> Result<RecordBatch> {
    // Each flattened column is sized before it is filled, rather than grown by doubling,
    // which copies it and touches fresh pages each time.
    let flat_i32 = |f: &dyn Fn(&Sample) -> &[i32]| -> ArrayRef {
        let mut values = Vec::with_capacity(samples.iter().map(|s| f(s).len()).sum());
        samples.iter().for_each(|s| values.extend_from_slice(f(s)));
        Arc::new(Int32Array::from(values))
    };
    let flat_bool = |f: &dyn Fn(&Sample) -> &[bool]| -> ArrayRef {
        let mut values = BooleanBufferBuilder::new(samples.iter().map(|s| f(s).len()).sum());
        samples.iter().for_each(|s| values.append_slice(f(s)));
        Arc::new(BooleanArray::new(values.finish(), None))
    };
    let words = {
        // Each sample's words are one buffer: its text is copied whole, its ends shifted.
        let bytes: usize = samples.iter().map(|s| s.words.text().len()).sum();
        ensure!(
            i32::try_from(bytes).is_ok(),
            "a record batch's words take {bytes} bytes, past an Arrow string column's 2 GiB"
        );
        let mut offsets = Vec::with_capacity(1 + samples.iter().map(|s| s.words.len()).sum::<usize>());
        let mut text = Vec::with_capacity(bytes);
        offsets.push(0i32);
        for words in samples.iter().map(|s| &s.words) {
            let base = text.len() as i32;
            offsets.extend(words.ends().iter().map(|&end| base + end as i32));
            text.extend_from_slice(words.text().as_bytes());
        }
        StringArray::try_new(OffsetBuffer::new(offsets.into()), text.into(), None)
            .context("cannot assemble the words column")?
    };
    let per_row =
        |f: &dyn Fn(&Sample) -> i32| -> ArrayRef { Arc::new(Int32Array::from_iter_values(samples.iter().map(f))) };
    let spo = samples.iter().flat_map(|s| &s.inputs.spo);
    let spo_values = StructArray::new(
        spo_fields(),
        vec![
            Arc::new(Int8Array::from_iter_values(spo.clone().map(|t| t.segment))),
            Arc::new(Int8Array::from_iter_values(spo.map(|t| t.label))),
        ],
        None,
    );
    let tbo = samples.iter().flat_map(|s| &s.inputs.tbo);
    let tbo_values = StructArray::new(
        tbo_fields(),
        vec![
            Arc::new(Int32Array::from_iter_values(tbo.clone().map(|t| t.position))),
            Arc::new(Int32Array::from_iter_values(tbo.clone().map(|t| t.label))),
            Arc::new(Int32Array::from_iter_values(tbo.clone().map(|t| t.anchor))),
            Arc::new(Int8Array::from_iter_values(tbo.map(|t| t.offset))),
        ],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(samples.iter().map(|s| &s.doc_id))),
        Arc::new(StringArray::from_iter(samples.iter().map(|s| s.title.as_deref()))),
        per_row(&|s| s.sent_id),
        per_row(&|s| s.draw),
        list(samples.iter().map(|s| s.words.len()), Arc::new(words)),
        list(samples.iter().map(|s| s.inputs.input_ids.len()), flat_i32(&|s| &s.inputs.input_ids)),
        list(samples.iter().map(|s| s.inputs.word_starts.len()), flat_i32(&|s| &s.inputs.word_starts)),
        per_row(&|s| s.inputs.pair.s1.start as i32),
        per_row(&|s| s.inputs.pair.s1.end as i32),
        per_row(&|s| s.inputs.pair.s2.start as i32),
        per_row(&|s| s.inputs.pair.s2.end as i32),
        list(samples.iter().map(|s| s.inputs.spo.len()), Arc::new(spo_values)),
        list(samples.iter().map(|s| s.inputs.tbo.len()), Arc::new(tbo_values)),
        list(samples.iter().map(|s| s.inputs.target_mask.len()), flat_bool(&|s| &s.inputs.target_mask)),
        list(samples.iter().map(|s| s.inputs.context_mask.len()), flat_bool(&|s| &s.inputs.context_mask)),
    ];
    RecordBatch::try_new(schema(), columns).context("cannot assemble a record batch")
}

/// Reads the samples back from a record batch of the shard schema.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Sample>> {
    if batch.schema().fields() != schema().fields() {
        bail!("the columns do not match spe's shard schema version {SCHEMA_VERSION}");
    }
    let (doc_id, title) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
    let (sent_id, draw) = (batch.column(2).as_primitive::<Int32Type>(), batch.column(3).as_primitive::<Int32Type>());
    let words = batch.column(4).as_list::<i32>();
    Ok(inputs_from_batch(batch)?
        .into_iter()
        .enumerate()
        .map(|(row, inputs)| Sample {
            doc_id: doc_id.value(row).to_string(),
            title: title.is_valid(row).then(|| title.value(row).to_string()),
            sent_id: sent_id.value(row),
            draw: draw.value(row),
            words: words.value(row).as_string::<i32>().iter().map(|w| w.unwrap_or("")).collect(),
            inputs,
        })
        .collect())
}

/// The columns of [`Inputs`], the only ones training decodes.
pub const INPUT_COLUMNS: [&str; 10] = [
    "input_ids",
    "word_starts",
    "s1_start",
    "s1_end",
    "s2_start",
    "s2_end",
    "spo",
    "tbo",
    "target_mask",
    "context_mask",
];

/// Reads the [`Inputs`] of each row from a record batch holding at least
/// [`INPUT_COLUMNS`] (a whole shard batch, or one read with only those columns).
pub fn inputs_from_batch(batch: &RecordBatch) -> Result<Vec<Inputs>> {
    let column = |name: &str| batch.column_by_name(name).with_context(|| format!("column {name} is missing"));
    let ints = |name: &str| -> Result<_> { Ok(column(name)?.as_primitive::<Int32Type>().clone()) };
    let lists = |name: &str| -> Result<_> { Ok(column(name)?.as_list::<i32>().clone()) };
    let (input_ids, word_starts) = (lists("input_ids")?, lists("word_starts")?);
    let (s1_start, s1_end, s2_start, s2_end) = (ints("s1_start")?, ints("s1_end")?, ints("s2_start")?, ints("s2_end")?);
    let (spo, tbo, target_mask, context_mask) =
        (lists("spo")?, lists("tbo")?, lists("target_mask")?, lists("context_mask")?);
    let spo_values = spo.values().as_struct();
    let (spo_segment, spo_label) =
        (spo_values.column(0).as_primitive::<Int8Type>(), spo_values.column(1).as_primitive::<Int8Type>());
    let tbo_values = tbo.values().as_struct();
    let tbo_int = |i: usize| tbo_values.column(i).as_primitive::<Int32Type>();
    let (tbo_position, tbo_label, tbo_anchor) = (tbo_int(0), tbo_int(1), tbo_int(2));
    let tbo_offset = tbo_values.column(3).as_primitive::<Int8Type>();
    // Rows are read through the list offsets, without slicing an array per row.
    let range = |list: &ListArray, row: usize| {
        let offsets = list.value_offsets();
        offsets[row] as usize..offsets[row + 1] as usize
    };
    let int_values =
        |list: &ListArray, row: usize| list.values().as_primitive::<Int32Type>().values()[range(list, row)].to_vec();
    let bool_values = |list: &ListArray, row: usize| {
        let values = list.values().as_boolean();
        range(list, row).map(|i| values.value(i)).collect::<Vec<bool>>()
    };
    let span = |start: &Int32Array, end: &Int32Array, row: usize| -> Result<Span> {
        let (s, e) = (start.value(row), end.value(row));
        ensure!(0 <= s && s <= e, "row {row}: span [{s}, {e}) is not a valid word range");
        Ok(Span { start: s as u32, end: e as u32 })
    };
    (0..batch.num_rows())
        .map(|row| {
            Ok(Inputs {
                input_ids: int_values(&input_ids, row),
                word_starts: int_values(&word_starts, row),
                pair: SpanPair { s1: span(&s1_start, &s1_end, row)?, s2: span(&s2_start, &s2_end, row)? },
                spo: range(&spo, row)
                    .map(|i| SpoTarget { segment: spo_segment.value(i), label: spo_label.value(i) })
                    .collect(),
                tbo: range(&tbo, row)
                    .map(|i| TboTarget {
                        position: tbo_position.value(i),
                        label: tbo_label.value(i),
                        anchor: tbo_anchor.value(i),
                        offset: tbo_offset.value(i),
                    })
                    .collect(),
                target_mask: bool_values(&target_mask, row),
                context_mask: bool_values(&context_mask, row),
            })
        })
        .collect()
}

impl super::writer::ShardRow for Sample {
    fn schema() -> SchemaRef {
        schema()
    }
    fn to_batch(rows: &[Sample]) -> Result<RecordBatch> {
        to_batch(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{SampleConfig, Sampled, Sampler};
    use crate::tokenize::tests::cased;

    #[test]
    fn samples_survive_a_round_trip_through_arrow() {
        let t = cased();
        let sampler =
            Sampler::new(SampleConfig { dupe_factor: 3, ..SampleConfig::default() }, t.special_ids()).unwrap();
        let mut out = Sampled::default();
        for (i, text) in
            ["Anarchism is a political philosophy and movement.", "Albedo is the measure of diffuse reflection."]
                .iter()
                .enumerate()
        {
            sampler.sample_sentence(9, "doc#0", i as i32, &t.tokenize(text).unwrap(), &mut out);
        }
        let batch = to_batch(&out.samples).unwrap();
        assert_eq!(batch.num_rows(), 6);
        assert_eq!(from_batch(&batch).unwrap(), out.samples);
        assert_eq!(from_batch(&batch.slice(2, 3)).unwrap(), out.samples[2..5]);
    }
}
