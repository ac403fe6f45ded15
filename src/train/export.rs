//! The end of a run: the sentence encoder as a Hugging Face BERT directory, and the span and
//! span-pair encoders for fine-tuning.
//!
//! `encoder/` holds `config.json` and `model.safetensors` under `BertModel`'s names, which
//! `transformers.BertModel.from_pretrained` loads. `span_encoders.safetensors` holds the
//! span encoder, the span-pair encoder and the CSPO projection under spe's names, with
//! `span_encoders.json` giving their sizes.

use crate::model::{ModelConfig, BERT_PREFIX};
use crate::shard::manifest::write_json_file;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Tensor};

/// Directory of the Hugging Face export inside the output directory.
pub const ENCODER_DIR: &str = "encoder";
/// File of the span and span-pair encoder weights inside the output directory.
pub const SPAN_ENCODERS_FILE: &str = "span_encoders.safetensors";

/// Writes both exports of the encoder variables in `vs` into `out`; returns the Hugging
/// Face directory. Files are written under temporary names and renamed.
pub fn export(out: &Path, vs: &nn::VarStore, model: &ModelConfig) -> Result<PathBuf> {
    let mut bert = Vec::new();
    let mut spans = Vec::new();
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, tensor) in variables {
        let tensor = tensor.to_kind(tch::Kind::Float);
        if let Some(hf) = name.strip_prefix(BERT_PREFIX) {
            bert.push((hf.to_string(), tensor));
        } else if ["span_encoder.", "pair_encoder.", "projection."].iter().any(|p| name.starts_with(p)) {
            spans.push((name, tensor));
        }
    }
    let dir = out.join(ENCODER_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_safetensors(&bert, &dir.join("model.safetensors"))?;
    write_json_file(&model.bert.to_hf_json(), &dir.join("config.json"))?;
    write_safetensors(&spans, &out.join(SPAN_ENCODERS_FILE))?;
    let sizes = serde_json::json!({ "hidden_size": model.bert.hidden_size, "span": model.span, "heads": model.heads });
    write_json_file(&sizes, &out.join("span_encoders.json"))?;
    Ok(dir)
}

/// Writes tensors (from any device) through a temporary file and a rename.
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let host: Vec<(&str, Tensor)> =
        tensors.iter().map(|(name, t)| (name.as_str(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    Tensor::write_safetensors(&host, &tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}
