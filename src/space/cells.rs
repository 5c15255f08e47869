//! The partition of one hook's header space by the boundaries of a set of
//! boxes (the rules of one ruleset, or of two being compared): per field, the
//! values where some rule's set starts or ends split the field into classes,
//! and a cell is one class of every field. Every rule matches all packets of
//! a cell or none, so two rulesets whose rules drew the cuts agree everywhere
//! exactly when they agree on one packet per cell.

use super::{Cube, IfSet, PORT_MAX, addr_of, addr_value, candidates, hook_has, l4_of, proto_port};
use crate::eval::Packet;
use crate::ir::{CtState, Hook, IfName};

/// Protocols whose port field (port or ICMP type) the rules can look at.
const PORT_PROTOS: [u8; 5] = [1, 6, 17, 58, 132];
/// The conntrack states, one per class.
const CT_STATES: [u32; 5] = [
    CtState::NEW,
    CtState::ESTABLISHED,
    CtState::RELATED,
    CtState::INVALID,
    CtState::UNTRACKED,
];

/// Class boundaries per field (each list sorted, starting at 0) and one
/// interface name per class of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    hook: Hook,
    proto: Vec<u128>,
    saddr: [Vec<u128>; 2],
    daddr: [Vec<u128>; 2],
    port: Vec<u128>,
    iif: IfClasses,
    oif: IfClasses,
}

/// Interface names split by the rule names they match: one representative
/// per class (`None` alone on a hook whose packets carry no such interface).
#[derive(Clone, Debug, PartialEq, Eq)]
struct IfClasses {
    names: Vec<IfName>,
    reps: Vec<Option<String>>,
}

