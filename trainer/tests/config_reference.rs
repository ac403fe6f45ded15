//! `docs/configuration.md` is the reference of every stage's configuration, generated from
//! the typed structs: this test fails when the file and the structs differ, and writes it
//! again with `SPE_BLESS=1`.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::repo;
use schemars::schema_for;
use spe::config::reference::{markdown, Stage};

#[test]
fn the_configuration_reference_is_the_structs() {
    let stages = [
        Stage {
            command: "spe prep",
            files: "`pipelines/text.toml`, `wiki.toml`, `books.toml`, `nyt.toml`, `scierc.toml`, `ace05.toml`, \
                    `labeled.toml` (each holds the sections its corpus uses)",
            schema: schema_for!(spe::prep::PrepConfig),
        },
        Stage {
            command: "spe train",
            files: "`pipelines/train.toml` (the paper's set-up), `train-tiny.toml`",
            schema: schema_for!(spe_trainer::train::TrainConfig),
        },
        Stage {
            command: "spe finetune",
            files: "`pipelines/finetune.toml` (the defaults), `finetune-scierc.toml`, `finetune-ace05.toml` (the \
                    authors' set-ups), `finetune-tiny.toml`",
            schema: schema_for!(spe_trainer::finetune::FinetuneConfig),
        },
        Stage {
            command: "spe experiment",
            files: "`pipelines/experiments/tiny.toml` (the bundled samples), `minilm-sample.toml` (a small \
                    real grid), `minilm-scierc.toml` (pre-training's effect on full SciERC), `paper-ace05.toml`, `paper-ace05-fractions.toml`, `paper-scierc.toml` (the \
                    paper's Tables 3 to 7)",
            schema: schema_for!(spe::experiment::file::ExperimentFile),
        },
    ];
    let generated = markdown(&stages);
    let path = repo("docs/configuration.md");
    if std::env::var_os("SPE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the configuration structs; write it again with \
         SPE_BLESS=1 cargo test -p spe-trainer --test config_reference",
        path.display()
    );
}
