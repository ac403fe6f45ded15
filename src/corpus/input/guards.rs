//! What every input passes before a reader sees its bytes: a regular file, in UTF-8.

use anyhow::{bail, Context, Result};
use std::io::BufRead;
use std::path::Path;

/// spe reads regular files (and the compressed streams in them); see
/// [`crate::regular_file`].
pub(super) fn refuse_special_files(path: &Path) -> Result<()> {
    crate::regular_file::refuse_special(path, "input")
}

/// Drops a UTF-8 byte-order mark; rejects UTF-16, with its byte-order mark or without
/// (then told by the NUL bytes that every other byte of text in the Latin script is), with
/// a message that says how to convert.
pub(super) fn skip_byte_order_mark(reader: &mut dyn BufRead, path: &Path) -> Result<()> {
    let head = reader.fill_buf().with_context(|| format!("cannot read {}", path.display()))?;
    let bom = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    let sample = &head[..head.len().min(4096)];
    let nul_at = |parity: usize| sample.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let without_bom = sample.len() >= 16 && (nul_at(0) > sample.len() / 4 || nul_at(1) > sample.len() / 4);
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    } else if bom || without_bom {
        bail!(
            "{}: the content is UTF-16{}; spe reads UTF-8 (convert it first, for example with \
             `iconv -f UTF-16 -t UTF-8`)",
            path.display(),
            if bom { "" } else { " (without a byte-order mark: every other byte is NUL)" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::OpenInput;

    #[test]
    fn utf16_is_rejected_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u16.txt");
        std::fs::write(&path, [0xFF, 0xFE, b'a', 0]).unwrap();
        let err = OpenInput::open(&path).err().unwrap();
        assert!(format!("{err:#}").contains("UTF-16"), "{err:#}");
        for big_endian in [false, true] {
            let units = "A sentence in UTF-16 with no byte-order mark.\n".encode_utf16();
            let bytes: Vec<u8> =
                units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect();
            std::fs::write(&path, bytes).unwrap();
            let err = OpenInput::open(&path).err().unwrap();
            assert!(format!("{err:#}").contains("without a byte-order mark"), "{err:#}");
        }
        std::fs::write(&path, "Plain UTF-8 text, long enough to be sampled.\n").unwrap();
        OpenInput::open(&path).unwrap();
    }
}
