//! Making a `Topology` real: the host and client namespaces, the far one when
//! the ruleset has a forward chain, veth links, addresses, routes, sysctls.
//!
//! With a forward chain every peer address gets a policy-routing rule: a
//! packet from it uses a table whose default route is the host over that
//! address's own link, so a probe enters the host by the link the rule under
//! test names (and answers from the far side go back the way they came).

use super::topology::{Endpoint, Link, Topology};
use crate::netns::{Netns, NetnsError};

/// Name prefix of verify's namespaces: `hw-v-<pid>-<start time>-<random>`.
pub(crate) const PREFIX: &str = "hw-v";

/// Routing tables of the peer links: `TABLE_BASE + link index`.
const TABLE_BASE: usize = 100;

/// The namespaces of one verify run; dropping this removes them all.
pub(crate) struct Lab {
    pub host: Netns,
    pub client: Netns,
    /// The far side (uplinks) for forward probes; `None` without a forward chain.
    pub far: Option<Netns>,
}

impl Lab {
    /// The namespace of one side's peers.
    pub fn side(&self, far: bool) -> Option<&Netns> {
        if far {
            self.far.as_ref()
        } else {
            Some(&self.client)
        }
    }

    /// Removes every namespace, reporting the first failure.
    pub fn remove(self) -> Result<(), NetnsError> {
        let results = [
            self.client.remove(),
            self.far.map_or(Ok(()), Netns::remove),
            self.host.remove(),
        ];
        results.into_iter().collect()
    }
}

/// Commands for one side's peer namespace and the host, and the IPv6 rules
/// (which `ip -batch` cannot take: they need `-6`).
#[derive(Default)]
struct Cmds {
    links: Vec<String>,
    peer: Vec<String>,
    host: Vec<String>,
    v6_rules: Vec<[String; 2]>,
}

/// Creates the namespaces, links, addresses and routes of `topo`; the host
/// namespace is `host` when given (one the `--against` file is loaded in).
pub(crate) fn build(topo: &Topology, host: Option<Netns>) -> Result<Lab, NetnsError> {
    let host = match host {
        Some(h) => h,
        None => Netns::create_unique(PREFIX)?,
    };
    let client = Netns::create_unique(PREFIX)?;
    let far = if topo.far_links.is_empty() {
        None
    } else {
        Some(Netns::create_unique(PREFIX)?)
    };
    let lab = Lab { host, client, far };
    // No duplicate address detection: addresses are usable at once, so the
    // first probe is not lost to a tentative address.
    for ns in [Some(&lab.host), Some(&lab.client), lab.far.as_ref()]
        .into_iter()
        .flatten()
    {
        ns.write_sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.write_sysctl("net.ipv6.conf.default.accept_dad", "0")?;
    }
    for ns in [Some(&lab.host), Some(&lab.client), lab.far.as_ref()]
        .into_iter()
        .flatten()
    {
        reserve_listener_ports(ns)?;
        // Room in each listener's queue for every probe of its port (`probe.rs`).
        let backlog = super::probe::LISTEN_BACKLOG.to_string();
        ns.write_sysctl("net.core.somaxconn", &backlog)?;
        ns.write_sysctl("net.ipv4.tcp_max_syn_backlog", &backlog)?;
        // No ICMP type counted against the kernel's ICMP budget, which before Linux 6.12
        // every namespace shares: another namespace's errors would use up the lab's. (An
        // empty IPv6 mask is a newline: the kernel ignores an empty write.)
        ns.write_sysctl("net.ipv4.icmp_ratemask", "0")?;
        ns.write_sysctl("net.ipv6.icmp.ratemask", "\n")?;
    }
    // ICMP errors are the "seen" of reject probes: no per-destination rate limit.
    lab.host.write_sysctl("net.ipv4.icmp_ratelimit", "0")?;
    lab.host.write_sysctl("net.ipv6.icmp.ratelimit", "0")?;
    // The forward chain is only reached with forwarding on (see `Topology::forwarding`).
    for (key, on) in &topo.forwarding {
        lab.host
            .write_sysctl(key.name(), if *on { "1" } else { "0" })?;
    }
    // Unprivileged-style ICMP echo sockets (no raw sockets needed) for every
    // sender, the host included (echo from its loopback addresses).
    for ns in [Some(&lab.host), Some(&lab.client), lab.far.as_ref()]
        .into_iter()
        .flatten()
    {
        ns.write_sysctl("net.ipv4.ping_group_range", "0 2147483647")?;
    }
    let routed = lab.far.is_some();
    let sides = [
        (Some(&lab.client), &topo.links, &topo.endpoints),
        (lab.far.as_ref(), &topo.far_links, &topo.far_endpoints),
    ];
    for (ns, links, endpoints) in sides {
        let Some(ns) = ns else { continue };
        let cmds = side_cmds(lab.host.name(), links, endpoints, routed);
        if cmds.links.is_empty() {
            continue;
        }
        ns.ip_batch(&cmds.links)?;
        lab.host.ip_batch(&cmds.host)?;
        ns.ip_batch(&cmds.peer)?;
        for [from, table] in &cmds.v6_rules {
            ns.ip(&["-6", "rule", "add", "from", from, "lookup", table])?;
        }
    }
    let (host, client) = host_addr_cmds(topo);
    if !host.is_empty() {
        lab.host.ip_batch(&host)?;
        lab.client.ip_batch(&client)?;
    }
    // Until both ends of every link send, and every IPv6 address is usable: a probe sent
    // sooner is dropped, and reads as a closed port or a timeout.
    // The host's extra addresses sit on the default link (`host_addr_cmds`), if any.
    let extra_host = topo.host_addrs.iter().filter(|_| !topo.links.is_empty());
    let mut host_v6 = v6(extra_host.copied());
    for (ns, links, endpoints) in sides
        .iter()
        .filter_map(|&(ns, links, endpoints)| Some((ns?, links, endpoints)))
    {
        let ends = |end: fn(&Link) -> &str| links.iter().map(end).collect::<Vec<_>>();
        ns.wait_links_up(&ends(|l| &l.client_if), LINKS_UP)?;
        lab.host.wait_links_up(&ends(|l| &l.host_if), LINKS_UP)?;
        let extra = (endpoints.iter())
            .filter(|e| !e.base && !e.lo)
            .map(|e| e.addr);
        let client = links.iter().map(|l| l.client_addr(false));
        ns.wait_local_v6(&v6(client.chain(extra)), LINKS_UP)?;
        host_v6.extend(v6(links.iter().map(|l| l.host_addr(false))));
    }
    lab.host.wait_local_v6(&host_v6, LINKS_UP)?;
    Ok(lab)
}

