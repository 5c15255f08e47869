//! Chooses `verify`'s test network for a ruleset (pure): the client links named
//! by the input rules' interfaces, the client addresses inside and outside their
//! source restrictions, and, with a forward chain, the far side from `fwd_design`.

use super::dests;
use super::fwd_design;
use super::inputs::{SourceMatch, input_rules, source_matches};
use super::lab_nets;
use super::lab_nets::{Block, LabNets};
use super::sources::{self, AddrClass, Route};
use super::topology::match_intervals;
use super::topology::{Endpoint, Link, Taken, Topology, Unprobed, concrete, contains, is_v4};
use crate::eval::if_matches;
use crate::ir::{IfName, Interval, Match, Ruleset};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Non-permitted source candidates (documentation ranges, then the old 6to4
/// relay range; none inside the lab's blocks, which are never used either).
const OUTSIDERS_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(203, 0, 113, 7),
    Ipv4Addr::new(198, 51, 100, 7),
    Ipv4Addr::new(192, 0, 2, 7),
    Ipv4Addr::new(192, 88, 99, 7),
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

/// Chooses links and client addresses for the rules of `rs`; the lab's
/// blocks keep out of the nets of `rs` and of the `against` ruleset.
pub(crate) fn topology(rs: &Ruleset, against: Option<&Ruleset>) -> Topology {
    let lab = lab_nets::choose(rs, against);
    let input_names = input_if_names(rs);
    let input_concrete: Vec<String> = input_names.iter().map(|n| concrete(n)).collect();
    let (fwd_client, fwd_far) = fwd_design::sides(rs, &input_concrete);
    let mut avoid = input_names.clone();
    avoid.extend(fwd_design::if_names(rs));
    let mut client_names = input_concrete;
    client_names.extend(fwd_client);
    let links = make_links(
        default_name(&DEFAULT_IFS, &avoid),
        client_names,
        (false, lab.client),
    );
    let endpoints = base_endpoints(&links);
    let mut topo = Topology {
        links,
        endpoints,
        far_links: Vec::new(),
        far_endpoints: Vec::new(),
        forwarding: Vec::new(),
        unprobed: Vec::new(),
        lab,
        host_addrs: Vec::new(),
    };
    // The host's addresses first: no source address is then chosen on one of them.
    dests::add_host_addrs(rs, &mut topo);
    let sources = source_matches(rs);
    let t = &mut topo;
    let fixed = (&t.links[..], &t.lab, &t.host_addrs[..]);
    permitted_endpoints(rs, fixed, &sources, &mut t.endpoints, &mut t.unprobed);
    for v4 in [true, false] {
        if let Some(addr) = outsider(rs, &sources, (&topo.lab, &topo.host_addrs), v4) {
            topo.endpoints.push(Endpoint {
                link: 0,
                addr,
                base: false,
                permitted: false,
                input: true,
                lo: false,
                only_wanted: false,
            });
        }
    }
    if fwd_design::has_forward(rs) {
        let far = topo.lab.far;
        topo.far_links = make_links(default_name(&DEFAULT_FAR_IFS, &avoid), fwd_far, (true, far));
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
                lo: false,
                only_wanted: false,
            });
        }
    }
    endpoints
}

