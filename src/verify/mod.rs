//! `verify`: proves a ruleset does what the policy says by sending real
//! packets between two throwaway namespaces.
//!
//! The host namespace gets the ruleset (applied, or an nft file loaded with
//! `--against`) and listeners on every probed port; the client namespace sends
//! the probes. Every expectation comes from `eval` on the IR (see `matrix`),
//! so the table compares what the policy means with what the kernel did.
//! Both namespaces are removed on every exit path (guards, plus the signal
//! cleanup of `netns`).

mod load;
mod matrix;
mod probe;
mod table;
mod topology;

pub use table::render_table;

use crate::eval::EvalError;
use crate::ir::Ruleset;
use crate::netns::{Netns, NetnsError};
use probe::Job;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a probe waits before its packet counts as dropped.
const DROP_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Load this nft ruleset in the host namespace instead of applying the policy's.
    pub against: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub probes: Vec<ProbeResult>,
}

impl VerifyReport {
    pub fn passed(&self) -> usize {
        self.probes.iter().filter(|p| p.pass).count()
    }

    pub fn failed(&self) -> usize {
        self.probes.len() - self.passed()
    }

    /// Exit semantics for the CLI: every probe passed (exit 0) or not (exit 1).
    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub name: String,
    pub expected: Outcome,
    pub seen: Outcome,
    pub pass: bool,
}

