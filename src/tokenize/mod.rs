//! BERT tokenization into words and WordPiece sub-tokens.
//!
//! Words are what BERT's basic tokenization yields (whitespace and punctuation splits,
//! CJK characters apart, after cleaning and optional lower-casing); each word maps to its
//! sub-tokens. The word boundaries are what the sampler works on, the sub-tokens are what
//! the model sees.
//!
//! The default vocabulary is the paper's (bert-base-cased, 28,996 entries), built into spe
//! as [`BUILTIN_VOCAB`], so that `spe prep` needs no file to start from.

mod fast;
mod words;

pub use words::Words;

use crate::digest::sha256_bytes;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    AddedToken, NormalizedString, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

/// Whether a `vocab.txt` vocabulary is lower-cased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Casing {
    /// Cased unless the vocabulary has no upper-case entry.
    #[default]
    Auto,
    /// Keep case and accents (bert-base-cased).
    Cased,
    /// Lower-case and strip accents (bert-base-uncased).
    Uncased,
}

/// The name that selects the built-in vocabulary as `tokenizer.path`.
pub const BUILTIN_VOCAB_NAME: &str = "builtin:bert-base-cased";

/// The paper's vocabulary, bert-base-cased's `vocab.txt`, byte for byte as
/// `data/bert-base-cased-vocab.txt` (so its checksum is that file's).
pub const BUILTIN_VOCAB: &[u8] = include_bytes!("../../data/bert-base-cased-vocab.txt");

/// The file name of the built-in vocabulary where it is written out (beside a fine-tuned
/// extractor).
pub const BUILTIN_VOCAB_FILE: &str = "bert-base-cased-vocab.txt";

/// The bytes of the tokenizer at `path`: the built-in vocabulary for [`BUILTIN_VOCAB_NAME`].
pub fn tokenizer_bytes(path: &Path) -> Result<std::borrow::Cow<'static, [u8]>> {
    if path == Path::new(BUILTIN_VOCAB_NAME) {
        return Ok(BUILTIN_VOCAB.into());
    }
    crate::regular_file::read(path, "the tokenizer")
        .map(Into::into)
        .with_context(|| format!("the built-in vocabulary is {BUILTIN_VOCAB_NAME}"))
}

/// Configuration of the tokenization stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// A BERT `vocab.txt` or a Hugging Face `tokenizer.json` (chosen by the `.json`
    /// extension); `builtin:bert-base-cased`, the default, is the paper's vocabulary, built
    /// into spe.
    pub path: PathBuf,
    /// Casing of a `vocab.txt`; a `tokenizer.json` carries its own normalizer.
    pub casing: Casing,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig { path: PathBuf::from(BUILTIN_VOCAB_NAME), casing: Casing::Auto }
    }
}

/// A sentence as words and their sub-tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedSentence {
    /// Each word as it appears in the input text.
    pub words: Words,
    /// The sub-token ids of all words, concatenated.
    pub ids: Vec<u32>,
    /// `ends[i]` is the end (exclusive) in `ids` of word `i`'s sub-tokens.
    pub ends: Vec<u32>,
}

impl TokenizedSentence {
    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// The sub-token ids of word `i`.
    pub fn pieces(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
    }
}

/// The special tokens the samples are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// `[CLS]`, first in every sequence.
    pub cls: u32,
    /// `[SEP]`, last in every sequence.
    pub sep: u32,
    /// `[MASK]`, for TBO targets and the CSPO views.
    pub mask: u32,
}

/// A BERT word and WordPiece tokenizer loaded from a local file or the built-in vocabulary.
pub struct WordTokenizer {
    inner: Tokenizer,
    /// The exact fast path for text the normalizer leaves alone (`vocab.txt` only).
    fast: Option<fast::FastBert>,
    special: SpecialIds,
    sha256: String,
    lowercase: Option<bool>,
}

