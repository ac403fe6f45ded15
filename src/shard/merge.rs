//! `spe merge`: joins the outputs of the ranks of a partitioned preparation
//! ([`crate::partition`]), `OUT/rank-R-of-N/`, into one output in `OUT`.
//!
//! Every rank of `0..N` must be present once and finished; all must have cut their shares
//! from the same plan (the same inputs, for the same number of ranks) with the same
//! configuration, seed, tokenizer and version of spe; each is verified whole
//! ([`crate::shard::verify`]: checksums, metadata, every row, totals). The merged manifest
//! lists the ranks' shards in rank order, where they lie, so its rows are those of a single
//! run over the whole input; its totals and counts are the ranks' sums. Parts of one file
//! read by several ranks must together cover it exactly once. The manifest is written last,
//! atomically; merging again gives the same manifest.

use super::manifest::{manifest_path, Manifest, Totals};
use super::verify::{verify, Inputs};
use super::writer::is_shard_name;
use crate::corpus::InputRecord;
use crate::counts::{merge_counts, plural};
use crate::lock::OutputLock;
use crate::partition::Partition;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Merges the ranks in `dir` and writes `dir/_manifest.json`; returns the merged manifest
/// and the number of ranks.
pub fn merge(dir: &Path) -> Result<(Manifest, u32)> {
    let _lock = OutputLock::acquire(dir)?;
    let world_size = world_size(dir)?;
    let folder = |rank: u32| Partition { rank, world_size }.dir_name();
    let ranks: Vec<Manifest> =
        (0..world_size).map(|rank| checked_rank(dir, &folder(rank), rank, world_size)).collect::<Result<_>>()?;
    for (rank, manifest) in (0..).zip(&ranks).skip(1) {
        same_run(&ranks[0], manifest, &folder(rank))?;
    }
    let mut merged = Manifest {
        inputs: Vec::new(),
        shards: Vec::new(),
        totals: Totals::default(),
        skipped_records: Default::default(),
        dropped_sentences: Default::default(),
        dropped_draws: Default::default(),
        partition: None,
        ..ranks[0].clone()
    };
    for (rank, manifest) in (0..).zip(ranks) {
        for input in manifest.inputs {
            // Every rank reading a dump reads its index whole.
            if !merged.inputs.contains(&input) {
                merged.inputs.push(input);
            }
        }
        merged.shards.extend(manifest.shards.into_iter().map(|mut s| {
            s.file = format!("{}/{}", folder(rank), s.file);
            s
        }));
        merged.totals.add_all(&manifest.totals);
        merge_counts(&mut merged.skipped_records, &manifest.skipped_records);
        merge_counts(&mut merged.dropped_sentences, &manifest.dropped_sentences);
        merge_counts(&mut merged.dropped_draws, &manifest.dropped_draws);
    }
    check_inputs(&merged.inputs)?;
    if merged.totals.samples == 0 {
        bail!("the {} ranks in {} hold no sample at all; nothing was merged", world_size, dir.display());
    }
    merged.write(dir)?;
    Ok((merged, world_size))
}

