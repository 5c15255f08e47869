//! `verify --with-live-tables`: the host's other tables (or those of `--netns N`),
//! copied read-only as the kernel's own messages into the lab's host namespace next to
//! the policy's table, and the probes' expectations taken from the combined `eval`
//! (`eval::host`) over what the lab then holds, read back like any host.
//!
//! A probe the policy alone lets through but another table refuses keeps the policy's
//! expectation (open), so it fails, and its reason names both rules: ours by
//! `file:line`, theirs by table, chain, position and text (handles are the lab's, not
//! the host's). A probe whose combined answer depends on what hostwall cannot evaluate
//! is not probed, and says which rule. What cannot be copied faithfully (flowtables,
//! base chains bound to devices the lab lacks) is refused, or with `--allow-partial`
//! left out and named in the notes. Bridge tables are loaded but judged to see nothing:
//! the lab bridges no ports.

use super::forward::FwdPlanned;
use super::matrix::{self, Planned};
use super::topology::{LOOPBACK_IF, Topology};
use super::{NotProbed, Outcome, ProbeKind, ProbePlan, VerifyError};
use crate::eval::host::{self, Answer, EndKind, Path, Step};
use crate::eval::{L4, Packet};
use crate::ir::host::{HostRuleset, HostTable, TableFamily};
use crate::ir::{CtState, Ruleset};
use crate::live::copy::{self, ForeignTable};
use crate::netns::Netns;
use crate::source::{SourceMap, Span};
use std::collections::BTreeSet;

/// `--with-live-tables [--netns N] [--allow-partial]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveTables {
    /// Copy the tables of this network namespace instead of the host's.
    pub netns: Option<String>,
    /// Leave out what cannot be copied faithfully (named in the notes) instead of refusing.
    pub allow_partial: bool,
}

/// The copies to load, and what was left out of them.
pub(super) struct Neighbours {
    tables: Vec<ForeignTable>,
    pub notes: Vec<String>,
}

/// Copies every table but ours from the host (or `lt.netns`) and decides what the lab
/// `topo` can hold: flowtables and chains bound to devices it lacks are left out, which
/// is refused unless `lt.allow_partial`.
pub(super) fn capture(
    rs: &Ruleset,
    lt: &LiveTables,
    topo: &Topology,
) -> Result<Neighbours, VerifyError> {
    let from = lt
        .netns
        .as_deref()
        .map_or("the host".to_string(), |n| format!("netns {n}"));
    let all = copy::capture(&rs.table.name, lt.netns.as_deref())
        .map_err(|e| VerifyError::Load(format!("copying the other tables of {from}: {e}")))?;
    let (tables, left) = fit(all, &lab_devices(topo));
    if !left.is_empty() && !lt.allow_partial {
        return Err(VerifyError::Load(format!(
            "the other tables of {from} cannot be copied faithfully into the test namespace \
             (pass --allow-partial to leave these out): {}",
            left.join("; ")
        )));
    }
    let mut notes = vec![format!(
        "with the live tables of {from}: {} other table(s) copied next to the policy's{}",
        tables.len(),
        list(&tables)
    )];
    notes.extend(
        left.into_iter()
            .map(|l| format!("left out (--allow-partial): {l}")),
    );
    Ok(Neighbours { tables, notes })
}

fn list(tables: &[ForeignTable]) -> String {
    if tables.is_empty() {
        return String::new();
    }
    let names: Vec<String> = tables.iter().map(ForeignTable::title).collect();
    format!(" ({})", names.join(", "))
}

/// The host side's interfaces in the lab.
fn lab_devices(topo: &Topology) -> BTreeSet<String> {
    let links = topo.links.iter().chain(&topo.far_links);
    let mut out: BTreeSet<String> = links.map(|l| l.host_if.clone()).collect();
    out.insert(LOOPBACK_IF.to_string());
    out
}

/// The copies the lab can hold as they are, and what had to be left out (and why):
/// a table with flowtables entirely (its rules add flows to them), a base chain bound
/// to a device the lab lacks with its rules.
pub(super) fn fit(
    all: Vec<ForeignTable>,
    devices: &BTreeSet<String>,
) -> (Vec<ForeignTable>, Vec<String>) {
    let mut left = Vec::new();
    let mut kept = Vec::new();
    for mut t in all {
        if !t.flowtables.is_empty() {
            left.push(format!(
                "table {}: it holds flowtables ({}), which bind to the host's devices",
                t.title(),
                t.flowtables.join(", ")
            ));
            continue;
        }
        let absent: Vec<(String, Vec<String>)> = (t.device_chains.iter())
            .filter(|(_, devs)| devs.iter().any(|d| !devices.contains(d)))
            .cloned()
            .collect();
        for (chain, devs) in absent {
            left.push(format!(
                "table {} chain {chain}: bound to device(s) {}, which the test namespace lacks",
                t.title(),
                devs.join(", ")
            ));
            t.drop_chain(&chain);
        }
        kept.push(t);
    }
    (kept, left)
}

