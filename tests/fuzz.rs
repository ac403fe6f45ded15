//! Fuzzing the parsers that read untrusted input, with proptest: the wikitext cleaner, the
//! MediaWiki XML reader, the multistream index with the parallel bzip2 decoder it steers,
//! and the labeled readers (DyGIE, NERE, ARNOR, brat). Inputs are both arbitrary and built
//! from each format's own pieces (markup tokens, XML tags, JSON records with mutated
//! fields), which reach far deeper than random bytes. An error is a fine answer; a panic
//! is a bug, and a hang would stop the run.
//!
//! CI runs a few dozen cases per target. A long campaign:
//! `SPE_FUZZ_CASES=20000 cargo test --release --test fuzz`.

mod common;

use common::*;
use proptest::prelude::*;
use spe::clean::{CleanConfig, Cleaner};
use spe::corpus::labeled::{Format, LabelConfig, LabeledReader};
use spe::corpus::wiki::dump::DumpReader;
use spe::corpus::wiki::multistream::{read_index, Boundaries, ParallelBz2};
use spe::corpus::{BadRecordPolicy, ReadConfig};
use std::io::Read;

fn cases() -> u32 {
    std::env::var("SPE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48)
}

/// Text made of `pieces` and arbitrary strings, up to `len` of them.
fn made_of(pieces: &'static [&'static str], len: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![4 => proptest::sample::select(pieces).prop_map(String::from), 1 => "\\PC{0,8}"];
    proptest::collection::vec(piece, 0..len).prop_map(|parts| parts.concat())
}

const WIKITEXT: &[&str] = &[
    "{{",
    "}}",
    "[[",
    "]]",
    "|",
    "=",
    "'''",
    "''",
    "==",
    "\n",
    "\n\n",
    "*",
    "#",
    ":",
    ";",
    "{|",
    "|}",
    "|-",
    "!",
    "<ref>",
    "</ref>",
    "<ref name=a/>",
    "<!--",
    "-->",
    "<math>",
    "</math>",
    "<nowiki>",
    "</nowiki>",
    "&amp;",
    "&#x263A;",
    "&#99999999;",
    "&nbsp;",
    "__NOTOC__",
    "File:",
    "Category:",
    "http://x.org",
    " ",
    "The",
    "river",
    ".",
    "e.g.",
    "Dr.",
    "U.S.",
    "1.5",
    "{{{",
    "}}}",
    "<",
    ">",
    "\u{200b}",
    "\u{fffd}",
];

const XML: &[&str] = &[
    "<mediawiki>",
    "</mediawiki>",
    "<page>",
    "</page>",
    "<title>",
    "</title>",
    "<ns>",
    "</ns>",
    "0",
    "1",
    "<id>",
    "</id>",
    "12",
    "-3",
    "99999999999999999999",
    "<revision>",
    "</revision>",
    "<text>",
    "</text>",
    "<text xml:space=\"preserve\">",
    "<redirect title=\"A\" />",
    "&amp;",
    "&lt;",
    "&#1;",
    "&#x110000;",
    "&bogus;",
    "<![CDATA[",
    "]]>",
    "<?xml version=\"1.0\"?>",
    "<!-- c -->",
    "word",
    " ",
    "\n",
    "<",
    ">",
    "/",
    "\"",
];

/// JSON lines of `format` whose records are a valid template with fields replaced by
/// odd values, or mangled as text.
fn labeled_lines(format: Format) -> impl Strategy<Value = String> {
    let template = match format {
        Format::Dygie => {
            r#"{"doc_key":"d","sentences":[["A","b","C","."],["D","e"]],"ner":[[[0,0,"Task"],[2,3,"Method"]],[[4,5,"Task"]]],"relations":[[[0,0,2,3,"USED-FOR"]],[]],"clusters":[[[0,0],[4,5]]]}"#
        }
        Format::Nere => {
            r#"{"sentText":"John Smith lives in Paris .","articleId":"a","sentId":"1","entityMentions":[{"emId":"1","text":"John Smith","offset":[0,2],"label":"PER"},{"emId":"2","text":"Paris","offset":[4,5],"label":"GPE"}],"relationMentions":[{"em1Id":"1","em2Id":"2","em1Text":"John Smith","em2Text":"Paris","label":"PHYS"}]}"#
        }
        _ => {
            r#"{"sentId":1,"articleId":"2","sentText":"\"Paris , France .\r\n","entityMentions":[{"start":0,"text":"Paris","label":"LOCATION"},{"start":3,"text":"France","label":"LOCATION"}],"relationMentions":[{"em1Text":"France","em2Text":"Paris","label":"/x"},{"em1Text":"Paris","em2Text":"France","label":"None","is_noise":true}]}"#
        }
    };
    let odd = proptest::sample::select(vec![
        "null",
        "-1",
        "0",
        "7",
        "99999999999",
        "1.5",
        "\"\"",
        "\"x\"",
        "[]",
        "{}",
        "[[]]",
        "[-1,2]",
        "[5,1]",
        "[0,99]",
        "true",
        "\"\\u0000\"",
        "[[0,0,\"X\"]]",
        "[[[0,0,9,9,\"R\"]]]",
    ]);
    let fields = ["sentences", "ner", "relations", "offset", "start", "text", "label", "em1Text", "entityMentions"];
    let field = proptest::sample::select(fields.to_vec());
    let replaced = proptest::collection::vec((field, odd), 0..4).prop_map(move |edits| {
        let mut value: serde_json::Value = serde_json::from_str(template).unwrap();
        for (field, odd) in edits {
            replace_everywhere(&mut value, field, &serde_json::from_str(odd).unwrap());
        }
        value.to_string()
    });
    let mangled = (0..template.len(), "\\PC{0,3}", 0..6usize).prop_map(move |(at, insert, cut)| {
        let at = (0..=at).rev().find(|&i| template.is_char_boundary(i)).unwrap_or(0);
        let end = (at..=(at + cut).min(template.len())).rev().find(|&i| template.is_char_boundary(i)).unwrap_or(at);
        format!("{}{insert}{}", &template[..at], &template[end..])
    });
    proptest::collection::vec(prop_oneof![replaced, mangled, "\\PC{0,40}"], 1..4).prop_map(|lines| lines.join("\n"))
}

