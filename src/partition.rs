//! Preparation shared among the ranks of a cluster job: each rank takes a deterministic,
//! contiguous share of the input and writes an ordinary output of its own under
//! `OUT/rank-R-of-N/`, whose manifest records the share; `spe merge OUT`
//! ([`crate::shard::merge`]) then checks the ranks and writes one manifest over all their
//! shards.
//!
//! The input is cut into units (a file, or one bzip2 stream of a multistream dump with an
//! index), each weighed by its bytes on disk; rank R takes the units whose first byte lies in
//! the R-th N-th of the total. Shares are contiguous and in input order, so the ranks' rows
//! in rank order are the rows of a single run: every sentence draws from its own random
//! stream, keyed by its document and position ([`crate::rng`]), whoever reads it.
//!
//! The rank and the number of ranks come from `--rank` and `--world-size`, or else from the
//! environment a scheduler sets: a Slurm job array (`SLURM_ARRAY_TASK_ID`,
//! `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`, and `SLURM_ARRAY_TASK_STEP` for an
//! array such as `--array=0-6:2`), a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with
//! `--world-size` giving the completions), or a launcher's `RANK` and `WORLD_SIZE`. A
//! `WORLD_SIZE` of 1 in the environment is an ordinary run: it is what a launcher leaves
//! behind for one process, not a request to partition. At most [`MAX_RANKS`] ranks: the
//! folder names hold five digits.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The most ranks of a partitioned run (`rank-R-of-N` folders hold five digits each).
pub const MAX_RANKS: u32 = 99_999;

/// One rank of a partitioned run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// This rank, from 0.
    pub rank: u32,
    /// The number of ranks.
    pub world_size: u32,
}

/// The share a rank took, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// This rank, from 0.
    pub rank: u32,
    /// The number of ranks.
    pub world_size: u32,
    /// SHA-256 of the plan every rank cut its share from: each unit of input (path, byte
    /// range) in order, and the number of ranks. Ranks given other inputs differ here.
    pub plan_sha256: String,
}

/// A unit of input: `bytes` of the file `path`, read by one rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The file.
    pub path: PathBuf,
    /// The bytes of the file the unit covers.
    pub bytes: Range<u64>,
}

/// The plan of a partitioned run: every unit of input, and which of them this rank takes.
#[derive(Debug, Clone)]
pub struct Share {
    /// The units taken, an index range into the run's units.
    pub units: Range<usize>,
    /// What the manifest records.
    pub record: PartitionRecord,
}

impl Partition {
    /// The partition given by the flags, or else by the environment (see the module
    /// docs); `None` for an ordinary run. The second value says where it came from.
    pub fn resolve(rank: Option<u32>, world_size: Option<u32>) -> Result<Option<(Partition, String)>> {
        Partition::resolve_with(rank, world_size, |name| std::env::var(name).ok())
    }

