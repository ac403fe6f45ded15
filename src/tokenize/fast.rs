//! An exact fast path of BERT's tokenization for the common cases, with a `vocab.txt`
//! vocabulary: ASCII text, and any text for a cased vocabulary, without control
//! characters, CJK ideographs or literal special tokens.
//!
//! For such text BERT's normalizer changes nothing but the case of ASCII letters (uncased
//! vocabularies) and the kind of whitespace; words are the runs between whitespace and
//! punctuation, each punctuation character a word of its own; and WordPiece is a greedy
//! longest match. Doing this on bytes, with hash maps keyed by byte strings, avoids the
//! per-character work and allocations of the general pipeline (`tokenizers`), which
//! handles every other sentence: it deletes control characters, spaces out CJK
//! ideographs, and for uncased vocabularies folds accents and Unicode case. The Unicode
//! rules are the general pipeline's own (`unicode_categories`, as its normalizer and
//! pre-tokenizer use them); a test checks that both paths agree.

use super::{TokenizedSentence, Words};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use unicode_categories::UnicodeCategories;

/// Greedy longest-match WordPiece over byte strings, with BERT's word splitting.
pub(super) struct FastBert {
    /// Word-initial pieces.
    initial: FxHashMap<Box<[u8]>, u32>,
    /// Continuation pieces, keyed without their `##` prefix.
    continuation: FxHashMap<Box<[u8]>, u32>,
    unk: u32,
    lowercase: bool,
    /// Longer words become `[UNK]`, as in WordPiece.
    max_chars: usize,
    /// Special tokens: text containing one takes the general path, which matches them.
    specials: Vec<String>,
}

impl FastBert {
    /// Builds the maps from a WordPiece vocabulary.
    pub(super) fn new(
        vocab: &HashMap<String, u32>,
        unk: u32,
        lowercase: bool,
        max_chars: usize,
        specials: &[&str],
    ) -> Self {
        let mut initial = FxHashMap::default();
        let mut continuation = FxHashMap::default();
        for (token, &id) in vocab {
            match token.strip_prefix("##") {
                Some(rest) => continuation.insert(rest.as_bytes().into(), id),
                None => initial.insert(token.as_bytes().into(), id),
            };
        }
        let specials = specials.iter().map(|s| s.to_string()).collect();
        FastBert { initial, continuation, unk, lowercase, max_chars, specials }
    }

    /// Tokenizes `text`, or returns `None` when it needs the general pipeline.
    pub(super) fn tokenize(&self, text: &str) -> Option<TokenizedSentence> {
        let bytes = text.as_bytes();
        let ascii = bytes.is_ascii();
        if ascii {
            // BERT deletes control characters (other than tab, newline and carriage return).
            if bytes.iter().any(|&b| b == 0x7f || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))) {
                return None;
            }
        } else if self.lowercase || text.chars().any(needs_normalizing) {
            return None;
        }
        if memchr::memchr(b'[', bytes).is_some() && self.specials.iter().any(|s| text.contains(s.as_str())) {
            return None;
        }
        let mut sentence = TokenizedSentence {
            words: Words::with_capacity(bytes.len() / 4, bytes.len()),
            ids: Vec::with_capacity(bytes.len() / 3),
            ends: Vec::with_capacity(bytes.len() / 4),
        };
        let mut lowered = Vec::new();
        let mut start: Option<usize> = None;
        let mut split = |i: usize, len: usize, space: bool, punctuation: bool| {
            if space || punctuation {
                if let Some(s) = start.take() {
                    self.push_word(text, s, i, &mut lowered, &mut sentence);
                }
                if punctuation {
                    self.push_word(text, i, i + len, &mut lowered, &mut sentence);
                }
            } else if start.is_none() {
                start = Some(i);
            }
        };
        if ascii {
            for (i, &b) in bytes.iter().enumerate() {
                split(i, 1, matches!(b, b' ' | b'\t' | b'\n' | b'\r'), b.is_ascii_punctuation());
            }
        } else {
            for (i, c) in text.char_indices() {
                split(i, c.len_utf8(), c.is_whitespace(), c.is_ascii_punctuation() || c.is_punctuation());
            }
        }
        if let Some(s) = start {
            self.push_word(text, s, bytes.len(), &mut lowered, &mut sentence);
        }
        Some(sentence)
    }

    fn push_word(&self, text: &str, start: usize, end: usize, lowered: &mut Vec<u8>, out: &mut TokenizedSentence) {
        let word = &text.as_bytes()[start..end];
        let word = if self.lowercase {
            lowered.clear();
            lowered.extend(word.iter().map(u8::to_ascii_lowercase));
            &lowered[..]
        } else {
            word
        };
        self.word_pieces(word, &mut out.ids);
        out.push_word(&text[start..end]);
    }

    /// Appends the pieces of one word: the longest vocabulary prefix, then the longest
    /// continuation, and so on; `[UNK]` alone when some remainder has no match. Matching
    /// bytes is matching characters: every entry is whole UTF-8, so none ends inside one.
    fn word_pieces(&self, word: &[u8], ids: &mut Vec<u32>) {
        // WordPiece's limit counts characters, never more than the bytes: only a long word
        // has its characters (the bytes that do not continue one) counted.
        if word.len() > self.max_chars && word.iter().filter(|&&b| (b as i8) >= -0x40).count() > self.max_chars {
            ids.push(self.unk);
            return;
        }
        let mark = ids.len();
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 { &self.initial } else { &self.continuation };
            let found = (start + 1..=word.len()).rev().find_map(|end| map.get(&word[start..end]).map(|&id| (id, end)));
            let Some((id, end)) = found else {
                ids.truncate(mark);
                ids.push(self.unk);
                return;
            };
            ids.push(id);
            start = end;
        }
    }
}

/// Whether BERT's normalizer changes `c` for a cased vocabulary beyond its kind of
/// whitespace: it deletes NUL, U+FFFD and control characters (Unicode's "other"
/// categories, but tab, newline and carriage return, which are whitespace), and spaces
/// out CJK ideographs (`tokenizers`' `BertNormalizer`).
fn needs_normalizing(c: char) -> bool {
    let control = c.is_other() && !matches!(c, '\t' | '\n' | '\r');
    let cjk = matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    );
    c == '\0' || c == '\u{fffd}' || control || cjk
}