/// Sets every field named `name` in `value` (at any depth) to `new`.
fn replace_everywhere(value: &mut serde_json::Value, name: &str, new: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == name {
                    *item = new.clone();
                } else {
                    replace_everywhere(item, name, new);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|item| replace_everywhere(item, name, new)),
        _ => {}
    }
}

/// Reads every document of `text` as `format`, under both bad-record policies.
fn read_labeled(text: &str, format: Format, brat_ann: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.json");
    std::fs::write(&path, text).unwrap();
    if format == Format::Brat {
        std::fs::write(&path, "doc\n").unwrap();
        std::fs::write(dir.path().join("doc.split.txt"), "John Smith lives in Paris .\nHe works .\n").unwrap();
        std::fs::write(dir.path().join("doc.split.ann"), brat_ann).unwrap();
    }
    for on_bad_record in [BadRecordPolicy::Error, BadRecordPolicy::Skip] {
        let config = ReadConfig { on_bad_record, ..ReadConfig::default() };
        let labels = LabelConfig { no_relation: Some("None".into()), ..LabelConfig::default() };
        if let Ok(mut reader) = LabeledReader::open(&path, format, &config, &labels, None) {
            while let Ok(Some(_)) = reader.next_document() {}
        }
    }
}

const BRAT: &[&str] = &[
    "T1\tPER 0 10\tJohn Smith\n",
    "T2\tGPE 20 25\tParis\n",
    "R1\tPHYS Arg1:T1 Arg2:T2\n",
    "T3\tPER 0 4;5 10\tJohn Smith\n",
    "E1\tX:T1\n",
    "T4\tPER 25 99\tx\n",
    "T5\tPER -1 3\tx\n",
    "R2\tPHYS Arg1:T9 Arg2:T1\n",
    "\t",
    " ",
    "\n",
    "T",
    "Arg1:",
    "*\tAlias T1 T2\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_wikitext_cleaner_takes_anything(text in prop_oneof![made_of(WIKITEXT, 300), "\\PC{0,300}"]) {
        Cleaner::new(CleanConfig::default()).paragraphs(&text);
    }

    #[test]
    fn the_xml_reader_takes_anything(xml in prop_oneof![made_of(XML, 200), "\\PC{0,300}"]) {
        let mut reader = DumpReader::new(xml.as_bytes(), "fuzz.xml", 1 << 16);
        let mut pages = 0;
        while let Ok(Some(_)) = reader.next_page() {
            pages += 1;
            prop_assert!(pages <= xml.len(), "more pages than bytes");
        }
    }

    #[test]
    fn the_index_and_the_parallel_decoder_take_any_offsets(
        offsets in proptest::collection::vec(prop_oneof![0u64..3_000_000, Just(0u64), Just(u64::MAX)], 0..12),
        junk in "\\PC{0,20}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.txt");
        let lines: Vec<String> = offsets.iter().map(|o| format!("{o}:1:Title")).collect();
        std::fs::write(&index, format!("{}\n{junk}", lines.join("\n"))).unwrap();
        if let Ok((offsets, _)) = read_index(&index) {
            let dump = std::fs::File::open(repo("data/sample/enwiki-sample-multistream.xml.bz2")).unwrap();
            if let Ok(mut decoded) = ParallelBz2::new(Box::new(dump), Boundaries::Index(offsets), 0, 2, "fuzz".into()) {
                let mut sink = Vec::new();
                let _ = decoded.read_to_end(&mut sink);
            }
        }
    }

    #[test]
    fn the_dygie_reader_takes_anything(text in labeled_lines(Format::Dygie)) {
        read_labeled(&text, Format::Dygie, "");
    }

    #[test]
    fn the_nere_reader_takes_anything(text in labeled_lines(Format::Nere)) {
        read_labeled(&text, Format::Nere, "");
    }

    #[test]
    fn the_arnor_reader_takes_anything(text in labeled_lines(Format::Arnor)) {
        read_labeled(&text, Format::Arnor, "");
    }

    #[test]
    fn the_brat_reader_takes_anything(ann in prop_oneof![made_of(BRAT, 12), "\\PC{0,80}"]) {
        read_labeled("", Format::Brat, &ann);
    }
}
