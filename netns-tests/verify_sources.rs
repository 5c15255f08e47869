//! `verify` with sources of every address class: the ones
//! a probe can carry are probed with real packets, the others get a
//! "not probed" row, and no source makes verify fail to run.

use crate::common::*;
use hostwall::compile::compile;
use hostwall::model::{Policy, Proto, Verdict};
use hostwall::verify::{VerifyOptions, VerifyReport};
use std::process::Command;

/// (source, port of its rule, probe name of the permitted source's TCP probe
/// or `None` when it cannot be probed).
const CLASSES: [(&str, u16, Option<&str>); 15] = [
    (
        "169.254.3.3",
        1001,
        Some("tcp 1001 from 169.254.3.3 (permitted source)"),
    ),
    (
        "240.0.0.5",
        1002,
        Some("tcp 1002 from 240.0.0.5 (permitted source)"),
    ),
    (
        "0.1.2.3",
        1003,
        Some("tcp 1003 from 0.1.2.3 (permitted source)"),
    ),
    (
        "fe80::5",
        1004,
        Some("tcp 1004 from fe80::5 (permitted source)"),
    ),
    (
        "::1.2.3.4",
        1005,
        Some("tcp 1005 from ::102:304 (permitted source)"),
    ),
    (
        "127.0.0.1",
        1006,
        Some("tcp 1006 from 127.0.0.1 (permitted source) in lo"),
    ),
    (
        "127.8.0.0/16",
        1007,
        Some("tcp 1007 from 127.8.0.1 (permitted source) in lo"),
    ),
    (
        "::1",
        1008,
        Some("tcp 1008 from ::1 (permitted source) in lo"),
    ),
    ("::ffff:10.0.0.1", 1009, None),
    ("0.0.0.0", 1010, None),
    ("::", 1011, None),
    ("224.0.0.5", 1012, None),
    ("ff02::1", 1013, None),
    ("255.255.255.255", 1014, None),
    ("::ffff:0.0.0.0/96", 1015, None),
];

fn class_policy() -> Policy {
    let rules = CLASSES
        .iter()
        .map(|(net, port, _)| {
            let r = rule(Verdict::Accept, "svc", ports(Proto::Tcp, &[(*port, *port)]));
            from(r, "src", &[net])
        })
        .collect();
    policy("classes", rules)
}

fn run(p: &Policy, opts: &VerifyOptions) -> (VerifyReport, String) {
    let (report, table, _) = verify_run(&compile(p), opts);
    (report, table)
}

fn seen(report: &VerifyReport, name: &str) -> String {
    probe(report, name).seen.to_string()
}

#[test]
#[ignore = "needs root"]
fn every_source_class_is_probed_or_shown_not_probed() {
    crate::support::root::require();
    let (report, table) = verify_passes(&compile(&class_policy()));
    for (net, port, probe) in CLASSES {
        match probe {
            Some(name) => assert_eq!(seen(&report, name), "open", "{net}\n{table}"),
            None => {
                let shown = net.trim_end_matches("/32");
                let row = report
                    .not_probed
                    .iter()
                    .find(|n| n.name.starts_with(&format!("from {shown} ")))
                    .unwrap_or_else(|| panic!("{net}: no row\n{table}"));
                assert!(table.contains(&format!("not probed: {}", row.reason)));
                let _ = port;
            }
        }
    }
    // Outside the permitted sources the same ports are closed.
    assert_eq!(seen(&report, "tcp 1001 from 198.18.0.2"), "refused");
    assert_eq!(seen(&report, "tcp 1004 from fd00:6877::2"), "refused");
    let unprobed = CLASSES.iter().filter(|c| c.2.is_none()).count();
    assert_eq!(report.not_probed.len(), unprobed, "{table}");
    assert!(
        table.ends_with(&format!(
            "{} passed, 0 failed, {unprobed} not probed\n",
            report.probes.len()
        )),
        "{table}"
    );
}

#[test]
#[ignore = "needs root"]
fn loopback_probes_see_the_source_rules_without_a_lo_rule() {
    crate::support::root::require();
    // The policy's ruleset accepts all of lo first; `--against` a hand-written
    // one without that rule, a loopback source gets in only where its source
    // rule lets it: exactly the loopback probes of other ports fail.
    let p = class_policy();
    let text = hostwall::emit::text::render(&compile(&p), "bare");
    let bare: String = text
        .lines()
        .filter(|l| l.trim() != "iifname \"lo\" accept")
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(bare, text, "the lo rule was there");
    let (_dir, opts) = against_file(&bare);
    let (report, table) = run(&p, &opts);
    // A loopback probe passes without the lo rule only on its own rule's port
    // from inside that rule's net (the sampled addresses included).
    let own = |name: &str| {
        let w: Vec<&str> = name.split(' ').collect();
        let (Some(port), Some(addr)) = (
            w.get(1).and_then(|p| p.parse::<u16>().ok()),
            w.get(3).and_then(|a| a.parse::<std::net::IpAddr>().ok()),
        ) else {
            return false;
        };
        if w[0] != "tcp" {
            return false;
        }
        let net = |n: &str| n.parse::<ipnet::IpNet>().expect("net").contains(&addr);
        match port {
            1006 => net("127.0.0.1/32"),
            1007 => net("127.8.0.0/16"),
            1008 => net("::1/128"),
            _ => false,
        }
    };
    for probe in &report.probes {
        let lo = probe.name.ends_with(" in lo");
        assert_eq!(
            probe.pass,
            !lo || own(&probe.name),
            "{}\n{table}",
            probe.name
        );
    }
    let lo = |port: u16, addr: &str| format!("tcp {port} from {addr} (permitted source) in lo");
    assert_eq!(seen(&report, &lo(1006, "127.0.0.1")), "open", "{table}");
    assert_eq!(seen(&report, &lo(1001, "127.0.0.1")), "refused", "{table}");
    assert_eq!(seen(&report, &lo(1007, "127.8.0.1")), "open", "{table}");
    assert_eq!(seen(&report, &lo(1006, "127.8.0.1")), "refused", "{table}");
    assert_eq!(seen(&report, &lo(1008, "::1")), "open", "{table}");
    assert_eq!(seen(&report, &lo(1004, "::1")), "refused", "{table}");
}

#[test]
#[ignore = "needs root"]
fn cli_exits_0_for_the_reported_sources() {
    crate::support::root::require();
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("src.policy");
    std::fs::write(
        &file,
        "policy srcs {\n    default reject\n    allow ssh tcp 22 from ::ffff:10.0.0.1\n    \
         allow http tcp 80 from 127.0.0.1\n    allow https tcp 443 from 0.0.0.0\n}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .arg("verify")
        .arg(&file)
        .output()
        .expect("run hostwall");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tcp 80 from 127.0.0.1 (permitted source) in lo"),
        "{stdout}"
    );
    assert!(stdout.contains("from ::ffff:10.0.0.1 (ssh)"), "{stdout}");
    assert!(stdout.contains("from 0.0.0.0 (https)"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("0 failed, 2 not probed"),
        "{stdout}"
    );
}
