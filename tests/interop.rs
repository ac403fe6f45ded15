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
    assert_eq!(arrow["directory_rows"], rows.len(), "docs/shards.md's way of reading the directory");
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
    assert_eq!(first["words"], serde_json::json!(r.words.iter().collect::<Vec<_>>()));
    assert_eq!(first["input_ids"], serde_json::json!(r.inputs.input_ids));
    assert_eq!(first["word_starts"], serde_json::json!(r.inputs.word_starts));
    assert_eq!(
        (first["s1_start"].as_u64(), first["s2_end"].as_u64()),
        (Some(u64::from(r.inputs.pair.s1.start)), Some(u64::from(r.inputs.pair.s2.end)))
    );
    assert_eq!(first["target_mask"], serde_json::json!(r.inputs.target_mask));
    assert_eq!(first["context_mask"], serde_json::json!(r.inputs.context_mask));
    let spo: Vec<(i64, i64)> = first["spo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["segment"].as_i64().unwrap(), t["label"].as_i64().unwrap()))
        .collect();
    assert_eq!(spo, r.inputs.spo.iter().map(|t| (i64::from(t.segment), i64::from(t.label))).collect::<Vec<_>>());
    let tbo: Vec<i64> = first["tbo"].as_array().unwrap().iter().map(|t| t["position"].as_i64().unwrap()).collect();
    assert_eq!(tbo, r.inputs.tbo.iter().map(|t| i64::from(t.position)).collect::<Vec<_>>());

    let duck = &seen["duckdb"];
    assert_eq!(duck["rows"], rows.len());
    assert_eq!(duck["tbo_targets"], manifest.totals.tbo_targets);
    assert_eq!(duck["first_len"], r.inputs.input_ids.len());

    let polars = &seen["polars"];
    assert_eq!(polars["rows"], rows.len());
    assert_eq!(
        polars["target_true"],
        rows.iter().map(|s| s.inputs.target_mask.iter().filter(|&&m| m).count()).sum::<usize>()
    );
    assert_eq!(polars["first_words"], serde_json::json!(r.words.iter().collect::<Vec<_>>()));
}

#[test]
fn pyarrow_duckdb_and_polars_read_labeled_shards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let vocab = vocab();
    let mut args = vec!["prep", "scierc", "--out", out.to_str().unwrap(), "--tokenizer", vocab.to_str().unwrap()];
    let (train, dev) = (repo("data/sample/scierc/train.json"), repo("data/sample/scierc/dev.json"));
    args.extend(["--train", train.to_str().unwrap(), "--dev", dev.to_str().unwrap()]);
    let output = spe(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = spe::shard::manifest::LabeledManifest::read(&out).unwrap();
    let stats = &manifest.splits["train"].stats;
    let output =
        Command::new(python()).arg(repo("tests/python/read_labeled.py")).arg(&out).arg("train").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sentences = |split: &str| manifest.splits[split].stats.sentences;
    assert_eq!(seen["pyarrow"]["rows"], serde_json::json!({"train": sentences("train"), "dev": sentences("dev")}));
    assert_eq!(seen["duckdb"]["rows"], stats.sentences);
    assert_eq!(seen["polars"]["rows"], stats.sentences);
    assert_eq!(
        seen["pyarrow"]["types"]["entities"],
        "list<item: struct<start: int32 not null, end: int32 not null, label: string not null> not null>"
    );
    let first = &seen["pyarrow"]["first"];
    assert_eq!(first["doc_id"], "J87-1003");
    assert_eq!(first["entities"][0], serde_json::json!({"start": 0, "end": 1, "label": "Material"}));
    assert_eq!(seen["duckdb"]["entities"], stats.entities);
    assert_eq!(seen["duckdb"]["relations"], stats.relations);
    assert_eq!(seen["polars"]["entity_labels"], serde_json::to_value(&stats.entity_labels).unwrap());
}
