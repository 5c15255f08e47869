//! Running the rate-limit probes (`limits`) with real connections, in a lab of
//! their own built after the other probes' is gone: every bucket starts full, and
//! no other probe spends its tokens. One row per phase: the burst, the connections
//! after it, and the second source of a per-source limit.

use super::limits::{AFTER, LimitProbe, rows};
use super::probe::{self, Job};
use super::topology::Topology;
use super::{DROP_TIMEOUT, Outcome, ProbeKind, ProbeResult, VerifyError, VerifyOptions};
use super::{ProbePlan, forward, lab, load, report};
use crate::ir::Ruleset;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// The rows of every rate-limit probe of `plan` (none without limited rules).
pub(super) fn run(
    rs: &Ruleset,
    opts: &VerifyOptions,
    plan: &ProbePlan,
) -> Result<Vec<ProbeResult>, VerifyError> {
    if plan.limits.is_empty() {
        return Ok(Vec::new());
    }
    let host = match &opts.against {
        Some(path) => Some(load::fresh(path)?),
        None => None,
    };
    let lab = lab::build(&plan.topo, host)?;
    let out = run_in(rs, opts, plan, &lab);
    let removed = lab.remove();
    let out = out?;
    removed?;
    Ok(out)
}

fn run_in(
    rs: &Ruleset,
    opts: &VerifyOptions,
    plan: &ProbePlan,
    lab: &lab::Lab,
) -> Result<Vec<ProbeResult>, VerifyError> {
    load::load(rs, opts, &lab.host)?;
    let topo = &plan.topo;
    let (_tcp, udp) = listeners(topo, &plan.limits, lab)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| probe::udp_echo(&udp, &stop));
        let mut out = Vec::new();
        let mut result = Ok(());
        for p in &plan.limits {
            match one(topo, p, lab) {
                Ok(rows) => out.extend(rows),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        result.map(|()| out)
    })
}

/// The burst, then `AFTER` more, then the second source: each phase waits for the one before.
fn one(topo: &Topology, p: &LimitProbe, lab: &lab::Lab) -> Result<Vec<ProbeResult>, VerifyError> {
    let burst = round(topo, p, p.first, p.burst as usize, lab)?;
    let after = round(topo, p, p.first, AFTER, lab)?;
    let mut seen = vec![worst(&burst, &Outcome::Open), worst(&after, &p.over)];
    if let Some(s) = p.second {
        let own = round(topo, p, s, 1, lab)?;
        seen.push(worst(&own, &Outcome::Open));
    }
    let senders = [Some(p.first), Some(p.first), p.second];
    Ok(rows(topo, p)
        .into_iter()
        .zip(seen)
        .zip(senders.into_iter().flatten())
        .map(|(((name, expected), seen), sender)| {
            let ep = &topo.endpoints[sender];
            let dst = topo.input_dst(ep, p.dst);
            ProbeResult {
                name,
                pass: seen == expected,
                expected,
                seen,
                rules: p.label.clone(),
                packet: Some(report::packet("input", p.kind, ep.addr, dst)),
            }
        })
        .collect())
}

/// What a phase saw: the first outcome other than `expected`, else `expected`.
fn worst(seen: &[Outcome], expected: &Outcome) -> Outcome {
    seen.iter()
        .find(|o| *o != expected)
        .unwrap_or(expected)
        .clone()
}

/// `n` new connections (or datagrams, or echoes) from endpoint `sender`, at once.
fn round(
    topo: &Topology,
    p: &LimitProbe,
    sender: usize,
    n: usize,
    lab: &lab::Lab,
) -> Result<Vec<Outcome>, VerifyError> {
    let ep = &topo.endpoints[sender];
    let dst = SocketAddr::new(topo.input_dst(ep, p.dst), forward::port(p.kind));
    let dev = &topo.links[ep.link].client_if;
    let fds = lab.client.run(|| {
        (0..n)
            .map(|_| probe::client_socket(p.kind, ep.addr, dev))
            .collect::<Vec<_>>()
    })?;
    let jobs = fds
        .into_iter()
        .map(|fd| {
            fd.map(|fd| Job {
                fd,
                kind: p.kind,
                dst,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| VerifyError::Socket {
            what: format!("rate-limit probe socket on {}", ep.addr),
            source,
        })?;
    Ok(probe::run(&jobs, DROP_TIMEOUT))
}

/// TCP listeners and UDP echo sockets in the host for every probed port: on the
/// wildcard, and for UDP also on the extra destination (so the echo leaves from it).
fn listeners(
    topo: &Topology,
    limits: &[LimitProbe],
    lab: &lab::Lab,
) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), VerifyError> {
    let mut wanted = BTreeSet::new();
    for p in limits {
        let v4 = topo.endpoints[p.first].addr.is_ipv4();
        let any: IpAddr = if v4 {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        match p.kind {
            ProbeKind::Tcp(port) => wanted.insert((SocketAddr::new(any, port), false)),
            ProbeKind::Udp(port) => {
                if let Some(d) = p.dst {
                    wanted.insert((SocketAddr::new(d, port), true));
                }
                wanted.insert((SocketAddr::new(any, port), true))
            }
            ProbeKind::Ping | ProbeKind::Established => false,
        };
    }
    lab.host.run(|| {
        let (mut tcp, mut udp) = (Vec::new(), Vec::new());
        for &(at, is_udp) in &wanted {
            let fd = probe::listener_at(at, is_udp).map_err(|source| VerifyError::Socket {
                what: format!("listening on {at} for the rate-limit probes"),
                source,
            })?;
            if is_udp { &mut udp } else { &mut tcp }.push(fd);
        }
        Ok::<_, VerifyError>((tcp, udp))
    })?
}
