//! Wikitext to paragraphs of prose, with no markup left.
//!
//! Two passes. The first scans the whole text once for the constructs that span lines or
//! nest: comments, templates and parser functions (`{{…}}`, nested), tables (`{|…|}`),
//! links (`[[target|text]]` gives `text`; files, images and categories are dropped with
//! their captions), external links (`[url label]` gives `label`), and tags (`<ref>`,
//! `<math>`, `<gallery>` and the like are dropped with their content; other tags are
//! stripped and their content kept). The second goes line by line: headings end
//! paragraphs and drop sections such as References or External links; list items and
//! table remnants are dropped; then bold and italic quotes, magic words and HTML entities
//! go, and white space is collapsed.
//!
//! Every scan is linear and nesting is bounded, so pathological markup (an unterminated
//! template, megabytes of nested brackets) costs time proportional to its size and no more.

use memchr::{memchr, memchr2, memchr3, memmem, memrchr};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Configuration of the wikitext cleaner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CleanConfig {
    /// Sections dropped with their subsections (case-insensitive titles).
    pub drop_sections: Vec<String>,
    /// Link namespaces dropped with the link and its caption (case-insensitive).
    pub drop_link_namespaces: Vec<String>,
    /// Keep the text of list items as paragraphs of their own.
    pub keep_lists: bool,
    /// Shorter paragraphs (captions, fragments) are dropped.
    pub min_paragraph_chars: usize,
    /// Pages with less prose in total are skipped and counted.
    pub min_page_chars: usize,
}

impl Default for CleanConfig {
    fn default() -> Self {
        let sections = [
            "references",
            "external links",
            "see also",
            "further reading",
            "notes",
            "bibliography",
            "sources",
            "citations",
            "footnotes",
            "notes and references",
            "references and notes",
            "works cited",
            "gallery",
            "discography",
            "filmography",
        ];
        CleanConfig {
            drop_sections: sections.map(String::from).to_vec(),
            drop_link_namespaces: ["file", "image", "media", "category"].map(String::from).to_vec(),
            keep_lists: false,
            min_paragraph_chars: 40,
            min_page_chars: 200,
        }
    }
}

/// Tags dropped together with their content.
const DROPPED_TAGS: [&str; 16] = [
    "ref",
    "math",
    "gallery",
    "timeline",
    "score",
    "chem",
    "ce",
    "syntaxhighlight",
    "source",
    "imagemap",
    "templatedata",
    "graph",
    "mapframe",
    "hiero",
    "references",
    "table",
];

/// Link nesting deeper than this is dropped rather than followed.
const MAX_DEPTH: usize = 8;

/// Cleans wikitext into paragraphs.
pub struct Cleaner {
    config: CleanConfig,
}

/// One page being scanned: the text, its paired delimiters, and forward-only caches that
/// keep every search linear in the page size however the markup repeats.
struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    /// `{{` and `[[` positions mapped to the end of their matching `}}` and `]]`.
    pairs: HashMap<usize, usize>,
    /// Next `</name` of each dropped tag at or after the position it was found for
    /// (`None`: there is no further one).
    next_close: HashMap<String, Option<usize>>,
    /// Next `]` or newline, found for a position at or before the current one.
    next_bracket_or_newline: Option<(usize, usize)>,
    /// The first non-blank byte of the current line, found for positions up to the current one.
    line: (usize, usize),
}

impl Cleaner {
    /// A cleaner with `config`.
    pub fn new(mut config: CleanConfig) -> Cleaner {
        config.drop_sections.iter_mut().for_each(|s| *s = s.to_lowercase());
        config.drop_link_namespaces.iter_mut().for_each(|s| *s = s.to_lowercase());
        Cleaner { config }
    }

    /// The paragraphs of prose of a page; empty when the page has too little prose.
    pub fn paragraphs(&self, wikitext: &str) -> Vec<String> {
        let b = wikitext.as_bytes();
        let mut pairs = HashMap::new();
        pair_up(b, b'{', b'}', &mut pairs);
        pair_up(b, b'[', b']', &mut pairs);
        let first = b.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
        let mut scan =
            Scan { s: wikitext, b, pairs, next_close: HashMap::new(), next_bracket_or_newline: None, line: (0, first) };
        let mut flat = String::with_capacity(wikitext.len());
        self.markup(&mut scan, 0, b.len(), &mut flat, 0);
        let paragraphs = self.prose(&flat);
        let chars: usize = paragraphs.iter().map(|p| p.chars().count()).sum();
        if chars < self.config.min_page_chars {
            return Vec::new();
        }
        paragraphs
    }

