//! `verify`: proves a ruleset does what the policy says by sending real
//! packets between throwaway namespaces.
//!
//! The host namespace gets the ruleset (applied, or an nft file loaded with
//! `--against`) and listeners on every probed port; the client namespace sends
//! the probes. With a forward chain a third, far namespace is routed through
//! the host and probes are sent between it and the client both ways. Every
//! expectation comes from `eval` on the IR (see `matrix` and `forward`), so
//! the table compares what the policy means with what the kernel did. The
//! namespaces are removed on every exit path (guards, plus the signal cleanup
//! of `netns`).

mod budget;
mod cover;
mod design;
mod dests;
mod document;
mod forward;
mod fwd_design;
mod inputs;
mod junit;
mod lab;
mod lab_nets;
mod labels;
mod limit_run;
mod limits;
mod listen;
mod load;
mod matrix;
mod neighbours;
mod output;
mod output_pick;
mod output_report;
mod output_run;
mod plan;
mod probe;
mod report;
mod sources;
mod table;
#[cfg(test)]
mod test_plan;
mod topology;
mod witness;

pub use document::{Document, document};
pub use junit::render_junit;
pub use neighbours::LiveTables;
pub use output::OutputCoverage;
pub use plan::{ProbePlan, plan};
pub use report::{Failure, ProbePacket, SCHEMA, Summary, classify};
pub use table::render_table;
pub use table::{TableOptions, render_table_with};

use crate::eval::EvalError;
use crate::ir::Ruleset;
use crate::netns::{Netns, NetnsError};
use probe::Job;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a mismatching probe runs again on fresh sockets before its outcome counts.
const RETRIES: usize = 2;

/// How long a probe waits before its packet counts as dropped.
const DROP_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Load this nft ruleset in the host namespace instead of applying the policy's.
    pub against: Option<PathBuf>,
    /// At most this many probes (`--probes`; default `DEFAULT_PROBES`).
    pub probes: Option<usize>,
    /// The policy's files, to name rules by `file:line` (else by chain position).
    pub sources: Option<crate::source::SourceMap>,
    /// `--with-live-tables`: the host's (or a namespace's) other tables next to ours.
    pub live_tables: Option<LiveTables>,
}

/// The probe budget without `--probes`: keeps the kvm-host policy well under a second.
pub const DEFAULT_PROBES: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub probes: Vec<ProbeResult>,
    /// Sources and destinations of the rules no probe could use, each with
    /// the reason: neither passed nor failed, but counted in the summary.
    pub not_probed: Vec<NotProbed>,
    /// What was set up differently from a real host, or cleaned up, and why.
    pub notes: Vec<String>,
    /// What the probes covered of the input chain's header-space partition.
    pub coverage: Coverage,
}

/// Cells of the input partition probed, and the overlapping rule pairs crossed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Cells of the partition the input rules draw (saturating).
    pub cells: u128,
    pub cells_probed: usize,
    /// Pairs of input rules whose match sets overlap.
    pub pairs: usize,
    /// Of those, pairs a probe in their intersection exercises.
    pub crossed: usize,
    /// The other pairs: (the two rules, why no probe crosses them).
    pub not_crossed: Vec<(String, String)>,
    /// Probes sent and probes planned, when the budget cut the plan.
    pub cut: Option<(usize, usize)>,
    /// What the probes the host sends cover of the output block.
    pub output: OutputCoverage,
}

