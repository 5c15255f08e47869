//! Unit tests of the partition's probes (pure, no namespaces): overlapping
//! rules are crossed, large sets are sampled from inside, labels say what
//! the policy does with a source, the budget keeps crossings first.

use super::{Outcome, VerifyOptions, plan};
use crate::ir::{Match, Ruleset};
use crate::source::SourceMap;

fn compile(text: &str) -> (Ruleset, SourceMap) {
    let mut map = SourceMap::new();
    let file = map.add("d.policy", text);
    let (policy, diags) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    (crate::compile::compile(&policy), map)
}

fn opts(map: SourceMap, probes: Option<usize>) -> VerifyOptions {
    VerifyOptions {
        against: None,
        probes,
        sources: Some(map),
        live_tables: None,
    }
}

/// Issue #15's policy: a block list, a reject, ssh, and http from one network.
const D: &str = include_str!("../../tests/data/verify/issue15-d.policy");

/// The ruleset with the first rule whose comment is `comment` moved to `to`.
fn moved(rs: &Ruleset, comment: &str, to: usize) -> Ruleset {
    let mut m = rs.clone();
    let input = m
        .table
        .chains
        .iter_mut()
        .find(|c| c.name == "input")
        .expect("input");
    let at = input
        .rules
        .iter()
        .position(|r| r.comment.as_deref() == Some(comment))
        .expect("rule");
    let r = input.rules.remove(at);
    input.rules.insert(to, r);
    m
}

fn first_saddr_rule(rs: &Ruleset) -> usize {
    let input = rs
        .table
        .chains
        .iter()
        .find(|c| c.name == "input")
        .expect("input");
    input
        .rules
        .iter()
        .position(|r| r.matches.iter().any(|m| matches!(m, Match::Saddr(_))))
        .expect("saddr rule")
}

/// Names of the probes whose outcome under `other` differs from the policy's.
fn failing(p: &super::ProbePlan, other: &Ruleset) -> Vec<String> {
    let seen = p.outcomes_under(other).expect("eval");
    p.names()
        .iter()
        .zip(p.expected())
        .zip(seen)
        .filter(|((_, e), s)| *e != s)
        .map(|((n, _), _)| n.to_string())
        .collect()
}

#[test]
fn block_list_is_crossed_with_ssh_and_the_moved_rule_fails_issue15() {
    let (rs, map) = compile(D);
    let p = plan(&rs, None, &opts(map, None)).expect("plan");
    let (names, expected, rules) = (p.names(), p.expected(), p.rules());
    let i = names
        .iter()
        .position(|n| n.starts_with("tcp 22 from 203.0.113.") && n.ends_with("(blocked source)"))
        .unwrap_or_else(|| panic!("no tcp 22 from the block list: {names:#?}"));
    assert_eq!(*expected[i], Outcome::Timeout);
    assert!(
        rules[i].contains("decided by d.policy:4")
            && rules[i].contains("crosses d.policy:4")
            && rules[i].contains("× d.policy:6"),
        "{}",
        rules[i]
    );
    let ssh_first = moved(&rs, "ssh", first_saddr_rule(&rs));
    let fails = failing(&p, &ssh_first);
    assert!(
        fails
            .iter()
            .any(|n| n.starts_with("tcp 22 from 203.0.113.")),
        "{fails:?}"
    );
    assert!(
        fails
            .iter()
            .any(|n| n.starts_with("tcp 22 from 2001:db8:bad:")),
        "{fails:?}"
    );
    assert!(
        fails
            .iter()
            .all(|n| n.starts_with("tcp 22 from ") && n.contains("blocked")),
        "{fails:?}"
    );
    assert!(p.coverage().crossed > 0 && p.coverage().crossed <= p.coverage().pairs);
}

#[test]
fn a_source_rule_is_crossed_with_interface_and_udp_services_of_later_rules() {
    let (rs, map) = compile(
        "policy e {
    default drop
    drop from 10.0.0.0/8
    allow tcp 443 on \"eth*\"
    allow udp 53
    allow tcp 8000-8100 from 10.1.0.0/16
}
",
    );
    let p = plan(&rs, None, &opts(map, None)).expect("plan");
    let names = p.names();
    let has = |prefix: &str, suffix: &str| {
        names
            .iter()
            .any(|n| n.starts_with(prefix) && n.ends_with(suffix))
    };
    assert!(
        has("tcp 443 from 10.", "(blocked source) in eth0"),
        "{names:#?}"
    );
    assert!(has("udp 53 from 10.", "(blocked source)"), "{names:#?}");
    // The later allow is shadowed by the block, and a probe inside both shows it.
    assert!(has("tcp 8000 from 10.1.", "(blocked source)"), "{names:#?}");
    // Moving each of the later rules above the block fails some probe.
    for (comment, fails_on) in [
        ("tcp 443", "tcp 443"),
        ("udp 53", "udp 53"),
        ("tcp 8000-8100", "tcp 80"),
    ] {
        let m = moved(&rs, comment, first_saddr_rule(&rs));
        let fails = failing(&p, &m);
        assert!(
            fails.iter().any(|n| n.starts_with(fails_on)),
            "{comment}: {fails:?}"
        );
    }
}

