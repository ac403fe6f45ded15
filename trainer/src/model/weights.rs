//! Reading and writing weights, all as safetensors:
//!
//! - a Hugging Face BERT checkpoint (`config.json`, `model.safetensors`), read for `--init`;
//! - the exports of a pre-training run: `encoder/`, a Hugging Face BERT directory that
//!   `transformers.BertModel.from_pretrained` loads, and `span_encoders.safetensors` with
//!   `span_encoders.json`, the span encoder, span-pair encoder and CSPO projection under
//!   spe's names with their sizes, which fine-tuning reads back;
//! - copying tensors into the variables of a var store by name and prefix, with every
//!   missing tensor and wrong shape an error that names it.

use super::heads::HeadsConfig;
use super::span::SpanConfig;
use super::{ModelConfig, BERT_PREFIX};
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use spe::run::layout::{BERT_CONFIG_FILE, BERT_WEIGHTS_FILE, ENCODER_DIR, SPAN_ENCODERS_CONFIG, SPAN_ENCODERS_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Tensor};

/// Variable name prefixes of the parts that [`SPAN_ENCODERS_FILE`] holds.
pub const SPAN_ENCODER_PREFIXES: [&str; 3] = ["span_encoder.", "pair_encoder.", "projection."];

/// Reads every tensor of a safetensors file, by name.
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    spe::regular_file::refuse_special(path, "the weights file")?;
    Ok(Tensor::read_safetensors(path).with_context(|| format!("cannot read {}", path.display()))?.into_iter().collect())
}

