//! `verify` of the `output { }` block with real packets the host sends: the compiled
//! ruleset passes (opens, resets, ICMP refusals and silent drops all seen as `eval`
//! says), and a ruleset with an output rule removed or its port changed fails on the
//! probes of that rule, naming its `file:line`.

use crate::support::cli::{hostwall, text};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Ports, a destination net and a range, a logged rule, a drop, an `out` interface,
/// IPv6; the written default rejects.
const POLICY: &str = "policy vo {
    allow ssh
    output {
        default reject
        allow tcp 80 to 192.0.2.0/28
        allow udp 53 to 10.1.2.3-10.1.2.9 log prefix \"dns \"
        drop tcp 82
        allow tcp 5900 out \"virbr*\"
        allow udp 123 to 2001:db8:7::/120
    }
}
";

/// No default written (accept), a drop and a reject of its own.
const OPEN: &str = "policy vo {
    output {
        drop udp 514
        reject tcp 25 to 198.51.100.0/24
    }
}
";

/// A written `default drop`: silent for both protocols and echo.
const CLOSED: &str = "policy vo {
    output {
        default drop
        allow tcp 443
    }
}
";

/// An `out` name only the forward chain's uplink side carries: the peer is in the far
/// namespace.
const UPLINK: &str = "policy vo {
    forwarding on
    forward {
        allow in \"virbr*\" out \"eth9\"
    }
    output {
        default drop
        allow tcp 443 out \"eth9\" to 203.0.113.0/24
        allow udp 53 out \"eth9\"
    }
}
";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap_or_else(|e| panic!("write {name}: {e}"));
    p
}

/// `hostwall verify ARGS --config-dir DIR/etc`: (exit code, stdout).
fn verify(dir: &Path, args: &[&str]) -> (i32, String) {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let mut a = vec!["verify"];
    a.extend(args);
    a.extend(["--config-dir", etc.to_str().unwrap_or_default()]);
    let o = hostwall(&a);
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout) + &text(&o.stderr),
    )
}

/// The output probes of a JSON report.
fn output_probes(doc: &Value) -> Vec<&Value> {
    (doc["probes"].as_array().into_iter().flatten())
        .filter(|p| p["direction"] == "output")
        .collect()
}

