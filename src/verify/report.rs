//! What each probe is, as data (direction, family, protocol, addresses, port), how a
//! failing probe is classed (security vs refused differently), and the report as a
//! serialisable document for `verify --format json` (docs/schema/verify.schema.json).

use super::{Outcome, ProbeKind, ProbePlan, VerifyReport, matrix};
use serde::Serialize;
use std::net::IpAddr;

/// The version of `verify`'s JSON document.
pub const SCHEMA: u32 = 1;

/// The packet a probe sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbePacket {
    /// `input` (to the host), `forward` (through it), `output` (from it).
    pub direction: &'static str,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// `tcp`, `udp`, `icmp` or `icmpv6`.
    pub protocol: &'static str,
    pub source: IpAddr,
    pub destination: IpAddr,
    /// The destination port (absent for echo requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The host opens the connection and the probe is its answer (established return
    /// traffic): `source` is the host, the answer comes back from `destination`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub established: bool,
}

/// Why a probe failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Open where the policy says closed, closed where it says open, or a sysctl with
    /// another value: what the ruleset lets through is not what the policy says.
    Security,
    /// Closed as the policy says, but refused another way (reject vs drop, an ICMP
    /// code instead of a reset).
    RefusedDifferently,
    /// The probe itself could not run as planned: nothing is known.
    Error,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Security => "security",
            Failure::RefusedDifferently => "refused differently",
            Failure::Error => "error",
        }
    }
}

/// The class of a probe that saw `seen` where the policy says `expected`; `None` when
/// they agree.
pub fn classify(expected: &Outcome, seen: &Outcome) -> Option<Failure> {
    if expected == seen {
        return None;
    }
    let closed =
        |o: &Outcome| matches!(o, Outcome::Refused | Outcome::Prohibited | Outcome::Timeout);
    Some(match (expected, seen) {
        (_, Outcome::Error(_)) | (Outcome::Error(_), _) => Failure::Error,
        (e, s) if closed(e) && closed(s) => Failure::RefusedDifferently,
        _ => Failure::Security,
    })
}

/// The packet of every planned probe, in the plan's order (input, then forward).
pub(super) fn packets(plan: &ProbePlan) -> Vec<ProbePacket> {
    let topo = &plan.topo;
    let input = plan.planned.iter().map(|p| {
        let ep = &topo.endpoints[p.endpoint];
        let v4 = ep.addr.is_ipv4();
        let host = topo.links[ep.link].host_addr(v4);
        let (source, destination) = match p.kind {
            ProbeKind::Established => (host, ep.addr),
            _ => (ep.addr, topo.input_dst(ep, p.dst)),
        };
        packet("input", p.kind, source, destination)
    });
    let fwd = plan.fwd.iter().map(|p| {
        let (s, d) = (topo.endpoint(p.src).addr, topo.endpoint(p.dst).addr);
        packet("forward", p.kind, s, d)
    });
    let output = (plan.output.iter()).map(|p| {
        packet(
            "output",
            p.kind,
            topo.side_links(p.link.0)[p.link.1].host_addr(p.dst.is_ipv4()),
            p.dst,
        )
    });
    input.chain(fwd).chain(output).collect()
}

pub(super) fn packet(
    direction: &'static str,
    kind: ProbeKind,
    src: IpAddr,
    dst: IpAddr,
) -> ProbePacket {
    let v4 = src.is_ipv4();
    let (protocol, port) = match kind {
        ProbeKind::Ping => (if v4 { "icmp" } else { "icmpv6" }, None),
        ProbeKind::Tcp(p) => ("tcp", Some(p)),
        ProbeKind::Udp(p) => ("udp", Some(p)),
        ProbeKind::Established => ("tcp", Some(matrix::RETURN_PORT)),
    };
    ProbePacket {
        direction,
        family: if v4 { "ipv4" } else { "ipv6" },
        protocol,
        source: src,
        destination: dst,
        port,
        established: kind == ProbeKind::Established,
    }
}

/// Counts of the report, the line `verify` ends with and what its exit code follows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub probes: usize,
    pub passed: usize,
    pub failed: usize,
    pub security: usize,
    pub refused_differently: usize,
    pub errors: usize,
    pub not_probed: usize,
}

impl VerifyReport {
    /// How many probes failed with `class`.
    pub fn failed_with(&self, class: Failure) -> usize {
        (self.probes.iter())
            .filter(|p| classify(&p.expected, &p.seen) == Some(class))
            .count()
    }

    pub fn summary(&self) -> Summary {
        Summary {
            probes: self.probes.len(),
            passed: self.passed(),
            failed: self.failed(),
            security: self.failed_with(Failure::Security),
            refused_differently: self.failed_with(Failure::RefusedDifferently),
            errors: self.failed_with(Failure::Error),
            not_probed: self.not_probed.len(),
        }
    }

    /// Whether the run fails: a security failure or a probe that could not run, or,
    /// when `strict`, any failure at all.
    pub fn fails(&self, strict: bool) -> bool {
        let s = self.summary();
        s.security + s.errors > 0 || (strict && s.failed > 0)
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
