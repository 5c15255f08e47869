//! `verify` probes `to ADDR` input rules with real packets: the host namespace owns
//! each named address (first, last and just outside each net), the named address gets
//! the rule's verdict and the others do not; a ruleset whose `to` match was dropped or
//! moved to another address fails.

use crate::common::*;
use crate::support::corpus::compile_text;
use hostwall::verify::VerifyOptions;

const POLICY: &str = "policy to {
    default reject
    allow tcp 80 to 192.0.2.10
    allow tcp 443 to 2001:db8:5::/64
    allow ssh to 192.0.2.20-192.0.2.29
    drop udp 53 to 192.0.2.40
    allow udp 53
}
";

/// The policy's compiled text with `from` replaced by `to`, as an `--against` file.
fn against(from: &str, to: &str) -> (tempfile::TempDir, VerifyOptions) {
    mutant_against(POLICY, "to", from, to)
}

#[test]
#[ignore = "needs root"]
fn to_rules_are_probed_at_their_addresses_and_the_others() {
    crate::support::root::require();
    let (report, table) = verify_passes(&compile_text(POLICY));
    for (name, seen) in [
        ("tcp 80 to 192.0.2.10 from 198.18.0.2", "open"),
        ("tcp 80 to 192.0.2.9 from 198.18.0.2", "refused"),
        ("tcp 80 to 192.0.2.11 from 198.18.0.2", "refused"),
        ("tcp 80 from 198.18.0.2", "refused"),
        ("tcp 22 to 192.0.2.20 from 198.18.0.2", "open"),
        ("tcp 22 to 192.0.2.29 from 198.18.0.2", "open"),
        ("tcp 22 to 192.0.2.30 from 198.18.0.2", "refused"),
        ("udp 53 to 192.0.2.40 from 198.18.0.2", "timeout"),
        ("udp 53 to 192.0.2.41 from 198.18.0.2", "open"),
        ("tcp 443 to 2001:db8:5:: from fd00:6877::2", "open"),
        ("tcp 443 to 2001:db8:5:1:: from fd00:6877::2", "refused"),
        ("tcp 443 from fd00:6877::2", "refused"),
    ] {
        assert_eq!(
            probe(&report, name).seen.to_string(),
            seen,
            "{name}\n{table}"
        );
    }
    // Every pair with a `to` rule that a new connection can cross is crossed.
    let c = &report.coverage;
    assert!(
        !c.not_crossed
            .iter()
            .any(|(_, why)| why.contains("destination")
                && !why.contains("127.0.0.1")
                && !why.contains("::1")),
        "{:?}",
        c.not_crossed
    );
}

/// The `to` match moved to another address: only the probes to the named address see it.
#[test]
#[ignore = "needs root"]
fn a_moved_or_dropped_to_match_fails() {
    crate::support::root::require();
    let rs = compile_text(POLICY);
    let (_d, moved) = against("ip daddr 192.0.2.10 ", "ip daddr 192.0.2.12 ");
    let (report, table) = verify_quick(&rs, &moved);
    assert_eq!(
        failed_probes(&report),
        ["tcp 80 to 192.0.2.10 from 198.18.0.2"],
        "{table}"
    );
    let (_d, dropped) = against("ip6 daddr 2001:db8:5::/64 ", "");
    let (report, table) = verify_quick(&rs, &dropped);
    let failed = failed_probes(&report);
    assert!(
        failed.contains(&"tcp 443 to 2001:db8:5:1:: from fd00:6877::2"),
        "{table}"
    );
    assert!(failed.iter().all(|n| n.starts_with("tcp 443 ")), "{table}");
}