/// Loads the copies into the lab's host namespace (before the policy's table, which
/// then comes last in the kernel's table order, as a table created now would).
pub(super) fn load(n: &Neighbours, host: &Netns) -> Result<(), VerifyError> {
    copy::load(&n.tables, host.name())
        .map_err(|e| VerifyError::Load(format!("loading the copied tables: {e}")))
}

/// What the lab's host namespace holds besides the policy's table, read back, with
/// the policy's own table (its rules keep their policy lines) placed last; bridge
/// tables left out of the judgement (no lab packet crosses a bridge port).
pub(super) fn host_ruleset(rs: &Ruleset, host: &Netns) -> Result<HostRuleset, VerifyError> {
    let read = crate::live::read(&rs.table.name, Some(host.name()))
        .map_err(|e| VerifyError::Load(format!("reading back the copied tables: {e}")))?;
    let others = (read.others.into_iter()).filter(|t| t.family != Some(TableFamily::Bridge));
    Ok(HostRuleset::with_ours(
        HostTable::of_ours(&rs.table),
        others,
        None,
    ))
}

/// How one hook path ends for a packet.
enum Pass {
    Accept,
    /// Refused: the end, and who refused ("table ip filter chain FORWARD rule 3: ...").
    Refused(EndKind, String),
    /// Depends on what hostwall cannot evaluate (which rule).
    Unknown(String),
}

/// A probe's combined expectation, and who refused it when a table did.
enum Judged {
    Sure(Outcome, Option<String>),
    Unknown(String),
}

/// Names policy spans as `file:line`.
struct Names<'a> {
    map: Option<&'a SourceMap>,
}

impl Names<'_> {
    fn span(&self, s: &Span) -> Option<String> {
        let map = self.map?;
        let (line, _) = map.line_col(*s);
        Some(format!("{}:{line}", map.file(s.file).name))
    }

    /// A chain's deciding end: ours by policy line, theirs by table, chain and position.
    fn step(&self, s: &Step) -> String {
        let Some(end) = s.ends.first() else {
            return format!("table {} chain {}", s.table, s.chain);
        };
        let Some(at) = &end.at else {
            let policy = match end.kind {
                EndKind::Accept => "accept",
                _ => "drop",
            };
            return format!("table {} chain {} policy {policy}", s.table, s.chain);
        };
        let lines: Vec<String> = at.origin.iter().filter_map(|o| self.span(o)).collect();
        if s.ours && !lines.is_empty() {
            return format!("{} ({})", lines.join("+"), at.text);
        }
        format!(
            "table {} chain {} rule {} ({})",
            s.table,
            at.chain,
            at.index + 1,
            at.text
        )
    }
}

fn pass(host: &HostRuleset, path: Path, pkt: &Packet, names: &Names) -> Pass {
    let d = host::evaluate(host, path, pkt);
    match d.answer {
        Answer::Accept => Pass::Accept,
        Answer::Refused { step } => {
            let s = &d.steps[step];
            let kind = s.ends.first().map_or(EndKind::Drop, |e| e.kind.clone());
            Pass::Refused(kind, names.step(s))
        }
        Answer::Unknown => {
            let why = (d.steps.iter())
                .find(|s| !s.surely_accepts())
                .map_or("an unknown".to_string(), unknown_end);
            Pass::Unknown(why)
        }
    }
}

/// The end of a chain that makes it undecided, named.
fn unknown_end(s: &Step) -> String {
    let end = (s.ends.iter())
        .find(|e| matches!(e.kind, EndKind::Unknown(_)) || !e.assumed.is_empty())
        .or(s.ends.first());
    let Some(end) = end else {
        return format!("table {} chain {}", s.table, s.chain);
    };
    let what = match (&end.kind, end.assumed.first()) {
        (EndKind::Unknown(w), _) => w.clone(),
        (_, Some(a)) => a.clone(),
        _ => "it may accept or refuse".to_string(),
    };
    match &end.at {
        Some(at) => format!(
            "table {} chain {} rule {}: {} ({what})",
            s.table,
            at.chain,
            at.index + 1,
            at.text
        ),
        None => format!("table {} chain {} ({what})", s.table, s.chain),
    }
}

