//! Sentences longer than the encoder's positions, predicted window by window. Training may
//! leave such a sentence out (and count it), but a score must count every sentence of a
//! split, so prediction reads a long one as PURE and DyGIE++ read long inputs: in windows
//! that fit, each with context on both sides of a core, the cores cutting the sentence into
//! consecutive parts.
//!
//! A window's entity is kept where its first word lies in the window's core, so each span
//! is decided by one window, the one that sees it with the most context around it. A
//! relation is kept where its head is kept; its tail is the entity the tail's own window
//! kept, or, where that window did not predict it, the one this window predicted. A
//! relation between words farther apart than a window is not found, as with those peers.

use anyhow::{bail, Result};
use spe::corpus::labeled::{Entity, LabeledSentence, Relation};
use spe::shard::labeled::LabeledRow;
use std::ops::Range;

/// Where one window lies in its sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The sentence, by index into the rows windowed.
    pub row: usize,
    /// The window's words, in the sentence.
    pub words: Range<usize>,
    /// The words whose entities this window decides.
    pub core: Range<usize>,
}

/// Rows that fit `max_positions` (`[CLS]` and `[SEP]` included): each row that fits as it
/// is, and a long row as its windows; with each, where it lies.
pub fn split(rows: &[LabeledRow], max_positions: usize) -> Result<(Vec<LabeledRow>, Vec<Window>)> {
    let mut pieces = Vec::with_capacity(rows.len());
    let mut windows = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let n = row.words.len();
        if row.input_ids.len() <= max_positions {
            pieces.push(row.clone());
            windows.push(Window { row: index, words: 0..n, core: 0..n });
            continue;
        }
        for (words, core) in cut(row, max_positions)? {
            pieces.push(piece(row, words.clone()));
            windows.push(Window { row: index, words, core });
        }
    }
    Ok((pieces, windows))
}

/// The predictions of `rows`, from those of their windows ([`split`]'s, in order).
pub fn merge(rows: usize, windows: &[Window], predicted: Vec<LabeledSentence>) -> Vec<LabeledSentence> {
    let mut merged = vec![LabeledSentence::default(); rows];
    let mut i = 0;
    while i < windows.len() {
        let row = windows[i].row;
        let end = i + windows[i..].iter().take_while(|w| w.row == row).count();
        merged[row] = match end - i {
            1 if windows[i].words == windows[i].core => predicted[i].clone(),
            _ => merge_windows(&windows[i..end], &predicted[i..end]),
        };
        i = end;
    }
    merged
}

/// One sentence's prediction from its windows'.
fn merge_windows(windows: &[Window], predicted: &[LabeledSentence]) -> LabeledSentence {
    let shifted = |w: &Window, e: &Entity| Entity {
        start: e.start + w.words.start as u32,
        end: e.end + w.words.start as u32,
        label: e.label.clone(),
    };
    let mut out = LabeledSentence::default();
    for (w, p) in windows.iter().zip(predicted) {
        let kept = p.entities.iter().filter(|e| w.core.contains(&(e.start as usize + w.words.start)));
        out.entities.extend(kept.map(|e| shifted(w, e)));
    }
    for (w, p) in windows.iter().zip(predicted) {
        for r in &p.relations {
            let head = shifted(w, &p.entities[r.head as usize]);
            if !w.core.contains(&(head.start as usize)) {
                continue;
            }
            let mut index_of = |e: Entity| match out.entities.iter().position(|o| *o == e) {
                Some(i) => i as u32,
                None => {
                    out.entities.push(e);
                    out.entities.len() as u32 - 1
                }
            };
            let (head, tail) = (index_of(head), index_of(shifted(w, &p.entities[r.tail as usize])));
            let relation = Relation { head, tail, label: r.label.clone() };
            if !out.relations.contains(&relation) {
                out.relations.push(relation);
            }
        }
    }
    out
}

/// The sub-tokens of words `from..to` of `row`.
fn subtokens(row: &LabeledRow, from: usize, to: usize) -> usize {
    let end = |i: usize| row.word_starts.get(i).map_or(row.input_ids.len() - 1, |&s| s as usize);
    end(to) - row.word_starts[from] as usize
}

/// The windows of a row too long for `max_positions`: `(words, core)` pairs. Each core
/// holds at most half a window's sub-tokens (at least one word), and its window adds as
/// many words on each side as fit, the left side first up to half of what is left.
fn cut(row: &LabeledRow, max_positions: usize) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    let budget = max_positions.saturating_sub(2);
    let n = row.words.len();
    let mut windows = Vec::new();
    let mut c = 0;
    while c < n {
        if subtokens(row, c, c + 1) > budget {
            bail!(
                "word {c} ({:?}) of sentence {} of {} has {} sub-tokens, more than the {budget} a window of the \
                 encoder's {max_positions} positions holds",
                row.words[c],
                row.sent_id,
                row.doc_id,
                subtokens(row, c, c + 1)
            );
        }
        let mut d = c + 1;
        while d < n && subtokens(row, c, d + 1) <= (budget / 2).max(1) {
            d += 1;
        }
        let left = (budget - subtokens(row, c, d)) / 2;
        let mut s = c;
        while s > 0 && subtokens(row, s - 1, c) <= left {
            s -= 1;
        }
        let mut e = d;
        while e < n && subtokens(row, s, e + 1) <= budget {
            e += 1;
        }
        while s > 0 && subtokens(row, s - 1, e) <= budget {
            s -= 1;
        }
        windows.push((s..e, c..d));
        c = d;
    }
    Ok(windows)
}

