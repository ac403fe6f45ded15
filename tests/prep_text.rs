//! `spe prep text`, `spe verify` and `spe inspect` end to end on real sentences.

mod common;

use common::*;
use spe::shard::Manifest;
use std::io::Write;
use std::path::Path;

/// Small shards and row groups so that the sample spans several of each.
const SMALL: [&str; 6] =
    ["--set", "shard.rows_per_shard=300", "--set", "shard.row_group_rows=100", "--dupe-factor", "2"];

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "_run.json")
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn one_and_two_threads_give_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    prep(&[&sample_text()], &one, &[&SMALL[..], &["--threads", "1"]].concat());
    prep(&[&sample_text()], &two, &[&SMALL[..], &["--threads", "2", "--set", "pipeline.batch_sentences=64"]].concat());
    let manifest = Manifest::read(&one).unwrap();
    assert_eq!(manifest.totals.sentences, 700);
    assert_eq!(manifest.totals.samples, 2 * 697);
    assert_eq!(manifest.shards.len(), 5, "1394 rows in shards of 300");
    assert!(manifest.shards[..4].iter().all(|s| s.rows == 300 && s.row_groups == 3));
    assert_eq!(manifest.dropped_sentences.get("too_many_subtokens"), Some(&3));
    // batch_sentences is part of the configuration, so compare the rows of that run
    // and the bytes of the runs that differ only in thread count.
    assert_eq!(read_rows(&one), read_rows(&two));
    let three = dir.path().join("three");
    prep(&[&sample_text()], &three, &[&SMALL[..], &["--threads", "2"]].concat());
    assert_eq!(files(&one), files(&three));
    let verify = spe(&["verify", one.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn document_cuts_and_batches_do_not_change_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    prep(&[&sample_text()], &a, &[]);
    prep(&[&sample_text()], &b, &["--set", "read.max_document_sentences=7", "--set", "pipeline.batch_sentences=10"]);
    assert_eq!(read_rows(&a), read_rows(&b));
    // A different seed gives different samples of the same sentences.
    let c = dir.path().join("c");
    prep(&[&sample_text()], &c, &["--seed", "7"]);
    let (rows_a, rows_c) = (read_rows(&a), read_rows(&c));
    assert_eq!(rows_a.len(), rows_c.len());
    assert_ne!(rows_a, rows_c);
}

#[test]
fn compressed_inputs_give_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(sample_text()).unwrap();
    let plain = dir.path().join("s.txt");
    std::fs::write(&plain, &text).unwrap();
    let zst = dir.path().join("zst/s.txt.zst");
    std::fs::create_dir_all(zst.parent().unwrap()).unwrap();
    std::fs::write(&zst, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
    let bz2 = dir.path().join("bz2/s.txt.bz2");
    std::fs::create_dir_all(bz2.parent().unwrap()).unwrap();
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(&text).unwrap();
    std::fs::write(&bz2, enc.finish().unwrap()).unwrap();
    let outs: Vec<_> = [&plain, &zst, &bz2]
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let out = dir.path().join(format!("out{i}"));
            prep(&[input], &out, &[]);
            read_rows(&out)
        })
        .collect();
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn verify_reports_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &SMALL);
    let problems = |dir: &Path| {
        let output = spe(&["verify", dir.to_str().unwrap()]);
        (output.status.success(), stderr(&output))
    };
    assert!(problems(&out).0);

    // A flipped byte in a shard.
    let shard = out.join("part-00001.parquet");
    let mut bytes = std::fs::read(&shard).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&shard, &bytes).unwrap();
    let (ok, err) = problems(&out);
    assert!(!ok && err.contains("part-00001.parquet: checksum"), "{err}");
    bytes[middle] ^= 0x55;
    std::fs::write(&shard, &bytes).unwrap();
    assert!(problems(&out).0);

    // A missing shard, a stray unfinished file, totals that do not add up.
    std::fs::rename(out.join("part-00004.parquet"), dir.path().join("moved")).unwrap();
    std::fs::write(out.join("part-00005.parquet.tmp"), b"half").unwrap();
    let manifest = std::fs::read_to_string(out.join("_manifest.json")).unwrap();
    let edited = manifest.replacen("\"tbo_targets\": ", "\"tbo_targets\": 1", 1);
    std::fs::write(out.join("_manifest.json"), edited).unwrap();
    let (ok, err) = problems(&out);
    assert!(!ok);
    // With a shard missing, a recount would only repeat it: verify says so instead of
    // claiming the shards hold fewer rows than they do.
    for expected in [
        "part-00004.parquet",
        "part-00005.parquet.tmp: an unfinished file",
        "totals not recounted: 1 shard could not be read whole",
    ] {
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    assert!(!err.contains("the shards hold"), "{err}");
    std::fs::rename(dir.path().join("moved"), out.join("part-00004.parquet")).unwrap();
    let (ok, err) = problems(&out);
    assert!(!ok && err.contains("totals.tbo_targets: the shards hold"), "{err}");

    // No manifest: not a finished output.
    std::fs::remove_file(out.join("_manifest.json")).unwrap();
    let (ok, err) = problems(&out);
    assert!(!ok && err.contains("not a finished spe output"), "{err}");
}