    /// First pass over `start..end`: everything that nests or spans lines.
    fn markup(&self, scan: &mut Scan, start: usize, end: usize, out: &mut String, depth: usize) {
        let (s, b) = (scan.s, scan.b);
        let mut i = start;
        while let Some(k) = memchr3(b'{', b'[', b'<', &b[i..end]) {
            let j = i + k;
            out.push_str(&s[i..j]);
            let next = b.get(j + 1).copied().filter(|_| j + 1 < end);
            let paired = scan.pairs.get(&j).copied().filter(|&e| e <= end);
            i = match (b[j], next) {
                // A template, or one unterminated here: nothing after it is prose.
                (b'{', Some(b'{')) => paired.unwrap_or(end),
                (b'{', Some(b'|')) if scan.at_line_start(j) => skip_table(b, j, end),
                (b'[', Some(b'[')) => match paired {
                    Some(close) => {
                        if depth < MAX_DEPTH {
                            self.link(scan, j + 2, close - 2, out, depth);
                        }
                        close
                    }
                    None => j + 2,
                },
                (b'[', _) => self.external_link(scan, j, end, out, depth),
                (b'<', _) => self.tag(scan, j, end, out),
                _ => {
                    out.push(b[j] as char);
                    j + 1
                }
            };
        }
        out.push_str(&s[i..end]);
    }

    /// `[[target|text]]` between `start` and `end`: the text (or the target), unless the
    /// link is to a file, an image, a category or another language.
    fn link(&self, scan: &mut Scan, start: usize, end: usize, out: &mut String, depth: usize) {
        let inner = &scan.s[start..end];
        let pipe = top_level_pipe(inner.as_bytes());
        let target = &inner[..pipe.unwrap_or(inner.len())];
        let visible = target.starts_with(':'); // [[:Category:X]] is a plain link
        let target = target.trim_start_matches(':').trim();
        if let Some((prefix, _)) = target.split_once(':') {
            let prefix = prefix.trim().to_lowercase();
            if !visible && self.config.drop_link_namespaces.contains(&prefix) {
                return;
            }
            let language = (2..=3).contains(&prefix.len()) && prefix.bytes().all(|c| c.is_ascii_lowercase());
            if !visible && pipe.is_none() && language {
                return; // an interlanguage link
            }
        }
        match pipe {
            Some(p) if !inner[p + 1..].trim().is_empty() => self.markup(scan, start + p + 1, end, out, depth + 1),
            _ => {
                let raw = &inner[..pipe.unwrap_or(inner.len())];
                let lead = raw.len() - raw.trim_start_matches(':').trim_start().len();
                let len = raw.trim_start_matches(':').trim().len();
                self.markup(scan, start + lead, start + lead + len, out, depth + 1);
            }
        }
    }

    /// `[url label]` gives the label; `[url]` nothing; any other `[` is text.
    fn external_link(&self, scan: &mut Scan, j: usize, end: usize, out: &mut String, depth: usize) -> usize {
        let rest = &scan.b[j + 1..end];
        let is_url = ["http://", "https://", "ftp://", "//", "mailto:", "news:", "irc://"]
            .iter()
            .any(|scheme| rest.len() >= scheme.len() && rest[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes()));
        let close =
            if is_url { scan.bracket_or_newline(j + 1).filter(|&k| k < end && scan.b[k] == b']') } else { None };
        let Some(close) = close else {
            out.push('[');
            return j + 1;
        };
        if let Some(space) = memchr(b' ', &scan.b[j + 1..close]) {
            if depth < MAX_DEPTH {
                self.markup(scan, j + 1 + space + 1, close, out, depth + 1);
            }
        }
        close + 1
    }

