//! Unit tests for `eval`: a hand-built kvm-host-like ruleset and the verdicts
//! the kernel gives it.

use super::*;
use crate::ir::{Chain, CtState, Interval, RejectWith, Rule, Stmt};

#[path = "../tests/support/build/ir.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{chain_at, exact, ruleset, set, wild};

/// A rule without statements.
fn rule(matches: Vec<Match>, verdict: Option<Verdict>) -> Rule {
    build::rule(matches, vec![], verdict)
}

/// Like the compiled kvm-host policy, plus ssh from a management set and dns on `virbr*`.
fn kvm_host() -> Ruleset {
    let tcp = |m| Match::Dport(L4Proto::Tcp, m);
    let input = vec![
        rule(vec![Match::IifName(exact("lo"))], Some(Verdict::Accept)),
        rule(
            vec![Match::CtState(CtState(
                CtState::ESTABLISHED | CtState::RELATED,
            ))],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::CtState(CtState(CtState::INVALID))],
            Some(Verdict::Drop),
        ),
        rule(vec![Match::L4Proto(L4Proto::Icmp)], Some(Verdict::Accept)),
        rule(
            vec![Match::Icmpv6Type(TypeMatch::Set("nd".into()))],
            Some(Verdict::Accept),
        ),
        rule(
            vec![tcp(PortMatch::Set("tcp_in".into()))],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                Match::Saddr(AddrMatch::Set4("mgmt".into())),
                tcp(PortMatch::Port(22)),
            ],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                Match::Saddr(AddrMatch::V6("fd00:1::/64".parse().unwrap())),
                tcp(PortMatch::Port(22)),
            ],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                Match::IifName(wild("virbr")),
                Match::Dport(L4Proto::Udp, PortMatch::Range(53, 54)),
            ],
            Some(Verdict::Accept),
        ),
        rule(vec![], None), // a bare counter: never decides
        rule(
            vec![Match::L4Proto(L4Proto::Tcp)],
            Some(Verdict::Reject(RejectWith::TcpReset)),
        ),
        rule(
            vec![],
            Some(Verdict::Reject(RejectWith::IcmpxAdminProhibited)),
        ),
    ];
    let sets = vec![
        set(
            "tcp_in",
            SetKey::InetService,
            vec![
                Interval::single(80),
                Interval::single(443),
                Interval { lo: 5634, hi: 6166 },
                Interval {
                    lo: 49152,
                    hi: 49216,
                },
            ],
        ),
        set(
            "mgmt",
            SetKey::Ipv4Addr,
            vec![Interval::from_v4("10.1.0.0/16".parse().unwrap())],
        ),
        set(
            "nd",
            SetKey::Icmpv6Type,
            vec![Interval { lo: 133, hi: 137 }],
        ),
    ];
    ruleset(
        sets,
        vec![chain_at("input", Hook::Input, 0, ChainPolicy::Drop, input)],
    )
}

fn tcp(src: &str, port: u16) -> Packet {
    Packet::new_inbound(
        src.parse().unwrap(),
        "198.18.0.1".parse().unwrap(),
        "eth0",
        L4::Tcp { dport: port },
    )
}

fn verdict(rs: &Ruleset, pkt: &Packet) -> Verdict {
    evaluate(rs, Hook::Input, pkt).unwrap().verdict
}

const RESET: Verdict = Verdict::Reject(RejectWith::TcpReset);
const PROHIBITED: Verdict = Verdict::Reject(RejectWith::IcmpxAdminProhibited);

#[test]
fn range_edges_and_just_outside() {
    let rs = kvm_host();
    for port in [5634, 5900, 6166, 49152, 49216, 80, 443] {
        assert_eq!(
            verdict(&rs, &tcp("198.18.0.2", port)),
            Verdict::Accept,
            "{port}"
        );
    }
    for port in [5633, 6167, 49151, 49217, 81, 22] {
        assert_eq!(verdict(&rs, &tcp("198.18.0.2", port)), RESET, "{port}");
    }
}

#[test]
fn decision_names_the_rule() {
    let d = evaluate(&kvm_host(), Hook::Input, &tcp("198.18.0.2", 443)).unwrap();
    let want = Cause::Rule {
        chain: "input".into(),
        index: 5,
    };
    assert_eq!(d.cause, want);
}

#[test]
fn udp_on_tcp_only_service_is_prohibited() {
    let mut p = tcp("198.18.0.2", 5900);
    p.l4 = L4::Udp { dport: 5900 };
    assert_eq!(verdict(&kvm_host(), &p), PROHIBITED);
}

#[test]
fn conntrack_states() {
    let rs = kvm_host();
    let mut p = tcp("198.18.0.2", 40000);
    p.ct = CtState::ESTABLISHED;
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.ct = CtState::INVALID;
    assert_eq!(verdict(&rs, &p), Verdict::Drop);
}