/// A net named by a rule that no probe comes from or goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotProbed {
    /// What would have been probed, e.g. `from ::ffff:10.0.0.1 (ssh)`.
    pub name: String,
    pub reason: String,
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
    /// The rule that decides it in the policy, and the rules it was chosen to exercise.
    pub rules: String,
    /// The packet it sends (`None` for the sysctl rows).
    pub packet: Option<ProbePacket>,
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
/// probes it from a client namespace (and, for the forward chain, between the
/// client and a far namespace). `Err` means the test could not be set up
/// (exit 2); a report with failures means the ruleset misbehaved (exit 1).
pub fn verify(rs: &Ruleset, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let reaped = crate::netns::reap_orphans(lab::PREFIX);
    let (against, against_note, host) = match &opts.against {
        Some(path) => {
            let (a, note, host) = load::decode(rs, path)?;
            (a, note, Some(host))
        }
        None => (None, None, None),
    };
    let mut plan = plan(rs, against.as_ref(), opts)?;
    let neighbours = match &opts.live_tables {
        Some(_) if opts.against.is_some() => {
            return Err(VerifyError::Load(
                "--with-live-tables and --against exclude each other: the file is the whole \
                 ruleset under test"
                    .into(),
            ));
        }
        Some(lt) => Some(neighbours::capture(rs, lt, &plan.topo)?),
        None => None,
    };
    let lab = lab::build(&plan.topo, host)?;
    let mut live_not_probed = Vec::new();
    if let Some(n) = &neighbours {
        neighbours::load(n, &lab.host)?;
        let host_rs = neighbours::host_ruleset(rs, &lab.host)?;
        live_not_probed = neighbours::apply_to_plan(rs, &mut plan, &host_rs, opts.sources.as_ref());
    }
    let report = run_lab(rs, opts, &plan, &lab);
    // Remove explicitly to report a failure; on the error path the guards do it.
    let removed = lab.remove();
    let mut report = report?;
    removed?;
    if neighbours.is_none() {
        report.probes.extend(limit_run::run(rs, opts, &plan)?);
    } else if !plan.limits.is_empty() {
        report.notes.push(
            "rate-limited rules are not counted out with --with-live-tables (their lab \
             would not hold the other tables)"
                .to_string(),
        );
    }
    let topo = &plan.topo;
    report.notes.extend(notes(rs, topo));
    report.notes.extend(topo.lab.note.clone());
    report.notes.extend(against_note);
    report
        .notes
        .extend(neighbours.into_iter().flat_map(|n| n.notes));
    report.notes.extend(reap_notes(&reaped));
    report.coverage = plan.coverage.clone();
    report.not_probed = topo
        .unprobed
        .iter()
        .map(|u| NotProbed {
            name: u.name.clone(),
            reason: u.reason.clone(),
        })
        .chain(live_not_probed)
        .collect();
    Ok(report)
}

/// Runs every probe; a probe that saw no answer (a timeout, or its socket failed) where
/// the expectation differs runs again (up to `RETRIES` times), on fresh sockets. On a
/// loaded machine a first packet can be lost to neighbour resolution or the scheduler,
/// and a firewall that really drops does so every time, so a genuine drop still fails.
/// An answer seen (a connection, a reset, an ICMP error) is final: the firewall let the
/// packet through or answered it, and a later probe that finds a rate limit's bucket
/// empty, or loses its packet, must not turn that leak into a pass.
fn probe_with_retry(
    expected: &[&Outcome],
    make: impl Fn() -> Result<(Vec<Job>, Vec<OwnedFd>), VerifyError>,
) -> Result<Vec<Outcome>, VerifyError> {
    let mut outcomes = {
        let (jobs, _client_listeners) = make()?;
        probe::run(&jobs, DROP_TIMEOUT)
    };
    for _ in 0..RETRIES {
        let unanswered = |o: &Outcome| matches!(o, Outcome::Timeout | Outcome::Error(_));
        let retry: Vec<usize> = (0..expected.len())
            .filter(|&i| *expected[i] != outcomes[i] && unanswered(&outcomes[i]))
            .collect();
        if retry.is_empty() {
            break;
        }
        let (jobs, _client_listeners) = make()?;
        let subset: Vec<probe::Job> = jobs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| retry.contains(i))
            .map(|(_, j)| j)
            .collect();
        for (i, o) in retry.into_iter().zip(probe::run(&subset, DROP_TIMEOUT)) {
            outcomes[i] = o;
        }
    }
    Ok(outcomes)
}

fn run_lab(
    rs: &Ruleset,
    opts: &VerifyOptions,
    plan: &ProbePlan,
    lab: &lab::Lab,
) -> Result<VerifyReport, VerifyError> {
    let (topo, planned, fwd) = (&plan.topo, &plan.planned[..], &plan.fwd[..]);
    load::load(rs, opts, &lab.host)?;
    let (tcp_listeners, udp_listeners) = listen::lab_listeners(topo, plan, lab)?;
    let expected = plan.expected();
    let make = || {
        let (mut all, keep) = jobs(lab, topo, planned)?;
        all.extend(fwd_jobs(lab, topo, fwd)?);
        all.extend(output_run::jobs(lab, topo, &plan.output)?);
        Ok((all, keep))
    };
    let stop = AtomicBool::new(false);
    let outcomes = std::thread::scope(|s| {
        s.spawn(|| probe::udp_echo(&udp_listeners, &stop));
        let outcomes = probe_with_retry(&expected, make);
        stop.store(true, Ordering::Relaxed);
        outcomes
    });
    drop(tcp_listeners);
    let mut probes = results(plan, &expected, outcomes?);
    if opts.against.is_none() {
        probes.extend(sysctl_probes(rs, &lab.host));
    }
    Ok(VerifyReport {
        probes,
        not_probed: Vec::new(),
        notes: Vec::new(),
        coverage: Coverage::default(),
    })
}

