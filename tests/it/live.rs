//! Live read-back (issue #4): load a table with the real `nft -f` inside a throwaway
//! network namespace, read it back with `hostwall::live::read`, and compare with the IR
//! it was written from. Every test makes its own `hw-live-<pid>-<n>` namespace, removed
//! on every path (the guard's Drop also runs when an assertion panics).

use hostwall::diff::{self, CanDrop, Kind};
use hostwall::ir::{
    self, AddrMatch, BaseChain, Chain, ChainPolicy, CtState, Hook, IfName, Interval, L4Proto,
    Match, NfProto, PortMatch, RateUnit, RejectWith, Rule, Ruleset, Set, SetKey, Stmt, Table,
    TypeMatch, Verdict,
};
use hostwall::live;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace that exists for the guard's lifetime.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "hw-live-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        Netns { name }
    }

    /// Runs `nft -f -` in the namespace with `script` on stdin; panics with nft's stderr.
    pub fn nft(&self, script: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nft");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write script");
        let out = child.wait_with_output().expect("wait nft");
        assert!(
            out.status.success(),
            "nft -f failed: {}\n--- script (first 2000 bytes) ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            &script[..script.len().min(2000)]
        );
    }

    pub fn read(&self, table: &str) -> live::RulesetRead {
        live::read(table, Some(&self.name)).expect("live read")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn rule(matches: Vec<Match>, stmts: Vec<Stmt>, verdict: Option<Verdict>) -> Rule {
    Rule {
        matches,
        stmts,
        verdict,
        comment: None,
        origin: Vec::new(),
    }
}

fn ifname(name: &str, wildcard: bool) -> IfName {
    IfName {
        name: name.into(),
        wildcard,
    }
}

fn set(name: &str, key: SetKey, interval: bool, mut elements: Vec<Interval>) -> Set {
    ir::normalize_intervals(&mut elements);
    Set {
        name: name.into(),
        key,
        interval,
        elements,
        comment: None,
        origin: Vec::new(),
    }
}

fn iv(lo: u128, hi: u128) -> Interval {
    Interval { lo, hi }
}

fn base(hook: Hook, priority: i32, policy: ChainPolicy) -> Option<BaseChain> {
    Some(BaseChain {
        hook,
        priority,
        policy,
    })
}

/// An IR using every match, statement and verdict form, as the compiler shapes them.
pub fn every_form() -> Ruleset {
    let v4 = |s: &str| AddrMatch::V4(s.parse().expect("v4 net"));
    let v6 = |s: &str| AddrMatch::V6(s.parse().expect("v6 net"));
    let nd: Vec<Interval> = ir::ICMPV6_ALWAYS
        .iter()
        .map(|t| Interval::single(*t as u128))
        .collect();
    let sets = vec![
        set("icmpv6_nd", SetKey::Icmpv6Type, false, nd),
        set(
            "allow_tcp",
            SetKey::InetService,
            true,
            vec![iv(22, 22), iv(80, 90), iv(443, 443), iv(65535, 65535)],
        ),
        set(
            "src_mgmt_v4",
            SetKey::Ipv4Addr,
            true,
            vec![
                iv(0, 0x00ff_ffff),
                iv(0x0a00_0000, 0x0aff_ffff),
                iv(0xc0a8_0101, 0xc0a8_0101),
            ],
        ),
        set(
            "src_mgmt_v6",
            SetKey::Ipv6Addr,
            true,
            vec![iv(
                0x2001_0db8 << 96,
                (0x2001_0db8 << 96) | ((1u128 << 96) - 1),
            )],
        ),
        set(
            "icmp_types",
            SetKey::IcmpType,
            false,
            vec![iv(0, 0), iv(8, 8), iv(11, 11)],
        ),
    ];
    let mut comment_rule = rule(
        vec![
            Match::Saddr(v4("10.0.0.0/8")),
            Match::Dport(L4Proto::Tcp, PortMatch::Port(22)),
        ],
        vec![],
        Some(Verdict::Accept),
    );
    comment_rule.comment = Some("ssh, spice".into());
    let input = vec![
        rule(
            vec![Match::IifName(ifname("lo", false))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::Icmpv6Type(TypeMatch::Set("icmpv6_nd".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::CtState(CtState(
                CtState::ESTABLISHED | CtState::RELATED,
            ))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::CtState(CtState(CtState::INVALID))],
            vec![],
            Some(Verdict::Drop),
        ),
        comment_rule,
        rule(
            vec![
                Match::IifName(ifname("virbr", true)),
                Match::Saddr(v4("172.16.0.0/12")),
                Match::Dport(L4Proto::Udp, PortMatch::Range(5000, 5010)),
            ],
            vec![Stmt::Counter],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                Match::Daddr(v6("2001:db8::/65")),
                Match::Dport(L4Proto::Sctp, PortMatch::Set("allow_tcp".into())),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::Saddr(AddrMatch::Set4("src_mgmt_v4".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::Saddr(AddrMatch::Set6("src_mgmt_v6".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                Match::Saddr(v4("192.168.1.7/32")),
                Match::IcmpType(TypeMatch::Type(8)),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::IcmpType(TypeMatch::Set("icmp_types".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::Icmpv6Type(TypeMatch::Type(128))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![Match::L4Proto(L4Proto::Icmpv6)],
            vec![],
            Some(Verdict::Accept),
        ),
        // An explicit nfproto not adjacent to the address is not nft's dependency: kept.
        rule(
            vec![
                Match::NfProto(NfProto::Ipv6),
                Match::IifName(ifname("br0", false)),
                Match::Daddr(v6("fe80::1/128")),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
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
                },
            ],
            None,
        ),
        rule(
            vec![],
            vec![Stmt::Log {
                prefix: Some("grp".into()),
                group: Some(3),
            }],
            None,
        ),
        rule(
            vec![Match::L4Proto(L4Proto::Tcp)],
            vec![Stmt::Counter],
            Some(Verdict::Reject(RejectWith::TcpReset)),
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
    ];
    let forward = vec![
        rule(
            vec![
                Match::IifName(ifname("virbr0", false)),
                Match::OifName(ifname("eth", true)),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(vec![], vec![Stmt::Counter], Some(Verdict::Drop)),
    ];
    Ruleset {
        table: Table {
            family: ir::Family::Inet,
            name: "hostwall".into(),
            sets,
            chains: vec![
                Chain {
                    name: "input".into(),
                    base: base(Hook::Input, -5, ChainPolicy::Drop),
                    rules: input,
                },
                Chain {
                    name: "forward".into(),
                    base: base(Hook::Forward, 10, ChainPolicy::Drop),
                    rules: forward,
                },
                Chain {
                    name: "helper".into(),
                    base: None,
                    rules: vec![rule(vec![], vec![Stmt::Counter], None)],
                },
            ],
        },
        sysctls: Vec::new(),
    }
}

/// The IR with spans cleared: decoded rules and sets carry none.
pub fn without_origins(mut t: Table) -> Table {
    for s in &mut t.sets {
        s.origin.clear();
    }
    for c in &mut t.chains {
        for r in &mut c.rules {
            r.origin.clear();
        }
    }
    t
}

/// Loads `rs` with `nft -f` of the text emitter's output, reads it back and asserts the
/// decoded table equals the IR and the diff is empty.
pub fn assert_round_trip(ns: &Netns, rs: &Ruleset) {
    ns.nft(&hostwall::emit::text::render(rs, "test"));
    let snap = ns.read(&rs.table.name);
    assert!(snap.unmodelled.is_empty(), "{:?}", snap.unmodelled);
    let got = snap.table.clone().expect("table present");
    let want = without_origins(rs.table.clone());
    for (w, g) in want.chains.iter().zip(&got.chains) {
        for (i, (wr, gr)) in w.rules.iter().zip(&g.rules).enumerate() {
            assert_eq!(wr, gr, "chain {} rule {}", w.name, i + 1);
        }
    }
    assert_eq!(got, want);
    let changes = diff::diff(rs, &snap.into_live(Vec::new()));
    assert!(changes.is_empty(), "{changes:#?}");
}

#[test]
fn round_trip_every_form() {
    let ns = Netns::new();
    assert_round_trip(&ns, &every_form());
}

#[test]
fn absent_table_and_missing_namespace() {
    let ns = Netns::new();
    let snap = ns.read("hostwall");
    assert_eq!(snap.table, None);
    assert!(snap.foreign.is_empty());
    let err = live::read("hostwall", Some("hw-live-no-such-ns")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn foreign_rule_is_kept_as_foreign_text() {
    let ns = Netns::new();
    let rs = every_form();
    ns.nft(&hostwall::emit::text::render(&rs, "test"));
    ns.nft(
        "add rule inet hostwall input meta mark 0x1 accept\n\
         insert rule inet hostwall input tcp dport { 1, 2 } accept\n\
         add rule inet hostwall input tcp dport != 22 counter drop\n",
    );
    let snap = ns.read("hostwall");
    let input = &snap.table.as_ref().expect("table").chains[0];
    let foreign: Vec<&Rule> = input
        .rules
        .iter()
        .filter(|r| matches!(r.stmts.as_slice(), [Stmt::Foreign(_)]))
        .collect();
    assert_eq!(foreign.len(), 3, "{:#?}", input.rules);
    let text = |r: &Rule| match &r.stmts[0] {
        Stmt::Foreign(t) => t.clone(),
        _ => unreachable!(),
    };
    assert!(
        text(&input.rules[0]).contains("lookup reg 1 set __set"),
        "{}",
        text(&input.rules[0])
    );
    let last = input.rules.len();
    assert!(text(&input.rules[last - 2]).contains("meta load mark"));
    assert!(text(&input.rules[last - 1]).contains("cmp neq"));
    assert!(text(&input.rules[last - 1]).contains("[ counter ]"));
    let changes = diff::diff(&rs, &snap.into_live(Vec::new()));
    let added: Vec<_> = changes
        .iter()
        .filter(|c| c.kind == Kind::RuleAdded)
        .collect();
    assert_eq!(added.len(), 3, "{changes:#?}");
    assert_eq!(
        added.iter().map(|c| c.position).collect::<Vec<_>>(),
        vec![Some(1), Some(last - 1), Some(last)]
    );
}

#[test]
fn foreign_tables_base_chains() {
    let ns = Netns::new();
    ns.nft(
        "table ip fw {
  chain in {
    type filter hook input priority 0; policy drop;
  }
}
table inet docker {
  chain dkfw {
    type filter hook forward priority 5; policy accept;
    jump sub
  }
  chain sub {
    ip saddr 1.2.3.4 reject
  }
}
table ip6 quiet {
  chain out {
    type filter hook output priority -10; policy accept;
    counter
  }
}
table netdev nd {
}
",
    );
    let snap = ns.read("hostwall");
    assert_eq!(snap.table, None);
    let mut got: Vec<_> = snap
        .foreign
        .iter()
        .map(|f| {
            (
                f.family.as_str(),
                f.table.as_str(),
                f.chain.as_str(),
                f.head.hook.as_str(),
                f.head.priority,
                f.head.policy.as_str(),
                f.judgement.can_drop,
            )
        })
        .collect();
    got.sort_by_key(|g| g.1);
    assert_eq!(
        got,
        vec![
            (
                "inet",
                "docker",
                "dkfw",
                "forward",
                5,
                "accept",
                CanDrop::Yes
            ),
            ("ip", "fw", "in", "input", 0, "drop", CanDrop::Yes),
            ("ip6", "quiet", "out", "output", -10, "accept", CanDrop::No),
        ]
    );
    let docker = snap.foreign.iter().find(|f| f.table == "docker");
    assert_eq!(
        docker.map(|f| f.judgement.why.as_str()),
        Some("rule 1 of chain sub: reject"),
        "the reject is found through the jump"
    );
}

#[test]
fn genid_changes_after_an_nft_change() {
    let ns = Netns::new();
    let g1 = live::genid(Some(&ns.name)).expect("genid");
    assert_eq!(live::genid(Some(&ns.name)).expect("genid"), g1);
    ns.nft("table inet hostwall { }\n");
    let g2 = live::genid(Some(&ns.name)).expect("genid");
    assert_ne!(g1, g2);
    assert_eq!(ns.read("hostwall").genid, g2);
}

/// A table whose one ipv4 set holds `n` separate single addresses (10.0.0.0, 10.0.0.4, ...).
pub fn big_set(n: u128) -> Ruleset {
    let start = 0x0a00_0000u128;
    let elements = (0..n).map(|i| Interval::single(start + 4 * i)).collect();
    Ruleset {
        table: Table {
            family: ir::Family::Inet,
            name: "hostwall".into(),
            sets: vec![set("big_v4", SetKey::Ipv4Addr, true, elements)],
            chains: vec![Chain {
                name: "input".into(),
                base: base(Hook::Input, 0, ChainPolicy::Drop),
                rules: vec![rule(
                    vec![Match::Saddr(AddrMatch::Set4("big_v4".into()))],
                    vec![],
                    Some(Verdict::Accept),
                )],
            }],
        },
        sysctls: Vec::new(),
    }
}

#[test]
fn hundred_thousand_elements_and_one_changed() {
    let ns = Netns::new();
    let rs = big_set(100_000);
    assert_round_trip(&ns, &rs);
    // Replace 10.0.1.0 (element 64) by 10.0.1.2, which touches no other element.
    ns.nft(
        "delete element inet hostwall big_v4 { 10.0.1.0 }\n\
         add element inet hostwall big_v4 { 10.0.1.2 }\n",
    );
    let snap = ns.read("hostwall");
    assert_eq!(
        snap.table.as_ref().expect("table").sets[0].elements.len(),
        100_000
    );
    let changes = diff::diff(&rs, &snap.into_live(Vec::new()));
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.kind, c.expected.as_deref(), c.actual.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Kind::ElementMissing, Some("10.0.1.0"), None),
            (Kind::ElementExtra, None, Some("10.0.1.2")),
        ]
    );
}
