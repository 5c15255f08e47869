//! Unit tests of the output probes' plan (pure, no namespaces): each output
//! rule is probed at its nets' edges and ports, over the link its `out` name
//! matches; the default decides the rest; overlapping rules are crossed; what
//! no probe can reach is a "not probed" row; another ruleset's output chain
//! changes the outcomes.

use super::super::{Outcome, VerifyOptions, plan};
use crate::ir::Ruleset;
use crate::source::SourceMap;
use crate::verify::test_plan::{expect, expect_all};

fn compile(text: &str) -> (Ruleset, SourceMap) {
    let mut map = SourceMap::new();
    let file = map.add("o.policy", text);
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

/// (probe name, expected outcome) pairs, and (probe name, rules column) pairs.
type Rows = (Vec<(String, Outcome)>, Vec<(String, String)>);

/// The output probes of `text`: (name, expected) and (name, rules column).
fn output_plan(text: &str) -> Rows {
    let (rs, map) = compile(text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    let names = p.names();
    let (expected, rules) = (p.expected(), p.rules());
    let out = |i: &usize| names[*i].starts_with("output ");
    let idx: Vec<usize> = (0..names.len()).filter(out).collect();
    (
        idx.iter()
            .map(|&i| (names[i].to_string(), expected[i].clone()))
            .collect(),
        idx.iter()
            .map(|&i| (names[i].to_string(), rules[i].to_string()))
            .collect(),
    )
}

const WEB: &str = "policy o {
    allow ssh
    output {
        default reject
        allow tcp 80 to 192.0.2.0/28
        drop tcp 82
        allow udp 53 to 10.1.2.3-10.1.2.9 log prefix \"dns \"
        allow tcp 8443 to 2001:db8:5::/120
    }
}
";

#[test]
fn each_output_rule_is_probed_at_its_nets_edges_and_ports() {
    let (plan, rules) = output_plan(WEB);
    use Outcome::*;
    expect_all(
        &plan,
        &[
            // First, a member and the last of the net; just outside both ends.
            ("output tcp 80 -> 192.0.2.0 out hwv0", Open),
            ("output tcp 80 -> 192.0.2.7 out hwv0", Open),
            ("output tcp 80 -> 192.0.2.15 out hwv0", Open),
            ("output tcp 80 -> 192.0.1.255 out hwv0", Refused),
            ("output tcp 80 -> 192.0.2.16 out hwv0", Refused),
            // The ports next to the rule's, inside its net: the default's reset.
            ("output tcp 79 -> 192.0.2.0 out hwv0", Refused),
            ("output tcp 81 -> 192.0.2.15 out hwv0", Refused),
            // A range, its edges and outside; UDP refused by the default's ICMP.
            ("output udp 53 -> 10.1.2.3 out hwv0", Open),
            ("output udp 53 -> 10.1.2.9 out hwv0", Open),
            ("output udp 53 -> 10.1.2.2 out hwv0", Prohibited),
            ("output udp 53 -> 10.1.2.10 out hwv0", Prohibited),
            ("output udp 54 -> 10.1.2.6 out hwv0", Prohibited),
            // IPv6 net.
            ("output tcp 8443 -> 2001:db8:5:: out hwv0", Open),
            ("output tcp 8443 -> 2001:db8:5::ff out hwv0", Open),
            ("output tcp 8443 -> 2001:db8:5::100 out hwv0", Refused),
            // A drop anywhere: no answer; both families.
            ("output tcp 82 -> 198.18.0.2 out hwv0", Timeout),
            ("output tcp 82 -> fd00:6877::2 out hwv0", Timeout),
            // Nothing names these: the written default.
            ("output tcp 23 -> 198.18.0.2 out hwv0", Refused),
            ("output udp 8081 -> fd00:6877::2 out hwv0", Prohibited),
            ("output icmp echo -> 198.18.0.2 out hwv0", Prohibited),
            ("output icmpv6 echo -> fd00:6877::2 out hwv0", Prohibited),
        ],
    );
    // The rules column names the output rule by file:line.
    let row = |n: &str| {
        rules
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert!(
        row("output tcp 80 -> 192.0.2.7 out hwv0").starts_with("decided by o.policy:5 accept"),
        "{rules:#?}"
    );
    assert!(row("output tcp 82 -> 198.18.0.2 out hwv0").starts_with("decided by o.policy:6 drop"));
    assert!(row("output udp 53 -> 10.1.2.2 out hwv0").contains("samples o.policy:7"));
}

#[test]
fn the_default_is_accept_unless_written_and_drop_when_written() {
    let open = "policy o {\n    output {\n        drop tcp 25\n    }\n}\n";
    let (plan, _) = output_plan(open);
    expect_all(
        &plan,
        &[
            ("output tcp 25 -> 198.18.0.2 out hwv0", Outcome::Timeout),
            ("output tcp 24 -> 198.18.0.2 out hwv0", Outcome::Open),
            ("output udp 25 -> 198.18.0.2 out hwv0", Outcome::Open),
            ("output icmp echo -> 198.18.0.2 out hwv0", Outcome::Open),
            ("output tcp 8081 -> fd00:6877::2 out hwv0", Outcome::Open),
        ],
    );
    let closed =
        "policy o {\n    output {\n        default drop\n        allow udp 123\n    }\n}\n";
    let (plan, _) = output_plan(closed);
    expect_all(
        &plan,
        &[
            ("output udp 123 -> 198.18.0.2 out hwv0", Outcome::Open),
            ("output udp 124 -> fd00:6877::2 out hwv0", Outcome::Timeout),
            ("output tcp 123 -> 198.18.0.2 out hwv0", Outcome::Timeout),
            (
                "output icmpv6 echo -> fd00:6877::2 out hwv0",
                Outcome::Timeout,
            ),
        ],
    );
}

#[test]
fn no_output_block_plans_no_output_probes() {
    let (rs, map) = compile("policy o {\n    allow ssh\n}\n");
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.output.is_empty());
    assert!(!p.names().iter().any(|n| n.starts_with("output ")));
    assert_eq!(p.coverage().output, Default::default());
}

#[test]
fn an_out_interface_gets_a_link_named_to_match_and_the_default_link_shows_it_matters() {
    let text = "policy o {
    output {
        default drop
        allow tcp 5900 out \"virbr*\"
    }
}
";
    let (rs, map) = compile(text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    let link = (p.topo.links.iter())
        .find(|l| l.host_if == "virbr0")
        .unwrap_or_else(|| panic!("no virbr0 link: {:?}", p.topo.links));
    let peer = link.client_addr(true);
    let named: Vec<(String, Outcome)> = (p.names().into_iter())
        .zip(p.expected())
        .map(|(n, e)| (n.to_string(), e.clone()))
        .collect();
    assert_eq!(
        expect(&named, &format!("output tcp 5900 -> {peer} out virbr0")),
        Outcome::Open
    );
    assert_eq!(
        expect(&named, "output tcp 5900 -> 198.18.0.2 out hwv0"),
        Outcome::Timeout
    );
}

#[test]
fn overlapping_output_rules_are_crossed_and_counted() {
    let text = "policy o {
    output {
        default reject
        drop tcp 80 to 192.0.2.0/24
        allow tcp 70-90
    }
}
";
    let (rs, map) = compile(text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    let cov = &p.coverage().output;
    assert!(cov.rules >= 2, "{cov:?}");
    assert_eq!(cov.rules_probed, cov.rules, "{:#?}", p.coverage());
    assert!(cov.pairs >= 1 && cov.crossed == cov.pairs, "{cov:?}");
    let rules = p.rules();
    let crossing = (p.names().into_iter().zip(&rules))
        .find(|(_, r)| r.contains("crosses o.policy:4 × o.policy:5"))
        .unwrap_or_else(|| panic!("no crossing: {rules:#?}"));
    assert!(
        crossing.1.starts_with("decided by o.policy:4 drop"),
        "{crossing:?}"
    );
}

#[test]
fn a_ruleset_without_an_output_rule_or_with_its_port_changed_sees_other_outcomes() {
    let (rs, map) = compile(WEB);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    let mutate = |f: &dyn Fn(&mut crate::ir::Rule) -> bool| {
        let mut m = rs.clone();
        let out = (m.table.chains.iter_mut())
            .find(|c| c.name == "output")
            .unwrap_or_else(|| panic!("no output chain"));
        out.rules.retain_mut(|r| !f(r));
        m
    };
    let names = p.names();
    let expected = p.expected();
    let differs = |other: &Ruleset| -> Vec<String> {
        let seen = p.outcomes_under(other).unwrap_or_else(|e| panic!("{e}"));
        (0..names.len())
            .filter(|&i| *expected[i] != seen[i])
            .map(|i| names[i].to_string())
            .collect()
    };
    // Removing the `tcp 80 to 192.0.2.0/28` rule closes what it opened.
    let removed = mutate(&|r| r.comment.as_deref() == Some("tcp 80"));
    let d = differs(&removed);
    assert!(
        d.contains(&"output tcp 80 -> 192.0.2.7 out hwv0".to_string()),
        "{d:?}"
    );
    // Moving the drop to port 83: 82 is refused by the default, 83 silent.
    let moved = mutate(&|r| {
        if r.comment.as_deref() == Some("tcp 82") {
            r.matches = vec![crate::ir::Match::Dport(
                crate::ir::L4Proto::Tcp,
                crate::ir::PortMatch::Port(83),
            )];
        }
        false
    });
    let d = differs(&moved);
    assert!(
        d.contains(&"output tcp 82 -> 198.18.0.2 out hwv0".to_string()),
        "{d:?}"
    );
    assert!(
        d.contains(&"output tcp 83 -> fd00:6877::2 out hwv0".to_string()),
        "{d:?}"
    );
}

#[test]
fn nets_no_peer_can_hold_are_not_probed_rows_and_lab_addresses_are_never_peers() {
    let text = "policy o {
    output {
        default drop
        allow udp 5353 to 224.0.0.251
        allow tcp 80 to 198.18.0.0/16
    }
}
";
    let (rs, map) = compile(text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.topo
            .unprobed
            .iter()
            .any(|u| u.name == "output to 224.0.0.251"),
        "{:#?}",
        p.topo.unprobed
    );
    let lab: Vec<_> = (p.topo.links.iter())
        .flat_map(|l| [l.host_addr(true), l.client_addr(true)])
        .collect();
    for o in &p.output {
        let v = crate::space::addr_value(o.dst);
        let in_a_link = (p.topo.links.iter())
            .any(|l| crate::space::addr_value(l.host_addr(true)) >> 8 == v >> 8);
        assert!(
            !o.dst.is_ipv4() || !in_a_link || lab.contains(&o.dst),
            "{} is inside a test link's subnet",
            o.dst
        );
    }
    // The /16 is still probed from inside, at an address outside the test links.
    assert!(
        (p.output.iter()).any(|o| o.kind == super::ProbeKind::Tcp(80)
            && o.expected == Outcome::Open
            && !lab.contains(&o.dst)),
        "{:#?}",
        p.output
    );
}

