//! Sentence splitting by rules of the punkt kind.
//!
//! A sentence ends at `.`, `!`, `?` or `…` (runs of them included), followed by closing
//! quotes or brackets, white space, and a word that does not start in lower case. A full
//! stop does not end a sentence after a known abbreviation (`Dr.`, `e.g.`, `St.`), an
//! initial (`J. R. R. Tolkien`), or a dotted abbreviation (`U.S.`, `i.e.`). Decimals
//! (`3.14`) never split since no space follows their point.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Configuration of the sentence splitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Words that a full stop follows without ending the sentence (case-insensitive, without the stop).
    pub abbreviations: Vec<String>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        let words = "mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres \
            vs etc e.g i.e cf al approx ca c fl no nos vol vols pp p fig figs ed eds inc ltd co corp bros dept \
            univ assn est jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k u.n b.c a.d op viz";
        SplitConfig { abbreviations: words.split_whitespace().map(String::from).collect() }
    }
}

/// Splits paragraphs into sentences.
pub struct Splitter {
    abbreviations: HashSet<String>,
}

impl Splitter {
    /// A splitter with the configured abbreviations.
    pub fn new(config: &SplitConfig) -> Splitter {
        Splitter { abbreviations: config.abbreviations.iter().map(|a| a.to_lowercase()).collect() }
    }

    /// The sentences of `paragraph`, trimmed, in order.
    pub fn split<'a>(&self, paragraph: &'a str) -> Vec<&'a str> {
        let mut sentences = Vec::new();
        let mut start = 0;
        let mut chars = paragraph.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if !matches!(c, '.' | '!' | '?' | '…') {
                continue;
            }
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if matches!(d, '.' | '!' | '?' | '…' | '"' | '\'' | '”' | '’' | ')' | ']' | '»') {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let rest = &paragraph[end..];
            let next_word = rest.trim_start();
            if next_word.len() == rest.len() || next_word.is_empty() {
                continue; // no space after: a decimal, a URL, or the paragraph's end
            }
            if next_word.chars().next().is_some_and(char::is_lowercase) {
                continue;
            }
            if c == '.' && end == i + 1 && self.is_abbreviation(&paragraph[start..i]) {
                continue;
            }
            let sentence = paragraph[start..end].trim();
            if !sentence.is_empty() {
                sentences.push(sentence);
            }
            start = paragraph.len() - next_word.len();
        }
        let last = paragraph[start..].trim();
        if !last.is_empty() {
            sentences.push(last);
        }
        sentences
    }

    /// Whether the word ending `before` (just before a full stop) is an abbreviation.
    fn is_abbreviation(&self, before: &str) -> bool {
        let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
        let word = word.trim_start_matches(['(', '[', '"', '\'', '“', '‘']);
        let mut letters = word.chars();
        let initial = matches!((letters.next(), letters.next()), (Some(l), None) if l.is_uppercase());
        let dotted = word.contains('.') && word.split('.').all(|part| part.chars().count() == 1);
        initial || dotted || self.abbreviations.contains(&word.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        Splitter::new(&SplitConfig::default()).split(text)
    }

    #[test]
    fn splits_at_sentence_ends_only() {
        assert_eq!(
            split("Dr. Smith moved to the U.S. in 1990. He earned $3.5 million, e.g. from St. Louis. J. R. R. Tolkien wrote it!"),
            ["Dr. Smith moved to the U.S. in 1990.", "He earned $3.5 million, e.g. from St. Louis.", "J. R. R. Tolkien wrote it!"]
        );
        assert_eq!(
            split("He said \"Stop.\" Then he left... And later, i.e. after noon, returned."),
            ["He said \"Stop.\"", "Then he left...", "And later, i.e. after noon, returned."]
        );
        assert_eq!(split("Wait... what? Yes (really.) Done"), ["Wait... what?", "Yes (really.)", "Done"]);
        assert_eq!(
            split("See www.example.com for more. Version 2.0 is out."),
            ["See www.example.com for more.", "Version 2.0 is out."]
        );
        assert!(split("   ").is_empty());
    }
}
