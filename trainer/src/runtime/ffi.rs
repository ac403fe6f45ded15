//! Calling the C++ shims (`*.cpp` beside this file): each returns 0, or -1 with a message
//! in a buffer the caller provides (`shim.hpp`).

use anyhow::{bail, Result};
use std::ffi::{c_char, c_int, c_void, CStr};
use tch::Tensor;

/// Room for a C++ exception's message.
pub const ERR_LEN: usize = 2048;

/// Calls `f` with a buffer for an error message; a non-zero status becomes that message,
/// after `what`.
pub fn checked(what: impl Fn() -> String, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut err = vec![0 as c_char; ERR_LEN];
    if f(err.as_mut_ptr(), ERR_LEN) == 0 {
        return Ok(());
    }
    bail!("{}: {}", what(), message(&err))
}

/// The NUL-terminated message a shim wrote into `err`.
pub fn message(err: &[c_char]) -> String {
    // SAFETY: the shims write a NUL-terminated message within the buffer, which starts zeroed.
    unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned()
}

/// The `at::Tensor*` behind a tch tensor, as the shims take it.
pub fn ptr(tensor: &Tensor) -> *mut c_void {
    tensor.as_ptr() as *mut c_void
}
