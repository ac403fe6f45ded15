//! The units of a grid: the pre-training runs to make, then the cells, one fine-tuning run
//! each, with what each one's folder holds now (done, to run, to resume, to restart) and
//! which rank of a partitioned run takes it.

use super::file::{percent, ExperimentFile, PretrainSpec};
use super::{CELL_RECORD, EXPERIMENT_FILE, FINETUNE_DIR, PRETRAIN_DIR, PRETRAIN_RECORD};
use crate::lock::{OutputLock, LOCK_FILE};
use crate::partition::Partition;
use crate::run::layout;
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A pre-training run the experiment makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainUnit {
    /// Its folder, `DIR/pretrain/ENCODER`.
    pub dir: PathBuf,
    /// What it is made of (`pretrain.json`).
    pub record: PretrainRecord,
}

/// `pretrain.json`: the encoder a pre-training run makes, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainRecord {
    /// The encoder's name.
    pub encoder: String,
    /// The run.
    pub pretrain: PretrainSpec,
}

/// One fine-tuning run of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `ENCODER-fPERCENT-sSEED`, its folder's name.
    pub name: String,
    /// Its folder, `DIR/finetune/NAME`.
    pub dir: PathBuf,
    /// What it is (`cell.json`).
    pub record: CellRecord,
}

/// `cell.json`: everything that makes a cell's run what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellRecord {
    /// The encoder's name.
    pub encoder: String,
    /// What `--encoder` is given: a BERT directory, a run of the user's or one the
    /// experiment made.
    pub encoder_dir: PathBuf,
    /// How the experiment made the encoder, where it did.
    pub pretrain: Option<PretrainSpec>,
    /// Whether the run's span and span-pair encoders are fine-tuned too (else its BERT
    /// alone, `encoder_dir` being the run's `encoder/`).
    pub span_encoders: bool,
    /// The labeled data.
    pub data: PathBuf,
    /// The share of the training documents.
    pub fraction: f64,
    /// The order the share is drawn in.
    pub fraction_seed: u64,
    /// The fine-tuning seed.
    pub seed: u64,
    /// The fine-tuning configuration file.
    pub config: Option<PathBuf>,
    /// `--set` overrides: `[finetune]`'s, then the encoder's.
    pub set: Vec<String>,
}

impl CellRecord {
    /// Every `--set` of the run: the record's, then the share of the training documents.
    pub fn overrides(&self) -> Vec<String> {
        let subset =
            [format!("train_subset.fraction={}", self.fraction), format!("train_subset.seed={}", self.fraction_seed)];
        self.set.iter().cloned().chain(subset).collect()
    }
}

/// The stages of a grid, which `--only` runs one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// The pre-training runs.
    Pretrain,
    /// The cells.
    Finetune,
}

/// What a unit's folder holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Finished: its report, or its exports, are there.
    Done,
    /// Not started.
    Todo,
    /// Started and stopped: a pre-training run goes on from its latest checkpoint.
    Resume,
    /// Started and stopped with nothing to go on from: it starts again.
    Restart,
}

impl Status {
    /// How the plan shows it.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Todo => "to run",
            Status::Resume => "to resume from its latest checkpoint",
            Status::Restart => "stopped before its end: to run again",
        }
    }
}

/// Every unit of a grid, in order: pre-training first, then the cells by share, encoder
/// and seed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The grid's directory.
    pub dir: PathBuf,
    /// The pre-training runs to make.
    pub pretrain: Vec<PretrainUnit>,
    /// The cells.
    pub cells: Vec<Cell>,
}

impl Plan {
    /// The units of `file` in `dir`.
    pub fn new(file: &ExperimentFile, dir: &Path) -> Plan {
        // One pre-training run per distinct [encoder.pretrain], named after its first encoder.
        let mut pretrain: Vec<PretrainUnit> = Vec::new();
        for encoder in &file.encoders {
            let Some(spec) = &encoder.pretrain else { continue };
            if !pretrain.iter().any(|u| &u.record.pretrain == spec) {
                pretrain.push(PretrainUnit {
                    dir: dir.join(PRETRAIN_DIR).join(&encoder.name),
                    record: PretrainRecord { encoder: encoder.name.clone(), pretrain: spec.clone() },
                });
            }
        }
        let mut cells = Vec::new();
        for &fraction in &file.fractions {
            for encoder in file.encoders.iter().filter(|e| e.runs_at(fraction)) {
                let run = match (&encoder.path, &encoder.pretrain) {
                    (Some(path), _) => path.clone(),
                    (None, spec) => {
                        let unit = pretrain.iter().find(|u| Some(&u.record.pretrain) == spec.as_ref());
                        unit.map_or_else(|| dir.join(PRETRAIN_DIR).join(&encoder.name), |u| u.dir.clone())
                    }
                };
                let run = match encoder.step {
                    Some(step) => run.join(layout::EXPORTS_DIR).join(layout::export_dir(step)),
                    None => run,
                };
                let encoder_dir = match encoder.span_encoders {
                    true => run,
                    false => run.join(layout::ENCODER_DIR),
                };
                for &seed in file.seeds_of(fraction) {
                    let name = format!("{}-f{}-s{seed}", encoder.name, percent(fraction));
                    let record = CellRecord {
                        encoder: encoder.name.clone(),
                        encoder_dir: encoder_dir.clone(),
                        pretrain: encoder.pretrain.clone(),
                        span_encoders: encoder.span_encoders,
                        data: file.data.clone(),
                        fraction,
                        fraction_seed: file.fraction_seed,
                        seed,
                        config: file.finetune.config.clone(),
                        set: file.finetune.set.iter().chain(&encoder.set).cloned().collect(),
                    };
                    cells.push(Cell { dir: dir.join(FINETUNE_DIR).join(&name), name, record });
                }
            }
        }
        Plan { dir: dir.to_path_buf(), pretrain, cells }
    }