#[test]
fn verify_checks_seed_drop_counts_configuration_and_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sentences.txt");
    std::fs::copy(sample_text(), &input).unwrap();
    let out = dir.path().join("out");
    prep(&[&input], &out, &SMALL);
    let verify = |extra: &[&str]| {
        let output = spe(&[&["verify", out.to_str().unwrap()], extra].concat());
        (output.status.success(), stderr(&output))
    };
    assert!(verify(&[]).0);
    let manifest = std::fs::read_to_string(out.join("_manifest.json")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(manifest.contains(from), "{from}");
        std::fs::write(out.join("_manifest.json"), manifest.replacen(from, to, 1)).unwrap();
        verify(&[])
    };
    let (ok, err) = edit("\"seed\": 42", "\"seed\": 43");
    assert!(!ok && err.contains("seed: the manifest says 43, its configuration 42"), "{err}");
    // Three sentences dropped, each of whose two draws would otherwise be counted.
    let (ok, err) = edit("\"too_many_subtokens\": 3", "\"too_many_subtokens\": 2");
    assert!(!ok && err.contains("drop counts: 700 sentences read, 2 dropped"), "{err}");
    let (ok, err) = edit("\"span_len_max\": 10", "\"span_len_max\": 11");
    assert!(!ok && err.contains("part-00003.parquet: the configuration in the file differs"), "{err}");
    std::fs::write(out.join("_manifest.json"), &manifest).unwrap();

    // An input changed since, or moved away: a problem, or a note that it was not checked.
    std::fs::OpenOptions::new().append(true).open(&input).unwrap().write_all(b"One more line.\n").unwrap();
    let (ok, err) = verify(&[]);
    assert!(!ok && err.contains("sentences.txt: its size differs from the manifest's"), "{err}");
    assert!(verify(&["--skip-inputs"]).0);
    std::fs::remove_file(&input).unwrap();
    let (ok, err) = verify(&[]);
    assert!(ok && err.contains("note: input") && err.contains("not found here"), "{err}");
}

#[test]
fn bad_lines_stop_the_run_with_file_and_line_or_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        b"The first sentence is fine.\nSo is the second one.\nThe third has \xff\xfe in it.\nThe fourth is fine.\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let failed = try_prep(&[&bad], &out, &[]);
    assert!(!failed.status.success());
    let err = stderr(&failed);
    assert!(err.contains("bad.txt:3") && err.contains("invalid UTF-8"), "{err}");
    assert!(!out.join("_manifest.json").exists(), "a failed run leaves no manifest");
    assert!(left_behind(&out).is_empty(), "{:?}", left_behind(&out));

    prep(&[&bad], &out, &["--skip-bad-records"]);
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.skipped_records.get("invalid_utf8"), Some(&1));
    assert_eq!(manifest.totals.sentences, 3);
}

#[test]
fn a_line_of_100k_words_is_dropped_and_counted_or_refused_by_length() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.txt");
    let long_line = vec!["word"; 100_000].join(" ");
    std::fs::write(&input, format!("A short first sentence.\n{long_line}\nAnd a short last one.\n")).unwrap();
    let out = dir.path().join("out");
    prep(&[&input], &out, &[]);
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.dropped_sentences.get("too_many_subtokens"), Some(&1));
    assert_eq!(manifest.totals.samples, 2);

    let refused = try_prep(&[&input], &out, &["--force", "--set", "read.max_line_bytes=10000"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("long.txt:2: line longer than 10000 bytes"), "{}", stderr(&refused));
    assert!(!out.join("_manifest.json").exists(), "--force removed the old manifest first");
}

/// The first half of a zstd frame of real text.
fn truncated_zstd() -> Vec<u8> {
    let frame = zstd::encode_all(std::fs::read(sample_text()).unwrap().as_slice(), 3).unwrap();
    frame[..frame.len() / 2].to_vec()
}

