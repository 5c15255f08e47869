//! Multi-table evaluation: priorities across tables, jumps, gotos and returns, verdict
//! maps, NAT chains, families, and unknowns that stay unknown.

use super::*;
use crate::ir::host::VerdictMap;
use crate::ir::{IfName, L4Proto};

#[path = "../../tests/support/build/host.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{host_base as base, host_regular as regular, host_rule as rule, host_table as table};

fn tcp(port: u16) -> Cond {
    Cond::Is(Match::Dport(L4Proto::Tcp, PortMatch::Port(port)))
}

fn iif(name: &str) -> Cond {
    Cond::Is(Match::IifName(IfName {
        name: name.into(),
        wildcard: false,
    }))
}

fn pkt(src: &str, dst: &str, on: &str, dport: u16) -> Packet {
    Packet::new_inbound(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        on,
        L4::Tcp { dport },
    )
}

/// Ours accepts tcp 22 and 8000, rejects the rest; a foreign `ip` table before it
/// (priority -10) jumps to a chain that drops 10.0.0.0/8 on port 22.
fn host() -> HostRuleset {
    let ours = table(
        TableFamily::Inet,
        "hostwall",
        true,
        vec![base(
            "input",
            HostHook::Input,
            0,
            ChainPolicy::Accept,
            vec![
                rule(vec![tcp(22)], Action::Accept),
                rule(vec![tcp(8000)], Action::Accept),
                rule(vec![], Action::Reject("reject".into())),
            ],
        )],
    );
    let foreign = table(
        TableFamily::Ip,
        "filter",
        false,
        vec![
            base(
                "INPUT",
                HostHook::Input,
                -10,
                ChainPolicy::Accept,
                vec![rule(vec![tcp(22)], Action::Jump("SUB".into()))],
            ),
            regular(
                "SUB",
                vec![rule(
                    vec![Cond::Is(Match::Saddr(AddrMatch::V4(
                        "10.0.0.0/8".parse().unwrap(),
                    )))],
                    Action::Drop,
                )],
            ),
        ],
    );
    HostRuleset::of(vec![ours, foreign])
}

#[test]
fn chains_run_in_priority_order_across_tables_and_jumps_return() {
    let h = host();
    let d = evaluate(&h, Path::Input, &pkt("10.1.2.3", "192.0.2.1", "eth0", 22));
    assert_eq!(d.answer, Answer::Refused { step: 0 });
    assert_eq!(d.steps.len(), 2, "ours is listed, after the refusal");
    assert_eq!(d.steps[0].table, "ip filter");
    let at = d.steps[0].ends[0].at.clone().expect("a rule decided");
    assert_eq!((at.chain.as_str(), at.index), ("SUB", 0));
    // Not from 10/8: SUB returns, INPUT falls to its accept policy, ours accepts.
    let d = evaluate(&h, Path::Input, &pkt("192.0.2.9", "192.0.2.1", "eth0", 22));
    assert_eq!(d.answer, Answer::Accept);
    let names: Vec<_> = d.steps.iter().map(|s| s.chain.as_str()).collect();
    assert_eq!(names, ["INPUT", "input"]);
    assert_eq!(d.steps[0].ends[0].at, None, "INPUT's policy accepted");
    // IPv6 never meets an `ip` table.
    let d = evaluate(&h, Path::Input, &pkt("fd00::1", "fd00::2", "eth0", 22));
    assert_eq!(d.steps.len(), 1);
    assert_eq!(d.answer, Answer::Accept);
}

#[test]
fn a_later_priority_drop_defeats_our_accept() {
    let mut h = host();
    h.tables.push(std::sync::Arc::new(table(
        TableFamily::Inet,
        "late",
        false,
        vec![base(
            "in",
            HostHook::Input,
            10,
            ChainPolicy::Drop,
            vec![rule(vec![tcp(22)], Action::Accept)],
        )],
    )));
    let d = evaluate(
        &h,
        Path::Input,
        &pkt("192.0.2.9", "192.0.2.1", "eth0", 8000),
    );
    assert_eq!(d.answer, Answer::Refused { step: 2 });
    assert!(d.steps[1].ours && d.steps[1].surely_accepts());
    assert_eq!(d.steps[2].ends[0].kind, EndKind::Drop);
    assert_eq!(d.steps[2].ends[0].at, None, "the policy drop decided");
}

#[test]
fn goto_does_not_come_back_and_verdict_maps_choose_by_key() {
    let zone = regular("zone", vec![rule(vec![tcp(22)], Action::Accept)]);
    let map = VerdictMap {
        name: "zones".into(),
        elements: vec![
            (
                MapElem::Name(IfName {
                    name: "virbr".into(),
                    wildcard: true,
                }),
                Action::Goto("zone".into()),
            ),
            (
                MapElem::Name(IfName {
                    name: "eth0".into(),
                    wildcard: false,
                }),
                Action::Drop,
            ),
        ],
    };
    let mut t = table(
        TableFamily::Inet,
        "fw",
        false,
        vec![
            base(
                "in",
                HostHook::Input,
                0,
                ChainPolicy::Accept,
                vec![
                    rule(
                        vec![],
                        Action::Map {
                            key: MapKey::IifName,
                            map: "zones".into(),
                        },
                    ),
                    rule(
                        vec![],
                        Action::Reject("reject with icmpx admin-prohibited".into()),
                    ),
                ],
            ),
            zone,
        ],
    );
    t.maps.push(map);
    let h = HostRuleset::of(vec![t]);
    let on = |i: &str, port| evaluate(&h, Path::Input, &pkt("192.0.2.9", "192.0.2.1", i, port));
    assert_eq!(on("virbr0", 22).answer, Answer::Accept);
    // goto: falling off `zone` returns to the base chain's caller: its policy accepts,
    // the reject after the map is never reached.
    let d = on("virbr0", 80);
    assert_eq!(d.answer, Answer::Accept);
    assert_eq!(d.steps[0].ends[0].at, None);
    assert_eq!(on("eth0", 22).answer, Answer::Refused { step: 0 });
    // No element: the next rule rejects.
    let d = on("wlan0", 22);
    assert_eq!(d.answer, Answer::Refused { step: 0 });
    assert_eq!(
        d.steps[0].ends[0].kind,
        EndKind::Reject("reject with icmpx admin-prohibited".into())
    );
}