#[test]
fn loopback_and_interface_wildcards() {
    let rs = kvm_host();
    let mut p = tcp("198.18.0.2", 9999);
    p.iif = Some("lo".into());
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.iif = Some("lo0".into()); // exact names are not prefixes
    assert_eq!(verdict(&rs, &p), RESET);
    p.l4 = L4::Udp { dport: 54 };
    p.iif = Some("virbr0".into());
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.iif = Some("virbr".into()); // the prefix itself matches too
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.iif = None;
    assert_eq!(verdict(&rs, &p), PROHIBITED);
}

#[test]
fn source_restricted_by_set_and_by_net() {
    let rs = kvm_host();
    assert_eq!(verdict(&rs, &tcp("10.1.2.3", 22)), Verdict::Accept);
    assert_eq!(verdict(&rs, &tcp("10.2.0.1", 22)), RESET);
    let mut p6 = tcp("fd00:1::5", 22);
    p6.dst = "fd00::1".parse().unwrap();
    assert_eq!(verdict(&rs, &p6), Verdict::Accept);
    p6.src = "fd00:2::5".parse().unwrap();
    assert_eq!(verdict(&rs, &p6), RESET);
}

#[test]
fn icmp_by_family_and_type() {
    let rs = kvm_host();
    let mut p = tcp("198.18.0.2", 0);
    p.l4 = L4::Icmp { kind: 8 };
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.src = "fd00::2".parse().unwrap();
    p.dst = "fd00::1".parse().unwrap();
    p.l4 = L4::Icmpv6 { kind: 135 };
    assert_eq!(verdict(&rs, &p), Verdict::Accept);
    p.l4 = L4::Icmpv6 { kind: 128 }; // echo-request: not in this ruleset's v6 set
    assert_eq!(verdict(&rs, &p), PROHIBITED);
}

#[test]
fn base_chains_in_priority_order_and_accept_is_not_final() {
    let mut rs = kvm_host();
    // Table order puts the strict chain first, but its priority runs it second.
    let strict: Chain = chain_at(
        "late",
        Hook::Input,
        10,
        ChainPolicy::Drop,
        vec![rule(
            vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(80))],
            Some(Verdict::Accept),
        )],
    );
    rs.table.chains.insert(0, strict);
    let d = evaluate(&rs, Hook::Input, &tcp("198.18.0.2", 443)).unwrap();
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(
        d.cause,
        Cause::Policy {
            chain: "late".into()
        }
    );
    let d = evaluate(&rs, Hook::Input, &tcp("198.18.0.2", 80)).unwrap();
    assert_eq!(d.verdict, Verdict::Accept);
    // A reject in the earlier chain ends evaluation before the later one.
    assert_eq!(verdict(&rs, &tcp("198.18.0.2", 81)), RESET);
}

#[test]
fn hook_without_chain_accepts_and_policy_applies() {
    let rs = kvm_host();
    let d = evaluate(&rs, Hook::Forward, &tcp("198.18.0.2", 1)).unwrap();
    assert_eq!(d.cause, Cause::NoChain);
    assert_eq!(d.verdict, Verdict::Accept);
    let mut rs = kvm_host();
    rs.table.chains[0].rules.truncate(3);
    let d = evaluate(&rs, Hook::Input, &tcp("198.18.0.2", 1)).unwrap();
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(
        d.cause,
        Cause::Policy {
            chain: "input".into()
        }
    );
}

#[test]
fn limit_and_log_statements_do_not_change_verdicts() {
    let mut rs = kvm_host();
    let last = rs.table.chains[0].rules.len() - 1;
    rs.table.chains[0].rules[last].stmts = vec![
        Stmt::Limit {
            rate: 1,
            unit: crate::ir::RateUnit::Minute,
            burst: 1,
        },
        Stmt::Log {
            prefix: None,
            group: None,
            level: crate::ir::LogLevel::Warn,
        },
    ];
    let mut p = tcp("198.18.0.2", 1);
    p.l4 = L4::Other(47);
    assert_eq!(verdict(&rs, &p), PROHIBITED);
}

#[test]
fn broken_set_references_are_errors() {
    let mut rs = kvm_host();
    rs.table.sets.retain(|s| s.name != "mgmt");
    let e = evaluate(&rs, Hook::Input, &tcp("10.1.0.1", 22)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rule 6 of chain input looks up set @mgmt, which the table does not define"
    );
    let mut rs = kvm_host();
    rs.table.sets[0].key = SetKey::Ipv4Addr;
    let e = evaluate(&rs, Hook::Input, &tcp("10.1.0.1", 22)).unwrap_err();
    assert!(matches!(e, EvalError::SetKey { .. }), "{e}");
    let mut p = tcp("10.1.0.1", 22);
    p.dst = "fd00::1".parse().unwrap();
    assert!(matches!(
        evaluate(&kvm_host(), Hook::Input, &p),
        Err(EvalError::MixedFamily { .. })
    ));
}