#[test]
fn unreadable_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: Vec<(std::path::PathBuf, Vec<u8>, &str)> = vec![
        (dir.path().join("empty.txt"), vec![], "empty.txt: the file holds no sentence"),
        (dir.path().join("utf16.txt"), [0xFF, 0xFE, b'H', 0, b'i', 0].to_vec(), "UTF-16"),
        (dir.path().join("trunc.txt.zst"), truncated_zstd(), "trunc.txt.zst:"),
    ];
    for (path, bytes, expected) in &cases {
        std::fs::write(path, bytes).unwrap();
        let output = try_prep(&[path], &out, &[]);
        assert!(!output.status.success(), "{}", path.display());
        assert!(stderr(&output).contains(expected), "{expected:?} not in {}", stderr(&output));
    }
    let missing = try_prep(&[&dir.path().join("nope.txt")], &out, &[]);
    assert!(stderr(&missing).contains("nope.txt"), "{}", stderr(&missing));
    let all_short = dir.path().join("short.txt");
    std::fs::write(&all_short, "One\nTwo\n").unwrap();
    let nothing = try_prep(&[&all_short], &out, &[]);
    assert!(!nothing.status.success() && stderr(&nothing).contains("no sample was produced"), "{}", stderr(&nothing));
    let bad_key = try_prep(&[&sample_text()], &out, &["--set", "sample.tbo_maximum=3"]);
    assert!(stderr(&bad_key).contains("tbo_maximum"), "{}", stderr(&bad_key));
    // A limit of 0 would make every sentence a document: refused before the input is read.
    let no_documents = try_prep(&[&sample_text()], &out, &["--set", "read.max_document_sentences=0"]);
    assert!(!no_documents.status.success());
    assert!(stderr(&no_documents).contains("read.max_document_sentences must lie in [1, 10000000], not 0"));
    assert!(!out.join("_manifest.json").exists());
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &[]);
    let again = try_prep(&[&sample_text()], &out, &[]);
    assert!(!again.status.success() && stderr(&again).contains("--force"), "{}", stderr(&again));
    prep(&[&sample_text()], &out, &[&SMALL[..], &["--force"]].concat());
    let stale = try_prep(&[&sample_text()], &out, &["--force"]);
    assert!(stale.status.success());
    assert_eq!(Manifest::read(&out).unwrap().shards.len(), 1);
    assert!(!out.join("part-00001.parquet").exists(), "shards of the replaced output are gone");

    // A directory of the user's own files is refused, and --force writes beside them
    // without touching them.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("mydata.parquet"), b"the user's own").unwrap();
    let refused = try_prep(&[&sample_text()], &mine, &[]);
    assert!(stderr(&refused).contains("holds files spe did not write"), "{}", stderr(&refused));
    // (verify, as it should, reports the user's file among the shards.)
    ok(try_prep(&[&sample_text()], &mine, &["--force"]));
    ok(try_prep(&[&sample_text()], &mine, &["--force"]));
    assert_eq!(std::fs::read(mine.join("mydata.parquet")).unwrap(), b"the user's own");
    assert!(Manifest::read(&mine).is_ok());
}

#[test]
fn a_thread_count_past_the_bound_is_refused_before_the_output_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &[]);
    let before = std::fs::read(out.join("_manifest.json")).unwrap();
    let refused = try_prep(&[&sample_text()], &out, &["--threads", "100000", "--force"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--threads must lie in 0..=4096"), "{}", stderr(&refused));
    assert_eq!(std::fs::read(out.join("_manifest.json")).unwrap(), before, "the earlier output stays");
    prep(&[&sample_text()], &out, &["--threads", "64", "--force"]);
}

#[test]
fn a_second_run_into_a_directory_being_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // This process stands for a run in progress: it holds the directory's lock.
    let running = spe::lock::OutputLock::acquire(&out).unwrap();
    let second = try_prep(&[&sample_text()], &out, &["--force"]);
    assert!(!second.status.success());
    assert!(stderr(&second).contains("another spe run is writing"), "{}", stderr(&second));
    assert!(!out.join("_manifest.json").exists() && !out.join("part-00000.parquet").exists());
    drop(running);
    prep(&[&sample_text()], &out, &[]);
    assert!(Manifest::read(&out).is_ok());
}

