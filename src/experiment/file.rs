//! The experiment file (`pipelines/experiments/*.toml`): what to compare, on what data,
//! with which seeds. Paths are taken from the current directory, as on the command line,
//! and kept absolute, so that a cell's record names the same files from anywhere.
//!
//! ```toml
//! data = "out/scierc"              # labeled shards (spe prep scierc|ace05|labeled)
//! seeds = [1, 2, 3]
//! fractions = [0.1, 0.2, 0.5, 1.0] # shares of the training documents (default [1.0])
//! fraction_seed = 0                # which documents a share keeps (train_subset.seed)
//! baseline = "bert"                # the row the others are compared with
//!
//! [seeds_by_fraction]              # a share's own seeds, where it needs more (or fewer)
//! "0.1" = [1, 2, 3, 4, 5]
//!
//! [finetune]                       # every cell's fine-tuning
//! config = "pipelines/finetune.toml"
//! set = ["epochs=10"]
//!
//! [[encoder]]
//! name = "bert"
//! path = "models/bert-base-cased"  # a Hugging Face BERT directory, or a finished spe train run
//!
//! [[encoder]]
//! name = "spe"
//! set = []                         # this encoder's cells' --set, after [finetune]'s
//! span_encoders = true             # false: the run's BERT alone, span encoders at random
//! fractions = [0.1]                # the shares this encoder runs at (default: every one)
//! step = 500                       # its pre-training's export after 500 steps (one of
//!                                  # export_steps), not its end
//! [encoder.pretrain]               # a pre-training run to make once, in DIR/pretrain/spe
//!                                  # (encoders of equal [encoder.pretrain] share one)
//! shards = ["out/wiki"]
//! init = "models/bert-base-cased"
//! config = "pipelines/train.toml"
//! objectives = "tbo,spo,cspo"
//! set = ["steps=20000"]
//! ```

use crate::config::Override;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The most cells of one grid: each is a fine-tuning run.
pub const MAX_CELLS: usize = 100_000;

/// An experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// The labeled output every cell fine-tunes on (train and dev; test is reported).
    pub data: PathBuf,
    /// Fine-tuning seeds: each encoder and share runs once per seed.
    pub seeds: Vec<u64>,
    /// Shares of the training split's documents, each in (0, 1].
    #[serde(default = "whole")]
    pub fractions: Vec<f64>,
    /// The order the shares' documents are drawn in (`train_subset.seed`): the same for
    /// every cell, so a comparison's rows train on the same documents.
    #[serde(default)]
    pub fraction_seed: u64,
    /// A share's own seeds (the share as written in `fractions` → its seeds), instead of
    /// `seeds`: the small shares spread most, and need more.
    #[serde(default)]
    pub seeds_by_fraction: std::collections::BTreeMap<String, Vec<u64>>,
    /// The encoder each other is compared with.
    pub baseline: String,
    /// Every cell's fine-tuning.
    #[serde(default)]
    pub finetune: FinetuneSpec,
    /// The encoders compared, in the tables' order.
    #[serde(rename = "encoder")]
    pub encoders: Vec<EncoderSpec>,
}

fn whole() -> Vec<f64> {
    vec![1.0]
}

/// `[finetune]`: the fine-tuning every cell shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSpec {
    /// A `spe finetune` configuration file; spe's defaults otherwise.
    pub config: Option<PathBuf>,
    /// `--set` overrides, in order.
    #[serde(default)]
    pub set: Vec<String>,
}

/// `[[encoder]]`: one row of the tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// The row's name, and its cells' folder names.
    pub name: String,
    /// A Hugging Face BERT directory or a finished `spe train` run.
    pub path: Option<PathBuf>,
    /// A pre-training run to make, in `DIR/pretrain/NAME`.
    pub pretrain: Option<PretrainSpec>,
    /// Fine-tune from the run's pre-trained span and span-pair encoders too (false: its
    /// BERT alone, the span encoders at random, as Table 4's row without the pre-trained
    /// CNN).
    #[serde(default = "yes")]
    pub span_encoders: bool,
    /// This encoder's cells' `--set` overrides, after `[finetune]`'s.
    #[serde(default)]
    pub set: Vec<String>,
    /// The shares this encoder's cells run at, among `fractions`; all of them by default.
    pub fractions: Option<Vec<f64>>,
    /// Fine-tune from the pre-training run's export after this many steps (one of its
    /// `export_steps`) instead of from its end: a point of F1 against pre-training steps.
    pub step: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `[encoder.pretrain]`: the `spe train` run that makes an encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    /// Pre-training outputs (`spe prep`).
    pub shards: Vec<PathBuf>,
    /// A Hugging Face BERT directory to start from.
    pub init: Option<PathBuf>,
    /// A `spe train` configuration file.
    pub config: Option<PathBuf>,
    /// The objectives kept (`--objectives`).
    pub objectives: Option<String>,
    /// `--set` overrides, in order.
    #[serde(default)]
    pub set: Vec<String>,
}

