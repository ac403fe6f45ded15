//! Data-parallel training: a process group over libtorch's c10d (`dist.cpp`: a TCPStore
//! rendezvous, then ProcessGroupNCCL on CUDA where it is built in, ProcessGroupGloo
//! otherwise), joined from the environment that `torchrun` and Slurm's `srun` set, and the
//! few collectives the trainer needs.
//!
//! The launch follows PyTorch's conventions: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `MASTER_ADDR` and `MASTER_PORT` (under `srun`, `SLURM_PROCID`, `SLURM_NTASKS` and
//! `SLURM_LOCALID` stand for the first three where `MASTER_ADDR` is set). Every collective
//! waits at most `SPE_DIST_TIMEOUT_S` seconds (300 by default), so a rank that died makes
//! the others stop with an error instead of hanging.

use super::ffi::{checked, message, ptr, ERR_LEN};
use anyhow::{bail, ensure, Context, Result};
use std::ffi::{c_char, c_int, c_long, c_void, CString};
use tch::{Device, Kind, Tensor};

extern "C" {
    fn spe_dist_init(
        addr: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        nccl: c_int,
        timeout_ms: c_long,
        err: *mut c_char,
        len: usize,
    ) -> *mut c_void;
    fn spe_dist_free(group: *mut c_void);
    fn spe_dist_has_nccl() -> c_int;
    fn spe_dist_all_reduce_sum(group: *mut c_void, tensor: *mut c_void, err: *mut c_char, len: usize) -> c_int;
    fn spe_dist_broadcast(group: *mut c_void, tensor: *mut c_void, root: c_int, err: *mut c_char, len: usize) -> c_int;
    fn spe_dist_all_gather(
        group: *mut c_void,
        outputs: *const *mut c_void,
        n: c_int,
        input: *mut c_void,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn spe_dist_barrier(group: *mut c_void, err: *mut c_char, len: usize) -> c_int;
}

/// Where this process stands in a data-parallel launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// This process's rank, from 0.
    pub rank: usize,
    /// The number of processes.
    pub world_size: usize,
    /// The rank among the processes of this machine: the CUDA device it takes.
    pub local_rank: usize,
    /// The processes on this machine (`LOCAL_WORLD_SIZE`; all of them where it is unset).
    pub local_world_size: usize,
    /// The address of rank 0, which serves the rendezvous.
    pub master_addr: String,
    /// Its port.
    pub master_port: u16,
    /// How long a collective may wait for the other ranks.
    pub timeout: std::time::Duration,
}

impl Launch {
    /// This machine's cores shared among its ranks, as `torchrun` shares them with
    /// `OMP_NUM_THREADS`: ranks that each took every core would spend their time waiting on
    /// each other's threads.
    pub fn cores_per_rank(&self) -> usize {
        (super::threads::usable_cores() / self.local_world_size).max(1)
    }