    /// The pre-training run that makes `cell`'s encoder, where the experiment makes it.
    pub fn pretrain_of(&self, cell: &Cell) -> Option<&PretrainUnit> {
        let spec = cell.record.pretrain.as_ref()?;
        self.pretrain.iter().find(|u| &u.record.pretrain == spec)
    }

    /// Makes the grid's directory, or checks that it is one: never an input of the grid,
    /// and, where it exists and is not empty, an experiment's (`experiment.json`). Then
    /// records `file` there as the experiment last run.
    pub fn open(&self, file: &ExperimentFile) -> Result<()> {
        let mut inputs: Vec<(&str, &Path)> = vec![("the labeled data", &file.data)];
        for encoder in &file.encoders {
            if let Some(path) = &encoder.path {
                inputs.push(("an encoder", path));
            }
            for shards in encoder.pretrain.iter().flat_map(|p| &p.shards) {
                inputs.push(("a pre-training output", shards));
            }
        }
        crate::overwrite::refuse_inputs("--out", &self.dir, &inputs)?;
        let record = self.dir.join(EXPERIMENT_FILE);
        if self.dir.is_file() {
            bail!("--out {} is a file, not a folder for the grid", self.dir.display());
        }
        let empty = || -> Result<bool> {
            Ok(std::fs::read_dir(&self.dir)
                .with_context(|| format!("cannot read {}", self.dir.display()))?
                .next()
                .is_none())
        };
        if self.dir.exists() && !record.is_file() && !empty()? {
            bail!(
                "{} holds files but no {EXPERIMENT_FILE}: it is not an experiment's folder, and a grid would mix \
                 with what is there; choose another --out",
                self.dir.display()
            );
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        crate::atomic::write_json(file, &record)
    }

    /// What `unit`'s folder holds; a folder made for another run is refused.
    pub fn pretrain_status(unit: &PretrainUnit) -> Result<Status> {
        match folder(&unit.dir, PRETRAIN_RECORD, &unit.record)? {
            Folder::Absent => return Ok(Status::Todo),
            Folder::Unrecorded => return Ok(Status::Restart),
            Folder::Recorded => {}
        }
        let exported = [
            unit.dir.join(layout::ENCODER_DIR).join(layout::BERT_CONFIG_FILE),
            unit.dir.join(layout::ENCODER_DIR).join(layout::BERT_WEIGHTS_FILE),
            unit.dir.join(layout::SPAN_ENCODERS_FILE),
            unit.dir.join(layout::SPAN_ENCODERS_CONFIG),
        ];
        Ok(if exported.iter().all(|p| p.is_file()) {
            Status::Done
        } else if crate::run::checkpoints::latest(&unit.dir)?.is_some() {
            Status::Resume
        } else {
            Status::Restart
        })
    }

    /// What `cell`'s folder holds; a folder made for another cell is refused.
    pub fn cell_status(cell: &Cell) -> Result<Status> {
        Ok(match folder(&cell.dir, CELL_RECORD, &cell.record)? {
            Folder::Absent => Status::Todo,
            Folder::Recorded if cell.dir.join(layout::REPORT_FILE).is_file() => Status::Done,
            Folder::Recorded | Folder::Unrecorded => Status::Restart,
        })
    }

    /// The plan as `--dry-run` prints it, with the units `share` takes marked.
    pub fn text(&self, share: Option<Partition>) -> Result<String> {
        let mut out = String::new();
        let mine = |i: usize| share.is_none_or(|p| takes(p, i));
        let mark = |i: usize| if share.is_some() && mine(i) { " (this rank)" } else { "" };
        writeln!(out, "{} pre-training runs to make:", self.pretrain.len())?;
        for (i, unit) in self.pretrain.iter().enumerate() {
            let status = Plan::pretrain_status(unit)?.describe();
            writeln!(out, "  {:<24} {status}{}  {}", unit.record.encoder, mark(i), unit.dir.display())?;
        }
        writeln!(out, "{} cells (fine-tuning runs) in {}:", self.cells.len(), self.dir.join(FINETUNE_DIR).display())?;
        for (i, cell) in self.cells.iter().enumerate() {
            writeln!(out, "  {:<24} {}{}", cell.name, Plan::cell_status(cell)?.describe(), mark(i))?;
        }
        Ok(out)
    }
}

/// Whether the rank `share` takes the `i`-th unit of a stage: every N-th, so that each
/// rank gets some of every encoder's cells.
pub fn takes(share: Partition, i: usize) -> bool {
    i % share.world_size as usize == share.rank as usize
}

/// What a unit's folder is, before what it holds.
enum Folder {
    /// Never made.
    Absent,
    /// Made, and stopped before its record was written: it holds nothing but the lock.
    Unrecorded,
    /// Its record equals the unit's.
    Recorded,
}

/// What `dir` is for a unit whose record (the file `name`) is `record`. Another record, or
/// files without one, are refused: the folder is another run's.
fn folder<T: Serialize + DeserializeOwned + PartialEq>(dir: &Path, name: &str, record: &T) -> Result<Folder> {
    if !dir.exists() {
        return Ok(Folder::Absent);
    }
    let path = dir.join(name);
    if !path.is_file() {
        let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            if entry.file_name() != LOCK_FILE {
                bail!(
                    "{} holds files but no {name}: it is not the experiment's; remove it or choose another --out",
                    dir.display()
                );
            }
        }
        return Ok(Folder::Unrecorded);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let found: T =
        serde_json::from_str(&text).with_context(|| format!("{} is not a record of spe's", path.display()))?;
    if &found != record {
        bail!(
            "{} was made with other settings than the experiment gives now ({} differs): its results would be \
             mixed with the new ones; remove the folder to run it again, or choose another --out",
            dir.display(),
            path.display()
        );
    }
    Ok(Folder::Recorded)
}

/// Makes `dir`, or empties it of what a stopped run left, and writes `record` into it as
/// `name`: the folder's lock is taken first, so a run still writing there is never removed
/// from under.
pub fn restart<T: Serialize>(dir: &Path, name: &str, record: &T) -> Result<()> {
    let _lock = OutputLock::acquire(dir)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        if entry.file_name() == LOCK_FILE {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type()?.is_dir() {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
        removed.with_context(|| format!("cannot remove {}", path.display()))?;
    }
    crate::atomic::write_json(record, &dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::file::{EncoderSpec, FinetuneSpec};

    fn grid() -> ExperimentFile {
        let encoder = |name: &str, pretrain: bool| EncoderSpec {
            name: name.into(),
            path: (!pretrain).then(|| PathBuf::from("/models/bert")),
            pretrain: pretrain.then(|| PretrainSpec {
                shards: vec!["/out/wiki".into()],
                init: None,
                config: None,
                objectives: None,
                set: vec![],
            }),
            span_encoders: true,
            set: vec![format!("seed_of_{name}=1")],
            fractions: None,
            step: None,
        };
        ExperimentFile {
            data: "/out/scierc".into(),
            seeds: vec![1, 2],
            fractions: vec![0.5, 1.0],
            fraction_seed: 3,
            seeds_by_fraction: Default::default(),
            baseline: "bert".into(),
            finetune: FinetuneSpec { config: None, set: vec!["epochs=2".into()] },
            encoders: vec![encoder("bert", false), encoder("spe", true)],
        }
    }

    #[test]
    fn cells_run_over_shares_encoders_and_seeds_with_their_settings() {
        let plan = Plan::new(&grid(), Path::new("/x"));
        let names: Vec<&str> = plan.cells.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bert-f50-s1",
                "bert-f50-s2",
                "spe-f50-s1",
                "spe-f50-s2",
                "bert-f100-s1",
                "bert-f100-s2",
                "spe-f100-s1",
                "spe-f100-s2"
            ]
        );
        assert_eq!(plan.pretrain.len(), 1);
        assert_eq!(plan.pretrain[0].dir, Path::new("/x/pretrain/spe"));
        let spe = &plan.cells[2].record;
        assert_eq!(spe.encoder_dir, Path::new("/x/pretrain/spe"));
        assert_eq!(
            spe.overrides(),
            ["epochs=2", "seed_of_spe=1", "train_subset.fraction=0.5", "train_subset.seed=3"].map(String::from)
        );
        assert_eq!(plan.cells[0].record.encoder_dir, Path::new("/models/bert"));
        assert_eq!(plan.pretrain_of(&plan.cells[2]), Some(&plan.pretrain[0]));
        assert_eq!(plan.pretrain_of(&plan.cells[0]), None);
        // An encoder of the same pre-training, its BERT alone: no second run.
        let mut file = grid();
        let cnn = EncoderSpec { name: "spe-no-cnn".into(), span_encoders: false, ..file.encoders[1].clone() };
        file.encoders.push(cnn);
        let plan = Plan::new(&file, Path::new("/x"));
        assert_eq!(plan.pretrain.len(), 1);
        let no_cnn = plan.cells.iter().find(|c| c.name == "spe-no-cnn-f50-s1").unwrap();
        assert_eq!(no_cnn.record.encoder_dir, Path::new("/x/pretrain/spe/encoder"));
        assert_eq!(plan.pretrain_of(no_cnn), Some(&plan.pretrain[0]));
        let shares = [0, 1, 2].map(|rank| (0..8).filter(|&i| takes(Partition { rank, world_size: 3 }, i)).count());
        assert_eq!(shares, [3, 3, 2]);
        // A point along the pre-training, at one share, with that share's own seeds.
        let mut file = grid();
        let step = EncoderSpec {
            name: "spe-500".into(),
            fractions: Some(vec![0.5]),
            step: Some(500),
            ..file.encoders[1].clone()
        };
        file.encoders.push(step);
        file.seeds_by_fraction.insert("0.5".into(), vec![1, 2, 3]);
        let plan = Plan::new(&file, Path::new("/x"));
        let names: Vec<&str> =
            plan.cells.iter().filter(|c| c.name.starts_with("spe-500")).map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["spe-500-f50-s1", "spe-500-f50-s2", "spe-500-f50-s3"]);
        let cell = plan.cells.iter().find(|c| c.name == "spe-500-f50-s1").unwrap();
        assert_eq!(cell.record.encoder_dir, Path::new("/x/pretrain/spe/exports/step-500"));
        assert_eq!(plan.pretrain_of(cell), Some(&plan.pretrain[0]));
        assert_eq!(plan.cells.iter().filter(|c| c.record.fraction == 1.0).count(), 4, "1.0 keeps the file's seeds");
    }

