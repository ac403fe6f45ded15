//! An exact fast path of BERT's tokenization for the common case: ASCII text without
//! control characters or literal special tokens, with a `vocab.txt` vocabulary.
//!
//! For such text, BERT's normalizer only lower-cases (uncased vocabularies), words are
//! runs of non-space, non-punctuation bytes and every punctuation byte is a word, and
//! WordPiece is a greedy longest match. Doing this on bytes, with hash maps keyed by byte
//! strings, avoids the per-character Unicode lookups and allocations of the general
//! pipeline, which handles every other sentence. A test checks that both paths agree.

use super::TokenizedSentence;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// Greedy longest-match WordPiece over byte strings, with BERT's ASCII word splitting.
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
        // Non-ASCII needs Unicode rules; BERT deletes control characters (other than
        // tab, newline and carriage return) from inside words.
        if bytes.iter().any(|&b| b >= 0x7f || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))) {
            return None;
        }
        if memchr::memchr(b'[', bytes).is_some() && self.specials.iter().any(|s| text.contains(s.as_str())) {
            return None;
        }
        let mut sentence =
            TokenizedSentence { words: Vec::new(), ids: Vec::with_capacity(bytes.len() / 3), ends: Vec::new() };
        let mut lowered = Vec::new();
        let mut start: Option<usize> = None;
        for (i, &b) in bytes.iter().enumerate() {
            let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
            if space || b.is_ascii_punctuation() {
                if let Some(s) = start.take() {
                    self.push_word(text, s, i, &mut lowered, &mut sentence);
                }
                if !space {
                    self.push_word(text, i, i + 1, &mut lowered, &mut sentence);
                }
            } else if start.is_none() {
                start = Some(i);
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

    /// Appends the pieces of one ASCII word: the longest vocabulary prefix, then the
    /// longest continuation, and so on; `[UNK]` alone when some remainder has no match.
    fn word_pieces(&self, word: &[u8], ids: &mut Vec<u32>) {
        if word.len() > self.max_chars {
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
