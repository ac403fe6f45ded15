//! The label vocabularies of the extractor (paper §3.4, following the authors' joint model):
//!
//! - **span tags**, one per word: BIEOU (`O`, `B`, `I`, `E`, `U`) or BIO, without types;
//!   the tags find entity spans, the span classifier types them;
//! - **entity classes**: `None` (not an entity: a wrong span is rejected here), then the
//!   entity types;
//! - **relation classes**: `None`, then for each directed relation type `TYPE@>` (the
//!   head is the first argument in word order) and `TYPE@<` (the head is the second), and
//!   for each symmetric type one class `TYPE`, which has no direction: a symmetric relation
//!   is classified, predicted and scored with its arguments in word order, and (a, b) and
//!   (b, a) are one relation ([`spe::score`]).
//!
//! Entity spans that overlap cannot all be tagged: the tags take the spans in order of
//! start, longer first, and leave out a span that overlaps one already tagged. The spans
//! left out still reach the span classifier during training, which takes every gold span.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use spe::sample::spans::Span;

/// How entity spans are tagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Begin, Inside, End, Outside, Unit (one word).
    #[default]
    Bieou,
    /// Begin, Inside, Outside.
    Bio,
}

const BIEOU: [&str; 5] = ["O", "B", "I", "E", "U"];
const BIO: [&str; 3] = ["O", "B", "I"];
const O: i64 = 0;
const B: i64 = 1;
const I: i64 = 2;
const E: i64 = 3;
const U: i64 = 4;

/// The class of everything that is not an entity, or not a relation.
pub const NONE: i64 = 0;

/// The label sets of an extractor, saved with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// The tagging scheme.
    pub scheme: Scheme,
    /// Entity types.
    pub entities: Vec<String>,
    /// Relation types.
    pub relations: Vec<String>,
    /// Relation types without direction.
    pub symmetric: Vec<String>,
}

impl Labels {
    /// Label sets of an extractor; every set must be free of repeats, and symmetric types
    /// must be relation types.
    pub fn new(
        scheme: Scheme,
        entities: Vec<String>,
        relations: Vec<String>,
        symmetric: Vec<String>,
    ) -> Result<Labels> {
        ensure!(!entities.is_empty(), "no entity type: the corpus must name its entity types");
        for (what, set) in [("entity", &entities), ("relation", &relations)] {
            let mut sorted = set.clone();
            sorted.sort();
            sorted.dedup();
            ensure!(sorted.len() == set.len(), "the {what} types repeat a type: {set:?}");
            ensure!(set.iter().all(|l| l != "None"), "\"None\" cannot be a {what} type");
        }
        if let Some(s) = symmetric.iter().find(|s| !relations.contains(s)) {
            anyhow::bail!("symmetric relation type {s:?} is not a relation type");
        }
        Ok(Labels { scheme, entities, relations, symmetric })
    }

