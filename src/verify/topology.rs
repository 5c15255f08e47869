//! The test network of `verify` (pure; `lab::build` makes it real): links
//! (veth pairs) between the host and the client namespace, and, with a
//! forward chain, the far namespace; their addresses, and the addresses
//! probes come from.
//!
//! Client link `k` uses 198.18.k.0/24 (the benchmarking range, RFC 2544) and
//! fd00:6877:0:k::/64 (ULA); far link `k` 198.19.k.0/24 and fd00:6877:1:k::/64.
//! The host side is `.1`/`::1`, the peer `.2`/`::2`. Extra addresses (inside
//! or outside `from`/`to` nets) are host routes on the peer's link, with a
//! route back on the host side; nothing leaves the namespaces.

use super::fwd_design;
use super::matrix::source_matches;
use crate::eval::if_matches;
use crate::ir::{AddrMatch, IfName, Interval, Match, Ruleset, Sysctl};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Non-permitted source candidates (documentation and benchmarking ranges).
const OUTSIDERS_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(203, 0, 113, 7),
    Ipv4Addr::new(198, 51, 100, 7),
    Ipv4Addr::new(192, 0, 2, 7),
    Ipv4Addr::new(198, 19, 255, 7),
];
const OUTSIDERS_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 7),
    Ipv6Addr::new(0xfd00, 0x6877, 0xffff, 0, 0, 0, 0, 7),
    Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 7),
];
/// Names tried for the default link's host side: one no `iifname` rule matches.
const DEFAULT_IFS: [&str; 3] = ["hwv0", "hw-verify0", "zz9verify"];
/// Names tried for the default far link's host side (forward `out` of nothing named).
const DEFAULT_FAR_IFS: [&str; 3] = ["uplink0", "hw-uplink0", "zz9uplink"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub host_if: String,
    /// The peer's name, in the client namespace (or the far one for `far` links).
    pub client_if: String,
    pub(crate) index: u8,
    /// A link to the far namespace (198.19.k.0/24, fd00:6877:1:k::/64).
    pub far: bool,
}

impl Link {
    pub fn host_addr(&self, v4: bool) -> IpAddr {
        self.addr(v4, 1)
    }

    pub fn client_addr(&self, v4: bool) -> IpAddr {
        self.addr(v4, 2)
    }

