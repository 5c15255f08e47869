//! IR builders and the one `every_form` fixture: a ruleset using every match, statement
//! and verdict form, shaped as the compiler shapes them, with sets that start at 0, end at
//! their key's maximum, or neither. Names the library as `crate::` (see `build/mod.rs`).

use crate::ir::{
    self, AddrMatch, BaseChain, Chain, ChainPolicy, CtState, Family, Hook, IfName, Interval,
    L4Proto, Match, NfProto, PortMatch, RateUnit, RejectWith, Rule, Ruleset, Set, SetKey, Stmt,
    Table, TypeMatch, Verdict,
};
use ipnet::{Ipv4Net, Ipv6Net};

/// A rule without comment or origin.
pub fn rule(matches: Vec<Match>, stmts: Vec<Stmt>, verdict: Option<Verdict>) -> Rule {
    Rule {
        matches,
        stmts,
        verdict,
        comment: None,
        origin: vec![],
    }
}

/// `MATCHES accept`.
pub fn accept(matches: Vec<Match>) -> Rule {
    rule(matches, vec![], Some(Verdict::Accept))
}

/// An interval set of `elements` (normalized, as the compiler leaves them).
pub fn set(name: &str, key: SetKey, mut elements: Vec<Interval>) -> Set {
    ir::normalize_intervals(&mut elements);
    Set {
        name: name.into(),
        key,
        interval: true,
        elements: elements.into(),
        comment: None,
        timeout_ms: None,
        origin: vec![],
    }
}

/// A plain set, one element per value (the compiler's ICMP type sets).
pub fn plain_set(name: &str, key: SetKey, elements: Vec<Interval>) -> Set {
    Set {
        interval: false,
        ..set(name, key, elements)
    }
}

/// The interval `lo..=hi`.
pub fn iv(lo: u128, hi: u128) -> Interval {
    Interval { lo, hi }
}

/// An IPv4 network; panics on a malformed literal.
pub fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// An IPv6 network; panics on a malformed literal.
pub fn v6(s: &str) -> Ipv6Net {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// An exact interface name.
pub fn exact(name: &str) -> IfName {
    IfName {
        name: name.into(),
        wildcard: false,
    }
}

/// An interface name prefix (`name*`).
pub fn wild(name: &str) -> IfName {
    IfName {
        name: name.into(),
        wildcard: true,
    }
}

/// `table inet hostwall` holding `sets` and `chains`, with no sysctls.
pub fn ruleset(sets: Vec<Set>, chains: Vec<Chain>) -> Ruleset {
    Ruleset {
        table: Table {
            family: Family::Inet,
            name: "hostwall".into(),
            sets,
            chains,
        },
        sysctls: vec![],
    }
}

/// A base chain on `hook` at `priority`.
pub fn chain_at(
    name: &str,
    hook: Hook,
    priority: i32,
    policy: ChainPolicy,
    rules: Vec<Rule>,
) -> Chain {
    Chain {
        name: name.into(),
        base: Some(BaseChain {
            hook,
            priority,
            policy,
        }),
        rules,
    }
}

/// A base chain on `hook` at priority 0.
pub fn base(name: &str, hook: Hook, policy: ChainPolicy, rules: Vec<Rule>) -> Chain {
    chain_at(name, hook, 0, policy, rules)
}

/// `every_form` plus the forms the compiler never emits, for the encoder's tests: an
/// explicit protocol match before the match that implies it. (The decoder reads the
/// first back without its redundant protocol, and the second as a foreign rule, so
/// they stay out of `every_form`, which must read back exactly.)
pub fn every_encoder_form() -> Ruleset {
    let mut rs = every_form();
    let mut ssh = rule(
        vec![
            Match::L4Proto(L4Proto::Tcp),
            Match::Dport(L4Proto::Tcp, PortMatch::Port(22)),
        ],
        vec![Stmt::Counter],
        Some(Verdict::Accept),
    );
    ssh.comment = Some("ssh from anywhere".into());
    let echo_reply = accept(vec![
        Match::L4Proto(L4Proto::Icmp),
        Match::IcmpType(TypeMatch::Type(0)),
    ]);
    rs.table.chains[0].rules.extend([ssh, echo_reply]);
    rs
}

/// A regular (jump target) chain.
pub fn regular(name: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base: None,
        rules,
    }
}

/// The ruleset with every form (see the module doc): input, two forward chains at
/// different priorities, output and a regular chain.
pub fn every_form() -> Ruleset {
    let mut input = compiler_shaped_rules();
    input.extend(more_forms());
    let forward = vec![
        accept(vec![
            Match::IifName(exact("virbr0")),
            Match::OifName(wild("eth")),
        ]),
        rule(vec![], vec![Stmt::Counter], Some(Verdict::Drop)),
    ];
    let chains = vec![
        chain_at("input", Hook::Input, -5, ChainPolicy::Drop, input),
        chain_at("forward", Hook::Forward, 10, ChainPolicy::Drop, forward),
        chain_at(
            "forward_early",
            Hook::Forward,
            -5,
            ChainPolicy::Accept,
            vec![accept(vec![Match::OifName(exact("virbr0"))])],
        ),
        base("output", Hook::Output, ChainPolicy::Accept, vec![]),
        regular("helper", vec![rule(vec![], vec![Stmt::Counter], None)]),
    ];
    ruleset(every_set(), chains)
}

