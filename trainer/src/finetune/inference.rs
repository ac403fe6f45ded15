//! A fine-tuned extractor at work: `spe evaluate` scores it on a split of labeled shards,
//! `spe predict` extracts entities and relations from raw text or from pre-tokenized
//! DyGIE JSON lines. Both write DyGIE JSON lines with `predicted_ner` and
//! `predicted_relations`.

use super::data::gold_of;
use crate::extract::labels::Labels;
use crate::extract::model::Extractor;
use crate::extract::saved::{Description, Saved};
use crate::extract::step::{self, Mode};
use crate::extract::window;
use crate::runtime::device::parse_device;
use crate::runtime::fault::{guard, naming_memory_settings};
use anyhow::{anyhow, bail, ensure, Context, Result};
use spe::clean::{plain, SplitConfig, Splitter};
use spe::corpus::input::{ContentKind, OpenInput};
use spe::corpus::labeled::{dygie, LabeledDocument, LabeledSentence};
use spe::prep::labeled::rows;
use spe::score::Scores;
use spe::shard::labeled::{read_split, LabeledRow};
use spe::shard::manifest::LabeledManifest;
use std::io::BufRead;
use std::path::Path;
use tch::Device;

/// Scores the extractor in `model_dir` on split `split` of the labeled output in `data`
/// and writes its predictions to `predictions`.
pub fn evaluate(
    model_dir: &Path,
    data: &Path,
    split: &str,
    predictions: &Path,
    device: Option<&str>,
) -> Result<Scores> {
    refuse_inputs(predictions, model_dir, ("the labeled data", data))?;
    let device = parse_device(device)?;
    let saved = Saved::load(model_dir, device)?;
    let manifest = LabeledManifest::read(data)?;
    let Some(record) = manifest.splits.get(split) else {
        let held: Vec<&String> = manifest.splits.keys().collect();
        bail!("{} has no split {split:?} (it holds {held:?})", data.display());
    };
    let named = manifest.config["labels"]["entities"].as_array().is_some_and(|a| !a.is_empty());
    if named || manifest.splits.contains_key("train") {
        let theirs = super::labels_of(&manifest, saved.description.labels.scheme)?;
        same_labels(&saved.description.labels, &theirs, model_dir, data)?;
    } else {
        // Data that names no types and has no training split: its labels are those it
        // holds, which the extractor must know.
        let model = &saved.description.labels;
        let unknown: Vec<&String> = (record.stats.entity_labels.keys().filter(|l| !model.entities.contains(l)))
            .chain(record.stats.relation_labels.keys().filter(|l| !model.relations.contains(l)))
            .collect();
        ensure!(
            unknown.is_empty(),
            "split {split} of {} holds types the extractor in {} was not trained on: {unknown:?}",
            data.display(),
            model_dir.display()
        );
    }
    ensure!(
        manifest.tokenizer.sha256 == saved.description.tokenizer.sha256,
        "{} was tokenized with {} (checksum {}), but the extractor in {} with {} (checksum {}): prepare the data \
         with the extractor's tokenizer",
        data.display(),
        manifest.tokenizer.path,
        manifest.tokenizer.sha256,
        model_dir.display(),
        saved.description.tokenizer.path,
        saved.description.tokenizer.sha256
    );
    let rows = read_split(data, &manifest, split)?;
    let labels = &saved.description.labels;
    let predicted = predict_rows(&saved.model, &saved.description, &rows, device)?;
    spe::export::predictions(predictions, &rows, &predicted)?;
    Ok(Scores::of(rows.iter().map(gold_of).zip(&predicted), &labels.symmetric))
}

/// `--out` may be neither the data read nor a part of the model.
fn refuse_inputs(out: &Path, model_dir: &Path, data: (&str, &Path)) -> Result<()> {
    let parts = Saved::parts(model_dir);
    let mut inputs: Vec<(&str, &Path)> = parts.iter().map(|(what, path)| (*what, path.as_path())).collect();
    inputs.push(data);
    spe::overwrite::refuse_inputs("--out", out, &inputs)
}

/// The label sets of a model and of data must be the same.
fn same_labels(model: &Labels, data: &Labels, model_dir: &Path, data_dir: &Path) -> Result<()> {
    let mut differences = Vec::new();
    for (what, ours, theirs) in [
        ("entity", &model.entities, &data.entities),
        ("relation", &model.relations, &data.relations),
        ("symmetric relation", &model.symmetric, &data.symmetric),
    ] {
        if ours != theirs {
            differences.push(format!("{what} types {ours:?} against {theirs:?}"));
        }
    }
    ensure!(
        differences.is_empty(),
        "the extractor in {} was trained on other labels than {} holds: {}",
        model_dir.display(),
        data_dir.display(),
        differences.join("; ")
    );
    Ok(())
}

/// What `spe predict` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictSummary {
    /// Documents read.
    pub documents: usize,
    /// Sentences read.
    pub sentences: usize,
    /// Sentences longer than the encoder's positions, predicted in windows.
    pub windowed: usize,
    /// Entities predicted.
    pub entities: usize,
    /// Relations predicted.
    pub relations: usize,
}