    #[test]
    fn a_folder_is_done_stopped_or_another_runs() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new(&grid(), dir.path());
        let cell = &plan.cells[0];
        assert_eq!(Plan::cell_status(cell).unwrap(), Status::Todo);
        std::fs::create_dir_all(&cell.dir).unwrap();
        std::fs::write(cell.dir.join(LOCK_FILE), "").unwrap();
        assert_eq!(Plan::cell_status(cell).unwrap(), Status::Restart, "stopped before its record");
        std::fs::write(cell.dir.join(layout::METRICS_FILE), "{}\n").unwrap();
        restart(&cell.dir, CELL_RECORD, &cell.record).unwrap();
        assert!(!cell.dir.join(layout::METRICS_FILE).exists(), "a restart leaves only the record");
        assert_eq!(Plan::cell_status(cell).unwrap(), Status::Restart, "recorded, not reported");
        std::fs::write(cell.dir.join(layout::REPORT_FILE), "{}").unwrap();
        assert_eq!(Plan::cell_status(cell).unwrap(), Status::Done);
        let other = Cell { record: CellRecord { seed: 9, ..cell.record.clone() }, ..cell.clone() };
        assert!(format!("{:#}", Plan::cell_status(&other).unwrap_err()).contains("other settings"));
        let foreign = &plan.cells[1];
        std::fs::create_dir_all(&foreign.dir).unwrap();
        std::fs::write(foreign.dir.join("notes.txt"), "mine").unwrap();
        assert!(format!("{:#}", Plan::cell_status(foreign).unwrap_err()).contains("not the experiment's"));
        let unit = &plan.pretrain[0];
        restart(&unit.dir, PRETRAIN_RECORD, &unit.record).unwrap();
        assert_eq!(Plan::pretrain_status(unit).unwrap(), Status::Restart, "no checkpoint, no exports");
    }

    #[test]
    fn the_grid_folder_is_an_experiments_or_empty_and_never_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let file = ExperimentFile { data: dir.path().join("data"), ..grid() };
        std::fs::create_dir_all(&file.data).unwrap();
        let refused = |out: &Path| format!("{:#}", Plan::new(&file, out).open(&file).unwrap_err());
        assert!(refused(&file.data.join("grid")).contains("lies inside the labeled data"));
        let theirs = dir.path().join("theirs");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("a.txt"), "x").unwrap();
        assert!(refused(&theirs).contains("not an experiment's folder"));
        let out = dir.path().join("grid");
        Plan::new(&file, &out).open(&file).unwrap();
        Plan::new(&file, &out).open(&file).unwrap();
        assert!(out.join(EXPERIMENT_FILE).is_file());
    }
}