impl WordTokenizer {
    /// Loads the tokenizer named by `config`; nothing is downloaded.
    pub fn load(config: &TokenizerConfig) -> Result<WordTokenizer> {
        let path = &config.path;
        let bytes = tokenizer_bytes(path)?;
        let sha256 = sha256_bytes(&bytes);
        let (mut inner, fast, lowercase) = if path.extension().is_some_and(|e| e == "json") {
            let t = Tokenizer::from_bytes(&bytes)
                .map_err(|e| anyhow!("{}: not a valid tokenizer.json: {e}", path.display()))?;
            (t, None, None)
        } else {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| anyhow!("{}: a vocab.txt must be UTF-8 text: {e}", path.display()))?;
            let lowercase = match config.casing {
                Casing::Cased => false,
                Casing::Uncased => true,
                Casing::Auto => vocab_is_uncased(text, path)?,
            };
            let (tokenizer, fast) = from_vocab(text, lowercase, path)?;
            (tokenizer, Some(fast), Some(lowercase))
        };
        // Sentences are sampled whole; a tokenizer.json may carry truncation or padding.
        inner.with_truncation(None).map_err(|e| anyhow!("{e}"))?;
        inner.with_padding(None);
        let id = |token: &str| {
            inner.token_to_id(token).with_context(|| format!("{}: the vocabulary has no {token} token", path.display()))
        };
        let special = SpecialIds { cls: id("[CLS]")?, sep: id("[SEP]")?, mask: id("[MASK]")? };
        Ok(WordTokenizer { inner, fast, special, sha256, lowercase })
    }

    /// Splits `text` into words and sub-tokens.
    pub fn tokenize(&self, text: &str) -> Result<TokenizedSentence> {
        match self.fast.as_ref().and_then(|f| f.tokenize(text)) {
            Some(sentence) => Ok(sentence),
            None => self.tokenize_general(text),
        }
    }

    /// The tokenizers crate's full pipeline, for any text.
    fn tokenize_general(&self, text: &str) -> Result<TokenizedSentence> {
        let encoding = self.inner.encode(text, false).map_err(|e| anyhow!("tokenizer failed: {e}"))?;
        let mut sentence = TokenizedSentence { words: Words::default(), ids: Vec::new(), ends: Vec::new() };
        // The word being built: its word id and byte range in `text`. A token without a
        // word id (a special token written in the text) never joins another.
        let mut word: Option<(Option<u32>, usize, usize)> = None;
        let tokens = encoding.get_ids().iter().zip(encoding.get_word_ids()).zip(encoding.get_offsets());
        for ((&id, &word_id), &(start, end)) in tokens {
            match &mut word {
                Some((Some(w), _, e)) if word_id == Some(*w) => *e = (*e).max(end),
                _ => {
                    if let Some((_, s, e)) = word.take() {
                        sentence.push_word(&text[s..e]);
                    }
                    word = Some((word_id, start, end));
                }
            }
            sentence.ids.push(id);
        }
        if let Some((_, s, e)) = word {
            sentence.push_word(&text[s..e]);
        }
        Ok(sentence)
    }

    /// Sub-tokens of words that are already split (a labeled corpus's words, kept as
    /// released): each word is normalized and pieced on its own, as Hugging Face's
    /// `is_split_into_words` does. A word the normalizer empties (control or zero-width
    /// characters only) becomes `[UNK]`, so every word has a first sub-token.
    pub fn tokenize_words<W: AsRef<str>>(&self, words: &[W]) -> Result<TokenizedSentence> {
        let refs: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
        let encoding = self.inner.encode(refs.as_slice(), false).map_err(|e| anyhow!("tokenizer failed: {e}"))?;
        let mut pieces: Vec<Vec<u32>> = vec![Vec::new(); words.len()];
        for (&id, word) in encoding.get_ids().iter().zip(encoding.get_word_ids()) {
            let word = word.with_context(|| format!("sub-token {id} belongs to no word"))? as usize;
            pieces[word].push(id);
        }
        let mut sentence = TokenizedSentence { words: refs.iter().collect(), ids: Vec::new(), ends: Vec::new() };
        for (i, word_pieces) in pieces.into_iter().enumerate() {
            if word_pieces.is_empty() {
                let unk = self.inner.token_to_id("[UNK]").with_context(|| {
                    format!("word {i} ({:?}) has no sub-token and the vocabulary has no [UNK]", refs[i])
                })?;
                sentence.ids.push(unk);
            }
            sentence.ids.extend(word_pieces);
            sentence.ends.push(sentence.ids.len() as u32);
        }
        Ok(sentence)
    }

    /// The ids of `[CLS]`, `[SEP]` and `[MASK]`.
    pub fn special_ids(&self) -> SpecialIds {
        self.special
    }

    /// SHA-256 of the tokenizer file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether a `vocab.txt` was read lower-cased (`None` for a `tokenizer.json`).
    pub fn lowercase(&self) -> Option<bool> {
        self.lowercase
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The sub-token string of `id`, for display.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The first id, below the larger of the two sizes, whose token differs between this
    /// vocabulary and `other`'s, with each one's token there: `None` where the two give
    /// every id the same token (a `vocab.txt` and the `tokenizer.json` of one model agree).
    pub fn first_difference(&self, other: &WordTokenizer) -> Option<(u32, Option<String>, Option<String>)> {
        let size = self.vocab_size().max(other.vocab_size()) as u32;
        (0..size).map(|id| (id, self.token(id), other.token(id))).find(|(_, a, b)| a != b)
    }

    /// The sub-tokens this tokenizer and `other` make of `text` where they differ (another
    /// casing or accent folding: one vocabulary read two ways gives one text other ids),
    /// `None` where they agree.
    pub fn reading_difference(&self, other: &WordTokenizer, text: &str) -> Result<Option<ReadingDifference>> {
        let pieces = |t: &WordTokenizer| -> Result<Vec<String>> {
            let ids = t.tokenize(text)?.ids;
            Ok(ids.into_iter().map(|id| t.token(id).unwrap_or_default()).collect())
        };
        let (ours, theirs) = (pieces(self)?, pieces(other)?);
        Ok((ours != theirs).then_some(ReadingDifference { ours, theirs }))
    }
}

