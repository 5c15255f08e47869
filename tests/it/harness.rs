//! The shared test support itself: the golden runner fails on a missing or different
//! expected file unless asked to write it (it must never write a missing `expected.txt`
//! and pass), the corpus walker refuses an empty corpus, and the nft runner reports nft's own error.

use crate::support::{corpus, golden, nft};

#[test]
fn a_missing_expected_file_fails_and_is_not_written_issue9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("expected.txt");
    let err = golden::compare_or_write(&path, "E0101 something\n", false)
        .expect_err("a missing expected file must fail");
    assert!(err.contains("cannot be read"), "{err}");
    assert!(err.contains("UPDATE_EXPECT=1"), "{err}");
    assert!(!path.exists(), "the runner wrote the missing file");
}

#[test]
fn a_different_expected_file_fails_naming_the_line_and_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("expected.nft");
    std::fs::write(&path, "a\nb\nc\n").expect("write");
    let err = golden::compare_or_write(&path, "a\nB\nc\n", false).expect_err("must differ");
    assert!(err.contains("line 2:"), "{err}");
    assert!(
        err.contains("expected: b") && err.contains("actual:   B"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\nb\nc\n");
    assert_eq!(golden::compare_or_write(&path, "a\nb\nc\n", false), Ok(()));
}

#[test]
fn update_mode_writes_missing_and_different_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("expected.txt");
    assert_eq!(golden::compare_or_write(&path, "one\n", true), Ok(()));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "one\n");
    assert_eq!(golden::compare_or_write(&path, "two\n", true), Ok(()));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
}

#[test]
fn every_case_folder_of_each_corpus_is_listed_sorted() {
    for (kind, at_least) in [("errors", 30), ("compile", 30)] {
        let dirs = corpus::case_dirs(kind);
        assert!(dirs.len() >= at_least, "{kind}: {}", dirs.len());
        assert!(dirs.windows(2).all(|w| w[0] < w[1]), "{kind} unsorted");
        assert!(dirs.iter().all(|d| d.join("policy").is_file()));
    }
    let shipped = corpus::shipped();
    assert!(shipped.len() >= 4);
    let site = shipped
        .iter()
        .find(|c| c.name.ends_with("migration-net.policy"))
        .and_then(|c| c.site.clone());
    assert!(site.is_some_and(|s| s.ends_with("migration-net.site.toml")));
    assert_eq!(
        corpus::clean().len(),
        shipped.len() + corpus::case_dirs("compile").len()
    );
}

#[test]
#[should_panic(expected = "nothing to test under tests/data/foreign")]
fn a_corpus_with_nothing_to_test_fails() {
    corpus::entries("tests/data/foreign", |p| p.ends_with("no-such-file"));
}

#[test]
#[should_panic(expected = "cannot read")]
fn a_missing_corpus_fails() {
    corpus::entries("tests/data/no-such-kind", |_| true);
}

#[test]
fn the_nft_runner_reports_nfts_own_error() {
    let err = nft::accepts("table inet t {\n chain c {\n  tcp dport 99999 accept\n }\n}\n")
        .expect_err("an out-of-range port is refused");
    assert!(err.contains("nft -c -f -"), "{err}");
    assert!(err.contains("Error"), "{err}");
    assert_eq!(
        nft::accepts("table inet t {\n chain c {\n  tcp dport 22 accept\n }\n}\n"),
        Ok(())
    );
}

/// A root-only test; run by `a_root_only_test_fails_without_root` as `nobody`.
#[test]
#[ignore = "needs root"]
fn root_only_probe() {
    crate::support::root::require();
}

/// Run as `nobody`, a root-only test fails saying it needs root (as root, the child
/// drops to nobody with setpriv; as a user, the child runs as is).
#[test]
fn a_root_only_test_fails_without_root() {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = if crate::support::root::is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    let o = cmd
        .args(["--include-ignored", "--exact", "harness::root_only_probe"])
        .output()
        .expect("run the test binary");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(101), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    assert!(out.contains("needs root"), "{out}");
}

/// Every test of the kernel and booted-system binaries is `#[ignore = "needs root..."]`
/// and starts with `support::root::require()`, and no test anywhere returns early
/// saying it was skipped (regression, issue #9 item 6: without root they printed
/// "needs root: skipped" and passed).
#[test]
fn root_only_tests_are_ignored_and_never_skip_green_issue9() {
    let mut wrong = Vec::new();
    for dir in ["netns-tests", "netns-tests/safe", "boot-tests"] {
        for file in corpus::files(dir, "rs") {
            let text = corpus::read(&file);
            wrong.extend(root_only_defects(&file.display().to_string(), &text));
        }
    }
    for dir in ["tests/it", "tests/it/safe"] {
        for file in corpus::files(dir, "rs") {
            let text = corpus::read(&file);
            for (i, l) in text.lines().enumerate() {
                if l.contains("skipped") && l.contains("eprintln!") && !l.contains("\"skipped\"") {
                    wrong.push(format!(
                        "{}:{}: a test that skips green",
                        file.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The tests of one file of a root-only binary that are not ignored as needing root, do
/// not require it first, or print that they skip.
fn root_only_defects(name: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut wrong = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("skipped") && l.contains("eprintln!") {
            wrong.push(format!("{name}:{}: a test that skips green", i + 1));
        }
        if l.trim() != "#[test]" {
            continue;
        }
        let attr = lines.get(i + 1).map_or("", |a| a.trim());
        if attr.starts_with("#[ignore = \"helper:") {
            continue;
        }
        if !attr.starts_with("#[ignore = \"needs root") {
            wrong.push(format!("{name}:{}: not #[ignore = \"needs root\"]", i + 2));
        }
        let body = lines
            .iter()
            .skip(i + 2)
            .take(4)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        if !body.contains("support::root::require()") && !body.contains("run(") {
            wrong.push(format!(
                "{name}:{}: does not call support::root::require() first",
                i + 3
            ));
        }
    }
    wrong
}
