//! A fine-tuned extractor on disk, everything `spe evaluate` and `spe predict` need:
//!
//! - `extractor.safetensors`: every variable;
//! - `extractor.json`: the label sets, the sizes of BERT and of the span encoders, and the
//!   tokenizer's record (checksum, special ids) from the labeled shards it was trained on;
//! - `tokenizer/` with a copy of that tokenizer file, so raw text is tokenized as the
//!   training data was, wherever the model goes.
//!
//! The directory is written under a temporary name and renamed when complete.

use super::candidates::{CandidatesConfig, Proposer};
use super::model::{ClassifiersConfig, Extractor, WordVectors};
use crate::extract::labels::Labels;
use crate::model::bert::BertConfig;
use crate::model::span::SpanConfig;
use crate::model::weights::{load_variables, read_safetensors, sorted_variables, write_safetensors};
use crate::runtime::fault::guard;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::digest::sha256_file;
use spe::run::layout::{EXTRACTOR_DESCRIPTION, EXTRACTOR_FORMAT, EXTRACTOR_TOKENIZER_DIR, EXTRACTOR_WEIGHTS};
use spe::shard::manifest::TokenizerRecord;
use spe::tokenize::{TokenizerConfig, WordTokenizer};
use std::path::{Path, PathBuf};
use tch::{nn, Device};

/// `extractor.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Always `spe-extractor`.
    pub format: String,
    /// The label sets.
    pub labels: Labels,
    /// The sentence encoder's sizes.
    pub bert: BertConfig,
    /// The span and span-pair encoders' sizes.
    pub span: SpanConfig,
    /// The tokenizer of the training data.
    pub tokenizer: TokenizerRecord,
    /// The file name of its copy in `tokenizer/`.
    pub tokenizer_file: String,
    /// How candidate spans are proposed; extractors saved before the choice existed had
    /// the paper's tagger.
    #[serde(default = "CandidatesConfig::paper")]
    pub candidates: CandidatesConfig,
    /// What the classifiers read; see [`Description::parse`] for extractors saved before
    /// the choice existed.
    pub classifiers: ClassifiersConfig,
    /// How `spe evaluate` and `spe predict` run it: fine-tuning's `eval_batch_size` and
    /// `optim.bf16`, so that they predict as its dev and test scoring did (extractors saved
    /// before these were recorded: 32 sentences, bf16 on CUDA).
    #[serde(default)]
    pub prediction: PredictionConfig,
    /// The SHA-256 of `extractor.safetensors`, recorded by [`save`] (`None` before it is
    /// saved, and in extractors saved before it was recorded); [`Saved::load`] refuses
    /// weights that differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

/// How a saved extractor predicts ([`Description::prediction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionConfig {
    /// Sentences per batch.
    pub batch_size: usize,
    /// bf16 autocast on CUDA.
    pub bf16: bool,
}

impl PredictionConfig {
    /// The batch is 1 to 65,536 sentences, as fine-tuning's `eval_batch_size`.
    pub fn check(&self) -> Result<()> {
        ensure!(
            (1..=65_536).contains(&self.batch_size),
            "prediction.batch_size must lie in [1, 65536], not {}",
            self.batch_size
        );
        Ok(())
    }
}

impl Default for PredictionConfig {
    fn default() -> Self {
        PredictionConfig { batch_size: 32, bf16: true }
    }
}