/// How two tokenizers read one text ([`WordTokenizer::reading_difference`]).
#[derive(Debug, PartialEq, Eq)]
pub struct ReadingDifference {
    /// Its sub-tokens by the first tokenizer.
    pub ours: Vec<String>,
    /// Its sub-tokens by the other.
    pub theirs: Vec<String>,
}

impl TokenizedSentence {
    fn push_word(&mut self, surface: &str) {
        self.words.push(surface);
        self.ends.push(self.ids.len() as u32);
    }
}

/// BERT's special tokens, present in every BERT vocabulary.
const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// BERT's basic split of `text` into words, without normalising them: at whitespace, and
/// around every punctuation character, each of which is a word of its own. The words keep
/// their characters, so that a released sentence and a mention's text split alike.
pub fn split_words(text: &str) -> Result<Vec<&str>> {
    let mut pre = PreTokenizedString::from(text);
    BertPreTokenizer.pre_tokenize(&mut pre).map_err(|e| anyhow!("cannot split {text:?} into words: {e}"))?;
    let splits = pre.get_splits(OffsetReferential::Original, OffsetType::Byte);
    Ok(splits.into_iter().map(|(_, (start, end), _)| &text[start..end]).collect())
}

/// `text` with its accents taken off as BERT's uncased tokenizer takes them off (NFD,
/// then every non-spacing mark dropped): "Guantánamo" is "Guantanamo".
pub fn fold_accents(text: &str) -> String {
    use unicode_categories::UnicodeCategories;
    let mut normalized = NormalizedString::from(text);
    normalized.nfd().filter(|c| !c.is_mark_nonspacing());
    normalized.get().to_string()
}

/// The pipeline of Hugging Face's `BertTokenizer` for a `vocab.txt`, and its fast path.
fn from_vocab(text: &str, lowercase: bool, path: &Path) -> Result<(Tokenizer, fast::FastBert)> {
    refuse_repeated_entries(text, path)?;
    let entries = WordPiece::read_bytes(text.as_bytes())
        .map_err(|e| anyhow!("{}: not a valid vocab.txt: {e}", path.display()))?;
    let model = WordPiece::builder()
        .vocab(entries)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| anyhow!("{}: not a valid vocab.txt: {e}", path.display()))?;
    let vocab = tokenizers::Model::get_vocab(&model);
    if let Some(missing) = SPECIALS.iter().find(|t| !vocab.contains_key(**t)) {
        bail!("{}: the vocabulary has no {missing} token", path.display());
    }
    let fast = fast::FastBert::new(&vocab, vocab["[UNK]"], lowercase, model.max_input_chars_per_word, &SPECIALS);
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase))).map_err(|e| anyhow!("{e}"))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.add_special_tokens(SPECIALS.map(|t| AddedToken::from(t, true))).map_err(|e| anyhow!("{e}"))?;
    Ok((tokenizer, fast))
}

/// A `vocab.txt` numbers its tokens by line. A token listed twice would be given the later
/// line's id, so ids would run past the vocabulary's size: such a file is refused.
fn refuse_repeated_entries(text: &str, path: &Path) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (i, token) in text.lines().enumerate() {
        if let Some(first) = seen.insert(token, i + 1) {
            bail!(
                "{}:{}: {token:?} repeats line {first}; a vocabulary lists each token once (its ids are its line numbers)",
                path.display(),
                i + 1
            );
        }
    }
    Ok(())
}