    /// A tag at `j`: dropped with its content, or stripped keeping the content.
    fn tag(&self, scan: &mut Scan, j: usize, end: usize, out: &mut String) -> usize {
        let b = &scan.b[..end];
        if b[j..].starts_with(b"<!--") {
            return memmem::find(&b[j + 4..], b"-->").map_or(end, |k| j + 4 + k + 3);
        }
        let name_start = j + 1 + usize::from(b.get(j + 1) == Some(&b'/'));
        let name_len = b[name_start..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if name_len == 0 {
            out.push('<');
            return j + 1;
        }
        let Some(close) = memchr(b'>', &b[j..]).map(|k| j + k) else {
            return end; // an unterminated tag: nothing after it is prose
        };
        let name = scan.s[name_start..name_start + name_len].to_ascii_lowercase();
        let self_closing = b[close - 1] == b'/';
        let opening = name_start == j + 1;
        if opening && !self_closing && DROPPED_TAGS.contains(&name.as_str()) {
            return scan.close_tag_end(&name, close + 1).filter(|&e| e <= end).unwrap_or(close + 1);
        }
        if name == "br" {
            out.push(' ');
        }
        close + 1
    }

    /// Second pass: sections, lines and paragraphs.
    fn prose(&self, flat: &str) -> Vec<String> {
        let mut paragraphs = Vec::new();
        let mut current = String::new();
        let mut dropping: Option<usize> = None;
        for line in flat.lines() {
            let line = line.trim();
            if let Some((level, title)) = heading(line) {
                self.finish(&mut current, &mut paragraphs);
                if dropping.is_some_and(|l| level <= l) {
                    dropping = None;
                }
                if dropping.is_none() && self.config.drop_sections.contains(&title.to_lowercase()) {
                    dropping = Some(level);
                }
                continue;
            }
            if dropping.is_some() {
                continue;
            }
            match line.as_bytes().first() {
                None => self.finish(&mut current, &mut paragraphs),
                Some(b'*' | b'#' | b';' | b':') => {
                    self.finish(&mut current, &mut paragraphs);
                    if self.config.keep_lists {
                        current.push_str(line.trim_start_matches(['*', '#', ';', ':']));
                        self.finish(&mut current, &mut paragraphs);
                    }
                }
                Some(b'|' | b'!' | b'{' | b'}') => self.finish(&mut current, &mut paragraphs),
                Some(_) => {
                    if !current.is_empty() {
                        current.push(' ');
                    }
                    current.push_str(line);
                }
            }
        }
        self.finish(&mut current, &mut paragraphs);
        paragraphs
    }

    /// Tidies the paragraph being built and keeps it if long enough.
    fn finish(&self, current: &mut String, paragraphs: &mut Vec<String>) {
        if current.is_empty() {
            return;
        }
        let text = tidy(current);
        current.clear();
        if text.chars().count() >= self.config.min_paragraph_chars {
            paragraphs.push(text);
        }
    }
}

/// Removes bold and italic quotes, magic words and stray closing brackets, decodes
/// entities, collapses white space and the empty brackets and stray spaces that removed
/// markup leaves behind.
fn tidy(paragraph: &str) -> String {
    let mut text = String::with_capacity(paragraph.len());
    let mut rest = paragraph;
    while let Some(k) = memchr2(b'\'', b'_', rest.as_bytes()) {
        text.push_str(&rest[..k]);
        let run = &rest[k..];
        if run.starts_with("''") {
            rest = run.trim_start_matches('\'');
        } else if let Some(word) = magic_word(run) {
            rest = &run[word..];
        } else {
            text.push_str(&run[..1]);
            rest = &run[1..];
        }
    }
    text.push_str(rest);
    // Brackets left over by broken markup, or brought together by what was removed.
    for stray in ["[[", "]]", "{{", "}}", "{|", "|}"] {
        if text.contains(stray) {
            text = text.replace(stray, " ");
        }
    }
    let decoded = html_escape::decode_html_entities(&text);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if matches!(word, "()" | "(;" | "(," | "[]") {
            continue;
        }
        let attaches = matches!(word.chars().next(), Some(',' | '.' | ';' | ':' | ')')) && !out.is_empty();
        if !out.is_empty() && !attaches {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.replace("( ", "(").replace("(;", "(").replace("(,", "(")
}

/// Whether a sentence still carries template parameters (`| url = …`), which happens when
/// the page's own markup is broken (a `</ref>` inside a citation template, say).
pub fn is_debris(sentence: &str) -> bool {
    let b = sentence.as_bytes();
    memchr::memchr_iter(b'|', b).any(|p| {
        let rest = b[p + 1..].trim_ascii_start();
        let name = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')).count();
        name > 0 && rest[name..].trim_ascii_start().first() == Some(&b'=')
    })
}

/// The length of a magic word like `__NOTOC__` at the start of `s`.
fn magic_word(s: &str) -> Option<usize> {
    let body = s.strip_prefix("__")?;
    let len = body.bytes().take_while(|c| c.is_ascii_uppercase()).count();
    (len > 0 && body[len..].starts_with("__")).then_some(len + 4)
}

/// A heading line `== Title ==`: its level and title.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&c| c == b'=').count();
    let closing = line.bytes().rev().take_while(|&c| c == b'=').count();
    if level == 0 || closing == 0 || line.len() <= level + closing {
        return None;
    }
    Some((level.min(closing), line[level..line.len() - closing].trim()))
}

impl Scan<'_> {
    /// Whether `j` is the first non-blank byte of its line.
    fn at_line_start(&mut self, j: usize) -> bool {
        let (checked, first) = self.line;
        if j >= checked {
            // Lines that began since the last check: find the latest and its first non-blank byte.
            if let Some(nl) = memrchr(b'\n', &self.b[checked..j]) {
                let start = checked + nl + 1;
                let blank = self.b[start..].iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
                self.line = (j, start + blank);
            } else {
                self.line = (j, first);
            }
        }
        self.line.1 == j
    }

