//! One `allow`/`drop`/`reject` line -> model rules (two for `allow icmp`: one per family).

use super::catalog;
use super::codes;
use super::env::{Env, ports_of};
use super::log;
use super::output;
use super::site::Site;
use super::validate::{self, did_you_mean};
use crate::diag::Diagnostic;
use crate::ir::{ICMP_TYPES, ICMPV6_ALWAYS, ICMPV6_TYPES};
use crate::model::{Addrs, IfName, IpFamily, Nets, PortSpec, Rule, Traffic, Verdict};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{self, Clause};

/// Where a rule is written: the input chain (policy body), `forward { }` or `output { }`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    Input,
    Forward,
    Output,
}

/// The clauses of one rule, at most one of each kind.
#[derive(Default)]
struct Parts<'r> {
    ports: Option<(&'r [ast::PortGroup], Span)>,
    icmp: Option<(bool, &'r [Spanned<ast::IcmpType>], Span)>,
    from: Option<(&'r [ast::NetItem], Span)>,
    to: Option<(&'r [ast::NetItem], Span)>,
    iif: Option<(&'r [ast::Iface], Span)>,
    oif: Option<(&'r [ast::Iface], Span)>,
    established: Option<Span>,
    counter: Option<Span>,
    log: Option<(&'r ast::LogStmt, Span)>,
    limit: Option<(&'r ast::LogLimit, Span)>,
}

pub(crate) fn lower(
    r: &ast::Rule,
    chain: Chain,
    env: &Env,
    site: &Site,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let before = diags.len();
    let parts = collect_parts(r, chain, diags);
    if matches_everything(r, chain, &parts) {
        diags.push(empty_rule(r));
    }
    let traffic = traffic(r, &parts, env, diags);
    // A clause that did not resolve must drop the rule, never lower it without the clause:
    // a rule missing its `from` or `on` would match more than was written.
    let mut failed = false;
    let sources = parts.from.map(|(i, s)| addrs(i, s, env, diags));
    let destinations = parts.to.map(|(i, s)| addrs(i, s, env, diags));
    let iif = parts.iif.map(|(i, _)| ifaces(i, env, diags));
    let oif = parts.oif.map(|(i, _)| ifaces(i, env, diags));
    let log = parts.log.map(|(l, _)| log::spec(l, "log", site, diags));
    let limit = (parts.limit).map(|(l, _)| log::rule_limit(l, &r.verdict, diags));
    let per_source = parts.limit.is_some_and(|(l, _)| l.per_source.is_some());
    let sources = resolved(sources, &mut failed);
    let destinations = resolved(destinations, &mut failed);
    let iif = resolved(iif, &mut failed).unwrap_or_default();
    let oif = resolved(oif, &mut failed).unwrap_or_default();
    let log = resolved(log, &mut failed);
    let limit = resolved(limit, &mut failed);
    if failed || diags[before..].iter().any(Diagnostic::is_error) {
        return Vec::new();
    }
    let Some(traffic) = traffic else {
        return Vec::new();
    };
    if chain != Chain::Forward {
        always_accepted(r, &traffic, parts.icmp.map(|i| i.2), diags);
    }
    let base = Rule {
        verdict: match r.verdict.value {
            ast::Verdict::Allow => Verdict::Accept,
            ast::Verdict::Drop => Verdict::Drop,
            ast::Verdict::Reject => Verdict::Reject,
        },
        service: r.service.as_ref().map(|s| s.value.clone()),
        traffic: Traffic::Any,
        sources,
        destinations,
        iif,
        oif,
        established_only: parts.established.is_some(),
        counter: parts.counter.is_some(),
        log,
        limit,
        limit_per_source: per_source,
        span: r.span,
    };
    split_families(base, traffic, &parts, diags)
}

/// Whether the rule names nothing to match (`established` alone counts only in forward).
fn matches_everything(r: &ast::Rule, chain: Chain, parts: &Parts) -> bool {
    r.service.is_none()
        && parts.ports.is_none()
        && parts.icmp.is_none()
        && parts.from.is_none()
        && parts.to.is_none()
        && parts.iif.is_none()
        && parts.oif.is_none()
        && (chain == Chain::Input || parts.established.is_none())
}

fn empty_rule(r: &ast::Rule) -> Diagnostic {
    Diagnostic::error(
        codes::EMPTY_RULE,
        r.span,
        format!(
            "`{}` needs to say what it matches",
            r.verdict.value.keyword()
        ),
    )
    .with_label("matches every packet")
    .with_help(
        "name a service or ports (`allow ssh`, `allow tcp 22`), `icmp`, `from NETS` or \
         `on IFACES`; for everything else use `default`",
    )
}

/// A clause's resolution: `None` when not written; a written clause that did not resolve
/// sets `failed`.
fn resolved<T>(clause: Option<Option<T>>, failed: &mut bool) -> Option<T> {
    let r = clause?;
    *failed |= r.is_none();
    r
}

fn collect_parts<'r>(r: &'r ast::Rule, chain: Chain, diags: &mut Vec<Diagnostic>) -> Parts<'r> {
    let mut p = Parts::default();
    for c in &r.clauses {
        let span = c.span();
        let (slot_taken, word) = match c {
            Clause::Ports(g, _) => (set(&mut p.ports, (g.as_slice(), span)), "ports"),
            Clause::Icmp { v6, types, .. } => {
                (set(&mut p.icmp, (*v6, types.as_slice(), span)), "icmp")
            }
            Clause::From(n, _) => (set(&mut p.from, (n.as_slice(), span)), "from"),
            Clause::To(n, _) => (set(&mut p.to, (n.as_slice(), span)), "to"),
            Clause::On(i, _) | Clause::In(i, _) => (set(&mut p.iif, (i.as_slice(), span)), "on/in"),
            Clause::Out(i, _) => (set(&mut p.oif, (i.as_slice(), span)), "out"),
            Clause::Established(_) => (set(&mut p.established, span), "established"),
            Clause::Counter(_) => (set(&mut p.counter, span), "counter"),
            Clause::Log(l) => (set(&mut p.log, (l, span)), "log"),
            Clause::Limit(l) => (set(&mut p.limit, (l, span)), "limit"),
        };
        if let Some(prev) = slot_taken {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_CLAUSE,
                    span,
                    format!("`{word}` given twice in one rule"),
                )
                .with_label("second one")
                .with_secondary(prev, "first one")
                .with_help("join the lists with commas, or write two rules"),
            );
        }
        context_check(c, chain, diags);
    }
    p
}

/// Stores `v` in an empty slot; returns the span of the clause already there otherwise.
fn set<T: SpanOf>(slot: &mut Option<T>, v: T) -> Option<Span> {
    match slot {
        Some(prev) => Some(prev.span_of()),
        None => {
            *slot = Some(v);
            None
        }
    }
}

trait SpanOf {
    fn span_of(&self) -> Span;
}
impl SpanOf for Span {
    fn span_of(&self) -> Span {
        *self
    }
}
impl<T> SpanOf for (T, Span) {
    fn span_of(&self) -> Span {
        self.1
    }
}
impl<A, B> SpanOf for (A, B, Span) {
    fn span_of(&self) -> Span {
        self.2
    }
}

fn context_check(c: &Clause, chain: Chain, diags: &mut Vec<Diagnostic>) {
    if chain == Chain::Output {
        return output::clause_check(c, diags);
    }
    let (word, help) = match (c, chain) {
        (Clause::Out(..), Chain::Input) => ("out", "input rules have no output interface"),
        (Clause::Established(_), Chain::Input) => (
            "established",
            "established and related traffic to the host is always accepted",
        ),
        (Clause::In(..), Chain::Input) => ("in", "write `on` for the interface traffic arrives on"),
        (Clause::On(..), Chain::Forward) => {
            let d = Diagnostic::error(codes::INPUT_ONLY, c.span(), "`on` inside `forward { }`")
                .with_label("use `in` or `out` here")
                .with_help(
                    "forwarded packets have two interfaces: `in` (arriving) and `out` (leaving)",
                );
            diags.push(d);
            return;
        }
        _ => return,
    };
    diags.push(
        Diagnostic::error(
            codes::FORWARD_ONLY,
            c.span(),
            format!("`{word}` is only allowed inside `forward {{ }}`"),
        )
        .with_label("forward-only clause")
        .with_help(help),
    );
}

/// The traffic kind; `None` when something was wrong (already reported).
fn traffic(
    r: &ast::Rule,
    parts: &Parts,
    env: &Env,
    diags: &mut Vec<Diagnostic>,
) -> Option<Traffic> {
    let service = match &r.service {
        Some(s) => match env.service(&s.value, s.span) {
            Ok(svc) => Some((s, svc)),
            Err(d) => {
                diags.push(d);
                return None;
            }
        },
        None => None,
    };
    if let Some(d) = ports_and_icmp(r, parts) {
        diags.push(d);
        return None;
    }
    if let Some((v6, types, _)) = parts.icmp {
        return icmp_types(v6, types, diags).map(|t| Traffic::Icmp {
            family: if v6 { IpFamily::V6 } else { IpFamily::V4 },
            types: t,
        });
    }
    let written = match parts.ports {
        Some((groups, _)) => Some(ports_of(groups, diags)?),
        None => None,
    };
    match (service, written) {
        (None, None) => Some(Traffic::Any),
        (None, Some(w)) => Some(Traffic::Ports(specs(&w))),
        (Some((s, svc)), None) => Some(Traffic::Ports(
            svc.ports
                .iter()
                .map(|&(proto, lo, hi)| PortSpec {
                    proto,
                    range: crate::model::PortRange { lo, hi },
                    span: s.span,
                })
                .collect(),
        )),
        (Some((s, svc)), Some(w)) => {
            catalog_mismatch(s, &svc, &w, parts.ports.map(|p| p.1), diags);
            Some(Traffic::Ports(specs(&w)))
        }
    }
}

/// The error for a rule matching both ports (or a service) and ICMP.
fn ports_and_icmp(r: &ast::Rule, parts: &Parts) -> Option<Diagnostic> {
    let (_, _, ispan) = parts.icmp?;
    let other = parts
        .ports
        .map(|p| p.1)
        .or(r.service.as_ref().map(|s| s.span))?;
    Some(
        Diagnostic::error(
            codes::PORTS_AND_ICMP,
            ispan,
            "a rule matches ports or ICMP, not both",
        )
        .with_label("icmp here")
        .with_secondary(other, "ports here")
        .with_help("write two rules"),
    )
}

fn specs(w: &[(crate::model::Proto, crate::model::PortRange, Span)]) -> Vec<PortSpec> {
    w.iter()
        .map(|&(proto, range, span)| PortSpec { proto, range, span })
        .collect()
}

/// Warns when written ports differ from the service's; the written ports win.
fn catalog_mismatch(
    s: &Spanned<String>,
    svc: &super::env::Service,
    written: &[(crate::model::Proto, crate::model::PortRange, Span)],
    pspan: Option<Span>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut a: Vec<_> = svc.ports.clone();
    let mut b: Vec<_> = written.iter().map(|(p, r, _)| (*p, r.lo, r.hi)).collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    if a == b {
        return;
    }
    let what = catalog::describe(&s.value, &svc.ports);
    let mut d = Diagnostic::warning(
        codes::CATALOG_MISMATCH,
        pspan.unwrap_or(s.span),
        format!("ports differ from service `{}`", s.value),
    )
    .with_label(format!("the rule says {}", catalog::ports_text(&b)))
    .with_help("the ports written here are used; drop the service name or fix the ports");
    match svc.defined {
        Some(def) => {
            d = d.with_secondary(def, format!("`{}` is {}", s.value, catalog::ports_text(&a)))
        }
        None => d = d.with_secondary(s.span, what),
    }
    diags.push(d);
}

/// `None` inside: all types. Outer `None`: an error was reported.
fn icmp_types(
    v6: bool,
    types: &[Spanned<ast::IcmpType>],
    diags: &mut Vec<Diagnostic>,
) -> Option<Option<Vec<u8>>> {
    if types.is_empty() {
        return Some(None);
    }
    let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
    let family = if v6 { "ICMPv6" } else { "ICMP" };
    let mut out = Vec::new();
    for t in types {
        match &t.value {
            ast::IcmpType::Number(n) => match u8::try_from(*n) {
                Ok(v) => out.push(v),
                Err(_) => diags.push(
                    Diagnostic::error(
                        codes::BAD_ICMP_TYPE,
                        t.span,
                        format!("{family} type {} is out of range", validate::shown(*n)),
                    )
                    .with_label("types are 0 to 255")
                    .with_help("use a type number 0-255 or an nft type name like `echo-request`"),
                ),
            },
            ast::IcmpType::Name(n) => match table.iter().find(|(_, name)| name == n) {
                Some((v, _)) => out.push(*v),
                None => {
                    let d = Diagnostic::error(
                        codes::UNKNOWN_ICMP_TYPE,
                        t.span,
                        format!("unknown {family} type `{n}`"),
                    )
                    .with_label(format!("not an {family} type name"));
                    diags.push(match did_you_mean(n, table.iter().map(|(_, name)| *name)) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None if !v6 && ICMPV6_TYPES.iter().any(|(_, x)| x == n) => {
                            d.with_help(format!("`{n}` is an ICMPv6 type: write `allow icmpv6 {n}`"))
                        }
                        None => d.with_help("type names are nft's, e.g. `echo-request`, `destination-unreachable`, or a number"),
                    });
                }
            },
        }
    }
    (out.len() == types.len()).then_some(Some(out))
}

fn addrs(
    items: &[ast::NetItem],
    span: Span,
    env: &Env,
    diags: &mut Vec<Diagnostic>,
) -> Option<Addrs> {
    let mut nets = Nets::default();
    let mut ok = true;
    for item in items {
        let found = match item {
            ast::NetItem::Cidr(c) => validate::net(&c.value, c.span).map(|n| nets.push(n)),
            ast::NetItem::V4(v) => {
                nets.share_v4(&v.ranges);
                Ok(())
            }
            ast::NetItem::Name(n) => env.network(&n.value, n.span).map(|v| match v {
                Some(v) => nets.extend(v),
                None => ok = false,
            }),
        };
        if let Err(d) = found {
            diags.push(d);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    nets.shrink_to_fit();
    let name = match items {
        [ast::NetItem::Name(n)] => Some(n.value.clone()),
        _ => None,
    };
    // Every name resolves to a non-empty list (the site file rejects empty ones); an empty
    // result would silently mean "no restriction" downstream, so it is never returned.
    (!nets.is_empty()).then_some(Addrs { name, nets, span })
}

/// The interfaces of an `on`/`in`/`out` clause; `None` when any did not resolve (reported
/// here or, for a broken site entry, on the site file). Never `Some` of an empty list.
fn ifaces(items: &[ast::Iface], env: &Env, diags: &mut Vec<Diagnostic>) -> Option<Vec<IfName>> {
    let out = resolve_each(items, diags, |i, out| match i {
        ast::Iface::Quoted(q) => validate::iface(&q.value, q.span)
            .map(|n| out.push(n))
            .map(|_| true),
        ast::Iface::Name(n) => (env.interface(&n.value, n.span))
            .map(|v| v.map(|v| out.extend(v.iter().cloned())).is_some()),
    })?;
    (!out.is_empty()).then_some(out)
}

/// Resolves every item of a clause into `out` (`one` says whether the item resolved; an
/// error it returns is reported). `None` when any item did not resolve; every item is
/// still tried, so every error is reported.
fn resolve_each<I, T>(
    items: &[I],
    diags: &mut Vec<Diagnostic>,
    mut one: impl FnMut(&I, &mut Vec<T>) -> Result<bool, Diagnostic>,
) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match one(item, &mut out) {
            Ok(resolved) => ok &= resolved,
            Err(d) => {
                diags.push(d);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Warns when an input `drop`/`reject` names ICMPv6 types the input chain accepts before any
/// rule (`ir::ICMPV6_ALWAYS`): the rule never sees those packets.
fn always_accepted(
    r: &ast::Rule,
    traffic: &Traffic,
    icmp_span: Option<Span>,
    diags: &mut Vec<Diagnostic>,
) {
    let Traffic::Icmp {
        family: IpFamily::V6,
        types: Some(types),
    } = traffic
    else {
        return;
    };
    if r.verdict.value == ast::Verdict::Allow {
        return;
    }
    let hit: Vec<&str> = types
        .iter()
        .filter(|t| ICMPV6_ALWAYS.contains(t))
        .map(|t| {
            ICMPV6_TYPES
                .iter()
                .find(|(v, _)| v == t)
                .map_or("an ND/MLD type", |(_, n)| *n)
        })
        .collect();
    if hit.is_empty() {
        return;
    }
    let verdict = r.verdict.value.keyword();
    diags.push(
        Diagnostic::warning(
            codes::ALWAYS_ACCEPTED,
            icmp_span.unwrap_or(r.span),
            format!("`{verdict}` never applies to {}", hit.join(", ")),
        )
        .with_label("accepted before any rule")
        .with_help(
            "neighbour discovery and multicast listener discovery (ICMPv6 types 130-136, 143) \
             are always accepted so IPv6 keeps working; this rule does not change that",
        ),
    );
}

fn families(a: &Addrs) -> (bool, bool) {
    (a.nets.has_v4(), a.nets.has_v6())
}

/// Checks that families can match, and makes one rule per ICMP family for `allow icmp`.
fn split_families(
    base: Rule,
    traffic: Traffic,
    parts: &Parts,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let all = (true, true);
    let src = base.sources.as_ref().map(families).unwrap_or(all);
    let dst = base.destinations.as_ref().map(families).unwrap_or(all);
    let both = (src.0 && dst.0, src.1 && dst.1);
    if let (Some(s), Some(d)) = (&base.sources, &base.destinations) {
        if !both.0 && !both.1 {
            diags.push(mismatch(
                d.span,
                "no destination here has a family of any source",
                s.span,
                "the sources",
            ));
            return Vec::new();
        }
    }
    let Traffic::Icmp { family, types } = traffic else {
        return vec![Rule { traffic, ..base }];
    };
    // `allow icmp` without types is both families; keep the ones the addresses allow.
    let wanted: Vec<IpFamily> = match (family, &types) {
        (IpFamily::V4, None) => vec![IpFamily::V4, IpFamily::V6],
        (f, _) => vec![f],
    };
    let fits = |f: &IpFamily| if *f == IpFamily::V4 { both.0 } else { both.1 };
    let kept: Vec<IpFamily> = wanted.iter().copied().filter(fits).collect();
    if kept.is_empty() {
        diags.extend(icmp_family_mismatch(&base, family, parts));
        return Vec::new();
    }
    kept.into_iter()
        .map(|f| Rule {
            traffic: Traffic::Icmp {
                family: f,
                types: types.clone(),
            },
            ..base.clone()
        })
        .collect()
}

/// The error for ICMP of a family none of the rule's addresses has (none without addresses).
fn icmp_family_mismatch(base: &Rule, family: IpFamily, parts: &Parts) -> Option<Diagnostic> {
    let icmp_span = parts.icmp.map(|i| i.2).unwrap_or(base.span);
    let addr_span = base
        .sources
        .as_ref()
        .or(base.destinations.as_ref())
        .map(|a| a.span)?;
    let what = if family == IpFamily::V6 {
        "ICMPv6 is IPv6 only"
    } else {
        "ICMP types are IPv4 only"
    };
    Some(mismatch(
        icmp_span,
        what,
        addr_span,
        "addresses of the other family",
    ))
}

fn mismatch(at: Span, label: &str, other: Span, other_label: &str) -> Diagnostic {
    Diagnostic::error(
        codes::FAMILY_MISMATCH,
        at,
        "IPv4 and IPv6 mixed: this rule can never match",
    )
    .with_label(label.to_string())
    .with_secondary(other, other_label.to_string())
    .with_help("a packet is either IPv4 or IPv6; split the rule by family, or fix the addresses")
}