/// The IPv6 ones of `addrs`.
fn v6(addrs: impl Iterator<Item = std::net::IpAddr>) -> Vec<std::net::Ipv6Addr> {
    (addrs)
        .filter_map(|a| match a {
            std::net::IpAddr::V6(a) => Some(a),
            std::net::IpAddr::V4(_) => None,
        })
        .collect()
}

/// How long a lab's links may take to come up and its IPv6 addresses to become usable
/// (the kernel's link watch and address work: a second at most on a busy machine).
const LINKS_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// The host's extra addresses (for `to` rules) on the default link's host side,
/// and the client's routes to them over that link: (host, client) commands.
fn host_addr_cmds(topo: &Topology) -> (Vec<String>, Vec<String>) {
    let (mut host, mut client) = (Vec::new(), Vec::new());
    let Some(l) = topo.links.first() else {
        return (host, client);
    };
    for a in &topo.host_addrs {
        let (len, nodad) = if a.is_ipv4() {
            (32, "")
        } else {
            (128, " nodad")
        };
        host.push(format!("addr add {a}/{len} dev {}{nodad}", l.host_if));
        let via = l.host_addr(a.is_ipv4());
        client.push(format!("route add {a}/{len} via {via} dev {}", l.client_if));
    }
    (host, client)
}

/// Per-link routing tables (default via the host side) and a source rule per endpoint
/// into its link's table.
fn route_cmds(c: &mut Cmds, links: &[Link], endpoints: &[Endpoint]) {
    for l in links {
        let table = TABLE_BASE + l.index as usize;
        for v4 in [true, false] {
            c.peer.push(format!(
                "route add default via {} dev {} table {table}",
                l.host_addr(v4),
                l.client_if
            ));
        }
    }
    for e in endpoints.iter().filter(|e| !e.lo) {
        let table = (TABLE_BASE + links[e.link].index as usize).to_string();
        if e.addr.is_ipv4() {
            c.peer
                .push(format!("rule add from {} lookup {table}", e.addr));
        } else {
            c.v6_rules.push([e.addr.to_string(), table]);
        }
    }
}

