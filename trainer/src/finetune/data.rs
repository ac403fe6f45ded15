//! What a fine-tuning run reads: where its encoder comes from, and the labeled data with
//! its label sets, checked against the encoder's vocabulary.

use super::config::TrainSubset;
use crate::extract::labels::{Labels, Scheme};
use anyhow::{bail, ensure, Result};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use spe::corpus::labeled::LabeledSentence;
use spe::run::layout::{self, ENCODER_DIR, SPAN_ENCODERS_CONFIG};
use spe::shard::labeled::{read_split, LabeledRow};
use spe::shard::manifest::LabeledManifest;
use std::path::{Path, PathBuf};

/// Where the sentence encoder comes from.
#[derive(Debug, Clone)]
pub enum EncoderSource {
    /// A pre-training run: `encoder/` and its span encoders.
    Run(PathBuf),
    /// A Hugging Face BERT directory; the span encoders start at random.
    Bert(PathBuf),
}

impl EncoderSource {
    /// Tells a run from a BERT directory by the files in `dir`.
    pub fn of(dir: &Path) -> Result<EncoderSource> {
        if dir.join(ENCODER_DIR).join(layout::BERT_CONFIG_FILE).is_file() {
            ensure!(
                dir.join(SPAN_ENCODERS_CONFIG).is_file(),
                "{} holds an encoder/ but no {SPAN_ENCODERS_CONFIG}: is it a finished spe train run?",
                dir.display()
            );
            return Ok(EncoderSource::Run(dir.to_path_buf()));
        }
        if dir.join(layout::BERT_CONFIG_FILE).is_file() && dir.join(layout::BERT_WEIGHTS_FILE).is_file() {
            return Ok(EncoderSource::Bert(dir.to_path_buf()));
        }
        bail!(
            "{} is neither an spe train run (encoder/config.json, span_encoders.json) nor a Hugging Face BERT \
             directory (config.json, model.safetensors)",
            dir.display()
        )
    }

    /// The Hugging Face BERT directory of the sentence encoder.
    pub fn bert_dir(&self) -> PathBuf {
        match self {
            EncoderSource::Run(dir) => dir.join(ENCODER_DIR),
            EncoderSource::Bert(dir) => dir.clone(),
        }
    }
}

/// The labeled data of a run.
pub(super) struct Data {
    pub labels: Labels,
    pub manifest: LabeledManifest,
    /// The training sentences of the documents kept (`train_subset`), in the split's order.
    pub train: Vec<LabeledRow>,
    /// Which documents those are, where a share of them was kept.
    pub subset: Option<SubsetRecord>,
    pub dev: Vec<LabeledRow>,
    pub test: Option<Vec<LabeledRow>>,
    /// Training sentences left out as longer than the encoder's positions.
    pub train_too_long: usize,
}

