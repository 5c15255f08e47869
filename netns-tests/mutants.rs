//! Issue #15 with real packets: `verify --against` the compiled ruleset of the
//! issue's policy with the SSH allow moved above the block list fails, naming
//! `tcp 22 from 203.0.113.x` and both policy lines; a sample of the mutation
//! test's mutants (tests/it/mutate.rs), written out as nft text and loaded
//! with `nft -f`, fails each that really differs and passes equivalent ones.

use crate::common::{our_namespaces, serial};
use crate::mutate::{Differs, corpus, differs, mutants};
use hostwall::ir::Hook;
use hostwall::verify::{VerifyOptions, render_table, verify};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Issue #15's policy: a block list, a reject, ssh, and http from one network.
const D: &str = include_str!("../tests/data/verify/issue15-d.policy");

/// `hostwall compile` of `text` written to `name` in `dir`: the policy's path and the
/// nft script it prints.
fn compile_with_cli(dir: &tempfile::TempDir, name: &str, text: &str) -> (PathBuf, String) {
    let policy = dir.path().join(name);
    std::fs::write(&policy, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .arg("compile")
        .arg(&policy)
        .output()
        .expect("compile");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (policy, String::from_utf8(out.stdout).expect("utf-8"))
}

/// `hostwall verify POLICY [--against RULESET]`.
fn verify_with_cli(policy: &Path, against: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostwall"));
    cmd.arg("verify").arg(policy);
    if let Some(a) = against {
        cmd.arg("--against").arg(a);
    }
    cmd.output().expect("verify")
}

#[test]
#[ignore = "needs root"]
fn moved_ssh_allow_fails_naming_the_probe_and_both_lines_issue15() {
    crate::support::root::require();
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, text) = compile_with_cli(&dir, "d.policy", D);
    let mut lines: Vec<&str> = text.lines().collect();
    let ssh = lines
        .iter()
        .position(|l| l.contains("tcp dport 22 accept"))
        .expect("ssh");
    let block = lines
        .iter()
        .position(|l| l.contains("ip saddr 203.0.113.0/24 drop"))
        .expect("drop");
    let moved = lines.remove(ssh);
    lines.insert(block, moved);
    let nft = dir.path().join("moved.nft");
    std::fs::write(&nft, lines.join("\n") + "\n").expect("write");
    let out = verify_with_cli(&policy, Some(&nft));
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fail = table
        .lines()
        .find(|l| l.starts_with("tcp 22 from 203.0.113.") && l.contains("FAIL"))
        .unwrap_or_else(|| panic!("no failing tcp 22 from the block list:\n{table}"));
    assert!(fail.contains("(blocked source)"), "{fail}");
    assert!(fail.contains("timeout     open"), "{fail}");
    assert!(
        fail.contains("d.policy:4") && fail.contains("d.policy:6"),
        "{fail}"
    );
    assert!(table.contains("coverage: "), "{table}");
    // The policy's own ruleset passes.
    let ok = verify_with_cli(&policy, None);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert_eq!(our_namespaces(), Vec::<String>::new());
}

/// Every `STRIDE`th mutant that really differs, and the first equivalent
/// ones, of the policies in `policies/`.
const STRIDE: usize = 13;
const EQUIVALENT: usize = 3;

#[test]
#[ignore = "needs root"]
fn a_sample_of_mutants_fails_verify_against_with_real_packets() {
    crate::support::root::require();
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut differing, mut equivalent) = (0usize, 0usize);
    let (mut killed, mut runs, mut time) = (0usize, 0usize, Duration::ZERO);
    let mut survivors = Vec::new();
    for (name, rs) in corpus()
        .into_iter()
        .filter(|(n, _)| n.contains("/policies/"))
    {
        for m in mutants(&rs, "input") {
            let really = match differs(&rs, &m.rs, Hook::Input) {
                Differs::Sendable(pkt) => {
                    differing += 1;
                    if differing % STRIDE != 1 {
                        continue;
                    }
                    Some(pkt)
                }
                Differs::No if equivalent < EQUIVALENT => {
                    equivalent += 1;
                    None
                }
                _ => continue,
            };
            let file = dir.path().join(format!("m{runs}.nft"));
            std::fs::write(&file, hostwall::emit::text::render(&m.rs, "mutant")).expect("write");
            let opts = VerifyOptions {
                against: Some(file),
                ..VerifyOptions::default()
            };
            let started = Instant::now();
            let report = verify(&rs, &opts).expect("verify sets up");
            time += started.elapsed();
            runs += 1;
            let table = render_table(&report);
            if let Some(pkt) = really {
                if report.all_passed() {
                    survivors.push(format!("{name}: {} (differs on {pkt:?}):\n{table}", m.what));
                } else {
                    killed += 1;
                }
            } else {
                assert!(
                    report.all_passed(),
                    "{name}: equivalent {} fails:\n{table}",
                    m.what
                );
            }
        }
    }
    eprintln!(
        "real packets: {killed} of {} differing mutants killed, {equivalent} equivalent passed, \
         {:.0} ms per verify",
        runs - equivalent,
        time.as_secs_f64() * 1000.0 / runs.max(1) as f64
    );
    assert!(runs - equivalent >= 8, "sample too small: {runs}");
    assert!(survivors.is_empty(), "{}", survivors.join("\n"));
    assert_eq!(our_namespaces(), Vec::<String>::new());
}

/// Issue #15: a 100,000-address block list is probed from inside, and the
/// `--against` ruleset missing one of its elements fails on exactly that
/// address (the boundary only the policy draws), with real packets.
#[test]
#[ignore = "needs root"]
fn one_element_missing_from_a_100k_block_list_fails_on_that_address() {
    crate::support::root::require();
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let addrs: Vec<String> = (0..100_000u32)
        .map(|i| std::net::Ipv4Addr::from(0x0b00_0000 + i * 2).to_string())
        .collect();
    let text = format!(
        "policy big {{\n    default reject\n    define blocklist = {}\n    drop from blocklist\n    \
         allow ssh tcp 22\n}}\n",
        addrs.join(", ")
    );
    let (policy, nft) = compile_with_cli(&dir, "big.policy", &text);
    let gone = &addrs[61_111];
    // An element is followed by ", " or, at the end of a line, ",\n".
    let mut dropped = nft.replacen(&format!(" {gone}, "), " ", 1);
    if dropped == nft {
        dropped = nft.replacen(&format!(" {gone},\n"), "\n", 1);
    }
    assert!(
        dropped.len() < nft.len(),
        "{gone} is not in the compiled set"
    );
    let file = dir.path().join("dropped.nft");
    std::fs::write(&file, dropped).expect("write");
    let started = Instant::now();
    let out = verify_with_cli(&policy, Some(&file));
    let took = started.elapsed();
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("verify --against a 100k block list took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{table}");
    let failed: Vec<&str> = table.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert!(!failed.is_empty(), "{table}");
    for l in &failed {
        assert!(l.contains(&format!(" from {gone} (blocked source)")), "{l}");
    }
    let inside = table
        .lines()
        .filter(|l| l.contains("(blocked source)"))
        .count();
    assert!(inside > 20, "{inside} probes from inside the list");
    assert_eq!(our_namespaces(), Vec::<String>::new());
}
