//! The test network of `verify` (pure; `lab::build` makes it real): links
//! (veth pairs) between the host and the client namespace, and, with a
//! forward chain, the far namespace; their addresses, and the addresses
//! probes come from.
//!
//! Client link `k` uses the `k`-th /24 and /64 of the client blocks `lab_nets`
//! chose (198.18.k.0/24 and fd00:6877:0:k::/64 unless the policy names them);
//! far link `k` those of the far blocks (198.19.k.0/24, fd00:6877:1:k::/64).
//! The host side is `.1`/`::1`, the peer `.2`/`::2`. Extra addresses (inside
//! or outside `from`/`to` nets) are host routes on the peer's link, with a
//! route back on the host side; nothing leaves the namespaces. They are never
//! inside the lab's blocks (`Taken`), so never a lab subnet's network or
//! broadcast address nor one of its own. `design` chooses them for a ruleset.

use super::lab_nets::{Block, LabNets};
use super::sources;
use crate::ir::{AddrMatch, IfName, Interval, Ruleset, Sysctl};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The host's loopback interface, which loopback-source probes arrive on.
pub(crate) const LOOPBACK_IF: &str = "lo";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub host_if: String,
    /// The peer's name, in the client namespace (or the far one for `far` links).
    pub client_if: String,
    pub(crate) index: u8,
    /// A link to the far namespace (its subnets are cut from the far blocks).
    pub far: bool,
    /// The blocks its side's subnets are cut from.
    pub block: Block,
}

impl Link {
    pub fn host_addr(&self, v4: bool) -> IpAddr {
        self.addr(v4, 1)
    }

    pub fn client_addr(&self, v4: bool) -> IpAddr {
        self.addr(v4, 2)
    }

    fn addr(&self, v4: bool, last: u8) -> IpAddr {
        if v4 {
            self.block.v4_addr(self.index, last).into()
        } else {
            self.block.v6_addr(self.index, u16::from(last)).into()
        }
    }
}

/// A client address probes are sent from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub link: usize,
    pub addr: IpAddr,
    /// The link's own client address (not an extra source address).
    pub base: bool,
    /// For extra addresses: chosen inside a source restriction (else outside all).
    pub permitted: bool,
    /// Input probes are sent from it (false for addresses only forward probes use).
    pub input: bool,
    /// Sent from the host namespace itself over `lo` (a loopback source), not over a link.
    pub lo: bool,
    /// Added for the partition's probes (`cover`): probed only with the kinds
    /// those ask for, not with the per-endpoint port matrix.
    pub only_wanted: bool,
}

/// A source or destination net no probe comes from, and why: a "not probed" row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unprobed {
    pub name: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Link 0 is the default link; the others exist for `iifname` rules
    /// (input `on`, and forward `in`/`out` names placed on the client side).
    pub links: Vec<Link>,
    pub endpoints: Vec<Endpoint>,
    /// Links to the far namespace, for the forward chain (0 is the default
    /// uplink); empty when the ruleset has no forward chain.
    pub far_links: Vec<Link>,
    pub far_endpoints: Vec<Endpoint>,
    /// Forwarding sysctls set in the host namespace before the ruleset is
    /// loaded (only with a forward chain): the policy's value, else on.
    pub forwarding: Vec<(Sysctl, bool)>,
    /// Nets of the rules that no probe could come from or go to, with the reason.
    pub unprobed: Vec<Unprobed>,
    /// The blocks the links' subnets are cut from.
    pub lab: LabNets,
    /// Extra addresses the host owns (on the default link's host side) for the
    /// input rules' `to` nets: probes to them are sent over the default link.
    pub host_addrs: Vec<IpAddr>,
}

impl Topology {
    /// The addresses a fresh extra address must not be, as things stand.
    pub(super) fn taken(&self) -> Taken {
        let eps = self.endpoints.iter().chain(&self.far_endpoints);
        Taken::new(&self.lab, eps).with(&self.host_addrs)
    }

    /// Where an input probe from `ep` goes: `dst` (one of `host_addrs`), else
    /// the host's address on the probe's link (or its loopback address).
    pub(crate) fn input_dst(&self, ep: &Endpoint, dst: Option<IpAddr>) -> IpAddr {
        let v4 = ep.addr.is_ipv4();
        match dst {
            Some(d) => d,
            None if ep.lo => sources::loopback_dst(v4),
            None => self.links[ep.link].host_addr(v4),
        }
    }
}

/// Addresses never chosen as a fresh extra address: those endpoints already
/// use, and every address of the lab's blocks (its links' own, and each
/// subnet's network and broadcast address, which a socket cannot send from).
pub(crate) struct Taken {
    addrs: BTreeSet<IpAddr>,
    lab: LabNets,
}

impl Taken {
    pub(super) fn new<'a>(lab: &LabNets, endpoints: impl Iterator<Item = &'a Endpoint>) -> Taken {
        Taken {
            addrs: endpoints.map(|e| e.addr).collect(),
            lab: lab.clone(),
        }
    }

    /// These addresses too (the host's own extra addresses).
    pub(super) fn with(mut self, addrs: &[IpAddr]) -> Taken {
        self.addrs.extend(addrs);
        self
    }

    pub(crate) fn contains(&self, a: IpAddr) -> bool {
        self.addrs.contains(&a) || self.lab.reserved(a)
    }
}

/// A link name matching `n`: the name itself, or for `virbr*` `virbr0`.
pub(super) fn concrete(n: &IfName) -> String {
    // Linux interface names are at most 15 bytes; a prefix that long matches itself.
    if n.wildcard && n.name.len() < 15 {
        format!("{}0", n.name)
    } else {
        n.name.clone()
    }
}

pub(super) fn is_v4(m: &AddrMatch) -> bool {
    matches!(
        m,
        AddrMatch::V4(_) | AddrMatch::Set4(_) | AddrMatch::Range4(..)
    )
}

/// Address ranges of a source match; for sets only the first and last element
/// and the first of each address class, which bounds the number of extra
/// addresses for very large sets.
pub(super) fn match_intervals(rs: &Ruleset, m: &AddrMatch) -> Vec<Interval> {
    let from_set = |name: &str| -> Vec<Interval> {
        let Some(set) = rs.table.sets.iter().find(|s| s.name == name) else {
            return vec![];
        };
        let mut v: Vec<Interval> = set.elements.first().into_iter().collect();
        v.extend(set.elements.iter().skip(1).last());
        // And the first element of every address class, so no class is left out.
        let v4 = is_v4(m);
        let key = |iv: &Interval| {
            let lo = sources::addr(iv.lo, v4).map(sources::classify);
            (lo, sources::blocking_class(iv, v4))
        };
        let mut keys: BTreeSet<_> = v.iter().map(key).collect();
        for iv in set.elements.iter() {
            if keys.insert(key(&iv)) {
                v.push(iv);
            }
        }
        v
    };
    match m {
        AddrMatch::Set4(name) | AddrMatch::Set6(name) => from_set(name),
        literal => literal.interval().into_iter().collect(),
    }
}

pub(super) fn contains(iv: &Interval, a: IpAddr) -> bool {
    let v = match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    };
    iv.lo <= v && v <= iv.hi
}