impl ExperimentFile {
    /// Reads and checks the file at `path`, its paths made absolute.
    pub fn read(path: &Path) -> Result<ExperimentFile> {
        let text = crate::regular_file::read_to_string(path, "the experiment file")?;
        let mut file: ExperimentFile =
            toml::from_str(&text).with_context(|| format!("{} is not an experiment file", path.display()))?;
        file.absolute()?;
        file.check().with_context(|| format!("in {}", path.display()))?;
        Ok(file)
    }

    fn absolute(&mut self) -> Result<()> {
        let abs = |p: &mut PathBuf| -> Result<()> {
            *p = std::path::absolute(&*p).with_context(|| format!("cannot make {} absolute", p.display()))?;
            Ok(())
        };
        abs(&mut self.data)?;
        if let Some(config) = &mut self.finetune.config {
            abs(config)?;
        }
        for encoder in &mut self.encoders {
            if let Some(path) = &mut encoder.path {
                abs(path)?;
            }
            if let Some(pretrain) = &mut encoder.pretrain {
                pretrain.shards.iter_mut().try_for_each(abs)?;
                for path in [&mut pretrain.init, &mut pretrain.config].into_iter().flatten() {
                    abs(path)?;
                }
            }
        }
        Ok(())
    }

    /// Refuses a grid that cannot run or whose tables would mislead, naming the key.
    pub fn check(&self) -> Result<()> {
        ensure!(!self.seeds.is_empty(), "seeds: give at least one seed");
        if let Some(seed) = crate::counts::first_repeat(&self.seeds) {
            bail!("seeds names {seed} twice: its runs would count twice in the mean and standard deviation");
        }
        ensure!(!self.fractions.is_empty(), "fractions: give at least one share of the training documents");
        for (i, &f) in self.fractions.iter().enumerate() {
            ensure!(f > 0.0 && f <= 1.0, "fractions: {f} is not a share of the training documents in (0, 1]");
            if let Some(g) = self.fractions[..i].iter().find(|&&g| percent(g) == percent(f)) {
                bail!("fractions names {g} and {f}, the same share to two decimals of a percent");
            }
        }
        ensure!(!self.encoders.is_empty(), "no [[encoder]]: name at least the baseline");
        for (i, encoder) in self.encoders.iter().enumerate() {
            let name = &encoder.name;
            ensure!(
                !name.is_empty()
                    && name.len() <= 64
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                    && name.as_bytes()[0].is_ascii_alphanumeric(),
                "encoder name {name:?}: use 1 to 64 letters, digits, '-' and '_', from a letter or digit \
                 (it names folders)"
            );
            ensure!(!self.encoders[..i].iter().any(|e| &e.name == name), "two encoders are named {name:?}");
            match (&encoder.path, &encoder.pretrain) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => bail!("encoder {name:?}: give either path (a BERT or an spe train run) or [encoder.pretrain]"),
            }
            if let Some(pretrain) = &encoder.pretrain {
                ensure!(!pretrain.shards.is_empty(), "encoder {name:?}: pretrain.shards names no pre-training output");
                overrides(&pretrain.set).with_context(|| format!("encoder {name:?}: pretrain.set"))?;
            }
            ensure!(
                encoder.step.is_none() || encoder.pretrain.is_some(),
                "encoder {name:?}: step picks an export of the pre-training run the experiment makes: give \
                 [encoder.pretrain]"
            );
            for f in encoder.fractions.iter().flatten() {
                ensure!(
                    self.fractions.iter().any(|&g| percent(g) == percent(*f)),
                    "encoder {name:?}: fractions names {f}, which is not one of the grid's fractions"
                );
            }
            overrides(&encoder.set).with_context(|| format!("encoder {name:?}: set"))?;
        }
        overrides(&self.finetune.set).context("finetune.set")?;
        ensure!(
            self.encoders.iter().any(|e| e.name == self.baseline),
            "baseline {:?} is none of the encoders ({})",
            self.baseline,
            self.encoders.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        for (share, seeds) in &self.seeds_by_fraction {
            ensure!(
                share.parse::<f64>().is_ok_and(|f| self.fractions.iter().any(|&g| percent(g) == percent(f))),
                "seeds_by_fraction: {share:?} is not one of the grid's fractions"
            );
            ensure!(!seeds.is_empty(), "seeds_by_fraction.{share:?}: give at least one seed");
            if let Some(seed) = crate::counts::first_repeat(seeds) {
                bail!("seeds_by_fraction.{share:?} names {seed} twice");
            }
        }
        let cells: usize = self.fractions.iter().map(|&f| self.encoders.len() * self.seeds_of(f).len()).sum();
        ensure!(cells <= MAX_CELLS, "{cells} cells: at most {MAX_CELLS} fine-tuning runs in one grid");
        Ok(())
    }