#[test]
fn inspect_shows_the_pair_the_permutations_and_both_views() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &[]);
    let output = spe(&["inspect", out.to_str().unwrap(), "-n", "4"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in
        ["documents 12, sentences 700, samples 697", "input_ids: List(non-null Int32)", "[s1", "target:", "context:"]
    {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert_eq!(text.matches("enwiki-sentences.txt#0 sentence").count(), 4);
    // Each view line shows the real pieces where the view keeps them.
    let rows = read_rows(&out);
    let first_target = text.lines().find(|l| l.trim_start().starts_with("target:")).unwrap();
    let kept = first_target.split_whitespace().skip(1).filter(|p| *p != "_").count();
    assert_eq!(kept, rows[0].inputs.target_mask.iter().filter(|&&m| m).count() + 2, "pair pieces plus [CLS] and [SEP]");
}

#[test]
fn inputs_of_the_wrong_kind_are_named_with_the_command_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let refused = |input: &Path, expected: &str| {
        let output = try_prep(&[input], &out, &[]);
        assert!(!output.status.success(), "{} was accepted", input.display());
        assert!(stderr(&output).contains(expected), "{}: {}", input.display(), stderr(&output));
    };
    refused(
        &repo("data/sample/enwiki-sample-multistream.xml.bz2"),
        "looks like a MediaWiki XML dump: use spe prep wiki",
    );
    refused(&repo("data/sample/scierc/dev.json"), "for a labeled corpus use spe prep scierc");
    refused(Path::new("/dev/zero"), "/dev/zero is a device; spe reads regular files");
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    refused(&fifo, "is a FIFO");

    // Text that merely begins with a bracket is text.
    let text = dir.path().join("brackets.txt");
    std::fs::write(&text, "[1] The first line is a sentence .\n{2} So is the second one .\n").unwrap();
    prep(&[&text], &out, &[]);

    let vocab = vocab();
    let wiki = spe(&[
        "prep",
        "wiki",
        "--input",
        text.to_str().unwrap(),
        "--out",
        dir.path().join("w").to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ]);
    assert!(stderr(&wiki).contains("does not look like a MediaWiki XML dump"), "{}", stderr(&wiki));
    let array = dir.path().join("array.json");
    std::fs::write(&array, "[{\"doc_key\": \"a\", \"sentences\": [[\"x\"]]}]\n").unwrap();
    let scierc = spe(&[
        "prep",
        "scierc",
        "--train",
        array.to_str().unwrap(),
        "--format",
        "dygie",
        "--out",
        dir.path().join("s").to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ]);
    assert!(stderr(&scierc).contains("array.json:1: a JSON array, not a record"), "{}", stderr(&scierc));
    let labeled = spe(&[
        "prep",
        "labeled",
        "--train",
        array.to_str().unwrap(),
        "--out",
        dir.path().join("l").to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ]);
    // Detected, an array is SpERT's format when its sentences have `tokens`; this one is not.
    let message = stderr(&labeled);
    assert!(message.contains("a JSON array whose first element has no `tokens`, so not SpERT's format"), "{message}");
    assert!(message.contains("spe reads other formats as JSON lines"), "{message}");
}

/// The shards, temporary files and manifest in `out`: what a failed run must not leave (a
/// folder the run made and left empty goes too).
fn left_behind(out: &Path) -> Vec<String> {
    if !out.exists() {
        return Vec::new();
    }
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet") || n.ends_with(".tmp") || n == "_manifest.json")
        .collect()
}

/// Small shards and batches, so that a run has completed shards early and long before
/// it ends.
const MANY_SHARDS: [&str; 6] =
    ["--set", "shard.rows_per_shard=100", "--set", "shard.row_group_rows=50", "--set", "pipeline.batch_sentences=64"];

#[test]
fn sigterm_and_sigint_stop_a_run_that_then_removes_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.txt");
    std::fs::write(&input, std::fs::read(sample_text()).unwrap().repeat(200)).unwrap();
    for (signal, status) in [("TERM", 143), ("INT", 130)] {
        let out = dir.path().join(format!("out-{signal}"));
        let mut args: Vec<String> =
            ["prep", "text", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()]
                .map(String::from)
                .to_vec();
        args.extend(["--tokenizer".into(), vocab().display().to_string()]);
        args.extend(MANY_SHARDS.map(String::from));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_spe"))
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once the run has completed a shard, as a user would stop a long run.
        wait_for(&out.join("part-00000.parquet"), 120);
        send_signal(&child, signal);
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(status), "{err}");
        assert!(err.contains(&format!("interrupted by SIG{signal}")), "{err}");
        assert_eq!(left_behind(&out), Vec::<String>::new());
        // The lock went with the run: the next one may write there.
        prep(&[&sample_text()], &out, &[]);
    }
}

