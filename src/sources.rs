//! Data manifests (`data-manifests/*.toml`): where a source comes from, its license, and
//! the files expected, with sizes, checksums and counts where they are known.
//! `spe verify-source MANIFEST DIR` checks local copies against one.

use crate::corpus::input::{read_line_bounded, Line, OpenInput};
use crate::corpus::labeled::{Format, LabelConfig, LabeledReader};
use crate::corpus::ReadConfig;
use crate::digest::sha256_file;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A data manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceManifest {
    /// The source's name.
    pub name: String,
    /// Where it comes from and how to get it.
    pub origin: String,
    /// Its license or terms of use.
    pub license: String,
    /// Anything else a user should know: expected totals, preprocessing, caveats.
    #[serde(default)]
    pub notes: String,
    /// The files expected, relative to the directory that holds the local copy.
    #[serde(default)]
    pub files: Vec<SourceFile>,
}

/// A file of a source; every field but `path` is checked only when given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceFile {
    /// Path relative to the source directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: Option<u64>,
    /// SHA-256, lowercase hex.
    pub sha256: Option<String>,
    /// Lines of the (decompressed) content.
    pub lines: Option<u64>,
    /// The labeled format, for the counts below.
    pub format: Option<Format>,
    /// Documents, read in `format`.
    pub documents: Option<u64>,
    /// Sentences.
    pub sentences: Option<u64>,
    /// Entity mentions.
    pub entities: Option<u64>,
    /// Relations.
    pub relations: Option<u64>,
}

impl SourceManifest {
    /// Reads a data manifest.
    pub fn read(path: &Path) -> Result<SourceManifest> {
        let text = crate::regular_file::read_to_string(path, "the source manifest")?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid data manifest", path.display()))
    }
}

/// The outcome of checking a local copy.
#[derive(Debug, Default)]
pub struct SourceCheck {
    /// One line per check that passed.
    pub passed: Vec<String>,
    /// One line per difference or missing file.
    pub problems: Vec<String>,
}

/// Checks the files of `manifest` under `dir`.
pub fn verify_source(manifest: &SourceManifest, dir: &Path) -> Result<SourceCheck> {
    anyhow::ensure!(dir.is_dir(), "{} does not exist or is not a directory", dir.display());
    let mut report = SourceCheck::default();
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let name = &file.path;
        let Ok(meta) = std::fs::metadata(&path) else {
            report.problems.push(format!("{name}: missing (looked for {})", path.display()));
            continue;
        };
        let mut check = |what: &str, found: String, expected: Option<String>| match expected {
            Some(expected) if expected != found => {
                report.problems.push(format!("{name}: {what} is {found}, the manifest says {expected}"))
            }
            Some(_) => report.passed.push(format!("{name}: {what} {found}")),
            None => {}
        };
        check("size", meta.len().to_string(), file.bytes.map(|b| b.to_string()));
        if file.sha256.is_some() {
            check("sha256", sha256_file(&path)?, file.sha256.clone());
        }
        if file.lines.is_some() {
            check("lines", count_lines(&path)?.to_string(), file.lines.map(|n| n.to_string()));
        }
        let counts = [file.documents, file.sentences, file.entities, file.relations];
        if counts.iter().any(Option::is_some) {
            let format = file.format.with_context(|| format!("{name}: counts are given without a format"))?;
            let found = count_labeled(&path, format)?;
            for (what, (found, expected)) in
                ["documents", "sentences", "entities", "relations"].iter().zip(found.into_iter().zip(counts))
            {
                check(what, found.to_string(), expected.map(|n| n.to_string()));
            }
        }
    }
    Ok(report)
}

fn count_lines(path: &Path) -> Result<u64> {
    let mut input = OpenInput::open(path)?;
    let (mut line, mut lines) = (Vec::new(), 0);
    while read_line_bounded(&mut *input.reader, &mut line, 1 << 30)? != Line::Eof {
        lines += 1;
    }
    Ok(lines)
}

/// Documents, sentences, entities and relations of a labeled file; a bad record is an error.
fn count_labeled(path: &Path, format: Format) -> Result<[u64; 4]> {
    let mut reader = LabeledReader::open(path, format, &ReadConfig::default(), &LabelConfig::default(), None)?;
    let mut counts = [0u64; 4];
    while let Some(doc) = reader.next_document()? {
        counts[0] += u64::from(doc.first_sentence == 0);
        counts[1] += doc.sentences.len() as u64;
        counts[2] += doc.sentences.iter().map(|s| s.entities.len() as u64).sum::<u64>();
        counts[3] += doc.sentences.iter().map(|s| s.relations.len() as u64).sum::<u64>();
    }
    Ok(counts)
}
