//! Labeled corpora: real SciERC documents (data/sample/scierc), a hand-written ACE05-like
//! corpus in the three formats spe reads, and a hand-written NYT corpus in the layout of
//! its real release (made by scripts/make-labeled-fixtures.py).

mod common;

use common::*;
use serde_json::Value;
use spe::shard::labeled::{read_batches, LabeledRow};
use spe::shard::manifest::LabeledManifest;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs `spe prep CORPUS`; every output it writes must pass `spe verify`.
fn labeled(corpus: &str, splits: &[(&str, PathBuf)], out: &Path, extra: &[&str]) -> Output {
    let output = labeled_unverified(corpus, splits, out, extra);
    if output.status.success() {
        verified(out);
        if let Some(at) = extra.iter().position(|a| *a == "--pretrain-out") {
            verified(Path::new(extra[at + 1]));
        }
    }
    output
}

/// Runs `spe prep CORPUS`.
fn labeled_unverified(corpus: &str, splits: &[(&str, PathBuf)], out: &Path, extra: &[&str]) -> Output {
    let vocab = vocab();
    let mut args: Vec<String> = vec!["prep".into(), corpus.into()];
    for (name, path) in splits {
        args.extend([format!("--{name}"), path.display().to_string()]);
    }
    args.extend(["--out".into(), out.display().to_string(), "--tokenizer".into(), vocab.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    spe_within(&args.iter().map(String::as_str).collect::<Vec<_>>(), 120)
}

fn scierc(split: &str) -> PathBuf {
    repo(&format!("data/sample/scierc/{split}.json"))
}

fn scierc_splits() -> Vec<(&'static str, PathBuf)> {
    ["train", "dev", "test"].map(|s| (s, scierc(s))).into()
}

fn rows(dir: &Path, split: &str) -> Vec<LabeledRow> {
    let manifest = LabeledManifest::read(dir).unwrap();
    let mut rows = Vec::new();
    for shard in &manifest.splits[split].shards {
        for batch in read_batches(&dir.join(&shard.file)).unwrap() {
            rows.extend(batch.unwrap());
        }
    }
    rows
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn scierc_counts_match_the_release_and_a_round_trip_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(labeled("scierc", &scierc_splits(), &out, &[]));
    let manifest = LabeledManifest::read(&out).unwrap();
    for (split, _) in scierc_splits() {
        // The release's own counts, read with nothing but a JSON parser.
        let docs = json_lines(&scierc(split));
        let lists = |key: &str| -> usize {
            docs.iter().flat_map(|d| d[key].as_array().unwrap()).map(|s| s.as_array().unwrap().len()).sum()
        };
        let sentences: usize = docs.iter().map(|d| d["sentences"].as_array().unwrap().len()).sum();
        let stats = &manifest.splits[split].stats;
        let found = (stats.documents, stats.sentences, stats.entities, stats.relations);
        assert_eq!(found, (docs.len() as u64, sentences as u64, lists("ner") as u64, lists("relations") as u64));
        assert_eq!(stats.entity_labels.len(), 6, "{split}");
        assert_eq!(rows(&out, split).len(), sentences);
    }
    assert_eq!(manifest.splits["test"].stats.nested_entities, 5);
    assert_eq!(manifest.symmetric_relations, ["COMPARE", "CONJUNCTION"]);

    let back = dir.path().join("back");
    ok(spe(&["export", out.to_str().unwrap(), "--out", back.to_str().unwrap()]));
    for (split, path) in scierc_splits() {
        let mut release = json_lines(&path);
        release.iter_mut().for_each(|d| {
            d.as_object_mut().unwrap().remove("clusters");
        });
        assert_eq!(json_lines(&back.join(format!("{split}.json"))), release, "{split}");
    }
    let verified = ok(spe(&["verify", out.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("3 shards and 155 rows"));
}

#[test]
fn labeled_output_is_identical_at_any_thread_count_and_inspect_shows_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let batches = ["--set", "pipeline.batch_sentences=7"];
    ok(labeled("scierc", &scierc_splits(), &one, &[&batches[..], &["--threads", "1"]].concat()));
    ok(labeled("scierc", &scierc_splits(), &two, &[&batches[..], &["--threads", "2"]].concat()));
    for file in [
        "_manifest.json",
        "split=train/part-00000.parquet",
        "split=dev/part-00000.parquet",
        "split=test/part-00000.parquet",
    ] {
        assert!(std::fs::read(one.join(file)).unwrap() == std::fs::read(two.join(file)).unwrap(), "{file} differs");
    }
    let shown = String::from_utf8(ok(spe(&["inspect", one.to_str().unwrap(), "-n", "1"])).stdout).unwrap();
    assert!(shown.contains("[Recognition of [proper nouns]OtherScientificTerm]Task"), "{shown}");
    assert!(shown.contains("relation PART-OF: \"Recognition of proper nouns\" -> \"morphological analysis\""));
    assert!(shown.contains("relation labels: COMPARE: 3, CONJUNCTION: 4"), "{shown}");
    // Treebank escapes keep their words but get the sub-tokens of the brackets they stand for.
    assert!(shown.contains("-LRB- -LSB- 1 -RSB-") && shown.contains("processing ( [ 1 ] [ 2 ] ) . [SEP]"), "{shown}");
}

fn ace05(layout: &str, split: &str) -> PathBuf {
    let file = if layout == "brat" { format!("{split}.txt") } else { format!("{split}.json") };
    repo(&format!("tests/fixtures/ace05/{layout}/{file}"))
}

#[test]
fn ace05_reads_the_same_from_dygie_nere_and_brat() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for layout in ["dygie", "nere", "brat"] {
        let out = dir.path().join(layout);
        let splits: Vec<_> = ["train", "dev", "test"].map(|s| (s, ace05(layout, s))).into();
        ok(labeled("ace05", &splits, &out, &[]));
        let manifest = LabeledManifest::read(&out).unwrap();
        assert_eq!(manifest.source_format.as_str(), layout, "detected");
        outputs.push((manifest, ["train", "dev", "test"].map(|s| rows(&out, s))));
    }
    for (manifest, rows) in &outputs[1..] {
        assert_eq!(rows, &outputs[0].1);
        assert_eq!(
            manifest.splits.values().map(|s| &s.stats).collect::<Vec<_>>(),
            outputs[0].0.splits.values().map(|s| &s.stats).collect::<Vec<_>>()
        );
    }
    let (manifest, rows) = &outputs[2];
    let first = &rows[0][0];
    assert_eq!(first.words[..4], ["John", "Smith", ",", "a"]);
    assert_eq!(first.entities.len(), 7);
    let train = &manifest.splits["train"].stats;
    assert_eq!((train.documents, train.sentences, train.entities, train.relations), (2, 3, 12, 7));
    // "Baghdad" inside "the Baghdad bureau", "his" inside "his wife".
    assert_eq!(train.nested_entities, 2);
    assert_eq!(train.symmetric_both_directions, 1);
    assert_eq!(manifest.splits["dev"].stats.nested_entities, 1);
    assert_eq!(manifest.symmetric_relations, ["PER-SOC"]);
}

/// Writes `lines` as a split file and runs `spe prep ace05` on it alone.
fn ace05_with(dir: &Path, name: &str, lines: &[String], extra: &[&str]) -> (Output, PathBuf) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = dir.join(format!("{name}-out"));
    (labeled("ace05", &[("train", path.clone())], &out, extra), out)
}

#[test]
fn bad_records_name_file_line_and_field_or_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<String> =
        std::fs::read_to_string(ace05("dygie", "train")).unwrap().lines().map(String::from).collect();
    let nere: Vec<String> =
        std::fs::read_to_string(ace05("nere", "train")).unwrap().lines().map(String::from).collect();
    let edit = |line: &str, f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(line).unwrap();
        f(&mut v);
        v.to_string()
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "out-of-range",
            vec![good[0].clone(), edit(&good[1], &|v| v["ner"][0][0][1] = 40.into())],
            "2: ner[0][0]: offsets [1, 40] lie outside",
        ),
        (
            "reversed",
            vec![edit(&good[0], &|v| v["ner"][0][1][0] = 9.into())],
            "1: ner[0][1]: offsets [9, 4] are reversed",
        ),
        (
            "missing-label",
            vec![edit(&good[0], &|v| v["ner"][1][0] = serde_json::json!([15, 15]))],
            "1: ner[1][0]: expected [start, end, label]",
        ),
        (
            "unknown-label",
            vec![edit(&good[0], &|v| v["ner"][1][0][2] = "PERSON".into())],
            "entity label \"PERSON\" is not one of FAC",
        ),
        (
            "no-entity",
            vec![edit(&good[0], &|v| {
                v["relations"][0][0][0] = 5.into();
                v["relations"][0][0][1] = 5.into();
            })],
            "1: relations[0][0]: argument [5, 5] is not an entity",
        ),
        (
            "truncated",
            vec![good[0].clone(), good[1][..good[1].len() / 2].to_string()],
            "2: not a JSON record (EOF while parsing",
        ),
        (
            "mismatched",
            vec![edit(&nere[0], &|v| v["entityMentions"][0]["text"] = "Jon Smith".into())],
            "1: entityMentions[0].text: \"Jon Smith\" differs from words 0..2",
        ),
    ];
    for (name, lines, message) in &cases {
        let (output, out) =
            ace05_with(dir.path(), name, lines, &["--format", if *name == "mismatched" { "nere" } else { "dygie" }]);
        let err = stderr(&output);
        assert!(
            !output.status.success() && err.contains(&format!("{name}.json:")) && err.contains(message),
            "{name}: {err}"
        );
        assert!(!out.join("_manifest.json").exists(), "{name}");
    }
    // Skipped and counted when asked, the good records kept.
    let (output, out) = ace05_with(dir.path(), "skip", &cases[0].1, &["--skip-bad-records"]);
    ok(output);
    let manifest = LabeledManifest::read(&out).unwrap();
    let train = &manifest.splits["train"];
    assert_eq!(train.stats.documents, 1);
    assert_eq!(train.skipped_records.get("bad_offsets"), Some(&1));

    // An unknown format says so.
    let (output, _) = ace05_with(dir.path(), "unknown", &["{\"text\": \"x\"}".to_string()], &[]);
    assert!(stderr(&output).contains("unknown format"), "{}", stderr(&output));
}

