//! DyGIE JSON lines out of spe: `spe export` writes labeled shards back, one file per split
//! (`train.json`, …), which with SciERC reproduces the release's sentences, entities and
//! relations exactly (coreference clusters are not kept in shards and are not written);
//! evaluation and prediction write their predictions the same way, with
//! `predicted_ner` and `predicted_relations` beside the gold fields.

use crate::corpus::labeled::{dygie, LabeledDocument, LabeledSentence};
use crate::shard::labeled::{read_batches, LabeledRow};
use crate::shard::manifest::LabeledManifest;
use crate::shard::ShardRecord;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `out/SPLIT.json` for every split of the labeled output in `dir`; returns the
/// files written.
pub fn dygie(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let manifest = LabeledManifest::read(dir)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for (name, split) in manifest.ordered_splits() {
        let path = out.join(format!("{name}.json"));
        crate::atomic::write_file(&path, |tmp| write_split(dir, &split.shards, tmp))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the documents of a split's shards to `path`, one JSON line each.
fn write_split(dir: &Path, shards: &[ShardRecord], path: &Path) -> Result<()> {
    let mut lines = DocumentLines::create(path)?;
    for shard in shards {
        for rows in read_batches(&dir.join(&shard.file))? {
            for row in rows? {
                lines.push(row, None)?;
            }
        }
    }
    lines.finish()
}

/// Writes `rows` with the prediction of each to `path` as DyGIE JSON lines.
pub fn predictions(path: &Path, rows: &[LabeledRow], predicted: &[LabeledSentence]) -> Result<()> {
    crate::atomic::write_file(path, |tmp| {
        let mut lines = DocumentLines::create(tmp)?;
        for (row, prediction) in rows.iter().zip(predicted) {
            lines.push(row.clone(), Some(prediction.clone()))?;
        }
        lines.finish()
    })
}

/// Sentences gathered into documents, one JSON line each. Rows of one document are
/// consecutive and in sentence order; a row of another id, or of sentence 0, begins the
/// next document.
struct DocumentLines {
    file: BufWriter<File>,
    path: PathBuf,
    doc: Option<(LabeledDocument, Vec<LabeledSentence>)>,
    with_predictions: bool,
}

impl DocumentLines {
    fn create(path: &Path) -> Result<DocumentLines> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(DocumentLines { file: BufWriter::new(file), path: path.to_path_buf(), doc: None, with_predictions: false })
    }

    fn push(&mut self, row: LabeledRow, prediction: Option<LabeledSentence>) -> Result<()> {
        if self.doc.as_ref().is_none_or(|(d, _)| d.id != row.doc_id || row.sent_id == 0) {
            self.flush()?;
            self.doc = Some((LabeledDocument { id: row.doc_id.clone(), ..LabeledDocument::default() }, Vec::new()));
        }
        let (doc, predicted) = self.doc.as_mut().expect("set above");
        doc.sentences.push(LabeledSentence { words: row.words, entities: row.entities, relations: row.relations });
        if let Some(prediction) = prediction {
            self.with_predictions = true;
            predicted.push(prediction);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some((doc, predicted)) = self.doc.take() {
            let value = match self.with_predictions {
                true => dygie::with_predictions(&doc, &predicted),
                false => dygie::to_json(&doc),
            };
            serde_json::to_writer(&mut self.file, &value)
                .map_err(std::io::Error::from)
                .and_then(|()| self.file.write_all(b"\n"))
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.flush()?;
        let path = std::mem::take(&mut self.path);
        self.file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}