impl Description {
    /// `extractor.json`'s text. One saved before `classifiers` was recorded read the
    /// paper's inputs, with the entity edges where it enumerated spans (they came with
    /// that proposer then); one saved before `word_vectors` was recorded read each word's
    /// first sub-token.
    pub fn parse(text: &str) -> Result<Description> {
        let mut value: serde_json::Value = serde_json::from_str(text)?;
        if let Some(object) = value.as_object_mut().filter(|o| !o.contains_key("classifiers")) {
            let proposer = match object.get("candidates") {
                Some(c) => CandidatesConfig::deserialize(c)?.proposer,
                None => CandidatesConfig::paper().proposer,
            };
            let before = serde_json::json!({ "entity_edges": proposer == Proposer::Spans, "pair_arguments": false });
            object.insert("classifiers".into(), before);
        }
        if let Some(classifiers) = value.get_mut("classifiers").and_then(|c| c.as_object_mut()) {
            classifiers.entry("word_vectors").or_insert_with(|| serde_json::to_value(WordVectors::First).unwrap());
        }
        Ok(serde_json::from_value(value)?)
    }
}

/// A loaded extractor.
pub struct Saved {
    /// What it is.
    pub description: Description,
    /// Its variables.
    pub vs: nn::VarStore,
    /// The network.
    pub model: Extractor,
}

impl Saved {
    /// What an extractor in `dir` is made of, for the commands that write beside it
    /// (`evaluate`'s predictions go into the model's folder by default) never to write
    /// over: its weights, its description and its tokenizer folder.
    pub fn parts(dir: &Path) -> [(&'static str, PathBuf); 3] {
        [
            ("the extractor's weights", dir.join(EXTRACTOR_WEIGHTS)),
            ("the extractor's description", dir.join(EXTRACTOR_DESCRIPTION)),
            ("the extractor's tokenizer", dir.join(EXTRACTOR_TOKENIZER_DIR)),
        ]
    }

    /// Loads the extractor in `dir` onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Saved> {
        let path = dir.join(EXTRACTOR_DESCRIPTION);
        let text = spe::regular_file::read_to_string(&path, "the extractor's description")
            .with_context(|| format!("is {} a fine-tuned spe extractor?", dir.display()))?;
        let description =
            Description::parse(&text).with_context(|| format!("{} does not describe an extractor", path.display()))?;
        ensure!(description.format == EXTRACTOR_FORMAT, "{}: format is {:?}", path.display(), description.format);
        // An edited description must not build an extractor that predicts nothing.
        (description.bert.check())
            .and_then(|()| description.span.check().context("span"))
            .and_then(|()| description.candidates.check())
            .and_then(|()| description.prediction.check())
            .with_context(|| path.display().to_string())?;
        let vs = nn::VarStore::new(device);
        let model = guard(
            || format!("{}: cannot build the extractor on {device:?}", path.display()),
            || {
                let d = &description;
                Ok(Extractor::new(&vs.root(), &d.bert, &d.span, &d.labels, &d.classifiers))
            },
        )?;
        let weights = dir.join(EXTRACTOR_WEIGHTS);
        if let Some(recorded) = &description.weights_sha256 {
            let sha256 = sha256_file(&weights)?;
            ensure!(
                &sha256 == recorded,
                "{}: the weights were changed after the extractor was saved (checksum {sha256}, recorded {recorded})",
                weights.display()
            );
        }
        load_variables(&vs, "", &read_safetensors(&weights)?, &weights)?;
        Ok(Saved { description, vs, model })
    }

    /// The tokenizer of the training data, from the copy in the directory, checked
    /// against its recorded checksum.
    pub fn tokenizer(&self, dir: &Path) -> Result<WordTokenizer> {
        let record = &self.description.tokenizer;
        let casing = record.casing();
        let config =
            TokenizerConfig { path: dir.join(EXTRACTOR_TOKENIZER_DIR).join(&self.description.tokenizer_file), casing };
        let tokenizer = WordTokenizer::load(&config)?;
        ensure!(
            tokenizer.sha256() == record.sha256,
            "{}: the tokenizer's checksum is {}, the extractor was trained with {}",
            config.path.display(),
            tokenizer.sha256(),
            record.sha256
        );
        Ok(tokenizer)
    }
}