    /// The tag names, indexed by tag.
    pub fn tag_names(&self) -> &'static [&'static str] {
        match self.scheme {
            Scheme::Bieou => &BIEOU,
            Scheme::Bio => &BIO,
        }
    }

    /// Entity classes: `None` and the types.
    pub fn entity_classes(&self) -> i64 {
        self.entities.len() as i64 + 1
    }

    /// The class of entity type `label`, if it is one.
    pub fn entity_class(&self, label: &str) -> Option<i64> {
        self.entities.iter().position(|l| l == label).map(|i| i as i64 + 1)
    }

    /// The type of entity class `class` (`None` for class 0).
    pub fn entity_type(&self, class: i64) -> Option<&str> {
        (class > 0).then(|| self.entities.get(class as usize - 1).map(String::as_str)).flatten()
    }

    /// Relation classes: `None`, then the directed and symmetric classes.
    pub fn relation_classes(&self) -> i64 {
        1 + self.relations.iter().map(|r| if self.symmetric.contains(r) { 1 } else { 2 }).sum::<i64>()
    }

    /// The relation class names, indexed by class.
    pub fn relation_class_names(&self) -> Vec<String> {
        let mut names = vec!["None".to_string()];
        for r in &self.relations {
            if self.symmetric.contains(r) {
                names.push(r.clone());
            } else {
                names.extend([format!("{r}@>"), format!("{r}@<")]);
            }
        }
        names
    }

    /// The class of a relation of type `label` whose head is the first argument in word
    /// order (`head_first`) or the second.
    pub fn relation_class(&self, label: &str, head_first: bool) -> Option<i64> {
        let (first, width) = self.relation_classes_of().find(|(r, _, _)| *r == label).map(|(_, f, w)| (f, w))?;
        Some(first + i64::from(width == 2 && !head_first))
    }

    /// The type of relation class `class` and whether its head is the first argument;
    /// `None` for class 0.
    pub fn relation_of(&self, class: i64) -> Option<(String, bool)> {
        let (label, first, _) = self.relation_classes_of().find(|&(_, f, w)| (f..f + w).contains(&class))?;
        Some((label.to_string(), class == first))
    }

    /// Each relation type with its first class and its number of classes (1 for a
    /// symmetric type, 2 for a directed one), in class order after `None`.
    fn relation_classes_of(&self) -> impl Iterator<Item = (&str, i64, i64)> {
        self.relations.iter().scan(1, |next, r| {
            let width = if self.symmetric.contains(r) { 1 } else { 2 };
            let first = *next;
            *next += width;
            Some((r.as_str(), first, width))
        })
    }

    /// The tags of a sentence of `words` words with entity `spans` (half-open word ranges).
    pub fn tags(&self, words: usize, spans: &[Span]) -> Vec<i64> {
        let mut order: Vec<Span> = spans.to_vec();
        order.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
        let mut tags = vec![O; words];
        for Span { start, end } in order {
            let (s, e) = (start as usize, end as usize);
            if e > words || s >= e || tags[s..e].iter().any(|&t| t != O) {
                continue;
            }
            match self.scheme {
                Scheme::Bieou if e - s == 1 => tags[s] = U,
                Scheme::Bieou => {
                    tags[s] = B;
                    tags[s + 1..e - 1].fill(I);
                    tags[e - 1] = E;
                }
                Scheme::Bio => {
                    tags[s] = B;
                    tags[s + 1..e].fill(I);
                }
            }
        }
        tags
    }

    /// The spans that `tags` mark. BIEOU takes `U` and `B I* E`; an unfinished `B I*`
    /// marks nothing. BIO takes `B I*`, and an `I` after `O` begins a span.
    pub fn spans(&self, tags: &[i64]) -> Vec<Span> {
        let mut spans = Vec::new();
        let mut open: Option<usize> = None;
        for (i, &tag) in tags.iter().enumerate() {
            match (self.scheme, tag) {
                (Scheme::Bieou, U) => {
                    spans.push(Span::new(i as u32, i as u32 + 1));
                    open = None;
                }
                (_, B) => {
                    if let (Scheme::Bio, Some(s)) = (self.scheme, open) {
                        spans.push(Span::new(s as u32, i as u32));
                    }
                    open = Some(i);
                }
                (Scheme::Bieou, I) => {}
                (Scheme::Bieou, E) => {
                    if let Some(s) = open.take() {
                        spans.push(Span::new(s as u32, i as u32 + 1));
                    }
                }
                (Scheme::Bio, I) => {
                    open.get_or_insert(i);
                }
                _ => {
                    if let (Scheme::Bio, Some(s)) = (self.scheme, open) {
                        spans.push(Span::new(s as u32, i as u32));
                    }
                    open = None;
                }
            }
        }
        if let (Scheme::Bio, Some(s)) = (self.scheme, open) {
            spans.push(Span::new(s as u32, tags.len() as u32));
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(scheme: Scheme) -> Labels {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Labels::new(scheme, s(&["PER", "ORG"]), s(&["PHYS", "PER-SOC"]), s(&["PER-SOC"])).unwrap()
    }

    fn spans(ranges: &[(u32, u32)]) -> Vec<Span> {
        ranges.iter().map(|&(s, e)| Span::new(s, e)).collect()
    }

    #[test]
    fn tags_mark_spans_and_give_them_back() {
        for scheme in [Scheme::Bieou, Scheme::Bio] {
            let l = labels(scheme);
            let marked = spans(&[(0, 1), (2, 5), (6, 8)]);
            let tags = l.tags(9, &marked);
            assert_eq!(l.spans(&tags), marked, "{scheme:?}");
        }
        let l = labels(Scheme::Bieou);
        assert_eq!(l.tags(6, &spans(&[(0, 1), (1, 4)])), [U, B, I, E, O, O]);
        // Nested: the outer span is tagged, the inner one left to the span classifier.
        assert_eq!(l.spans(&l.tags(5, &spans(&[(1, 2), (0, 3)]))), spans(&[(0, 3)]));
        // An unfinished BIEOU span marks nothing; BIO recovers a span from a stray I.
        assert_eq!(l.spans(&[B, I, O, U]), spans(&[(3, 4)]));
        assert_eq!(labels(Scheme::Bio).spans(&[O, I, I, B]), spans(&[(1, 3), (3, 4)]));
    }

    #[test]
    fn relation_classes_carry_the_direction_except_for_symmetric_types() {
        let l = labels(Scheme::Bieou);
        assert_eq!(l.relation_class_names(), ["None", "PHYS@>", "PHYS@<", "PER-SOC"]);
        assert_eq!(l.relation_classes(), 4);
        assert_eq!(l.relation_class("PHYS", false), Some(2));
        assert_eq!(l.relation_class("PER-SOC", false), Some(3));
        assert_eq!(l.relation_of(2), Some(("PHYS".to_string(), false)));
        assert_eq!(l.relation_of(3), Some(("PER-SOC".to_string(), true)));
        assert_eq!(l.relation_of(NONE), None);
        assert_eq!((l.entity_class("ORG"), l.entity_type(2), l.entity_type(0)), (Some(2), Some("ORG"), None));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(Labels::new(Scheme::Bio, s(&["A", "A"]), vec![], vec![]).is_err());
        assert!(Labels::new(Scheme::Bio, s(&["A"]), s(&["R"]), s(&["Q"])).is_err());
    }
}
