//! The checks themselves, over module files given as values: each returns its breaches
//! (file, line, what), and `judge` sets them against an allow-list. Which files may do what
//! is the policy in `tidy.rs`; this module only finds occurrences.

use super::lex;
use super::modules::{ModFile, find, word_positions};

#[derive(Debug)]
pub struct Breach {
    pub file: String,
    pub line: usize,
    pub what: String,
}

/// An allow-list entry covers a file when it names it, or names a directory (`src/nft/`) above it.
fn covers(entry: &str, file: &str) -> bool {
    entry == file || (entry.ends_with('/') && file.starts_with(entry))
}

/// The breaches no entry covers, and every entry that covers no breach (a stale entry).
pub fn judge(check: &str, breaches: &[Breach], entries: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = breaches
        .iter()
        .filter(|b| !entries.iter().any(|e| covers(e, &b.file)))
        .map(|b| format!("{}:{}: {check}: {}", b.file, b.line, b.what))
        .collect();
    for e in entries {
        if !breaches.iter().any(|b| covers(e, &b.file)) {
            out.push(format!(
                "tests/it/tidy.rs: {check}: entry `{e}` matches nothing; remove it"
            ));
        }
    }
    out
}

/// Printing outside test code: the print macros, and handles on stdout/stderr.
pub fn prints(files: &[&ModFile]) -> Vec<Breach> {
    let macros = ["print!", "println!", "eprint!", "eprintln!", "dbg!"];
    let mut out = scan(files, code, &macros, true, false);
    out.extend(scan(files, code, &["stdout()", "stderr()"], false, false));
    out
}

/// Ending the process outside test code, including sending oneself a signal.
pub fn exits(files: &[&ModFile]) -> Vec<Breach> {
    let enders = [
        "process::exit",
        "process::abort",
        "libc::exit",
        "libc::_exit",
        "libc::abort",
        "libc::raise",
    ];
    let mut out = scan(files, code, &enders, false, false);
    for b in scan(files, code, &["kill("], false, false) {
        if line_of_file(files, &b).contains("getpid()") {
            out.push(Breach {
                what: "`kill(getpid(), …)`".into(),
                ..b
            });
        }
    }
    out
}

/// `/proc/sys` in code or string literals, test code included.
pub fn proc_sys(files: &[&ModFile]) -> Vec<Breach> {
    scan(files, literal, &["/proc/sys"], false, true)
}

/// The netlink crates named as crates (`mnl::`, `use nftnl_sys as sys`), outside test code.
pub fn netlink_crates(files: &[&ModFile]) -> Vec<Breach> {
    let mut out = Vec::new();
    for name in ["mnl", "nftnl", "nftnl_sys"] {
        for b in scan(files, code, &[name], true, false) {
            let line = line_of_file(files, &b);
            let as_crate = line.contains(&format!("{name}::"))
                || line.contains(&format!("use {name}"))
                || line.contains(&format!("extern crate {name}"));
            if as_crate {
                out.push(b);
            }
        }
    }
    out
}

/// Every `unsafe` keyword, test code included.
pub fn unsafe_uses(files: &[&ModFile]) -> Vec<Breach> {
    scan(files, code, &["unsafe"], true, true)
}

/// Every `unsafe` (other than in a function pointer type) without a `// SAFETY:` comment,
/// or a `# Safety` doc section, in the comment block directly above it.
pub fn undocumented_unsafe(files: &[&ModFile]) -> Vec<Breach> {
    let mut out = Vec::new();
    for f in files {
        let comments = lex::lines(&f.lexed.comment);
        let code_lines = lex::lines(&f.lexed.code);
        for at in word_positions(&f.lexed.code, b"unsafe") {
            let line = lex::line_of(&f.lexed.code, at);
            if !is_fn_pointer_type(&f.lexed.code[at..])
                && !has_safety_comment(&code_lines, &comments, line)
            {
                let what =
                    "`unsafe` without a `// SAFETY:` comment (or `# Safety` doc) above it".into();
                out.push(Breach {
                    file: f.path.clone(),
                    line,
                    what,
                });
            }
        }
    }
    out
}

/// `unsafe fn(` / `unsafe extern "C" fn(`: a function pointer type, not an unsafe operation.
fn is_fn_pointer_type(at_unsafe: &[u8]) -> bool {
    let text: Vec<u8> = at_unsafe
        .iter()
        .take(40)
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    text.starts_with(b"unsafefn(")
        || text.starts_with(b"unsafeextern\"") && find(&text, b"\"fn(").is_some()
}

/// Line `n` (1-based) carries a safety comment, or the block of comment and attribute lines
/// directly above it does.
fn has_safety_comment(code: &[&str], comments: &[&str], n: usize) -> bool {
    let says = |i: usize| {
        let c = comments.get(i).copied().unwrap_or("");
        c.contains("SAFETY:") || c.contains("# Safety")
    };
    let mut i = n - 1;
    if says(i) {
        return true;
    }
    while i > 0 {
        i -= 1;
        if says(i) {
            return true;
        }
        let c = code.get(i).copied().unwrap_or("").trim();
        let comment_only =
            c.is_empty() && !comments.get(i).copied().unwrap_or("").trim().is_empty();
        if !comment_only && !c.starts_with("#[") {
            return false;
        }
    }
    false
}

fn code(f: &ModFile) -> &[u8] {
    &f.lexed.code
}

fn literal(f: &ModFile) -> &[u8] {
    &f.lexed.literal
}

/// The code of a breach's line.
fn line_of_file<'a>(files: &[&'a ModFile], b: &Breach) -> &'a str {
    let f = files
        .iter()
        .find(|f| f.path == b.file)
        .map(|f| code(f))
        .unwrap_or_default();
    lex::lines(f).get(b.line - 1).copied().unwrap_or("")
}

/// Each occurrence of any of `needles` (standing alone when `word`) in `view` of `files`;
/// test-only lines too when `tests`.
fn scan(
    files: &[&ModFile],
    view: fn(&ModFile) -> &[u8],
    needles: &[&str],
    word: bool,
    tests: bool,
) -> Vec<Breach> {
    let mut out = Vec::new();
    for f in files {
        let v = view(f);
        for needle in needles {
            let hits = if word {
                word_positions(v, needle.as_bytes())
            } else {
                occurrences(v, needle.as_bytes())
            };
            for at in hits {
                let line = lex::line_of(v, at);
                if tests || !f.is_test_line(line) {
                    out.push(Breach {
                        file: f.path.clone(),
                        line,
                        what: format!("`{needle}`"),
                    });
                }
            }
        }
    }
    out
}

fn occurrences(view: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(&view[from..], needle) {
        out.push(from + p);
        from += p + needle.len();
    }
    out
}
