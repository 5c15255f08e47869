//! `verify` counts out rate-limited rules with real connections in a lab of their
//! own: a per-source limit's burst from one source, the connections after it refused,
//! a second source with its own bucket; a plain limit the same without the second
//! source. Rulesets without the limit, or with one bucket for every source, fail.

use crate::common::*;
use crate::support::corpus::compile_text;
use hostwall::verify::VerifyOptions;

const POLICY: &str = "policy lim {
    default reject
    allow ssh limit 10/minute per source burst 3
    allow tcp 80 limit 2/minute burst 4
    allow tcp 81 limit 1/second
}
";

const SSH_V4: &str = "update @allow_limit4 { ip saddr limit rate 10/minute burst 3 packets } ";

fn against(from: &str, to: &str) -> (tempfile::TempDir, VerifyOptions) {
    mutant_against(POLICY, "lim", from, to)
}

#[test]
#[ignore = "needs root"]
fn limits_are_counted_out_per_source_and_plain() {
    crate::support::root::require();
    let (report, table) = verify_passes(&compile_text(POLICY));
    for (name, seen) in [
        (
            "limit per source: tcp 22 from 198.18.0.2: 3 new connections (its burst)",
            "open",
        ),
        (
            "limit per source: tcp 22 from 198.18.0.2: 2 more (over the limit)",
            "refused",
        ),
        (
            "limit per source: tcp 22 from 203.0.113.7: its own bucket",
            "open",
        ),
        (
            "limit per source: tcp 22 from fd00:6877::2: 2 more (over the limit)",
            "refused",
        ),
        (
            "limit: tcp 80 from 198.18.0.2: 4 new connections (its burst)",
            "open",
        ),
        (
            "limit: tcp 80 from 198.18.0.2: 2 more (over the limit)",
            "refused",
        ),
    ] {
        let p = probe(&report, name);
        assert_eq!(p.seen.to_string(), seen, "{name}\n{table}");
        assert!(
            p.rules.starts_with("counts out input rule"),
            "{name}: {}",
            p.rules
        );
    }
    // A token every second refills while the burst is counted: a row says why not.
    let row = report
        .not_probed
        .iter()
        .find(|n| n.name.starts_with("limit of") && n.name.contains("(tcp 81)"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.reason.contains("refills a token every 1.000 s"),
        "{}",
        row.reason
    );
}

#[test]
#[ignore = "needs root"]
fn a_ruleset_without_the_limit_or_with_one_bucket_fails() {
    crate::support::root::require();
    let rs = compile_text(POLICY);
    let (_d, no_limit) = against("limit rate 2/minute burst 4 packets ", "");
    let (report, table) = verify_quick(&rs, &no_limit);
    assert_eq!(
        failed_probes(&report),
        ["limit: tcp 80 from 198.18.0.2: 2 more (over the limit)"],
        "{table}"
    );
    let (_d, no_source) = against(SSH_V4, "");
    let (report, table) = verify_quick(&rs, &no_source);
    assert_eq!(
        failed_probes(&report),
        ["limit per source: tcp 22 from 198.18.0.2: 2 more (over the limit)"],
        "{table}"
    );
    let (_d, shared) = against(SSH_V4, "limit rate 10/minute burst 3 packets ");
    let (report, table) = verify_quick(&rs, &shared);
    assert_eq!(
        failed_probes(&report),
        ["limit per source: tcp 22 from 203.0.113.7: its own bucket"],
        "{table}"
    );
}
