//! Mutants of compiled rulesets, and the exact oracle that decides which
//! really differ from the original: the mistakes `verify --against` exists to
//! catch (rules swapped or moved, a set element dropped, a prefix or port
//! range one off, a verdict flipped, a rule removed). Shared by the IR-level
//! mutation test (`tests/it/mutants.rs`) and the real-packet sample
//! (`netns-tests/mutants.rs`).

use crate::support::corpus;
use hostwall::eval::{L4, Packet, evaluate};
use hostwall::ir::{
    AddrMatch, CtState, Hook, Interval, Match, PortMatch, RejectWith, Ruleset, Verdict,
};
use hostwall::space::Cube;
use hostwall::space::cells::{ExtraCuts, Partition};
use std::net::IpAddr;

/// Set elements mutated per set (evenly spread over larger sets).
const PER_SET: usize = 6;

pub struct Mutant {
    /// What was changed, e.g. `swap input 4,5`.
    pub what: String,
    pub rs: Ruleset,
}

/// Every policy of `policies/` and every compile golden, compiled.
pub fn corpus() -> Vec<(String, Ruleset)> {
    corpus::clean()
        .iter()
        .map(|case| (case.name.clone(), corpus::compile(case)))
        .collect()
}

/// Every mutant of the rules of `chain` (and of the sets they use).
pub fn mutants(rs: &Ruleset, chain: &str) -> Vec<Mutant> {
    let Some(ci) = rs.table.chains.iter().position(|c| c.name == chain) else {
        return Vec::new();
    };
    let n = rs.table.chains[ci].rules.len();
    let mut out = Vec::new();
    let mut edit = |what: String, f: &dyn Fn(&mut Vec<hostwall::ir::Rule>)| {
        let mut m = rs.clone();
        f(&mut m.table.chains[ci].rules);
        if m != *rs {
            out.push(Mutant { what, rs: m });
        }
    };
    for i in 0..n {
        if i + 1 < n {
            edit(format!("swap {chain} {i},{}", i + 1), &|r| r.swap(i, i + 1));
        }
        edit(format!("{chain} {i} to top"), &|r| {
            let x = r.remove(i);
            r.insert(0, x);
        });
        edit(format!("{chain} {i} to bottom"), &|r| {
            let x = r.remove(i);
            r.push(x);
        });
        edit(format!("remove {chain} {i}"), &|r| {
            r.remove(i);
        });
        edit(format!("flip {chain} {i}"), &|r| {
            r[i].verdict = r[i].verdict.map(flip);
        });
        let matches = rs.table.chains[ci].rules[i].matches.clone();
        for (k, m) in matches.iter().enumerate() {
            for (what, new) in one_off(m) {
                edit(format!("{chain} {i}: {what}"), &|r| {
                    r[i].matches[k] = new.clone()
                });
            }
        }
    }
    out.extend(set_mutants(rs, ci));
    out
}

/// Elements of the sets the chain's rules use: dropped, one wider, one narrower.
fn set_mutants(rs: &Ruleset, ci: usize) -> Vec<Mutant> {
    let mut out = Vec::new();
    let used: Vec<String> = rs.table.chains[ci]
        .rules
        .iter()
        .flat_map(|r| &r.matches)
        .filter_map(set_name)
        .collect();
    for (si, set) in rs.table.sets.iter().enumerate() {
        if !used.contains(&set.name) {
            continue;
        }
        let len = set.elements.len();
        let picks: Vec<usize> = if len <= PER_SET {
            (0..len).collect()
        } else {
            (0..PER_SET)
                .map(|k| k * (len - 1) / (PER_SET - 1))
                .collect()
        };
        let max = set.key.max();
        for e in picks {
            let iv = set.elements.get(e);
            let mut variants = vec![(format!("drop element {e}"), None)];
            if iv.lo > 0 {
                variants.push((
                    format!("widen element {e} down"),
                    Some(Interval {
                        lo: iv.lo - 1,
                        hi: iv.hi,
                    }),
                ));
            }
            if iv.hi < max {
                variants.push((
                    format!("widen element {e} up"),
                    Some(Interval {
                        lo: iv.lo,
                        hi: iv.hi + 1,
                    }),
                ));
            }
            if iv.lo < iv.hi {
                variants.push((
                    format!("narrow element {e} up"),
                    Some(Interval {
                        lo: iv.lo + 1,
                        hi: iv.hi,
                    }),
                ));
                variants.push((
                    format!("narrow element {e} down"),
                    Some(Interval {
                        lo: iv.lo,
                        hi: iv.hi - 1,
                    }),
                ));
            }
            for (what, new) in variants {
                let mut m = rs.clone();
                let mut els = m.table.sets[si].elements.to_vec();
                match new {
                    Some(iv) => els[e] = iv,
                    None => {
                        els.remove(e);
                    }
                }
                hostwall::ir::normalize_intervals(&mut els);
                m.table.sets[si].elements = els.into();
                if m != *rs {
                    out.push(Mutant {
                        what: format!("set {}: {what}", set.name),
                        rs: m,
                    });
                }
            }
        }
    }
    out
}