/// The words of every entity of `row`, with its label.
fn entity_words(row: &LabeledRow) -> Vec<(String, &str)> {
    row.entities.iter().map(|e| (row.words[e.start as usize..e.end as usize].join(" "), e.label.as_str())).collect()
}

#[test]
fn nyt_in_its_release_layout_gives_pretraining_text_and_distantly_supervised_labels() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = |split: &str| repo(&format!("tests/fixtures/nyt/{split}.json"));
    let (train, dev, test) = (fixture("train"), fixture("dev"), fixture("test"));
    let vocab = vocab();

    // Pre-training text reads only sentText: the dev file's unknown mention does no harm.
    let text = dir.path().join("text");
    let inputs = [train.to_str().unwrap(), dev.to_str().unwrap()];
    ok(spe(&[
        "prep",
        "nyt",
        "--input",
        inputs[0],
        inputs[1],
        "--out",
        text.to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ]));
    let samples = read_rows(&text);
    let docs: Vec<(&str, i32)> = samples.iter().map(|s| (s.doc_id.as_str(), s.sent_id)).collect();
    assert_eq!(docs, [("1", 0), ("1", 1), ("2", 0), ("4", 0), ("4", 1)]);

    // Labeled shards: the mentions sit on their words, found by text.
    let out = dir.path().join("labeled");
    ok(labeled("nyt", &[("train", train.clone()), ("test", test.clone())], &out, &["--labeled"]));
    let manifest = LabeledManifest::read(&out).unwrap();
    let (train_split, test_split) = (&manifest.splits["train"], &manifest.splits["test"]);
    assert_eq!((train_split.stats.documents, train_split.stats.sentences, train_split.stats.relations), (2, 3, 4));
    assert_eq!(train_split.skipped_records.get("no_relation_pairs"), Some(&4));
    assert_eq!(test_split.skipped_records.get("noise_relations"), Some(&1));
    assert_eq!(test_split.skipped_records.get("no_relation_pairs"), Some(&1));
    assert_eq!(test_split.stats.relations, 1);
    let train_rows = rows(&out, "train");
    let words = |row: &LabeledRow| entity_words(row).into_iter().map(|(w, _)| w).collect::<Vec<_>>();
    assert_eq!(words(&train_rows[0]), ["Boston", "Massachusetts", "Paris", "France"]);
    let contains: Vec<(u32, u32)> = train_rows[0].relations.iter().map(|r| (r.head, r.tail)).collect();
    assert_eq!(contains, [(1, 0), (3, 2)]); // Massachusetts contains Boston, France contains Paris
                                            // The quote glued to "Barack" is a word of its own; the mention starts after it.
    assert_eq!(train_rows[1].words[..3], ["\"", "Barack", "Obama"]);
    assert_eq!((train_rows[1].entities[0].start, train_rows[1].entities[0].end), (1, 3));
    // Two mentions reading "Apple" take its two occurrences; the relation takes the first.
    let apples: Vec<u32> =
        train_rows[2].entities.iter().filter(|e| e.label == "ORGANIZATION").map(|e| e.start).collect();
    assert_eq!(apples, [3, 6]);
    assert_eq!(train_rows[2].relations[0].tail, 1);
    ok(spe(&["verify", out.to_str().unwrap()]));

    // The export reads back as the same rows.
    let back = dir.path().join("back");
    ok(spe(&["export", out.to_str().unwrap(), "--out", back.to_str().unwrap()]));
    let again = dir.path().join("again");
    let exported = [("train", back.join("train.json")), ("test", back.join("test.json"))];
    ok(labeled("nyt", &exported, &again, &["--labeled", "--format", "dygie"]));
    for split in ["train", "test"] {
        let strip = |rows: Vec<LabeledRow>| -> Vec<_> {
            rows.into_iter().map(|r| (r.doc_id, r.sent_id, r.words, r.entities, r.relations)).collect()
        };
        assert_eq!(strip(rows(&again, split)), strip(rows(&out, split)), "{split}");
    }

    // A mention whose text is not in its sentence is named, or skipped and counted.
    let bad = dir.path().join("bad");
    let output = labeled("nyt", &[("dev", dev.clone())], &bad, &["--labeled"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("dev.json:2: entityMentions[1].text: \"Fenway Stadium\" is not among the sentence's words"),
        "{message}"
    );
    ok(labeled("nyt", &[("dev", dev)], &bad, &["--labeled", "--skip-bad-records"]));
    let manifest = LabeledManifest::read(&bad).unwrap();
    assert_eq!(manifest.splits["dev"].skipped_records.get("mention_not_found"), Some(&1));
    assert_eq!(manifest.splits["dev"].stats.sentences, 1);
}

