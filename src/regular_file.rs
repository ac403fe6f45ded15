//! Every file spe is given is a regular file: a FIFO would block a read forever and a
//! device such as `/dev/zero` never end. [`refuse_special`] says so before anything opens
//! the path; corpora pass it in [`crate::corpus::input`], and the small files a command
//! reads whole (configurations, types files, vocabularies, source manifests, experiment
//! files, model descriptions) in [`read`] and [`read_to_string`], which also bound their
//! size, so that a corpus given where a small file belongs is refused, not held.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// The largest small file read whole (256 MiB: the largest Hugging Face `tokenizer.json`
/// is a few tens of MB).
pub const MAX_SMALL_FILE_BYTES: u64 = 256 << 20;

/// Refuses `path` unless it is a regular file (or a link to one); `what` names it.
pub fn refuse_special(path: &Path, what: &str) -> Result<()> {
    let kind = std::fs::metadata(path).with_context(|| format!("cannot open {what} {}", path.display()))?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    bail!("{what} {} is {kind}; spe reads regular files", path.display())
}

/// The bytes of the small file at `path` (`what` names it in errors): a regular file of at
/// most [`MAX_SMALL_FILE_BYTES`].
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    refuse_special(path, what)?;
    let bytes = std::fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?.len();
    if bytes > MAX_SMALL_FILE_BYTES {
        bail!(
            "{what} {} has {bytes} bytes, more than the {} MiB such a file may have: is it the right file?",
            path.display(),
            MAX_SMALL_FILE_BYTES >> 20
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// The UTF-8 text of the small file at `path`, read as [`read`] reads it.
pub fn read_to_string(path: &Path, what: &str) -> Result<String> {
    String::from_utf8(read(path, what)?).map_err(|e| {
        anyhow::anyhow!("{what} {}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to() + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_directories_and_huge_files_are_refused_before_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("types.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Reading the FIFO would block this test forever; it returns at once.
        let err = read_to_string(&fifo, "the types file").unwrap_err().to_string();
        assert!(err.contains("the types file") && err.contains("is a FIFO"), "{err}");
        let err = read(Path::new("/dev/zero"), "the config file").unwrap_err().to_string();
        assert!(err.contains("is a device"), "{err}");
        assert!(read(dir.path(), "the vocabulary").unwrap_err().to_string().contains("is a directory"));
        let huge = dir.path().join("huge.txt");
        std::fs::File::create(&huge).unwrap().set_len(MAX_SMALL_FILE_BYTES + 1).unwrap();
        assert!(read(&huge, "the vocabulary").unwrap_err().to_string().contains("more than the 256 MiB"));
        let text = dir.path().join("ok.toml");
        std::fs::write(&text, "a = 1\n").unwrap();
        assert_eq!(read_to_string(&text, "the config file").unwrap(), "a = 1\n");
        std::fs::write(&text, [b'a', 0xff]).unwrap();
        assert!(read_to_string(&text, "the config file").unwrap_err().to_string().contains("not UTF-8"));
    }
}