/// Words `words` of `row` as a row of their own (no annotations: it is predicted).
fn piece(row: &LabeledRow, words: Range<usize>) -> LabeledRow {
    let first = row.word_starts[words.start] as usize;
    let last = row.word_starts.get(words.end).map_or(row.input_ids.len() - 1, |&s| s as usize);
    let mut input_ids = Vec::with_capacity(last - first + 2);
    input_ids.push(row.input_ids[0]);
    input_ids.extend_from_slice(&row.input_ids[first..last]);
    input_ids.push(row.input_ids[row.input_ids.len() - 1]);
    LabeledRow {
        doc_id: row.doc_id.clone(),
        doc_id_is_number: row.doc_id_is_number,
        sent_id: row.sent_id,
        words: row.words[words.clone()].to_vec(),
        input_ids,
        word_starts: row.word_starts[words].iter().map(|&s| s - first as i32 + 1).collect(),
        entities: Vec::new(),
        relations: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A row of `pieces[i]` sub-tokens for word `i`.
    fn row(pieces: &[usize]) -> LabeledRow {
        let mut input_ids = vec![101];
        let mut word_starts = Vec::new();
        for (i, &k) in pieces.iter().enumerate() {
            word_starts.push(input_ids.len() as i32);
            input_ids.extend((0..k).map(|j| 1000 + (i * 10 + j) as i32));
        }
        input_ids.push(102);
        LabeledRow {
            doc_id: "D".into(),
            doc_id_is_number: false,
            sent_id: 0,
            words: (0..pieces.len()).map(|i| format!("w{i}")).collect(),
            input_ids,
            word_starts,
            entities: Vec::new(),
            relations: Vec::new(),
        }
    }

    proptest! {
        /// Every window fits, its sub-tokens are the sentence's own, and the cores cut the
        /// sentence into consecutive parts, each inside its window.
        #[test]
        fn windows_fit_and_their_cores_cover_the_sentence_once(
            pieces in prop::collection::vec(1usize..4, 1..60),
            max in 8usize..40,
        ) {
            let long = row(&pieces);
            let (rows, windows) = split(std::slice::from_ref(&long), max).unwrap();
            let mut next = 0;
            for (piece, w) in rows.iter().zip(&windows) {
                prop_assert!(piece.input_ids.len() <= max || long.input_ids.len() <= max);
                prop_assert_eq!(w.core.start, next);
                prop_assert!(w.words.start <= w.core.start && w.core.end <= w.words.end && w.core.start < w.core.end);
                next = w.core.end;
                prop_assert_eq!(&piece.words[..], &long.words[w.words.clone()]);
                for (k, &start) in piece.word_starts.iter().enumerate() {
                    let word = w.words.start + k;
                    let theirs = long.input_ids[long.word_starts[word] as usize];
                    prop_assert_eq!(piece.input_ids[start as usize], theirs);
                }
            }
            prop_assert_eq!(next, long.words.len());
        }
    }

    #[test]
    fn a_long_sentence_is_predicted_whole_from_its_windows() {
        let long = row(&[2; 12]);
        let short = row(&[1, 1]);
        let (rows, windows) = split(&[short.clone(), long.clone()], 12).unwrap();
        assert_eq!(windows[0], Window { row: 0, words: 0..2, core: 0..2 });
        assert_eq!(rows[0], short);
        let cores: Vec<_> = windows[1..].iter().map(|w| w.core.clone()).collect();
        assert_eq!(cores, [0..2, 2..4, 4..6, 6..8, 8..10, 10..12]);
        assert_eq!(windows[2].words, 1..6);
        // Each window predicts the entity at its words 1..2 and one at its first word, the
        // second related to the first; only entities starting in a core are kept.
        let entity = |start: u32| Entity { start, end: start + 1, label: "E".into() };
        let predicted: Vec<LabeledSentence> = windows
            .iter()
            .map(|_| LabeledSentence {
                words: Vec::new(),
                entities: vec![entity(1), entity(0)],
                relations: vec![Relation { head: 1, tail: 0, label: "R".into() }],
            })
            .collect();
        let merged = merge(2, &windows, predicted.clone());
        assert_eq!(merged[0], predicted[0]);
        let starts: Vec<u32> = merged[1].entities.iter().map(|e| e.start).collect();
        // Window 0..5 (core 0..2) keeps words 1 and 0; window 1..6 (core 2..4) keeps word 2,
        // and its relation's head (word 1) is not in its core.
        assert!(starts.contains(&0) && starts.contains(&1) && starts.contains(&2), "{starts:?}");
        for r in &merged[1].relations {
            let head = &merged[1].entities[r.head as usize];
            let window = windows[1..].iter().find(|w| w.core.contains(&(head.start as usize))).unwrap();
            assert!(window.words.contains(&(merged[1].entities[r.tail as usize].start as usize)));
        }
        let err = split(&[row(&[1, 30])], 12).unwrap_err().to_string();
        assert!(err.contains("word 1") && err.contains("30 sub-tokens"), "{err}");
    }
}
