//! Conflicts from hand-built tables: both directions, through jumps and gotos, with
//! unknowns as "may", grouped suggestions, and silence when nothing conflicts.

use super::*;
use crate::ir::host::HostRule;
use crate::ir::{self, AddrMatch, BaseChain, ChainPolicy, Hook, IfName, L4Proto, Rule, Verdict};
use crate::source::FileId;

fn span(line: u32) -> Span {
    Span {
        file: FileId(0),
        start: line,
        end: line + 1,
    }
}

fn locate(s: &Span) -> String {
    format!("host.policy:{}:5", s.start)
}

fn tcp(p: u16) -> Match {
    Match::Dport(L4Proto::Tcp, PortMatch::Port(p))
}

fn ours(accept: &[(u16, u32)]) -> Table {
    let mut rules: Vec<Rule> = accept
        .iter()
        .map(|(p, line)| Rule {
            matches: vec![tcp(*p)],
            stmts: vec![],
            verdict: Some(Verdict::Accept),
            comment: None,
            origin: vec![span(*line)],
        })
        .collect();
    rules.push(Rule {
        matches: vec![],
        stmts: vec![],
        verdict: Some(Verdict::Reject(ir::RejectWith::IcmpxAdminProhibited)),
        comment: None,
        origin: vec![],
    });
    Table {
        family: ir::Family::Inet,
        name: "hostwall".into(),
        sets: vec![],
        chains: vec![ir::Chain {
            name: "input".into(),
            base: Some(BaseChain {
                hook: Hook::Input,
                priority: 0,
                policy: ChainPolicy::Accept,
            }),
            rules,
        }],
    }
}

#[path = "../../tests/support/build/host.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::host_rule as hrule;

/// An input base chain at `base` (priority, policy), or a regular chain without it.
fn chain(name: &str, base: Option<(i32, ChainPolicy)>, rules: Vec<HostRule>) -> HostChain {
    match base {
        Some((priority, policy)) => {
            build::host_base(name, HostHook::Input, priority, policy, rules)
        }
        None => build::host_regular(name, rules),
    }
}

fn table(family: TableFamily, name: &str, chains: Vec<HostChain>) -> HostTable {
    build::host_table(family, name, false, chains)
}

/// firewalld-like: a zone reached by jump then goto accepts ssh; the base chain rejects
/// the rest after the zones.
fn zones() -> HostTable {
    table(
        TableFamily::Inet,
        "fw",
        vec![
            chain(
                "in",
                Some((10, ChainPolicy::Accept)),
                vec![
                    hrule(vec![], Action::Jump("zones".into())),
                    hrule(
                        vec![],
                        Action::Reject("reject with icmpx admin-prohibited".into()),
                    ),
                ],
            ),
            chain(
                "zones",
                None,
                vec![hrule(vec![], Action::Goto("public".into()))],
            ),
            chain(
                "public",
                None,
                vec![hrule(vec![Cond::Is(tcp(22))], Action::Accept)],
            ),
        ],
    )
}

#[test]
fn an_allow_refused_by_another_table_names_its_rule_and_our_line_issue10() {
    let c = conflicts(&ours(&[(8443, 3)]), &[zones()], None, &locate);
    let d: Vec<_> = c
        .iter()
        .filter(|c| c.kind == Kind::PolicyDefeated)
        .collect();
    assert_eq!(d.len(), 1, "{c:#?}");
    assert_eq!(d[0].object, "table inet fw chain in");
    assert_eq!(d[0].policy_line.as_deref(), Some("host.policy:3:5"));
    assert_eq!(d[0].can_drop, Some(CanDrop::Yes));
    let actual = d[0].actual.as_deref().unwrap_or("");
    assert!(
        actual.starts_with("rule 2 of chain in (reject with icmpx admin-prohibited) rejects it"),
        "{actual}"
    );
    // ssh is accepted by the zone: no conflict for it.
    let c = conflicts(&ours(&[(22, 3)]), &[zones()], None, &locate);
    assert!(!c.iter().any(|c| c.kind == Kind::PolicyDefeated), "{c:#?}");
}

