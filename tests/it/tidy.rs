//! The structural invariants ARCHITECTURE.md states, checked by reading the source tree:
//! who prints and exits, who touches `/proc/sys`, who uses the netlink crates, which layers
//! do no I/O or know no syntax, who names the `nft` program, where `unsafe` lives and that
//! each use says why it is sound, file headers and sizes, and that the code map names
//! every module file and nothing else. Failures name `file:line`.
//!
//! Every allow-list entry carries its reason, and an entry that matches nothing fails, so
//! the lists only shrink as the code moves. `PENDING_ON_OTHER_BRANCHES` holds breaches other
//! branches are removing while this test lands; it is emptied when they merge.

mod checks;
mod codemap;
mod lex;
mod modules;
mod selftest;

use checks::Breach;
use modules::ModFile;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// No source file may be longer than this. The style aims at about 600 lines; the largest
/// file today (`src/nft/wire.rs`) has 640. The limit sits just above it, so no file can keep
/// growing unnoticed, and the next one to pass it is split rather than waved through.
const MAX_LINES: usize = 650;

/// Breaches that other branches of this session are removing: (check, file, branch, what).
/// The lead empties this list as those branches merge; an entry that matches nothing fails.
const PENDING_ON_OTHER_BRANCHES: &[(&str, &str, &str, &str)] = &[];

/// Library files that may print (none). The library reports through values; the binary
/// (`src/main.rs` and the `cli` module under it) is the only code that prints or exits.
const MAY_PRINT: &[(&str, &str)] = &[];

/// Library files that may end a process (only the binary decides how its own ends).
const MAY_EXIT: &[(&str, &str)] = &[
    (
        "src/nft/sock/closer.rs",
        "the exit system call ends the socket closer, never the calling process",
    ),
    (
        "src/netns/enter.rs",
        "`abort` when a thread cannot return to its own network namespace after an entry: \
         every later network call of the command would go to the other one",
    ),
];

/// Files that may name `/proc/sys`.
const MAY_TOUCH_PROC_SYS: &[(&str, &str)] =
    &[("src/sysctl.rs", "the one reader and writer of sysctls")];

/// Files that may use the netlink crates (`mnl`, `nftnl`, `nftnl_sys`) outside test code.
const MAY_USE_NETLINK_CRATES: &[(&str, &str)] = &[("src/nft/", "the kernel's nf_tables interface")];

/// The layers that take and return values only: no files, processes, sockets or `libc`.
const PURE_LAYERS: &[&str] = &[
    "src/syntax/",
    "src/check/",
    "src/compile/",
    "src/emit/",
    "src/diff/",
    "src/eval.rs",
    "src/eval/",
];

/// Pure files that may do I/O anyway (none).
const MAY_DO_IO: &[(&str, &str)] = &[];

/// The layers below the checked model, which know nothing of the policy's syntax.
const SYNTAX_FREE: &[&str] = &["src/compile/", "src/emit/"];

/// Files that may name the `nft` program: it is a test oracle, not a dependency.
const MAY_RUN_NFT: &[(&str, &str)] = &[(
    "src/verify/load.rs",
    "verify --against loads a hand-written nft file into a throwaway namespace",
)];

/// Files that may contain `unsafe` (test code included), and the FFI each one needs.
const MAY_USE_UNSAFE: &[(&str, &str)] = &[
    (
        "src/nft/",
        "libnftnl objects, raw netlink sockets, setns for a dump",
    ),
    (
        "src/netns.rs",
        "unshare/umount for namespace creation and removal",
    ),
    (
        "src/netns/enter.rs",
        "setns/unshare: the one way into a namespace",
    ),
    (
        "src/netns/interrupt.rs",
        "the cleanup signal handler and its pipe",
    ),
    (
        "src/cli/interrupt.rs",
        "re-raises the signal with its default action after the cleanup",
    ),
    (
        "src/nsid.rs",
        "a netlink socket and getsockopt(SO_NETNS_COOKIE)",
    ),
    ("src/safe/lock.rs", "flock on the state lock file"),
    (
        "src/cli/apply/test_hooks.rs",
        "debug builds only: capget/capset, a thread that loses CAP_SYS_ADMIN in a namespace",
    ),
    (
        "src/threads.rs",
        "sched_getcpu/sched_setaffinity: a helper thread runs off its starter's CPU",
    ),
    (
        "src/pages.rs",
        "mmap/munmap: zero-filled arrays whose untouched pages are never faulted in",
    ),
    (
        "src/main.rs",
        "mallopt: glibc's heap trim threshold, top pad and mmap threshold, first thing in main",
    ),
    (
        "src/safe/lockout.rs",
        "getifaddrs: the addresses the lockout guard keeps reachable",
    ),
    (
        "src/safe/perms.rs",
        "geteuid for the permission guard's owner rule",
    ),
    (
        "src/safe/signals.rs",
        "pthread_sigmask and signalfd around critical sections",
    ),
    (
        "src/safe/trust.rs",
        "geteuid for the state directory's owner rule",
    ),
    (
        "src/safe/watcher.rs",
        "setsid and SIGHUP disposition for the detached revert watcher",
    ),
    (
        "src/verify/probe.rs",
        "sockets, poll, send/recv and socket options for probes",
    ),
    (
        "src/cli/apply/prompt.rs",
        "poll and read on the terminal for the confirm prompt",
    ),
    (
        "src/cli/files.rs",
        "mkfifo in its tests (a FIFO input must be refused)",
    ),
    (
        "src/cli/replace.rs",
        "geteuid/getegid: who owns the replaced file",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate's module files, read once per test run.
fn crate_files() -> &'static [ModFile] {
    static FILES: OnceLock<Vec<ModFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        let (files, problems) = modules::crate_files(&root());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        files
    })
}

