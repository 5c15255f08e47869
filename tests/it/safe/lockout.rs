//! The lockout guard over a real compiled policy (IR evaluator), not a fake judge:
//! a client outside the policy's management network is refused with the rule named,
//! one inside it passes, for IPv4 and IPv6.

use hostwall::check::{NoIncludes, check};
use hostwall::safe::lockout::{self, Judgement, Probe, judge_with_eval, parse_ssh_connection};
use hostwall::source::SourceMap;

/// Checks and compiles one compile-golden case, keeping the source map for locations.
fn compiled(case: &str) -> (SourceMap, hostwall::ir::Ruleset) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compile")
        .join(case);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("case file");
    let mut map = SourceMap::new();
    let file = map.add("host.policy", read("policy"));
    let site = map.add("site.toml", read("site.toml"));
    let (policy, diags) = check(&mut map, file, Some(site), &NoIncludes);
    assert!(diags.is_empty(), "{diags:?}");
    let rs = hostwall::compile::compile(&policy.expect("checks"));
    (map, rs)
}

fn verdict_for(conn: &str) -> Result<(), String> {
    let (map, rs) = compiled("003-migration-net");
    let probe = Probe {
        iif: Some("eth0".into()),
        ..parse_ssh_connection(conn).expect("SSH_CONNECTION")
    };
    lockout::check(&probe, &|p| judge_with_eval(&rs, Some(&map), p)).map_err(|e| e.to_string())
}

#[test]
fn ssh_from_outside_the_management_network_is_refused_with_the_reason() {
    let msg = verdict_for("192.0.2.10 51234 10.0.0.1 22").expect_err("locked out");
    assert!(
        msg.starts_with("refusing to apply: this policy would lock out the SSH session"),
        "{msg}"
    );
    assert!(msg.contains("a new connection from 192.0.2.10 port 51234 to 10.0.0.1 port 22/tcp (on eth0) would be "), "{msg}");
    assert!(
        msg.contains(
            "rejected by rule 16 of chain input, the policy's `default`: no allow rule matches\n"
        ),
        "{msg}"
    );
    let v6 = verdict_for("2001:db8::9 40000 fd00:10::1 22").expect_err("v6 locked out");
    assert!(
        v6.contains("from 2001:db8::9 port 40000 to fd00:10::1 port 22/tcp"),
        "{v6}"
    );
}

#[test]
fn ssh_from_the_management_network_passes() {
    assert_eq!(verdict_for("10.0.0.5 51234 10.0.0.1 22"), Ok(()));
    assert_eq!(verdict_for("fd00:10::5 40000 fd00:10::1 22"), Ok(()));
    assert_eq!(
        verdict_for("::ffff:10.0.0.5 51234 ::ffff:10.0.0.1 22"),
        Ok(())
    );
}

#[test]
fn an_explicit_reject_rule_is_named_with_its_policy_line() {
    let (map, rs) = compiled("003-migration-net");
    let probe = parse_ssh_connection("10.0.0.5 51234 10.0.0.1 16509").expect("probe");
    match judge_with_eval(&rs, Some(&map), &probe) {
        Judgement::Refused { by, .. } => {
            assert!(by.contains("host.policy:21:5"), "{by}");
            assert!(by.ends_with("\"libvirt-tcp\""), "{by}");
        }
        Judgement::Accepted => panic!("libvirt-tcp is rejected by the policy"),
    }
}