/// Removes a merged manifest from `dir`, which a rank about to write its share again makes
/// stale; a whole run's manifest is left alone.
pub fn remove_stale(dir: &Path) -> Result<()> {
    let Ok(manifest) = Manifest::read(dir) else { return Ok(()) };
    let merged = manifest
        .shards
        .iter()
        .all(|s| s.file.split_once('/').is_some_and(|(f, _)| Partition::parse_dir_name(f).is_some()));
    if merged && !manifest.shards.is_empty() {
        let path = manifest_path(dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove the stale {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The number of ranks whose folders `dir` holds; refuses folders of two runs with
/// different numbers of ranks, a missing rank, and a whole output's own shards.
fn world_size(dir: &Path) -> Result<u32> {
    let mut ranks: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_shard_name(&name) {
            bail!(
                "{} holds shards of its own ({name}): it is the output of a whole run, not the rank-R-of-N folders \
                 of a partitioned one",
                dir.display()
            );
        }
        if let Some(p) = Partition::parse_dir_name(&name).filter(|_| entry.path().is_dir()) {
            ranks.entry(p.world_size).or_default().insert(p.rank);
        }
    }
    let Some((&world_size, present)) = ranks.iter().next() else {
        bail!(
            "{} holds no rank-R-of-N folder: prepare each rank into it first (spe prep … --rank R --world-size N, \
             or in a job array)",
            dir.display()
        );
    };
    if ranks.len() > 1 {
        let sizes: Vec<String> = ranks.keys().map(|n| n.to_string()).collect();
        bail!(
            "{} holds the ranks of runs over {} ranks: remove the folders of the run you do not want",
            dir.display(),
            sizes.join(" and ")
        );
    }
    let missing: Vec<u32> = (0..world_size).filter(|r| !present.contains(r)).collect();
    if let Some(&first) = missing.first() {
        let ranks: Vec<String> = missing.iter().map(u32::to_string).collect();
        bail!(
            "{}: rank {} of {world_size} is missing (no {} folder); prepare it, then merge again",
            dir.display(),
            ranks.join(", "),
            Partition { rank: first, world_size }.dir_name()
        );
    }
    Ok(world_size)
}

/// The finished manifest in `dir/folder`, which must be rank `rank` of `world_size`'s, with
/// every shard verified against it.
fn checked_rank(dir: &Path, folder: &str, rank: u32, world_size: u32) -> Result<Manifest> {
    let manifest = Manifest::read(&dir.join(folder))
        .with_context(|| format!("rank {rank} of {world_size} has not finished, or failed; prepare it again"))?;
    match &manifest.partition {
        Some(p) if p.rank == rank && p.world_size == world_size => {}
        Some(p) => bail!(
            "{folder} holds the output of rank {} of {}, not rank {rank}: each rank must be present once",
            p.rank,
            p.world_size
        ),
        None => bail!("{folder} holds the output of a whole run, not of rank {rank} of {world_size}"),
    }
    let report = verify(&dir.join(folder), Inputs::Skip)?;
    if !report.problems.is_empty() {
        let shown: Vec<&str> = report.problems.iter().take(5).map(String::as_str).collect();
        bail!(
            "{folder}: {} (spe verify {} lists them all); prepare that rank again",
            shown.join("; "),
            dir.join(folder).display()
        );
    }
    Ok(manifest)
}

/// Refuses a rank that differs from rank 0 in anything but its share.
fn same_run(first: &Manifest, other: &Manifest, folder: &str) -> Result<()> {
    let plan = |m: &Manifest| m.partition.as_ref().map(|p| p.plan_sha256.clone());
    let differences = [
        ("inputs (the plan the shares were cut from)", plan(first) != plan(other)),
        ("corpus", first.corpus != other.corpus),
        ("seed", first.seed != other.seed),
        ("configuration", first.config != other.config),
        ("tokenizer", first.tokenizer != other.tokenizer),
        ("version of spe", first.tool != other.tool),
    ];
    let differing: Vec<&str> = differences.iter().filter(|(_, d)| *d).map(|(what, _)| *what).collect();
    if !differing.is_empty() {
        bail!(
            "{folder} differs from rank 0 in its {}: its ranks were not prepared by one run; prepare them again \
             with the same command",
            differing.join(", ")
        );
    }
    Ok(())
}

/// The parts of each file read by several ranks cover it exactly once, in order.
fn check_inputs(inputs: &[InputRecord]) -> Result<()> {
    let mut parts: BTreeMap<&str, Vec<&InputRecord>> = BTreeMap::new();
    for input in inputs {
        parts.entry(&input.path).or_default().push(input);
    }
    for (path, records) in parts {
        if records.len() == 1 && records[0].range.is_none() {
            continue;
        }
        let mut at = 0;
        for record in &records {
            let Some(range) = record.range else {
                bail!("{path} was read whole by one rank and in part, or differently, by another");
            };
            if range.start != at {
                bail!(
                    "{path}: the ranks read bytes {}..{} next after byte {at}: parts overlap or are missing",
                    range.start,
                    range.end
                );
            }
            at = range.end;
            if range.file_bytes != records[0].range.map_or(0, |r| r.file_bytes) {
                bail!("{path} had different sizes when the ranks read it: it changed during the run");
            }
        }
        let size = records[0].range.map_or(0, |r| r.file_bytes);
        if at != size {
            bail!("{path}: the ranks read {} of its {}", plural(at, "byte"), plural(size, "byte"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::input::ByteRange;

    fn part(path: &str, start: u64, end: u64, file_bytes: u64) -> InputRecord {
        let range = Some(ByteRange { start, end, file_bytes });
        InputRecord { path: path.into(), bytes: end - start, sha256: format!("{start}"), range }
    }

    #[test]
    fn parts_of_a_file_must_cover_it_once_in_order() {
        let whole = InputRecord { path: "a.txt".into(), bytes: 3, sha256: "x".into(), range: None };
        check_inputs(&[whole.clone(), part("d.bz2", 0, 4, 9), part("d.bz2", 4, 9, 9)]).unwrap();
        let error = |inputs: &[InputRecord]| format!("{:#}", check_inputs(inputs).unwrap_err());
        assert!(error(&[part("d.bz2", 0, 4, 9), part("d.bz2", 5, 9, 9)]).contains("overlap or are missing"));
        assert!(error(&[part("d.bz2", 0, 4, 9), part("d.bz2", 3, 9, 9)]).contains("overlap or are missing"));
        assert!(error(&[part("d.bz2", 0, 4, 9)]).contains("read 4 bytes of its 9 bytes"));
        assert!(error(&[part("d.bz2", 0, 4, 9), part("d.bz2", 4, 10, 10)]).contains("changed during the run"));
        let twice = InputRecord { sha256: "y".into(), ..whole.clone() };
        assert!(error(&[whole, twice]).contains("read whole by one rank"));
    }
}
