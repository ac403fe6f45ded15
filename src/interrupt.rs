//! SIGINT and SIGTERM end a run the way an error does.
//!
//! Killed outright, a run would leave its temporary files and the shards it had finished
//! without a manifest, which a `*.parquet` glob would read as data. Once [`install`]ed,
//! the first SIGINT or SIGTERM only raises a flag; the long loops ([`check`] between
//! batches of documents, before each training step) see it and return [`Interrupted`], so
//! the run unwinds like any failed run: it removes what it wrote, releases its lock and
//! exits with 128 + the signal's number, as a shell reports a signal's end. A second signal
//! ends the process at once, for a run stuck where no check comes.

use signal_hook::consts::signal::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The signal received, 0 while none.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Set with [`RECEIVED`]: arms the immediate exit on a second signal.
static ARMED: AtomicBool = AtomicBool::new(false);

/// The error of a run stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted {
    /// The signal's number.
    pub signal: i32,
}

impl Interrupted {
    /// The exit status a shell gives a process this signal ended.
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let name = match self.signal {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// Routes SIGINT and SIGTERM to the flag [`check`] reads. Call once, early in `main`.
pub fn install() -> std::io::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        // The exit must be registered first, so that the first signal only arms it.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &ARMED)?;
        signal_hook::flag::register_usize(signal, &RECEIVED, signal as usize)?;
        signal_hook::flag::register(signal, &ARMED)?;
    }
    Ok(())
}

/// `Err(Interrupted)` once a signal has arrived.
pub fn check() -> Result<(), Interrupted> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Interrupted { signal: signal as i32 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_signal_and_the_shell_status() {
        let interrupted = Interrupted { signal: SIGTERM };
        assert_eq!(interrupted.exit_code(), 143);
        assert!(interrupted.to_string().starts_with("interrupted by SIGTERM"));
        assert_eq!(Interrupted { signal: SIGINT }.exit_code(), 130);
    }
}
