//! The configuration reference (`docs/configuration.md`): every section and key of every
//! stage, its type, default and meaning, generated from the typed structs (their JSON
//! schemas, whose descriptions are the fields' doc comments), so it cannot drift from
//! what spe reads.

use schemars::Schema;
use serde_json::{Map, Value};
use std::fmt::Write;

/// One stage's configuration.
pub struct Stage {
    /// The command that reads it (`spe prep`).
    pub command: &'static str,
    /// The pipeline files that hold it.
    pub files: &'static str,
    /// The schema of its struct.
    pub schema: Schema,
}

/// The reference of `stages`, in Markdown.
pub fn markdown(stages: &[Stage]) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from spe's configuration structs by `trainer/tests/config_reference.rs`; do not edit by hand \
         (`SPE_BLESS=1 cargo test -p spe-trainer --test config_reference` writes it again).\n\n\
         Each stage reads a TOML file given with `--config` (those in `pipelines/` hold the defaults), or \
         its built-in defaults; `--set SECTION.KEY=VALUE` changes any single key. Unknown keys are errors.\n",
    );
    for stage in stages {
        let root = stage.schema.as_value();
        let defs = root.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
        let _ = write!(out, "\n## {}\n\nFiles: {}.\n", stage.command, stage.files);
        section(&mut out, "", false, root, &defs);
    }
    out
}

/// Writes the keys of the object schema `schema` at `path` (a table, or with `array` an
/// array of tables, `[[path]]`), then its sub-sections.
fn section(out: &mut String, path: &str, array: bool, schema: &Value, defs: &Map<String, Value>) {
    let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let defaults = schema.get("default").and_then(Value::as_object);
    let mut keys = Vec::new();
    let mut sections = Vec::new();
    for (name, property) in &properties {
        let resolved = resolve(property, defs);
        let full = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        let items = resolved.get("items").and_then(|items| table_of(items, defs));
        if let Some(table) = table_of(property, defs) {
            let default = defaults.and_then(|d| d.get(name)).or_else(|| property.get("default")).cloned();
            sections.push((full, property, table, default, false));
        } else if let Some(table) = items.filter(|_| resolved.get("type").and_then(Value::as_str) == Some("array")) {
            sections.push((full, property, table, None, true));
        } else {
            // The enclosing section's default wins over the field type's own: it is what a
            // configuration without this section holds.
            let default = defaults.and_then(|d| d.get(name)).or_else(|| property.get("default"));
            keys.push((name.clone(), property, resolved, default.cloned()));
        }
    }
    if !keys.is_empty() {
        if !path.is_empty() {
            let (open, close) = if array { ("[[", "]]") } else { ("[", "]") };
            let _ = write!(out, "\n### `{open}{path}{close}`\n\n");
            if let Some(text) = schema.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", one_line(text));
            }
        } else {
            out.push('\n');
        }
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        for (name, property, resolved, default) in keys {
            let meaning = property
                .get("description")
                .or_else(|| resolved.get("description"))
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default();
            let default = default.as_ref().map(toml_value).unwrap_or_default();
            let _ = writeln!(out, "| `{name}` | {} | {default} | {} |", type_of(property, defs), cell(&meaning));
        }
    }
    for (full, property, mut resolved, default, array) in sections {
        // A section's own doc comment is on the field, and its defaults are the enclosing
        // default's value of the field.
        if let (Some(object), Some(text)) = (resolved.as_object_mut(), property.get("description")) {
            object.insert("description".into(), text.clone());
        }
        if let (Some(object), Some(default)) = (resolved.as_object_mut(), default) {
            object.insert("default".into(), default);
        }
        section(out, &full, array, &resolved, defs);
    }
}

/// The object schema `schema` stands for, where it is one (a table of keys): itself, its
/// `$ref`, or the one variant of an optional one.
fn table_of(schema: &Value, defs: &Map<String, Value>) -> Option<Value> {
    let resolved = resolve(schema, defs);
    if resolved.get("properties").is_some() {
        return Some(resolved);
    }
    let variants = resolved.get("anyOf").or_else(|| resolved.get("oneOf")).and_then(Value::as_array)?;
    let tables: Vec<Value> = variants.iter().filter_map(|v| table_of(v, defs)).collect();
    match tables.as_slice() {
        [table] => Some(table.clone()),
        _ => None,
    }
}

