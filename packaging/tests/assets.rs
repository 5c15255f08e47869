//! The man pages and completions in `packaging/` are current: regenerating them
//! from the binary's clap definitions gives the same files (else: run
//! `packaging/gen-assets.sh`), and they cover what `--help` shows and nothing hidden.

use crate::build::repo;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hostwall");

fn hostwall(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{BIN}: {e}"));
    assert!(out.status.success(), "hostwall {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file below `dir/man` and `dir/completions`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.join("man"), dir.join("completions")];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                out.insert(rel.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    out
}

#[test]
fn checked_in_man_pages_and_completions_are_what_the_binary_generates() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    hostwall(&["gen-assets", &tmp.path().to_string_lossy()]);
    let fresh = tree(tmp.path());
    let checked_in = tree(&repo().join("packaging"));
    assert!(fresh.len() >= 5, "gen-assets wrote {:?}", fresh.keys());
    let stale: std::collections::BTreeSet<&String> = fresh
        .keys()
        .chain(checked_in.keys())
        .filter(|k| fresh.get(*k) != checked_in.get(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "packaging/ man pages or completions are not what the CLI generates: {stale:?}\n\
         regenerate them with packaging/gen-assets.sh and commit the result"
    );
}

/// The subcommands `hostwall --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let help = hostwall(&["--help"]);
    let mut in_list = false;
    let mut out = Vec::new();
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_list = true;
        } else if in_list && line.is_empty() {
            break;
        } else if in_list && line.starts_with("  ") && !line.starts_with("   ") {
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// The long options `hostwall SUB --help` lists in its Options section.
fn long_options(sub: &str) -> Vec<String> {
    hostwall(&[sub, "--help"])
        .lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let first = words.next()?;
            let long = match first.strip_prefix("--") {
                Some(long) => long,
                None if first.starts_with('-') && first.ends_with(',') => {
                    words.next()?.strip_prefix("--")?
                }
                None => return None,
            };
            Some(long.to_owned())
        })
        .collect()
}

#[test]
fn every_subcommand_has_a_man_page_and_completions_with_its_options() {
    let dir = repo().join("packaging");
    let read = |p: &str| {
        std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("packaging/{p}: {e}"))
    };
    let subs = subcommands();
    assert!(subs.len() >= 8, "subcommands from --help: {subs:?}");
    assert!(long_options("apply").contains(&"confirm".to_owned()));
    let top = read("man/hostwall.8");
    let shells = [
        read("completions/bash/hostwall"),
        read("completions/zsh/_hostwall"),
        read("completions/fish/hostwall.fish"),
    ];
    for sub in &subs {
        let page = read(&format!("man/hostwall-{sub}.8"));
        assert!(
            page.contains(&format!(".TH hostwall-{sub} 8")),
            "hostwall-{sub}.8 is not a section 8 page"
        );
        assert!(
            top.contains(&format!("hostwall\\-{sub}(8)")),
            "hostwall.8 omits {sub}"
        );
        for opt in long_options(sub) {
            let roff = format!("\\-\\-{}", opt.replace('-', "\\-"));
            assert!(page.contains(&roff), "hostwall-{sub}.8 omits --{opt}");
            for (i, text) in shells.iter().enumerate() {
                assert!(text.contains(&opt), "completion {i} omits {sub} --{opt}");
            }
        }
        for text in &shells {
            assert!(text.contains(sub.as_str()), "a completion omits {sub}");
        }
    }
    for hidden in ["watch-revert", "gen-assets", "state-dir"] {
        for text in shells.iter().chain([&top]) {
            assert!(!text.contains(hidden), "hidden {hidden} is offered");
        }
    }
}