#[test]
fn force_leaves_no_split_of_the_run_before_and_verify_fails_on_a_folder_it_does_not_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(labeled("scierc", &scierc_splits(), &out, &[]));
    ok(labeled("scierc", &[("train", scierc("train"))], &out, &["--force"]));
    assert!(!out.join("split=test").exists() && !out.join("split=dev").exists(), "stale splits were left");
    ok(spe(&["verify", out.to_str().unwrap()]));
    // A folder the manifest does not list, as a Parquet reader of the directory would read it.
    std::fs::create_dir(out.join("split=extra")).unwrap();
    std::fs::copy(out.join("split=train/part-00000.parquet"), out.join("split=extra/part-00000.parquet")).unwrap();
    let output = spe(&["verify", out.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("split=extra"), "{}", stderr(&output));
    // --force clears it too, and leaves a folder of the user's own alone (which verify,
    // as it should, reports).
    std::fs::create_dir(out.join("notes")).unwrap();
    std::fs::write(out.join("notes/mine.txt"), "mine").unwrap();
    ok(labeled_unverified("scierc", &[("train", scierc("train"))], &out, &["--force"]));
    assert!(!out.join("split=extra").exists() && out.join("notes/mine.txt").exists());
}

#[test]
fn documents_given_twice_or_shared_by_splits_are_refused_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The same file as train and test: every document is in both.
    let shared = [("train", scierc("train")), ("test", scierc("train"))];
    let output = labeled("scierc", &shared, &out, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("split test"), "{message}");
    assert!(message.contains("document J87-1003 repeats document J87-1003 of split train (the same id)"), "{message}");
    assert!(!out.join("_manifest.json").exists());
    ok(labeled("scierc", &shared, &out, &["--allow-split-overlap", "--force"]));
    let manifest = LabeledManifest::read(&out).unwrap();
    assert_eq!(manifest.splits["test"].stats.split_overlap, 10);
    assert_eq!(manifest.splits["train"].stats.split_overlap, 0);
    ok(spe(&["verify", out.to_str().unwrap()]));

    // The same words under another doc_key, and a line given twice within a split.
    let lines: Vec<String> = std::fs::read_to_string(scierc("train")).unwrap().lines().map(String::from).collect();
    let renamed = dir.path().join("renamed.json");
    std::fs::write(&renamed, format!("{}\n", lines[0].replace("J87-1003", "other-key"))).unwrap();
    let output = labeled("scierc", &[("train", scierc("train")), ("dev", renamed)], &dir.path().join("a"), &[]);
    let message = stderr(&output);
    assert!(
        message.contains("document other-key repeats document J87-1003 of split train (the same words)"),
        "{message}"
    );
    // A release's own repeats within a split are data as the field scores it: kept and
    // counted without a flag, and said in the summary.
    let twice = dir.path().join("twice.json");
    std::fs::write(&twice, format!("{}\n{}\n{}\n", lines[0], lines[1], lines[0])).unwrap();
    let counted = dir.path().join("c");
    let output = ok(labeled("scierc", &[("train", twice)], &counted, &[]));
    let summary = String::from_utf8_lossy(&output.stdout).to_string() + &stderr(&output);
    assert!(summary.contains("1 document repeated within the split (kept)"), "{summary}");
    let stats = &LabeledManifest::read(&counted).unwrap().splits["train"].stats;
    assert_eq!((stats.documents, stats.duplicate_documents), (3, 1));

    // An empty split file is an error, not an empty split.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let output = labeled("scierc", &[("train", scierc("train")), ("dev", empty)], &dir.path().join("d"), &[]);
    assert!(
        stderr(&output).contains("split dev") && stderr(&output).contains("holds no sentence"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn in_domain_pretraining_shards_come_from_the_training_split() {
    let dir = tempfile::tempdir().unwrap();
    let (out, text) = (dir.path().join("out"), dir.path().join("text"));
    ok(labeled("scierc", &scierc_splits(), &out, &["--pretrain-out", text.to_str().unwrap()]));
    let samples = read_rows(&text);
    let docs: std::collections::BTreeSet<&str> = samples.iter().map(|s| s.doc_id.as_str()).collect();
    assert_eq!(docs.len(), 10);
    assert!(docs.contains("J87-1003"));
    ok(spe(&["verify", text.to_str().unwrap()]));
    // One output in the other's place is refused before either is written, --force or not.
    let manifest = std::fs::read(out.join("_manifest.json")).unwrap();
    for (labeled_out, pretrain_out) in [(out.clone(), out.clone()), (out.clone(), out.join("text"))] {
        let args = ["--pretrain-out", pretrain_out.to_str().unwrap(), "--force"];
        let refused = labeled("scierc", &scierc_splits(), &labeled_out, &args);
        assert!(!refused.status.success() && stderr(&refused).contains("--pretrain-out"), "{}", stderr(&refused));
    }
    assert_eq!(std::fs::read(out.join("_manifest.json")).unwrap(), manifest, "the labeled output is intact");
}

#[test]
fn verify_source_checks_local_copies_against_data_manifests() {
    let root = repo(".");
    for manifest in ["enwiki-sample", "bert-base-cased-vocab", "scierc-sample"] {
        let path = repo(&format!("data-manifests/{manifest}.toml"));
        ok(spe(&["verify-source", path.to_str().unwrap(), root.to_str().unwrap()]));
    }
    // The full SciERC manifest against the sample: every count differs.
    let output = spe(&[
        "verify-source",
        repo("data-manifests/scierc.toml").to_str().unwrap(),
        repo("data/sample/scierc").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("train.json: documents is 10, the manifest says 350"), "{}", stderr(&output));
    // A changed file is caught.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("data/sample/scierc");
    std::fs::create_dir_all(&copy).unwrap();
    for split in ["train", "dev"] {
        std::fs::copy(scierc(split), copy.join(format!("{split}.json"))).unwrap();
    }
    let mut test = std::fs::read_to_string(scierc("test")).unwrap();
    test = test.replacen("\"Method\"", "\"Task\"", 1);
    std::fs::write(copy.join("test.json"), test).unwrap();
    let output = spe(&[
        "verify-source",
        repo("data-manifests/scierc-sample.toml").to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("test.json: sha256 is"), "{}", stderr(&output));
    // Every shipped data manifest parses.
    for entry in std::fs::read_dir(repo("data-manifests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            spe::sources::SourceManifest::read(&path).unwrap();
        }
    }
}

fn spert_fixture(name: &str) -> PathBuf {
    repo(&format!("tests/fixtures/spert/{name}"))
}

#[test]
fn spert_json_is_detected_read_and_written_back_exactly_with_its_types() {
    // Twelve sentences of SciERC's test split as SpERT-format releases share it (one JSON
    // array, capitalised relation types, brackets unescaped), with its real types file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let test = spert_fixture("scierc_test.json");
    let types = spert_fixture("scierc_types.json");
    let types_arg = ["--types", types.to_str().unwrap()];
    let output = ok(labeled("labeled", &[("test", test.clone())], &out, &types_arg));
    let summary = String::from_utf8_lossy(&output.stdout).to_string() + &stderr(&output);
    assert!(summary.contains("labeled (spert format)"), "{summary}");
    let manifest = LabeledManifest::read(&out).unwrap();
    let release: Value = serde_json::from_str(&std::fs::read_to_string(&test).unwrap()).unwrap();
    let release = release.as_array().unwrap();
    let stats = &manifest.splits["test"].stats;
    let count = |key: &str| release.iter().map(|s| s[key].as_array().unwrap().len() as u64).sum::<u64>();
    assert_eq!((stats.sentences, stats.entities, stats.relations), (12, count("entities"), count("relations")));
    assert_eq!(manifest.symmetric_relations, ["Compare", "Conjunction"]);
    assert_eq!(rows(&out, "test")[0].doc_id, release[0]["orig_id"].as_str().unwrap());

    let back = dir.path().join("back");
    ok(spe(&["export", out.to_str().unwrap(), "--out", back.to_str().unwrap(), "--format", "spert"]));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(back.join("test.json")).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap(), release);
    let types_back: Value = serde_json::from_str(&std::fs::read_to_string(back.join("types.json")).unwrap()).unwrap();
    assert_eq!(types_back, serde_json::from_str::<Value>(&std::fs::read_to_string(&types).unwrap()).unwrap());

    // As SciERC, the same file needs no flag, and its labels read as SciERC spells them.
    let scierc_out = dir.path().join("scierc");
    ok(labeled("scierc", &[("test", test)], &scierc_out, &[]));
    let labels = &LabeledManifest::read(&scierc_out).unwrap().splits["test"].stats.relation_labels;
    assert!(labels.keys().all(|l| l.chars().all(|c| !c.is_lowercase())), "{labels:?}");
    // A types file that disagrees with SciERC's types is refused by name.
    let other = dir.path().join("other_types.json");
    std::fs::write(&other, r#"{"entities": {"Loc": {}}, "relations": {"Kill": {}}}"#).unwrap();
    let refused = labeled(
        "scierc",
        &[("test", spert_fixture("scierc_test.json"))],
        &dir.path().join("x"),
        &["--types", other.to_str().unwrap()],
    );
    assert!(stderr(&refused).contains("are not the corpus's"), "{}", stderr(&refused));
}

#[test]
fn spert_numeric_ids_repeats_and_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let sentence = |id: u64, words: &str| {
        let tokens: Vec<&str> = words.split(' ').collect();
        serde_json::json!({"tokens": tokens, "entities": [{"type": "Drug", "start": 0, "end": 1},
            {"type": "Effect", "start": 2, "end": 3}], "relations": [{"type": "Causes", "head": 0, "tail": 1}],
            "orig_id": id})
    };
    // Written as json.dump writes, and a sentence repeated under another id, as ADE's
    // training split holds one.
    let train = dir.path().join("ade_train.json");
    let records = [
        sentence(83, "aspirin caused nausea ."),
        sentence(91, "heparin induced bleeding"),
        sentence(112, "aspirin caused nausea ."),
    ];
    std::fs::write(&train, serde_json::to_string(&records).unwrap().replace(",\"", ", \"")).unwrap();
    let out = dir.path().join("out");
    ok(labeled("labeled", &[("train", train.clone())], &out, &["--format", "spert"]));
    let stats = &LabeledManifest::read(&out).unwrap().splits["train"].stats;
    assert_eq!((stats.documents, stats.duplicate_documents, stats.numeric_ids), (3, 1, 3));
    let back = dir.path().join("back");
    ok(spe(&["export", out.to_str().unwrap(), "--out", back.to_str().unwrap(), "--format", "spert"]));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(back.join("train.json")).unwrap()).unwrap();
    assert_eq!(written, Value::Array(records.to_vec()));
    // Without a types file, the types are the labels the splits hold.
    let types: Value = serde_json::from_str(&std::fs::read_to_string(back.join("types.json")).unwrap()).unwrap();
    assert_eq!(types["relations"]["Causes"]["symmetric"], Value::Bool(false));
    assert!(types["entities"].get("Drug").is_some() && types["entities"].get("Effect").is_some());

    // A bad record is named by file and position, or skipped and counted.
    let bad = dir.path().join("bad.json");
    let mut broken = records.to_vec();
    broken[1]["entities"][0]["end"] = serde_json::json!(9);
    std::fs::write(&bad, serde_json::to_string(&broken).unwrap()).unwrap();
    let refused = labeled("labeled", &[("train", bad.clone())], &dir.path().join("r"), &[]);
    let message = stderr(&refused);
    assert!(message.contains("bad.json: record 2: sentence 0 entity 0: offsets 0..9 lie outside"), "{message}");
    let skipped = dir.path().join("s");
    ok(labeled("labeled", &[("train", bad)], &skipped, &["--skip-bad-records"]));
    let split = &LabeledManifest::read(&skipped).unwrap().splits["train"];
    assert_eq!((split.stats.sentences, split.skipped_records.get("bad_offsets")), (2, Some(&1)));
    // Broken JSON stops the run with the file named; so does a record over the line bound.
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &serde_json::to_string(&records).unwrap()[..150]).unwrap();
    let refused = labeled("labeled", &[("train", cut)], &dir.path().join("c"), &["--format", "spert"]);
    assert!(stderr(&refused).contains("cut.json: not a JSON array of records"), "{}", stderr(&refused));
    let long = dir.path().join("long.json");
    std::fs::write(&long, serde_json::to_string(&records).unwrap()).unwrap();
    let refused = labeled("labeled", &[("train", long)], &dir.path().join("l"), &["--set", "read.max_line_bytes=40"]);
    assert!(stderr(&refused).contains("long.json: record 1: longer than 40 bytes"), "{}", stderr(&refused));
}

#[test]
fn the_bundled_sample_goes_through_spert_json_and_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (first, spert, second) = (dir.path().join("a"), dir.path().join("spert"), dir.path().join("b"));
    ok(labeled("scierc", &scierc_splits(), &first, &[]));
    ok(spe(&["export", first.to_str().unwrap(), "--out", spert.to_str().unwrap(), "--format", "spert"]));
    let splits: Vec<(&str, PathBuf)> = ["train", "dev", "test"].map(|s| (s, spert.join(format!("{s}.json")))).into();
    ok(labeled("scierc", &splits, &second, &["--types", spert.join("types.json").to_str().unwrap()]));
    for (split, _) in scierc_splits() {
        let (a, b) = (rows(&first, split), rows(&second, split));
        assert_eq!(a.len(), b.len(), "{split}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.words, &x.entities, &x.relations, &x.input_ids),
                (&y.words, &y.entities, &y.relations, &y.input_ids)
            );
            assert_eq!(y.doc_id, format!("{}_{}", x.doc_id, x.sent_id));
        }
    }
}