#[test]
fn the_budget_cuts_output_probes_last_and_says_so() {
    let (rs, map) = compile(WEB);
    let all = plan(&rs, None, &opts(map.clone(), None)).unwrap_or_else(|e| panic!("{e}"));
    let cap = all.len() - all.output.len() + 3;
    let p = plan(&rs, None, &opts(map, Some(cap))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.output.len(), 3);
    assert_eq!(p.len(), cap);
    assert_eq!(p.coverage().cut, Some((cap, all.len())));
    assert_eq!(p.rules().len(), p.names().len());
    // Crossings are kept first.
    for o in &p.output {
        assert!(o.rules.iter().any(|g| g.len() == 2), "{o:?}");
    }
}

#[test]
fn a_large_output_block_is_planned_within_the_budget_crossings_first() {
    let mut text = String::from("policy o {\n    output {\n        default drop\n");
    for i in 0..300u32 {
        let net = format!("10.{}.{}.0/24", i / 256, i % 256);
        text.push_str(&format!("        allow tcp {} to {net}\n", 1000 + i));
    }
    text.push_str("        allow tcp 1000-2000\n    }\n}\n");
    let (rs, map) = compile(&text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.len() <= super::super::DEFAULT_PROBES, "{}", p.len());
    let (sent, planned) = p.coverage().cut.unwrap_or_else(|| panic!("no cut"));
    assert!(sent == p.len() && planned > sent, "{sent} of {planned}");
    // Every rule overlaps the last one: each pair's crossing probe was kept.
    let cov = &p.coverage().output;
    assert_eq!(cov.pairs, 300, "{cov:?}");
    assert_eq!(cov.crossed, 300, "{cov:?}");
}