/// The sets `every_form` uses: addresses and ports from 0 to the key maximum, a
/// commented set, and plain ICMP type sets.
fn every_set() -> Vec<Set> {
    let nd = ir::ICMPV6_ALWAYS
        .iter()
        .map(|t| Interval::single(*t as u128))
        .collect();
    let ip4 = |s: &str| Interval::from_v4(v4(s));
    let mut ports = set(
        "ports",
        SetKey::InetService,
        vec![iv(22, 22), iv(8000, 8080), iv(65535, 65535)],
    );
    ports.comment = Some("service ports".into());
    vec![
        plain_set("icmpv6_nd", SetKey::Icmpv6Type, nd),
        set(
            "allow_tcp",
            SetKey::InetService,
            vec![iv(22, 22), iv(80, 90), iv(443, 443), iv(65535, 65535)],
        ),
        set(
            "src_mgmt_v4",
            SetKey::Ipv4Addr,
            vec![ip4("0.0.0.0/8"), ip4("10.0.0.0/8"), ip4("192.168.1.1/32")],
        ),
        set(
            "src_mgmt_v6",
            SetKey::Ipv6Addr,
            vec![Interval::from_v6(v6("2001:db8::/32"))],
        ),
        plain_set(
            "icmp_types",
            SetKey::IcmpType,
            vec![iv(0, 0), iv(8, 8), iv(11, 11)],
        ),
        set(
            "v4top",
            SetKey::Ipv4Addr,
            vec![ip4("203.0.113.0/24"), ip4("255.255.255.0/24")],
        ),
        set(
            "v6",
            SetKey::Ipv6Addr,
            vec![
                Interval::from_v6(v6("fd00::/64")),
                Interval::from_v6(v6("2001:db8::1/128")),
            ],
        ),
        ports,
        set(
            "lowports",
            SetKey::InetService,
            vec![iv(0, 100), iv(443, 443)],
        ),
        plain_set("icmp6", SetKey::Icmpv6Type, vec![iv(1, 4), iv(128, 129)]),
    ]
}

/// Rules as the compiler emits them, in its order: interface, ND, conntrack, services
/// by address, port and ICMP type, explicit families, rejects, and the logged tail.
fn compiler_shaped_rules() -> Vec<Rule> {
    let addr4 = |s: &str| AddrMatch::V4(v4(s));
    let addr6 = |s: &str| AddrMatch::V6(v6(s));
    let mut commented = accept(vec![
        Match::Saddr(addr4("10.0.0.0/8")),
        Match::Dport(L4Proto::Tcp, PortMatch::Port(22)),
    ]);
    commented.comment = Some("ssh, spice".into());
    vec![
        accept(vec![Match::IifName(exact("lo"))]),
        accept(vec![Match::Icmpv6Type(TypeMatch::Set("icmpv6_nd".into()))]),
        accept(vec![Match::CtState(CtState(
            CtState::ESTABLISHED | CtState::RELATED,
        ))]),
        rule(
            vec![Match::CtState(CtState(CtState::INVALID))],
            vec![],
            Some(Verdict::Drop),
        ),
        commented,
        rule(
            vec![
                Match::IifName(wild("virbr")),
                Match::Saddr(addr4("172.16.0.0/12")),
                Match::Dport(L4Proto::Udp, PortMatch::Range(5000, 5010)),
            ],
            vec![Stmt::Counter],
            Some(Verdict::Accept),
        ),
        accept(vec![
            Match::Daddr(addr6("2001:db8::/65")),
            Match::Dport(L4Proto::Sctp, PortMatch::Set("allow_tcp".into())),
        ]),
        accept(vec![Match::Saddr(AddrMatch::Set4("src_mgmt_v4".into()))]),
        accept(vec![Match::Saddr(AddrMatch::Set6("src_mgmt_v6".into()))]),
        accept(vec![
            Match::Saddr(addr4("192.168.1.7/32")),
            Match::IcmpType(TypeMatch::Type(8)),
        ]),
        accept(vec![Match::IcmpType(TypeMatch::Set("icmp_types".into()))]),
        accept(vec![Match::Icmpv6Type(TypeMatch::Type(128))]),
        accept(vec![Match::L4Proto(L4Proto::Icmpv6)]),
        // An explicit nfproto not adjacent to the address is not nft's dependency: kept.
        accept(vec![
            Match::NfProto(NfProto::Ipv6),
            Match::IifName(exact("br0")),
            Match::Daddr(addr6("fe80::1/128")),
        ]),
        rule(
            vec![Match::NfProto(NfProto::Ipv4)],
            vec![],
            Some(Verdict::Drop),
        ),
        rule(
            vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(3306))],
            vec![],
            Some(Verdict::Reject(RejectWith::TcpReset)),
        ),
        rule(
            vec![],
            vec![
                Stmt::Limit {
                    rate: 5,
                    unit: RateUnit::Minute,
                    burst: 10,
                },
                Stmt::Log {
                    prefix: Some("hostwall drop: ".into()),
                    group: None,
                    level: crate::ir::LogLevel::Info,
                },
            ],
            None,
        ),
        rule(
            vec![],
            vec![Stmt::Log {
                prefix: Some("grp".into()),
                group: Some(3),
                level: crate::ir::LogLevel::Warn,
            }],
            None,
        ),
        rule(
            vec![Match::L4Proto(L4Proto::Tcp)],
            vec![Stmt::Counter],
            Some(Verdict::Reject(RejectWith::TcpReset)),
        ),
    ]
}