    fn addr(&self, v4: bool, last: u8) -> IpAddr {
        let far = u16::from(self.far);
        if v4 {
            Ipv4Addr::new(198, 18 + self.far as u8, self.index, last).into()
        } else {
            let k = u16::from(self.index);
            Ipv6Addr::new(0xfd00, 0x6877, far, k, 0, 0, 0, u16::from(last)).into()
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
}

/// Chooses links and client addresses for the rules of `rs`.
pub(crate) fn design(rs: &Ruleset) -> Topology {
    let input_names = input_if_names(rs);
    let input_concrete: Vec<String> = input_names.iter().map(|n| concrete(n)).collect();
    let (fwd_client, fwd_far) = fwd_design::sides(rs, &input_concrete);
    let mut avoid = input_names.clone();
    avoid.extend(fwd_design::if_names(rs));
    let mut client_names = input_concrete;
    client_names.extend(fwd_client);
    let links = make_links(default_name(&DEFAULT_IFS, &avoid), client_names, false);
    let mut endpoints = base_endpoints(&links);
    let sources = source_matches(rs);
    permitted_endpoints(rs, &links, &sources, &mut endpoints);
    for v4 in [true, false] {
        if let Some(addr) = outsider(rs, &sources, v4) {
            endpoints.push(Endpoint {
                link: 0,
                addr,
                base: false,
                permitted: false,
                input: true,
            });
        }
    }
    let mut topo = Topology {
        links,
        endpoints,
        far_links: Vec::new(),
        far_endpoints: Vec::new(),
        forwarding: Vec::new(),
    };
    if fwd_design::has_forward(rs) {
        topo.far_links = make_links(default_name(&DEFAULT_FAR_IFS, &avoid), fwd_far, true);
        topo.far_endpoints = base_endpoints(&topo.far_links);
        topo.forwarding = fwd_design::forwarding(rs);
        fwd_design::add_endpoints(rs, &mut topo);
    }
    topo
}

/// The links' own peer addresses, both families.
fn base_endpoints(links: &[Link]) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for (link, l) in links.iter().enumerate() {
        for v4 in [true, false] {
            endpoints.push(Endpoint {
                link,
                addr: l.client_addr(v4),
                base: true,
                permitted: true,
                input: true,
            });
        }
    }
    endpoints
}

type SourceMatch<'a> = (&'a AddrMatch, Option<&'a IfName>);

/// One address inside each source restriction, on the link its rule's
/// interface selects, unless the link's base address is already inside.
fn permitted_endpoints(
    rs: &Ruleset,
    links: &[Link],
    sources: &[SourceMatch<'_>],
    endpoints: &mut Vec<Endpoint>,
) {
    let ours: BTreeSet<IpAddr> = links
        .iter()
        .flat_map(|l| [true, false].map(|v4| [l.host_addr(v4), l.client_addr(v4)]))
        .flatten()
        .collect();
    for (m, iif) in sources {
        let link = iif.map_or(Some(0), |n| {
            links.iter().position(|l| if_matches(n, Some(&l.host_if)))
        });
        let Some(link) = link else { continue };
        for iv in match_intervals(rs, m) {
            if contains(&iv, links[link].client_addr(is_v4(m))) {
                continue; // the base address already probes from inside
            }
            if endpoints
                .iter()
                .any(|e| e.link == link && !e.base && contains(&iv, e.addr))
            {
                continue; // an extra address on this link is already inside
            }
            // A fresh address even when another link has one in the same net: one
            // address on two client links would make the host's route back ambiguous.
            let taken: BTreeSet<IpAddr> = endpoints.iter().map(|e| e.addr).collect();
            if let Some(addr) = pick_inside(&iv, is_v4(m), &ours, &taken) {
                endpoints.push(Endpoint {
                    link,
                    addr,
                    base: false,
                    permitted: true,
                    input: true,
                });
            }
        }
    }
}

/// An address of the family outside every source restriction, when there are any.
fn outsider(rs: &Ruleset, sources: &[SourceMatch<'_>], v4: bool) -> Option<IpAddr> {
    let restricted: Vec<_> = sources.iter().filter(|(m, _)| is_v4(m) == v4).collect();
    if restricted.is_empty() {
        return None;
    }
    let candidates: Vec<IpAddr> = if v4 {
        OUTSIDERS_V4.iter().map(|a| (*a).into()).collect()
    } else {
        OUTSIDERS_V6.iter().map(|a| (*a).into()).collect()
    };
    candidates.into_iter().find(|a| {
        restricted
            .iter()
            .all(|(m, _)| match_intervals(rs, m).iter().all(|iv| !contains(iv, *a)))
    })
}

/// Interface names of the input rules (except the exact `lo`), in rule order.
fn input_if_names(rs: &Ruleset) -> Vec<&IfName> {
    let mut names: Vec<&IfName> = Vec::new();
    for rule in super::matrix::input_rules(rs) {
        for m in &rule.matches {
            if let Match::IifName(n) = m
                && (n.name != "lo" || n.wildcard)
                && !names.contains(&n)
            {
                names.push(n);
            }
        }
    }
    names
}

/// The first of `candidates` that no rule's interface name matches.
fn default_name(candidates: &[&str], avoid: &[&IfName]) -> String {
    candidates
        .iter()
        .find(|d| !avoid.iter().any(|n| if_matches(n, Some(d))))
        .unwrap_or(&candidates[0])
        .to_string()
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

/// Links named `default` then `names` (duplicates and empty names dropped).
fn make_links(default: String, names: Vec<String>, far: bool) -> Vec<Link> {
    let mut host_ifs = vec![default];
    for name in names {
        if !name.is_empty() && !host_ifs.contains(&name) && host_ifs.len() < 250 {
            host_ifs.push(name);
        }
    }
    host_ifs
        .into_iter()
        .enumerate()
        .map(|(i, host_if)| Link {
            host_if,
            client_if: format!("{}{i}", if far { "hwf" } else { "hwc" }),
            index: i as u8,
            far,
        })
        .collect()
}

pub(super) fn is_v4(m: &AddrMatch) -> bool {
    matches!(m, AddrMatch::V4(_) | AddrMatch::Set4(_))
}

/// Address ranges of a source match; for sets only the first and last element,
/// which bounds the number of extra addresses for very large sets.
pub(super) fn match_intervals(rs: &Ruleset, m: &AddrMatch) -> Vec<Interval> {
    let from_set = |name: &str| -> Vec<Interval> {
        let Some(set) = rs.table.sets.iter().find(|s| s.name == name) else {
            return vec![];
        };
        let mut v: Vec<Interval> = set.elements.iter().take(1).copied().collect();
        v.extend(set.elements.iter().skip(1).last().copied());
        v
    };
    match m {
        AddrMatch::V4(n) => vec![Interval::from_v4(*n)],
        AddrMatch::V6(n) => vec![Interval::from_v6(*n)],
        AddrMatch::Set4(name) | AddrMatch::Set6(name) => from_set(name),
    }
}

pub(super) fn contains(iv: &Interval, a: IpAddr) -> bool {
    let v = match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    };
    iv.lo <= v && v <= iv.hi
}

/// A usable unicast host address inside `iv`, avoiding our own link addresses
/// and addresses already taken by other endpoints.
pub(super) fn pick_inside(
    iv: &Interval,
    v4: bool,
    ours: &BTreeSet<IpAddr>,
    taken: &BTreeSet<IpAddr>,
) -> Option<IpAddr> {
    let tries = [
        iv.lo.checked_add(1),
        iv.lo.checked_add(2),
        iv.lo.checked_add(3),
        iv.hi.checked_sub(1),
        Some(iv.lo),
        Some(iv.hi),
    ];
    tries
        .into_iter()
        .flatten()
        .filter(|v| iv.lo <= *v && *v <= iv.hi)
        .find_map(|v| {
            let a: IpAddr = if v4 {
                Ipv4Addr::from(u32::try_from(v).ok()?).into()
            } else {
                Ipv6Addr::from(v).into()
            };
            (usable(a) && !ours.contains(&a) && !taken.contains(&a)).then_some(a)
        })
}

pub(super) fn usable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            let first = a.octets()[0];
            !(a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local()
                || first == 0
                || first >= 240)
        }
        IpAddr::V6(a) => {
            let seg = a.segments()[0];
            !(a.is_loopback() || a.is_multicast() || a.is_unspecified() || seg & 0xffc0 == 0xfe80)
        }
    }
}
