//! The output probes on the wire: one socket per probe, made in the host
//! namespace and bound to the host's address on the probe's link, sent to the
//! peer address (whose listener `listen` opens in the client namespace).

use super::output::OutPlanned;
use super::probe::{self, Job};
use super::topology::Topology;
use super::{VerifyError, forward, lab};
use std::net::SocketAddr;

/// The jobs of the output probes, in plan order.
pub(super) fn jobs(
    lab: &lab::Lab,
    topo: &Topology,
    out: &[OutPlanned],
) -> Result<Vec<Job>, VerifyError> {
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let made = lab.host.run(|| {
        (out.iter())
            .map(|p| {
                let l = super::output_pick::link(topo, p.link);
                probe::client_socket(p.kind, l.host_addr(p.dst.is_ipv4()), &l.host_if)
            })
            .collect::<Vec<_>>()
    })?;
    out.iter()
        .zip(made)
        .map(|(p, fd)| {
            let fd = fd.map_err(|source| VerifyError::Socket {
                what: format!("output probe socket to {} in the host", p.dst),
                source,
            })?;
            Ok(Job {
                fd,
                kind: p.kind,
                dst: SocketAddr::new(p.dst, forward::port(p.kind)),
            })
        })
        .collect()
}