/// The compiled ruleset of `policy` as an nft script.
fn compiled(dir: &Path, policy: &Path) -> String {
    let o = hostwall(&[
        "compile",
        policy.to_str().unwrap_or_default(),
        "--config-dir",
        dir.join("etc").to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
#[ignore = "needs root"]
fn the_compiled_output_block_passes_with_every_kind_of_answer() {
    crate::support::root::require();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, body, outcomes) in [
        (
            "main.policy",
            POLICY,
            &["open", "refused", "prohibited", "timeout"][..],
        ),
        ("open.policy", OPEN, &["open", "refused", "timeout"][..]),
        ("closed.policy", CLOSED, &["open", "timeout"][..]),
        ("uplink.policy", UPLINK, &["open", "timeout"][..]),
    ] {
        let p = write(dir.path(), name, body);
        let (code, out) = verify(dir.path(), &["--format", "json", p.to_str().unwrap_or("")]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(code, 0, "{name}: {out}");
        let probes = output_probes(&doc);
        assert!(probes.len() >= 10, "{name}: {out}");
        for p in &probes {
            assert_eq!(p["pass"], true, "{name}: {p}");
            assert_eq!(p["expected"], p["observed"], "{name}: {p}");
        }
        // What the kernel really answered covers every outcome the block implies.
        for want in outcomes {
            assert!(
                probes.iter().any(|p| p["observed"] == *want),
                "{name}: no output probe saw {want}: {out}"
            );
        }
        assert!(
            !(probes.iter()).any(|p| p["observed"]
                .as_str()
                .is_some_and(|o| o.starts_with("error"))),
            "{name}: {out}"
        );
        if name == "uplink.policy" {
            let over = |p: &&&Value| p["name"].as_str().is_some_and(|n| n.ends_with(" out eth9"));
            let opened = probes
                .iter()
                .filter(over)
                .filter(|p| p["observed"] == "open");
            assert!(opened.count() >= 4, "{name}: {out}");
        }
        let cov = &doc["coverage"]["output"];
        assert_eq!(cov["rules"], cov["rules_probed"], "{name}: {cov}");
        assert_eq!(cov["pairs"], cov["crossed"], "{name}: {cov}");
    }
    // The written default answers both protocols and echo in both families.
    let p = dir.path().join("main.policy");
    let (_, table) = verify(dir.path(), &[p.to_str().unwrap_or("")]);
    for row in [
        "output tcp 80 -> 192.0.2.7 out hwv0",
        "output tcp 80 -> 192.0.2.16 out hwv0",
        "output udp 53 -> 10.1.2.9 out hwv0",
        "output tcp 82 -> fd00:6877::2 out hwv0",
        "output icmpv6 echo -> fd00:6877::2 out hwv0",
        "output udp 123 -> 2001:db8:7::ff out hwv0",
    ] {
        let line = (table.lines())
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row}:\n{table}"));
        assert!(line.contains("PASS"), "{line}");
    }
    assert!(table.contains("output coverage: "), "{table}");
}

#[test]
#[ignore = "needs root"]
fn against_a_ruleset_with_an_output_rule_removed_or_moved_fails_naming_its_line() {
    crate::support::root::require();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = write(dir.path(), "main.policy", POLICY);
    let nft = compiled(dir.path(), &policy);
    let path = policy.to_str().unwrap_or_default();
    // (what changed, the script, a probe that must fail, the rule's line, its class)
    let cases = [
        (
            "the net rule removed",
            (nft.lines())
                .filter(|l| !l.contains("tcp dport 80 accept"))
                .collect::<Vec<_>>()
                .join("\n"),
            "output tcp 80 -> 192.0.2.0 out hwv0",
            5,
            "FAIL (security)",
        ),
        (
            "the logged rule's port changed",
            nft.replace("udp dport 53", "udp dport 54"),
            "output udp 53 -> 10.1.2.3 out hwv0",
            6,
            "FAIL (security)",
        ),
        (
            "the drop turned into the default's reject",
            nft.replace("tcp dport 82 drop", "tcp dport 82 reject with tcp reset"),
            "output tcp 82 -> 198.18.0.2 out hwv0",
            7,
            "FAIL (refused differently)",
        ),
    ];
    for (what, script, row, line, class) in cases {
        assert_ne!(script, nft, "{what}: the mutation did not apply");
        let against = write(dir.path(), "mutant.nft", &script);
        let args = [
            "--strict",
            "--against",
            against.to_str().unwrap_or(""),
            path,
        ];
        let (code, table) = verify(dir.path(), &args);
        assert_eq!(code, 1, "{what}:\n{table}");
        let failed = (table.lines())
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{what}: no row {row}:\n{table}"));
        assert!(failed.contains(class), "{what}: {failed}");
        assert!(
            failed.contains(&format!("{path}:{line}")),
            "{what}: the row does not name {path}:{line}: {failed}"
        );
    }
}

/// A reset and an ICMP port unreachable are both "refused" for the host's own connections,
/// in both families: over IPv6 the ICMP error for the host's SYN arrives while `connect`
/// holds the socket and wakes no poll; verify still reads it.
#[test]
#[ignore = "needs root"]
fn against_icmp_refusals_of_the_hosts_own_connections_they_count_as_refused() {
    crate::support::root::require();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = write(dir.path(), "main.policy", POLICY);
    let nft = compiled(dir.path(), &policy);
    let script = nft.replace(
        "meta l4proto tcp reject with tcp reset",
        "meta l4proto tcp reject with icmpx port-unreachable",
    );
    assert_ne!(script, nft, "the default's reset is not in the script");
    let against = write(dir.path(), "icmp.nft", &script);
    let args = [
        "--strict",
        "--against",
        against.to_str().unwrap_or(""),
        policy.to_str().unwrap_or(""),
    ];
    let (code, table) = verify(dir.path(), &args);
    assert_eq!(code, 0, "{table}");
    for row in [
        "output tcp 23 -> 198.18.0.2 out hwv0",
        "output tcp 23 -> fd00:6877::2 out hwv0",
        "output tcp 81 -> fd00:6877::2 out hwv0",
    ] {
        let line = (table.lines())
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row}:\n{table}"));
        assert!(
            line.contains("refused     refused") && line.contains("PASS"),
            "{line}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn junit_puts_output_probes_in_their_own_suites() {
    crate::support::root::require();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = write(dir.path(), "closed.policy", CLOSED);
    let (code, xml) = verify(dir.path(), &["--format", "junit", p.to_str().unwrap_or("")]);
    assert_eq!(code, 0, "{xml}");
    for suite in ["output ipv4", "output ipv6"] {
        assert!(
            xml.contains(&format!("<testsuite name=\"{suite}\"")),
            "{xml}"
        );
    }
    assert!(
        xml.contains("classname=\"hostwall.verify.output.ipv4\""),
        "{xml}"
    );
}