    /// The launch the environment describes; `None` for a single process.
    pub fn from_env() -> Result<Option<Launch>> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(env: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let number = |name: &str| -> Result<Option<usize>> {
            env(name)
                .map(|v| v.trim().parse::<usize>().with_context(|| format!("{name}={v:?} is not a number")))
                .transpose()
        };
        let srun = env("MASTER_ADDR").is_some() && env("RANK").is_none();
        let (rank_var, world_var, local_var) = match srun {
            true => ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
            false => ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
        };
        let Some(world_size) = number(world_var)? else { return Ok(None) };
        // One process joins a group only where a launcher says where (torchrun --nproc 1).
        if world_size == 0 || (world_size == 1 && env("MASTER_ADDR").is_none()) {
            return Ok(None);
        }
        let rank = number(rank_var)?.with_context(|| format!("{world_var}={world_size} is set, but not {rank_var}"))?;
        ensure!(rank < world_size, "{rank_var}={rank} of {world_size}: ranks run from 0 to {}", world_size - 1);
        let master_addr = env("MASTER_ADDR").with_context(|| {
            format!("{world_var}={world_size}: a data-parallel run needs MASTER_ADDR (and MASTER_PORT), the address of rank 0")
        })?;
        let master_port = match env("MASTER_PORT") {
            Some(port) => port.trim().parse().with_context(|| format!("MASTER_PORT={port:?} is not a port"))?,
            None => 29500,
        };
        let timeout_s = match env("SPE_DIST_TIMEOUT_S") {
            Some(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .with_context(|| format!("SPE_DIST_TIMEOUT_S={s:?} is not a positive number of seconds"))?,
            None => 300.0,
        };
        Ok(Some(Launch {
            rank,
            world_size,
            local_rank: number(local_var)?.unwrap_or(0),
            local_world_size: number("LOCAL_WORLD_SIZE")?.unwrap_or(world_size).max(1),
            master_addr,
            master_port,
            timeout: std::time::Duration::from_secs_f64(timeout_s),
        }))
    }
}

/// A joined process group.
pub struct Group {
    ptr: *mut c_void,
    /// This process's rank.
    pub rank: usize,
    /// The number of processes.
    pub world_size: usize,
    /// Where the tensors it exchanges lie.
    pub device: Device,
    /// The c10d backend: `nccl` or `gloo`.
    pub backend: &'static str,
}

// SAFETY: the group is used from one thread at a time (the trainer's); c10d's backend is
// safe to call from any thread.
unsafe impl Send for Group {}

impl Group {
    /// Joins the launch's group, for tensors on `device`: waits for every rank at the
    /// rendezvous. CUDA tensors go through NCCL where it is built in.
    pub fn join(launch: &Launch, device: Device) -> Result<Group> {
        let addr = CString::new(launch.master_addr.clone()).context("MASTER_ADDR holds a NUL byte")?;
        // SAFETY: reads a constant of the shim.
        let nccl = device.is_cuda() && unsafe { spe_dist_has_nccl() } == 1;
        let mut err = vec![0 as c_char; ERR_LEN];
        // SAFETY: valid C strings and buffer; the shim catches every exception.
        let ptr = unsafe {
            spe_dist_init(
                addr.as_ptr(),
                c_int::from(launch.master_port),
                launch.rank as c_int,
                launch.world_size as c_int,
                c_int::from(nccl),
                launch.timeout.as_millis() as c_long,
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        if ptr.is_null() {
            let message = message(&err);
            bail!(
                "rank {} of {} could not join the group at {}:{} (MASTER_ADDR, MASTER_PORT) within {:.0} s: {message}",
                launch.rank,
                launch.world_size,
                launch.master_addr,
                launch.master_port,
                launch.timeout.as_secs_f64()
            );
        }
        let backend = if nccl { "nccl" } else { "gloo" };
        Ok(Group { ptr, rank: launch.rank, world_size: launch.world_size, device, backend })
    }

    /// Sums `tensor` over the ranks, in place.
    pub fn all_reduce_sum(&self, tensor: &Tensor) -> Result<()> {
        // SAFETY: a live group and tensor; the shim catches every exception.
        checked(
            || self.failed("all-reduce"),
            |err, len| unsafe { spe_dist_all_reduce_sum(self.ptr, ptr(tensor), err, len) },
        )
    }

    /// Copies rank `root`'s `tensor` into every rank's.
    pub fn broadcast(&self, tensor: &Tensor, root: usize) -> Result<()> {
        // SAFETY: as above.
        checked(
            || self.failed("broadcast"),
            |err, len| unsafe { spe_dist_broadcast(self.ptr, ptr(tensor), root as c_int, err, len) },
        )
    }

    /// Every rank's `tensor` (of the same shape on all), in rank order.
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Vec<Tensor>> {
        let input = tensor.contiguous();
        let outputs: Vec<Tensor> = (0..self.world_size).map(|_| input.empty_like()).collect();
        let pointers: Vec<*mut c_void> = outputs.iter().map(ptr).collect();
        // SAFETY: as above; `outputs` outlive the call.
        checked(
            || self.failed("all-gather"),
            |err, len| unsafe {
                spe_dist_all_gather(self.ptr, pointers.as_ptr(), pointers.len() as c_int, ptr(&input), err, len)
            },
        )?;
        Ok(outputs)
    }

    /// Waits until every rank has come here.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: as above.
        checked(|| self.failed("barrier"), |err, len| unsafe { spe_dist_barrier(self.ptr, err, len) })
    }

    /// Sums `tensors` over the ranks, in place, in buckets of about `bucket_bytes`: one
    /// collective per bucket instead of one per tensor.
    pub fn all_reduce_buckets(&self, tensors: &[Tensor], bucket_bytes: usize) -> Result<()> {
        let mut start = 0;
        while start < tensors.len() {
            let (mut end, mut bytes) = (start, 0);
            while end < tensors.len() && (end == start || bytes + tensor_bytes(&tensors[end]) <= bucket_bytes) {
                bytes += tensor_bytes(&tensors[end]);
                end += 1;
            }
            let bucket = &tensors[start..end];
            let flat = Tensor::cat(&bucket.iter().map(|t| t.reshape([-1]).to_kind(Kind::Float)).collect::<Vec<_>>(), 0);
            self.all_reduce_sum(&flat)?;
            let mut at = 0;
            tch::no_grad(|| {
                for t in bucket {
                    let n = t.numel() as i64;
                    let mut t = t.shallow_clone();
                    t.copy_(&flat.narrow(0, at, n).view(t.size().as_slice()).to_kind(t.kind()));
                    at += n;
                }
            });
            start = end;
        }
        Ok(())
    }

    fn failed(&self, what: &str) -> String {
        format!(
            "rank {} of {}: {what} failed (another rank stopped, or did not answer within the timeout, \
             SPE_DIST_TIMEOUT_S)",
            self.rank, self.world_size
        )
    }
}

fn tensor_bytes(t: &Tensor) -> usize {
    t.numel() * 4
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: the pointer came from spe_dist_init and is freed once.
        unsafe { spe_dist_free(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        let env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Launch::from_vars(|name| env.get(name).cloned())
    }

    #[test]
    fn the_launch_comes_from_torchrun_or_srun_variables() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
        let one = launch(&[("WORLD_SIZE", "1"), ("RANK", "0"), ("MASTER_ADDR", "a")]).unwrap().unwrap();
        assert_eq!((one.rank, one.world_size), (0, 1));
        let torchrun = [
            ("RANK", "3"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "1234"),
        ];
        let l = launch(&torchrun).unwrap().unwrap();
        assert_eq!(
            (l.rank, l.world_size, l.local_rank, l.master_addr.as_str(), l.master_port),
            (3, 4, 1, "node0", 1234)
        );
        let srun = [("SLURM_PROCID", "5"), ("SLURM_NTASKS", "8"), ("SLURM_LOCALID", "1"), ("MASTER_ADDR", "n0")];
        let l = launch(&srun).unwrap().unwrap();
        assert_eq!((l.rank, l.world_size, l.local_rank, l.master_port), (5, 8, 1, 29500));
        // An sbatch job's own variables, without MASTER_ADDR, are not a launch.
        assert_eq!(launch(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "8")]).unwrap(), None);
        let error = |vars: &[(&str, &str)]| format!("{:#}", launch(vars).unwrap_err());
        assert!(error(&[("RANK", "0"), ("WORLD_SIZE", "2")]).contains("needs MASTER_ADDR"));
        assert!(error(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "a")]).contains("ranks run from 0 to 1"));
        assert!(error(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "a"), ("SPE_DIST_TIMEOUT_S", "0")])
            .contains("SPE_DIST_TIMEOUT_S"));
    }
}
