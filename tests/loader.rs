//! The streaming loader on real shards: every row once per epoch, a seeded order, exact
//! resumption from any row, and clear errors on outputs it cannot read.

mod common;

use common::*;
use spe::batch::shards::ShardSet;
use spe::batch::Batch;
use spe::batch::LoaderConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 150 real sentences as shards of 40 rows in row groups of 10.
fn shards(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let few: String = text.lines().take(150).map(|l| format!("{l}\n")).collect();
    let input = dir.join("few.txt");
    std::fs::write(&input, few).unwrap();
    let out = dir.join("shards");
    prep(&[&input], &out, &["--set", "shard.rows_per_shard=40", "--set", "shard.row_group_rows=10"]);
    out
}

/// The rows of `batches` as their first view's token ids, padding removed.
fn rows_of(batches: &[Batch]) -> Vec<Vec<i64>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.rows {
            let ids = &b.views[1].input_ids[r * b.seq_len..(r + 1) * b.seq_len];
            let len = b.attention_mask[r * b.seq_len..(r + 1) * b.seq_len].iter().sum::<i64>() as usize;
            rows.push(ids[..len].to_vec());
        }
    }
    rows
}

/// [`shards`], opened for the loader.
fn shard_set(dir: &Path) -> (PathBuf, Arc<ShardSet>) {
    let out = shards(dir);
    let set = Arc::new(ShardSet::open(std::slice::from_ref(&out)).unwrap());
    (out, set)
}

fn take(set: &Arc<ShardSet>, config: &LoaderConfig, seed: u64, start: u64, n: usize) -> Vec<Batch> {
    let mut stream = set.stream(config, seed, start).unwrap();
    (0..n).map(|_| stream.next_batch().unwrap()).collect()
}

#[test]
fn an_epoch_holds_every_row_once_in_a_seeded_order() {
    let dir = tempfile::tempdir().unwrap();
    let (out, set) = shard_set(dir.path());
    let rows = set.rows() as usize;
    assert!(rows > 100, "{rows}");
    let config = LoaderConfig { micro_batch: 1, shuffle_row_groups: 3, ..Default::default() };
    let epoch = rows_of(&take(&set, &config, 1, 0, rows));
    // The context view of a row: its ids with the pair masked, which identifies the row.
    let mut expected: Vec<Vec<i64>> = read_rows(&out)
        .iter()
        .map(|s| {
            s.inputs
                .input_ids
                .iter()
                .zip(&s.inputs.target_mask)
                .map(|(&id, &hidden)| if hidden { 103 } else { i64::from(id) })
                .collect()
        })
        .collect();
    let mut seen = epoch.clone();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected, "each row once per epoch");
    let again = rows_of(&take(&set, &config, 1, 0, rows));
    assert_eq!(epoch, again, "the same seed gives the same order");
    assert_ne!(epoch, rows_of(&take(&set, &config, 2, 0, rows)), "another seed, another order");
    let second = rows_of(&take(&set, &config, 1, rows as u64, rows));
    assert_ne!(epoch, second, "the next epoch is shuffled anew");
}

#[test]
fn a_stream_resumed_at_any_row_continues_the_same_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (_, set) = shard_set(dir.path());
    for bucket_by_length in [false, true] {
        let config = LoaderConfig { micro_batch: 7, shuffle_row_groups: 2, bucket_by_length, ..Default::default() };
        let rows = set.rows();
        // Two and a half epochs in micro-batches of 7 rows.
        let n = (rows * 5 / 2 / 7) as usize;
        let whole = rows_of(&take(&set, &config, 9, 0, n));
        for start in [7u64, 35, rows / 7 * 7, (rows + 20) / 7 * 7] {
            let resumed = rows_of(&take(&set, &config, 9, start, n - (start / 7) as usize));
            assert_eq!(resumed, whole[start as usize..], "resumed at row {start}, bucketed: {bucket_by_length}");
        }
        let decoded = LoaderConfig { decode_threads: 2, ..config };
        assert_eq!(rows_of(&take(&set, &decoded, 9, 0, n)), whole, "decoding threads do not change the order");
    }
}

