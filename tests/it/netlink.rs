//! emit::netlink against the nft oracle: expression sequences equal what
//! `nft --debug=netlink` generates for the text form, and the table the kernel
//! holds after our batch lists exactly as after `nft -f` of the text emitter.
//! Every kernel test runs in a fresh network namespace of its own.

use hostwall::apply::{ApplyOptions, apply};
use hostwall::emit::netlink::{BatchOptions, BatchPart, build};
use hostwall::emit::text;
use hostwall::ir::*;
use hostwall::nft::{decode, sock};
use ipnet::{Ipv4Net, Ipv6Net};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `f` on a thread moved into a new, empty network namespace (dropped when
/// the thread ends). Panics rather than run anything in the caller's namespace.
pub fn in_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Err(e) = sock::unshare_netns() {
                panic!("cannot create a test network namespace: {e}");
            }
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Runs nft (in the calling thread's namespace) with `stdin`; returns stdout.
pub fn nft(args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn nft_ok(args: &[&str], stdin: &str) -> String {
    nft(args, stdin).unwrap_or_else(|e| panic!("nft {args:?} failed: {e}"))
}

pub fn rule(matches: Vec<Match>, stmts: Vec<Stmt>, verdict: Option<Verdict>) -> Rule {
    Rule {
        matches,
        stmts,
        verdict,
        comment: None,
        origin: vec![],
    }
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn v6(s: &str) -> Ipv6Net {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn set(name: &str, key: SetKey, elements: Vec<Interval>) -> Set {
    Set {
        name: name.into(),
        key,
        interval: true,
        elements,
        comment: None,
        origin: vec![],
    }
}

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

pub fn base(name: &str, hook: Hook, policy: ChainPolicy, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base: Some(BaseChain {
            hook,
            priority: 0,
            policy,
        }),
        rules,
    }
}

/// A ruleset using every Match, Stmt and Verdict form, and interval sets that
/// start at 0, end at the key maximum, or neither.
pub fn every_form() -> Ruleset {
    use Match as M;
    let tcp = L4Proto::Tcp;
    let iv = |lo: u128, hi: u128| Interval { lo, hi };
    let ip4 = |s: &str| Interval::from_v4(v4(s));
    let mut sets = vec![
        set(
            "v4",
            SetKey::Ipv4Addr,
            vec![ip4("0.0.0.0/8"), ip4("10.0.0.0/8"), ip4("192.168.1.1/32")],
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
        set(
            "ports",
            SetKey::InetService,
            vec![iv(22, 22), iv(8000, 8080), iv(65535, 65535)],
        ),
        set(
            "lowports",
            SetKey::InetService,
            vec![iv(0, 100), iv(443, 443)],
        ),
        set("icmp4", SetKey::IcmpType, vec![iv(0, 0), iv(8, 8)]),
        set("icmp6", SetKey::Icmpv6Type, vec![iv(1, 4), iv(128, 129)]),
    ];
    sets[3].comment = Some("service ports".into());
    // Type sets are plain sets (one element per value), as the compiler makes them.
    sets[5].interval = false;
    sets[6].interval = false;
    let name = |n: &str, w| IfName {
        name: n.into(),
        wildcard: w,
    };
    let mut rules = vec![
        rule(
            vec![M::CtState(ir_ct(CtState::ESTABLISHED | CtState::RELATED))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::CtState(ir_ct(CtState::INVALID))],
            vec![Stmt::Counter],
            Some(Verdict::Drop),
        ),
        rule(
            vec![M::IifName(name("lo", false))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                M::IifName(name("virbr", true)),
                M::OifName(name("eth0", false)),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::L4Proto(tcp), M::Dport(tcp, PortMatch::Port(22))],
            vec![Stmt::Counter],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Dport(L4Proto::Udp, PortMatch::Range(5000, 5010))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Dport(L4Proto::Sctp, PortMatch::Port(9))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Dport(tcp, PortMatch::Set("ports".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Dport(L4Proto::Udp, PortMatch::Set("lowports".into()))],
            vec![],
            Some(Verdict::Drop),
        ),
        rule(
            vec![M::Saddr(AddrMatch::V4(v4("10.0.0.0/8")))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                M::Saddr(AddrMatch::V4(v4("10.16.0.0/12"))),
                M::Daddr(AddrMatch::V4(v4("192.0.2.7/32"))),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Saddr(AddrMatch::V4(v4("0.0.0.0/0")))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Saddr(AddrMatch::V6(v6("fd00::/64")))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                M::Daddr(AddrMatch::V6(v6("fd00::/13"))),
                M::Dport(tcp, PortMatch::Port(443)),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                M::Saddr(AddrMatch::Set4("v4".into())),
                M::Daddr(AddrMatch::Set4("v4top".into())),
            ],
            vec![],
            Some(Verdict::Accept),
        ),
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
            vec![M::IcmpType(TypeMatch::Set("icmp4".into()))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::Icmpv6Type(TypeMatch::Type(135))],
            vec![],
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
        rule(
            vec![M::NfProto(NfProto::Ipv6), M::L4Proto(L4Proto::Icmpv6)],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![M::L4Proto(L4Proto::Icmp), M::IcmpType(TypeMatch::Type(0))],
            vec![],
            Some(Verdict::Accept),
        ),
        rule(
            vec![
                M::Saddr(AddrMatch::V4(v4("198.51.100.0/24"))),
                M::Dport(tcp, PortMatch::Port(25)),
            ],
            vec![Stmt::Log {
                prefix: Some("smtp: ".into()),
                group: Some(3),
            }],
            Some(Verdict::Reject(RejectWith::TcpReset)),
        ),
        rule(
            vec![M::Dport(L4Proto::Udp, PortMatch::Port(53))],
            vec![Stmt::Log {
                prefix: Some("dns".into()),
                group: None,
            }],
            Some(Verdict::Reject(RejectWith::IcmpxPortUnreachable)),
        ),
        rule(
            vec![],
            vec![
                Stmt::Log {
                    prefix: None,
                    group: Some(2),
                },
                Stmt::Counter,
            ],
            Some(Verdict::Reject(RejectWith::IcmpxAdminProhibited)),
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
    ];
    rules[4].comment = Some("ssh from anywhere".into());
    let fwd = vec![rule(
        vec![Match::OifName(name("virbr0", false))],
        vec![],
        Some(Verdict::Accept),
    )];
    let chains = vec![
        base("input", Hook::Input, ChainPolicy::Drop, rules),
        Chain {
            name: "forward".into(),
            base: Some(BaseChain {
                hook: Hook::Forward,
                priority: -5,
                policy: ChainPolicy::Accept,
            }),
            rules: fwd,
        },
        base("output", Hook::Output, ChainPolicy::Accept, vec![]),
        Chain {
            name: "helper".into(),
            base: None,
            rules: vec![rule(vec![], vec![Stmt::Counter], None)],
        },
    ];
    ruleset(sets, chains)
}

fn ir_ct(bits: u32) -> hostwall::ir::CtState {
    hostwall::ir::CtState(bits)
}

/// `nft list table inet hostwall` after loading the text emitter's script.
fn listing_via_nft(rs: &Ruleset) -> String {
    in_netns(|| {
        nft_ok(&["-f", "-"], &text::render(rs, "test"));
        nft_ok(&["list", "table", "inet", "hostwall"], "")
    })
}

/// The same listing after hostwall applied the IR over netlink.
pub fn listing_via_netlink(rs: &Ruleset) -> String {
    in_netns(|| {
        if let Err(e) = apply(rs, &ApplyOptions::default()) {
            panic!("apply failed: {e}");
        }
        nft_ok(&["list", "table", "inet", "hostwall"], "")
    })
}

#[test]
fn netlink_listing_equals_nft_text_listing_for_every_form() {
    let rs = every_form();
    let want = listing_via_nft(&rs);
    let got = listing_via_netlink(&rs);
    assert_eq!(got, want);
}

#[test]
fn empty_table_and_empty_sets_match_nft() {
    let rs = ruleset(
        vec![set("none", SetKey::Ipv4Addr, vec![])],
        vec![base("input", Hook::Input, ChainPolicy::Accept, vec![])],
    );
    assert_eq!(listing_via_netlink(&rs), listing_via_nft(&rs));
}

#[test]
fn full_range_sets_match_nft() {
    let all4 = Interval {
        lo: 0,
        hi: u32::MAX as u128,
    };
    let all6 = Interval {
        lo: 0,
        hi: u128::MAX,
    };
    let rs = ruleset(
        vec![
            set("all4", SetKey::Ipv4Addr, vec![all4]),
            set("all6", SetKey::Ipv6Addr, vec![all6]),
            set(
                "allports",
                SetKey::InetService,
                vec![Interval { lo: 0, hi: 65535 }],
            ),
            set(
                "top",
                SetKey::InetService,
                vec![Interval {
                    lo: 60000,
                    hi: 65535,
                }],
            ),
        ],
        vec![base("input", Hook::Input, ChainPolicy::Accept, vec![])],
    );
    assert_eq!(listing_via_netlink(&rs), listing_via_nft(&rs));
}

/// Each rule's expressions, as libnftnl prints them, from nft's own batch.
fn nft_debug_rules(rs: &Ruleset) -> Vec<String> {
    let out = in_netns(|| nft_ok(&["--debug=netlink", "-f", "-"], &text::render(rs, "test")));
    let mut rules = Vec::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if line.starts_with("inet hostwall ") {
            rules.extend(cur.take());
            cur = Some(String::new());
        } else if let Some(c) = cur.as_mut() {
            if line.starts_with("  [") {
                c.push_str(line.trim());
                c.push('\n');
            } else if line.trim().is_empty() || line.trim_start().starts_with("userdata") {
                continue;
            } else {
                rules.extend(cur.take());
            }
        }
    }
    rules.extend(cur);
    rules
}

#[test]
fn expressions_equal_nft_debug_netlink() {
    let rs = every_form();
    let want = nft_debug_rules(&rs);
    let batch = build(&rs, &BatchOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<String> = batch
        .messages
        .iter()
        .filter(|m| matches!(m.what, BatchPart::Rule { .. }))
        .map(|m| {
            let text = decode::rule_debug_text(batch.bytes_of(m)).unwrap_or_default();
            text.lines()
                .filter(|l| l.trim_start().starts_with('['))
                .map(|l| format!("{}\n", l.trim()))
                .collect()
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "rule {} differs", i + 1);
    }
}

#[test]
fn hundred_thousand_element_set_applies() {
    let elems: Vec<Interval> = (0..100_000u128)
        .map(|i| Interval {
            lo: 0x0a00_0000 + i * 8,
            hi: 0x0a00_0000 + i * 8 + 3,
        })
        .collect();
    let mut s = set("big", SetKey::Ipv4Addr, elems);
    s.origin = vec![];
    let rules = vec![rule(
        vec![Match::Saddr(AddrMatch::Set4("big".into()))],
        vec![],
        Some(Verdict::Accept),
    )];
    let rs = ruleset(
        vec![s],
        vec![base("input", Hook::Input, ChainPolicy::Accept, rules)],
    );
    let batch = build(&rs, &BatchOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        batch.bytes.len() > 128 * 1024,
        "the batch must exceed nftnl's page size"
    );
    let count = in_netns(|| {
        let r = apply(&rs, &ApplyOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        // The applied batch also carries the generation id (one attribute).
        assert_eq!(r.batch_bytes, batch.bytes.len() + 8);
        let listing = nft_ok(&["list", "set", "inet", "hostwall", "big"], "");
        listing.matches("/30").count()
    });
    assert_eq!(count, 100_000);
}
