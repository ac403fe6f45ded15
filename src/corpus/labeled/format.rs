//! Which release format a split file is in, told from its first records.

use super::spert::ArrayRecords;
use crate::corpus::input::{read_line_bounded, Line, OpenInput};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

/// A labeled release format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// DyGIE / SciERC JSON lines.
    Dygie,
    /// NERE sentence JSON lines (Sun et al. 2019).
    Nere,
    /// ARNOR's NYT sentence JSON lines (Jia et al. 2019).
    Arnor,
    /// brat standoff files, listed by a file of document ids.
    Brat,
    /// SpERT's JSON: one array of sentences.
    Spert,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 5] = [Format::Dygie, Format::Nere, Format::Arnor, Format::Brat, Format::Spert];

    /// The name used on the command line and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dygie => "dygie",
            Format::Nere => "nere",
            Format::Arnor => "arnor",
            Format::Brat => "brat",
            Format::Spert => "spert",
        }
    }

    /// Tells the format of `path` from its first records: a DyGIE document, a NERE or
    /// ARNOR sentence (told apart by their mentions: NERE's have `offset`, ARNOR's a
    /// `start` ordinal), a JSON array of SpERT sentences, or, when the lines are not
    /// JSON, a brat list of document ids.
    pub fn detect(path: &Path) -> Result<Format> {
        let mut input = OpenInput::open(path)?;
        let mut line = Vec::new();
        let mut sentence_json = false;
        for line_no in 1..=1000 {
            match read_line_bounded(&mut *input.reader, &mut line, 1 << 26)
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                Line::Eof => break,
                Line::TooLong => bail!("{}:{line_no}: line too long to tell the format", path.display()),
                Line::Ok => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if text.starts_with('[') {
                return detect_array(path);
            }
            if text.starts_with('<') {
                bail!(
                    "{}:{line_no}: XML, not a labeled corpus; for a MediaWiki dump use spe prep wiki",
                    path.display()
                );
            }
            if !text.starts_with('{') {
                return Ok(Format::Brat);
            }
            let value: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("{}:{line_no}: not valid JSON, so the format is unknown", path.display()))?;
            if value.get("sentences").is_some() {
                return Ok(Format::Dygie);
            }
            if value.get("sentText").is_none() {
                bail!(
                    "{}:{line_no}: unknown format: a JSON record with neither `sentences` (DyGIE) nor `sentText` \
                     (NERE, ARNOR); pass --format",
                    path.display()
                );
            }
            sentence_json = true;
            let mentions = value.get("entityMentions").and_then(|m| m.as_array());
            if let Some(first) = mentions.and_then(|m| m.first()) {
                if first.get("offset").is_some() {
                    return Ok(Format::Nere);
                }
                if first.get("start").is_some() {
                    return Ok(Format::Arnor);
                }
            }
        }
        if sentence_json {
            bail!("{}: cannot tell NERE from ARNOR without an entity mention; pass --format", path.display());
        }
        bail!("{}: the file holds no record, so its format is unknown", path.display())
    }
}

impl Format {
    /// Whether `path` holds nothing but whitespace, so that no format can be told.
    pub fn is_empty(path: &Path) -> Result<bool> {
        let mut input = OpenInput::open(path)?;
        let mut buf = [0u8; 4096];
        loop {
            let n = input.reader.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                return Ok(true);
            }
            if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                return Ok(false);
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s).with_context(|| {
            format!("unknown format {s:?}; expected one of {}", Format::ALL.map(|f| f.as_str()).join(", "))
        })
    }
}

/// A JSON array is SpERT's when its first element is a sentence with `tokens`.
fn detect_array(path: &Path) -> Result<Format> {
    let mut records = ArrayRecords::open(path, 1 << 26)?;
    match records.next(path)? {
        Some(Ok(first)) if first.get("tokens").is_some() => Ok(Format::Spert),
        Some(Ok(_)) => bail!(
            "{}: a JSON array whose first element has no `tokens`, so not SpERT's format; spe reads other \
             formats as JSON lines, one record per line (convert with jq -c '.[]')",
            path.display()
        ),
        Some(Err(_)) => bail!("{}: the JSON array's first element is too long to tell the format", path.display()),
        None => bail!("{}: an empty JSON array, so its format is unknown", path.display()),
    }
}