fn set_name(m: &Match) -> Option<String> {
    match m {
        Match::Saddr(AddrMatch::Set4(s) | AddrMatch::Set6(s))
        | Match::Daddr(AddrMatch::Set4(s) | AddrMatch::Set6(s))
        | Match::Dport(_, PortMatch::Set(s)) => Some(s.clone()),
        _ => None,
    }
}

fn flip(v: Verdict) -> Verdict {
    match v {
        Verdict::Accept => Verdict::Drop,
        Verdict::Drop | Verdict::Reject(_) => Verdict::Accept,
    }
}

/// A prefix one bit wider or narrower (both halves), a port range one wider or narrower.
fn one_off(m: &Match) -> Vec<(String, Match)> {
    let mut out = Vec::new();
    let addr = |a: &AddrMatch| -> Vec<(String, AddrMatch)> {
        let mut v = Vec::new();
        match a {
            AddrMatch::V4(n) => {
                if let Ok(w) = ipnet::Ipv4Net::new(n.network(), n.prefix_len().saturating_sub(1)) {
                    v.push(("widen prefix".to_string(), AddrMatch::V4(w.trunc())));
                }
                if let Ok(subs) = n.subnets(n.prefix_len() + 1) {
                    for (k, s) in subs.enumerate() {
                        v.push((format!("narrow prefix {k}"), AddrMatch::V4(s)));
                    }
                }
            }
            AddrMatch::V6(n) => {
                if let Ok(w) = ipnet::Ipv6Net::new(n.network(), n.prefix_len().saturating_sub(1)) {
                    v.push(("widen prefix".to_string(), AddrMatch::V6(w.trunc())));
                }
                if let Ok(subs) = n.subnets(n.prefix_len() + 1) {
                    for (k, s) in subs.enumerate() {
                        v.push((format!("narrow prefix {k}"), AddrMatch::V6(s)));
                    }
                }
            }
            _ => {}
        }
        v
    };
    match m {
        Match::Saddr(a) => out.extend(addr(a).into_iter().map(|(w, a)| (w, Match::Saddr(a)))),
        Match::Daddr(a) => out.extend(addr(a).into_iter().map(|(w, a)| (w, Match::Daddr(a)))),
        Match::Dport(p, PortMatch::Port(x)) => {
            if *x > 0 {
                out.push((
                    "widen port down".into(),
                    Match::Dport(*p, PortMatch::Range(x - 1, *x)),
                ));
            }
            if *x < u16::MAX {
                out.push((
                    "widen port up".into(),
                    Match::Dport(*p, PortMatch::Range(*x, x + 1)),
                ));
            }
        }
        Match::Dport(p, PortMatch::Range(lo, hi)) => {
            let r = |lo: u16, hi: u16| {
                if lo == hi {
                    PortMatch::Port(lo)
                } else {
                    PortMatch::Range(lo, hi)
                }
            };
            if *lo > 0 {
                out.push(("widen range down".into(), Match::Dport(*p, r(lo - 1, *hi))));
            }
            if *hi < u16::MAX {
                out.push(("widen range up".into(), Match::Dport(*p, r(*lo, hi + 1))));
            }
            out.push(("narrow range up".into(), Match::Dport(*p, r(lo + 1, *hi))));
            out.push(("narrow range down".into(), Match::Dport(*p, r(*lo, hi - 1))));
        }
        _ => {}
    }
    out
}

