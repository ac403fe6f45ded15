//! The README and the guide in docs/ stay true: every relative link and `#anchor` resolves,
//! every `spe` command and flag a code block shows exists in spe's command tree, and the
//! README's quick start is what CI runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown page of docs/.
fn documents() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root().join("README.md"));
    pages
}

/// A page's lines, each with whether it lies inside a fenced code block and that block's
/// language (the fence lines themselves count as inside).
fn lines(text: &str) -> Vec<(&str, Option<&str>)> {
    let mut fence: Option<&str> = None;
    text.lines()
        .map(|line| {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                let inside = fence.unwrap_or(info.trim());
                fence = if fence.is_some() { None } else { Some(info.trim()) };
                (line, Some(inside))
            } else {
                (line, fence)
            }
        })
        .collect()
}

/// The text outside inline code spans.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings, a repeated heading's with GitHub's `-1`, `-2`, ….
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (line, fence) in lines(text) {
        let Some(heading) = line.strip_prefix('#').filter(|_| fence.is_none()) else { continue };
        let base = slug(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in documents() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (n, (line, fence)) in lines(&text).into_iter().enumerate() {
            if fence.is_some() {
                continue;
            }
            let line = without_code_spans(line);
            for target in line.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
                let file = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
                let place = format!("{}:{}: {target}", page.strip_prefix(root()).unwrap().display(), n + 1);
                if !file.exists() {
                    broken.push(format!("{place}: no such file"));
                } else if let Some(anchor) = anchor {
                    let text = std::fs::read_to_string(&file).unwrap_or_default();
                    if !anchors(&text).contains(anchor) {
                        broken.push(format!("{place}: no heading makes #{anchor}"));
                    }
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The spe invocations of a code block's line (continued lines joined): the words after
/// `spe`, `spe-trainer` or `cargo run … --`, up to a comment, a pipe or a redirection.
fn invocation(line: &str) -> Option<Vec<String>> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let is_spe = ["spe", "spe-trainer"].iter().any(|name| word == *name || word.ends_with(&format!("/{name}")));
        if is_spe || (word == "cargo" && words.peek() == Some(&"run")) {
            if !is_spe && !words.any(|w| w == "--") {
                return None;
            }
            let mut depth = 0;
            let mut out = Vec::new();
            for word in words {
                depth += word.matches('[').count() as i32 - word.matches(']').count() as i32;
                if word.starts_with('#') || [">", "&&", ";", "&", "2>&1"].contains(&word) || (word == "|" && depth <= 0)
                {
                    break;
                }
                out.push(word.to_string());
            }
            return Some(out);
        }
        // What may come before spe on a line: a prompt, environment, a launcher.
        if !(word == "$" || word.contains('=') || ["srun", "nohup", "time", "exec"].contains(&word)) {
            return None;
        }
    }
    None
}

/// Whether `flag` (`--name` or `-n`) is an argument of `command`.
fn has_flag(command: &clap::Command, flag: &str) -> bool {
    if ["--help", "-h", "--version", "-V"].contains(&flag) {
        return true;
    }
    command.get_arguments().any(|arg| match flag.strip_prefix("--") {
        Some(long) => arg.get_long() == Some(long),
        None => flag.len() == 2 && arg.get_short() == flag.chars().nth(1),
    })
}

#[test]
fn every_spe_command_and_flag_in_a_code_block_exists() {
    let tree = spe::cli::Cli::tree();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for page in documents() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        // Each command, continued lines (a trailing `\`, or a synopsis's `[--flag …]` lines) joined.
        let mut commands: Vec<(usize, String)> = Vec::new();
        let mut continues = false;
        for (n, (line, fence)) in lines(&text).into_iter().enumerate() {
            let shell = matches!(fence, Some("" | "sh" | "bash" | "console"));
            let trimmed = line.trim_start();
            let synopsis = trimmed.starts_with('[') || trimmed.starts_with("--");
            match commands.last_mut() {
                Some((_, command)) if shell && (continues || synopsis) => command.push_str(&format!(" {trimmed}")),
                _ if shell && !line.starts_with("```") => commands.push((n + 1, line.to_string())),
                _ => {}
            }
            continues = shell && line.trim_end().ends_with('\\');
        }
        for (n, command) in commands {
            let Some(words) = invocation(&command.replace('\\', " ")) else { continue };
            checked += 1;
            let mut words = words.into_iter().peekable();
            let mut at = &tree;
            let mut path = String::from("spe");
            // Subcommands, `scierc|ace05` for either.
            while let Some(word) = words.peek() {
                let names: Vec<&str> = word.split('|').collect();
                let Some(sub) = at.find_subcommand(names[0]) else { break };
                if let Some(missing) = names.iter().find(|n| at.find_subcommand(n).is_none()) {
                    wrong.push(format!("{name}:{n}: `{path} {missing}` is no command"));
                }
                path = format!("{path} {}", names[0]);
                at = sub;
                words.next();
            }
            if at.has_subcommands() {
                wrong.push(format!("{name}:{n}: `{path}` needs one of its subcommands: {command}"));
                continue;
            }
            for word in words {
                let flag = word.trim_start_matches('[').split(['=', ']']).next().unwrap_or("");
                let is_flag =
                    flag.starts_with('-') && flag.len() > 1 && !flag[1..].starts_with(|c: char| c.is_ascii_digit());
                if is_flag && flag != "--" && !has_flag(at, flag) {
                    wrong.push(format!("{name}:{n}: `{path}` has no flag {flag}"));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} spe commands found");
    assert!(wrong.is_empty(), "commands the docs show that spe does not have:\n{}", wrong.join("\n"));
}

#[test]
fn the_readme_quick_start_is_what_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let quick_start = readme.split("## Quick start").nth(1).expect("the README has a quick start");
    let block = quick_start.split("```").nth(1).expect("with a code block");
    let commands: Vec<&str> =
        block.lines().skip(1).map(|line| line.split('#').next().unwrap().trim()).filter(|c| !c.is_empty()).collect();
    assert_eq!(commands, ["bash scripts/demo.sh", "bash scripts/test.sh"]);
    for command in commands {
        assert!(ci.lines().any(|line| line.trim() == command), ".ci/run does not run {command}");
    }
}

#[test]
fn the_link_checker_finds_what_it_must() {
    let page = "# A b: `c`\n\n## A b: c\n\n```sh\n# not a heading\n```\n";
    let found = anchors(page);
    assert!(found.contains("a-b-c") && found.contains("a-b-c-1") && found.len() == 2, "{found:?}");
    assert_eq!(slug("Time to SpERT's score: CoNLL04"), "time-to-sperts-score-conll04");
    assert_eq!(
        invocation("OMP_NUM_THREADS=1 spe train --steps 3 | tee log"),
        Some(vec!["train".into(), "--steps".into(), "3".into()])
    );
    assert_eq!(
        invocation("cargo run --release -- prep text --out o"),
        Some(vec!["prep".into(), "text".into(), "--out".into(), "o".into()])
    );
    assert_eq!(invocation("python run.py --spe x"), None);
    let tree = spe::cli::Cli::tree();
    let finetune = tree.find_subcommand("finetune").unwrap();
    assert!(has_flag(finetune, "--seeds") && !has_flag(finetune, "--seed-list"));
    assert!(has_flag(tree.find_subcommand("inspect").unwrap(), "-n"));
}
