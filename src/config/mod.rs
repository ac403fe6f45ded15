//! Loading stage configurations from TOML with command-line overrides.
//!
//! Every stage has one typed struct (for example [`crate::prep::PrepConfig`]). A
//! configuration is read from a TOML file (the ones in `pipelines/`) or from the built-in
//! defaults, then `--set section.key=value` flags patch single values before the typed
//! struct is built, so every parameter can be overridden from the command line by one
//! mechanism. [`reference`] writes every stage's keys, defaults and meanings out of the
//! same structs.

pub mod reference;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A bound on every worker-thread count a user sets (`spe prep --threads`, the trainer's
/// `--threads`): more threads than this is a typing error, not a machine, and starting
/// them would exhaust the process's threads before any work.
pub const MAX_THREADS: usize = 4096;

/// One configuration value set from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    key: String,
    value: toml::Value,
}

impl Override {
    /// Sets `key` (dotted, like `sample.tbo_max`) to `value`.
    pub fn new(key: &str, value: impl Into<toml::Value>) -> Override {
        Override { key: key.to_string(), value: value.into() }
    }

    /// Parses `dotted.key=value`, where `value` is a TOML value (`20`, `0.15`, `true`,
    /// `"text"`); a bare word that is not valid TOML is taken as a string.
    pub fn parse(item: &str) -> Result<Override> {
        let Some((key, raw)) = item.split_once('=') else {
            bail!("--set {item:?}: expected KEY=VALUE, for example sample.tbo_max=20");
        };
        Ok(Override::new(key.trim(), parse_value(raw.trim())))
    }
}

/// Reads a typed configuration from `path` (or from `T::default()` when `None`) and
/// applies `overrides` in order.
pub fn load<T>(path: Option<&Path>, overrides: &[Override]) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    load_with_defaults(T::default(), path, overrides)
}

/// [`load`], refusing the keys of `moved` (old, new) by their new names, in the file and
/// in the overrides: a key that moved to another section would otherwise be refused as
/// unknown, without a word of where it went.
pub fn load_moved<T>(path: Option<&Path>, overrides: &[Override], moved: &[(&str, &str)]) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    load_checked(T::default(), path, overrides, moved)
}

/// [`load`], with `defaults` under the file at `path`: a key the file leaves out keeps its
/// value in `defaults`, the stage's own, not the default of the section's type (so that
/// two stages can share a section's type with defaults of their own).
pub fn load_with_defaults<T>(defaults: T, path: Option<&Path>, overrides: &[Override]) -> Result<T>
where
    T: DeserializeOwned + Serialize,
{
    load_checked(defaults, path, overrides, &[])
}

/// The file at `path` over `defaults`, then `overrides`, the keys of `moved` refused in
/// both.
fn load_checked<T>(defaults: T, path: Option<&Path>, overrides: &[Override], moved: &[(&str, &str)]) -> Result<T>
where
    T: DeserializeOwned + Serialize,
{
    let mut table = toml::Table::try_from(defaults).context("cannot encode default config")?;
    if let Some(path) = path {
        let file = read_table(path)?;
        if let Some((old, new)) = moved.iter().find(|(old, _)| lookup(&file, old).is_some()) {
            bail!("{}: {old} is now {new}; rename the key", path.display());
        }
        merge(&mut table, file);
    }
    if let Some((old, new)) = moved.iter().find(|(old, _)| overrides.iter().any(|o| o.key == *old)) {
        bail!("--set {old}: the key is now {new}");
    }
    for item in overrides {
        apply(&mut table, item)?;
    }
    let config = table.try_into().map_err(|e: toml::de::Error| {
        let origin = path.map_or("the default config".to_string(), |p| p.display().to_string());
        anyhow::anyhow!("invalid configuration (from {origin} and --set flags): {}", in_words(&e.to_string()))
    })?;
    Ok(config)
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = crate::regular_file::read_to_string(path, "the config file")?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Sets every key of `over` in `table`, section by section.
fn merge(table: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (table.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                table.insert(key, value);
            }
        }
    }
}

