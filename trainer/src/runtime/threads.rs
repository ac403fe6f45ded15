//! How many threads libtorch's CPU kernels use, and how a training gives cores up to a
//! neighbour.
//!
//! libtorch runs each CPU operator on an OpenMP team, one thread per core by default (GNU
//! libgomp in PyTorch's wheels, MKL's products included). The team meets at a barrier at the
//! end of every operator, and a thread that arrives first spins. Alone that is fastest. Beside
//! another busy process it collapses: the thread a barrier waits for is queued behind the
//! neighbour while its team-mates spin on the cores it needs. Measured on 2 cores, 100 steps
//! of `pipelines/train-tiny.toml`: 16.2 s alone at 2 threads, 21.4 s at 1; two runs at
//! 2 threads started together took 66 s each, two at 1 thread 22 s each. Passive waiting
//! (`OMP_WAIT_POLICY=PASSIVE`) does not cure it and costs the run alone twice its time
//! (31.5 s), so the cure is the thread count: a training takes every core while the machine
//! is otherwise idle, and one core fewer for each a neighbour keeps busy, for as long as it
//! does ([`CpuShare`]).
//!
//! What counts as a neighbour: CPU time of other processes at this one's priority or
//! higher, read from `/proc/stat` over windows of about a second (virtual machines' stolen
//! time included). A process at a lower priority (`nice`) is not one: the kernel already
//! runs it only on what this one leaves, and a training beside a niced PyTorch training
//! keeps its speed at full width (measured: 1.2 to 1.25 times its time alone).
//!
//! libtorch's sums split their work by thread, so the thread count changes a run's last
//! bits: on the CPU the same seed gives the same weights at the same count. A run that gave
//! threads up says so in its log and records the count in `metrics.jsonl`; `--threads N`
//! (or `OMP_NUM_THREADS`, as everywhere in PyTorch) fixes the count, for runs that must
//! repeat bit for bit on a busy machine.

use spe::config::MAX_THREADS;
use std::time::{Duration, Instant};

/// How many threads a run's CPU kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Every core the process may use, fewer while neighbours keep cores busy.
    Auto,
    /// This many, whatever else runs.
    Fixed(usize),
}

impl Threads {
    /// The choice of a command: `--threads N`, else `OMP_NUM_THREADS` where it is set (which
    /// libtorch has read already), else [`Threads::Auto`]; an error names a flag of 0 or an
    /// absurd count.
    pub fn of_command(flag: Option<usize>) -> anyhow::Result<Threads> {
        if let Some(n) = flag {
            anyhow::ensure!((1..=MAX_THREADS).contains(&n), "--threads must lie in 1..={MAX_THREADS}, not {n}");
        }
        let from_env = || std::env::var("OMP_NUM_THREADS").ok()?.trim().parse().ok().filter(|&n: &usize| n > 0);
        Ok(match flag.or_else(from_env) {
            Some(n) => Threads::Fixed(n),
            None => Threads::Auto,
        })
    }
}

/// The cores this process may use (its affinity, its cgroup's quota).
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How long the CPU time of the machine is watched before the thread count may change.
const WINDOW: Duration = Duration::from_secs(1);
/// Windows in a row with a core free before a thread is taken back: a neighbour's short
/// pause should not make the run flap.
const WINDOWS_TO_GROW: u32 = 3;

/// The thread count of one run: applies it to libtorch, and under [`Threads::Auto`] follows
/// the neighbours between steps ([`CpuShare::adjust`]).
#[derive(Debug)]
pub struct CpuShare {
    /// Under `Auto` where `/proc` tells: the rule, and the CPU times when the window began.
    watch: Option<(Follower, Instant, CpuTimes)>,
    current: usize,
    /// The fewest threads since [`CpuShare::take_fewest`] was last called.
    fewest: usize,
}

impl CpuShare {
    /// Starts at every core under `Auto`, or at the fixed count, and sets libtorch's count.
    pub fn new(policy: Threads) -> CpuShare {
        let cores = usable_cores();
        let (current, watch) = match policy {
            Threads::Auto => {
                let watch =
                    CpuTimes::read().map(|t| (Follower { cores, cpus: t.cpus, free_windows: 0 }, Instant::now(), t));
                (cores, watch)
            }
            Threads::Fixed(n) => (n, None),
        };
        tch::set_num_threads(current as i32);
        CpuShare { watch, current, fewest: current }
    }