/// What the client sees for a refusal: the kernel answers a reject by its type.
fn refused_outcome(kind: ProbeKind, end: &EndKind, v4: bool) -> Outcome {
    let EndKind::Reject(text) = end else {
        return Outcome::Timeout;
    };
    let tcp = matches!(kind, ProbeKind::Tcp(_) | ProbeKind::Established);
    let port_unreach = match text.as_str() {
        "reject with tcp reset" => {
            return if tcp {
                Outcome::Refused
            } else {
                Outcome::Timeout
            };
        }
        "reject" | "reject with icmpx port-unreachable" => true,
        "reject with icmpx admin-prohibited" => false,
        other => {
            // `reject (type T code C)`: ICMP (0) port unreachable is code 3 (IPv4) or
            // 4 (IPv6), ICMPX (2) code 1; TCP reset (1); every other code is an
            // unreachable the socket reports as EHOSTUNREACH/ENETUNREACH/EACCES.
            let nums: Vec<u32> = (other.split(|c: char| !c.is_ascii_digit()))
                .filter_map(|w| w.parse().ok())
                .collect();
            match nums.as_slice() {
                [1, _] => {
                    return if tcp {
                        Outcome::Refused
                    } else {
                        Outcome::Timeout
                    };
                }
                [0, c] => *c == if v4 { 3 } else { 4 },
                [2, c] => *c == 1,
                _ => false,
            }
        }
    };
    if port_unreach {
        Outcome::Refused
    } else {
        Outcome::Prohibited
    }
}

/// A request and (when accepted) its answer, each over its hook paths in turn.
fn judge(
    host: &HostRuleset,
    kind: ProbeKind,
    request: &[(Path, Packet)],
    answer: &[(Path, Packet)],
    names: &Names,
) -> Judged {
    let v4 = request.first().is_none_or(|(_, p)| p.src.is_ipv4());
    for (path, pkt) in request {
        match pass(host, *path, pkt, names) {
            Pass::Accept => {}
            Pass::Refused(end, by) => {
                return Judged::Sure(refused_outcome(kind, &end, v4), Some(by));
            }
            Pass::Unknown(why) => return Judged::Unknown(why),
        }
    }
    for (path, pkt) in answer {
        match pass(host, *path, pkt, names) {
            Pass::Accept => {}
            Pass::Refused(_, by) => {
                return Judged::Sure(Outcome::Timeout, Some(format!("{by} (the answer)")));
            }
            Pass::Unknown(why) => return Judged::Unknown(why),
        }
    }
    Judged::Sure(Outcome::Open, None)
}

fn packet(src: std::net::IpAddr, dst: std::net::IpAddr, l4: L4, ct: u32) -> Packet {
    let mut p = Packet::new_inbound(src, dst, "", l4);
    p.iif = None;
    p.ct = ct;
    p
}

/// Packets in the order they meet the hook paths.
type Walk = Vec<(Path, Packet)>;

/// The packets of an input probe: request and answer, each with its hook paths.
fn input_packets(topo: &Topology, p: &Planned) -> (Walk, Walk) {
    let ep = &topo.endpoints[p.endpoint];
    let v4 = ep.addr.is_ipv4();
    if ep.lo {
        let dst = super::sources::loopback_dst(v4);
        let l4 = matrix::probe_l4(p.kind, v4);
        let both = |src, dst, l4, ct| {
            let mut out = packet(src, dst, l4, ct);
            out.oif = Some(LOOPBACK_IF.to_string());
            let mut inp = packet(src, dst, l4, ct);
            inp.iif = Some(LOOPBACK_IF.to_string());
            vec![(Path::Output, out), (Path::Input, inp)]
        };
        let req = both(ep.addr, dst, l4, CtState::NEW);
        let ans = both(dst, ep.addr, matrix::reply_l4(l4), CtState::ESTABLISHED);
        return (req, ans);
    }
    let link = &topo.links[ep.link];
    let host_addr = link.host_addr(v4);
    let first = matrix::first_packet(topo, ep, p.kind, p.dst);
    if p.kind == ProbeKind::Established {
        let mut syn = packet(
            host_addr,
            ep.addr,
            matrix::probe_l4(p.kind, v4),
            CtState::NEW,
        );
        syn.oif = Some(link.host_if.clone());
        return (vec![(Path::Output, syn), (Path::Input, first)], Vec::new());
    }
    let mut reply = packet(
        first.dst,
        ep.addr,
        matrix::reply_l4(first.l4),
        CtState::ESTABLISHED,
    );
    reply.oif = Some(link.host_if.clone());
    (vec![(Path::Input, first)], vec![(Path::Output, reply)])
}

/// The packets of a forward probe: request and answer through the host.
fn forward_packets(topo: &Topology, p: &FwdPlanned) -> (Packet, Packet) {
    let (s, d) = (topo.endpoint(p.src).addr, topo.endpoint(p.dst).addr);
    let (sl, dl) = (&topo.link_at(p.src).host_if, &topo.link_at(p.dst).host_if);
    let l4 = matrix::probe_l4(p.kind, s.is_ipv4());
    let mut req = packet(s, d, l4, CtState::NEW);
    (req.iif, req.oif) = (Some(sl.clone()), Some(dl.clone()));
    let mut ans = packet(d, s, matrix::reply_l4(l4), CtState::ESTABLISHED);
    (ans.iif, ans.oif) = (Some(dl.clone()), Some(sl.clone()));
    (req, ans)
}