/// Rewrites the first shard of `split` with `rows` and records it in the manifest, as if
/// spe had written it: only the rows' own consistency is then wrong.
fn replace_shard(dir: &Path, split: &str, rows: &[LabeledRow]) {
    use spe::shard::writer::ShardRow;
    let mut manifest = LabeledManifest::read(dir).unwrap();
    let record = &mut manifest.splits.get_mut(split).unwrap().shards[0];
    let path = dir.join(&record.file);
    let batch = LabeledRow::to_batch(rows).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    record.bytes = std::fs::metadata(&path).unwrap().len();
    record.sha256 = spe::digest::sha256_file(&path).unwrap();
    record.rows = rows.len() as u64;
    manifest.write(dir).unwrap();
}

#[test]
fn readers_of_labeled_shards_refuse_a_swapped_shard_a_broken_row_and_an_output_over_their_input() {
    let dir = tempfile::tempdir().unwrap();
    // The release files, as a user keeps them, in a folder of their own.
    let release = dir.path().join("release");
    std::fs::create_dir(&release).unwrap();
    let splits: Vec<(&str, PathBuf)> = scierc_splits()
        .into_iter()
        .map(|(name, path)| {
            let copy = release.join(format!("{name}.json"));
            std::fs::copy(path, &copy).unwrap();
            (name, copy)
        })
        .collect();
    let out = dir.path().join("out");
    ok(labeled("scierc", &splits, &out, &[]));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let export = |to: &Path| spe(&["export", &s(&out), "--out", &s(to)]);

    // An export into the release's folder would replace the files it came from.
    let before = std::fs::read(release.join("train.json")).unwrap();
    let refused = export(&release);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("is an input of the labeled output"), "{}", stderr(&refused));
    assert_eq!(std::fs::read(release.join("train.json")).unwrap(), before);
    let refused = export(&out.join("exported"));
    assert!(stderr(&refused).contains("lies inside the labeled output"), "{}", stderr(&refused));

    // The test shard swapped for the dev shard: refused, not exported as "test".
    let manifest = LabeledManifest::read(&out).unwrap();
    let (dev, test) =
        (out.join(&manifest.splits["dev"].shards[0].file), out.join(&manifest.splits["test"].shards[0].file));
    let kept = std::fs::read(&test).unwrap();
    std::fs::copy(&dev, &test).unwrap();
    let refused = export(&dir.path().join("swapped"));
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("changed or replaced after it was written"), "{}", stderr(&refused));
    let swapped = dir.path().join("swapped");
    assert!(
        !swapped.join("train.json").exists() && !swapped.join("dev.json").exists(),
        "no split of it looks finished"
    );
    std::fs::write(&test, kept).unwrap();
    let intact = dir.path().join("intact");
    ok(export(&intact));
    // Files of those names are replaced only with --force.
    let again = export(&intact);
    assert!(!again.status.success() && stderr(&again).contains("pass --force"), "{}", stderr(&again));
    ok(spe(&["export", &s(&out), "--out", &s(&intact), "--force"]));

    // A row whose entity runs past its words, recorded as if spe had written it: export
    // and inspect name the shard and the row instead of panicking.
    let mut broken = rows(&out, "test");
    broken[1].entities[0].end = broken[1].words.len() as u32 + 3;
    replace_shard(&out, "test", &broken);
    for (what, output) in
        [("export", export(&dir.path().join("broken"))), ("inspect", spe(&["inspect", &s(&out), "--rows", "5"]))]
    {
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("part-00000.parquet: row 1 (") && err.contains("outside the"), "{what}: {err}");
    }
}

