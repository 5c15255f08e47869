//! Probes for rate-limited input rules (pure planning): `allow ... limit N/unit
//! [burst B]` and `... per source`. `eval` cannot say whether one packet meets a
//! full or an empty bucket, so the ordinary probes cannot prove a limit; this one
//! counts: B new connections from one source (all accepted), then two more (refused
//! by what follows the rule, `eval` with the limit exceeded), and for a per-source
//! limit one from a second source (accepted: its own bucket). Buckets persist, so
//! these run in a fresh lab of their own after the other probes (`limit_run`).

use super::matrix::{self, Planned};
use super::topology::Topology;
use super::{Outcome, ProbeKind};
use crate::eval::{self, Cause, Limits};
use crate::ir::{Hook, Rule, Ruleset, Stmt};
use std::net::IpAddr;

/// Bursts larger than this are not counted out (each is one connection).
pub(crate) const MAX_BURST: u32 = 64;
/// A limit refilling a token faster than this could let an extra connection through
/// while the burst is counted: not probed.
const MIN_REFILL_SECS: f64 = 2.0;
/// Connections sent after the burst.
pub(crate) const AFTER: usize = 2;

/// One limited rule's probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LimitProbe {
    /// What decides its packets (the limited rule), for the rules column.
    pub cause: Cause,
    pub kind: ProbeKind,
    /// The sender (an index into `Topology::endpoints`) and, for a per-source
    /// limit, a second sender with its own bucket.
    pub first: usize,
    pub second: Option<usize>,
    pub dst: Option<IpAddr>,
    pub burst: u32,
    pub per_source: bool,
    /// What the connections after the burst see (the limit exceeded).
    pub over: Outcome,
    /// The rules column: the limited rule by `file:line` (set by `plan::plan`).
    pub label: String,
}

/// The limit of a rule: (burst, seconds per token, per source).
fn limit_of(rule: &Rule) -> Option<(u32, f64, bool)> {
    rule.stmts.iter().find_map(|s| match s {
        Stmt::Limit { rate, unit, burst } => Some((*burst, refill(*rate, unit.seconds()), false)),
        Stmt::SourceLimit {
            rate, unit, burst, ..
        } => Some((*burst, refill(*rate, unit.seconds()), true)),
        _ => None,
    })
}

fn refill(rate: u64, unit_secs: u64) -> f64 {
    unit_secs as f64 / rate.max(1) as f64
}

/// A probe per limited input rule, from the planned probes it decides; a reason
/// (for a "not probed" row) for each one that cannot be counted out.
pub(crate) fn plan(
    rs: &Ruleset,
    topo: &Topology,
    planned: &[Planned],
) -> (Vec<LimitProbe>, Vec<(Cause, String)>) {
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    let chains = rs.table.chains.iter();
    let input = chains.filter(|c| c.base.is_some_and(|b| b.hook == Hook::Input));
    for chain in input {
        for (index, rule) in chain.rules.iter().enumerate() {
            let Some((burst, secs, per_source)) = limit_of(rule) else {
                continue;
            };
            let cause = Cause::Rule {
                chain: chain.name.clone(),
                index,
            };
            match one(rs, topo, planned, (&cause, burst, secs, per_source)) {
                Ok(p) => out.push(p),
                Err(why) => skipped.push((cause, why)),
            }
        }
    }
    (out, skipped)
}