#[test]
fn an_out_name_only_the_uplink_side_carries_is_probed_over_the_far_link() {
    let text = "policy o {
    forward {
        allow in \"virbr*\" out \"eth9\"
    }
    output {
        default drop
        allow tcp 443 out \"eth9\" to 203.0.113.0/24
    }
}
";
    let (rs, map) = compile(text);
    let p = plan(&rs, None, &opts(map, None)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (p.topo.far_links.iter()).any(|l| l.host_if == "eth9"),
        "{:?}",
        p.topo.far_links
    );
    assert!(
        !(p.topo.links.iter()).any(|l| l.host_if == "eth9"),
        "{:?}",
        p.topo.links
    );
    let named: Vec<(String, Outcome)> = (p.names().into_iter())
        .zip(p.expected())
        .map(|(n, e)| (n.to_string(), e.clone()))
        .collect();
    expect_all(
        &named,
        &[
            ("output tcp 443 -> 203.0.113.0 out eth9", Outcome::Open),
            ("output tcp 443 -> 203.0.113.255 out eth9", Outcome::Open),
            ("output tcp 443 -> 203.0.114.0 out eth9", Outcome::Timeout),
            ("output tcp 443 -> 198.18.0.2 out hwv0", Outcome::Timeout),
        ],
    );
    // The far side's peer addresses hold them, so listeners and routes are made there.
    let far: Vec<_> = p
        .topo
        .far_endpoints
        .iter()
        .map(|e| e.addr.to_string())
        .collect();
    assert!(far.contains(&"203.0.113.0".to_string()), "{far:?}");
    assert!(!(p.topo.endpoints.iter()).any(|e| e.addr.to_string() == "203.0.113.0"));
}
