//! Other readers open spe's shards: pyarrow, DuckDB and polars, installed by the test
//! set-up (`scripts/test.sh`) into `.venv`, or the Python named by `SPE_PYTHON`.

mod common;

use common::*;
use serde_json::Value;
use spe::shard::Manifest;
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    let python = std::env::var_os("SPE_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test.sh`, which installs pyarrow, DuckDB and polars, or set SPE_PYTHON",
        python.display()
    );
    python
}

#[test]
fn pyarrow_duckdb_and_polars_read_the_shards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &["--set", "shard.rows_per_shard=400", "--set", "shard.row_group_rows=150"]);
    let manifest = Manifest::read(&out).unwrap();
    let rows = read_rows(&out);
    let output = Command::new(python()).arg(repo("tests/python/read_shards.py")).arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();

    let arrow = &seen["pyarrow"];
    assert_eq!(arrow["rows"], rows.len());
    let columns: Vec<&str> = arrow["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(
        columns,
        [
            "doc_id",
            "title",
            "sent_id",
            "draw",
            "words",
            "input_ids",
            "word_starts",
            "s1_start",
            "s1_end",
            "s2_start",
            "s2_end",
            "spo",
            "tbo",
            "target_mask",
            "context_mask"
        ]
    );
    assert_eq!(arrow["types"]["input_ids"], "list<item: int32 not null>");
    assert_eq!(arrow["types"]["tbo"], "list<item: struct<position: int32 not null, label: int32 not null, anchor: int32 not null, offset: int8 not null> not null>");
    assert_eq!(arrow["types"]["spo"], "list<item: struct<segment: int8 not null, label: int8 not null> not null>");
    assert_eq!(arrow["compression"], "ZSTD");
    assert_eq!(arrow["statistics"], true);
    assert_eq!(arrow["key_value"]["spe.schema_version"], "1");
    assert_eq!(arrow["key_value"]["spe.tokenizer_sha256"], manifest.tokenizer.sha256.as_str());

    // The first row, field by field, as pyarrow decodes it.
    let first = &arrow["first"];
    let r = &rows[0];
    assert_eq!(first["doc_id"], r.doc_id.as_str());
    assert_eq!(first["title"], Value::Null, "text documents have no title");
    assert_eq!(first["sent_id"], r.sent_id);
    assert_eq!(first["words"], serde_json::json!(r.words));
    assert_eq!(first["input_ids"], serde_json::json!(r.input_ids));
    assert_eq!(first["word_starts"], serde_json::json!(r.word_starts));
    assert_eq!(
        (first["s1_start"].as_u64(), first["s2_end"].as_u64()),
        (Some(u64::from(r.pair.s1.start)), Some(u64::from(r.pair.s2.end)))
    );
    assert_eq!(first["target_mask"], serde_json::json!(r.target_mask));
    assert_eq!(first["context_mask"], serde_json::json!(r.context_mask));
    let spo: Vec<(i64, i64)> = first["spo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["segment"].as_i64().unwrap(), t["label"].as_i64().unwrap()))
        .collect();
    assert_eq!(spo, r.spo.iter().map(|t| (i64::from(t.segment), i64::from(t.label))).collect::<Vec<_>>());
    let tbo: Vec<i64> = first["tbo"].as_array().unwrap().iter().map(|t| t["position"].as_i64().unwrap()).collect();
    assert_eq!(tbo, r.tbo.iter().map(|t| i64::from(t.position)).collect::<Vec<_>>());

    let duck = &seen["duckdb"];
    assert_eq!(duck["rows"], rows.len());
    assert_eq!(duck["tbo_targets"], manifest.totals.tbo_targets);
    assert_eq!(duck["first_len"], r.input_ids.len());

    let polars = &seen["polars"];
    assert_eq!(polars["rows"], rows.len());
    assert_eq!(polars["target_true"], rows.iter().map(|s| s.target_mask.iter().filter(|&&m| m).count()).sum::<usize>());
    assert_eq!(polars["first_words"], serde_json::json!(r.words));
}