/// Each probe's result: input probes first, then forward and output probes, in plan order.
fn results(plan: &ProbePlan, expected: &[&Outcome], seen: Vec<Outcome>) -> Vec<ProbeResult> {
    let (names, rules) = (plan.names(), plan.rules());
    let packets = report::packets(plan).into_iter().map(Some);
    names
        .into_iter()
        .zip(expected)
        .zip(seen)
        .zip(rules)
        .zip(packets)
        .map(|((((name, expected), seen), rules), packet)| ProbeResult {
            name: name.to_string(),
            pass: **expected == seen,
            expected: (*expected).clone(),
            seen,
            rules: rules.to_string(),
            packet,
        })
        .collect()
}

/// Sockets for every planned probe, in plan order: the client's probe
/// sockets; the host's own for loopback sources; for the established probes,
/// the host's socket plus the client listener it connects to (returned so it
/// stays open while probing).
fn jobs(
    lab: &lab::Lab,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
) -> Result<(Vec<Job>, Vec<OwnedFd>), VerifyError> {
    let sock_err = |what: String| move |source| VerifyError::Socket { what, source };
    let (client_side, host_side) = sockets(lab, topo, planned)?;
    let (mut client_side, mut host_side) = (client_side.into_iter(), host_side.into_iter());
    let missing = || Err(std::io::Error::other("no socket was made"));
    let mut jobs = Vec::with_capacity(planned.len());
    let mut keep = Vec::new();
    for p in planned {
        let ep = &topo.endpoints[p.endpoint];
        let host = topo.links[ep.link].host_addr(ep.addr.is_ipv4());
        let (fd, dst) = match p.kind {
            ProbeKind::Established => {
                let listener = client_side.next().unwrap_or_else(missing);
                keep.push(listener.map_err(sock_err(format!("listener on {}", ep.addr)))?);
                let fd = host_side.next().unwrap_or_else(missing);
                let fd = fd.map_err(sock_err(format!("host socket on {host}")))?;
                (fd, SocketAddr::new(ep.addr, matrix::RETURN_PORT))
            }
            kind if ep.lo => {
                let fd = host_side.next().unwrap_or_else(missing);
                let fd =
                    fd.map_err(sock_err(format!("probe socket on {} in the host", ep.addr)))?;
                let dst = sources::loopback_dst(ep.addr.is_ipv4());
                (fd, SocketAddr::new(dst, forward::port(kind)))
            }
            kind => {
                let fd = client_side.next().unwrap_or_else(missing);
                let fd = fd.map_err(sock_err(format!("probe socket on {}", ep.addr)))?;
                let dst = topo.input_dst(ep, p.dst);
                (fd, SocketAddr::new(dst, forward::port(kind)))
            }
        };
        jobs.push(Job {
            fd,
            kind: p.kind,
            dst,
        });
    }
    Ok((jobs, keep))
}

/// The forward probes' sockets, each made in its sender's namespace (client
/// or far) and bound to the sender's address, in plan order.
fn fwd_jobs(
    lab: &lab::Lab,
    topo: &topology::Topology,
    fwd: &[forward::FwdPlanned],
) -> Result<Vec<Job>, VerifyError> {
    let mut fds: Vec<Option<std::io::Result<OwnedFd>>> = fwd.iter().map(|_| None).collect();
    for far in [false, true] {
        let idx: Vec<usize> = (0..fwd.len()).filter(|&i| fwd[i].src.far == far).collect();
        let Some(ns) = lab.side(far).filter(|_| !idx.is_empty()) else {
            continue;
        };
        let made = ns.run(|| {
            idx.iter()
                .map(|&i| {
                    let src = topo.endpoint(fwd[i].src).addr;
                    probe::client_socket(fwd[i].kind, src, &topo.link_at(fwd[i].src).client_if)
                })
                .collect::<Vec<_>>()
        })?;
        for (i, fd) in idx.into_iter().zip(made) {
            fds[i] = Some(fd);
        }
    }
    fwd.iter()
        .zip(fds)
        .map(|(p, fd)| {
            let src = topo.endpoint(p.src).addr;
            let fd = fd
                .unwrap_or_else(|| Err(std::io::Error::other("no namespace for the sender")))
                .map_err(|source| VerifyError::Socket {
                    what: format!("forward probe socket on {src}"),
                    source,
                })?;
            let dst = SocketAddr::new(topo.endpoint(p.dst).addr, forward::port(p.kind));
            Ok(Job {
                fd,
                kind: p.kind,
                dst,
            })
        })
        .collect()
}

