//! What a worker does to one document: clean and split it where it is markup or prose,
//! then tokenize and sample each sentence, each from its own random stream.

use super::config::PrepConfig;
use crate::clean::wikitext::is_debris;
use crate::clean::{plain, Cleaner, Splitter};
use crate::corpus::{Content, Document, SkipReason};
use crate::sample::{Sampled, Sampler};
use crate::tokenize::WordTokenizer;
use anyhow::{Context, Result};

/// The stages a worker runs on each document.
pub(super) struct Stages<'a> {
    cleaner: Cleaner,
    splitter: Splitter,
    tokenizer: &'a WordTokenizer,
    sampler: &'a Sampler,
    seed: u64,
}

impl<'a> Stages<'a> {
    /// The stages of `config` with its tokenizer and sampler.
    pub(super) fn new(config: &PrepConfig, tokenizer: &'a WordTokenizer, sampler: &'a Sampler) -> Stages<'a> {
        Stages {
            cleaner: Cleaner::new(config.clean.clone()),
            splitter: Splitter::new(&config.split),
            tokenizer,
            sampler,
            seed: config.seed,
        }
    }
}

/// What a worker made of one document.
pub(super) struct DocumentOutput {
    pub(super) sampled: Sampled,
    pub(super) sentences: u64,
    /// Why the document was skipped whole, if it was.
    pub(super) skipped: Option<SkipReason>,
}

impl Stages<'_> {
    /// Cleans and splits (where the content is markup), tokenizes and samples one document.
    pub(super) fn process(&self, doc: &Document) -> Result<DocumentOutput> {
        let cleaned;
        let sentences: Vec<&str> = match &doc.content {
            Content::Sentences(sentences) => sentences.iter().map(String::as_str).collect(),
            Content::Wikitext(text) => {
                cleaned = self.cleaner.paragraphs(text);
                cleaned.iter().flat_map(|p| self.splitter.split(p)).filter(|s| !is_debris(s)).collect()
            }
            Content::Prose(text) => {
                cleaned = plain::paragraphs(text);
                cleaned.iter().flat_map(|p| self.splitter.split(p)).collect()
            }
        };
        let mut out = DocumentOutput { sampled: Sampled::default(), sentences: sentences.len() as u64, skipped: None };
        if sentences.is_empty() {
            out.skipped = Some(SkipReason::TooLittleProse);
            return Ok(out);
        }
        for (i, text) in sentences.iter().enumerate() {
            let sent_id = doc.first_sentence + i as i32;
            let sentence =
                self.tokenizer.tokenize(text).with_context(|| format!("document {} sentence {sent_id}", doc.id))?;
            self.sampler.sample_sentence(self.seed, &doc.id, sent_id, &sentence, &mut out.sampled);
        }
        if doc.title.is_some() {
            out.sampled.samples.iter_mut().for_each(|s| s.title = doc.title.clone());
        }
        Ok(out)
    }
}