/// The label sets of a labeled output: its configured sets, or where none is configured
/// (a corpus of the user's), the labels its training split holds.
pub fn labels_of(manifest: &LabeledManifest, scheme: Scheme) -> Result<Labels> {
    let configured = |key: &str| -> Vec<String> {
        manifest.config["labels"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    let (mut entities, mut relations) = (configured("entities"), configured("relations"));
    if let Some(train) = manifest.splits.get("train") {
        if entities.is_empty() {
            entities = train.stats.entity_labels.keys().cloned().collect();
        }
        if relations.is_empty() {
            relations = train.stats.relation_labels.keys().cloned().collect();
        }
    }
    Labels::new(scheme, entities, relations, manifest.symmetric_relations.clone())
}

pub(super) fn load_data(dir: &Path, scheme: Scheme, max_positions: i64, subset: &TrainSubset) -> Result<Data> {
    let manifest = LabeledManifest::read(dir)?;
    for split in ["train", "dev"] {
        ensure!(
            manifest.splits.contains_key(split),
            "{} has no {split} split: fine-tuning trains on train and selects on dev (prepare it with --{split})",
            dir.display()
        );
    }
    let labels = labels_of(&manifest, scheme)?;
    let read = |split: &str| read_split(dir, &manifest, split);
    // A training sentence longer than the encoder's positions is left out and counted;
    // dev and test keep every sentence, predicted in windows (`extract::window`).
    let mut train = read("train")?;
    let before = train.len();
    train.retain(|r| r.input_ids.len() as i64 <= max_positions);
    let train_too_long = before - train.len();
    ensure!(
        !train.is_empty(),
        "{}: every training sentence is longer than the encoder's {max_positions} positions",
        dir.display()
    );
    let dev = read("dev")?;
    let test = manifest.splits.contains_key("test").then(|| read("test")).transpose()?;
    let (train, subset) = match subset.fraction < 1.0 {
        true => {
            let (train, record) = keep_documents(train, subset);
            (train, Some(record))
        }
        false => (train, None),
    };
    Ok(Data { labels, manifest, train, subset, dev, test, train_too_long })
}

/// The training documents a run of `train_subset.fraction` < 1 kept
/// ([`layout::TRAIN_DOCUMENTS_FILE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsetRecord {
    /// `train_subset.fraction`.
    pub fraction: f64,
    /// `train_subset.seed`.
    pub seed: u64,
    /// The documents of the training split.
    pub documents: usize,
    /// The ids of those kept, in the order they were drawn.
    pub kept: Vec<String>,
}

/// The sentences of the first ⌈fraction × documents⌉ documents (at least one) in an order
/// drawn from `subset.seed`, in the split's order. The order does not depend on the
/// fraction, so a smaller share is a part of a larger one.
fn keep_documents(rows: Vec<LabeledRow>, subset: &TrainSubset) -> (Vec<LabeledRow>, SubsetRecord) {
    let mut seen = std::collections::HashSet::new();
    let mut documents: Vec<&str> = rows.iter().map(|r| r.doc_id.as_str()).filter(|d| seen.insert(*d)).collect();
    documents.shuffle(&mut spe::rng::stream(subset.seed, "train-subset", 0));
    let count = ((subset.fraction * documents.len() as f64).ceil() as usize).clamp(1, documents.len().max(1));
    let kept: Vec<String> = documents.into_iter().take(count).map(String::from).collect();
    let record = SubsetRecord { fraction: subset.fraction, seed: subset.seed, documents: seen.len(), kept };
    let keep: std::collections::HashSet<&str> = record.kept.iter().map(String::as_str).collect();
    let rows = rows.into_iter().filter(|r| keep.contains(r.doc_id.as_str())).collect();
    (rows, record)
}

/// A row's gold annotation as a sentence.
pub fn gold_of(row: &LabeledRow) -> LabeledSentence {
    LabeledSentence { words: row.words.clone(), entities: row.entities.clone(), relations: row.relations.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(documents: usize) -> Vec<LabeledRow> {
        (0..documents)
            .flat_map(|d| {
                (0..2).map(move |sent_id| LabeledRow {
                    doc_id: format!("D{d}"),
                    doc_id_is_number: false,
                    sent_id,
                    words: vec!["w".into()],
                    input_ids: vec![1, 5, 2],
                    word_starts: vec![1],
                    entities: vec![],
                    relations: vec![],
                })
            })
            .collect()
    }

    #[test]
    fn a_smaller_share_of_documents_is_part_of_a_larger_one_whole_and_in_order() {
        let keep = |fraction, seed| keep_documents(rows(20), &TrainSubset { fraction, seed });
        let (tenth, record) = keep(0.1, 7);
        assert_eq!((record.documents, record.kept.len(), tenth.len()), (20, 2, 4));
        let (half, larger) = keep(0.5, 7);
        assert_eq!(larger.kept.len(), 10);
        assert_eq!(&larger.kept[..2], &record.kept[..], "the tenth is the first of the half");
        let whole: Vec<LabeledRow> = rows(20).into_iter().filter(|r| larger.kept.contains(&r.doc_id)).collect();
        assert_eq!(half, whole, "the kept documents' every sentence, in the split's order");
        assert_ne!(keep(0.5, 8).1.kept, larger.kept, "the seed draws the documents");
        assert_eq!(keep(0.5, 7).1, larger, "the same seed, the same documents");
        assert_eq!(keep(0.001, 7).1.kept.len(), 1, "at least one document");
    }
}