/// Writes the extractor in `vs` to `dir`, replacing what is there, with the checksum of
/// its weights in the description; `tokenizer` is the tokenizer of the training data,
/// written beside the weights. A save that fails (a full disk) leaves no temporary folder.
pub fn save(dir: &Path, vs: &nn::VarStore, description: &Description, tokenizer: &[u8]) -> Result<()> {
    let tmp = tmp_dir(dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    let written = (|| {
        std::fs::create_dir_all(tmp.join(EXTRACTOR_TOKENIZER_DIR))
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let weights = tmp.join(EXTRACTOR_WEIGHTS);
        write_safetensors(&sorted_variables(vs), &weights)?;
        spe::atomic::write_bytes(&tmp.join(EXTRACTOR_TOKENIZER_DIR).join(&description.tokenizer_file), tokenizer)?;
        let described = Description { weights_sha256: Some(sha256_file(&weights)?), ..description.clone() };
        spe::atomic::write_json(&described, &tmp.join(EXTRACTOR_DESCRIPTION))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot rename {} to {}", tmp.display(), dir.display()))
}

fn tmp_dir(dir: &Path) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::labels::Scheme;

    fn description() -> Description {
        Description {
            format: EXTRACTOR_FORMAT.into(),
            labels: Labels::new(Scheme::Bieou, vec!["Task".into()], vec!["USED-FOR".into()], vec![]).unwrap(),
            bert: BertConfig::default(),
            span: SpanConfig::default(),
            tokenizer: TokenizerRecord {
                path: "vocab.txt".into(),
                sha256: "0".repeat(64),
                vocab_size: 28996,
                lowercase: Some(false),
                cls_id: 101,
                sep_id: 102,
                mask_id: 103,
            },
            tokenizer_file: "vocab.txt".into(),
            candidates: CandidatesConfig::default(),
            classifiers: ClassifiersConfig::default(),
            prediction: PredictionConfig::default(),
            weights_sha256: None,
        }
    }

    #[test]
    fn a_save_records_its_weights_checksum_and_a_failed_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().zeros("w", &[3]);
        let model = dir.path().join("model");
        save(&model, &vs, &description(), b"[PAD]\n").unwrap();
        let written = Description::parse(&std::fs::read_to_string(model.join(EXTRACTOR_DESCRIPTION)).unwrap()).unwrap();
        assert_eq!(written.weights_sha256.unwrap(), sha256_file(&model.join(EXTRACTOR_WEIGHTS)).unwrap());
        let unwritable = Description { tokenizer_file: "no/such/folder".into(), ..description() };
        assert!(save(&dir.path().join("other"), &vs, &unwritable, b"").is_err());
        assert!(!dir.path().join(".other.tmp").exists() && !dir.path().join("other").exists());
    }

    #[test]
    fn descriptions_saved_before_the_classifiers_were_recorded_read_as_they_were_built() {
        let description = description();
        let saved = serde_json::to_value(&description).unwrap();
        assert_eq!(Description::parse(&saved.to_string()).unwrap(), description);
        let mut unrecorded = saved.clone();
        unrecorded["classifiers"].as_object_mut().unwrap().remove("word_vectors");
        let read = Description::parse(&unrecorded.to_string()).unwrap();
        assert_eq!(read.classifiers.word_vectors, WordVectors::First, "saved before word_vectors was recorded");
        let mut before = saved.clone();
        before.as_object_mut().unwrap().remove("classifiers");
        let edges_only =
            ClassifiersConfig { word_vectors: WordVectors::First, entity_edges: true, pair_arguments: false };
        assert_eq!(Description::parse(&before.to_string()).unwrap().classifiers, edges_only);
        before.as_object_mut().unwrap().remove("candidates");
        let read = Description::parse(&before.to_string()).unwrap();
        assert_eq!((read.candidates, read.classifiers), (CandidatesConfig::paper(), ClassifiersConfig::paper()));
        before["classifiers"] = serde_json::json!({"entity_edges": true, "pair_argument": true});
        assert!(Description::parse(&before.to_string()).is_err(), "an unknown key is refused");
    }
}