    /// The fewest threads libtorch ran on since the last call (since the start, at the
    /// first): what a record of that stretch of the run says.
    pub fn take_fewest(&mut self) -> usize {
        std::mem::replace(&mut self.fewest, self.current)
    }

    /// Between steps: once a window has passed, follows the cores that other processes left
    /// free in it ([`Follower::next`]). Returns a line for the log when the count changed.
    pub fn adjust(&mut self) -> Option<String> {
        let (follower, since, before) = self.watch.as_mut()?;
        if since.elapsed() < WINDOW {
            return None;
        }
        let now = CpuTimes::read()?;
        let busy = now.others_busy_cores(before)?;
        (*since, *before) = (Instant::now(), now);
        let wanted = follower.next(self.current, busy)?;
        let was = std::mem::replace(&mut self.current, wanted);
        self.fewest = self.fewest.min(wanted);
        tch::set_num_threads(wanted as i32);
        Some(format!(
            "other processes kept {busy:.1} of {} cores busy: libtorch now runs on {} (was {was}; --threads fixes \
             the count)",
            follower.cpus,
            spe::counts::plural(wanted as u64, "thread")
        ))
    }
}

/// The rule of [`Threads::Auto`]: the machine's cores that neighbours left free, at most
/// those this process may use, rounded to the nearest, at least one; at once when that is
/// fewer than now, after [`WINDOWS_TO_GROW`] windows in a row when it is more.
#[derive(Debug)]
struct Follower {
    /// The cores this process may use ([`usable_cores`]).
    cores: usize,
    /// The machine's CPUs, which `/proc/stat` counts: more than `cores` in a container on a
    /// larger host, whose other tenants then take only what this process could not use.
    cpus: usize,
    free_windows: u32,
}

impl Follower {
    /// The new count after a window in which neighbours kept `busy` cores busy, if it changes.
    fn next(&mut self, current: usize, busy: f64) -> Option<usize> {
        let free = (self.cpus as f64 - busy).min(self.cores as f64).round().max(1.0) as usize;
        self.free_windows = match free > current {
            true => self.free_windows + 1,
            false => 0,
        };
        if free < current || self.free_windows >= WINDOWS_TO_GROW {
            self.free_windows = 0;
            return Some(free);
        }
        None
    }
}

/// Cumulative CPU times, in clock ticks: the machine's from `/proc/stat`, this process's from
/// `/proc/self/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuTimes {
    /// Ticks of every CPU, busy or idle.
    total: u64,
    /// Busy ticks at normal or higher priority (user, system, interrupts, stolen).
    busy: u64,
    /// Busy ticks of niced processes.
    niced: u64,
    /// The machine's CPUs.
    cpus: usize,
    /// This process's own ticks (user and system).
    own: u64,
    /// Whether this process is itself niced (its ticks then count as `niced`).
    own_niced: bool,
}

