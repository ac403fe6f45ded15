//! The sentences of labeled corpora as pre-training text: the paper's SPE(NYT), and
//! in-domain pre-training on ACE05 or SciERC. Words are joined by spaces and tokenized
//! again like any text; the annotations are not read ([`LabeledReader::text_only`]).

use super::{Format, LabelConfig, LabeledReader};
use crate::corpus::input::ByteProgress;
use crate::corpus::{Content, Document, ReadConfig, Source, SourceReport};
use crate::counts::merge_counts;
use crate::partition::{Partition, PartitionRecord};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Reads the sentences of labeled files, in order, as [`Document`]s.
pub struct LabeledText {
    files: std::vec::IntoIter<PathBuf>,
    format: Option<Format>,
    documents: Option<PathBuf>,
    config: ReadConfig,
    labels: LabelConfig,
    current: Option<LabeledReader>,
    report: SourceReport,
    progress: ByteProgress,
}

impl LabeledText {
    /// A source over `files` in `format` (detected per file when `None`); `documents` is
    /// where brat documents lie.
    pub fn new(
        files: Vec<PathBuf>,
        format: Option<Format>,
        documents: Option<PathBuf>,
        config: ReadConfig,
        labels: LabelConfig,
    ) -> Result<LabeledText> {
        if files.is_empty() {
            bail!("no input files given");
        }
        crate::overwrite::refuse_repeated(files.iter().map(PathBuf::as_path))?;
        Ok(LabeledText {
            progress: ByteProgress::of(files.iter().map(PathBuf::as_path)),
            files: files.into_iter(),
            format,
            documents,
            config,
            labels,
            current: None,
            report: SourceReport::default(),
        })
    }

    fn open(&self, path: &Path) -> Result<LabeledReader> {
        let format = match self.format {
            Some(format) => format,
            None => Format::detect(path)?,
        };
        Ok(LabeledReader::open(path, format, &self.config, &self.labels, self.documents.as_deref())?.text_only())
    }
}

impl Source for LabeledText {
    fn next_document(&mut self) -> Result<Option<Document>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.next() else { return Ok(None) };
                self.current = Some(self.open(&path)?);
            }
            let reader = self.current.as_mut().expect("opened above");
            match reader.next_document()? {
                Some(doc) => {
                    let sentences = doc.sentences.iter().map(|s| s.words.join(" ")).collect();
                    return Ok(Some(Document {
                        id: doc.id,
                        title: None,
                        first_sentence: doc.first_sentence as i32,
                        content: Content::Sentences(sentences),
                    }));
                }
                None => {
                    let report = self.current.take().expect("open").finish();
                    report.inputs.iter().for_each(|i| self.progress.finished(i.bytes));
                    self.report.inputs.extend(report.inputs);
                    merge_counts(&mut self.report.skipped, &report.skipped);
                }
            }
        }
    }

    fn progress(&self) -> (u64, u64) {
        self.progress.with_current(0)
    }

    fn take_share(&mut self, partition: &Partition) -> Result<PartitionRecord> {
        let (record, bytes) = partition.take_files(&mut self.files, PathBuf::as_path)?;
        self.progress = ByteProgress::bytes(bytes);
        Ok(record)
    }

    fn finish(self: Box<Self>) -> Result<SourceReport> {
        Ok(self.report)
    }

    fn reads_labels(&self) -> bool {
        true
    }
}