#[test]
fn another_tables_accept_that_ours_refuses_gets_a_grouped_suggestion_issue10() {
    let virbr = |p: u16, proto: L4Proto| {
        vec![
            Cond::Is(Match::IifName(IfName {
                name: "virbr1".into(),
                wildcard: false,
            })),
            Cond::Is(Match::Dport(proto, PortMatch::Port(p))),
        ]
    };
    let libvirt = table(
        TableFamily::Ip,
        "filter",
        vec![
            chain(
                "INPUT",
                Some((0, ChainPolicy::Accept)),
                vec![hrule(vec![], Action::Jump("INP".into()))],
            ),
            chain(
                "INP",
                None,
                vec![
                    hrule(virbr(53, L4Proto::Udp), Action::Accept),
                    hrule(virbr(67, L4Proto::Udp), Action::Accept),
                    hrule(virbr(22, L4Proto::Tcp), Action::Accept),
                ],
            ),
        ],
    );
    let c = conflicts(&ours(&[(22, 4)]), &[libvirt], Some(0), &locate);
    let r: Vec<_> = c.iter().filter(|c| c.kind == Kind::PolicyRefuses).collect();
    let objects: Vec<_> = r.iter().map(|c| c.object.as_str()).collect();
    assert_eq!(
        objects,
        [
            "table ip filter chain INP rule 1",
            "table ip filter chain INP rule 2"
        ]
    );
    for c in &r {
        assert_eq!(
            c.suggestion.as_deref(),
            Some("allow udp 53, 67 on \"virbr1\"  # dhcp, dns on virbr1")
        );
        assert!(
            c.expected.as_deref().unwrap_or("").contains("rejects it"),
            "{c:#?}"
        );
    }
}

#[test]
fn an_unknown_on_the_way_is_a_may_warning_never_silence_issue10() {
    let t = table(
        TableFamily::Ip,
        "q",
        vec![chain(
            "in",
            Some((-5, ChainPolicy::Accept)),
            vec![hrule(
                vec![Cond::Unknown("xt match \"recent\"".into())],
                Action::Drop,
            )],
        )],
    );
    let c = conflicts(&ours(&[(8443, 3)]), std::slice::from_ref(&t), None, &locate);
    let d: Vec<_> = c
        .iter()
        .filter(|c| c.kind == Kind::PolicyDefeated)
        .collect();
    assert_eq!(d.len(), 1, "{c:#?}");
    assert_eq!(d[0].can_drop, Some(CanDrop::Unknown));
    assert!(
        d[0].actual.as_deref().unwrap_or("").contains("may drop it"),
        "{d:#?}"
    );
    // The same table only accepting: nothing to say.
    let mut quiet = t;
    quiet.chains[0].rules = vec![hrule(vec![], Action::Accept)];
    assert!(conflicts(&ours(&[(8443, 3)]), &[quiet], None, &locate).is_empty());
}