fn one(
    rs: &Ruleset,
    topo: &Topology,
    planned: &[Planned],
    (cause, burst, secs, per_source): (&Cause, u32, f64, bool),
) -> Result<LimitProbe, String> {
    if burst > MAX_BURST {
        return Err(format!(
            "burst {burst} is over {MAX_BURST}: verify does not count that many connections out"
        ));
    }
    if secs < MIN_REFILL_SECS {
        return Err(format!(
            "the limit refills a token every {secs:.3} s: faster than verify can count a \
             burst out against it (it needs {MIN_REFILL_SECS} s or more)"
        ));
    }
    let decided: Vec<&Planned> = planned
        .iter()
        .filter(|p| p.decided.as_ref() == Some(cause) && p.kind != ProbeKind::Established)
        .filter(|p| !topo.endpoints[p.endpoint].lo)
        .collect();
    let Some(p) = decided.first() else {
        return Err("no probe verify sends is decided by it".to_string());
    };
    let ep = &topo.endpoints[p.endpoint];
    let second = if per_source {
        // Another address on the same link whose same packet the rule decides.
        let other = topo.endpoints.iter().position(|e| {
            let pkt = matrix::first_packet(topo, e, p.kind, p.dst);
            e.addr != ep.addr
                && e.link == ep.link
                && e.addr.is_ipv4() == ep.addr.is_ipv4()
                && e.input
                && !e.lo
                && eval::evaluate(rs, Hook::Input, &pkt).is_ok_and(|d| d.cause == *cause)
        });
        match other {
            Some(i) => Some(i),
            None => return Err("its sources hold only one address verify can send from".into()),
        }
    } else {
        None
    };
    let first = matrix::first_packet(topo, ep, p.kind, p.dst);
    let over =
        eval::evaluate_with(rs, Hook::Input, &first, Limits::Over).map_err(|e| e.to_string())?;
    Ok(LimitProbe {
        cause: cause.clone(),
        kind: p.kind,
        first: p.endpoint,
        second,
        dst: p.dst,
        burst,
        per_source,
        over: matrix::outcome(p.kind, over.verdict),
        label: String::new(),
    })
}

/// The rows of one probe, in order: (name, expected) for the burst, the
/// connections after it, and the second source.
pub(crate) fn rows(topo: &Topology, p: &LimitProbe) -> Vec<(String, Outcome)> {
    let what = match p.kind {
        ProbeKind::Tcp(port) => format!("tcp {port}"),
        ProbeKind::Udp(port) => format!("udp {port}"),
        _ => "echo".to_string(),
    };
    let to = p.dst.map(|d| format!(" to {d}")).unwrap_or_default();
    let from = |i: usize| topo.endpoints[i].addr;
    let scope = if p.per_source { " per source" } else { "" };
    let mut out = vec![
        (
            format!(
                "limit{scope}: {what}{to} from {}: {} new connections (its burst)",
                from(p.first),
                p.burst
            ),
            Outcome::Open,
        ),
        (
            format!(
                "limit{scope}: {what}{to} from {}: {AFTER} more (over the limit)",
                from(p.first)
            ),
            p.over.clone(),
        ),
    ];
    if let Some(s) = p.second {
        out.push((
            format!("limit{scope}: {what}{to} from {}: its own bucket", from(s)),
            Outcome::Open,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::plan;
    use crate::ir::Ruleset;

    fn compile(text: &str) -> Ruleset {
        let mut map = crate::source::SourceMap::new();
        let file = map.add("policy", text);
        let (p, d) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
        crate::compile::compile(&p.unwrap_or_else(|| panic!("{d:?}")))
    }

    #[test]
    fn each_limited_rule_is_counted_out_or_explained() {
        let rs = compile(
            "policy p {\n    default drop\n    allow ssh limit 3/minute per source burst 2 \
             from 10.0.0.0/24\n    allow tcp 80 limit 1/hour burst 65\n    allow tcp 81 \
             limit 5/second\n    allow tcp 82 limit 3/minute per source from 10.9.9.9\n}\n",
        );
        let plan = plan(&rs, None, &Default::default()).expect("plan");
        let topo = &plan.topo;
        // The per-source rule of each family with a source... only IPv4 here.
        let [ssh] = &plan.limits[..] else {
            panic!("{:?}", plan.limits);
        };
        assert_eq!((ssh.burst, ssh.per_source), (2, true));
        let (a, b) = (
            topo.endpoints[ssh.first].addr,
            topo.endpoints[ssh.second.expect("second")].addr,
        );
        assert_ne!(a, b);
        for addr in [a, b] {
            assert!(addr.to_string().starts_with("10.0.0."), "{addr}");
        }
        // Over the limit the default drop decides: no answer.
        assert_eq!(ssh.over, super::Outcome::Timeout);
        let reasons: Vec<&str> = topo.unprobed.iter().map(|u| u.reason.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("burst 65 is over 64")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("every 0.200 s")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("only one address")),
            "{reasons:?}"
        );
    }
}