#[test]
fn a_100k_block_list_is_probed_from_inside_every_chunk_and_both_families() {
    let mut text = String::from("policy big {\n    default reject\n    define blocklist = ");
    let mut v6 = Vec::new();
    for i in 0..100_000u32 {
        let a = std::net::Ipv4Addr::from(0x0b00_0000 + i * 2);
        text.push_str(&format!("{a}, "));
        if i % 1000 == 0 {
            v6.push(format!("2001:db8:{:x}::/48", i / 1000 * 2));
        }
    }
    text.push_str(&v6.join(", "));
    text.push_str("\n    drop from blocklist\n    allow ssh tcp 22\n}\n");
    let (rs, map) = compile(&text);
    let started = std::time::Instant::now();
    let p = plan(&rs, None, &opts(map, None)).expect("plan");
    let took = started.elapsed();
    assert!(p.len() <= super::DEFAULT_PROBES, "{} probes", p.len());
    let names = p.names();
    let inside: Vec<&&str> = names
        .iter()
        .filter(|n| n.contains("(blocked source)"))
        .collect();
    let first_last = ["from 11.0.0.0 ", "from 11.3.13.62 ", "from 2001:db8::"];
    for want in first_last {
        assert!(
            inside.iter().any(|n| n.contains(want)),
            "{want}: {inside:#?}"
        );
    }
    // Every chunk of the split set gets a probe from inside it.
    let chunks: Vec<&crate::ir::Set> = rs
        .table
        .sets
        .iter()
        .filter(|s| s.key == crate::ir::SetKey::Ipv4Addr)
        .collect();
    assert!(chunks.len() > 5, "{} chunks", chunks.len());
    for s in chunks {
        let hit = inside.iter().any(|n| {
            let addr = n
                .split(' ')
                .nth(3)
                .and_then(|a| a.parse::<std::net::IpAddr>().ok());
            addr.is_some_and(|a| {
                let v = crate::space::addr_value(a);
                s.elements.iter().any(|iv| iv.lo <= v && v <= iv.hi)
            })
        });
        assert!(hit, "no probe from inside set {}", s.name);
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("tcp 22 from 11.") && n.contains("blocked"))
    );
    assert!(
        took < std::time::Duration::from_secs(60),
        "planning took {took:?}"
    );
}

#[test]
fn labels_say_what_the_policy_does_with_the_source() {
    let (rs, map) = compile(D);
    let p = plan(&rs, None, &opts(map, None)).expect("plan");
    for n in p.names() {
        let from = n.split(" from ").nth(1).unwrap_or("");
        if from.starts_with("203.0.113.") || from.starts_with("198.51.100.") {
            assert!(n.contains("(blocked source)"), "{n}");
        }
        if from.starts_with("192.0.2.") {
            assert!(n.contains("(permitted source)"), "{n}");
        }
        assert!(!n.contains("non-permitted"), "{n}");
    }
}

#[test]
fn the_budget_keeps_crossings_first_and_says_it_cut() {
    let (rs, map) = compile(D);
    let full = plan(&rs, None, &opts(map.clone(), None)).expect("plan");
    let small = plan(&rs, None, &opts(map, Some(40))).expect("plan");
    assert!(
        small.len() <= 40 && full.len() > 40,
        "{} / {}",
        small.len(),
        full.len()
    );
    assert_eq!(small.coverage().cut, Some((small.len(), full.len())));
    assert_eq!(small.coverage().crossed, full.coverage().crossed);
    let ssh_first = moved(&rs, "ssh", first_saddr_rule(&rs));
    assert!(!failing(&small, &ssh_first).is_empty());
}

/// A rule's prefix one bit wider in the `--against` ruleset: the boundary
/// only it draws gets probes on both sides, one that the two rulesets
/// decide differently (here a TCP reject widened over an HTTPS allow).
#[test]
fn a_prefix_one_wider_in_the_against_ruleset_fails_a_probe_past_the_edge() {
    let (rs, map) = compile(
        "policy p {
    reject tcp 22 from 10.0.0.0/8
    reject from 10.0.0.0/8
    reject on \"eth1\"
    allow https
}
",
    );
    let mut wide = rs.clone();
    let input = wide
        .table
        .chains
        .iter_mut()
        .find(|c| c.name == "input")
        .expect("input");
    let at = first_saddr_rule(&rs);
    input.rules[at].matches[0] =
        Match::Saddr(crate::ir::AddrMatch::V4("10.0.0.0/7".parse().expect("net")));
    let p = plan(&rs, Some(&wide), &opts(map, None)).expect("plan");
    let fails = failing(&p, &wide);
    assert!(
        fails.iter().any(|n| n.starts_with("tcp 443 from 11.")),
        "{fails:?}"
    );
}