/// For each source restriction: one address inside each of its nets that a
/// client link can carry, on the link its rule's interface selects (unless
/// that link's base address is inside already); a loopback address when the
/// net holds one (probed from the host over `lo`); and when neither, a
/// "not probed" row saying why.
fn permitted_endpoints(
    rs: &Ruleset,
    (links, lab, hosts): (&[Link], &LabNets, &[IpAddr]),
    sources: &[SourceMatch<'_>],
    endpoints: &mut Vec<Endpoint>,
    unprobed: &mut Vec<Unprobed>,
) {
    for src in sources {
        let link = src.iif.map_or(Some(0), |n| {
            links.iter().position(|l| if_matches(n, Some(&l.host_if)))
        });
        let v4 = is_v4(src.addr);
        for iv in match_intervals(rs, src.addr) {
            let on_link = link
                .and_then(|link| client_endpoint(&iv, v4, (link, links, lab, hosts), endpoints));
            let on_lo = loopback_endpoint(&iv, v4, endpoints);
            if on_link.is_none() && on_lo.is_none() {
                unprobed.push(unprobed_source(&iv, v4, src, link.is_none()));
            }
            endpoints.extend(on_link.flatten());
            endpoints.extend(on_lo.flatten());
        }
    }
}

/// `Some(None)` when the link already has an address inside `iv`, `Some(ep)`
/// for a fresh client address inside it, `None` when `iv` holds none.
fn client_endpoint(
    iv: &Interval,
    v4: bool,
    (link, links, lab, hosts): (usize, &[Link], &LabNets, &[IpAddr]),
    endpoints: &[Endpoint],
) -> Option<Option<Endpoint>> {
    if contains(iv, links[link].client_addr(v4))
        || endpoints
            .iter()
            .any(|e| e.link == link && !e.base && !e.lo && contains(iv, e.addr))
    {
        return Some(None); // already probed from inside
    }
    // A fresh address even when another link has one in the same net: one
    // address on two client links would make the host's route back ambiguous.
    let taken = Taken::new(lab, endpoints.iter()).with(hosts);
    let addr = sources::pick(
        iv,
        v4,
        |a| taken.contains(a),
        |c| c.input_route(v4) == Ok(Route::Client),
    )?;
    Some(Some(Endpoint {
        link,
        addr,
        base: false,
        permitted: true,
        input: true,
        lo: false,
        only_wanted: false,
    }))
}

/// Like `client_endpoint`, for the loopback addresses inside `iv`.
fn loopback_endpoint(iv: &Interval, v4: bool, endpoints: &[Endpoint]) -> Option<Option<Endpoint>> {
    if endpoints.iter().any(|e| e.lo && contains(iv, e.addr)) {
        return Some(None);
    }
    let preferred = sources::loopback_dst(v4);
    let addr = if contains(iv, preferred) {
        preferred
    } else {
        sources::pick(iv, v4, |_| false, |c| c == AddrClass::Loopback)?
    };
    Some(Some(Endpoint {
        link: 0,
        addr,
        base: false,
        permitted: true,
        input: true,
        lo: true,
        only_wanted: false,
    }))
}

/// The "not probed" row of a source net: `no_link` when its rule's interface
/// has no test link (only possible for `lo` or past the link limit).
fn unprobed_source(iv: &Interval, v4: bool, src: &SourceMatch<'_>, no_link: bool) -> Unprobed {
    let mut name = format!("from {}", sources::show(iv, v4));
    if let Some(n) = src.iif {
        name.push_str(&format!(
            " in {}{}",
            n.name,
            if n.wildcard { "*" } else { "" }
        ));
    }
    if let Some(label) = src.label {
        name.push_str(&format!(" ({label})"));
    }
    let class = sources::blocking_class(iv, v4);
    let reason = match class.input_route(v4) {
        Err(why) => why.to_string(),
        Ok(_) if no_link => "no test link can carry the rule's interface (only the host's own \
                             addresses arrive on lo)"
            .to_string(),
        Ok(_) => "every address in it is one of verify's own test addresses".to_string(),
    };
    Unprobed { name, reason }
}

/// An address of the family outside every source restriction (and the lab's
/// blocks), when there are any.
fn outsider(
    rs: &Ruleset,
    sources: &[SourceMatch<'_>],
    (lab, hosts): (&LabNets, &[IpAddr]),
    v4: bool,
) -> Option<IpAddr> {
    let restricted: Vec<_> = sources.iter().filter(|s| is_v4(s.addr) == v4).collect();
    if restricted.is_empty() && !has_per_source_limit(rs) {
        return None;
    }
    let candidates: Vec<IpAddr> = if v4 {
        OUTSIDERS_V4.iter().map(|a| (*a).into()).collect()
    } else {
        OUTSIDERS_V6.iter().map(|a| (*a).into()).collect()
    };
    candidates.into_iter().find(|a| {
        !lab.reserved(*a)
            && !hosts.contains(a)
            && restricted.iter().all(|s| {
                match_intervals(rs, s.addr)
                    .iter()
                    .all(|iv| !contains(iv, *a))
            })
    })
}

/// Whether an input rule limits per source (its probe needs a second source address).
fn has_per_source_limit(rs: &Ruleset) -> bool {
    input_rules(rs).any(|r| {
        r.stmts
            .iter()
            .any(|s| matches!(s, crate::ir::Stmt::SourceLimit { .. }))
    })
}

/// Interface names of the input rules (except the exact `lo`), in rule order.
fn input_if_names(rs: &Ruleset) -> Vec<&IfName> {
    let mut names: Vec<&IfName> = Vec::new();
    for rule in input_rules(rs) {
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

/// Links named `default` then `names` (duplicates and empty names dropped),
/// their subnets cut from `block`.
fn make_links(default: String, names: Vec<String>, (far, block): (bool, Block)) -> Vec<Link> {
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
            block,
        })
        .collect()
}
