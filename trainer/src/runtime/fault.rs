//! libtorch's exceptions as errors.
//!
//! tch's operators (`a + b`, `Module::forward`, `backward`) have no fallible form: when
//! libtorch throws — CUDA out of memory, a device-side assert, shapes that do not fit — tch
//! unwraps the error and the thread panics. spe's own code uses the fallible `f_` calls
//! where data decides the outcome (sizes, token ids, reading a scalar), but a whole
//! forward and backward pass cannot be written that way. [`guard`] runs such a pass and
//! turns a panic into an error naming what was running ("step 12, micro-batch 3"), so that
//! the command ends with one clear line, releases its lock and removes its partial files,
//! instead of printing a backtrace.

use anyhow::{anyhow, Result};
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`guard`], whose caller reports the panic itself.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work`; a panic inside it (a libtorch exception) becomes an error that starts
/// with `what()`. Errors `work` returns pass through unchanged.
pub fn guard<T>(what: impl FnOnce() -> String, work: impl FnOnce() -> Result<T>) -> Result<T> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                default(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    GUARDED.with(|g| g.set(outer));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        Err(anyhow!("{}: {}", what(), torch_message(message)))
    })
}

/// `result`, where libtorch could not allocate memory (on the host or the device), with
/// the settings that size what it was allocating, so that the user knows what to lower;
/// other errors pass through unchanged.
pub fn naming_memory_settings<T>(result: Result<T>, settings: &str) -> Result<T> {
    result.map_err(|error| {
        let text = format!("{error:#}");
        let out_of_memory = ["out of memory", "can't allocate memory", "not enough memory"];
        if out_of_memory.iter().any(|m| text.contains(m)) {
            error.context(format!("memory ran out: lower {settings}"))
        } else {
            error
        }
    })
}

/// The first line of libtorch's message inside tch's panic text
/// (`called `Result::unwrap()` on an `Err` value: Torch("CUDA out of memory. …\nException
/// raised from …")`); other panic messages are kept whole.
fn torch_message(panic: &str) -> String {
    match panic.split_once("Torch(\"") {
        Some((_, rest)) => {
            let end = [rest.find("\\n"), rest.rfind("\")")].into_iter().flatten().min().unwrap_or(rest.len());
            format!("libtorch: {}", rest[..end].replace("\\\"", "\""))
        }
        None => panic.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn a_libtorch_exception_becomes_an_error_naming_the_step() {
        let a = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::zeros([4, 5], (Kind::Float, Device::Cpu));
        let err = guard(|| "step 7, micro-batch 2".into(), || Ok(a.matmul(&b))).unwrap_err().to_string();
        assert!(err.starts_with("step 7, micro-batch 2: libtorch: "), "{err}");
        assert!(err.contains("cannot be multiplied"), "{err}");
        assert!(!err.contains("Exception raised from"), "{err}");
    }

    #[test]
    fn an_allocation_that_fails_names_the_settings_that_size_it() {
        // 2^42 floats (16 TiB): the allocator refuses at once.
        let huge = || guard(|| "step 1".into(), || Ok(Tensor::zeros([1i64 << 42], (Kind::Float, Device::Cpu))));
        let err = naming_memory_settings(huge(), "batch_size (2)").unwrap_err();
        assert_eq!(err.to_string(), "memory ran out: lower batch_size (2)");
        assert!(format!("{err:#}").contains("step 1: libtorch: "), "{err:#}");
        let other = guard(|| "step 2".into(), || -> Result<()> { Err(anyhow!("shapes")) });
        assert_eq!(naming_memory_settings(other, "batch_size").unwrap_err().to_string(), "shapes");
    }

    #[test]
    fn values_and_errors_pass_through_and_guards_nest() {
        assert_eq!(guard(|| "outer".into(), || guard(|| "inner".into(), || Ok(3))).unwrap(), 3);
        let err = guard(|| "outer".into(), || guard(|| "inner".into(), || -> Result<()> { panic!("boom") }));
        assert_eq!(err.unwrap_err().to_string(), "inner: boom");
        let err = guard(|| "x".into(), || -> Result<()> { Err(anyhow!("plain")) });
        assert_eq!(err.unwrap_err().to_string(), "plain");
    }

    #[test]
    fn tch_panic_text_is_cut_to_libtorch_first_line() {
        let text = r#"called `Result::unwrap()` on an `Err` value: Torch("CUDA out of memory. Tried to allocate 2.00 GiB\nException raised from malloc at …")"#;
        assert_eq!(torch_message(text), "libtorch: CUDA out of memory. Tried to allocate 2.00 GiB");
        assert_eq!(torch_message("index out of range"), "index out of range");
    }
}
