//! The header space of a hook as classes per dimension (pure, no I/O): which
//! packets a rule matches, as a box (`Cube`) of per-field value sets — family,
//! protocol, source, destination, port (or ICMP type), input and output
//! interface, conntrack state — and the boundaries every rule of one or more
//! rulesets draws in each field (`cells`).
//!
//! A rule's matches are a conjunction of per-field constraints, so its match
//! set is exactly one box; two rules overlap when their boxes intersect, and
//! the packets one matches but not the other are a union of boxes, one per
//! field where they differ (`Cube::minus_along`). `verify` picks its probes
//! from these boxes; the classes they draw split the space so that every rule
//! matches either all packets of a cell or none.

pub mod cells;
pub mod ivs;

use crate::eval::{L4, Packet, if_matches};
use crate::ir::{AddrMatch, CtState, Hook, IfName, Interval, Match, PortMatch, Rule, Ruleset};
use crate::ir::{SetKey, TypeMatch};
pub use ivs::Ivs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Family bits of `Cube::fam`.
pub const V4: u8 = 1;
pub const V6: u8 = 2;
/// Every conntrack state a packet can be in (one bit each).
pub const ALL_CT: u32 =
    CtState::INVALID | CtState::ESTABLISHED | CtState::RELATED | CtState::NEW | CtState::UNTRACKED;
/// The largest value of the port field (ICMP types use 0..=255 of it).
pub const PORT_MAX: u128 = 65535;

/// The dimensions of the header space, in the order cells are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    Family,
    Proto,
    Saddr,
    Daddr,
    Port,
    Iif,
    Oif,
    Ct,
}

/// Interface names a packet may carry: it matches every name of `pos` and none of `neg`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct IfSet {
    pub pos: Vec<IfName>,
    pub neg: Vec<IfName>,
}

impl IfSet {
    pub fn admits(&self, name: &str) -> bool {
        self.pos.iter().all(|n| if_matches(n, Some(name)))
            && !self.neg.iter().any(|n| if_matches(n, Some(name)))
    }

    /// Whether any interface name can satisfy it: tried on a name made from
    /// each named form, and on one no rule names.
    pub fn satisfiable(&self) -> bool {
        self.pos.is_empty() && self.neg.is_empty()
            || candidates(self.pos.iter().chain(&self.neg)).any(|c| self.admits(&c))
    }
}

/// A name of each form (`virbr*` → `virbr*`, `virbr0`), and one matching none.
pub fn candidates<'a>(names: impl Iterator<Item = &'a IfName>) -> impl Iterator<Item = String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        out.push(n.name.clone());
        if n.wildcard {
            out.push(format!("{}0", n.name));
        }
    }
    out.push("zz9hostwall".to_string());
    out.into_iter()
}

/// The packets one rule (or a region between rules) matches: a box, one
/// value set per field. Addresses are per family (index 0 IPv4, 1 IPv6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cube {
    pub fam: u8,
    pub proto: Ivs,
    pub saddr: [Ivs; 2],
    pub daddr: [Ivs; 2],
    /// Destination port for TCP, UDP and SCTP; the type for ICMP and ICMPv6.
    pub port: Ivs,
    pub iif: IfSet,
    pub oif: IfSet,
    /// Conntrack states (bits of `ir::CtState`).
    pub ct: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    #[error("a rule looks up set @{set}, which the table does not define as {wanted}")]
    Set { set: String, wanted: &'static str },
}

impl Cube {
    /// Every packet.
    pub fn all() -> Cube {
        Cube {
            fam: V4 | V6,
            proto: Ivs::full(255),
            saddr: [Ivs::full(u32::MAX as u128), Ivs::full(u128::MAX)],
            daddr: [Ivs::full(u32::MAX as u128), Ivs::full(u128::MAX)],
            port: Ivs::full(PORT_MAX),
            iif: IfSet::default(),
            oif: IfSet::default(),
            ct: ALL_CT,
        }
    }