    /// The next `]` or newline at or after `from`.
    fn bracket_or_newline(&mut self, from: usize) -> Option<usize> {
        match self.next_bracket_or_newline {
            Some((found_for, at)) if found_for <= from && at >= from => Some(at),
            Some((found_for, at)) if found_for <= from && at == usize::MAX => None,
            _ => {
                let at = memchr2(b']', b'\n', &self.b[from..]).map_or(usize::MAX, |k| from + k);
                self.next_bracket_or_newline = Some((from, at));
                (at != usize::MAX).then_some(at)
            }
        }
    }

    /// The end of the next `</name…>` at or after `from`, case-insensitive.
    fn close_tag_end(&mut self, name: &str, from: usize) -> Option<usize> {
        if let Some(&cached) = self.next_close.get(name) {
            match cached {
                None => return None,
                Some(at) if at >= from => return memchr(b'>', &self.b[at..]).map(|e| at + e + 1),
                Some(_) => {}
            }
        }
        let mut i = from;
        let found = loop {
            let Some(k) = memmem::find(&self.b[i..], b"</") else { break None };
            let p = i + k;
            let candidate = &self.b[p + 2..(p + 2 + name.len()).min(self.b.len())];
            if candidate.eq_ignore_ascii_case(name.as_bytes()) {
                break Some(p);
            }
            i = p + 2;
        };
        self.next_close.insert(name.to_string(), found);
        found.and_then(|at| memchr(b'>', &self.b[at..]).map(|e| at + e + 1))
    }
}

/// Pairs every `oo` with its `cc` (`{{` with `}}`, `[[` with `]]`) in one pass with a stack:
/// the same pairs as counting depth from each opening, in linear time.
fn pair_up(b: &[u8], open: u8, close: u8, pairs: &mut HashMap<usize, usize>) {
    let mut stack = Vec::new();
    let mut i = 0;
    while let Some(k) = memchr2(open, close, &b[i..]) {
        let p = i + k;
        if b.get(p + 1) != Some(&b[p]) {
            i = p + 1;
            continue;
        }
        if b[p] == open {
            stack.push(p);
        } else if let Some(o) = stack.pop() {
            pairs.insert(o, p + 2);
        }
        i = p + 2;
    }
}

/// Past a table `{| … |}` within `..end`, tables nesting by lines that start with `{|` and `|}`.
fn skip_table(b: &[u8], j: usize, end: usize) -> usize {
    let mut depth = 0usize;
    let mut line_start = j;
    loop {
        let line_end = memchr(b'\n', &b[line_start..end]).map_or(end, |k| line_start + k);
        let line = b[line_start..line_end].trim_ascii_start();
        if line.starts_with(b"{|") {
            depth += 1;
        } else if line.starts_with(b"|}") {
            depth -= 1;
            if depth == 0 {
                return line_end;
            }
        }
        if line_end == end {
            return end;
        }
        line_start = line_end + 1;
    }
}