/// Runs the extractor in `model_dir` over `input` and writes DyGIE JSON lines with its
/// predictions to `out`. `input` holds DyGIE JSON lines (`doc_key`, `sentences`, and gold
/// annotations, if any, which are kept) or raw text: documents separated by blank lines,
/// split into sentences by spe's splitter and into words by BERT's basic tokenization. It
/// is read with preparation's guards: a regular file (plain, `.zst` or `.bz2`), UTF-8.
pub fn predict(model_dir: &Path, input: &Path, out: &Path, device: Option<&str>) -> Result<PredictSummary> {
    refuse_inputs(out, model_dir, ("the --input", input))?;
    let device = parse_device(device)?;
    let saved = Saved::load(model_dir, device)?;
    let tokenizer = saved.tokenizer(model_dir)?;
    let mut opened = OpenInput::open(input)?;
    let kind = opened.kind()?;
    let text = read_text(opened.reader, input)?;
    let documents = match kind {
        ContentKind::JsonLines => json_documents(&text, input)?,
        ContentKind::Text => text_documents(&text, &tokenizer)?,
        ContentKind::JsonArray => bail!(
            "{}: one JSON array; spe predict reads DyGIE JSON lines (one document per line) or plain text \
             (a corpus in SpERT's format goes through `spe prep labeled` and `spe evaluate`)",
            input.display()
        ),
        ContentKind::MediaWiki | ContentKind::Xml => {
            bail!("{}: XML; spe predict reads DyGIE JSON lines or plain text", input.display())
        }
    };
    let max = saved.description.bert.max_position_embeddings as usize;
    let mut summary = PredictSummary { documents: documents.len(), ..Default::default() };
    let mut all: Vec<LabeledRow> = Vec::new();
    for doc in documents {
        all.extend(rows(doc, &tokenizer, true)?);
    }
    summary.sentences = all.len();
    summary.windowed = all.iter().filter(|r| r.input_ids.len() > max).count();
    let predictions = predict_rows(&saved.model, &saved.description, &all, device)?;
    summary.entities = predictions.iter().map(|p| p.entities.len()).sum();
    summary.relations = predictions.iter().map(|p| p.relations.len()).sum();
    spe::export::predictions(out, &all, &predictions)?;
    Ok(summary)
}

/// The rest of `reader`, opened by [`OpenInput::open`] (a regular file, decompressed, its
/// UTF-8 byte-order mark dropped, UTF-16 refused); a line that is not UTF-8 is named.
fn read_text(mut reader: Box<dyn BufRead + Send>, input: &Path) -> Result<String> {
    let (mut text, mut line) = (String::new(), Vec::new());
    for number in 1.. {
        line.clear();
        if reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", input.display()))? == 0 {
            break;
        }
        let utf8 = std::str::from_utf8(&line).map_err(|e| {
            anyhow!(
                "{}:{number}: not UTF-8 (byte {} of the line); spe reads UTF-8 text",
                input.display(),
                e.valid_up_to() + 1
            )
        })?;
        text.push_str(utf8);
    }
    Ok(text)
}

/// Documents of DyGIE JSON lines.
fn json_documents(text: &str, input: &Path) -> Result<Vec<LabeledDocument>> {
    let mut documents = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", input.display(), i + 1);
        let value: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        match dygie::parse(&value) {
            Ok(doc) => documents.push(doc),
            Err(fault) => bail!("{}: {}: {}", at(), fault.field, fault.what),
        }
    }
    Ok(documents)
}

/// Documents of raw text: blank lines separate documents, and within one the lines of a
/// paragraph are joined, then split into sentences and words.
fn text_documents(text: &str, tokenizer: &spe::tokenize::WordTokenizer) -> Result<Vec<LabeledDocument>> {
    let splitter = Splitter::new(&SplitConfig::default());
    let mut documents = Vec::new();
    for (i, paragraph) in plain::paragraphs(text).iter().enumerate() {
        let mut doc = LabeledDocument { id: format!("doc-{i}"), ..LabeledDocument::default() };
        for sentence in splitter.split(paragraph) {
            let words: Vec<String> = tokenizer.tokenize(sentence)?.words.iter().map(String::from).collect();
            if !words.is_empty() {
                doc.sentences.push(LabeledSentence { words, ..LabeledSentence::default() });
            }
        }
        if !doc.sentences.is_empty() {
            documents.push(doc);
        }
    }
    Ok(documents)
}

/// The predictions of `model` (described by `description`) for `rows`, without gradient,
/// batched as `description.prediction` says; a sentence longer than the encoder's
/// positions is predicted in windows ([`window`]), so that every sentence is scored.
pub fn predict_rows(
    model: &Extractor,
    description: &Description,
    rows: &[LabeledRow],
    device: Device,
) -> Result<Vec<LabeledSentence>> {
    let (pieces, windows) = window::split(rows, description.bert.max_position_embeddings as usize)?;
    let predicted = predict_pieces(model, description, &pieces, device)?;
    Ok(window::merge(rows.len(), &windows, predicted))
}

/// The predictions of `model` for `rows`, each of which fits the encoder.
fn predict_pieces(
    model: &Extractor,
    description: &Description,
    rows: &[LabeledRow],
    device: Device,
) -> Result<Vec<LabeledSentence>> {
    let autocast = description.prediction.bf16 && device.is_cuda();
    let mut predictions = Vec::with_capacity(rows.len());
    let batch_size = description.prediction.batch_size.max(1);
    for (i, chunk) in rows.chunks(batch_size).enumerate() {
        let out = guard(
            || format!("predicting sentences {}..{}", i * batch_size + 1, i * batch_size + chunk.len()),
            || {
                tch::no_grad(|| {
                    tch::autocast(autocast, || {
                        step::run(model, &description.labels, &description.candidates, chunk, device, Mode::Predict)
                    })
                })
            },
        );
        let settings = format!(
            "the sentences predicted at once ({batch_size}: eval_batch_size) or candidates.max_width ({})",
            description.candidates.max_width
        );
        let out = naming_memory_settings(out, &settings)?;
        predictions.extend(out.predictions);
    }
    Ok(predictions)
}
