//! The code map of ARCHITECTURE.md against the tree: every backticked path there exists,
//! and every product module file is named.
//!
//! A path in backticks is absolute when it starts with a top-level directory of the
//! repository (`src/`, `tests/`, …); otherwise it is relative to the module of its bullet:
//! in a bullet that names `src/live/` or `src/live.rs`, `dump.rs` means `src/live/dump.rs`.
//! A bullet's heading line (`### …`) counts as a bullet of its own.

use std::collections::BTreeSet;
use std::path::Path;

const TOP_DIRS: &[&str] = &[
    "src/",
    "tests/",
    "grammar/",
    "boot-tests/",
    "netns-tests/",
    "examples/",
    "benches/",
    "packaging/",
    "docs/",
    "policies/",
    "contrib/",
];

/// What the code map names, resolved against the tree, and the names that resolve to nothing.
pub struct CodeMap {
    pub named: BTreeSet<String>,
    pub dangling: Vec<String>,
}

/// Reads the `## Code map` section of `doc` (its text) and resolves its paths under `root`.
pub fn read(root: &Path, doc: &str) -> Result<CodeMap, String> {
    let start = doc
        .find("\n## Code map")
        .ok_or("ARCHITECTURE.md has no `## Code map` section")?;
    let section = &doc[start + 1..];
    let section = section[3..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 3]);
    let mut map = CodeMap {
        named: BTreeSet::new(),
        dangling: Vec::new(),
    };
    let first_line = doc[..start + 1].lines().count() + 1;
    for (line, bullet) in bullets(section, first_line) {
        let paths: Vec<&str> = backticked(&bullet)
            .into_iter()
            .filter(|t| is_path(t))
            .collect();
        let bases: Vec<String> = paths
            .iter()
            .filter(|p| TOP_DIRS.iter().any(|d| p.starts_with(d)))
            .map(|p| base_of(p))
            .collect();
        for p in paths {
            match resolve(root, p, &bases) {
                Some(found) => {
                    map.named.insert(found);
                }
                None => map
                    .dangling
                    .push(format!("ARCHITECTURE.md:{line}: `{p}` names no file")),
            }
        }
    }
    Ok(map)
}

/// The bullets (`- ` lines with their continuation lines) with the line each starts on.
fn bullets(section: &str, first_line: usize) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, l) in section.lines().enumerate() {
        if l.starts_with("- ") || l.starts_with("#") || out.is_empty() {
            out.push((first_line + i, String::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push_str(l);
            last.1.push(' ');
        }
    }
    out
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn is_path(token: &str) -> bool {
    let chars_ok = !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    let ext_ok = token.ends_with('/')
        || [".rs", ".pest", ".sh", ".md", ".toml", ".service"]
            .iter()
            .any(|e| token.ends_with(e));
    chars_ok && ext_ok && !token.starts_with('.')
}

/// `src/live/` → `src/live/`; `src/live.rs` → `src/live/`; `src/live/mod.rs` → `src/live/`;
/// any other file → its directory.
fn base_of(path: &str) -> String {
    if path.ends_with('/') {
        path.to_string()
    } else if let Some(dir) = path.strip_suffix("/mod.rs") {
        format!("{dir}/")
    } else if let Some(module) = path.strip_suffix(".rs") {
        format!("{module}/")
    } else {
        path.rsplit_once('/')
            .map_or(String::new(), |(dir, _)| format!("{dir}/"))
    }
}

fn resolve(root: &Path, token: &str, bases: &[String]) -> Option<String> {
    let candidates: Vec<String> =
        if TOP_DIRS.iter().any(|d| token.starts_with(d)) || bases.is_empty() {
            vec![token.to_string()]
        } else {
            bases.iter().map(|b| format!("{b}{token}")).collect()
        };
    candidates.into_iter().find(|c| {
        let p = root.join(c);
        if c.ends_with('/') {
            p.is_dir()
        } else {
            p.is_file()
        }
    })
}