/// SpERT records as the field shares them and as they go wrong: numeric, string and mixed
/// `orig_id`s verified and written back as they were; a relation of an entity with itself,
/// a sentence without words and a misspelt `relations` key refused, or skipped and counted.
#[test]
fn spert_ids_of_any_kind_verify_and_round_trip_and_unlearnable_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let record = |id: Value, tokens: &[&str]| {
        serde_json::json!({"tokens": tokens, "entities": [{"type": "Drug", "start": 0, "end": 1}],
            "relations": [], "orig_id": id})
    };
    let write = |name: &str, records: &[Value]| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(records).unwrap()).unwrap();
        path
    };
    let mixed = [record(serde_json::json!(7), &["a", "b"]), record(serde_json::json!("x-8"), &["c", "d"])];
    let numeric = [record(serde_json::json!(1), &["e"]), record(serde_json::json!(2), &["f"])];
    let (train, dev) = (write("m_train.json", &mixed), write("m_dev.json", &numeric));
    let out = dir.path().join("out");
    // `labeled` runs `spe verify` on the output: the recount of numeric ids must agree.
    ok(labeled("labeled", &[("train", train), ("dev", dev)], &out, &["--format", "spert"]));
    let manifest = LabeledManifest::read(&out).unwrap();
    assert_eq!((manifest.splits["train"].stats.numeric_ids, manifest.splits["dev"].stats.numeric_ids), (1, 2));
    let back = dir.path().join("back");
    ok(spe(&["export", s(&out), "--out", s(&back), "--format", "spert"]));
    for (split, records) in [("train", &mixed), ("dev", &numeric)] {
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(back.join(format!("{split}.json"))).unwrap()).unwrap();
        assert_eq!(written, Value::Array(records.to_vec()), "{split}");
    }

    let mut selfish = record(serde_json::json!(3), &["g", "h"]);
    selfish["relations"] = serde_json::json!([{"type": "Causes", "head": 0, "tail": 0}]);
    let empty = record(serde_json::json!(4), &[]);
    let mut misspelt = record(serde_json::json!(5), &["i"]);
    misspelt.as_object_mut().unwrap().remove("relations");
    misspelt["relation"] = serde_json::json!([]);
    let cases = [
        (selfish, "sentence 0 relation 0: head and tail are the same entity", "self_relation"),
        (empty, "sentence 0: the sentence has no words", "empty_sentence"),
        (misspelt, "relations: missing (the record has entities, orig_id, relation, tokens)", "missing_field"),
    ];
    for (i, (bad, message, reason)) in cases.into_iter().enumerate() {
        let path = write(&format!("bad{i}_train.json"), &[mixed[0].clone(), bad]);
        let refused = labeled("labeled", &[("train", path.clone())], &dir.path().join(format!("r{i}")), &[]);
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains(&format!("record 2: {message}")), "{}", stderr(&refused));
        let skipped = dir.path().join(format!("s{i}"));
        ok(labeled("labeled", &[("train", path)], &skipped, &["--skip-bad-records"]));
        let split = &LabeledManifest::read(&skipped).unwrap().splits["train"];
        assert_eq!((split.stats.sentences, split.skipped_records.get(reason)), (1, Some(&1)), "{reason}");
    }
}

