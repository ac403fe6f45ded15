//! What a command may write over, and read: never what the same run reads, nor another run,
//! and no input twice ([`refuse_repeated`]). Every
//! command that takes an output path (`finetune`, `evaluate --out`, `predict --out`,
//! `export --out`, `train`) checks it here before any work, comparing what the paths name
//! (links, hard links and `./` seen through), and an output that does not exist yet by its
//! nearest existing folder.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// `path` absolute, with the part of it that exists resolved (links, `..`) and the rest
/// appended as given.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(found) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(found, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses `out` (the value of `flag`) when it names one of `inputs` (`(what, path)`), the
/// same file under another name included, or lies inside one of them: writing there
/// would overwrite, or mix itself into, what this run reads.
pub fn refuse_inputs(flag: &str, out: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let target = resolved(out);
    for &(what, input) in inputs {
        let source = resolved(input);
        let same = target == source || same_file::is_same_file(out, input).unwrap_or(false);
        if same {
            bail!(
                "{flag} {} is {what} {}: it would be overwritten; choose another path",
                out.display(),
                input.display()
            );
        }
        if source.is_dir() && target.starts_with(&source) {
            bail!(
                "{flag} {} lies inside {what} {}: this run would write into what it reads; choose a path outside it",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Refuses `out` when it holds one of `names`, the files by which a run is known: a new
/// run there would write over them (its metrics, its report).
pub fn refuse_held(out: &Path, names: &[&str]) -> Result<()> {
    if let Some(name) = names.iter().find(|name| out.join(name).exists()) {
        bail!("{} already holds a run ({name}), which a new run would overwrite; choose another --out", out.display());
    }
    Ok(())
}

/// Refuses a path given twice, under the same name or another (a symbolic or hard link,
/// `./`): everything in it would be read, and then trained or evaluated on, twice. A file
/// is known by its device and inode, so that two hard links to it are one file.
pub fn refuse_repeated<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    #[derive(PartialEq, Eq, Hash)]
    enum Identity {
        Inode(u64, u64),
        Path(PathBuf),
    }
    let mut seen = std::collections::HashMap::new();
    for path in paths {
        let identity = match std::fs::metadata(path) {
            Ok(meta) => Identity::Inode(meta.dev(), meta.ino()),
            Err(_) => Identity::Path(path.to_path_buf()),
        };
        if let Some(first) = seen.insert(identity, path) {
            anyhow::bail!(
                "{} is given twice (also as {}): its contents would be read twice",
                path.display(),
                first.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_refused_under_any_name_and_its_inside_too() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "x").unwrap();
        let linked = dir.path().join("linked.txt");
        std::fs::hard_link(&input, &linked).unwrap();
        let inputs = [("the input", input.as_path()), ("the labeled data", data.as_path())];
        let refused = |out: &Path| refuse_inputs("--out", out, &inputs).unwrap_err().to_string();
        assert!(refused(&input).contains("is the input"));
        assert!(refused(&linked).contains("is the input"));
        assert!(refused(&dir.path().join("data/../in.txt")).contains("is the input"));
        assert!(refused(&data).contains("is the labeled data"));
        assert!(refused(&data.join("new/predictions.json")).contains("lies inside the labeled data"));
        // Beside the inputs, or a file that merely shares a prefix, is fine.
        refuse_inputs("--out", &dir.path().join("out.json"), &inputs).unwrap();
        refuse_inputs("--out", &dir.path().join("data2"), &inputs).unwrap();
        refuse_inputs("--out", &dir.path().join("in.txt.out"), &inputs).unwrap();
    }
}
