//! `spe experiment` on the CPU with the tiny model and real SciERC sentences: a grid of
//! two encoders (a pre-training run of the user's, and one the experiment makes with TBO
//! alone), two shares of the training documents and two seeds, run by the Slurm template
//! as array tasks, one of them stopped midway and started again. Each cell equals the
//! `spe finetune` it stands for; the tables hold the cells' reports, paired by seed; a
//! rerun is a no-op; a grid changed under a cell is refused.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The labeled shards of the bundled SciERC sample's train and dev splits (test is dev, so
/// that the tables are test scores).
fn labeled(dir: &Path) -> PathBuf {
    let out = dir.join("scierc");
    let sample = |split: &str| repo(&format!("data/sample/scierc/{split}.json"));
    let (train, dev) = (sample("train"), sample("dev"));
    ok(spe(&[
        "prep",
        "scierc",
        "--train",
        s(&train),
        "--dev",
        s(&dev),
        "--test",
        s(&dev),
        "--out",
        s(&out),
        "--allow-split-overlap",
    ]));
    out
}

fn grid(dir: &Path, data: &Path, shards: &Path, base: &Path, epochs: u32) -> PathBuf {
    let path = dir.join("grid.toml");
    let text = format!(
        r#"
data = "{data}"
seeds = [1, 2]
fractions = [0.5, 1.0]
baseline = "base"
[finetune]
config = "{finetune}"
set = ["epochs={epochs}", "patience={epochs}"]
[[encoder]]
name = "base"
path = "{base}"
[[encoder]]
name = "tbo"
[encoder.pretrain]
shards = ["{shards}"]
config = "{train}"
objectives = "tbo"
set = ["steps=2", "moco.queue_size=64"]
"#,
        data = data.display(),
        base = base.display(),
        shards = shards.display(),
        finetune = repo("pipelines/finetune-tiny.toml").display(),
        train = repo("pipelines/train-tiny.toml").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn experiment(file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["experiment", s(file), "--out", s(out), "--device", "cpu", "--threads", "2", "--quiet"];
    args.extend(extra);
    spe(&args)
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// `cluster/slurm/experiment.sbatch STAGE FILE OUT` as Slurm would start it, task `task` of
/// an array of `tasks` where given, with `spe` on the PATH the binary under test.
fn sbatch(bin: &Path, stage: &str, file: &Path, out: &Path, task: Option<(u32, u32)>) -> std::process::Command {
    let mut command = std::process::Command::new("bash");
    command.arg(repo("cluster/slurm/experiment.sbatch")).args([stage, s(file), s(out)]);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    command.env("PATH", path).env("SLURM_CPUS_PER_TASK", "2");
    if let Some((id, count)) = task {
        command.env("SLURM_ARRAY_TASK_ID", id.to_string()).env("SLURM_ARRAY_TASK_COUNT", count.to_string());
    }
    command
}

#[test]
fn a_grid_shared_by_slurm_tasks_survives_a_kill_and_tabulates_each_cell_as_finetune_gives_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = labeled(dir.path());
    let (shards, base) = tiny_pretraining(dir.path());
    let file = grid(dir.path(), &data, &shards, &base, 1);
    let out = dir.path().join("grid");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(spe_binary(), bin.join("spe")).unwrap();
    let template = std::process::Command::new("bash").arg("-n").arg(repo("cluster/slurm/experiment.sbatch")).status();
    assert!(template.unwrap().success(), "experiment.sbatch does not parse");

    // The plan of rank 1 of 2, and nothing written.
    let plan = ok(experiment(&file, &out, &["--dry-run", "--rank", "1", "--world-size", "2"]));
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(text.contains("1 pre-training runs to make") && text.contains("8 cells"), "{text}");
    assert_eq!(text.matches("to run").count(), 9, "{text}");
    assert!(text.contains("base-f50-s2") && text.contains("tbo-f100-s1"), "{text}");
    assert_eq!(text.matches("(this rank)").count(), 4, "every other cell, and not the one pre-training: {text}");
    assert!(!out.exists(), "--dry-run wrote {}", out.display());

    // The pre-training stage as an array of one task, then the cells as two, the second
    // stopped by SIGTERM in its first cell and started again.
    ok(sbatch(&bin, "pretrain", &file, &out, Some((0, 1))).output().unwrap());
    assert!(out.join("pretrain/tbo/encoder/config.json").is_file());
    let cut = out.join("finetune/base-f50-s2");
    let child = sbatch(&bin, "finetune", &file, &out, Some((1, 2)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&cut.join("cell.json"), 300);
    send_signal(&child, "TERM");
    let stopped = child.wait_with_output().unwrap();
    assert!(!stopped.status.success(), "a stopped task exits non-zero: {}", stderr(&stopped));
    assert!(!cut.join("report.json").exists(), "stopped before its report");
    let resumed = ok(sbatch(&bin, "finetune", &file, &out, Some((1, 2))).output().unwrap());
    assert_eq!(stderr(&resumed).matches("stopped before its end: to run again").count(), 1, "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("this rank's share is done"), "{}", stderr(&resumed));
    assert!(!out.join("results.json").exists(), "a rank leaves the tables to --collect");
    ok(sbatch(&bin, "finetune", &file, &out, Some((0, 2))).output().unwrap());
    ok(sbatch(&bin, "collect", &file, &out, None).output().unwrap());

    // The tables hold each cell's own report, paired by seed.
    let results = read_json(&out.join("results.json"));
    assert_eq!((results["split"].as_str(), results["pending"].as_array().unwrap().len()), (Some("test"), 0));
    let tables = results["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    for (table, share) in tables.iter().zip(["50", "100"]) {
        let rows = table["rows"].as_array().unwrap();
        assert_eq!((rows[0]["encoder"].as_str(), rows[1]["encoder"].as_str()), (Some("base"), Some("tbo")));
        for row in rows {
            assert_eq!(row["seeds"], serde_json::json!([1, 2]));
            for (i, seed) in [1, 2].iter().enumerate() {
                let cell = out.join(format!("finetune/{}-f{share}-s{seed}", row["encoder"].as_str().unwrap()));
                let report = read_json(&cell.join("report.json"));
                for (column, key) in [("ent", "test.ent"), ("rel", "test.rel"), ("rel_strict", "test.rel_strict")] {
                    assert_eq!(row[column]["values"][i], report["f1"][key]["mean"], "{} {column}", cell.display());
                }
            }
        }
        assert!(rows[0]["ent"]["difference"].is_null(), "the baseline has no difference");
        let value = |row: usize, i: usize| rows[row]["rel"]["values"][i].as_f64().unwrap();
        let mean = (value(1, 0) - value(0, 0) + value(1, 1) - value(0, 1)) / 2.0;
        let difference = rows[1]["rel"]["difference"]["mean"].as_f64().unwrap();
        assert!((difference - mean).abs() < 1e-9, "paired by seed: {difference} against {mean}");
        // Two paired seeds give a confidence interval around the mean difference, and the
        // cells' predictions a bootstrap p-value.
        let ci = rows[1]["rel"]["difference_ci95"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= difference && difference <= ci[1].as_f64().unwrap(), "{ci:?}");
        let p = rows[1]["ent"]["p_bootstrap"].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "{p}");
    }
    for name in ["results.md", "results.png", "experiment.json"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let half = read_json(&out.join("finetune/base-f50-s1/train-documents.json"));
    let documents = half["documents"].as_u64().unwrap();
    assert_eq!(half["kept"].as_array().unwrap().len() as u64, documents.div_ceil(2));
    assert!(!out.join("finetune/base-f100-s1/train-documents.json").exists(), "all documents: nothing to record");

    // The cell that was stopped and run again is the spe finetune it stands for, to the bit.
    let direct = dir.path().join("direct");
    let tiny = repo("pipelines/finetune-tiny.toml");
    let mut args =
        vec!["finetune", "--data", s(&data), "--encoder", s(&base), "--out", s(&direct), "--config", s(&tiny)];
    args.extend(["--seeds", "2", "--device", "cpu", "--threads", "2", "--quiet"]);
    for set in ["epochs=1", "patience=1", "train_subset.fraction=0.5", "train_subset.seed=0"] {
        args.extend(["--set", set]);
    }
    ok(spe(&args));
    let weights = |run: &Path| std::fs::read(run.join("model/extractor.safetensors")).unwrap();
    assert!(weights(&cut) == weights(&direct), "the cell's extractor differs from spe finetune's");
    assert_eq!(read_json(&cut.join("report.json"))["f1"], read_json(&direct.join("report.json"))["f1"]);

    // A finished grid reruns as a no-op, in one process too.
    let report = out.join("finetune/tbo-f100-s2/report.json");
    let before = modified(&report);
    let again = ok(experiment(&file, &out, &[]));
    assert_eq!(stderr(&again).matches(": done").count(), 9, "{}", stderr(&again));
    assert_eq!(modified(&report), before);

    // spe inspect prints the tables.
    let inspect = ok(spe(&["inspect", s(&out)]));
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(shown.contains("base (baseline)") && shown.contains("50% of the training documents"), "{shown}");

    // Another grid over the same cells is refused, naming the cell, and changes nothing.
    let changed = grid(dir.path(), &data, &shards, &base, 2);
    let refused = experiment(&changed, &out, &[]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("other settings"), "{}", stderr(&refused));
    assert_eq!(modified(&report), before);
}

#[test]
fn a_rank_does_not_finetune_on_an_encoder_still_to_make_and_inputs_are_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = labeled(dir.path());
    let (shards, base) = tiny_pretraining(dir.path());
    let out = dir.path().join("grid");
    // Each of these is refused before anything runs or is written, --dry-run included: a
    // typo in one cell's settings, and every input missing or of the wrong kind.
    let only_train = dir.path().join("only-train");
    let train = repo("data/sample/scierc/train.json");
    ok(spe(&["prep", "scierc", "--train", s(&train), "--out", s(&only_train)]));
    let missing = dir.path().join("missing");
    let cases: [(&Path, &Path, &Path, &str); 6] = [
        (&data, &shards, &base, "patiense"),
        (&missing, &shards, &base, "does not exist"),
        (&shards, &shards, &base, "is not an spe manifest of format spe-labeled-shards"),
        (&only_train, &shards, &base, "no dev split"),
        (&data, &data, &base, "holds labeled shards"),
        (&data, &shards, &data, "is neither an spe train run"),
    ];
    for (data, shards, base, message) in cases {
        let file = grid(dir.path(), data, shards, base, 1);
        if message == "patiense" {
            let text = std::fs::read_to_string(&file).unwrap().replace("\"patience=1\"", "\"patiense=1\"");
            std::fs::write(&file, text).unwrap();
        }
        for extra in [&["--dry-run"][..], &[]] {
            let refused = experiment(&file, &out, extra);
            assert!(!refused.status.success(), "{message}");
            assert!(stderr(&refused).contains(message), "{message}: {}", stderr(&refused));
            assert!(!out.exists(), "{message}: {} was written", out.display());
        }
    }
    // An encoder at a step its pre-training does not export.
    let file = grid(dir.path(), &data, &shards, &base, 1);
    let point = format!(
        "\n[[encoder]]\nname = \"tbo-1\"\nstep = 1\nfractions = [0.5]\n[encoder.pretrain]\nshards = [\"{}\"]\nconfig = \"{}\"\n\
         set = [\"steps=2\", \"moco.queue_size=64\"]\n",
        shards.display(),
        repo("pipelines/train-tiny.toml").display()
    );
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap() + &point).unwrap();
    let refused = experiment(&file, &out, &["--dry-run"]);
    assert!(stderr(&refused).contains("step 1 is not one of its pre-training's export_steps"), "{}", stderr(&refused));
    // Rank 2 of 4 takes cells 2 and 6, both of the encoder the pre-training stage makes.
    let file = grid(dir.path(), &data, &shards, &base, 1);
    let refused = experiment(&file, &out, &["--only", "finetune", "--rank", "2", "--world-size", "4"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("needs encoder tbo, which is not pre-trained yet"), "{}", stderr(&refused));
    assert!(!out.join("finetune/tbo-f50-s1/metrics.jsonl").exists());
    // A cell as this grid makes it; then the grid edited under it is refused, and the grid's
    // record still describes the grid that made the cell.
    let record = read_json(&out.join("experiment.json"));
    assert_eq!(record["finetune"]["set"], serde_json::json!(["epochs=1", "patience=1"]));
    std::fs::create_dir_all(out.join("finetune/base-f50-s1")).unwrap();
    let cell = serde_json::json!({"encoder": "base", "encoder_dir": base, "pretrain": null, "span_encoders": true,
        "data": data, "fraction": 0.5, "fraction_seed": 0, "seed": 1,
        "config": repo("pipelines/finetune-tiny.toml"), "set": ["epochs=1", "patience=1"]});
    std::fs::write(out.join("finetune/base-f50-s1/cell.json"), cell.to_string()).unwrap();
    let done = ok(experiment(&file, &out, &["--dry-run"]));
    assert!(String::from_utf8_lossy(&done.stdout).contains("base-f50-s1"), "the cell is this grid's");
    let edited = grid(dir.path(), &data, &shards, &base, 2);
    let refused = experiment(&edited, &out, &[]);
    assert!(stderr(&refused).contains("was made with other settings"), "{}", stderr(&refused));
    assert_eq!(read_json(&out.join("experiment.json")), record);
    // The experiment file read from a FIFO is refused at once.
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let refused = spe_within(&["experiment", s(&fifo), "--out", s(&out), "--dry-run"], 30);
    assert!(stderr(&refused).contains("is a FIFO"), "{}", stderr(&refused));
}
