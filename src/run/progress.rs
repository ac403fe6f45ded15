//! The progress bar of a training run, on stderr.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps with `done` already taken; hidden unless `show`. Its message
/// (set with `set_message`) shows the latest losses.
pub fn steps_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_position(done);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] step {pos}/{len} eta {eta} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Prints `line` above the bar, or on stderr when the bar is hidden.
pub fn log_line(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