/// An uncased BERT vocabulary has no letter that lower-casing changes outside its
/// `[SPECIAL]` entries. Upper-case letters with no lower case do not count: bert-base-uncased
/// and the vocabularies made from it list `ℝ` (U+211D), which `char::is_uppercase` calls
/// upper-case.
fn vocab_is_uncased(text: &str, path: &Path) -> Result<bool> {
    if text.trim().is_empty() {
        bail!("{}: the vocabulary is empty", path.display());
    }
    let lowers = |c: char| c.to_lowercase().ne(std::iter::once(c));
    Ok(!text.lines().filter(|l| !(l.starts_with('[') && l.ends_with(']'))).any(|l| l.chars().any(lowers)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The paper's vocabulary (bert-base-cased), bundled in `data/`, loaded once.
    pub(crate) fn cased() -> &'static WordTokenizer {
        static CASED: std::sync::OnceLock<WordTokenizer> = std::sync::OnceLock::new();
        CASED.get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bert-base-cased-vocab.txt");
            WordTokenizer::load(&TokenizerConfig { path, casing: Casing::Auto }).unwrap()
        })
    }

    #[test]
    fn words_map_to_their_pieces() {
        let t = cased();
        assert_eq!(t.lowercase(), Some(false));
        let s = t.tokenize("Anarchism isn't  self-governed, Zhuangzi.").unwrap();
        assert_eq!(
            s.words.iter().collect::<Vec<_>>(),
            ["Anarchism", "isn", "'", "t", "self", "-", "governed", ",", "Zhuangzi", "."]
        );
        let pieces: Vec<Vec<String>> =
            (0..s.word_count()).map(|i| s.pieces(i).iter().map(|&id| t.token(id).unwrap()).collect()).collect();
        assert_eq!(pieces[0], ["Ana", "##rch", "##ism"]);
        assert_eq!(pieces[8].concat().replace("##", ""), "Zhuangzi");
        assert!(pieces[8].len() > 1);
        assert_eq!(s.ends.last().copied(), Some(s.ids.len() as u32));
        let ids = t.special_ids();
        assert_eq!((ids.cls, ids.sep, ids.mask), (101, 102, 103));
    }

    #[test]
    fn split_words_keep_their_boundaries() {
        let t = cased();
        let words: Vec<String> = ["trans-context-free", "Anarchism", "\u{200b}", "."].map(String::from).into();
        let s = t.tokenize_words(&words).unwrap();
        assert_eq!(s.words.iter().collect::<Vec<_>>(), words);
        let pieces = |i: usize| s.pieces(i).iter().map(|&id| t.token(id).unwrap()).collect::<Vec<_>>();
        assert_eq!(pieces(0), ["trans", "-", "context", "-", "free"]);
        assert_eq!(pieces(1), ["Ana", "##rch", "##ism"]);
        assert_eq!(pieces(2), ["[UNK]"]);
        assert_eq!(pieces(3), ["."]);
        assert_eq!(s.ends.len(), 4);
    }

    #[test]
    fn words_split_at_whitespace_and_around_punctuation_and_keep_their_characters() {
        let words = split_words("\"Panama City Beach , too , Wal-Mart's caf\u{e9}s ''here''\r\n").unwrap();
        assert_eq!(
            words,
            [
                "\"",
                "Panama",
                "City",
                "Beach",
                ",",
                "too",
                ",",
                "Wal",
                "-",
                "Mart",
                "'",
                "s",
                "caf\u{e9}s",
                "'",
                "'",
                "here",
                "'",
                "'"
            ]
        );
        assert!(split_words(" \r\n").unwrap().is_empty());
    }

    #[test]
    fn a_vocabulary_listing_a_token_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\nthe\n").unwrap();
        let err = WordTokenizer::load(&TokenizerConfig { path, casing: Casing::Auto }).err().unwrap().to_string();
        assert!(err.contains("vocab.txt:8: \"the\" repeats line 6"), "{err}");
    }

    #[test]
    fn unknown_words_keep_their_surface() {
        let t = cased();
        let s = t.tokenize("a \u{1F600} b").unwrap();
        assert_eq!(s.words.iter().collect::<Vec<_>>(), ["a", "\u{1F600}", "b"]);
        assert_eq!(t.token(s.pieces(1)[0]).unwrap(), "[UNK]");
    }

    #[test]
    fn casing_is_detected_from_the_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        // As bert-base-uncased's: `ℝ` is upper-case but has no lower case.
        std::fs::write(&path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nworld\n\u{211d}\n").unwrap();
        let t = WordTokenizer::load(&TokenizerConfig { path, casing: Casing::Auto }).unwrap();
        assert_eq!(t.lowercase(), Some(true));
        let s = t.tokenize("Hello WORLDs").unwrap();
        assert_eq!(s.words.iter().collect::<Vec<_>>(), ["Hello", "WORLDs"]);
        assert_eq!(s.ids, [5, 7, 6]);
        // Read as cased, the same vocabulary knows neither word.
        let path = dir.path().join("vocab.txt");
        let cased = WordTokenizer::load(&TokenizerConfig { path, casing: Casing::Cased }).unwrap();
        assert_eq!(cased.tokenize("Hello WORLDs").unwrap().ids, [1, 1]);
        let difference = cased.reading_difference(&t, "Hello WORLDs").unwrap().unwrap();
        assert_eq!(difference.ours, ["[UNK]"; 2]);
        assert_eq!(difference.theirs, ["hello", "world", "##s"]);
        assert_eq!(t.reading_difference(&t, "Hello WORLDs").unwrap(), None);
    }

    /// Whether the fast path takes `text`; where it does, it must agree with the general
    /// pipeline.
    fn assert_paths_agree(t: &WordTokenizer, text: &str) -> bool {
        let general = t.tokenize_general(text).unwrap();
        match t.fast.as_ref().unwrap().tokenize(text) {
            Some(fast) => {
                assert_eq!(fast, general, "{text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_pipeline_on_real_text() {
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample/enwiki-sentences.txt"))
                .unwrap();
        for casing in [Casing::Cased, Casing::Uncased] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bert-base-cased-vocab.txt");
            let t = WordTokenizer::load(&TokenizerConfig { path, casing }).unwrap();
            let taken = sample.lines().filter(|l| assert_paths_agree(&t, l)).count();
            // Cased, every line (38 hold non-ASCII text); uncased, the ASCII ones.
            let expected = if casing == Casing::Cased { 711 } else { 673 };
            assert_eq!(taken, expected, "{casing:?}");
        }
        let t = cased();
        // Deleted control and format characters, NUL, U+FFFD, spaced CJK, special tokens.
        let declined =
            ["a\u{0b}b", "x[MASK]y", "del\u{7f}", "a\u{200b}b", "a\u{85}b", "x\u{fffd}", "\0", "\u{91ce}\u{53e3}"];
        for text in declined {
            assert!(!assert_paths_agree(t, text), "{text:?}");
        }
        let unicode =
            "Caf\u{e9} \u{2013} \u{201c}na\u{ef}ve\u{201d} Stra\u{df}e \u{3b1}-\u{3b2}\u{a0}e\u{301} \u{1f642}\u{2026}";
        for text in [
            "[ brackets ] and [CLS without close",
            "tabs\tand\r\nbreaks",
            "  ",
            "",
            "a-b_c'd`e~f",
            &"x".repeat(150),
            unicode,
            &"\u{e9}".repeat(101),
        ] {
            assert!(assert_paths_agree(t, text), "{text:?}");
        }
        let uncased = WordTokenizer::load(&TokenizerConfig {
            path: Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bert-base-cased-vocab.txt"),
            casing: Casing::Uncased,
        })
        .unwrap();
        // Uncased, the normalizer folds accents and Unicode case: the general path's work.
        assert!(!assert_paths_agree(&uncased, unicode));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_on_random_ascii(text in "[ -~\t\n\r]{0,80}", uncased in proptest::bool::ANY) {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bert-base-cased-vocab.txt");
            let casing = if uncased { Casing::Uncased } else { Casing::Cased };
            let t = WordTokenizer::load(&TokenizerConfig { path, casing }).unwrap();
            assert_paths_agree(&t, &text);
        }

        #[test]
        fn the_fast_path_agrees_on_random_unicode(
            // Latin-1 and Latin Extended-A, Greek, general punctuation, emoji: mostly taken.
            text in "[ -~\t\u{a0}-\u{17f}\u{370}-\u{3ff}\u{2010}-\u{2027}\u{1f600}-\u{1f64f}]{0,60}"
        ) {
            assert_paths_agree(cased(), &text);
        }
    }

    #[test]
    fn a_vocabulary_without_specials_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, "[PAD]\n[UNK]\n[SEP]\n[MASK]\nhello\n").unwrap();
        let err = WordTokenizer::load(&TokenizerConfig { path, casing: Casing::Auto }).err().unwrap();
        assert!(format!("{err:#}").contains("[CLS]"), "{err:#}");
    }
}