/// One probe's expectation under the combined ruleset, given the policy's own, with
/// the reason to add to its rules; `Err`: not probed (why).
fn rejudge(
    policy: &Outcome,
    judged: Judged,
    ours: &str,
) -> Result<(Outcome, Option<String>), String> {
    match judged {
        Judged::Unknown(why) => Err(format!(
            "with the live tables its answer depends on what hostwall cannot evaluate: {why}"
        )),
        Judged::Sure(combined, by) => match by {
            // The policy lets it through, another table refuses: the policy is
            // defeated, so the probe keeps the policy's expectation and fails.
            Some(by) if *policy == Outcome::Open && combined != Outcome::Open => Ok((
                Outcome::Open,
                Some(format!("defeated: {ours} allows it but {by} refuses it")),
            )),
            Some(by) if combined != *policy => Ok((combined, Some(format!("refused by {by}")))),
            _ => Ok((combined, None)),
        },
    }
}

/// Re-derives every probe's expectation from the combined `host` ruleset: conflicts
/// keep the policy's expectation and name both rules; undecidable probes leave the
/// plan as `not probed` rows.
pub(super) fn apply_to_plan(
    rs: &Ruleset,
    plan: &mut ProbePlan,
    host: &HostRuleset,
    sources: Option<&SourceMap>,
) -> Vec<NotProbed> {
    let names = Names { map: sources };
    let mut not_probed = Vec::new();
    let topo = &plan.topo;
    let mut keep = Vec::new();
    for (i, p) in plan.planned.iter().enumerate() {
        let (req, ans) = input_packets(topo, p);
        let judged = judge(host, p.kind, &req, &ans, &names);
        match rejudge(&p.expected, judged, "the policy") {
            Ok(r) => keep.push(Some(r)),
            Err(why) => {
                keep.push(None);
                not_probed.push(NotProbed {
                    name: plan.planned[i].name.clone(),
                    reason: why,
                });
            }
        }
    }
    let mut fwd_keep = Vec::new();
    for p in &plan.fwd {
        let (req, ans) = forward_packets(topo, p);
        let key = if req.src.is_ipv4() {
            crate::ir::Sysctl::Ipv4Forward
        } else {
            crate::ir::Sysctl::Ipv6Forward
        };
        let forwarding_off = super::fwd_design::policy_forwarding(rs, key) == Some(false);
        let ours = ours_forward(host, &req, &names);
        let judged = if forwarding_off {
            Judged::Sure(p.expected.clone(), None)
        } else {
            judge(
                host,
                p.kind,
                &[(Path::Forward, req)],
                &[(Path::Forward, ans)],
                &names,
            )
        };
        match rejudge(&p.expected, judged, &ours) {
            Ok(r) => fwd_keep.push(Some(r)),
            Err(why) => {
                fwd_keep.push(None);
                not_probed.push(NotProbed {
                    name: p.name.clone(),
                    reason: why,
                });
            }
        }
    }
    apply_input(plan, keep);
    apply_forward(plan, fwd_keep);
    not_probed
}

/// Our forward chain's deciding rule for a packet, named.
fn ours_forward(host: &HostRuleset, pkt: &Packet, names: &Names) -> String {
    let d = host::evaluate(host, Path::Forward, pkt);
    (d.steps.iter())
        .find(|s| s.ours && s.hook == crate::ir::host::HostHook::Forward)
        .map_or("the policy".to_string(), |s| names.step(s))
}

type Rejudged = Vec<Option<(Outcome, Option<String>)>>;

fn apply_input(plan: &mut ProbePlan, keep: Rejudged) {
    let planned = std::mem::take(&mut plan.planned);
    let rules = std::mem::take(&mut plan.rules);
    for ((mut p, mut r), k) in planned.into_iter().zip(rules).zip(keep) {
        let Some((expected, why)) = k else { continue };
        p.expected = expected;
        if let Some(w) = why {
            r = if r.is_empty() { w } else { format!("{r}; {w}") };
        }
        plan.planned.push(p);
        plan.rules.push(r);
    }
}

fn apply_forward(plan: &mut ProbePlan, keep: Rejudged) {
    let fwd = std::mem::take(&mut plan.fwd);
    plan.fwd_rules.clear();
    for (mut p, k) in fwd.into_iter().zip(keep) {
        let Some((expected, why)) = k else { continue };
        p.expected = expected;
        plan.fwd.push(p);
        plan.fwd_rules.push(why.unwrap_or_default());
    }
}

#[cfg(test)]
#[path = "neighbours_tests.rs"]
mod tests;
