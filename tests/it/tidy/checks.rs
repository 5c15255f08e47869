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
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<String> = breaches
        .iter()
        .filter(|b| seen.insert((b.file.as_str(), b.line)))
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

/// Printing outside test code: the print macros (also renamed through `use`), handles on
/// stdout/stderr, and their raw descriptors.
pub fn prints(files: &[&ModFile]) -> Vec<Breach> {
    let mut out = scan(
        files,
        code,
        &["println", "eprintln", "eprint", "dbg", "print!"],
        true,
        false,
    );
    let handles = ["stdout()", "stderr()", "STDOUT_FILENO", "STDERR_FILENO"];
    out.extend(scan(files, code, &handles, false, false));
    out.extend(imports_of(files, &["print"], |_| true));
    out
}

/// Ending the process outside test code: exit and abort by path or by import (or declared
/// in an `extern` block), the raw syscall, and sending oneself a signal.
pub fn exits(files: &[&ModFile]) -> Vec<Breach> {
    let enders = [
        "process::exit",
        "process::abort",
        "libc::exit",
        "libc::_exit",
        "libc::abort",
        "libc::raise",
        "SYS_exit",
    ];
    let mut out = scan(files, code, &enders, false, false);
    let own_pid = ["getpid()", "process::id()", "kill(0,"];
    for b in scan(files, code, &["kill("], false, false) {
        let line: String = line_of_file(files, &b).split_whitespace().collect();
        if own_pid.iter().any(|p| line.contains(p)) {
            out.push(Breach {
                what: "`kill` of its own process".into(),
                ..b
            });
        }
    }
    let from_process_or_libc = |item: &str| {
        item.starts_with("extern") || has_word(item, "process") || has_word(item, "libc")
    };
    out.extend(imports_of(
        files,
        &["exit", "_exit", "abort", "raise"],
        from_process_or_libc,
    ));
    out
}

/// `/proc/sys` in code or string literals, test code included; also `"/proc"` and a
/// `"sys"` component as separate literals in one file (a path joined in pieces).
pub fn proc_sys(files: &[&ModFile]) -> Vec<Breach> {
    let mut out = scan(files, literal, &["/proc/sys"], false, true);
    for f in files {
        let v = &f.lexed.literal;
        if find(v, b"\"/proc\"").is_none() && find(v, b"\"/proc/\"").is_none() {
            continue;
        }
        for needle in [&b"\"sys\""[..], b"\"sys/"] {
            for at in occurrences(v, needle) {
                let line = lex::line_of(v, at);
                let what = "`\"/proc\"` joined with `\"sys\"`".into();
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

/// The netlink crates used as crates (`mnl::…`, `use nftnl_sys as sys`, `extern crate`),
/// outside test code. A local variable of the same name is not a use.
pub fn netlink_crates(files: &[&ModFile]) -> Vec<Breach> {
    let names = ["mnl", "nftnl", "nftnl_sys"];
    let mut out = paths_rooted_at(files, &names);
    out.extend(imports_of(files, &names, |_| true));
    out
}

/// I/O outside test code: the file system, processes, sockets, standard input, the
/// environment, raw `libc` calls.
pub fn io(files: &[&ModFile]) -> Vec<Breach> {
    let types = [
        "OpenOptions",
        "Command",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "UnixStream",
        "UnixDatagram",
        "UnixListener",
        "stdin",
        "read_dir",
        "read_to_string",
    ];
    let mut out = scan(files, code, &types, true, false);
    let calls = ["File::open", "File::create", "std::env", "env::var"];
    out.extend(scan(files, code, &calls, false, false));
    out.extend(paths_rooted_at(files, &["fs", "libc"]));
    out
}

/// The policy syntax (`syntax::…`, pest) named outside test code.
pub fn syntax_uses(files: &[&ModFile]) -> Vec<Breach> {
    let names = ["syntax", "pest"];
    let mut out = paths_rooted_at(files, &names);
    out.extend(imports_of(files, &names, |_| true));
    out
}

/// The `nft` program named as a string outside test code (`"nft"`, `"/usr/sbin/nft"`).
pub fn nft_program(files: &[&ModFile]) -> Vec<Breach> {
    scan(files, literal, &["\"nft\"", "/nft\""], false, false)
}

/// Each `NAME ::` path (NAME standing alone) outside test code.
fn paths_rooted_at(files: &[&ModFile], names: &[&str]) -> Vec<Breach> {
    let mut out = Vec::new();
    for f in files.iter().copied() {
        for name in names {
            for at in word_positions(&f.lexed.code, name.as_bytes()) {
                let rest: Vec<u8> = f.lexed.code[at + name.len()..]
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .take(2)
                    .collect();
                let line = lex::line_of(&f.lexed.code, at);
                if rest == b"::" && !f.is_test_line(line) {
                    out.push(Breach {
                        file: f.path.clone(),
                        line,
                        what: format!("`{name}::`"),
                    });
                }
            }
        }
    }
    out
}

/// The `use` and `extern` items of a file: (offset, text up to the first `;`, spaces squeezed).
fn imports(code: &[u8]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for keyword in [&b"use"[..], b"extern"] {
        for at in word_positions(code, keyword) {
            let end = code[at..]
                .iter()
                .position(|&b| b == b';')
                .map_or(code.len(), |p| at + p);
            let text = String::from_utf8_lossy(&code[at..end]);
            out.push((at, text.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    out
}

fn has_word(text: &str, word: &str) -> bool {
    !word_positions(text.as_bytes(), word.as_bytes()).is_empty()
}

/// Import items outside test code that bring in one of `words`, when `source` accepts the item.
fn imports_of(files: &[&ModFile], words: &[&str], source: impl Fn(&str) -> bool) -> Vec<Breach> {
    let mut out = Vec::new();
    for f in files {
        for (at, item) in imports(&f.lexed.code) {
            let line = lex::line_of(&f.lexed.code, at);
            if f.is_test_line(line) || !source(&item) {
                continue;
            }
            for w in words.iter().filter(|w| has_word(&item, w)) {
                let what = format!("`{w}` brought in by `{item}`");
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
