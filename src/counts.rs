//! Counts keyed by reason: skipped records, dropped sentences and draws, labels. Readers,
//! the sampler and the manifests all keep them, ordered so that manifests are byte-stable.
//! [`plural`] words any count for a message; [`first_repeat`] finds an item given twice.

use std::collections::BTreeMap;

/// Counts keyed by reason.
pub type Counts = BTreeMap<String, u64>;

/// The first item of `items` that an earlier one equals (a seed given twice, say).
pub fn first_repeat<T: PartialEq>(items: &[T]) -> Option<&T> {
    items.iter().enumerate().find_map(|(i, item)| items[..i].contains(item).then_some(item))
}

/// Adds `n` to the count of `reason`.
pub fn count(counts: &mut Counts, reason: &str, n: u64) {
    if n > 0 {
        *counts.entry(reason.to_string()).or_default() += n;
    }
}

/// Merges `other` into `counts`.
pub fn merge_counts(counts: &mut Counts, other: &Counts) {
    for (reason, n) in other {
        count(counts, reason, *n);
    }
}

/// `n noun`, the noun in the plural unless `n` is 1 (English's regular plural: `entity`
/// gives `entities`, `day` gives `days`).
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let consonant_y = noun.strip_suffix('y').filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
    match consonant_y {
        Some(stem) => format!("{n} {stem}ies"),
        None if ["s", "x", "z", "ch", "sh"].iter().any(|end| noun.ends_with(end)) => format!("{n} {noun}es"),
        None => format!("{n} {noun}s"),
    }
}

/// `reason: n, …` for messages; `none` when empty.
pub fn describe(counts: &Counts) -> String {
    if counts.is_empty() {
        return "none".to_string();
    }
    counts.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeat_is_the_second_of_its_value() {
        assert_eq!(first_repeat(&[3, 1, 4, 1, 3]), Some(&1));
        assert_eq!(first_repeat(&[1, 2, 3]), None);
        assert_eq!(first_repeat::<u64>(&[]), None);
    }

    #[test]
    fn plurals_follow_english_spelling() {
        assert_eq!(plural(1, "micro-batch"), "1 micro-batch");
        assert_eq!(plural(2, "micro-batch"), "2 micro-batches");
        assert_eq!(plural(3, "entity"), "3 entities");
        assert_eq!(plural(0, "day"), "0 days");
        assert_eq!(plural(2, "rank"), "2 ranks");
    }

    #[test]
    fn zero_counts_leave_no_key_and_merges_add() {
        let mut a = Counts::new();
        count(&mut a, "x", 0);
        assert!(a.is_empty());
        assert_eq!(describe(&a), "none");
        count(&mut a, "x", 2);
        let mut b = Counts::new();
        count(&mut b, "x", 1);
        count(&mut b, "a", 3);
        merge_counts(&mut a, &b);
        assert_eq!(describe(&a), "a: 3, x: 3");
    }
}
