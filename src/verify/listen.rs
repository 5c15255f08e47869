//! The listeners `verify` probes are answered by: in the host, every probed port on the
//! wildcard address (and UDP on the host's extra `to` addresses probed, so the echo
//! leaves from them); in the client and far namespaces, the forward probes' destinations.

use super::{ProbeKind, ProbePlan, VerifyError, lab, probe, topology};
use crate::netns::Netns;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;

pub(super) type Listeners = (Vec<OwnedFd>, Vec<OwnedFd>);

/// Opens the TCP and UDP listeners every planned probe is answered by, in the host and
/// in the client and far namespaces.
pub(super) fn lab_listeners(
    topo: &topology::Topology,
    plan: &ProbePlan,
    lab: &lab::Lab,
) -> Result<Listeners, VerifyError> {
    let mut wanted = Wanted::default();
    for p in &plan.planned {
        wanted.add_host(topo.endpoints[p.endpoint].addr.is_ipv4(), p.kind);
        // A UDP echo on the wildcard would answer from the host's primary address,
        // which the client's connected socket ignores: one on the address probed.
        if let (Some(d), ProbeKind::Udp(port)) = (p.dst, p.kind) {
            wanted.host.insert((SocketAddr::new(d, port), true));
        }
    }
    for p in &plan.fwd {
        wanted.add_peer(p.dst.far, topo.endpoint(p.dst).addr, p.kind);
    }
    for p in &plan.output {
        wanted.add_peer(p.link.0, p.dst, p.kind);
    }
    let (mut tcp_listeners, mut udp_listeners) = listen(&lab.host, &wanted.host)?;
    for far in [false, true] {
        if let Some(ns) = lab.side(far) {
            let (t, u) = listen(ns, &wanted.peer[far as usize])?;
            tcp_listeners.extend(t);
            udp_listeners.extend(u);
        }
    }
    Ok((tcp_listeners, udp_listeners))
}

/// Sockets to listen on, as (address, UDP): in the host every probed port on
/// the wildcard address, both protocols (input probes); in the client and far
/// namespaces exactly the forward probes' destinations, so an answer leaves
/// from the address probed (and takes that address's route back).
#[derive(Default)]
struct Wanted {
    host: BTreeSet<(SocketAddr, bool)>,
    peer: [BTreeSet<(SocketAddr, bool)>; 2],
}

impl Wanted {
    fn add_host(&mut self, v4: bool, kind: ProbeKind) {
        let any: IpAddr = if v4 {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        if let ProbeKind::Tcp(port) | ProbeKind::Udp(port) = kind {
            self.host.insert((SocketAddr::new(any, port), false));
            self.host.insert((SocketAddr::new(any, port), true));
        }
    }

    fn add_peer(&mut self, far: bool, addr: IpAddr, kind: ProbeKind) {
        let set = &mut self.peer[far as usize];
        match kind {
            ProbeKind::Tcp(port) => set.insert((SocketAddr::new(addr, port), false)),
            ProbeKind::Udp(port) => set.insert((SocketAddr::new(addr, port), true)),
            ProbeKind::Ping | ProbeKind::Established => false,
        };
    }
}

/// A TCP listener or a UDP echo socket on every wanted address of `ns`.
fn listen(
    ns: &Netns,
    wanted: &BTreeSet<(SocketAddr, bool)>,
) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), VerifyError> {
    if wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    ns.run(|| {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for &(at, is_udp) in wanted {
            let fd = probe::listener_at(at, is_udp).map_err(|source| VerifyError::Socket {
                what: format!(
                    "listening on {} {at} in {}",
                    if is_udp { "udp" } else { "tcp" },
                    ns.name()
                ),
                source,
            })?;
            if is_udp { &mut udp } else { &mut tcp }.push(fd);
        }
        Ok::<_, VerifyError>((tcp, udp))
    })?
}
