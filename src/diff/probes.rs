//! Example packets for a rule: first packets that meet every condition the IR can
//! state (interfaces, addresses, ports, ICMP types, conntrack state), so that a rule
//! of one table can be put to every other table. Unknown conditions are left as they
//! are (the evaluator then says "may").

use crate::eval::host::Path;
use crate::eval::{L4, Packet};
use crate::ir::host::Cond;
use crate::ir::{AddrMatch, CtState, IfName, L4Proto, Match, PortMatch, Set, TypeMatch};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ports tried per rule at most (the first of each range or set element).
const PORTS: usize = 4;

/// Ports other tables name tried at most per range of a rule (besides its first).
const CUT_PORTS: usize = 32;

/// Addresses used where a rule says nothing (documentation ranges, never a real host).
const SRC4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const DST4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// Interface names a wildcard may stand for (named in some table), and the names used
/// where a rule names none.
pub struct Hints {
    pub names: Vec<String>,
    /// Networks some rule pairs with an exact interface: (interface, is the source on
    /// input, network). Packets on that interface with no address of their own come
    /// from (or go to) it, as the traffic those rules are about does.
    pub nets: Vec<(String, bool, AddrMatch)>,
    /// Every destination port any rule of the tables names, and both ends of its port
    /// ranges and set elements, sorted: where those tables cut a range of ours, a packet
    /// inside the range is tried too (their `tcp dport 5900 drop` inside our 5634-6166).
    pub ports: Vec<u16>,
}

impl Hints {
    fn concrete(&self, n: &IfName) -> String {
        if !n.wildcard {
            return n.name.clone();
        }
        self.names
            .iter()
            .find(|c| c.starts_with(&n.name))
            .cloned()
            .unwrap_or_else(|| format!("{}0", n.name))
    }
}

/// What a rule's conditions fix of a packet; the rest stays at its default.
struct Shape {
    v4: bool,
    v6: bool,
    src: (Ipv4Addr, Ipv6Addr),
    dst: (Ipv4Addr, Ipv6Addr),
    iif: Option<String>,
    oif: Option<String>,
    ct: u32,
    l4: Vec<L4>,
    proto: Option<L4Proto>,
}

/// The packets to try for a rule with `conds` on `path`, `sets` being its table's sets.
pub fn packets(conds: &[Cond], sets: &[Set], path: Path, hints: &Hints) -> Vec<Packet> {
    let mut s = Shape {
        v4: true,
        v6: true,
        src: (SRC4, SRC6),
        dst: (DST4, DST6),
        iif: None,
        oif: None,
        ct: CtState::NEW,
        l4: Vec::new(),
        proto: None,
    };
    for c in conds {
        let m = match c {
            Cond::Is(m) => m,
            Cond::AnyOf { of, negated: false } => {
                // A first packet where the set allows one (`ct state { untracked, new }`).
                let new = of
                    .iter()
                    .find(|m| matches!(m, Match::CtState(st) if st.0 & CtState::NEW != 0));
                match new.or(of.first()) {
                    Some(m) => m,
                    None => return Vec::new(),
                }
            }
            _ => continue,
        };
        if s.fix(m, sets, hints).is_none() {
            return Vec::new();
        }
    }
    s.paired_nets(conds, hints);
    s.packets(path)
}

impl Shape {
    /// Addresses from the networks other rules pair with the packet's interfaces, where
    /// the rule itself names none.
    fn paired_nets(&mut self, conds: &[Cond], hints: &Hints) {
        let names = |src: bool| {
            conds.iter().any(|c| {
                matches!(c, Cond::Is(Match::Saddr(_))) && src
                    || matches!(c, Cond::Is(Match::Daddr(_))) && !src
            })
        };
        for (src, iface) in [(true, self.iif.clone()), (false, self.oif.clone())] {
            let Some(iface) = iface else { continue };
            if names(src) {
                continue;
            }
            let paired = hints.nets.iter().find(|(n, s, _)| *n == iface && *s == src);
            let Some(addr) = paired.and_then(|(_, _, a)| pick(a, &[])) else {
                continue;
            };
            self.set_addr(src, addr);
        }
    }

    /// Sets the source (`src`) or destination address of `addr`'s family.
    fn set_addr(&mut self, src: bool, addr: IpAddr) {
        let end = if src { &mut self.src } else { &mut self.dst };
        match addr {
            IpAddr::V4(x) => end.0 = x,
            IpAddr::V6(x) => end.1 = x,
        }
    }