impl CpuTimes {
    /// `None` where `/proc` does not tell (not Linux): the count then stays where it is.
    fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        CpuTimes::parse(&stat, &own)
    }

    fn parse(stat: &str, own: &str) -> Option<CpuTimes> {
        let mut lines = stat.lines();
        let fields: Vec<u64> =
            lines.next()?.strip_prefix("cpu ")?.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice, inside user and nice]
        let at = |i: usize| fields.get(i).copied().unwrap_or(0);
        let cpus =
            lines.filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
        // After the command's closing parenthesis: state is field 3, utime 14, stime 15, nice 19.
        let after = own.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
        let field = |n: usize| after.get(n - 3)?.parse::<i64>().ok();
        Some(CpuTimes {
            total: (0..8).map(at).sum(),
            busy: at(0) + at(2) + at(5) + at(6) + at(7),
            niced: at(1),
            cpus: cpus.max(1),
            own: (field(14)? + field(15)?) as u64,
            own_niced: field(19)? > 0,
        })
    }

    /// The cores that other processes at this one's priority or higher kept busy since
    /// `before`.
    fn others_busy_cores(&self, before: &CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(before.total).filter(|&t| t > 0)?;
        let mut busy = self.busy.saturating_sub(before.busy);
        if self.own_niced {
            // Everyone at this priority is niced too.
            busy += self.niced.saturating_sub(before.niced);
        }
        let others = busy.saturating_sub(self.own.saturating_sub(before.own));
        Some(others as f64 / total as f64 * self.cpus as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str =
        "cpu  100 50 20 1000 5 1 2 3 0 0\ncpu0 50 25 10 500 2 0 1 1 0 0\ncpu1 50 25 10 500 3 1 1 2 0 0\nintr 1\n";

    fn own(utime: u64, nice: i32) -> String {
        // pid (comm) state ppid … utime(14) stime(15) … nice(19): a command with spaces and
        // parentheses, as /proc prints it.
        format!("42 (spe (trainer) x) R 1 1 1 0 -1 0 0 0 0 0 {utime} 0 0 0 20 {nice} 8 0")
    }

    #[test]
    fn proc_stat_and_self_stat_are_read() {
        let t = CpuTimes::parse(STAT, &own(30, 0)).unwrap();
        assert_eq!((t.total, t.busy, t.niced, t.cpus, t.own, t.own_niced), (1181, 126, 50, 2, 30, false));
        assert!(CpuTimes::parse("intr 1\n", &own(30, 0)).is_none());
        assert!(CpuTimes::parse(STAT, "42 (spe) R").is_none());
    }

    #[test]
    fn niced_neighbours_do_not_count_unless_this_process_is_niced() {
        let at = |busy, niced, own, own_niced| CpuTimes { total: 0, busy, niced, cpus: 2, own, own_niced };
        let before = at(0, 0, 0, false);
        // 200 ticks of 2 CPUs: this process used 100, another 60 at its priority, niced ones 40.
        let after = CpuTimes { total: 200, ..at(160, 40, 100, false) };
        assert!((after.others_busy_cores(&before).unwrap() - 0.6).abs() < 1e-9);
        let niced = CpuTimes { total: 200, ..at(60, 140, 100, true) };
        assert!((niced.others_busy_cores(&CpuTimes { own_niced: true, ..before }).unwrap() - 1.0).abs() < 1e-9);
        assert!(after.others_busy_cores(&after).is_none(), "no time passed");
    }

    #[test]
    fn the_count_falls_at_once_and_rises_after_three_windows() {
        let mut f = Follower { cores: 2, cpus: 2, free_windows: 0 };
        assert_eq!(f.next(2, 0.1), None, "alone: every core");
        assert_eq!(f.next(2, 0.6), Some(1), "a neighbour at more than half a core takes one");
        assert_eq!(f.next(1, 1.9), None, "at least one");
        assert_eq!((f.next(1, 0.2), f.next(1, 0.2)), (None, None));
        assert_eq!(f.next(1, 0.9), None, "a busy window starts the count again");
        assert_eq!((f.next(1, 0.2), f.next(1, 0.2), f.next(1, 0.2)), (None, None, Some(2)));
        let mut big = Follower { cores: 16, cpus: 16, free_windows: 0 };
        assert_eq!(big.next(16, 3.4), Some(13));
        assert_eq!(big.next(13, -0.2), None);
        // Two cores of a 64-CPU host: its other tenants' 40 busy CPUs leave them free.
        let mut tenant = Follower { cores: 2, cpus: 64, free_windows: 0 };
        assert_eq!(tenant.next(2, 40.0), None);
        assert_eq!(tenant.next(2, 63.4), Some(1));
    }

    #[test]
    fn flags_are_checked() {
        assert!(Threads::of_command(Some(0)).is_err());
        assert!(Threads::of_command(Some(MAX_THREADS + 1)).is_err());
        assert_eq!(Threads::of_command(Some(2)).unwrap(), Threads::Fixed(2));
        assert_eq!(Threads::of_command(Some(3)).unwrap(), Threads::Fixed(3));
    }
}
