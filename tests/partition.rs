//! Preparation shared among ranks (`--rank`/`--world-size`, or a scheduler's environment)
//! and `spe merge`: the merged output of 3 ranks holds exactly the rows and counts of a
//! single run, on text files and on one multistream Wikipedia dump; a missing or repeated
//! rank is refused.

mod common;

use common::{copy_dir, ok, read_rows, repo, sample_text, spe_binary, stderr, vocab};
use spe::shard::Manifest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `spe ARGS` with `env` set and the scheduler's variables of the test's own environment
/// removed.
fn spe_with(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(spe_binary());
    command.args(args);
    for name in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX"] {
        command.env_remove(name);
    }
    command.env_remove("RANK").env_remove("WORLD_SIZE");
    command.envs(env.iter().copied()).output().expect("spe runs")
}

fn prep_args(corpus: &str, inputs: &[PathBuf], out: &Path) -> Vec<String> {
    let mut args = vec!["prep".to_string(), corpus.into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string(), "--tokenizer".into(), vocab().display().to_string()]);
    args
}

/// `spe merge OUT`.
fn merge(out: &Path) -> Output {
    spe_with(&["merge".into(), out.display().to_string()], &[])
}

/// `spe merge OUT` fails, saying `why`.
fn assert_merge_refused(out: &Path, why: &str) {
    let output = merge(out);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(why), "{}", stderr(&output));
}

/// Runs the 3 ranks, each told its rank another way, then `spe merge`.
fn prep_in_three_ranks(corpus: &str, inputs: &[PathBuf], out: &Path) {
    let args = prep_args(corpus, inputs, out);
    let with = |extra: &[&str]| [args.clone(), extra.iter().map(|s| s.to_string()).collect()].concat();
    let slurm = [("SLURM_ARRAY_TASK_ID", "11"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "3")];
    // Rank 2 first: the order the ranks finish in does not matter.
    let rank2 = ok(spe_with(&with(&[]), &[("RANK", "2"), ("WORLD_SIZE", "3")]));
    assert!(stderr(&rank2).contains("rank 2 of 3 (from RANK and WORLD_SIZE)"), "{}", stderr(&rank2));
    ok(spe_with(&with(&[]), &slurm));
    ok(spe_with(&with(&["--rank", "0", "--world-size", "3"]), &[]));
    let merged = ok(merge(out));
    assert!(String::from_utf8_lossy(&merged.stdout).contains("3 ranks merged"));
}

/// The merged output equals the single run in rows, totals and counts, and verifies.
fn assert_same_as_single_run(single: &Path, merged: &Path) {
    let rows = read_rows(single);
    assert!(rows.len() > 100);
    assert!(read_rows(merged) == rows, "the merged rows differ from the single run's");
    let (a, b) = (Manifest::read(single).unwrap(), Manifest::read(merged).unwrap());
    assert_eq!(b.totals, a.totals);
    assert_eq!(b.skipped_records, a.skipped_records);
    assert_eq!(b.dropped_sentences, a.dropped_sentences);
    assert_eq!(b.dropped_draws, a.dropped_draws);
    assert_eq!((&b.config, b.seed, &b.tokenizer, b.partition.is_none()), (&a.config, a.seed, &a.tokenizer, true));
    let verified = ok(spe_with(&["verify".into(), merged.display().to_string()], &[]));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("match the manifest"));
}

/// Documents of the bundled sample, cut into `n` files at document breaks.
fn text_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let documents: Vec<&str> = text.split("\n\n").filter(|d| !d.trim().is_empty()).collect();
    assert!(documents.len() >= n);
    let per_file = documents.len().div_ceil(n);
    documents
        .chunks(per_file)
        .enumerate()
        .map(|(i, docs)| {
            let path = dir.join(format!("part{i}.txt"));
            std::fs::write(&path, docs.join("\n\n") + "\n").unwrap();
            path
        })
        .collect()
}

