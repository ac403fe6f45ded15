//! Clean and split: raw markup to sentences, run by the workers in parallel.
//!
//! [`wikitext`] turns a MediaWiki page into paragraphs of prose, [`plain`] cuts plain
//! prose into paragraphs, and [`sentences`] splits a paragraph into sentences, never
//! across paragraphs.

pub mod plain;
pub mod sentences;
pub mod wikitext;

pub use sentences::{SplitConfig, Splitter};
pub use wikitext::{CleanConfig, Cleaner};