    /// The packets `rule` matches on `hook` (`None`: none can, e.g. an
    /// `oifname` match on input, where packets have no output interface).
    pub fn of_rule(rs: &Ruleset, rule: &Rule, hook: Hook) -> Result<Option<Cube>, SpaceError> {
        let mut c = Cube::all();
        for m in &rule.matches {
            match m {
                Match::IifName(n) if hook_has(hook, true) => c.iif.pos.push(n.clone()),
                Match::OifName(n) if hook_has(hook, false) => c.oif.pos.push(n.clone()),
                Match::IifName(_) | Match::OifName(_) => return Ok(None),
                Match::CtState(s) => c.ct &= s.0,
                Match::L4Proto(p) => c.proto = c.proto.intersect(&Ivs::single(p.number().into())),
                Match::NfProto(crate::ir::NfProto::Ipv4) => c.fam &= V4,
                Match::NfProto(crate::ir::NfProto::Ipv6) => c.fam &= V6,
                Match::Saddr(a) => c.restrict_addr(rs, a, true)?,
                Match::Daddr(a) => c.restrict_addr(rs, a, false)?,
                Match::Dport(p, pm) => {
                    c.proto = c.proto.intersect(&Ivs::single(p.number().into()));
                    c.port = c.port.intersect(&port_values(rs, pm)?);
                }
                Match::IcmpType(t) | Match::Icmpv6Type(t) => {
                    let (proto, key) = match m {
                        Match::IcmpType(_) => (1, SetKey::IcmpType),
                        _ => (58, SetKey::Icmpv6Type),
                    };
                    c.proto = c.proto.intersect(&Ivs::single(proto));
                    c.port = c.port.intersect(&type_values(rs, t, key)?);
                }
            }
        }
        Ok(Some(c))
    }

    fn restrict_addr(&mut self, rs: &Ruleset, a: &AddrMatch, src: bool) -> Result<(), SpaceError> {
        let literal = || Ivs::new(a.interval().into_iter().collect());
        let (f, values) = match a {
            AddrMatch::V4(_) | AddrMatch::Range4(..) => (0, literal()),
            AddrMatch::V6(_) | AddrMatch::Range6(..) => (1, literal()),
            AddrMatch::Set4(s) => (0, set_values(rs, s, SetKey::Ipv4Addr)?),
            AddrMatch::Set6(s) => (1, set_values(rs, s, SetKey::Ipv6Addr)?),
        };
        // `ip saddr` implies an IPv4 packet, `ip6 saddr` an IPv6 one.
        self.fam &= if f == 0 { V4 } else { V6 };
        let field = if src {
            &mut self.saddr
        } else {
            &mut self.daddr
        };
        field[f] = field[f].intersect(&values);
        Ok(())
    }

    /// Whether a family bit has packets: its addresses are not empty.
    pub fn has_family(&self, f: usize) -> bool {
        self.fam & (1 << f) != 0 && !self.saddr[f].is_empty() && !self.daddr[f].is_empty()
    }

    pub fn is_empty(&self) -> bool {
        !(self.has_family(0) || self.has_family(1))
            || self.proto.is_empty()
            || self.port.is_empty()
            || self.ct == 0
            || !self.iif.satisfiable()
            || !self.oif.satisfiable()
    }

    /// The packets both match.
    pub fn intersect(&self, o: &Cube) -> Cube {
        let ifs = |a: &IfSet, b: &IfSet| IfSet {
            pos: a.pos.iter().chain(&b.pos).cloned().collect(),
            neg: a.neg.iter().chain(&b.neg).cloned().collect(),
        };
        Cube {
            fam: self.fam & o.fam,
            proto: self.proto.intersect(&o.proto),
            saddr: [0, 1].map(|f| self.saddr[f].intersect(&o.saddr[f])),
            daddr: [0, 1].map(|f| self.daddr[f].intersect(&o.daddr[f])),
            port: self.port.intersect(&o.port),
            iif: ifs(&self.iif, &o.iif),
            oif: ifs(&self.oif, &o.oif),
            ct: self.ct & o.ct,
        }
    }