#[test]
fn three_ranks_of_prep_text_merge_into_the_single_runs_rows() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = text_files(dir.path(), 5);
    let (single, out) = (dir.path().join("single"), dir.path().join("ranks"));
    ok(spe_with(&prep_args("text", &inputs, &single), &[]));
    prep_in_three_ranks("text", &inputs, &out);
    assert_same_as_single_run(&single, &out);
    assert_eq!(Manifest::read(&out).unwrap().inputs, Manifest::read(&single).unwrap().inputs);
    for rank in 0..3 {
        let share = Manifest::read(&out.join(format!("rank-0000{rank}-of-00003"))).unwrap();
        assert!(!share.shards.is_empty() && share.inputs.len() < 5, "rank {rank} takes a part of the files");
    }
    // verify reads the merged output, its ranks' folders listed, and fails on another folder.
    let verify = || spe_with(&["verify".into(), out.display().to_string()], &[]);
    ok(verify());
    std::fs::create_dir(out.join("stray")).unwrap();
    let stray = verify();
    assert!(!stray.status.success() && stderr(&stray).contains("stray/: a folder the manifest does not list"));
    std::fs::remove_dir(out.join("stray")).unwrap();

    // A rank that completed runs again as a no-op (a requeued job), leaving the merge intact.
    let rank1 = out.join("rank-00001-of-00003");
    let before = std::fs::read(rank1.join("_manifest.json")).unwrap();
    let again = ok(spe_with(
        &[prep_args("text", &inputs, &out), vec!["--rank".into(), "1".into(), "--world-size".into(), "3".into()]]
            .concat(),
        &[],
    ));
    assert!(stderr(&again).contains("rank 1 of 3 is already complete"), "{}", stderr(&again));
    assert_eq!(std::fs::read(rank1.join("_manifest.json")).unwrap(), before);
    assert!(out.join("_manifest.json").exists());

    // A damaged shard, rank 2 missing, then rank 1's output in rank 2's place: all refused.
    let shard = out.join("rank-00000-of-00003/part-00000.parquet");
    let intact = std::fs::read(&shard).unwrap();
    let mut damaged = intact.clone();
    damaged[intact.len() / 2] ^= 0xff;
    std::fs::write(&shard, damaged).unwrap();
    assert_merge_refused(&out, "rank-00000-of-00003: part-00000.parquet: checksum");
    std::fs::write(&shard, intact).unwrap();

    let rank2 = out.join("rank-00002-of-00003");
    std::fs::rename(&rank2, dir.path().join("rank2")).unwrap();
    assert_merge_refused(&out, "rank 2 of 3 is missing (no rank-00002-of-00003 folder)");
    copy_dir(&rank1, &rank2);
    assert_merge_refused(&out, "rank-00002-of-00003 holds the output of rank 1 of 3, not rank 2");
}

#[test]
fn three_ranks_share_one_multistream_dump_by_its_streams() {
    let dir = tempfile::tempdir().unwrap();
    let dump = repo("data/sample/enwiki-sample-multistream.xml.bz2");
    let (single, out) = (dir.path().join("single"), dir.path().join("ranks"));
    ok(spe_with(&prep_args("wiki", std::slice::from_ref(&dump), &single), &[]));
    prep_in_three_ranks("wiki", std::slice::from_ref(&dump), &out);
    assert_same_as_single_run(&single, &out);
    // Each rank read its own run of streams, and hashed only those bytes.
    let parts: Vec<_> = Manifest::read(&out).unwrap().inputs.into_iter().filter_map(|i| i.range).collect();
    assert_eq!(parts.len(), 3, "three parts of the dump");
    let size = std::fs::metadata(&dump).unwrap().len();
    assert_eq!((parts[0].start, parts[2].end, parts[2].file_bytes), (0, size, size));
    assert!(parts.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
}

#[test]
fn labeled_corpora_are_not_partitioned_and_a_half_given_rank_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let scierc = repo("data/sample/scierc/train.json");
    let args: Vec<String> = ["prep", "scierc", "--train", &scierc.display().to_string(), "--out"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("l").display().to_string()])
        .collect();
    let refused = spe_with(&args, &[("RANK", "0"), ("WORLD_SIZE", "2")]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("runs on one machine"), "{}", stderr(&refused));
    let half = spe_with(
        &[prep_args("text", &[sample_text()], &dir.path().join("t")), vec!["--rank".into(), "1".into()]].concat(),
        &[],
    );
    assert!(stderr(&half).contains("--rank needs --world-size"), "{}", stderr(&half));
    assert!(!dir.path().join("t").exists());
}