/// An export folder holds one export: `--force` removes what the earlier export there
/// wrote and the new one does not, and a split file no export claims is refused.
#[test]
fn an_export_replaces_the_earlier_export_whole_and_leaves_a_users_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (all, two) = (dir.path().join("all"), dir.path().join("two"));
    ok(labeled("scierc", &scierc_splits(), &all, &[]));
    ok(labeled("scierc", &scierc_splits()[..2], &two, &[]));
    let back = dir.path().join("back");
    ok(spe(&["export", s(&all), "--out", s(&back)]));
    let refused = spe(&["export", s(&two), "--out", s(&back)]);
    assert!(stderr(&refused).contains("pass --force"), "{}", stderr(&refused));
    ok(spe(&["export", s(&two), "--out", s(&back), "--force"]));
    assert!(back.join("train.json").is_file() && back.join("dev.json").is_file());
    assert!(!back.join("test.json").exists(), "the earlier export's test split was left beside the new one");
    let record = read_json(&back.join("_export.json"));
    assert_eq!(record["files"], serde_json::json!(["train.json", "dev.json"]));
    // A test.json of the user's own, claimed by no export, is neither left nor removed.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("test.json"), "mine").unwrap();
    let refused = spe(&["export", s(&two), "--out", s(&mine), "--force"]);
    assert!(stderr(&refused).contains("test.json is not a file this export writes"), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(mine.join("test.json")).unwrap(), "mine");
    assert!(!mine.join("train.json").exists());
}

/// Every flag that takes a file refuses a FIFO or a device before it opens it: reading
/// either would block or never end.
#[test]
fn every_file_flag_refuses_a_fifo_and_a_device_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let spert = spert_fixture("scierc_test.json");
    let out = dir.path().join("out");
    for special in [fifo.as_path(), Path::new("/dev/zero")] {
        let special = s(special);
        let base = ["prep", "scierc", "--test", s(&spert), "--out", s(&out)];
        let cases: Vec<Vec<&str>> = vec![
            [&base[..], &["--types", special]].concat(),
            [&base[..], &["--config", special]].concat(),
            [&base[..], &["--tokenizer", special]].concat(),
            vec!["prep", "scierc", "--test", special, "--out", s(&out)],
            vec!["prep", "text", "--input", special, "--out", s(&out)],
            vec!["verify-source", special, s(dir.path())],
        ];
        for args in cases {
            let refused = spe_within(&args, 30);
            assert!(!refused.status.success(), "{args:?}");
            let message = stderr(&refused);
            assert!(message.contains("is a FIFO") || message.contains("is a device"), "{args:?}: {message}");
            assert!(!out.exists(), "{args:?} made {}", out.display());
        }
    }
}
