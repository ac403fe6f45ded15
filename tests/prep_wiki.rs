//! `spe prep wiki` on the bundled sample of a real English Wikipedia dump, in its plain and
//! multistream forms, and on broken dumps.

mod common;

use common::*;
use spe::shard::Manifest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn sample(name: &str) -> PathBuf {
    repo(&format!("data/sample/{name}"))
}

fn prep_wiki(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["prep".into(), "wiki".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string(), "--tokenizer".into(), vocab().display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    spe(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn shard_bytes(dir: &Path) -> Vec<u8> {
    let manifest = Manifest::read(dir).unwrap();
    manifest.shards.iter().flat_map(|s| std::fs::read(dir.join(&s.file)).unwrap()).collect()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn sample_xml() -> String {
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut bzip2::read::MultiBzDecoder::new(std::fs::File::open(sample("enwiki-sample.xml.bz2")).unwrap()),
        &mut xml,
    )
    .unwrap();
    xml
}

#[test]
fn every_form_of_the_dump_and_every_thread_count_give_identical_shards() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    ok(prep_wiki(&[&sample("enwiki-sample.xml.bz2")], &single, &["--threads", "1"]));
    let reference = shard_bytes(&single);

    // The multistream dump with its index (found next to it), on 1 and 2 threads.
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("multi{threads}"));
        ok(prep_wiki(&[&sample("enwiki-sample-multistream.xml.bz2")], &out, &["--threads", threads]));
        assert_eq!(shard_bytes(&out), reference, "multistream, {threads} threads");
        let manifest = Manifest::read(&out).unwrap();
        assert!(manifest.inputs.iter().any(|i| i.path.ends_with("multistream-index.txt.bz2")), "the index is recorded");
        // The recorded configuration holds the sections a wiki run uses, not the labels.
        assert!(manifest.config.get("clean").is_some() && manifest.config.get("labels").is_none());
    }
    // Without its index, stream boundaries are found by scanning.
    let alone = dir.path().join("alone.xml.bz2");
    std::fs::copy(sample("enwiki-sample-multistream.xml.bz2"), &alone).unwrap();
    let scanned = dir.path().join("scanned");
    ok(prep_wiki(&[&alone], &scanned, &[]));
    assert_eq!(shard_bytes(&scanned), reference, "scanned boundaries");
    // Uncompressed XML.
    let plain = dir.path().join("plain.xml");
    std::fs::write(&plain, sample_xml()).unwrap();
    let out = dir.path().join("plain");
    ok(prep_wiki(&[&plain], &out, &[]));
    assert_eq!(shard_bytes(&out), reference, "plain XML");
}

#[test]
fn articles_become_clean_prose_with_their_titles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(prep_wiki(&[&sample("enwiki-sample-multistream.xml.bz2")], &out, &[]));
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.corpus, "wiki");
    assert_eq!(manifest.totals.documents, 28);
    assert_eq!(manifest.skipped_records.get("redirect"), Some(&70));
    assert_eq!(manifest.skipped_records.get("disambiguation"), Some(&2));
    assert!(manifest.totals.sentences > 5000);
    let rows = read_rows(&out);
    for row in &rows {
        let text = row.words.iter().collect::<Vec<_>>().join(" ");
        for markup in ["{{", "}}", "[[", "]]", "{|", "|}", "<ref", "&amp;", "&lt;", "&quot;", "'''", "==", "__"] {
            assert!(!text.contains(markup), "{markup:?} left in {:?}: {text}", row.title);
        }
        assert!(row.doc_id.parse::<u64>().is_ok(), "doc_id is the page id");
        assert!(row.title.as_deref().is_some_and(|t| !t.is_empty()));
    }
    let anarchism: Vec<_> = rows.iter().filter(|r| r.title.as_deref() == Some("Anarchism")).collect();
    assert_eq!(anarchism[0].doc_id, "12");
    assert!(anarchism.len() > 100);
    let verify = spe(&["verify", out.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    let inspect = String::from_utf8(spe(&["inspect", out.to_str().unwrap(), "-n", "2"]).stdout).unwrap();
    assert!(inspect.contains("title: Utf8") && inspect.contains("corpus wiki"), "{inspect}");
}

#[test]
fn broken_dumps_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");

    // UTF-16: gensim's Bulgarian fragment.
    let utf16 = prep_wiki(&[&repo("tests/fixtures/bgwiki-latest-pages-articles-shortened.xml.bz2")], &out, &[]);
    assert!(!utf16.status.success() && stderr(&utf16).contains("UTF-16"), "{}", stderr(&utf16));

    // A truncated multistream dump, with and without its index.
    let full = std::fs::read(sample("enwiki-sample-multistream.xml.bz2")).unwrap();
    let cut = dir.path().join("enwiki-cut-multistream.xml.bz2");
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).unwrap();
    for extra in [&["--index", sample("enwiki-sample-multistream-index.txt.bz2").to_str().unwrap()][..], &[]] {
        let failed = prep_wiki(&[&cut], &out, extra);
        assert!(!failed.status.success(), "a truncated dump must fail");
        let err = stderr(&failed);
        assert!(err.contains("enwiki-cut-multistream.xml.bz2"), "{err}");
        assert!(!out.join("_manifest.json").exists());
    }

    // Malformed XML inside the third page names the page.
    let xml = sample_xml();
    let third = xml.match_indices("<page>").nth(2).unwrap().0;
    let broken = format!("{}<title>Broken</ttle>{}", &xml[..third + 6], &xml[third + 6..]);
    let path = dir.path().join("broken.xml");
    std::fs::write(&path, broken).unwrap();
    let failed = prep_wiki(&[&path], &out, &[]);
    let err = stderr(&failed);
    assert!(!failed.status.success() && err.contains("broken.xml: malformed XML at byte"), "{err}");

    // A bad index line names the index and the line.
    let index = dir.path().join("bad-index.txt");
    std::fs::write(&index, "638:10:A\nnot an offset\n").unwrap();
    let failed =
        prep_wiki(&[&sample("enwiki-sample-multistream.xml.bz2")], &out, &["--index", index.to_str().unwrap()]);
    assert!(stderr(&failed).contains("bad-index.txt:2: expected OFFSET:PAGE_ID:TITLE"), "{}", stderr(&failed));
}

