//! Unit tests of the pure diff: interval arithmetic, rule alignment, each kind of change.

use super::rules::lcs_marks;
use super::*;
use crate::ir::{Interval, Rule, Set, SetKey, Table};

fn iv(lo: u128, hi: u128) -> Interval {
    Interval { lo, hi }
}

#[test]
fn subtract_intervals() {
    let a = vec![iv(0, 10), iv(20, 30)];
    let b = vec![iv(3, 4), iv(8, 22), iv(30, 30)];
    assert_eq!(subtract(&a, &b), vec![iv(0, 2), iv(5, 7), iv(23, 29)]);
    assert_eq!(subtract(&a, &[]), a);
    assert_eq!(subtract(&a, &[iv(0, 100)]), vec![]);
}

#[test]
fn lcs_finds_inserted_rule() {
    let e: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let a: Vec<String> = ["x", "a", "c", "b"].iter().map(|s| s.to_string()).collect();
    let (ie, ia) = lcs_marks(&e, &a);
    assert_eq!(ie.iter().filter(|x| **x).count(), 2);
    assert!(!ia[0]);
}

fn rule(port: u16) -> Rule {
    Rule {
        matches: vec![ir::Match::Dport(
            ir::L4Proto::Tcp,
            ir::PortMatch::Port(port),
        )],
        stmts: vec![],
        verdict: Some(ir::Verdict::Accept),
        comment: Some(format!("svc{port}")),
        origin: vec![],
    }
}

fn ruleset(ports: &[u16], elems: Vec<Interval>) -> Ruleset {
    Ruleset {
        table: Table {
            family: ir::Family::Inet,
            name: "hostwall".into(),
            sets: vec![Set {
                name: "allow_tcp".into(),
                key: SetKey::InetService,
                interval: true,
                elements: elems.into(),
                comment: None,
                timeout_ms: None,
                origin: vec![],
            }],
            chains: vec![Chain {
                name: "input".into(),
                base: Some(ir::BaseChain {
                    hook: ir::Hook::Input,
                    priority: 0,
                    policy: ir::ChainPolicy::Drop,
                }),
                rules: ports.iter().map(|p| rule(*p)).collect(),
            }],
        },
        sysctls: vec![ir::SysctlSetting {
            key: Sysctl::Ipv4Forward,
            value: true,
            origin: None,
        }],
    }
}

fn live(rs: &Ruleset, fwd: bool) -> Live {
    Live {
        table: Some(rs.table.clone()),
        sysctls: vec![(Sysctl::Ipv4Forward, Some(fwd))],
        ..Live::default()
    }
}

fn kinds(c: &[Change]) -> Vec<(Kind, Option<usize>)> {
    c.iter().map(|c| (c.kind, c.position)).collect()
}

fn head(family: &str, hook: &str) -> ChainHead {
    ChainHead {
        family: family.into(),
        chain_type: "filter".into(),
        hook: hook.into(),
        devices: vec![],
        priority: 0,
        policy: "accept".into(),
    }
}