    /// Narrows the shape to `m`; `None` when no packet can meet it.
    fn fix(&mut self, m: &Match, sets: &[Set], hints: &Hints) -> Option<()> {
        match m {
            Match::IifName(n) => self.iif = Some(hints.concrete(n)),
            Match::OifName(n) => self.oif = Some(hints.concrete(n)),
            Match::CtState(st) => self.ct = first_state(st),
            Match::NfProto(crate::ir::NfProto::Ipv4) => self.v6 = false,
            Match::NfProto(crate::ir::NfProto::Ipv6) => self.v4 = false,
            Match::L4Proto(p) => self.proto = Some(*p),
            Match::Saddr(a) | Match::Daddr(a) => {
                let addr = pick(a, sets)?;
                self.v4 &= addr.is_ipv4();
                self.v6 &= addr.is_ipv6();
                self.set_addr(matches!(m, Match::Saddr(_)), addr);
            }
            Match::Dport(p, pm) => {
                let p = *p;
                self.l4 = (ports(pm, sets, &hints.ports).into_iter())
                    .map(|dport| match p {
                        L4Proto::Udp => L4::Udp { dport },
                        L4Proto::Sctp => L4::Sctp { dport },
                        _ => L4::Tcp { dport },
                    })
                    .collect();
            }
            Match::IcmpType(t) => {
                self.v6 = false;
                self.l4 = kinds(t, sets)
                    .into_iter()
                    .map(|kind| L4::Icmp { kind })
                    .collect();
            }
            Match::Icmpv6Type(t) => {
                self.v4 = false;
                self.l4 = (kinds(t, sets).into_iter())
                    .map(|kind| L4::Icmpv6 { kind })
                    .collect();
            }
        }
        Some(())
    }

    fn packets(mut self, path: Path) -> Vec<Packet> {
        if self.l4.is_empty() {
            self.l4 = vec![match self.proto {
                Some(L4Proto::Udp) => L4::Udp { dport: 53 },
                Some(L4Proto::Icmp) => L4::Icmp { kind: 8 },
                Some(L4Proto::Icmpv6) => L4::Icmpv6 { kind: 128 },
                Some(L4Proto::Sctp) => L4::Sctp { dport: 9 },
                _ => L4::Tcp { dport: 443 },
            }];
        }
        let (iif, oif) = match path {
            Path::Input => (self.iif.or_else(|| Some("eth0".into())), None),
            Path::Forward => (
                self.iif.or_else(|| Some("eth0".into())),
                self.oif.or_else(|| Some("eth1".into())),
            ),
            Path::Output => (None, self.oif.or_else(|| Some("eth0".into()))),
        };
        let mut out = Vec::new();
        for l in self.l4 {
            let fams = [
                (
                    self.v4 && !matches!(l, L4::Icmpv6 { .. }),
                    IpAddr::V4(self.src.0),
                    IpAddr::V4(self.dst.0),
                ),
                (
                    self.v6 && !matches!(l, L4::Icmp { .. }),
                    IpAddr::V6(self.src.1),
                    IpAddr::V6(self.dst.1),
                ),
            ];
            for (_, src, dst) in fams.into_iter().filter(|f| f.0) {
                out.push(Packet {
                    src,
                    dst,
                    iif: iif.clone(),
                    oif: oif.clone(),
                    l4: l,
                    ct: self.ct,
                });
            }
        }
        out
    }
}

/// A host address inside the match: the network's second address when there is one
/// (the first is often the network itself), else its only one.
fn pick(a: &AddrMatch, sets: &[Set]) -> Option<IpAddr> {
    let (lo, hi, v6) = match a {
        AddrMatch::V4(n) => (
            u32::from(n.network()) as u128,
            u32::from(n.broadcast()) as u128,
            false,
        ),
        AddrMatch::V6(n) => (u128::from(n.network()), u128::from(n.broadcast()), true),
        AddrMatch::Set4(s) | AddrMatch::Set6(s) => {
            let e = sets.iter().find(|x| &x.name == s)?.elements.first()?;
            (e.lo, e.hi, matches!(a, AddrMatch::Set6(_)))
        }
        AddrMatch::Range4(lo, hi) => (u32::from(*lo).into(), u32::from(*hi).into(), false),
        AddrMatch::Range6(lo, hi) => (u128::from(*lo), u128::from(*hi), true),
    };
    let v = if hi > lo { lo + 1 } else { lo };
    Some(if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?))
    })
}