/// One socket (or the error making it) per probe.
type Sockets = Vec<std::io::Result<OwnedFd>>;

/// Sockets per probe, each made inside its namespace (one thread per
/// namespace), in plan order: the client's (its probe sockets, and the
/// listeners of the established probes), and the host's (for the established
/// probes and those from loopback sources).
fn sockets(
    lab: &lab::Lab,
    topo: &topology::Topology,
    planned: &[matrix::Planned],
) -> Result<(Sockets, Sockets), VerifyError> {
    let ep = |p: &matrix::Planned| &topo.endpoints[p.endpoint];
    let in_host = |p: &&matrix::Planned| p.kind == ProbeKind::Established || ep(p).lo;
    let client_side = lab.client.run(|| {
        planned
            .iter()
            .filter(|p| p.kind == ProbeKind::Established || !ep(p).lo)
            .map(|p| {
                let e = ep(p);
                match p.kind {
                    ProbeKind::Established => {
                        probe::listener_at(SocketAddr::new(e.addr, matrix::RETURN_PORT), false)
                    }
                    kind => probe::client_socket(kind, e.addr, &topo.links[e.link].client_if),
                }
            })
            .collect::<Vec<_>>()
    })?;
    let host_side = lab.host.run(|| {
        planned
            .iter()
            .filter(in_host)
            .map(|p| {
                let e = ep(p);
                if p.kind == ProbeKind::Established {
                    let l = &topo.links[e.link];
                    probe::client_socket(p.kind, l.host_addr(e.addr.is_ipv4()), &l.host_if)
                } else {
                    probe::client_socket(p.kind, e.addr, topology::LOOPBACK_IF)
                }
            })
            .collect::<Vec<_>>()
    })?;
    Ok((client_side, host_side))
}

/// What the table says besides probes: the forward chain not being there, and
/// forwarding sysctls the test set differently from what a host may have.
fn notes(rs: &Ruleset, topo: &topology::Topology) -> Vec<String> {
    if topo.far_links.is_empty() {
        return vec![
            "no forward chain: forwarded traffic is left to other rulesets, so none is probed"
                .to_string(),
        ];
    }
    let mut notes = Vec::new();
    for (key, _) in &topo.forwarding {
        let family = match key {
            crate::ir::Sysctl::Ipv4Forward => "IPv4",
            crate::ir::Sysctl::Ipv6Forward => "IPv6",
        };
        match fwd_design::policy_forwarding(rs, *key) {
            None => notes.push(format!(
                "{} is not set by the policy: set to 1 in the test namespace to probe the \
                 forward chain over {family} (on a host its current value decides)",
                key.name()
            )),
            Some(false) => notes.push(format!(
                "{} = 0 by the policy: {family} forward probes expect no answer",
                key.name()
            )),
            Some(true) => {}
        }
    }
    let unprobed = fwd_design::forward_rules(rs)
        .filter(|r| fwd_design::rule_links(topo, r).is_none())
        .count();
    if unprobed > 0 {
        notes.push(format!(
            "{unprobed} forward rule(s) name input and output interfaces that cannot be \
             placed on opposite sides of the host: not probed on their own"
        ));
    }
    notes
}

/// What reaping the namespaces of killed verify runs did, for the notes.
fn reap_notes(reaped: &crate::netns::Reaped) -> Vec<String> {
    let mut notes = Vec::new();
    if !reaped.removed.is_empty() {
        notes.push(format!(
            "removed {} namespace(s) left by verify runs that were killed: {}",
            reaped.removed.len(),
            reaped.removed.join(", ")
        ));
    }
    for (name, e) in &reaped.failed {
        notes.push(format!(
            "could not remove {name}, left by a verify run that was killed: {e}"
        ));
    }
    notes
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
                rules: String::new(),
                packet: None,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "cover_tests.rs"]
mod cover_tests;