/// What a probe's sender observes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Connected, echoed, or answered.
    Open,
    /// TCP reset or ICMP port-unreachable (ECONNREFUSED).
    Refused,
    /// ICMP administratively prohibited (EHOSTUNREACH / EACCES).
    Prohibited,
    /// No answer within the timeout: dropped.
    Timeout,
    /// A value read back (sysctls).
    Value(String),
    /// The probe itself failed in an unexpected way.
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Open => f.write_str("open"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::Prohibited => f.write_str("prohibited"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Value(v) => f.write_str(v),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// What a probe sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// ICMP / ICMPv6 echo request.
    Ping,
    /// TCP connect to a port.
    Tcp(u16),
    /// UDP datagram to a port (answered by an echo listener when open).
    Udp(u16),
    /// The host connects to the client: the answer is established return traffic.
    Established,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("setting up the test namespaces: {0}")]
    Netns(#[from] NetnsError),
    #[error("deriving expectations from the ruleset: {0}")]
    Eval(#[from] EvalError),
    #[error("loading the ruleset into the test namespace: {0}")]
    Load(String),
    #[error("{what}: {source}")]
    Socket {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Applies `rs` (or loads `opts.against`) in a throwaway host namespace and
/// probes it from a client namespace. `Err` means the test could not be set
/// up (exit 2); a report with failures means the ruleset misbehaved (exit 1).
pub fn verify(rs: &Ruleset, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let topo = topology::design(rs);
    let planned = matrix::plan(rs, &topo)?;
    let lab = topology::build(&topo)?;
    let report = run_lab(rs, opts, &topo, &planned, &lab);
    // Remove explicitly to report a failure; on the error path the guards do it.
    let topology::Lab { host, client } = lab;
    let removed = (client.remove(), host.remove());
    let report = report?;
    removed.0?;
    removed.1?;
    Ok(report)
}

/// Runs every probe; probes whose outcome differs from the expectation run once more,
/// on fresh sockets, and the second outcome counts. On a loaded machine a first packet
/// can lose its race with neighbour resolution or the scheduler; a firewall that really
/// drops or rejects does so both times, so a genuine difference still fails.
fn probe_with_retry(
    lab: &topology::Lab,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
) -> Result<Vec<Outcome>, VerifyError> {
    let mut outcomes = {
        let (jobs, _client_listeners) = jobs(lab, topo, planned)?;
        probe::run(&jobs, DROP_TIMEOUT)
    };
    let retry: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].expected != outcomes[i])
        .collect();
    if retry.is_empty() {
        return Ok(outcomes);
    }
    let (jobs, _client_listeners) = jobs(lab, topo, planned)?;
    let subset: Vec<probe::Job> = jobs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| retry.contains(i))
        .map(|(_, j)| j)
        .collect();
    for (i, o) in retry.into_iter().zip(probe::run(&subset, DROP_TIMEOUT)) {
        outcomes[i] = o;
    }
    Ok(outcomes)
}

fn run_lab(
    rs: &Ruleset,
    opts: &VerifyOptions,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
    lab: &topology::Lab,
) -> Result<VerifyReport, VerifyError> {
    load::load(rs, opts, &lab.host)?;
    let (tcp_listeners, udp_listeners) = listeners(&lab.host, topo, planned)?;
    let stop = AtomicBool::new(false);
    let outcomes = std::thread::scope(|s| {
        s.spawn(|| probe::udp_echo(&udp_listeners, &stop));
        let outcomes = probe_with_retry(lab, topo, planned);
        stop.store(true, Ordering::Relaxed);
        outcomes
    });
    drop(tcp_listeners);
    let outcomes = outcomes?;
    let mut probes: Vec<ProbeResult> = planned
        .iter()
        .zip(outcomes)
        .map(|(p, seen)| ProbeResult {
            name: p.name.clone(),
            pass: p.expected == seen,
            expected: p.expected.clone(),
            seen,
        })
        .collect();
    if opts.against.is_none() {
        probes.extend(sysctl_probes(rs, &lab.host));
    }
    Ok(VerifyReport { probes })
}

/// A TCP listener and a UDP echo socket, per family, on every probed port.
fn listeners(
    host: &Netns,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), VerifyError> {
    let mut wanted = BTreeSet::new();
    for p in planned {
        let v4 = topo.endpoints[p.endpoint].addr.is_ipv4();
        match p.kind {
            ProbeKind::Tcp(port) | ProbeKind::Udp(port) => {
                wanted.insert((v4, false, port));
                wanted.insert((v4, true, port));
            }
            ProbeKind::Ping | ProbeKind::Established => {}
        }
    }
    host.run(|| {
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for &(v4, is_udp, port) in &wanted {
            let any: std::net::IpAddr = if v4 {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            };
            let fd = probe::listener_at(SocketAddr::new(any, port), is_udp).map_err(|source| {
                VerifyError::Socket {
                    what: format!(
                        "listening on {} port {port} ({})",
                        if is_udp { "udp" } else { "tcp" },
                        if v4 { "IPv4" } else { "IPv6" }
                    ),
                    source,
                }
            })?;
            if is_udp { &mut udp } else { &mut tcp }.push(fd);
        }
        Ok::<_, VerifyError>((tcp, udp))
    })?
}

/// Client sockets for every planned probe, in plan order; for the established
/// probes, the host's socket plus the client listener it connects to (returned
/// so it stays open while probing).
fn jobs(
    lab: &topology::Lab,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
) -> Result<(Vec<Job>, Vec<OwnedFd>), VerifyError> {
    let sock_err = |what: String| move |source| VerifyError::Socket { what, source };
    let addr_of = |p: &matrix::Planned| topo.endpoints[p.endpoint].addr;
    let host_of = |p: &matrix::Planned| {
        let ep = &topo.endpoints[p.endpoint];
        topo.links[ep.link].host_addr(ep.addr.is_ipv4())
    };
    let (client_side, host_side) = sockets(lab, planned, addr_of, host_of)?;
    let mut host_side = host_side.into_iter();
    let mut jobs = Vec::with_capacity(planned.len());
    let mut keep = Vec::new();
    for (p, client_fd) in planned.iter().zip(client_side) {
        let fd = client_fd.map_err(sock_err(format!("probe socket on {}", addr_of(p))))?;
        let job = match p.kind {
            ProbeKind::Established => {
                keep.push(fd);
                let host_fd = host_side
                    .next()
                    .unwrap_or_else(|| Err(std::io::Error::other("no host socket was made")));
                Job {
                    fd: host_fd.map_err(sock_err(format!("host socket on {}", host_of(p))))?,
                    kind: p.kind,
                    dst: SocketAddr::new(addr_of(p), matrix::RETURN_PORT),
                }
            }
            ProbeKind::Tcp(port) | ProbeKind::Udp(port) => Job {
                fd,
                kind: p.kind,
                dst: SocketAddr::new(host_of(p), port),
            },
            ProbeKind::Ping => Job {
                fd,
                kind: p.kind,
                dst: SocketAddr::new(host_of(p), 0),
            },
        };
        jobs.push(job);
    }
    Ok((jobs, keep))
}

/// One socket (or the error making it) per probe.
type Sockets = Vec<std::io::Result<OwnedFd>>;

/// Sockets per probe, each made inside its namespace (one thread per namespace):
/// client probe sockets (or, for established probes, the client's listener),
/// and the host's sockets for the established probes.
fn sockets(
    lab: &topology::Lab,
    planned: &[matrix::Planned],
    addr_of: impl Fn(&matrix::Planned) -> std::net::IpAddr + Sync,
    host_of: impl Fn(&matrix::Planned) -> std::net::IpAddr + Sync,
) -> Result<(Sockets, Sockets), VerifyError> {
    let client_side = lab.client.run(|| {
        planned
            .iter()
            .map(|p| match p.kind {
                ProbeKind::Established => {
                    probe::listener_at(SocketAddr::new(addr_of(p), matrix::RETURN_PORT), false)
                }
                kind => probe::client_socket(kind, addr_of(p)),
            })
            .collect::<Vec<_>>()
    })?;
    let host_side = lab.host.run(|| {
        planned
            .iter()
            .filter(|p| p.kind == ProbeKind::Established)
            .map(|p| probe::client_socket(p.kind, host_of(p)))
            .collect::<Vec<_>>()
    })?;
    Ok((client_side, host_side))
}

/// The policy's sysctls as the host namespace holds them after loading.
fn sysctl_probes(rs: &Ruleset, host: &Netns) -> Vec<ProbeResult> {
    rs.sysctls
        .iter()
        .map(|s| {
            let expected = Outcome::Value(if s.value { "1" } else { "0" }.to_string());
            let seen = match host.read_sysctl(s.key.name()) {
                Ok(v) => Outcome::Value(v),
                Err(e) => Outcome::Error(e.to_string()),
            };
            ProbeResult {
                name: format!("sysctl {}", s.key.name()),
                pass: seen == expected,
                expected,
                seen,
            }
        })
        .collect()
}