fn ports(pm: &PortMatch, sets: &[Set], cuts: &[u16]) -> Vec<u16> {
    let mut out = match pm {
        PortMatch::Port(p) => vec![*p],
        PortMatch::Range(lo, _) => vec![*lo],
        PortMatch::Set(s) => set_sample(s, sets),
    };
    let ranges: Vec<(u16, u16)> = match pm {
        PortMatch::Port(_) => Vec::new(),
        PortMatch::Range(lo, hi) => vec![(*lo, *hi)],
        PortMatch::Set(s) => (sets.iter().find(|x| x.name == *s))
            .map(|x| {
                (x.elements.iter())
                    .filter_map(|e| Some((u16::try_from(e.lo).ok()?, u16::try_from(e.hi).ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
    };
    for (lo, hi) in ranges {
        let inside = cuts
            .iter()
            .filter(|p| (lo..=hi).contains(*p) && !out.contains(p));
        let inside: Vec<u16> = inside.take(CUT_PORTS).copied().collect();
        out.extend(inside);
    }
    out
}

fn kinds(t: &TypeMatch, sets: &[Set]) -> Vec<u8> {
    match t {
        TypeMatch::Type(k) => vec![*k],
        TypeMatch::Set(s) => set_sample(s, sets),
    }
}

/// The first [`PORTS`] elements of set `name` (their low ends) that fit in `T`.
fn set_sample<T: TryFrom<u128>>(name: &str, sets: &[Set]) -> Vec<T> {
    sets.iter()
        .find(|x| x.name == name)
        .map(|x| {
            x.elements
                .iter()
                .take(PORTS)
                .filter_map(|e| T::try_from(e.lo).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every exact interface name any rule of the tables names (for wildcards), and the
/// networks rules pair with an exact interface (`iifname "virbr0" ip saddr 192.168.122.0/24`).
pub fn hints(tables: &[std::sync::Arc<crate::ir::host::HostTable>]) -> Hints {
    let mut names: Vec<String> = Vec::new();
    let mut nets = Vec::new();
    let mut ports = Vec::new();
    for t in tables {
        let rules = t.chains.iter().flat_map(|c| &c.rules);
        for m in rules.flat_map(|r| &r.conds).flat_map(cond_matches) {
            if let Match::Dport(_, pm) = m {
                ports.extend(port_ends(pm, &t.sets));
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    for r in tables.iter().flat_map(|t| &t.chains).flat_map(|c| &c.rules) {
        let exact = |want_iif: bool| {
            r.conds.iter().find_map(|c| match c {
                Cond::Is(Match::IifName(n)) if want_iif && !n.wildcard => Some(n.name.clone()),
                Cond::Is(Match::OifName(n)) if !want_iif && !n.wildcard => Some(n.name.clone()),
                _ => None,
            })
        };
        for c in &r.conds {
            let pair = match c {
                Cond::Is(Match::Saddr(a @ (AddrMatch::V4(_) | AddrMatch::V6(_)))) => {
                    exact(true).map(|i| (i, true, a.clone()))
                }
                Cond::Is(Match::Daddr(a @ (AddrMatch::V4(_) | AddrMatch::V6(_)))) => {
                    exact(false).map(|i| (i, false, a.clone()))
                }
                _ => None,
            };
            nets.extend(pair);
        }
        for c in &r.conds {
            if let Cond::Is(Match::IifName(n) | Match::OifName(n)) = c
                && !n.wildcard
                && !names.contains(&n.name)
            {
                names.push(n.name.clone());
            }
        }
    }
    Hints { names, nets, ports }
}

/// The matches a condition names, negated or not (a port a table excludes cuts too).
fn cond_matches(c: &Cond) -> Vec<&Match> {
    match c {
        Cond::Is(m) | Cond::Not(m) => vec![m],
        Cond::AnyOf { of, .. } => of.iter().collect(),
        _ => Vec::new(),
    }
}

/// A port match's single ports and the ends of its ranges and set elements.
fn port_ends(pm: &PortMatch, sets: &[Set]) -> Vec<u16> {
    match pm {
        PortMatch::Port(p) => vec![*p],
        PortMatch::Range(lo, hi) => vec![*lo, *hi],
        PortMatch::Set(s) => (sets.iter().find(|x| x.name == *s))
            .map(|x| {
                (x.elements.iter())
                    .flat_map(|e| [e.lo, e.hi])
                    .filter_map(|v| u16::try_from(v).ok())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The first conntrack state of `st` in the order a first packet prefers (new first).
fn first_state(st: &CtState) -> u32 {
    let bits = [
        CtState::NEW,
        CtState::ESTABLISHED,
        CtState::RELATED,
        CtState::INVALID,
        CtState::UNTRACKED,
    ];
    (bits.into_iter())
        .find(|b| st.0 & b != 0)
        .unwrap_or(CtState::NEW)
}