#[test]
fn interfaces_take_the_networks_other_rules_pair_them_with_issue10() {
    let virbr = |wildcard| IfName {
        name: if wildcard { "virbr" } else { "virbr0" }.into(),
        wildcard,
    };
    let guests = || Match::Saddr(AddrMatch::V4("192.168.122.0/24".parse().unwrap()));
    let mut t = ours(&[]);
    t.chains = vec![ir::Chain {
        name: "forward".into(),
        base: Some(BaseChain {
            hook: Hook::Forward,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules: vec![
            Rule {
                matches: vec![Match::IifName(virbr(true)), guests()],
                stmts: vec![],
                verdict: Some(Verdict::Accept),
                comment: None,
                origin: vec![span(7)],
            },
            Rule {
                matches: vec![],
                stmts: vec![],
                verdict: Some(Verdict::Drop),
                comment: None,
                origin: vec![],
            },
        ],
    }];
    let fwd = |name: &str, rules| {
        let mut c = chain(name, Some((0, ChainPolicy::Accept)), rules);
        if let Some(b) = c.base.as_mut() {
            b.hook = Some(HostHook::Forward);
        }
        c
    };
    let iif = Cond::Is(Match::IifName(virbr(false)));
    let oif = Cond::Is(Match::OifName(virbr(false)));
    let libvirt = table(
        TableFamily::Ip,
        "filter",
        vec![fwd(
            "FORWARD",
            vec![
                hrule(vec![iif.clone(), oif], Action::Accept),
                hrule(vec![iif, Cond::Is(guests())], Action::Accept),
            ],
        )],
    );
    // Guests' traffic on virbr0 comes from 192.168.122.0/24 (the FWO rule says so):
    // the policy allows it, so libvirt's bridge-internal accept is no conflict.
    let c = conflicts(&t, std::slice::from_ref(&libvirt), None, &locate);
    assert!(!c.iter().any(|c| c.kind == Kind::PolicyRefuses), "{c:#?}");
    // Without the pairing rule, a packet on virbr0 has no known source: reported.
    let mut alone = libvirt;
    alone.chains[0].rules.pop();
    let c = conflicts(&t, &[alone], None, &locate);
    assert!(c.iter().any(|c| c.kind == Kind::PolicyRefuses), "{c:#?}");
}

/// A rule of ours whose packets meet another table's undecidable drop first (a "may" for
/// every packet) and, on one port, a sure reject: both are reported, the may does not
/// hide the sure one.
#[test]
fn a_may_refusal_does_not_hide_a_sure_one_of_the_same_line_issue10() {
    let mut mine = ours(&[]);
    mine.sets.push(ir::Set {
        name: "web".into(),
        key: ir::SetKey::InetService,
        interval: true,
        elements: [80u128, 8080].map(ir::Interval::single).to_vec().into(),
        comment: None,
        timeout_ms: None,
        origin: vec![span(4)],
    });
    mine.chains[0].rules.insert(
        0,
        Rule {
            matches: vec![Match::Dport(L4Proto::Tcp, PortMatch::Set("web".into()))],
            stmts: vec![],
            verdict: Some(Verdict::Accept),
            comment: None,
            origin: vec![span(4)],
        },
    );
    let other = table(
        TableFamily::Inet,
        "fw",
        vec![
            chain(
                "raw",
                Some((-10, ChainPolicy::Accept)),
                vec![hrule(
                    vec![Cond::Unknown("fib saddr . iif oif missing".into())],
                    Action::Drop,
                )],
            ),
            chain(
                "in",
                Some((10, ChainPolicy::Accept)),
                vec![hrule(
                    vec![Cond::Is(tcp(8080))],
                    Action::Reject("reject".into()),
                )],
            ),
        ],
    );
    let c = conflicts(&mine, &[other], None, &locate);
    let d: Vec<_> = (c.iter())
        .filter(|c| c.kind == Kind::PolicyDefeated)
        .collect();
    let sure: Vec<_> = d
        .iter()
        .filter(|c| c.can_drop == Some(CanDrop::Yes))
        .collect();
    assert_eq!(sure.len(), 1, "{d:#?}");
    assert_eq!(sure[0].object, "table inet fw chain in");
    assert!(
        sure[0].packet.as_deref().unwrap_or("").contains(":8080 "),
        "{:?}",
        sure[0]
    );
    assert_eq!(sure[0].policy_line.as_deref(), Some("host.policy:4:5"));
    assert!(
        d.iter().any(|c| c.can_drop == Some(CanDrop::Unknown)),
        "{d:#?}"
    );
}

/// `on "virbr*"` meets every bridge another table names, not only the first it lists:
/// libvirt accepts on virbr0 and rejects on virbr1 (an isolated network).
#[test]
fn a_wildcard_interface_is_tried_on_every_name_other_tables_use_issue10() {
    let virbr = |n: &str| {
        Cond::Is(Match::IifName(IfName {
            name: n.into(),
            wildcard: false,
        }))
    };
    let mut mine = ours(&[]);
    mine.chains[0].rules.insert(
        0,
        Rule {
            matches: vec![
                Match::IifName(IfName {
                    name: "virbr".into(),
                    wildcard: true,
                }),
                tcp(53),
            ],
            stmts: vec![],
            verdict: Some(Verdict::Accept),
            comment: None,
            origin: vec![span(7)],
        },
    );
    let other = table(
        TableFamily::Ip,
        "filter",
        vec![chain(
            "INPUT",
            Some((0, ChainPolicy::Accept)),
            vec![
                hrule(vec![virbr("virbr0")], Action::Accept),
                hrule(vec![virbr("virbr1")], Action::Reject("reject".into())),
            ],
        )],
    );
    let c = conflicts(&mine, &[other], None, &locate);
    let d: Vec<_> = (c.iter())
        .filter(|c| c.kind == Kind::PolicyDefeated)
        .collect();
    assert_eq!(d.len(), 1, "{c:#?}");
    assert!(
        d[0].packet.as_deref().unwrap_or("").contains("on virbr1"),
        "{:?}",
        d[0]
    );
    assert_eq!(d[0].policy_line.as_deref(), Some("host.policy:7:5"));
}