/// Writes tensors (from any device) through a temporary file and a rename.
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let host: Vec<(&str, Tensor)> =
        tensors.iter().map(|(name, t)| (name.as_str(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    spe::atomic::write_file(path, |tmp| {
        Tensor::write_safetensors(&host, tmp).with_context(|| format!("cannot write {}", tmp.display()))
    })
}

/// The variables of `vs`, sorted by name.
pub fn sorted_variables(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    variables
}

/// Copies every variable of `vs` whose name starts with `prefix` from `tensors`, where it
/// is named without the prefix. Every variable must be found with its exact shape;
/// `source` names the file in errors.
pub fn load_variables(vs: &nn::VarStore, prefix: &str, tensors: &HashMap<String, Tensor>, source: &Path) -> Result<()> {
    for (name, mut variable) in sorted_variables(vs).into_iter().filter(|(name, _)| name.starts_with(prefix)) {
        let key = &name[prefix.len()..];
        let Some(value) = tensors.get(key) else {
            bail!("{}: the checkpoint has no tensor {key}", source.display());
        };
        if value.size() != variable.size() {
            bail!(
                "{}: tensor {key} has shape {:?}, but the configured model needs {:?}",
                source.display(),
                value.size(),
                variable.size()
            );
        }
        tch::no_grad(|| variable.copy_(value));
    }
    Ok(())
}

/// Reads the tensors of a Hugging Face checkpoint (`model.safetensors`) under spe's names:
/// a `bert.` prefix (checkpoints of `BertForPreTraining` and the like) is dropped, and the
/// old `gamma`/`beta` LayerNorm names become `weight`/`bias`.
pub fn read_hf_bert(path: &Path) -> Result<HashMap<String, Tensor>> {
    let tensors = read_safetensors(path)?;
    let has_prefix = tensors.iter().any(|(name, _)| name.starts_with("bert."));
    Ok(tensors
        .into_iter()
        .filter_map(|(name, tensor)| {
            let name = if has_prefix { name.strip_prefix("bert.")?.to_string() } else { name };
            let name = match name.rsplit_once('.') {
                Some((head, "gamma")) => format!("{head}.weight"),
                Some((head, "beta")) => format!("{head}.bias"),
                _ => name,
            };
            Some((name, tensor))
        })
        .collect())
}

/// The sizes of the span and span-pair encoders of an export (`span_encoders.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEncodersConfig {
    /// Hidden size of the sentence encoder they read.
    pub hidden_size: i64,
    /// The span and span-pair encoders.
    pub span: SpanConfig,
    /// The heads, of which the export keeps the CSPO projection.
    pub heads: HeadsConfig,
}

/// Writes both exports of the encoder variables in `vs` into `out`: `encoder/`, a Hugging
/// Face BERT directory with the tokenizer the shards were made with (`tokenizer`: its file
/// name and bytes, written as `vocab.txt` or `tokenizer.json`), and the span encoders.
/// Returns the Hugging Face directory.
pub fn export_encoders(
    out: &Path,
    vs: &nn::VarStore,
    model: &ModelConfig,
    tokenizer: &(String, Vec<u8>),
) -> Result<PathBuf> {
    let mut bert = Vec::new();
    let mut spans = Vec::new();
    for (name, tensor) in sorted_variables(vs) {
        let tensor = tensor.to_kind(tch::Kind::Float);
        if let Some(hf) = name.strip_prefix(BERT_PREFIX) {
            bert.push((hf.to_string(), tensor));
        } else if SPAN_ENCODER_PREFIXES.iter().any(|p| name.starts_with(p)) {
            spans.push((name, tensor));
        }
    }
    let dir = out.join(ENCODER_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_safetensors(&bert, &dir.join(BERT_WEIGHTS_FILE))?;
    spe::atomic::write_json(&model.bert.to_hf_json(), &dir.join(BERT_CONFIG_FILE))?;
    let (name, bytes) = tokenizer;
    let hf_name = if name.ends_with(".json") { "tokenizer.json" } else { "vocab.txt" };
    spe::atomic::write_bytes(&dir.join(hf_name), bytes)?;
    write_safetensors(&spans, &out.join(SPAN_ENCODERS_FILE))?;
    let sizes = SpanEncodersConfig {
        hidden_size: model.bert.hidden_size,
        span: model.span.clone(),
        heads: model.heads.clone(),
    };
    // Through a JSON value, whose keys are sorted, as the file has always been written.
    spe::atomic::write_json(&serde_json::to_value(&sizes)?, &out.join(SPAN_ENCODERS_CONFIG))?;
    Ok(dir)
}

/// Reads the span-encoder export of the run in `run_dir`: its sizes and its tensors.
pub fn read_span_encoders(run_dir: &Path) -> Result<(SpanEncodersConfig, HashMap<String, Tensor>)> {
    let config_path = run_dir.join(SPAN_ENCODERS_CONFIG);
    let text = spe::regular_file::read_to_string(&config_path, "the span encoders' description")?;
    let config = serde_json::from_str(&text)
        .with_context(|| format!("{} does not describe span encoders", config_path.display()))?;
    Ok((config, read_safetensors(&run_dir.join(SPAN_ENCODERS_FILE))?))
}

/// Loads the span encoder and span-pair encoder of the run in `run_dir` (and the CSPO
/// projection, where `vs` has one) into `vs`. Their sizes must be `model`'s: a difference
/// is an error naming the sizes, a missing or mis-shaped tensor one naming the tensor.
pub fn load_span_encoders(vs: &nn::VarStore, model: &ModelConfig, run_dir: &Path) -> Result<()> {
    let (config, tensors) = read_span_encoders(run_dir)?;
    let source = run_dir.join(SPAN_ENCODERS_FILE);
    ensure!(
        config.hidden_size == model.bert.hidden_size && config.span == model.span,
        "{}: the span encoders were trained for hidden size {} and {:?}, but the model has hidden size {} and {:?}",
        run_dir.join(SPAN_ENCODERS_CONFIG).display(),
        config.hidden_size,
        config.span,
        model.bert.hidden_size,
        model.span
    );
    for prefix in SPAN_ENCODER_PREFIXES {
        let own: HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(name, t)| Some((name.strip_prefix(prefix)?.to_string(), t.shallow_clone())))
            .collect();
        load_variables(vs, prefix, &own, &source).with_context(|| format!("the {prefix}* tensors"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Encoder, Heads};

    #[test]
    fn the_span_encoders_read_back_what_the_export_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let model = ModelConfig::tiny();
        tch::manual_seed(1);
        let trained = nn::VarStore::new(tch::Device::Cpu);
        let _encoder = Encoder::new(&trained.root(), &model);
        let _heads = Heads::new(&trained.root(), &model);
        let vocab = ("vocab.txt".to_string(), b"[PAD]\n[UNK]\n".to_vec());
        export_encoders(dir.path(), &trained, &model, &vocab).unwrap();
        let (config, tensors) = read_span_encoders(dir.path()).unwrap();
        assert_eq!((config.hidden_size, &config.span), (8, &model.span));
        assert!(tensors.keys().all(|k| SPAN_ENCODER_PREFIXES.iter().any(|p| k.starts_with(p))), "{:?}", tensors.keys());

        // A fresh model (no projection, as a fine-tuner's) takes the trained weights.
        tch::manual_seed(2);
        let fresh = nn::VarStore::new(tch::Device::Cpu);
        let mut no_projection = model.clone();
        no_projection.heads.projection = false;
        let _encoder = Encoder::new(&fresh.root(), &no_projection);
        load_span_encoders(&fresh, &no_projection, dir.path()).unwrap();
        let name = "pair_encoder.w_h.weight";
        assert!(fresh.variables()[name].equal(&trained.variables()[name]));

        // Other sizes, and a tensor of the wrong shape, are refused by name.
        let mut wider = model.clone();
        wider.span.filters = 5;
        let err = load_span_encoders(&fresh, &wider, dir.path()).unwrap_err().to_string();
        assert!(err.contains("span_encoders.json") && err.contains("filters: 5"), "{err}");
        let mut bad: Vec<(String, Tensor)> = tensors.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect();
        bad.retain(|(k, _)| k != "span_encoder.conv3.weight");
        bad.push(("span_encoder.conv3.weight".into(), Tensor::zeros([1, 2], (tch::Kind::Float, tch::Device::Cpu))));
        write_safetensors(&bad, &dir.path().join(SPAN_ENCODERS_FILE)).unwrap();
        let err = format!("{:#}", load_span_encoders(&fresh, &no_projection, dir.path()).unwrap_err());
        assert!(
            err.contains("span_encoder.* tensors") && err.contains("tensor conv3.weight has shape [1, 2]"),
            "{err}"
        );
    }
}