    fn resolve_with(
        rank: Option<u32>,
        world_size: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(Partition, String)>> {
        let number = |name: &str| -> Result<Option<u32>> {
            env(name)
                .map(|v| v.trim().parse::<u32>().with_context(|| format!("{name}={v:?} is not a rank or a count")))
                .transpose()
        };
        let (rank, world_size, origin) = match (rank, world_size) {
            (Some(rank), Some(world_size)) => (rank, world_size, "--rank and --world-size".to_string()),
            (Some(_), None) => bail!("--rank needs --world-size, the number of ranks"),
            (None, given) => {
                if let (Some(id), Some(count)) = (number("SLURM_ARRAY_TASK_ID")?, number("SLURM_ARRAY_TASK_COUNT")?) {
                    let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                    let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
                    let offset = id.checked_sub(min).context("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
                    if offset % step != 0 {
                        bail!(
                            "SLURM_ARRAY_TASK_ID {id} is not SLURM_ARRAY_TASK_MIN {min} plus a multiple of \
                             SLURM_ARRAY_TASK_STEP {step}; give --rank and --world-size"
                        );
                    }
                    let origin = if step > 1 {
                        format!("the Slurm job array (SLURM_ARRAY_TASK_ID {id}, from {min} in steps of {step})")
                    } else {
                        "the Slurm job array (SLURM_ARRAY_TASK_ID)".to_string()
                    };
                    (offset / step, given.unwrap_or(count), origin)
                } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
                    let Some(world_size) = given else {
                        bail!(
                            "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job), but not the number of ranks: \
                             pass --world-size with the Job's completions"
                        );
                    };
                    (index, world_size, "the Kubernetes Indexed Job (JOB_COMPLETION_INDEX)".to_string())
                } else if let (Some(rank), Some(world)) = (number("RANK")?, number("WORLD_SIZE")?) {
                    if world == 1 && given.is_none() {
                        return Ok(None);
                    }
                    (rank, given.unwrap_or(world), "RANK and WORLD_SIZE".to_string())
                } else if given.is_some() {
                    bail!(
                        "--world-size needs --rank, or a rank from the environment (SLURM_ARRAY_TASK_ID, \
                         JOB_COMPLETION_INDEX or RANK)"
                    );
                } else {
                    return Ok(None);
                }
            }
        };
        if world_size == 0 || rank >= world_size {
            bail!("rank {rank} of {world_size} (from {origin}): ranks run from 0 to the number of ranks less one");
        }
        if world_size > MAX_RANKS {
            bail!(
                "{world_size} ranks (from {origin}): at most {MAX_RANKS}, as the rank folders' names hold five digits"
            );
        }
        Ok(Some((Partition { rank, world_size }, origin)))
    }

    /// The folder of this rank's output: `rank-00002-of-00004`.
    pub fn dir_name(&self) -> String {
        format!("rank-{:05}-of-{:05}", self.rank, self.world_size)
    }

    /// The rank and number of ranks a folder name of [`Partition::dir_name`] gives.
    pub fn parse_dir_name(name: &str) -> Option<Partition> {
        let (rank, world_size) = name.strip_prefix("rank-")?.split_once("-of-")?;
        let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(rank) && digits(world_size)) {
            return None;
        }
        Some(Partition { rank: rank.parse().ok()?, world_size: world_size.parse().ok()? })
    }

    /// This rank's share of `units`: those whose first byte, counted over all units in
    /// order, lies in its N-th of the total.
    pub fn share(&self, units: &[Unit]) -> Share {
        let total: u128 = units.iter().map(|u| u128::from(u.bytes.end - u.bytes.start)).sum();
        let mut plan = Sha256::new();
        plan.update(format!("ranks {}\n", self.world_size));
        let (mut first, mut end, mut before) = (None, 0, 0u128);
        for (i, unit) in units.iter().enumerate() {
            plan.update(format!("{}\t{}\t{}\n", unit.path.display(), unit.bytes.start, unit.bytes.end));
            // The unit goes to the rank whose N-th of the total holds its first byte.
            let owner = (before * u128::from(self.world_size)).checked_div(total).unwrap_or(0) as u32;
            if owner == self.rank {
                first.get_or_insert(i);
                end = i + 1;
            }
            before += u128::from(unit.bytes.end - unit.bytes.start);
        }
        let start = first.unwrap_or(end);
        Share {
            units: start..end.max(start),
            record: PartitionRecord {
                rank: self.rank,
                world_size: self.world_size,
                plan_sha256: hex::encode(plan.finalize()),
            },
        }
    }

    /// Keeps in `files` (a source's files still to read) this rank's share of them, each
    /// weighed by its size; `path` gives an item's file. Returns the share's record and
    /// its bytes, the total of its progress.
    pub fn take_files<T>(
        &self,
        files: &mut std::vec::IntoIter<T>,
        path: impl Fn(&T) -> &Path,
    ) -> Result<(PartitionRecord, u64)> {
        let all: Vec<T> = std::mem::take(files).collect();
        let units = all
            .iter()
            .map(|file| Ok(Unit { path: path(file).to_path_buf(), bytes: 0..file_size(path(file))? }))
            .collect::<Result<Vec<_>>>()?;
        let share = self.share(&units);
        let bytes = units[share.units.clone()].iter().map(|u| u.bytes.end).sum();
        *files = all.into_iter().skip(share.units.start).take(share.units.len()).collect::<Vec<_>>().into_iter();
        Ok((share.record, bytes))
    }
}