#[test]
fn micro_batches_bucketed_by_length_pad_less_and_still_hold_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, set) = shard_set(dir.path());
    let rows = set.rows() as usize;
    let epoch = |bucket_by_length: bool| {
        let config = LoaderConfig { micro_batch: 8, shuffle_row_groups: 4, bucket_by_length, ..Default::default() };
        take(&set, &config, 3, 0, rows.div_ceil(8))
    };
    let (plain, bucketed) = (epoch(false), epoch(true));
    let padded = |batches: &[Batch]| batches.iter().map(|b| b.rows * b.seq_len).sum::<usize>();
    assert!(
        padded(&bucketed) * 10 < padded(&plain) * 9,
        "bucketed micro-batches compute {} padded tokens, unbucketed {}",
        padded(&bucketed),
        padded(&plain)
    );
    let (mut a, mut b) = (rows_of(&plain), rows_of(&bucketed));
    a.truncate(rows);
    b.truncate(rows);
    assert_ne!(a, b);
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same rows, each once (the last micro-batch runs into the next epoch)");
}

#[test]
fn outputs_that_cannot_be_trained_on_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = shards(dir.path());
    let err = |dirs: &[PathBuf]| format!("{:#}", ShardSet::open(dirs).err().expect("refused"));

    let missing = err(&[dir.path().join("missing")]);
    assert!(missing.contains("not a finished spe pre-training output") && missing.contains("missing does not exist"));
    let labeled = dir.path().join("labeled");
    let train = repo("data/sample/scierc/train.json");
    ok(spe(&["prep", "scierc", "--train", train.to_str().unwrap(), "--out", labeled.to_str().unwrap()]));
    assert!(err(std::slice::from_ref(&labeled)).contains("holds labeled shards, which spe finetune reads"));
    let manifest = out.join("_manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"schema_version\": 1", "\"schema_version\": 99")).unwrap();
    assert!(err(std::slice::from_ref(&out)).contains("schema version 99"), "{}", err(std::slice::from_ref(&out)));
    std::fs::write(&manifest, &text).unwrap();

    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, other.join(path.file_name().unwrap())).unwrap();
    }
    let other_manifest = other.join("_manifest.json");
    let text = std::fs::read_to_string(&other_manifest).unwrap();
    let sha =
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["tokenizer"]["sha256"].as_str().unwrap().to_string();
    std::fs::write(&other_manifest, text.replace(&sha, &"0".repeat(64))).unwrap();
    assert!(err(&[out.clone(), other.clone()]).contains("different tokenizers"));

    let shard = out.join("part-00000.parquet");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    assert!(err(std::slice::from_ref(&out)).contains("part-00000.parquet"), "{}", err(std::slice::from_ref(&out)));
}

#[test]
fn token_ids_outside_the_recorded_vocabulary_are_caught_by_verify_and_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let out = shards(dir.path());
    // A manifest that records fewer vocabulary entries than the shards use, as shards made
    // with a vocabulary listing a token twice once did.
    let path = out.join("_manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["tokenizer"]["vocab_size"] = 1000.into();
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();

    let verified = spe(&["verify", out.to_str().unwrap()]);
    assert!(!verified.status.success());
    let problems = stderr(&verified);
    assert!(problems.contains("lies outside the vocabulary of 1000 entries"), "{problems}");
    // Every row is out of range: the first ten are shown, then a count, and no total is
    // misreported.
    assert!(problems.contains("more rows with problems") && problems.lines().count() < 60, "{problems}");

    let set = Arc::new(ShardSet::open(&[out]).unwrap());
    let err = set.stream(&LoaderConfig::default(), 1, 0).unwrap().next_batch().unwrap_err();
    assert!(format!("{err:#}").contains("outside the vocabulary of 1000 entries the manifest records"), "{err:#}");
}

#[test]
fn an_output_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = shards(dir.path());
    let err = ShardSet::open(&[out.clone(), out.join(".")]).err().unwrap().to_string();
    assert!(err.contains("is given twice"), "{err}");
}