/// The first `|` of a link that is not inside a nested link or template.
fn top_level_pipe(b: &[u8]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b'|' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(text: &str) -> Vec<String> {
        let config = CleanConfig { min_page_chars: 0, min_paragraph_chars: 0, ..CleanConfig::default() };
        Cleaner::new(config).paragraphs(text)
    }

    #[test]
    fn keeps_prose_and_drops_markup() {
        let page = "{{Infobox person\n| name = {{nowrap|A B}}\n| birth = 1900\n}}\n\
            '''Ada Lovelace''' (born [[London]]) was an [[England|English]] mathematician<ref name=\"x\">{{cite book|title=T}}</ref> \
            and writer.<ref name=y/> She worked on [[Charles Babbage]]'s [[Analytical Engine|engine]]s.<!-- hidden -->\n\n\
            [[File:Ada.jpg|thumb|A portrait of [[Ada Lovelace|Ada]] in 1840]]\n\
            {| class=\"wikitable\"\n|-\n| cell || cell\n|}\n\
            Her notes use &lt;math&gt; &amp; <math>x^2</math> symbols&nbsp;like [http://example.com this one] and <span style=\"x\">spans</span>.\n\
            == See also ==\n* [[Babbage]]\n== Legacy ==\nShe is remembered __NOTOC__ today.\n\
            [[Category:Mathematicians]]\n[[de:Ada Lovelace]]";
        assert_eq!(
            clean(page),
            [
                "Ada Lovelace (born London) was an English mathematician and writer. She worked on Charles Babbage's engines.",
                "Her notes use <math> & symbols\u{a0}like this one and spans.".replace('\u{a0}', " ").as_str(),
                "She is remembered today.",
            ]
        );
    }

    #[test]
    fn pathological_markup_leaves_nothing() {
        let unterminated = format!("Good prose before it all. {{{{Infobox {}", "x ".repeat(100_000));
        assert_eq!(clean(&unterminated), ["Good prose before it all."]);
        let braces = format!("{}{}", "{{".repeat(500_000), "}}".repeat(10));
        assert!(clean(&braces).is_empty());
        let brackets = format!("Text {} end", "[[".repeat(500_000));
        let out = clean(&brackets).concat();
        assert!(!out.contains("[["), "{}", &out[..100.min(out.len())]);
        let nested = format!("{}x{}", "[[a|".repeat(100_000), "]]".repeat(100_000));
        // Its time at two depths is benches/wiki.rs's "pathological" group.
        let out = clean(&nested).concat();
        assert!(!out.contains("[[") && !out.contains("]]"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]
        /// Any mix of markup and multi-byte text: no panic, no markup left.
        #[test]
        fn never_panics_and_leaves_no_markup(parts in proptest::collection::vec(proptest::sample::select(vec![
            "{{", "}}", "[[", "]]", "{|", "|}", "|", "[", "]", "<ref>", "</ref>", "<ref name=a/>", "<!--", "-->",
            "<b>", "</b>", "<br/>", "'''", "''", "&amp;", "&lt;", "&nbsp;", "==", "\n", "\n\n", "* ", ":", "http://x.org ",
            "[http://e.com ", "File:", "Category:", "é", "ɛ", "東京", "😀", " word", " Prose text here.", "__TOC__",
        ]), 0..60)) {
            let text = parts.concat();
            let config = CleanConfig { min_page_chars: 0, min_paragraph_chars: 0, ..CleanConfig::default() };
            for paragraph in Cleaner::new(config).paragraphs(&text) {
                for markup in ["{{", "}}", "[[", "]]", "{|", "<ref", "&amp;", "<!--"] {
                    proptest::prop_assert!(!paragraph.contains(markup), "{:?} in {:?} from {:?}", markup, paragraph, text);
                }
            }
        }
    }

    #[test]
    fn template_parameters_mark_debris() {
        assert!(is_debris("detection of waves | url = http://x | website = MIT News"));
        assert!(!is_debris("the line characters ( | in addition to / ) and a = b"));
    }

    #[test]
    fn dropped_sections_end_at_the_next_heading_of_their_level() {
        let page = "Intro text.\n== References ==\nRef text.\n=== Sub ===\nSub text.\n== History ==\nHistory text.";
        assert_eq!(clean(page), ["Intro text.", "History text."]);
    }
}