#[test]
fn a_full_disk_is_an_error_naming_the_file_and_leaves_nothing() {
    // A file-size limit stands in for a full disk: writes past it fail (EFBIG) as they
    // would with ENOSPC, without filling a real disk.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut command = format!("trap '' XFSZ; ulimit -f 16; exec {}", env!("CARGO_BIN_EXE_spe"));
    for arg in ["prep", "text", "--input", sample_text().to_str().unwrap(), "--out", out.to_str().unwrap()] {
        command.push_str(&format!(" '{arg}'"));
    }
    command.push_str(&format!(" --tokenizer '{}' --set shard.rows_per_shard=100000", vocab().display()));
    let output = std::process::Command::new("bash").args(["-c", &command]).output().unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(err.contains(&format!("{}", out.join("part-00000.parquet.tmp").display())), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert_eq!(left_behind(&out), Vec::<String>::new());
}

#[test]
fn a_run_that_fails_late_leaves_no_shard_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Many small shards are complete when the reader meets invalid UTF-8 at the very end.
    let input = dir.path().join("late.txt");
    let mut bytes = std::fs::read(sample_text()).unwrap().repeat(3);
    bytes.extend_from_slice(b"\nthe end \xff\n");
    std::fs::write(&input, bytes).unwrap();
    let failed = try_prep(&[&input], &out, &MANY_SHARDS);
    assert!(!failed.status.success() && stderr(&failed).contains("invalid UTF-8"), "{}", stderr(&failed));
    assert_eq!(left_behind(&out), Vec::<String>::new());

    // A labeled run whose second split fails removes the first split's shards too.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"doc_key\": \"x\", \"sentences\": [[\"a\", \"b\"]], \"ner\": [[[0, 9, \"Task\"]]]}\n")
        .unwrap();
    let labeled = dir.path().join("labeled");
    let vocab = vocab();
    let train = repo("data/sample/scierc/train.json");
    let output = spe(&[
        "prep",
        "scierc",
        "--train",
        train.to_str().unwrap(),
        "--test",
        bad.to_str().unwrap(),
        "--out",
        labeled.to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(!labeled.join("split=train/part-00000.parquet").exists() && !labeled.join("_manifest.json").exists());
}

#[test]
fn the_built_in_vocabulary_works_from_any_directory_and_is_the_bundled_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("s.txt");
    std::fs::write(&input, "Alice Smith met Bob Jones in the old city of Paris.\nThe fox ran home.\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spe"))
        .current_dir(dir.path())
        .args(["prep", "text", "--input", "s.txt", "--out", "out"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let built_in = Manifest::read(&dir.path().join("out")).unwrap();
    assert_eq!(built_in.tokenizer.path, "builtin:bert-base-cased");
    assert_eq!(built_in.tokenizer.vocab_size, 28996);
    // The same samples, and the same checksum, as with the file it was built from.
    let with_file = dir.path().join("with-file");
    prep(&[&input], &with_file, &[]);
    assert_eq!(built_in.tokenizer.sha256, Manifest::read(&with_file).unwrap().tokenizer.sha256);
    assert_eq!(read_rows(&dir.path().join("out")), read_rows(&with_file));
    // A path that is not there says what the built-in one is called.
    let x = dir.path().join("x");
    let missing = spe(&[
        "prep",
        "text",
        "--input",
        input.to_str().unwrap(),
        "--out",
        x.to_str().unwrap(),
        "--tokenizer",
        "nowhere/vocab.txt",
    ]);
    assert!(stderr(&missing).contains("the built-in vocabulary is builtin:bert-base-cased"), "{}", stderr(&missing));
}

#[test]
fn an_output_of_an_earlier_version_is_read_and_replaced_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    prep(&[&sample_text()], &out, &[]);
    // Earlier versions named the manifest and run log without the underscore.
    std::fs::rename(out.join("_manifest.json"), out.join("manifest.json")).unwrap();
    std::fs::rename(out.join("_run.json"), out.join("run.json")).unwrap();
    let verify = spe(&["verify", out.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(!try_prep(&[&sample_text()], &out, &[]).status.success(), "an output is not replaced without --force");
    prep(&[&sample_text()], &out, &["--force"]);
    let names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.contains(&"manifest.json".to_string()) && !names.contains(&"run.json".to_string()), "{names:?}");
}