/// The library's module files (not those under `src/main.rs`).
fn library_files() -> Vec<&'static ModFile> {
    crate_files().iter().filter(|f| !f.in_binary).collect()
}

/// Every module file of both crates.
fn all_files() -> Vec<&'static ModFile> {
    crate_files().iter().collect()
}

/// Judges `breaches` against an allow-list and this check's pending entries.
fn judge(check: &str, breaches: &[Breach], allowed: &[(&str, &str)]) -> Vec<String> {
    let pending = PENDING_ON_OTHER_BRANCHES
        .iter()
        .filter(|p| p.0 == check)
        .map(|p| p.1);
    let entries: Vec<&str> = allowed.iter().map(|a| a.0).chain(pending).collect();
    checks::judge(check, breaches, &entries)
}

fn assert_tidy(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn only_the_binary_prints() {
    assert_tidy(judge(
        "prints",
        &checks::prints(&library_files()),
        MAY_PRINT,
    ));
}

#[test]
fn only_the_binary_exits() {
    assert_tidy(judge("exits", &checks::exits(&library_files()), MAY_EXIT));
}

#[test]
fn only_sysctl_touches_proc_sys() {
    let breaches = checks::proc_sys(&all_files());
    assert_tidy(judge("proc-sys", &breaches, MAY_TOUCH_PROC_SYS));
}

#[test]
fn only_nft_uses_the_netlink_crates() {
    let breaches = checks::netlink_crates(&all_files());
    assert_tidy(judge("netlink-crates", &breaches, MAY_USE_NETLINK_CRATES));
}

/// The module files under any of `prefixes` (a directory ending in `/`, or a file).
fn files_under(prefixes: &[&str]) -> Vec<&'static ModFile> {
    let under = |f: &ModFile| {
        prefixes
            .iter()
            .any(|p| f.path == *p || (p.ends_with('/') && f.path.starts_with(p)))
    };
    crate_files().iter().filter(|f| under(f)).collect()
}

#[test]
fn pure_layers_do_no_io() {
    let breaches = checks::io(&files_under(PURE_LAYERS));
    assert_tidy(judge("io", &breaches, MAY_DO_IO));
}

#[test]
fn compile_and_emit_know_nothing_of_syntax() {
    let breaches = checks::syntax_uses(&files_under(SYNTAX_FREE));
    assert_tidy(judge("syntax", &breaches, &[]));
}

#[test]
fn the_nft_program_is_named_only_by_verify_against() {
    let breaches = checks::nft_program(&all_files());
    assert_tidy(judge("nft-program", &breaches, MAY_RUN_NFT));
}

#[test]
fn unsafe_only_in_allowed_modules_and_each_says_why() {
    let files = &all_files();
    let mut problems = judge("unsafe", &checks::unsafe_uses(files), MAY_USE_UNSAFE);
    problems.extend(judge(
        "safety-comment",
        &checks::undocumented_unsafe(files),
        &[],
    ));
    assert_tidy(problems);
}

/// Every Rust file of the package: product, tests, examples, benches.
fn all_rust_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        "src",
        "tests",
        "netns-tests",
        "boot-tests",
        "examples",
        "benches",
    ] {
        walk(&root().join(dir), &mut out);
    }
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_file_opens_with_a_module_doc_and_stays_short() {
    let mut problems = Vec::new();
    for p in all_rust_files() {
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let first = text.lines().next().unwrap_or("");
        if first
            .strip_prefix("//!")
            .is_none_or(|doc| doc.trim().is_empty())
        {
            problems.push(format!(
                "{}:1: does not open with a `//!` line saying what it owns",
                rel(&p)
            ));
        }
        let n = text.lines().count();
        if n > MAX_LINES {
            problems.push(format!(
                "{}:{n}: {n} lines, over the limit of {MAX_LINES}; split it",
                rel(&p)
            ));
        }
    }
    assert_tidy(problems);
}

#[test]
fn the_code_map_names_every_module_and_nothing_else() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap_or_default();
    let map = codemap::read(&root(), &doc).unwrap_or_else(|e| panic!("{e}"));
    let files = crate_files();
    let mut problems = map.dangling;
    for f in files
        .iter()
        .filter(|f| !f.test_only && !map.named.contains(&f.path))
    {
        problems.push(format!(
            "{}:1: module missing from ARCHITECTURE.md's code map",
            f.path
        ));
    }
    for p in all_rust_files()
        .iter()
        .map(|p| rel(p))
        .filter(|p| p.starts_with("src/"))
    {
        if !files.iter().any(|f| f.path == p) {
            problems.push(format!(
                "{p}:1: not a module of the crate (no `mod` reaches it)"
            ));
        }
    }
    assert_tidy(problems);
}
