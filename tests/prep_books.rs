//! `spe prep books` on a tree of books made from the bundled sample of real sentences:
//! genre folders, hard-wrapped paragraphs, plain and compressed files.

mod common;

use common::*;
use spe::shard::Manifest;
use std::io::Write;
use std::path::Path;

/// Each article of the sample becomes a book: paragraphs of four sentences, wrapped at 70
/// columns, in one of three genre folders. Every third book is compressed when `compress`.
fn make_books(root: &Path, compress: bool) -> usize {
    let text = std::fs::read_to_string(sample_text()).unwrap();
    let articles: Vec<Vec<&str>> = text.split("\n\n").map(|a| a.lines().collect()).collect();
    for (i, sentences) in articles.iter().enumerate() {
        let mut book = String::new();
        for paragraph in sentences.chunks(4) {
            let mut column = 0;
            for word in paragraph.join(" ").split(' ') {
                if column + word.len() > 70 {
                    book.push('\n');
                    column = 0;
                } else if column > 0 {
                    book.push(' ');
                }
                book.push_str(word);
                column += word.len() + 1;
            }
            book.push_str("\n\n");
        }
        let genre = ["fantasy", "history", "science"][i % 3];
        let path = root.join(genre).join(format!("book{i:02}.txt"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match (compress, i % 3) {
            (true, 1) => std::fs::write(path.with_extension("txt.zst"), zstd::encode_all(book.as_bytes(), 3).unwrap()),
            (true, 2) => {
                let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
                enc.write_all(book.as_bytes()).unwrap();
                std::fs::write(path.with_extension("txt.bz2"), enc.finish().unwrap())
            }
            _ => std::fs::write(path, book),
        }
        .unwrap();
    }
    articles.len()
}

fn prep_books(root: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["prep", "books", "--input", root.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let vocab = vocab();
    args.extend(["--tokenizer", vocab.to_str().unwrap()]);
    args.extend(extra);
    spe(&args)
}

#[test]
fn books_give_the_same_samples_compressed_or_not_and_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, mixed) = (dir.path().join("plain"), dir.path().join("mixed"));
    let books = make_books(&plain, false);
    make_books(&mixed, true);
    let outs: Vec<_> = [(&plain, "1"), (&plain, "2"), (&mixed, "2")]
        .iter()
        .enumerate()
        .map(|(i, (root, threads))| {
            let out = dir.path().join(format!("out{i}"));
            let run = prep_books(root, &out, &["--threads", threads]);
            assert!(run.status.success(), "{}", stderr(&run));
            out
        })
        .collect();
    let manifest = Manifest::read(&outs[0]).unwrap();
    assert_eq!(manifest.corpus, "books");
    assert_eq!(manifest.totals.documents, books as u64);
    // The sample's 700 sentences, give or take where the rule-based splitter and the
    // sample's own splitting disagree.
    assert!((650..=750).contains(&manifest.totals.sentences), "{}", manifest.totals.sentences);
    let rows = read_rows(&outs[0]);
    assert_eq!(rows[0].doc_id, "fantasy/book00.txt");
    assert!(rows.iter().all(|r| r.title.is_none()));
    let shard = |dir: &Path| std::fs::read(dir.join("part-00000.parquet")).unwrap();
    assert_eq!(shard(&outs[0]), shard(&outs[1]), "1 and 2 threads");
    assert_eq!(rows, read_rows(&outs[2]), "compressed books keep their ids and samples");
    assert!(spe(&["verify", outs[2].to_str().unwrap()]).status.success());
}

#[test]
fn bad_books_are_errors_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("books");
    make_books(&root, false);
    std::fs::write(root.join("history/broken.txt"), b"A fine first line.\nThen \xff breaks.\n").unwrap();
    std::fs::write(root.join("history/empty.txt"), b"\n \n").unwrap();
    std::fs::write(root.join("README.md"), b"not a book").unwrap();
    let out = dir.path().join("out");
    let failed = prep_books(&root, &out, &[]);
    assert!(!failed.status.success());
    assert!(stderr(&failed).contains("broken.txt:2: invalid UTF-8"), "{}", stderr(&failed));
    assert!(!out.join("_manifest.json").exists());

    let run = prep_books(&root, &out, &["--skip-bad-records", "--set", "read.max_document_bytes=8000"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let skipped = Manifest::read(&out).unwrap().skipped_records;
    assert_eq!(skipped.get("invalid_utf8"), Some(&1));
    assert_eq!(skipped.get("empty_file"), Some(&1));
    assert_eq!(skipped.get("not_a_book"), Some(&1));
    assert!(skipped.get("document_too_large").is_some_and(|&n| n > 0), "{skipped:?}");

    let nothing = prep_books(&dir.path().join("missing"), &out, &["--force"]);
    assert!(stderr(&nothing).contains("does not exist"), "{}", stderr(&nothing));
}

#[test]
fn a_tree_with_a_link_back_up_is_refused_instead_of_read_forever() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("books");
    let genre = root.join("Fantasy");
    std::fs::create_dir_all(&genre).unwrap();
    std::fs::write(genre.join("a.txt"), "The road ran north.\n\nIt rained all day and the river rose.\n").unwrap();
    std::os::unix::fs::symlink(&root, genre.join("loop")).unwrap();
    let vocab = vocab();
    let out = dir.path().join("out");
    let args = [
        "prep",
        "books",
        "--input",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
    ];
    let output = spe(&args);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("loop") && stderr(&output).contains("again (through a link)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn books_shared_by_two_ranks_merge_into_the_single_runs_rows_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("books");
    make_books(&root, true);
    std::fs::write(root.join("README.md"), "not a book").unwrap();
    let (single, ranks) = (dir.path().join("single"), dir.path().join("ranks"));
    ok(prep_books(&root, &single, &[]));
    for rank in ["0", "1"] {
        ok(prep_books(&root, &ranks, &["--rank", rank, "--world-size", "2"]));
    }
    ok(spe(&["merge", ranks.to_str().unwrap()]));
    assert!(read_rows(&ranks) == read_rows(&single), "the merged rows differ from the single run's");
    let (a, b) = (Manifest::read(&single).unwrap(), Manifest::read(&ranks).unwrap());
    assert_eq!(b.totals, a.totals);
    assert_eq!(b.skipped_records, a.skipped_records, "rank 0 alone counts what is not a book");
    assert_eq!(b.skipped_records.get("not_a_book"), Some(&1));
    assert_eq!(b.inputs, a.inputs);
}
