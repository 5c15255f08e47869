//! The crate's module tree as the compiler sees it: every file reached from `src/lib.rs`
//! and `src/main.rs` through `mod` declarations (`#[path]` honoured), which of them are
//! test-only, and which lines of a file sit inside a `#[cfg(test)]` item.

use super::lex::{self, Lexed, is_ident};
use std::path::{Path, PathBuf};

/// One module file of the crate.
pub struct ModFile {
    /// Relative to the repository root, `/`-separated (`src/nft/read.rs`).
    pub path: String,
    pub lexed: Lexed,
    /// Compiled only under `cfg(test)` (declared under it, or below such a module).
    pub test_only: bool,
    /// Reached from `src/main.rs`: part of the binary, not of the library.
    pub in_binary: bool,
    /// Per line (index = line - 1): inside a `#[cfg(test)]` item.
    pub test_lines: Vec<bool>,
}

impl ModFile {
    /// A module file from its text (`in_binary`: reached from `src/main.rs`).
    pub fn new(path: &str, text: &str, test_only: bool, in_binary: bool) -> ModFile {
        let lexed = Lexed::new(text);
        let test_lines = test_lines(&lexed);
        ModFile {
            path: path.to_string(),
            lexed,
            test_only,
            in_binary,
            test_lines,
        }
    }

    /// Line `n` (1-based) is compiled only for tests.
    pub fn is_test_line(&self, n: usize) -> bool {
        self.test_only || self.test_lines.get(n - 1).copied().unwrap_or(false)
    }
}