    /// The seeds of share `fraction`: its own (`seeds_by_fraction`), or `seeds`.
    pub fn seeds_of(&self, fraction: f64) -> &[u64] {
        let own = self
            .seeds_by_fraction
            .iter()
            .find(|(share, _)| share.parse::<f64>().is_ok_and(|f| percent(f) == percent(fraction)));
        own.map_or(&self.seeds, |(_, seeds)| seeds)
    }
}

impl EncoderSpec {
    /// Whether this encoder's cells run at share `fraction`.
    pub fn runs_at(&self, fraction: f64) -> bool {
        self.fractions.as_ref().is_none_or(|own| own.iter().any(|&f| percent(f) == percent(fraction)))
    }
}

/// A share of the training documents in percent, as cells are named: `10`, `12.5`, `100`.
pub fn percent(fraction: f64) -> String {
    let text = format!("{:.2}", fraction * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `items` (`KEY=VALUE`) as overrides.
pub fn overrides(items: &[String]) -> Result<Vec<Override>> {
    items.iter().map(|s| Override::parse(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = r#"
data = "out/scierc"
seeds = [1, 2]
fractions = [0.5, 1.0]
baseline = "bert"
[finetune]
set = ["epochs=3"]
[[encoder]]
name = "bert"
path = "models/bert"
[[encoder]]
name = "spe"
[encoder.pretrain]
shards = ["out/wiki"]
set = ["steps=10"]
"#;

    fn parse(text: &str) -> Result<ExperimentFile> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.toml");
        std::fs::write(&path, text).unwrap();
        ExperimentFile::read(&path)
    }

    #[test]
    fn a_grid_reads_with_its_paths_absolute() {
        let file = parse(GRID).unwrap();
        assert!(file.data.is_absolute() && file.data.ends_with("out/scierc"));
        assert_eq!(file.encoders.len(), 2);
        assert!(file.encoders[1].pretrain.as_ref().unwrap().shards[0].is_absolute());
        assert_eq!(parse(&GRID.replace("fractions = [0.5, 1.0]\n", "")).unwrap().fractions, vec![1.0]);
        assert_eq!([0.1, 0.125, 1.0, 0.07].map(percent), ["10", "12.5", "100", "7"]);
    }

    #[test]
    fn the_shipped_experiments_read() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/experiments"));
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = ExperimentFile::read(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(file.finetune.config.as_ref().is_some_and(|c| c.is_file()), "{}", path.display());
            read += 1;
        }
        assert!(read >= 4);
    }

    #[test]
    fn a_grid_that_would_mislead_is_refused_by_its_key() {
        for (from, to, message) in [
            ("seeds = [1, 2]", "seeds = [1, 1]", "names 1 twice"),
            ("seeds = [1, 2]", "seeds = []", "at least one seed"),
            ("fractions = [0.5, 1.0]", "fractions = [0.0]", "(0, 1]"),
            ("fractions = [0.5, 1.0]", "fractions = [0.5, 0.50001]", "the same share"),
            ("baseline = \"bert\"", "baseline = \"roberta\"", "none of the encoders (bert, spe)"),
            ("name = \"spe\"", "name = \"bert\"", "two encoders are named"),
            ("name = \"spe\"", "name = \"../x\"", "names folders"),
            ("path = \"models/bert\"", "", "either path"),
            ("set = [\"steps=10\"]", "set = [\"steps\"]", "pretrain.set"),
            ("seeds = [1, 2]", "seeds = [1, 2]\nseed = 3", "unknown field `seed`"),
            ("shards = [\"out/wiki\"]", "shards = [\"out/wiki\"]\nstep = 3", "unknown field `step`"),
            ("path = \"models/bert\"", "path = \"models/bert\"\nstep = 3", "step picks an export"),
            ("name = \"spe\"", "name = \"spe\"\nfractions = [0.2]", "not one of the grid's fractions"),
            ("baseline = \"bert\"", "baseline = \"bert\"\nseeds_by_fraction = { \"0.2\" = [1] }", "seeds_by_fraction"),
            ("baseline = \"bert\"", "baseline = \"bert\"\nseeds_by_fraction = { \"0.5\" = [1, 1] }", "names 1 twice"),
            ("name = \"spe\"", "name = \"spe\"\nspan_encoders = \"no\"", "span_encoders"),
        ] {
            assert!(GRID.contains(from), "{from}");
            let err = format!("{:#}", parse(&GRID.replacen(from, to, 1)).unwrap_err());
            assert!(err.contains(message), "{to}: {err}");
        }
    }
}