/// The size of an input file, in an error naming it where it cannot be read.
pub fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("cannot open input {}", path.display()))?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(flags: (Option<u32>, Option<u32>), env: &[(&str, &str)]) -> Result<Option<(Partition, String)>> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Partition::resolve_with(flags.0, flags.1, |name| env.get(name).cloned())
    }

    fn rank_of(flags: (Option<u32>, Option<u32>), env: &[(&str, &str)]) -> (u32, u32) {
        let (p, _) = resolve(flags, env).unwrap().unwrap();
        (p.rank, p.world_size)
    }

    #[test]
    fn the_rank_comes_from_the_flags_then_slurm_then_kubernetes_then_rank() {
        assert!(resolve((None, None), &[]).unwrap().is_none());
        let slurm = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_COUNT", "3")];
        assert_eq!(rank_of((None, None), &slurm), (1, 3));
        assert_eq!(rank_of((Some(2), Some(7)), &slurm), (2, 7));
        assert_eq!(
            rank_of((None, Some(4)), &[("JOB_COMPLETION_INDEX", "3"), ("RANK", "0"), ("WORLD_SIZE", "9")]),
            (3, 4)
        );
        assert_eq!(rank_of((None, None), &[("RANK", "1"), ("WORLD_SIZE", "2")]), (1, 2));
        let error = |flags, env: &[(&str, &str)]| format!("{:#}", resolve(flags, env).unwrap_err());
        assert!(error((None, None), &[("JOB_COMPLETION_INDEX", "3")]).contains("pass --world-size"));
        assert!(error((Some(1), None), &[]).contains("--rank needs --world-size"));
        assert!(error((None, Some(2)), &[]).contains("--world-size needs --rank"));
        assert!(error((Some(3), Some(3)), &[]).contains("rank 3 of 3"));
        assert!(error((None, None), &[("RANK", "x"), ("WORLD_SIZE", "2")]).contains("RANK=\"x\""));
    }

    #[test]
    fn stepped_slurm_arrays_count_their_tasks_and_a_leftover_world_of_one_is_no_partition() {
        // --array=0-6:2: tasks 0, 2, 4, 6.
        let task = |id: &'static str| {
            [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ]
        };
        assert_eq!(rank_of((None, None), &task("6")), (3, 4));
        assert_eq!(rank_of((None, None), &task("2")), (1, 4));
        let error = |flags, env: &[(&str, &str)]| format!("{:#}", resolve(flags, env).unwrap_err());
        assert!(error((None, None), &task("3")).contains("SLURM_ARRAY_TASK_STEP 2"));
        assert!(resolve((None, None), &[("RANK", "0"), ("WORLD_SIZE", "1")]).unwrap().is_none());
        assert_eq!(rank_of((None, Some(1)), &[("RANK", "0"), ("WORLD_SIZE", "1")]), (0, 1));
        assert!(error((Some(0), Some(100_000)), &[]).contains("at most 99999"));
        assert_eq!(rank_of((Some(99_998), Some(99_999)), &[]), (99_998, 99_999));
    }

    #[test]
    fn folder_names_round_trip() {
        let p = Partition { rank: 2, world_size: 12 };
        assert_eq!(p.dir_name(), "rank-00002-of-00012");
        assert_eq!(Partition::parse_dir_name(&p.dir_name()), Some(p));
        for name in ["rank-2-of-12", "rank-00002-of-0001x", "shard-00000.parquet", "rank-00002"] {
            assert_eq!(Partition::parse_dir_name(name), None, "{name}");
        }
    }

    #[test]
    fn shares_are_contiguous_disjoint_cover_everything_and_balance_bytes() {
        let units: Vec<Unit> = [5u64, 1, 1, 1, 30, 2, 2, 2, 2, 2, 10, 40]
            .iter()
            .scan(0, |at, &len| {
                *at += len;
                Some(Unit { path: "dump.xml.bz2".into(), bytes: *at - len..*at })
            })
            .collect();
        for world_size in 1..=15 {
            let shares: Vec<Share> = (0..world_size).map(|rank| Partition { rank, world_size }.share(&units)).collect();
            let mut next = 0;
            for share in &shares {
                if !share.units.is_empty() {
                    assert_eq!(share.units.start, next, "{world_size}: contiguous, in rank order");
                    next = share.units.end;
                }
                assert_eq!(share.record.plan_sha256, shares[0].record.plan_sha256);
            }
            assert_eq!(next, units.len());
            let taken: usize = shares.iter().map(|s| s.units.len()).sum();
            assert_eq!(taken, units.len(), "{world_size}: every unit once");
        }
        let halves: Vec<Range<usize>> =
            (0..2).map(|rank| Partition { rank, world_size: 2 }.share(&units).units).collect();
        assert_eq!(halves, vec![0..11, 11..12], "the unit starting at byte 58 of 100 is the second half's");
        let other = Partition { rank: 0, world_size: 3 }.share(&units[1..]);
        assert_ne!(other.record.plan_sha256, Partition { rank: 0, world_size: 3 }.share(&units).record.plan_sha256);
    }
}