/// Every module file reached from the two crate roots, and a problem per `mod x;` whose file
/// does not exist.
pub fn crate_files(root: &Path) -> (Vec<ModFile>, Vec<String>) {
    let mut queue = vec![
        (PathBuf::from("src/lib.rs"), false, false),
        (PathBuf::from("src/main.rs"), false, true),
    ];
    let (mut files, mut problems) = (Vec::new(), Vec::new());
    while let Some((rel, test_only, in_binary)) = queue.pop() {
        let text = std::fs::read_to_string(root.join(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        let path = rel.to_string_lossy().replace('\\', "/");
        let file = ModFile::new(&path, &text, test_only, in_binary);
        for decl in mod_decls(&file.lexed) {
            let child = child_path(root, &rel, &decl);
            if root.join(&child).is_file() {
                queue.push((child, test_only || decl.cfg_test, in_binary));
            } else {
                let line = lex::line_of(&file.lexed.code, decl.offset);
                problems.push(format!(
                    "{}:{line}: `mod {}` has no file",
                    rel.display(),
                    decl.name
                ));
            }
        }
        files.push(file);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, problems)
}

/// A `mod NAME;` declaration (not an inline module).
struct ModDecl {
    name: String,
    offset: usize,
    cfg_test: bool,
    path_attr: Option<String>,
}

fn mod_decls(lexed: &Lexed) -> Vec<ModDecl> {
    let code = &lexed.code;
    let mut out = Vec::new();
    for at in word_positions(code, b"mod") {
        let rest = &code[at + 3..];
        let name_start = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let name_len = rest[name_start..]
            .iter()
            .take_while(|&&b| is_ident(b))
            .count();
        let after = rest[name_start + name_len..]
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        if name_start == 0 || name_len == 0 || after != Some(&b';') {
            continue;
        }
        let name = String::from_utf8_lossy(&rest[name_start..name_start + name_len]).into_owned();
        let attrs = attributes_before(&lexed.literal, at);
        let cfg_test = attrs.iter().any(|a| squash(a).contains("cfg(test)"));
        let path_attr = attrs.iter().find_map(|a| path_value(a));
        out.push(ModDecl {
            name,
            offset: at,
            cfg_test,
            path_attr,
        });
    }
    out
}

/// Offsets of `word` standing alone (not part of a longer identifier).
pub fn word_positions(view: &[u8], word: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(&view[from..], word) {
        let at = from + p;
        let before = at == 0 || !is_ident(view[at - 1]);
        let after = view.get(at + word.len()).is_none_or(|&b| !is_ident(b));
        if before && after {
            out.push(at);
        }
        from = at + word.len();
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The outer attributes directly before the item whose keyword starts at `at`
/// (visibility skipped), innermost last.
fn attributes_before(view: &[u8], at: usize) -> Vec<String> {
    let mut end = skip_back_ws(view, at);
    for vis in [&b"pub(crate)"[..], b"pub(super)", b"pub"] {
        if view[..end].ends_with(vis) {
            end = skip_back_ws(view, end - vis.len());
            break;
        }
    }
    let mut attrs = Vec::new();
    while end > 0 && view[end - 1] == b']' {
        let mut depth = 0i32;
        let mut i = end;
        while i > 0 {
            i -= 1;
            match view[i] {
                b']' => depth += 1,
                b'[' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
        }
        if i == 0 || view[i - 1] != b'#' {
            break;
        }
        attrs.push(String::from_utf8_lossy(&view[i - 1..end]).into_owned());
        end = skip_back_ws(view, i - 1);
    }
    attrs
}

fn skip_back_ws(view: &[u8], mut end: usize) -> usize {
    while end > 0 && view[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `#[path = "x.rs"]` → `x.rs`.
fn path_value(attr: &str) -> Option<String> {
    let s = squash(attr);
    let v = s.strip_prefix("#[path=\"")?.strip_suffix("\"]")?;
    Some(v.to_string())
}

/// Where the compiler looks for a declared module's file.
fn child_path(root: &Path, parent: &Path, decl: &ModDecl) -> PathBuf {
    let dir = parent.parent().unwrap_or(Path::new(""));
    if let Some(p) = &decl.path_attr {
        return dir.join(p);
    }
    let file = parent.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let base = if matches!(file, "lib.rs" | "main.rs" | "mod.rs") {
        dir.to_path_buf()
    } else {
        dir.join(parent.file_stem().unwrap_or_default())
    };
    let flat = base.join(format!("{}.rs", decl.name));
    if root.join(&flat).exists() || !root.join(&base).join(&decl.name).join("mod.rs").exists() {
        flat
    } else {
        base.join(&decl.name).join("mod.rs")
    }
}

/// Marks the lines of every item under `#[cfg(test)]` (the attribute through the item's
/// `;` or closing brace); `#![cfg(test)]` marks the whole file.
fn test_lines(lexed: &Lexed) -> Vec<bool> {
    let code = &lexed.code;
    let n_lines = lex::lines(code).len();
    if find(&squash_bytes(code), b"#![cfg(test)]").is_some() {
        return vec![true; n_lines];
    }
    let mut marks = vec![false; n_lines];
    for at in word_positions(code, b"cfg") {
        let head: Vec<u8> = code[at..]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .take(10)
            .collect();
        if !head.starts_with(b"cfg(test)") {
            continue;
        }
        let Some(close) = code[at..].iter().position(|&b| b == b']').map(|p| at + p) else {
            continue;
        };
        let end = item_end(code, close + 1);
        for m in marks
            .iter_mut()
            .take(lex::line_of(code, end))
            .skip(lex::line_of(code, at) - 1)
        {
            *m = true;
        }
    }
    marks
}

fn squash_bytes(v: &[u8]) -> Vec<u8> {
    v.iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

/// The offset of the `;` or matching `}` that ends the item starting at `from`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0i32;
    let mut i = from;
    while i < code.len() {
        match code[i] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b';' if depth == 0 => return i,
            b'{' if depth == 0 => return matching_brace(code, i),
            _ => {}
        }
        i += 1;
    }
    code.len().saturating_sub(1)
}

fn matching_brace(code: &[u8], open: usize) -> usize {
    let mut depth = 0i32;
    for (i, &b) in code.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    code.len().saturating_sub(1)
}
