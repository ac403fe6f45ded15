//! Labeled shards out of spe. `spe export` writes them back one file per split
//! (`train.json`, …): as DyGIE JSON lines, which with SciERC reproduces the release's
//! sentences, entities and relations exactly (coreference clusters are not kept in shards
//! and are not written), or as SpERT's JSON arrays with a `types.json`, which reproduces a
//! SpERT release read with its types file. Evaluation and prediction write their
//! predictions as DyGIE JSON lines, with `predicted_ner` and `predicted_relations` beside
//! the gold fields, what PURE's and DyGIE++'s scorers read, whatever the input format.
//!
//! A folder holds one export: `_export.json` lists its files, so that `--force` into an
//! earlier export's folder removes that export's files the new one does not write (a
//! `test.json` of another corpus beside the new train and dev would read as part of it),
//! and a split file that no record claims is refused rather than left or deleted.

use crate::corpus::labeled::spert::{self, Types};
use crate::corpus::labeled::{dygie, Format, LabeledDocument, LabeledSentence};
use crate::shard::labeled::{for_each_row, LabeledRow};
use crate::shard::manifest::{LabeledManifest, SplitRecord};
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The layout `spe export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// DyGIE JSON lines: one document a line.
    Dygie,
    /// SpERT's JSON: one array of sentences a split, and `types.json`.
    Spert,
}

/// The types file `spe export --format spert` writes beside the splits.
pub const TYPES_FILE: &str = "types.json";

/// The record of the export in a folder: what it was made from and the files it wrote.
pub const EXPORT_RECORD: &str = "_export.json";

/// The content of [`EXPORT_RECORD`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRecord {
    /// The labeled output exported, as given.
    data: String,
    /// `dygie` or `spert`.
    format: String,
    /// The files written, by name within the folder.
    files: Vec<String>,
}

impl ExportRecord {
    /// The record in `out`, if there is one.
    fn read(out: &Path) -> Result<Option<ExportRecord>> {
        let path = out.join(EXPORT_RECORD);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::regular_file::read_to_string(&path, "the export record")?;
        let record =
            serde_json::from_str(&text).with_context(|| format!("{} is not an export record", path.display()))?;
        Ok(Some(record))
    }
}

/// Writes `out/SPLIT.json` for every split of the labeled output in `dir` (and with
/// SpERT's format `out/types.json`), then `out/_export.json`; returns the files written.
/// A file of those names already in `out` is replaced only with `force`, which also
/// removes the files of the earlier export there that this one does not write; a split or
/// types file in `out` that is neither this export's nor the earlier one's is refused. An
/// export that fails part-way removes the files it wrote, so that no split of it looks
/// finished.
pub fn export(dir: &Path, out: &Path, format: ExportFormat, force: bool) -> Result<Vec<PathBuf>> {
    let manifest = LabeledManifest::read(dir)?;
    crate::overwrite::refuse_inputs("--out", out, &[("the labeled output", dir)])?;
    // The release files the output was prepared from, where they still are: an export
    // into their folder must not replace them.
    let sources: Vec<PathBuf> = manifest
        .ordered_splits()
        .into_iter()
        .flat_map(|(_, split)| split.inputs.iter().map(|input| PathBuf::from(&input.path)))
        .filter(|path| path.exists())
        .collect();
    let sources: Vec<(&str, &Path)> =
        sources.iter().map(|path| ("an input of the labeled output", path.as_path())).collect();
    let mut targets: Vec<PathBuf> =
        manifest.ordered_splits().into_iter().map(|(name, _)| split_file(out, name)).collect();
    if format == ExportFormat::Spert {
        targets.push(out.join(TYPES_FILE));
    }
    for target in targets.iter().chain([&out.join(EXPORT_RECORD)]) {
        crate::overwrite::refuse_inputs("--out", target, &sources)?;
        ensure!(
            force || !target.exists(),
            "{} already exists; pass --force to replace it, or choose another --out",
            target.display()
        );
    }
    let stale = stale_files(out, &targets)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    let result = write_all(dir, &manifest, out, format, &mut written);
    if result.is_err() {
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
    }
    result?;
    for path in &stale {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove {}, of the earlier export", path.display()))?;
    }
    let record = ExportRecord {
        data: dir.display().to_string(),
        format: format!("{format:?}").to_lowercase(),
        files: written.iter().filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned())).collect(),
    };
    crate::atomic::write_json(&record, &out.join(EXPORT_RECORD))?;
    Ok(written)
}

/// The files in `out` of the earlier export there that `targets` will not replace, to be
/// removed once the new export is written. A split or types file that no export record
/// claims is refused: it is the user's, or an export's of an spe before the record, and
/// either way the folder would hold more than this export.
fn stale_files(out: &Path, targets: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut earlier = ExportRecord::read(out)?.map(|r| r.files).unwrap_or_default();
    // A record names files of its own folder; anything else in it is not removed.
    earlier.retain(|name| {
        matches!(Path::new(name).components().collect::<Vec<_>>()[..], [std::path::Component::Normal(_)])
    });
    let split_like = crate::prep::labeled::SPLITS.iter().map(|s| format!("{s}.json")).chain([TYPES_FILE.to_string()]);
    let mut stale = Vec::new();
    for name in earlier.iter().cloned().chain(split_like) {
        let path = out.join(&name);
        if targets.contains(&path) || !path.exists() || stale.contains(&path) {
            continue;
        }
        if !earlier.contains(&name) {
            bail!(
                "{} is not a file this export writes, and no export record ({EXPORT_RECORD}) in {} claims it: remove \
                 it or choose another --out, so that the folder holds one export",
                path.display(),
                out.display()
            );
        }
        stale.push(path);
    }
    Ok(stale)
}

/// The file of split `name` in `out`.
fn split_file(out: &Path, name: &str) -> PathBuf {
    out.join(format!("{name}.json"))
}

/// Writes every file of [`export`], pushing each to `written` once complete.
fn write_all(
    dir: &Path,
    manifest: &LabeledManifest,
    out: &Path,
    format: ExportFormat,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    for (name, _) in manifest.ordered_splits() {
        let path = split_file(out, name);
        // A sentence of a multi-sentence document is `ID_N`, as SpERT's own conversions
        // name them; a SpERT release's sentences keep their ids.
        let sentence_ids = manifest.source_format != Format::Spert;
        crate::atomic::write_file(&path, |tmp| match format {
            ExportFormat::Dygie => write_dygie(dir, manifest, name, tmp),
            ExportFormat::Spert => write_spert(dir, manifest, name, sentence_ids, tmp),
        })?;
        written.push(path);
    }
    if format == ExportFormat::Spert {
        let path = out.join(TYPES_FILE);
        let types = match &manifest.types {
            Some(value) => value.clone(),
            None => spert_types(manifest)?.value,
        };
        crate::atomic::write_file(&path, |tmp| {
            std::fs::write(tmp, serde_json::to_vec(&types)?).with_context(|| format!("cannot write {}", tmp.display()))
        })?;
        written.push(path);
    }
    Ok(())
}

/// The types of a labeled output prepared without a types file: its label sets, or where
/// it has none, the labels its splits hold.
fn spert_types(manifest: &LabeledManifest) -> Result<Types> {
    let configured = |key: &str| -> Vec<String> {
        let set = manifest.config["labels"][key].as_array().into_iter().flatten();
        set.filter_map(|v| v.as_str().map(String::from)).collect()
    };
    let held = |of: fn(&SplitRecord) -> Vec<String>| -> Vec<String> {
        let mut all: Vec<String> = manifest.splits.values().flat_map(of).collect();
        all.sort();
        all.dedup();
        all
    };
    let mut entities = configured("entities");
    if entities.is_empty() {
        entities = held(|s| s.stats.entity_labels.keys().cloned().collect());
    }
    let mut relations = configured("relations");
    if relations.is_empty() {
        relations = held(|s| s.stats.relation_labels.keys().cloned().collect());
    }
    Ok(Types::from_labels(&entities, &relations, &manifest.symmetric_relations))
}

/// Writes the documents of split `name`'s shards to `path`, one JSON line each.
fn write_dygie(dir: &Path, manifest: &LabeledManifest, name: &str, path: &Path) -> Result<()> {
    let mut lines = DocumentLines::create(path)?;
    for_each_row(dir, manifest, name, |row| lines.push(row, None))?;
    lines.finish()
}

/// Writes the sentences of split `name`'s shards to `path` as one JSON array, an element a
/// line; ids are numbers where the release's were, and `ID_N` with `sentence_ids`.
fn write_spert(dir: &Path, manifest: &LabeledManifest, name: &str, sentence_ids: bool, path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let write = |out: &mut BufWriter<File>, bytes: &[u8]| {
        out.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write(&mut out, b"[")?;
    let mut first = true;
    for_each_row(dir, manifest, name, |row| {
        let sentence = LabeledSentence { words: row.words, entities: row.entities, relations: row.relations };
        write(&mut out, if first { b"\n" } else { b",\n" })?;
        first = false;
        let (id, numeric) = match sentence_ids {
            true => (format!("{}_{}", row.doc_id, row.sent_id), false),
            false => (row.doc_id, row.doc_id_is_number),
        };
        write(&mut out, &serde_json::to_vec(&spert::to_json(&sentence, &id, numeric))?)
    })?;
    write(&mut out, b"\n]\n")?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
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