#[test]
fn every_foreign_base_chain_warns_on_any_hook_with_its_judgement() {
    let want = ruleset(&[22], vec![]);
    let chain = |family: &str, hook: &str, name: &str, can_drop| ForeignChain {
        family: family.into(),
        table: "other".into(),
        chain: name.into(),
        head: head(family, hook),
        judgement: Judgement {
            can_drop,
            why: "rule 1: drop".into(),
        },
    };
    let mut l = live(&want, true);
    l.foreign = vec![
        chain("netdev", "ingress", "ing", CanDrop::Yes),
        chain("ip", "output", "out", CanDrop::Unknown),
        chain("ip6", "postrouting", "post", CanDrop::No),
        chain("arp", "input", "arpin", CanDrop::Yes),
    ];
    let c = diff(&want, &l);
    assert!(c.iter().all(|c| c.severity == Severity::Warning), "{c:#?}");
    let got: Vec<(String, Option<CanDrop>, String)> = c
        .iter()
        .map(|c| {
            (
                c.object.clone(),
                c.can_drop,
                c.actual.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(got[0].0, "table netdev other chain ing");
    assert!(
        got[0]
            .2
            .starts_with("type filter hook ingress priority 0; policy accept: can drop")
    );
    assert_eq!(got[1].1, Some(CanDrop::Unknown));
    assert!(got[1].2.contains("hook output") && got[1].2.contains("may drop"));
    assert!(got[2].2.contains("hook postrouting") && got[2].2.contains("cannot drop"));
    assert_eq!(got[3].0, "table arp other chain arpin");
    assert_eq!(c.len(), 4);
}

#[test]
fn extra_base_chain_reports_hook_priority_policy_and_rules() {
    let want = ruleset(&[22], vec![]);
    let mut have = ruleset(&[22], vec![]);
    have.table.chains.push(Chain {
        name: "sneaky".into(),
        base: Some(ir::BaseChain {
            hook: ir::Hook::Input,
            priority: -10,
            policy: ir::ChainPolicy::Drop,
        }),
        rules: vec![rule(3306)],
    });
    let c = diff(&want, &live(&have, true));
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].kind, Kind::ChainExtra);
    assert_eq!(
        c[0].actual.as_deref(),
        Some("type filter hook input priority -10; policy drop; 1 rule")
    );
    assert_eq!(
        c[0].rules,
        vec!["tcp dport 3306 accept comment \"svc3306\""]
    );
    assert_eq!(c[0].chain.as_ref().map(|h| h.priority), Some(-10));
    let text = render_text(&c);
    assert!(text.contains("rule 1: tcp dport 3306 accept"), "{text}");
}

#[test]
fn unmodelled_objects_are_drift_and_a_chain_of_ours_on_another_hook_is_a_hook_change() {
    let want = ruleset(&[22], vec![]);
    let mut l = live(&want, true);
    let odd = |kind, object: &str, actual: &str| Unmodelled {
        kind,
        object: object.into(),
        actual: actual.into(),
        chain: None,
        rules: vec![],
    };
    // The policy's own input chain, registered on ingress: its hook differs.
    let mut input = odd(Kind::ChainExtra, "chain input", "type filter hook ingress");
    input.chain = Some(head("inet", "ingress"));
    if let Some(t) = l.table.as_mut() {
        t.chains.clear();
    }
    l.unmodelled = vec![
        odd(Kind::ObjectExtra, "counter c1", "packets 0 bytes 0"),
        odd(
            Kind::FlowtableExtra,
            "flowtable ft",
            "hook ingress priority 0",
        ),
        input,
    ];
    let c = diff(&want, &l);
    assert_eq!(
        kinds(&c),
        vec![
            (Kind::ChainHook, None),
            (Kind::ObjectExtra, None),
            (Kind::FlowtableExtra, None)
        ],
        "{c:#?}"
    );
    assert!(c.iter().all(|c| c.severity == Severity::Drift));
    assert_eq!(
        c[0].chain.as_ref().map(|h| h.hook.as_str()),
        Some("ingress")
    );
}

#[test]
fn in_sync_is_empty_even_with_split_ranges() {
    let want = ruleset(&[22, 80], vec![iv(5634, 6166)]);
    let have = ruleset(&[22, 80], vec![iv(5634, 6000), iv(6001, 6166)]);
    assert_eq!(diff(&want, &live(&have, true)), vec![]);
}

#[test]
fn reports_each_kind_of_rule_drift() {
    let want = ruleset(&[22, 80, 443], vec![]);
    type Case = (Vec<u16>, Vec<(Kind, Option<usize>)>);
    let cases: Vec<Case> = vec![
        (vec![22, 80, 443, 3306], vec![(Kind::RuleAdded, Some(4))]),
        (vec![3306, 22, 80, 443], vec![(Kind::RuleAdded, Some(1))]),
        (vec![22, 443], vec![(Kind::RuleMissing, Some(2))]),
        (vec![22, 81, 443], vec![(Kind::RuleChanged, Some(2))]),
        (vec![80, 22, 443], vec![(Kind::RuleMoved, Some(2))]),
    ];
    for (ports, expect) in cases {
        let have = ruleset(&ports, vec![]);
        assert_eq!(kinds(&diff(&want, &live(&have, true))), expect, "{ports:?}");
    }
}

#[test]
fn reports_elements_policy_sysctl_and_absent_table() {
    let want = ruleset(&[22], vec![iv(22, 22), iv(5634, 6166)]);
    let mut have = ruleset(&[22], vec![iv(22, 22), iv(3306, 3306)]);
    if let Some(b) = have.table.chains[0].base.as_mut() {
        b.policy = ir::ChainPolicy::Accept;
    }
    let c = diff(&want, &live(&have, false));
    assert_eq!(
        c.iter()
            .map(|c| (c.kind, c.expected.clone(), c.actual.clone()))
            .collect::<Vec<_>>(),
        vec![
            (Kind::ElementMissing, Some("5634-6166".into()), None),
            (Kind::ElementExtra, None, Some("3306".into())),
            (
                Kind::ChainPolicy,
                Some("drop".into()),
                Some("accept".into())
            ),
            (Kind::Sysctl, Some("1".into()), Some("0".into())),
        ]
    );
    let none = Live {
        table: None,
        ..live(&have, true)
    };
    assert_eq!(kinds(&diff(&want, &none)), vec![(Kind::TableMissing, None)]);
}

#[test]
fn rules_match_by_content_one_insertion_is_one_change_issue13() {
    // The policy inserts 8080 and changes 9000 -> 9001 further down; the live table has
    // neither. Matched by content: one missing rule and one changed, nothing added.
    let want = ruleset(&[22, 80, 8080, 443, 9001], vec![]);
    let have = ruleset(&[22, 80, 443, 9000], vec![]);
    let c = diff(&want, &live(&have, true));
    assert_eq!(
        kinds(&c),
        vec![(Kind::RuleMissing, Some(3)), (Kind::RuleChanged, Some(5))],
        "{c:#?}"
    );
    // A hand rule where the policy's 8080 goes is that rule changed; elsewhere it is
    // one added and one missing.
    let have = ruleset(&[22, 80, 3306, 443, 9001], vec![]);
    let c = diff(&want, &live(&have, true));
    assert_eq!(kinds(&c), vec![(Kind::RuleChanged, Some(3))], "{c:#?}");
    let have = ruleset(&[22, 3306, 80, 443, 9001], vec![]);
    let c = diff(&want, &live(&have, true));
    assert_eq!(
        kinds(&c),
        vec![(Kind::RuleMissing, Some(3)), (Kind::RuleAdded, Some(2))],
        "{c:#?}"
    );
    let have = ruleset(&[22, 80, 8080, 443, 9001, 3306], vec![]);
    let c = diff(&want, &live(&have, true));
    assert_eq!(kinds(&c), vec![(Kind::RuleAdded, Some(6))]);
}

#[test]
fn set_elements_are_summarised_per_set_and_service_every_element_under_verbose_issue13() {
    let iv = |lo, hi| Interval { lo, hi };
    let mut want = ruleset(
        &[22],
        vec![iv(22, 22), iv(80, 80), iv(443, 443), iv(8000, 8010)],
    );
    want.table.chains[0].rules[0].matches = vec![ir::Match::Dport(
        ir::L4Proto::Tcp,
        ir::PortMatch::Set("allow_tcp".into()),
    )];
    let have = ruleset(&[22], vec![iv(22, 22), iv(25, 25)]);
    let mut l = live(&have, true);
    if let Some(t) = l.table.as_mut() {
        t.chains = want.table.chains.clone();
    }
    let c = diff(&want, &l);
    assert_eq!(c.len(), 4, "{c:#?}");
    assert!(
        c.iter().all(|c| c.service.as_deref() == Some("svc22")),
        "{c:#?}"
    );
    let text = render_text(&c);
    assert_eq!(
        text,
        "drift: set elements differ: set allow_tcp (service svc22): 3 missing, 1 added\n"
    );
    let v = super::render_text_verbose(&c);
    assert!(v.contains("    policy says: 8000-8010\n"), "{v}");
    assert!(v.contains("    live has:    25\n"), "{v}");
    assert_eq!(v.lines().count(), 5, "{v}");
}