    /// The packets of `self` that `o` does not match because of field `d`
    /// alone (`None` when that part is empty). The union over all fields is
    /// exactly `self` minus `o`.
    pub fn minus_along(&self, o: &Cube, d: Dim) -> Option<Cube> {
        let mut c = self.clone();
        match d {
            Dim::Family => c.fam &= !o.fam,
            Dim::Proto => c.proto = c.proto.minus(&o.proto),
            Dim::Saddr => c.saddr = [0, 1].map(|f| self.saddr[f].minus(&o.saddr[f])),
            Dim::Daddr => c.daddr = [0, 1].map(|f| self.daddr[f].minus(&o.daddr[f])),
            Dim::Port => c.port = c.port.minus(&o.port),
            Dim::Iif | Dim::Oif => {
                let (mine, theirs) = match d {
                    Dim::Iif => (&mut c.iif, &o.iif),
                    _ => (&mut c.oif, &o.oif),
                };
                // Not matching `theirs`: failing one of its names (taken one at a time).
                let n = theirs.pos.first()?;
                mine.neg.push(n.clone());
            }
            Dim::Ct => c.ct &= !o.ct,
        }
        (!c.is_empty()).then_some(c)
    }

    /// Whether `pkt` is in the box.
    pub fn contains(&self, pkt: &Packet) -> bool {
        let f = usize::from(!pkt.src.is_ipv4());
        let (proto, port) = proto_port(pkt.l4);
        self.fam & (1 << f) != 0
            && self.saddr[f].contains(addr_value(pkt.src))
            && self.daddr[f].contains(addr_value(pkt.dst))
            && self.proto.contains(proto.into())
            && self.port.contains(port.into())
            && pkt
                .iif
                .as_deref()
                .map_or(self.iif.pos.is_empty(), |n| self.iif.admits(n))
            && pkt
                .oif
                .as_deref()
                .map_or(self.oif.pos.is_empty(), |n| self.oif.admits(n))
            && self.ct & pkt.ct != 0
    }
}

/// Whether packets on `hook` carry an input (`iif`) or output interface.
pub fn hook_has(hook: Hook, iif: bool) -> bool {
    match hook {
        Hook::Prerouting | Hook::Input => iif,
        Hook::Forward => true,
        Hook::Output | Hook::Postrouting => !iif,
    }
}

/// The protocol number and port field (port, or ICMP type; 0 for others) of a packet.
pub fn proto_port(l4: L4) -> (u8, u16) {
    match l4 {
        L4::Tcp { dport } | L4::Udp { dport } | L4::Sctp { dport } => (l4.proto_number(), dport),
        L4::Icmp { kind } | L4::Icmpv6 { kind } => (l4.proto_number(), kind.into()),
        L4::Other(n) => (n, 0),
    }
}

/// The layer-4 header of protocol `proto` with port field `port`.
pub fn l4_of(proto: u8, port: u16) -> L4 {
    let kind = u8::try_from(port).unwrap_or(u8::MAX);
    match proto {
        6 => L4::Tcp { dport: port },
        17 => L4::Udp { dport: port },
        132 => L4::Sctp { dport: port },
        1 => L4::Icmp { kind },
        58 => L4::Icmpv6 { kind },
        n => L4::Other(n),
    }
}

pub fn addr_value(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of family index `f` (0 IPv4) with value `v`, if it fits.
pub fn addr_of(f: usize, v: u128) -> Option<IpAddr> {
    if f == 0 {
        Some(Ipv4Addr::from(u32::try_from(v).ok()?).into())
    } else {
        Some(Ipv6Addr::from(v).into())
    }
}

fn set_values(rs: &Ruleset, name: &str, key: SetKey) -> Result<Ivs, SpaceError> {
    rs.table
        .sets
        .iter()
        .find(|s| s.name == name && s.key == key)
        .map(|s| Ivs::new(s.elements.to_vec()))
        .ok_or_else(|| SpaceError::Set {
            set: name.to_string(),
            wanted: key.name(),
        })
}

fn port_values(rs: &Ruleset, pm: &PortMatch) -> Result<Ivs, SpaceError> {
    Ok(match pm {
        PortMatch::Port(p) => Ivs::single((*p).into()),
        PortMatch::Range(lo, hi) => Ivs::new(vec![Interval {
            lo: (*lo).into(),
            hi: (*hi).into(),
        }]),
        PortMatch::Set(s) => set_values(rs, s, SetKey::InetService)?,
    })
}

fn type_values(rs: &Ruleset, t: &TypeMatch, key: SetKey) -> Result<Ivs, SpaceError> {
    Ok(match t {
        TypeMatch::Type(v) => Ivs::single((*v).into()),
        TypeMatch::Set(s) => set_values(rs, s, key)?,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