/// A rule's `log` compiles to a rule of its own right before the verdict rule: every
/// packet the rule matches is decided by the verdict rule, never by the log rule, and a
/// packet the rule does not match passes both (issue #13 item 2).
#[test]
fn a_rule_log_is_a_side_effect_before_its_verdict_issue13() {
    use crate::check::{NoIncludes, check};
    let text = "policy p {\n    allow tcp 22 from 10.0.0.0/8 log level info\n    \
                reject tcp 23 log limit 1/minute\n    drop tcp 24 log group 3\n    \
                default drop\n}\n";
    let mut map = crate::source::SourceMap::new();
    let file = map.add("p", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let rs = crate::compile::compile(&policy.unwrap_or_else(|| panic!("{diags:?}")));
    let input = &rs.table.chains[0].rules;
    for (src, port, want) in [
        ("10.1.2.3", 22, Verdict::Accept),
        ("10.1.2.3", 23, Verdict::Reject(RejectWith::TcpReset)),
        ("10.1.2.3", 24, Verdict::Drop),
        ("192.0.2.1", 22, Verdict::Drop),
    ] {
        let d = evaluate(&rs, Hook::Input, &tcp(src, port)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.verdict, want, "{src} tcp {port}");
        let Cause::Rule { index, .. } = d.cause else {
            assert_eq!(
                src, "192.0.2.1",
                "only the unmatched packet falls to the policy"
            );
            continue;
        };
        let logged = |r: &Rule| r.stmts.iter().any(|s| matches!(s, Stmt::Log { .. }));
        assert!(
            !logged(&input[index]),
            "the verdict rule decides: {:?}",
            input[index]
        );
        assert!(logged(&input[index - 1]), "its log rule is right before it");
        assert_eq!(
            input[index - 1].verdict,
            None,
            "the log rule has no verdict"
        );
        assert_eq!(input[index - 1].matches, input[index].matches);
    }
}

/// A rate limit's state is unknown to eval: a limited `allow` accepts while the limit
/// holds and lets the packet fall to the default once it is used up, so the outcome is
/// not certain; traffic the limited rule does not match stays certain (issue #13 item 2).
#[test]
fn a_rate_limited_rule_is_a_may_accept_issue13() {
    use crate::check::{NoIncludes, check};
    let text = "policy p {\n    allow tcp 22 limit 3/minute\n    allow tcp 80\n}\n";
    let mut map = crate::source::SourceMap::new();
    let file = map.add("p", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let rs = crate::compile::compile(&policy.unwrap_or_else(|| panic!("{diags:?}")));
    let o = outcomes(&rs, Hook::Input, &tcp("192.0.2.1", 22)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.under.verdict, Verdict::Accept);
    assert_eq!(o.over.verdict, RESET, "over the limit: the default rejects");
    assert_eq!(o.certain(), None, "never read as a sure accept");
    assert_eq!(verdict(&rs, &tcp("192.0.2.1", 22)), Verdict::Accept);
    let web = outcomes(&rs, Hook::Input, &tcp("192.0.2.1", 80)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(web.certain(), Some(Verdict::Accept));
    let other = outcomes(&rs, Hook::Input, &tcp("192.0.2.1", 23)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other.certain(), Some(RESET));
}

/// A per-source limit is as unknown as a plain one, for either family: the IPv4 and IPv6
/// rules it compiles to both accept while the source's bucket holds and fall to the default
/// once it is used up (issue #13 item 2, per-source limits).
#[test]
fn a_per_source_limit_is_a_may_accept_for_both_families_issue13() {
    use crate::check::{NoIncludes, check};
    let text = "policy p {\n    allow tcp 22 limit 3/minute per source\n    drop tcp 80\n}\n";
    let mut map = crate::source::SourceMap::new();
    let file = map.add("p", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let rs = crate::compile::compile(&policy.unwrap_or_else(|| panic!("{diags:?}")));
    let pkt = |src: &str, dst: &str, port| {
        Packet::new_inbound(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            "eth0",
            L4::Tcp { dport: port },
        )
    };
    for (src, dst) in [("192.0.2.1", "198.18.0.1"), ("2001:db8::1", "2001:db8::2")] {
        let tcp = |s: &str, port| pkt(s, dst, port);
        let o = outcomes(&rs, Hook::Input, &tcp(src, 22)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.under.verdict, Verdict::Accept, "{src}");
        assert_eq!(
            o.over.verdict, RESET,
            "{src}: over its limit the default rejects"
        );
        assert_eq!(o.certain(), None, "{src}: never a sure accept");
        let web = outcomes(&rs, Hook::Input, &tcp(src, 80)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(web.certain(), Some(Verdict::Drop), "{src}");
    }
}