/// `schema` with a `$ref` (plain or under `allOf`) replaced by its definition.
fn resolve(schema: &Value, defs: &Map<String, Value>) -> Value {
    let reference = schema
        .get("$ref")
        .or_else(|| schema.get("allOf").and_then(|all| all.get(0)).and_then(|first| first.get("$ref")))
        .and_then(Value::as_str);
    match reference.and_then(|r| r.rsplit('/').next()).and_then(|name| defs.get(name)) {
        Some(definition) => definition.clone(),
        None => schema.clone(),
    }
}

/// The type of a key in words: a JSON type, a list of values, or a list of something;
/// `(optional)` where it may be left unset.
fn type_of(schema: &Value, defs: &Map<String, Value>) -> String {
    let schema = resolve(schema, defs);
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    if let Some(variants) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let parts: Vec<String> = variants.iter().filter(|v| !is_null(v)).map(|v| type_of(v, defs)).collect();
        let optional = if variants.iter().any(is_null) { " (optional)" } else { "" };
        return format!("{}{optional}", parts.join(" \\| "));
    }
    if let Some(value) = schema.get("const") {
        return toml_value(value);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(toml_value).collect::<Vec<_>>().join(" \\| ");
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let words: Vec<String> = types
        .iter()
        .filter(|t| **t != "null")
        .map(|t| match *t {
            "integer" => "whole number".to_string(),
            "number" => "number".to_string(),
            "boolean" => "true or false".to_string(),
            "array" => format!("list of {}", schema.get("items").map_or("values".into(), |i| type_of(i, defs))),
            other => other.to_string(),
        })
        .collect();
    let optional = if types.contains(&"null") { " (optional)" } else { "" };
    format!("{}{optional}", if words.is_empty() { "value".into() } else { words.join(" or ") })
}

/// A default as it is written in TOML.
fn toml_value(value: &Value) -> String {
    match value {
        Value::Null => "unset".into(),
        Value::String(s) => format!("`{s:?}`"),
        Value::Array(items) if items.is_empty() => "`[]`".into(),
        Value::Array(items) => {
            format!(
                "`[{}]`",
                items.iter().map(|i| toml_value(i).trim_matches('`').to_string()).collect::<Vec<_>>().join(", ")
            )
        }
        other => format!("`{other}`"),
    }
}

/// Doc comment text on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// The section.
    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Inner {
        /// Kernel sizes, in words.
        kernels: Vec<i64>,
        /// How to read: `fast` or `slow`.
        mode: Mode,
    }

    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Fast,
        Slow,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Outer {
        /// Seed of everything.
        seed: u64,
        /// The inner stage.
        inner: Inner,
        /// One per run.
        run: Vec<Run>,
    }

    /// A run.
    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    struct Run {
        /// Its name.
        name: String,
        /// How it is made, where it is.
        made: Option<Inner>,
    }

    impl Default for Outer {
        fn default() -> Self {
            Outer { seed: 7, inner: Inner { kernels: vec![2, 3], mode: Mode::Slow }, run: vec![] }
        }
    }

    #[test]
    fn keys_sections_types_defaults_and_meanings_come_from_the_struct() {
        let text = markdown(&[Stage { command: "spe x", files: "x.toml", schema: schemars::schema_for!(Outer) }]);
        assert!(text.contains("## spe x\n\nFiles: x.toml."), "{text}");
        assert!(text.contains("| `seed` | whole number | `7` | Seed of everything. |"), "{text}");
        assert!(text.contains("### `[inner]`\n\nThe inner stage."), "{text}");
        assert!(text.contains("| `kernels` | list of whole number | `[2, 3]` | Kernel sizes, in words. |"), "{text}");
        assert!(text.contains("| `mode` | `\"fast\"` \\| `\"slow\"` | `\"slow\"` |"), "{text}");
        assert!(text.contains("### `[[run]]`\n\nOne per run.\n\n| key |"), "{text}");
        assert!(text.contains("| `name` | string |  | Its name. |"), "{text}");
        assert!(text.contains("### `[run.made]`\n\nHow it is made, where it is."), "{text}");
    }
}