#[test]
fn pathological_pages_finish_quickly_and_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let prose = "This article has a first sentence of real prose. It goes on with a second sentence of prose. \
        A third sentence makes the page long enough to be kept, since short pages are skipped as too little prose. \
        A fourth sentence leaves no doubt about it.";
    let pages = [
        format!("{prose}\n\n{{{{Infobox unterminated {}", "| field = value\n".repeat(50_000)),
        format!("{prose}\n\n{}", "{{".repeat(1_000_000)),
        format!("{prose}\n\n{}", "[[".repeat(1_000_000)),
        format!("{prose}\n\n{}x{}", "[[a|".repeat(200_000), "]]".repeat(200_000)),
        format!("{prose}\n\n{}", "<ref>".repeat(200_000)),
        format!("{prose}\n\n{}", "[http://example.com ".repeat(100_000)),
    ];
    let mut xml = String::from("<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\">\n");
    for (i, text) in pages.iter().enumerate() {
        let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        xml.push_str(&format!(
            "<page><title>P{i}</title><ns>0</ns><id>{}</id><revision><text>{escaped}</text></revision></page>\n",
            i + 1
        ));
    }
    xml.push_str("</mediawiki>\n");
    let dump = dir.path().join("pathological.xml.bz2");
    std::fs::write(&dump, bz2(xml.as_bytes())).unwrap();
    let out = dir.path().join("out");
    let started = Instant::now();
    ok(prep_wiki(&[&dump], &out, &[]));
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    let rows = read_rows(&out);
    let titles: std::collections::BTreeSet<_> = rows.iter().filter_map(|r| r.title.clone()).collect();
    let skipped = Manifest::read(&out).unwrap().skipped_records;
    assert_eq!(titles.len(), pages.len(), "each page keeps its prose: {titles:?}, skipped {skipped:?}");
    for row in rows {
        let text = row.words.iter().collect::<Vec<_>>().join(" ");
        assert!(!text.contains("[[") && !text.contains("{{") && !text.contains("<ref"), "{text}");
    }
    // Over the page size limit: skipped and counted.
    let small = dir.path().join("small");
    ok(prep_wiki(&[&dump], &small, &["--set", "read.max_document_bytes=1100000"]));
    let manifest = Manifest::read(&small).unwrap();
    assert_eq!(manifest.skipped_records.get("document_too_large"), Some(&4), "{:?}", manifest.skipped_records);
}

#[test]
fn a_dump_given_twice_is_refused_even_under_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let dump = sample("enwiki-sample.xml.bz2");
    let link = dir.path().join("same.xml.bz2");
    std::os::unix::fs::symlink(&dump, &link).unwrap();
    let output = prep_wiki(&[&dump, &link], &dir.path().join("out"), &[]);
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("is given twice") && message.contains("read twice"), "{message}");
    // A hard link is the same file too.
    let copy = dir.path().join("copy.xml.bz2");
    std::fs::copy(&dump, &copy).unwrap();
    let hard = dir.path().join("hard.xml.bz2");
    std::fs::hard_link(&copy, &hard).unwrap();
    let output = prep_wiki(&[&copy, &hard], &dir.path().join("out2"), &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is given twice"));
}

#[test]
fn pages_given_twice_or_without_an_id_are_refused_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let page = |id: &str, title: &str| {
        format!(
            "<page><title>{title}</title><ns>0</ns>{id}<revision><text>{title} is a town in the north of the \
             country. It has a river and a long history of trade. Its old market square is lined with houses \
             of the merchants who built it. Every summer a fair draws visitors from the whole region to \
             its streets.</text></revision></page>"
        )
    };
    let dump = |name: &str, pages: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("<mediawiki xml:lang=\"en\">{}</mediawiki>", pages.concat())).unwrap();
        path
    };
    let repeated =
        dump("repeated.xml", &[page("<id>10</id>", "Alpha"), page("<id>12</id>", "Beta"), page("<id>12</id>", "Beta")]);
    let output = prep_wiki(&[&repeated], &dir.path().join("a"), &[]);
    assert!(stderr(&output).contains("page \"Beta\" (id 12) follows page id 12"), "{}", stderr(&output));
    let counted = dir.path().join("b");
    ok(prep_wiki(&[&repeated], &counted, &["--skip-bad-records"]));
    assert_eq!(Manifest::read(&counted).unwrap().skipped_records.get("repeated_page"), Some(&1));

    let no_id = dump("no-id.xml", &[page("<id>10</id>", "Alpha"), page("", "Gamma")]);
    let output = prep_wiki(&[&no_id], &dir.path().join("c"), &[]);
    assert!(stderr(&output).contains("page \"Gamma\" (id 0) has no page id"), "{}", stderr(&output));

    // Two copies of one dump under different names hold the same pages.
    let copy = dir.path().join("copy.xml.bz2");
    std::fs::copy(sample("enwiki-sample.xml.bz2"), &copy).unwrap();
    let output = prep_wiki(&[&sample("enwiki-sample.xml.bz2"), &copy], &dir.path().join("d"), &[]);
    assert!(stderr(&output).contains("the same pages would be read twice"), "{}", stderr(&output));
}
