//! The label sets of the labeled corpora: which entity and relation types a corpus has,
//! which relation types have no direction, and how NYT marks unrelated pairs. These are
//! facts of ACE05, SciERC and NYT as released; `pipelines/ace05.toml`,
//! `pipelines/scierc.toml` and `pipelines/nyt.toml` write them out.

use super::Format;
use crate::corpus::CorpusName;
use serde::{Deserialize, Serialize};

/// What to do with a document that an earlier split holds too
/// ([`LabelConfig::repeated_documents`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatedDocuments {
    /// Stop with an error naming both splits.
    #[default]
    Error,
    /// Keep it and count it in the manifest.
    Count,
}

/// The label sets of a corpus (`[labels]` in `pipelines/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LabelConfig {
    /// The release format; detected from the first records when absent.
    pub format: Option<Format>,
    /// Entity types; any other is a bad record. Empty: any label.
    pub entities: Vec<String>,
    /// Relation types; any other is a bad record. Empty: any label.
    pub relations: Vec<String>,
    /// Relation types without direction (ACE05 PER-SOC; SciERC COMPARE, CONJUNCTION).
    /// They are stored as released, and (a, b) and (b, a) mean the same relation: a
    /// sentence holding both directions is counted in `symmetric_both_directions`, and
    /// evaluation matches them regardless of order.
    pub symmetric: Vec<String>,
    /// The label that marks a pair of mentions as not related (NYT's `None`); such pairs
    /// are left out and counted as `no_relation_pairs`.
    pub no_relation: Option<String>,
    /// ARNOR test relations marked `is_noise` (wrong distant labels) are kept when set;
    /// otherwise they are left out and counted as `noise_relations`.
    pub keep_noise: bool,
    /// A document that an earlier split holds too (the same `doc_key` or brat id, or the
    /// same words under another id): an error (`error`), or kept and counted in the
    /// split's `split_overlap` (`count`, the `--allow-split-overlap` flag). Documents
    /// shared by train and test inflate every score. A document repeated within one split
    /// is always kept and counted in `duplicate_documents`: releases repeat sentences (the
    /// NYT test set, SpERT's CoNLL04 and ADE), and the field scores them as released.
    pub repeated_documents: RepeatedDocuments,
    /// Penn Treebank escapes among the released words (`-LRB-`, `-RSB-`, `` `` ``, …) are
    /// given the sub-tokens of the characters they stand for; the words stay as released.
    pub unescape_ptb: bool,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            format: None,
            entities: Vec::new(),
            relations: Vec::new(),
            symmetric: Vec::new(),
            no_relation: None,
            keep_noise: false,
            repeated_documents: RepeatedDocuments::Error,
            unescape_ptb: true,
        }
    }
}

impl LabelConfig {
    /// The label sets of `corpus` (`ace05`: 7 entity and 6 relation types; `scierc`: 6
    /// and 7; `nyt`: any label, `None` marking unrelated pairs); no sets for the others.
    pub fn for_corpus(corpus: CorpusName) -> LabelConfig {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match corpus {
            CorpusName::Ace05 => LabelConfig {
                entities: strings(&["FAC", "GPE", "LOC", "ORG", "PER", "VEH", "WEA"]),
                relations: strings(&["ART", "GEN-AFF", "ORG-AFF", "PART-WHOLE", "PER-SOC", "PHYS"]),
                symmetric: strings(&["PER-SOC"]),
                ..LabelConfig::default()
            },
            CorpusName::Scierc => LabelConfig {
                entities: strings(&["Generic", "Material", "Method", "Metric", "OtherScientificTerm", "Task"]),
                relations: strings(&[
                    "COMPARE",
                    "CONJUNCTION",
                    "EVALUATE-FOR",
                    "FEATURE-OF",
                    "HYPONYM-OF",
                    "PART-OF",
                    "USED-FOR",
                ]),
                symmetric: strings(&["COMPARE", "CONJUNCTION"]),
                ..LabelConfig::default()
            },
            CorpusName::Nyt => LabelConfig {
                format: Some(Format::Arnor),
                no_relation: Some("None".to_string()),
                ..LabelConfig::default()
            },
            _ => LabelConfig::default(),
        }
    }
}