/// How a mutant differs from the original on `hook`.
#[derive(Debug)]
pub enum Differs {
    /// On a packet verify can send (a new TCP/UDP connection or ICMP echo from a
    /// source the kernel delivers, or the established return).
    Sendable(Packet),
    /// Only on packets verify cannot send (other conntrack states, protocols
    /// or ICMP types, martian sources).
    Unsendable,
    No,
}

/// Exact: one packet per cell of the partition both rulesets' rules draw
/// (split further where the kernel treats source addresses differently).
pub fn differs(a: &Ruleset, b: &Ruleset, hook: Hook) -> Differs {
    let mut cubes = Vec::new();
    for rs in [a, b] {
        for c in rs
            .table
            .chains
            .iter()
            .filter(|c| c.base.is_some_and(|x| x.hook == hook))
        {
            for r in &c.rules {
                if let Ok(Some(cube)) = Cube::of_rule(rs, r, hook) {
                    cubes.push(cube);
                }
            }
        }
    }
    let part = Partition::new(&cubes, hook, &special_cuts());
    let mut unsendable = false;
    let mut found = None;
    part.each_cell(
        hostwall::space::ALL_CT,
        |_, _| true,
        |pkt| {
            let mut pkt = pkt.clone();
            let est_ok = pkt.ct == CtState::ESTABLISHED
                && matches!(pkt.l4, L4::Tcp { dport } if {
                    let (lo, hi) = part.port_class(dport);
                    lo <= 32768 && 60999 <= hi
                });
            if est_ok {
                pkt.l4 = L4::Tcp { dport: 40000 };
            }
            // Verify sends input probes to its own host address only (the link's, or
            // loopback on `lo`): a cell's packet is seen there, so a difference that only
            // a `to` rule's other destinations would show counts as not sendable.
            let asked = pkt.dst;
            if hook == Hook::Input {
                pkt.dst = verify_host_addr(&pkt);
            }
            let (va, vb) = (verdict(a, hook, &pkt), verdict(b, hook, &pkt));
            if outcome(&pkt, va) == outcome(&pkt, vb) {
                let mut seen = pkt.clone();
                seen.dst = asked;
                unsendable |= outcome(&seen, verdict(a, hook, &seen))
                    != outcome(&seen, verdict(b, hook, &seen));
                return true;
            }
            let reply_ok = est_ok
                && pkt.iif.as_deref() != Some("lo")
                && source_ok(&pkt)
                && (hook != Hook::Forward || answers_a_connection(&part, a, b, &pkt))
                && (hook != Hook::Input || host_can_open(a, &pkt));
            if sendable(&pkt, hook) || reply_ok {
                found = Some(pkt);
                return false;
            }
            unsendable = true;
            true
        },
    );
    match (found, unsendable) {
        (Some(p), _) => Differs::Sendable(p),
        (None, true) => Differs::Unsendable,
        (None, false) => Differs::No,
    }
}

/// Whether the host's connection an established input packet answers can leave
/// through the output hook: verify's return probe opens it (to tcp 40001), so an
/// `output { }` block that refuses it leaves the input's established traffic unsendable.
fn host_can_open(rs: &Ruleset, pkt: &Packet) -> bool {
    let syn = Packet {
        src: pkt.dst,
        dst: pkt.src,
        iif: None,
        oif: pkt.iif.clone(),
        l4: L4::Tcp { dport: 40001 },
        ct: CtState::NEW,
    };
    verdict(rs, Hook::Output, &syn) == Verdict::Accept
}

/// Whether a forwarded established packet answers a connection either
/// ruleset lets through the other way (the only way verify sends one).
fn answers_a_connection(part: &Partition, a: &Ruleset, b: &Ruleset, pkt: &Packet) -> bool {
    if !unicast(pkt.dst) {
        return false;
    }
    let ports = part
        .port_cuts()
        .iter()
        .filter_map(|p| u16::try_from(*p).ok());
    ports.into_iter().any(|port| {
        let new = Packet {
            src: pkt.dst,
            dst: pkt.src,
            iif: pkt.oif.clone(),
            oif: pkt.iif.clone(),
            l4: L4::Tcp { dport: port.max(1) },
            ct: CtState::NEW,
        };
        [a, b]
            .iter()
            .any(|rs| verdict(rs, Hook::Forward, &new) == Verdict::Accept)
    })
}