/// The remaining forms: explicit protocol before a port, ranges from 0, the whole v4
/// space, v6 prefixes shorter than a nibble, two address sets in one rule, rate units,
/// logging with prefix and group, every reject, and a rule with no verdict.
fn more_forms() -> Vec<Rule> {
    use Match as M;
    let tcp = L4Proto::Tcp;
    let mut ssh = rule(
        vec![M::Dport(tcp, PortMatch::Port(22))],
        vec![Stmt::Counter],
        Some(Verdict::Accept),
    );
    ssh.comment = Some("ssh from anywhere".into());
    vec![
        rule(
            vec![M::CtState(CtState(CtState::INVALID))],
            vec![Stmt::Counter],
            Some(Verdict::Drop),
        ),
        ssh,
        accept(vec![M::Dport(L4Proto::Sctp, PortMatch::Port(9))]),
        accept(vec![M::Dport(tcp, PortMatch::Set("ports".into()))]),
        rule(
            vec![M::Dport(L4Proto::Udp, PortMatch::Set("lowports".into()))],
            vec![],
            Some(Verdict::Drop),
        ),
        accept(vec![
            M::Saddr(AddrMatch::V4(v4("10.16.0.0/12"))),
            M::Daddr(AddrMatch::V4(v4("192.0.2.7/32"))),
        ]),
        accept(vec![M::Saddr(AddrMatch::V4(v4("0.0.0.0/0")))]),
        accept(vec![M::Saddr(AddrMatch::V6(v6("fd00::/64")))]),
        accept(vec![
            M::Daddr(AddrMatch::V6(v6("fd00::/13"))),
            M::Dport(tcp, PortMatch::Port(443)),
        ]),
        accept(vec![
            M::Saddr(AddrMatch::Set4("src_mgmt_v4".into())),
            M::Daddr(AddrMatch::Set4("v4top".into())),
        ]),
        rule(
            vec![M::Daddr(AddrMatch::Set6("v6".into()))],
            vec![],
            Some(Verdict::Drop),
        ),
        rule(
            vec![M::IcmpType(TypeMatch::Type(8))],
            vec![Stmt::Limit {
                rate: 10,
                unit: RateUnit::Second,
                burst: 5,
            }],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Icmpv6Type(TypeMatch::Set("icmp6".into()))],
            vec![Stmt::Limit {
                rate: 400,
                unit: RateUnit::Day,
                burst: 10,
            }],
            Some(Verdict::Accept),
        ),
        accept(vec![M::Icmpv6Type(TypeMatch::Type(135))]),
        accept(vec![M::NfProto(NfProto::Ipv6), M::L4Proto(L4Proto::Icmpv6)]),
        rule(
            vec![
                M::Saddr(AddrMatch::V4(v4("198.51.100.0/24"))),
                M::Dport(tcp, PortMatch::Port(25)),
            ],
            vec![Stmt::Log {
                prefix: Some("smtp: ".into()),
                group: Some(3),
                level: crate::ir::LogLevel::Warn,
            }],
            Some(Verdict::Reject(RejectWith::TcpReset)),
        ),
        rule(
            vec![M::Dport(L4Proto::Udp, PortMatch::Port(53))],
            vec![Stmt::Log {
                prefix: Some("dns".into()),
                group: None,
                level: crate::ir::LogLevel::Warn,
            }],
            Some(Verdict::Reject(RejectWith::IcmpxPortUnreachable)),
        ),
        rule(
            vec![M::Dport(tcp, PortMatch::Port(0))],
            vec![Stmt::Counter],
            None,
        ),
        rule(
            vec![M::Dport(tcp, PortMatch::Range(0, 100))],
            vec![],
            Some(Verdict::Drop),
        ),
        rule(
            vec![],
            vec![
                Stmt::Log {
                    prefix: None,
                    group: Some(2),
                    level: crate::ir::LogLevel::Warn,
                },
                Stmt::Counter,
            ],
            Some(Verdict::Reject(RejectWith::IcmpxAdminProhibited)),
        ),
        rule(
            vec![],
            vec![Stmt::Counter],
            Some(Verdict::Reject(RejectWith::IcmpxAdminProhibited)),
        ),
        rule(
            vec![],
            vec![],
            Some(Verdict::Reject(RejectWith::IcmpxPortUnreachable)),
        ),
    ]
}
