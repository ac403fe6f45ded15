//! Books: directory trees of plain-text books, one file per book (BooksCorpus's layout,
//! with genre folders), as `.txt`, `.txt.zst` or `.txt.bz2`. Each book is one document,
//! whose paragraphs (separated by blank lines) the workers split into sentences. Document
//! ids are the book's path relative to the root given, without a compression suffix.

use super::input::{ByteProgress, Compression, OpenInput};
use super::{bad_record, Content, Document, ReadConfig, SkipReason, Source, SourceReport};
use crate::counts::count;
use crate::partition::{Partition, PartitionRecord};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads the books under one or more roots, in path order.
pub struct BooksSource {
    books: std::vec::IntoIter<(PathBuf, String)>,
    config: ReadConfig,
    report: SourceReport,
    progress: ByteProgress,
}

impl BooksSource {
    /// A source over the book files under `roots` (directories, searched recursively, or
    /// single files). Other files are counted as `not_a_book` and left alone.
    pub fn new(roots: Vec<PathBuf>, config: ReadConfig) -> Result<BooksSource> {
        if roots.is_empty() {
            bail!("no input given");
        }
        let mut report = SourceReport::default();
        let mut books = Vec::new();
        for root in &roots {
            let found = if root.is_dir() {
                let mut files = Vec::new();
                walk(root, &mut files, &mut HashMap::new())?;
                files
            } else if root.is_file() {
                vec![root.clone()]
            } else {
                bail!("input {} does not exist", root.display());
            };
            for path in found {
                if !is_book(&path) {
                    count(&mut report.skipped, SkipReason::NotABook.as_str(), 1);
                    continue;
                }
                let relative = if root.is_dir() {
                    path.strip_prefix(root).unwrap_or(&path)
                } else {
                    Path::new(path.file_name().unwrap_or_default())
                };
                books.push((path.clone(), doc_id(relative)));
            }
        }
        crate::overwrite::refuse_repeated(books.iter().map(|(p, _)| p.as_path()))?;
        if books.is_empty() {
            bail!(
                "no .txt, .txt.zst or .txt.bz2 book found under {}",
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        let mut ids = BTreeSet::new();
        if let Some((path, id)) = books.iter().find(|(_, id)| !ids.insert(id.clone())) {
            bail!("two books have the document id {id:?} (the second is {}); give roots whose books have distinct relative paths", path.display());
        }
        let progress = ByteProgress::of(books.iter().map(|(p, _)| p.as_path()));
        Ok(BooksSource { books: books.into_iter(), config, report, progress })
    }
}

/// Every file under `dir`, in path order. Links to directories are followed, but a
/// directory reached twice (a link back up the tree would loop forever, a link across it
/// would read its books twice) is refused; `visited` maps each real directory to the path
/// it was first reached by.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, visited: &mut HashMap<PathBuf, PathBuf>) -> Result<()> {
    let real = std::fs::canonicalize(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    if let Some(first) = visited.insert(real, dir.to_path_buf()) {
        bail!(
            "{} is {} again (through a link): the tree would be read in a loop, or its books twice",
            dir.display(),
            first.display()
        );
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out, visited)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn is_book(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    [".txt", ".txt.zst", ".txt.bz2"].iter().any(|ext| name.ends_with(ext))
}

/// The relative path with `/` separators and without a compression suffix.
fn doc_id(relative: &Path) -> String {
    let id = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    Compression::strip_suffix(&id).to_string()
}

impl Source for BooksSource {
    fn next_document(&mut self) -> Result<Option<Document>> {
        for (path, id) in self.books.by_ref() {
            let mut input = OpenInput::open(&path)?;
            let limit = self.config.max_document_bytes;
            let mut bytes = Vec::new();
            (&mut input.reader)
                .take(limit as u64 + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("{}: read error", path.display()))?;
            let too_large = bytes.len() > limit;
            let record = input.finish()?;
            self.progress.finished(record.bytes);
            self.report.inputs.push(record);
            if too_large {
                count(&mut self.report.skipped, SkipReason::DocumentTooLarge.as_str(), 1);
                continue;
            }
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let line = e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
                    let location = format!("{}:{line}", path.display());
                    bad_record(
                        self.config.on_bad_record,
                        &mut self.report,
                        &location,
                        SkipReason::InvalidUtf8,
                        "invalid UTF-8",
                    )?;
                    continue;
                }
            };
            if text.trim().is_empty() {
                let location = path.display().to_string();
                bad_record(
                    self.config.on_bad_record,
                    &mut self.report,
                    &location,
                    SkipReason::EmptyFile,
                    "the book holds no text",
                )?;
                continue;
            }
            return Ok(Some(Document { id, title: None, first_sentence: 0, content: Content::Prose(text) }));
        }
        Ok(None)
    }

    fn progress(&self) -> (u64, u64) {
        self.progress.with_current(0)
    }

    fn take_share(&mut self, partition: &Partition) -> Result<PartitionRecord> {
        let (record, bytes) = partition.take_files(&mut self.books, |(path, _)| path)?;
        self.progress = ByteProgress::bytes(bytes);
        // Every rank walks the same trees; rank 0 alone counts the files that are not books.
        if partition.rank != 0 {
            self.report.skipped.clear();
        }
        Ok(record)
    }

    fn finish(self: Box<Self>) -> Result<SourceReport> {
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_are_found_in_path_order_with_relative_ids() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in
            [("romance/b.txt", "B."), ("fantasy/a.txt", "A."), ("fantasy/notes.md", "x"), ("z.TXT", "Z.")]
        {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut source = Box::new(BooksSource::new(vec![dir.path().to_path_buf()], ReadConfig::default()).unwrap());
        let mut ids = Vec::new();
        while let Some(doc) = source.next_document().unwrap() {
            ids.push(doc.id);
        }
        assert_eq!(ids, ["fantasy/a.txt", "romance/b.txt", "z.TXT"]);
        assert_eq!(source.finish().unwrap().skipped.get("not_a_book"), Some(&1));
        assert_eq!(doc_id(Path::new("scifi/c.txt.zst")), "scifi/c.txt");
    }
}