impl IfClasses {
    fn new<'a>(sets: impl Iterator<Item = &'a IfSet>, carried: bool) -> IfClasses {
        let mut names: Vec<IfName> = Vec::new();
        for s in sets {
            for n in s.pos.iter().chain(&s.neg) {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        let mut out = IfClasses {
            names,
            reps: Vec::new(),
        };
        if !carried {
            out.reps.push(None);
            return out;
        }
        let mut seen: Vec<Vec<bool>> = Vec::new();
        for c in candidates(out.names.iter()) {
            let sig = out.signature(&c);
            if !seen.contains(&sig) {
                seen.push(sig);
                out.reps.push(Some(c));
            }
        }
        out
    }

    fn signature(&self, name: &str) -> Vec<bool> {
        self.names
            .iter()
            .map(|n| crate::eval::if_matches(n, Some(name)))
            .collect()
    }

    /// The class of a packet's interface (one past the last for a missing one).
    fn index(&self, name: Option<&str>) -> u32 {
        let Some(name) = name else {
            return self
                .reps
                .iter()
                .position(Option::is_none)
                .unwrap_or(self.reps.len()) as u32;
        };
        let sig = self.signature(name);
        self.reps
            .iter()
            .position(|r| r.as_deref().is_some_and(|r| self.signature(r) == sig))
            .unwrap_or(self.reps.len()) as u32
    }
}

/// A cell: the class index of every field (family, protocol, source,
/// destination, port, input and output interface, conntrack state).
pub type CellId = [u32; 8];

/// Extra boundaries beyond the rules' own: source address values per family
/// (e.g. where the kernel treats addresses differently).
#[derive(Clone, Debug, Default)]
pub struct ExtraCuts {
    pub saddr: [Vec<u128>; 2],
}

impl Partition {
    pub fn new(cubes: &[Cube], hook: Hook, extra: &ExtraCuts) -> Partition {
        let cuts = |field: &dyn Fn(&Cube) -> Vec<u128>, more: &[u128]| {
            let mut v: Vec<u128> = std::iter::once(0)
                .chain(cubes.iter().flat_map(field))
                .chain(more.iter().copied())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let per_proto: Vec<u128> = PORT_PROTOS
            .iter()
            .flat_map(|&p| [u128::from(p), u128::from(p) + 1])
            .collect();
        let fam_max = [u128::from(u32::MAX), u128::MAX];
        let addr_cuts = |f: usize, src: bool, more: &[u128]| {
            let mut v = cuts(
                &|c: &Cube| {
                    let ivs = if src { &c.saddr[f] } else { &c.daddr[f] };
                    ivs.cuts().filter(|x| *x <= fam_max[f]).collect()
                },
                more,
            );
            v.retain(|x| *x <= fam_max[f]);
            v
        };
        Partition {
            hook,
            proto: cuts(
                &|c| c.proto.cuts().filter(|x| *x <= 255).collect(),
                &per_proto,
            ),
            saddr: [0, 1].map(|f| addr_cuts(f, true, &extra.saddr[f])),
            daddr: [0, 1].map(|f| addr_cuts(f, false, &[])),
            port: cuts(
                &|c| c.port.cuts().filter(|x| *x <= PORT_MAX).collect(),
                &[256],
            ),
            iif: IfClasses::new(cubes.iter().map(|c| &c.iif), hook_has(hook, true)),
            oif: IfClasses::new(cubes.iter().map(|c| &c.oif), hook_has(hook, false)),
        }
    }

    /// How many cells there are (saturating).
    pub fn count(&self) -> u128 {
        let rest = (self.iif.reps.len() * self.oif.reps.len() * CT_STATES.len()) as u128;
        let mut total: u128 = 0;
        for f in 0..2 {
            let addrs = (self.saddr[f].len() as u128).saturating_mul(self.daddr[f].len() as u128);
            for p in &self.proto {
                let ports = self.ports_of(*p).len() as u128;
                total = total.saturating_add(addrs.saturating_mul(ports).saturating_mul(rest));
            }
        }
        total
    }

    /// Port classes for protocol class `p` (just one, 0, for protocols without ports).
    fn ports_of(&self, p: u128) -> &[u128] {
        match u8::try_from(p) {
            Ok(1 | 58) => &self.port[..self.port.partition_point(|c| *c <= 255)],
            Ok(6 | 17 | 132) => &self.port,
            _ => &self.port[..1],
        }
    }

    /// The cell holding `pkt`.
    pub fn cell_of(&self, pkt: &Packet) -> CellId {
        let f = usize::from(!pkt.src.is_ipv4());
        let (proto, port) = proto_port(pkt.l4);
        let idx = |cuts: &[u128], v: u128| (cuts.partition_point(|c| *c <= v) - 1) as u32;
        let pi = idx(&self.proto, proto.into());
        let port_idx = if PORT_PROTOS.contains(&proto) {
            idx(&self.port, port.into())
        } else {
            0
        };
        [
            f as u32,
            pi,
            idx(&self.saddr[f], addr_value(pkt.src)),
            idx(&self.daddr[f], addr_value(pkt.dst)),
            port_idx,
            self.iif.index(pkt.iif.as_deref()),
            self.oif.index(pkt.oif.as_deref()),
            CT_STATES.iter().position(|s| *s == pkt.ct).unwrap_or(99) as u32,
        ]
    }

    /// Calls `f` with one packet of every cell, in cell order, while it
    /// returns true; only cells whose conntrack state is in `ct` and whose
    /// protocol passes `proto_ok`. Returns false when `f` stopped it.
    pub fn each_cell(
        &self,
        ct: u32,
        proto_ok: impl Fn(u8, u16) -> bool,
        mut f: impl FnMut(&Packet) -> bool,
    ) -> bool {
        for fam in 0..2 {
            for &p in &self.proto {
                let proto = p as u8;
                for &port in self.ports_of(p) {
                    if !proto_ok(proto, port as u16) {
                        continue;
                    }
                    for &s in &self.saddr[fam] {
                        for &d in &self.daddr[fam] {
                            let (Some(src), Some(dst)) = (addr_of(fam, s), addr_of(fam, d)) else {
                                continue;
                            };
                            for iif in &self.iif.reps {
                                for oif in &self.oif.reps {
                                    for &state in CT_STATES.iter().filter(|s| *s & ct != 0) {
                                        let pkt = Packet {
                                            src,
                                            dst,
                                            iif: iif.clone(),
                                            oif: oif.clone(),
                                            l4: l4_of(proto, port as u16),
                                            ct: state,
                                        };
                                        if !f(&pkt) {
                                            return false;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// Where each class of port values starts.
    pub fn port_cuts(&self) -> &[u128] {
        &self.port
    }

    /// The class of port values holding `port`: its first and last value.
    pub fn port_class(&self, port: u16) -> (u128, u128) {
        let i = self.port.partition_point(|c| *c <= u128::from(port));
        let hi = self.port.get(i).map_or(PORT_MAX, |next| next - 1);
        (self.port[i - 1], hi)
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }
}