/// The commands making one side's links, addresses and (with `routed`) its
/// per-link routing tables and source rules.
fn side_cmds(host_name: &str, links: &[Link], endpoints: &[Endpoint], routed: bool) -> Cmds {
    let mut c = Cmds::default();
    // Links go up before any address is added: an IPv6 address added to a
    // link that is still down loses the first neighbour solicitation (a 1 s
    // retransmit, measured), so the order here is links, then addresses.
    for l in links {
        c.links.push(format!(
            "link add {} type veth peer name {} netns {host_name}",
            l.client_if, l.host_if
        ));
        c.links.push(format!("link set {} up", l.client_if));
        c.host.push(format!("link set {} up", l.host_if));
        for v4 in [true, false] {
            let (len, nodad) = if v4 { (24, "") } else { (64, " nodad") };
            c.peer.push(format!(
                "addr add {}/{len} dev {}{nodad}",
                l.client_addr(v4),
                l.client_if
            ));
            c.host.push(format!(
                "addr add {}/{len} dev {}{nodad}",
                l.host_addr(v4),
                l.host_if
            ));
        }
    }
    // Loopback endpoints need nothing: the host's `lo` holds all of 127/8 and ::1.
    for e in endpoints.iter().filter(|e| !e.base && !e.lo) {
        let l = &links[e.link];
        let (len, nodad) = if e.addr.is_ipv4() {
            (32, "")
        } else {
            (128, " nodad")
        };
        c.peer.push(format!(
            "addr add {}/{len} dev {}{nodad}",
            e.addr, l.client_if
        ));
        // Through the client's link address, not on the link: the host then keeps one
        // neighbour for the link, not one per endpoint. The kernel's neighbour tables are
        // shared by every namespace and hold 1,024 entries by default (the host's own
        // sysctls, not the lab's), so thousands of on-link IPv4 sources overflowed the
        // ARP table and the later probes' answers were never sent.
        c.host.push(format!(
            "route add {}/{len} via {} dev {}",
            e.addr,
            l.client_addr(e.addr.is_ipv4()),
            l.host_if
        ));
    }
    if routed {
        route_cmds(&mut c, links, endpoints);
    }
    c
}

/// Keeps the established probes' listener port out of the ephemeral range of `ns`. Those
/// listeners are made after the probes' client sockets on the same address, and a client
/// socket bound to port 0 could otherwise be given that port first (EADDRINUSE).
/// `net.ipv4.ip_local_reserved_ports` covers IPv6 too.
fn reserve_listener_ports(ns: &Netns) -> Result<(), NetnsError> {
    ns.write_sysctl(
        "net.ipv4.ip_local_reserved_ports",
        &super::matrix::RETURN_PORT.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};

    /// With the ephemeral range narrowed to the return port and its neighbours, port-0
    /// binds until the range is exhausted get every port but the return port: it is
    /// never handed out, so the established probe's listener can always bind it.
    #[test]
    #[ignore = "needs root"]
    fn ephemeral_ports_never_take_the_return_port() {
        let ns = Netns::create_unique("hw-t-lab").unwrap_or_else(|e| panic!("{e}"));
        let p = super::super::matrix::RETURN_PORT;
        ns.write_sysctl(
            "net.ipv4.ip_local_port_range",
            &format!("{} {}", p - 8, p + 8),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        reserve_listener_ports(&ns).unwrap_or_else(|e| panic!("{e}"));
        let ports = ns
            .run(|| {
                let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
                let held: Vec<TcpListener> =
                    (0..40).map_while(|_| TcpListener::bind(any).ok()).collect();
                let mut got: Vec<u16> = held
                    .iter()
                    .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
                    .collect();
                got.sort();
                got
            })
            .unwrap_or_else(|e| panic!("{e}"));
        // The kernel's scan may leave an end of the range unused; every other port is taken.
        assert!(!ports.contains(&p), "{p} handed out: {ports:?}");
        assert!(ports.len() >= 14, "the range was not exhausted: {ports:?}");
    }
}