/// The value at dotted `key` in `table`.
fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let (first, rest) = key.split_once('.').map_or((key, None), |(a, b)| (a, Some(b)));
    let value = table.get(first)?;
    match rest {
        None => Some(value),
        Some(rest) => lookup(value.as_table()?, rest),
    }
}

/// serde's message with Rust's type names (`expected usize`) in words.
fn in_words(message: &str) -> String {
    let mut message = message.to_string();
    for (types, words) in [
        (["usize", "u64", "u32", "u16", "u8"].as_slice(), "a whole number, 0 or more"),
        (&["isize", "i64", "i32", "i16", "i8"], "a whole number"),
        (&["f64", "f32"], "a number"),
        (&["a boolean"], "true or false"),
    ] {
        for name in types {
            message = message.replace(&format!("expected {name}"), &format!("expected {words}"));
        }
    }
    message
}

/// Sets one dotted key in a TOML table, creating intermediate tables.
fn apply(table: &mut toml::Table, item: &Override) -> Result<()> {
    let parts: Vec<&str> = item.key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {}: empty key segment", item.key);
    }
    let (last, parents) = parts.split_last().expect("split yields at least one part");
    let mut node = table;
    for part in parents {
        let entry = node.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().with_context(|| format!("--set {}: {part} is not a section", item.key))?;
    }
    node.insert(last.to_string(), item.value.clone());
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_say_what_is_expected_in_words() {
        #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
        struct Small {
            rows: usize,
        }
        let err = load::<Small>(None, &[Override::parse("rows=1.5").unwrap()]).unwrap_err().to_string();
        assert!(err.contains("expected a whole number, 0 or more"), "{err}");
    }
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: u32,
        ratio: f64,
        name: String,
    }
    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        seed: u64,
        inner: Inner,
    }

    #[test]
    fn overrides_patch_defaults() {
        let set = ["seed=7", "inner.ratio=0.5", "inner.name=abc"].map(|s| Override::parse(s).unwrap());
        let c: Outer = load(None, &set).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.inner.ratio, 0.5);
        assert_eq!(c.inner.name, "abc");
    }

    #[test]
    fn a_file_sets_only_what_it_names_over_the_stage_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[inner]\nratio = 0.5\n").unwrap();
        let defaults = Outer { seed: 3, inner: Inner { n: 7, ratio: 0.0, name: "x".into() } };
        let c: Outer = load_with_defaults(defaults, Some(&path), &[]).unwrap();
        assert_eq!(c, Outer { seed: 3, inner: Inner { n: 7, ratio: 0.5, name: "x".into() } });
    }

    #[test]
    fn a_moved_key_is_refused_with_its_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[inner]\nold = 2\n").unwrap();
        let moved = [("inner.old", "seed")];
        let err = load_moved::<Outer>(Some(&path), &[], &moved).unwrap_err().to_string();
        assert!(err.contains("inner.old is now seed"), "{err}");
        let err = load_moved::<Outer>(None, &[Override::new("inner.old", 2)], &moved).unwrap_err().to_string();
        assert!(err.contains("--set inner.old: the key is now seed"), "{err}");
        assert_eq!(load_moved::<Outer>(None, &[Override::new("seed", 2)], &moved).unwrap().seed, 2);
    }

    #[test]
    fn unknown_key_and_bad_type_are_errors() {
        let e = load::<Outer>(None, &[Override::parse("inner.nope=1").unwrap()]).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
        let e = load::<Outer>(None, &[Override::new("seed", "abc")]).unwrap_err();
        assert!(format!("{e:#}").contains("seed"), "{e:#}");
        assert!(Override::parse("seed").is_err());
        assert!(load::<Outer>(None, &[Override::parse("inner..n=1").unwrap()]).is_err());
    }
}