/// The destination verify's input probe for `pkt` has: loopback on `lo`, else the first
/// test link's host address (`verify::topology`: 198.18.0.1, fd00:6877::1).
fn verify_host_addr(pkt: &Packet) -> IpAddr {
    let lo = pkt.iif.as_deref() == Some("lo");
    match (pkt.src.is_ipv4(), lo) {
        (true, true) => IpAddr::from([127, 0, 0, 1]),
        (false, true) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        (true, false) => IpAddr::from([198, 18, 0, 1]),
        (false, false) => IpAddr::from(std::net::Ipv6Addr::new(0xfd00, 0x6877, 0, 0, 0, 0, 0, 1)),
    }
}

fn verdict(rs: &Ruleset, hook: Hook, pkt: &Packet) -> Verdict {
    evaluate(rs, hook, pkt).expect("eval").verdict
}

/// What a sender sees: TCP resets are only sent for TCP.
fn outcome(pkt: &Packet, v: Verdict) -> u8 {
    match v {
        Verdict::Accept => 0,
        Verdict::Drop => 1,
        Verdict::Reject(RejectWith::TcpReset) if matches!(pkt.l4, L4::Tcp { .. }) => 2,
        Verdict::Reject(RejectWith::TcpReset) => 1,
        Verdict::Reject(RejectWith::IcmpxPortUnreachable) => 2,
        Verdict::Reject(RejectWith::IcmpxAdminProhibited) => 3,
    }
}

fn sendable(pkt: &Packet, hook: Hook) -> bool {
    let kind_ok = pkt.ct == CtState::NEW
        && match pkt.l4 {
            L4::Tcp { dport } | L4::Udp { dport } => dport > 0,
            L4::Icmp { kind } => kind == 8 && pkt.src.is_ipv4(),
            L4::Icmpv6 { kind } => kind == 128 && !pkt.src.is_ipv4(),
            _ => false,
        };
    kind_ok && source_ok(pkt) && (hook != Hook::Forward || unicast(pkt.dst))
}

/// A source the kernel delivers to input from where verify sends it: a
/// unicast or link-local address over a link, a loopback one over `lo`.
fn source_ok(pkt: &Packet) -> bool {
    let lo = pkt.iif.as_deref() == Some("lo");
    let a = pkt.src;
    let loopback = a.is_loopback();
    let link_local = match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => v.segments()[0] & 0xffc0 == 0xfe80,
    };
    if lo {
        loopback
    } else {
        unicast(a) || link_local
    }
}

fn unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            !(v.is_unspecified()
                || v.is_loopback()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_link_local())
        }
        IpAddr::V6(v) => {
            !(v.is_unspecified()
                || v.is_loopback()
                || v.is_multicast()
                || v.to_ipv4_mapped().is_some()
                || v.segments()[0] & 0xffc0 == 0xfe80)
        }
    }
}

/// Where the kernel's treatment of source addresses changes (martians,
/// loopback, link-local, multicast, IPv4-mapped).
fn special_cuts() -> ExtraCuts {
    let v4 = |a: [u8; 4], len: u32| {
        let lo = u128::from(u32::from(std::net::Ipv4Addr::from(a)));
        [lo, lo + (1u128 << (32 - len))]
    };
    let v6 = |s: &str, len: u32| {
        let lo = u128::from(s.parse::<std::net::Ipv6Addr>().expect("v6"));
        [lo, lo + (1u128 << (128 - len))]
    };
    ExtraCuts {
        saddr: [
            [
                v4([0, 0, 0, 0], 32),
                v4([127, 0, 0, 0], 8),
                v4([169, 254, 0, 0], 16),
                v4([224, 0, 0, 0], 4),
            ]
            .concat()
            .into_iter()
            .chain([u128::from(u32::MAX)])
            .collect(),
            [
                v6("::", 128),
                v6("::1", 128),
                v6("::ffff:0:0", 96),
                v6("fe80::", 10),
            ]
            .concat()
            .into_iter()
            .chain([u128::from(
                "ff00::".parse::<std::net::Ipv6Addr>().expect("v6"),
            )])
            .collect(),
        ],
    }
}
