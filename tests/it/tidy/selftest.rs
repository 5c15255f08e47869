//! The tidy checks on small made-up files: each finds what it must and nothing that only
//! looks like it (in a comment, a string, test code, a longer identifier), so a green tidy
//! run means the tree is clean rather than that the scanner is blind.

use super::checks::{self, Breach};
use super::{codemap, modules, root};
use modules::ModFile;

/// A made-up file leaked for the test's length, so checks can take it like the tree's files.
fn file(text: &str) -> Vec<&'static ModFile> {
    vec![Box::leak(Box::new(ModFile::new(
        "src/x.rs", text, false, false,
    )))]
}

fn lines(breaches: &[Breach]) -> Vec<usize> {
    let mut out: Vec<usize> = breaches.iter().map(|b| b.line).collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn tidy_finds_printing_in_code_only() {
    let text = r##"//! x
fn a() { println!("x"); }
// println!("in a comment")
fn b() -> &'static str { "eprintln!(in a string)" }
fn c() { let s = r#"a " // dbg!(x)"#; eprint!("{s}"); }
fn d() -> char { '"' } fn e() { dbg!(1); }
/* outer /* nested */ print!("still a comment") */
#[cfg(test)]
mod tests {
    fn t() { println!("test output is fine"); }
}
fn f() { let _ = std::io::stderr(); my_println!(); }
"##;
    assert_eq!(lines(&checks::prints(&file(text))), vec![2, 5, 6, 12]);
}

#[test]
fn tidy_finds_every_way_of_ending_the_process() {
    let text = "//! x
fn a() { std::process::exit(2) }
fn b() { unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }; }
fn c(pid: i32) { unsafe { libc::kill(pid, libc::SIGTERM) }; }
fn d() { std::process::abort() }
#[cfg(test)]
fn e() { std::process::exit(0) }
";
    assert_eq!(lines(&checks::exits(&file(text))), vec![2, 3, 5]);
}

#[test]
fn tidy_finds_proc_sys_even_in_test_code_but_not_in_comments() {
    let text = "//! x
// reads /proc/sys in a comment
const P: &str = \"/proc/sys/net/ipv4/ip_forward\";
#[cfg(test)]
mod tests { const Q: &str = \"/proc/sys/net\"; }
";
    assert_eq!(lines(&checks::proc_sys(&file(text))), vec![3, 5]);
}

#[test]
fn tidy_finds_the_netlink_crates_as_crates_only() {
    let text = "//! x
use nftnl_sys as sys;
fn a() { let mnl = 3; let _ = mnl; }
fn b() -> mnl::Socket { todo!() }
#[cfg(test)]
mod tests { use nftnl::Rule; }
";
    assert_eq!(lines(&checks::netlink_crates(&file(text))), vec![2, 4]);
}

#[test]
fn tidy_finds_the_indirect_forms_too() {
    let prints = "//! x
use std::print as say;
fn a() { unsafe { libc::write(libc::STDERR_FILENO, b\"x\".as_ptr().cast(), 1) }; }
fn b() -> u8 { let printer = 1; printer }
";
    assert_eq!(lines(&checks::prints(&file(prints))), vec![2, 3]);
    let exits = "//! x
use std::process::{self, exit};
use std::process::Command;
unsafe extern \"C\" {
    fn _exit(code: i32) -> !;
}
fn a() { unsafe { libc::kill(std::process::id() as i32, libc::SIGKILL) }; }
fn b() { unsafe { libc::syscall(libc::SYS_exit_group, 0) }; }
fn exit_code() -> i32 { 3 }
";
    assert_eq!(lines(&checks::exits(&file(exits))), vec![2, 4, 7, 8]);
    let proc = "//! x
fn a() -> PathBuf { Path::new(\"/proc\").join(\"sys\").join(\"net\") }
fn b() -> PathBuf { Path::new(\"/proc\").join(\"self\") }
";
    assert_eq!(lines(&checks::proc_sys(&file(proc))), vec![2]);
    let netlink = "//! x
extern crate nftnl as n;
fn a() { let s = mnl :: Socket::new(); }
use ::nftnl_sys::nftnl_rule;
";
    assert_eq!(
        lines(&checks::netlink_crates(&file(netlink))),
        vec![2, 3, 4]
    );
}

#[test]
fn tidy_finds_io_syntax_and_the_nft_program_by_their_paths() {
    let io = "//! x
use crate::syntax::ast::File;
fn a(f: &File, env: &Env) -> usize { env::lookup(f) }
fn b() { let _ = std::fs::read(\"p\"); }
fn c() { let _ = Command::new(\"ip\"); }
fn d() { let _ = std::env::var(\"HOME\"); }
fn e() -> i32 { unsafe { libc::getpid() } }
#[cfg(test)]
mod tests { fn t() { let _ = std::fs::read(\"fixture\"); } }
";
    assert_eq!(lines(&checks::io(&file(io))), vec![4, 5, 6, 7]);
    let syntax = "//! x
use crate::syntax::ast;
fn a() { let _ = crate::syntax::parse(\"\"); }
fn b(syntax: u8) -> u8 { syntax }
use pest::Parser;
";
    assert_eq!(lines(&checks::syntax_uses(&file(syntax))), vec![2, 3, 5]);
    let nft = "//! x
fn a() { Command::new(\"nft\"); }
fn b() { Command::new(\"/usr/sbin/nft\"); }
// runs \"nft\" in a comment
fn c() -> &'static str { \"nftables\" }
";
    assert_eq!(lines(&checks::nft_program(&file(nft))), vec![2, 3]);
}

#[test]
fn tidy_wants_a_safety_comment_directly_above_each_unsafe() {
    let text = "//! x
// SAFETY: getpid has no preconditions.
fn a() -> i32 { unsafe { libc::getpid() } }
// SAFETY: this comment is about the next line only.
let x = 1;
let y = unsafe { libc::getpid() };
/// # Safety
/// `p` must be valid.
#[inline]
unsafe fn g(p: *const u8) {}
struct S { call: unsafe extern \"C\" fn(i32) -> i32 }
// unsafe in a comment, and \"unsafe\" in a string, are not uses
let z = unsafe { libc::getpid() }; // SAFETY: too late, after the code
";
    let files = file(text);
    assert_eq!(lines(&checks::unsafe_uses(&files)), vec![3, 6, 10, 11, 13]);
    assert_eq!(lines(&checks::undocumented_unsafe(&files)), vec![6]);
}

#[test]
fn tidy_judge_reports_breaches_outside_the_list_and_stale_entries() {
    let b = |file: &str| Breach {
        file: file.into(),
        line: 7,
        what: "`x`".into(),
    };
    let breaches = [b("src/nft/read.rs"), b("src/ir.rs")];
    let out = checks::judge("c", &breaches, &["src/nft/", "src/gone.rs"]);
    assert_eq!(
        out,
        vec![
            "src/ir.rs:7: c: `x`".to_string(),
            "tests/it/tidy.rs: c: entry `src/gone.rs` matches nothing; remove it".to_string(),
        ]
    );
}

#[test]
fn tidy_code_map_resolves_names_against_their_bullet() {
    let doc = "# A\n\n## Code map\n\n- `src/live/` — `dump.rs` and `nope.rs`\n- `src/eval.rs` — `host.rs`\n\n## Next\n- `src/missing.rs`\n";
    let map = codemap::read(&root(), doc).unwrap_or_else(|e| panic!("{e}"));
    let named: Vec<&str> = map.named.iter().map(String::as_str).collect();
    assert_eq!(
        named,
        vec![
            "src/eval.rs",
            "src/eval/host.rs",
            "src/live/",
            "src/live/dump.rs"
        ]
    );
    assert_eq!(
        map.dangling,
        vec!["ARCHITECTURE.md:5: `nope.rs` names no file".to_string()]
    );
}

#[test]
fn tidy_module_tree_follows_path_attributes_and_cfg_test() {
    let (files, problems) = modules::crate_files(&root());
    assert!(problems.is_empty(), "{problems:?}");
    let get = |p: &str| {
        files
            .iter()
            .find(|f| f.path == p)
            .unwrap_or_else(|| panic!("{p} not reached"))
    };
    assert!(
        get("src/eval_tests.rs").test_only,
        "declared under #[cfg(test)] with #[path]"
    );
    assert!(!get("src/eval.rs").test_only);
    assert!(get("src/main.rs").in_binary && !get("src/lib.rs").in_binary);
}
