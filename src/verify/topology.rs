//! The test network of `verify`: links (veth pairs) between the host and the
//! client namespace, their addresses, and the client addresses probes come
//! from. `design` is pure; `build` makes it real inside two fresh namespaces.
//!
//! Link `k` uses 198.18.k.0/24 (the benchmarking range, RFC 2544) and
//! fd00:6877:0:k::/64 (ULA); the host side is `.1`/`::1`, the client `.2`/`::2`.
//! Extra client addresses (for source-restricted rules) are host routes on
//! the client's link, with a route back on the host side; nothing leaves
//! the two namespaces.

use super::matrix::source_matches;
use crate::eval::if_matches;
use crate::ir::{AddrMatch, IfName, Interval, Match, Ruleset};
use crate::netns::{Netns, NetnsError};
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub host_if: String,
    pub client_if: String,
    index: u8,
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
            Ipv4Addr::new(198, 18, self.index, last).into()
        } else {
            let k = u16::from(self.index);
            Ipv6Addr::new(0xfd00, 0x6877, 0, k, 0, 0, 0, u16::from(last)).into()
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Link 0 is the default link; the others exist for `iifname` rules.
    pub links: Vec<Link>,
    pub endpoints: Vec<Endpoint>,
}

/// Chooses links and client addresses for the rules of `rs`.
pub(crate) fn design(rs: &Ruleset) -> Topology {
    let links = design_links(rs);
    let mut endpoints = Vec::new();
    for (link, l) in links.iter().enumerate() {
        for v4 in [true, false] {
            endpoints.push(Endpoint {
                link,
                addr: l.client_addr(v4),
                base: true,
                permitted: true,
            });
        }
    }
    let sources = source_matches(rs);
    permitted_endpoints(rs, &links, &sources, &mut endpoints);
    for v4 in [true, false] {
        if let Some(addr) = outsider(rs, &sources, v4) {
            endpoints.push(Endpoint {
                link: 0,
                addr,
                base: false,
                permitted: false,
            });
        }
    }
    Topology { links, endpoints }
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

fn design_links(rs: &Ruleset) -> Vec<Link> {
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
    let default = DEFAULT_IFS
        .iter()
        .find(|d| !names.iter().any(|n| if_matches(n, Some(d))))
        .unwrap_or(&DEFAULT_IFS[0]);
    let mut host_ifs = vec![default.to_string()];
    for n in names {
        // Linux interface names are at most 15 bytes; a prefix that long matches itself.
        let name = if n.wildcard && n.name.len() < 15 {
            format!("{}0", n.name)
        } else {
            n.name.clone()
        };
        if !name.is_empty() && !host_ifs.contains(&name) && host_ifs.len() < 250 {
            host_ifs.push(name);
        }
    }
    host_ifs
        .into_iter()
        .enumerate()
        .map(|(i, host_if)| Link {
            host_if,
            client_if: format!("hwc{i}"),
            index: i as u8,
        })
        .collect()
}

fn is_v4(m: &AddrMatch) -> bool {
    matches!(m, AddrMatch::V4(_) | AddrMatch::Set4(_))
}

/// Address ranges of a source match; for sets only the first and last element,
/// which bounds the number of extra addresses for very large sets.
fn match_intervals(rs: &Ruleset, m: &AddrMatch) -> Vec<Interval> {
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

fn contains(iv: &Interval, a: IpAddr) -> bool {
    let v = match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    };
    iv.lo <= v && v <= iv.hi
}

/// A usable unicast host address inside `iv`, avoiding our own link addresses
/// and addresses already taken by other endpoints.
fn pick_inside(
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

fn usable(a: IpAddr) -> bool {
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

/// The two namespaces of one verify run; dropping this removes both.
pub(crate) struct Lab {
    pub host: Netns,
    pub client: Netns,
}

/// Creates the namespaces, links, addresses and routes of `topo`.
pub(crate) fn build(topo: &Topology) -> Result<Lab, NetnsError> {
    let host = Netns::create_unique("hw-v")?;
    let client = Netns::create_unique("hw-v")?;
    let lab = Lab { host, client };
    // No duplicate address detection: addresses are usable at once, so the
    // first probe is not lost to a tentative address.
    for ns in [&lab.host, &lab.client] {
        ns.write_sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.write_sysctl("net.ipv6.conf.default.accept_dad", "0")?;
    }
    // ICMP errors are the "seen" of reject probes: no per-destination rate limit.
    lab.host.write_sysctl("net.ipv4.icmp_ratelimit", "0")?;
    lab.host.write_sysctl("net.ipv6.icmp.ratelimit", "0")?;
    // Unprivileged-style ICMP echo sockets (no raw sockets needed) for everyone.
    lab.client
        .write_sysctl("net.ipv4.ping_group_range", "0 2147483647")?;
    let host_name = lab.host.name().to_string();
    // Links go up before any address is added: an IPv6 address added to a
    // link that is still down loses the first neighbour solicitation (a 1 s
    // retransmit, measured), so the order here is links, then addresses.
    let mut links = Vec::new();
    let mut client_cmds = Vec::new();
    let mut host_cmds = Vec::new();
    for l in &topo.links {
        links.push(format!(
            "link add {} type veth peer name {} netns {host_name}",
            l.client_if, l.host_if
        ));
        links.push(format!("link set {} up", l.client_if));
        host_cmds.push(format!("link set {} up", l.host_if));
        for (cmds, ifname, v4, v6) in [
            (
                &mut client_cmds,
                &l.client_if,
                l.client_addr(true),
                l.client_addr(false),
            ),
            (
                &mut host_cmds,
                &l.host_if,
                l.host_addr(true),
                l.host_addr(false),
            ),
        ] {
            cmds.push(format!("addr add {v4}/24 dev {ifname}"));
            cmds.push(format!("addr add {v6}/64 dev {ifname} nodad"));
        }
    }
    for e in topo.endpoints.iter().filter(|e| !e.base) {
        let l = &topo.links[e.link];
        let (len, nodad) = if e.addr.is_ipv4() {
            (32, "")
        } else {
            (128, " nodad")
        };
        client_cmds.push(format!(
            "addr add {}/{len} dev {}{nodad}",
            e.addr, l.client_if
        ));
        host_cmds.push(format!("route add {}/{len} dev {}", e.addr, l.host_if));
    }
    lab.client.ip_batch(&links)?;
    lab.host.ip_batch(&host_cmds)?;
    lab.client.ip_batch(&client_cmds)?;
    Ok(lab)
}