#[test]
fn unknowns_are_may_drop_may_accept_never_accept() {
    let fib = Cond::Unknown("fib daddr type local".into());
    let t = table(
        TableFamily::Ip,
        "docker",
        false,
        vec![base(
            "in",
            HostHook::Input,
            0,
            ChainPolicy::Accept,
            vec![rule(vec![fib.clone(), tcp(8000)], Action::Drop)],
        )],
    );
    let h = HostRuleset::of(vec![t]);
    let d = evaluate(
        &h,
        Path::Input,
        &pkt("192.0.2.9", "192.0.2.1", "eth0", 8000),
    );
    assert_eq!(d.answer, Answer::Unknown);
    let kinds: Vec<_> = d.steps[0].ends.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, [EndKind::Drop, EndKind::Accept]);
    assert!(
        d.steps[0].ends[0].assumed[0].starts_with("if <fib"),
        "{:?}",
        d.steps[0].ends
    );
    // A known condition that fails decides without the unknown.
    let d = evaluate(&h, Path::Input, &pkt("192.0.2.9", "192.0.2.1", "eth0", 22));
    assert_eq!(d.answer, Answer::Accept);
    // An unknown action is an unknown end, and a surely refusing chain after it still refuses.
    let mut h2 = h.clone();
    std::sync::Arc::make_mut(&mut h2.tables[0]).chains[0].rules =
        vec![rule(vec![iif("eth0")], Action::Unknown("queue".into()))];
    h2.tables.push(std::sync::Arc::new(table(
        TableFamily::Inet,
        "z",
        false,
        vec![base("in", HostHook::Input, 5, ChainPolicy::Drop, vec![])],
    )));
    let d = evaluate(&h2, Path::Input, &pkt("192.0.2.9", "192.0.2.1", "eth0", 22));
    assert_eq!(d.answer, Answer::Refused { step: 1 });
    assert_eq!(d.steps[0].ends[0].kind, EndKind::Unknown("queue".into()));
}

#[test]
fn nat_chains_see_first_packets_only_and_dnat_is_unknown() {
    let mut nat = base(
        "PREROUTING",
        HostHook::Prerouting,
        -100,
        ChainPolicy::Accept,
        vec![rule(
            vec![tcp(8080)],
            Action::DestNat("dnat to 172.17.0.2:80".into()),
        )],
    );
    if let Some(b) = nat.base.as_mut() {
        b.chain_type = ChainType::Nat;
    }
    let h = HostRuleset::of(vec![table(TableFamily::Ip, "nat", false, vec![nat])]);
    let mut p = pkt("192.0.2.9", "192.0.2.1", "eth0", 8080);
    let d = evaluate(&h, Path::Forward, &p);
    assert_eq!(d.answer, Answer::Unknown);
    p.ct = CtState::ESTABLISHED;
    assert!(evaluate(&h, Path::Forward, &p).steps.is_empty());
}

/// Measured in a namespace: of two base chains on one hook at one priority, the one
/// registered later (a table created later) sees the packet first.
#[test]
fn at_equal_priority_the_chain_registered_last_runs_first() {
    let chain = |name: &str, action| {
        base(
            name,
            HostHook::Input,
            0,
            ChainPolicy::Accept,
            vec![rule(vec![tcp(5000)], action)],
        )
    };
    let older = table(
        TableFamily::Ip,
        "older",
        false,
        vec![chain("c", Action::Drop)],
    );
    let newer = table(
        TableFamily::Inet,
        "newer",
        false,
        vec![
            chain("first", Action::Accept),
            chain("second", Action::Reject("reject".into())),
        ],
    );
    let h = HostRuleset::of(vec![older, newer]);
    let d = evaluate(
        &h,
        Path::Input,
        &pkt("192.0.2.9", "192.0.2.1", "eth0", 5000),
    );
    let order: Vec<_> = d
        .steps
        .iter()
        .map(|s| (s.table.as_str(), s.chain.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("inet newer", "second"),
            ("inet newer", "first"),
            ("ip older", "c")
        ]
    );
    assert_eq!(d.answer, Answer::Refused { step: 0 });
    assert_eq!(d.steps[0].ends[0].kind, EndKind::Reject("reject".into()));
    // Another priority still orders first.
    let d = evaluate(&h, Path::Input, &pkt("192.0.2.9", "192.0.2.1", "eth0", 22));
    assert_eq!(d.answer, Answer::Accept);
}
