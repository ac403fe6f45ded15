//! `spe export dygie`: labeled shards back to DyGIE JSON lines, one file per split
//! (`train.json`, …). With SciERC this reproduces the release's sentences, entities and
//! relations exactly; coreference clusters are not kept in shards and are not written.

use crate::corpus::labeled::{dygie, LabeledDocument, LabeledSentence};
use crate::shard::labeled::read_batches;
use crate::shard::manifest::LabeledManifest;
use crate::shard::ShardRecord;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `out/SPLIT.json` for every split of the labeled output in `dir`; returns the
/// files written.
pub fn dygie(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let manifest = LabeledManifest::read(dir)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for (name, split) in &manifest.splits {
        let path = out.join(format!("{name}.json"));
        crate::atomic::write_file(&path, |tmp| write_split(dir, &split.shards, tmp))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the documents of a split's shards to `path`, one JSON line each.
fn write_split(dir: &Path, shards: &[ShardRecord], path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut file = std::io::BufWriter::new(file);
    let mut doc: Option<LabeledDocument> = None;
    let flush = |doc: Option<LabeledDocument>, file: &mut std::io::BufWriter<std::fs::File>| -> Result<()> {
        if let Some(doc) = doc {
            serde_json::to_writer(&mut *file, &dygie::to_json(&doc))?;
            file.write_all(b"\n")?;
        }
        Ok(())
    };
    for shard in shards {
        for rows in read_batches(&dir.join(&shard.file))? {
            for row in rows? {
                // Rows of one document are consecutive, in sentence order.
                if doc.as_ref().is_none_or(|d| d.id != row.doc_id || row.sent_id == 0) {
                    flush(doc.take(), &mut file)?;
                    doc = Some(LabeledDocument { id: row.doc_id.clone(), ..LabeledDocument::default() });
                }
                let sentence = LabeledSentence { words: row.words, entities: row.entities, relations: row.relations };
                doc.as_mut().expect("set above").sentences.push(sentence);
            }
        }
    }
    flush(doc.take(), &mut file)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}
