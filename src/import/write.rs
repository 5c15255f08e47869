//! The imported policy's lines: one zone's rules in one scope (blocks, allows, its target),
//! services as catalog names, `service` definitions or written ports, and what is skipped.

use super::convert::{Config, Scope, Services};
use super::icmp::icmp_names;
use super::rich::{Action, Match, Rich};
use super::service::{self, PortItem, Service};
use super::xml::Pos;
use super::zone::{Skipped, Target, Zone};
use crate::check::catalog;
use crate::model::Proto;
use ipnet::IpNet;
use std::collections::BTreeMap;

pub(super) struct Writer {
    services: Services,
    pub lines: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// `service` definitions by name: (ports text, where from).
    defs: BTreeMap<String, (String, String)>,
    default: &'static str,
}

type Ports = Vec<(Proto, u16, u16)>;

impl Writer {
    pub fn new(services: Services) -> Writer {
        Writer {
            services,
            lines: Vec::new(),
            skipped: Vec::new(),
            defs: BTreeMap::new(),
            default: "reject",
        }
    }

    fn skip(&mut self, at: &Pos, what: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skipped {
            at: at.clone(),
            what: what.into(),
            why: why.into(),
        });
    }

    /// The zone's source addresses as networks (a bad one is skipped).
    pub fn sources(&mut self, z: &Zone) -> Vec<IpNet> {
        let mut out = Vec::new();
        for s in &z.sources {
            match net(&s.value) {
                Some(n) => out.push(n),
                None => self.skip(&s.at, &s.value, "not an address or network"),
            }
        }
        out
    }

    /// One zone's rules in one scope: blocks, allows, then its target.
    pub fn zone(&mut self, z: &Zone, scope: &Scope) {
        let whom = match scope {
            Scope::From(n) => format!("traffic from {}", join(n)),
            Scope::On(i) => format!("traffic on {i}"),
            Scope::Anywhere => "everything else (the default zone)".to_string(),
        };
        self.lines.push(format!("    # zone {}: {whom}", z.name));
        self.body(z, scope);
        self.target(z.target, scope);
    }

    /// A zone's or a policy's rules in one scope, without its target: blocks, then allows.
    pub fn body(&mut self, z: &Zone, scope: &Scope) {
        for r in z.rules.iter().filter(|r| r.action != Some(Action::Accept)) {
            self.rich(r, scope);
        }
        for b in &z.icmp_blocks {
            let verdict = if z.target == Target::Drop {
                "drop"
            } else {
                "reject"
            };
            self.icmp_block(verdict, &b.value, &b.at, scope);
        }
        for s in &z.services {
            self.service_rule("allow", &s.value, &s.at, scope, None);
        }
        let ports = self.port_items(&z.ports);
        if !ports.is_empty() {
            self.rule("allow", &catalog::ports_text(&ports), scope, None, "");
        }
        for p in &z.protocols {
            match p.value.as_str() {
                "icmp" => self.rule("allow", "icmp", scope, Some(Fam::V4), ""),
                "ipv6-icmp" | "icmpv6" => self.rule("allow", "icmpv6", scope, None, ""),
                other => self.skip(
                    &p.at,
                    format!("<protocol value=\"{other}\"/>"),
                    "hostwall rules match tcp, udp, sctp and ICMP only",
                ),
            }
        }
        for r in z.rules.iter().filter(|r| r.action == Some(Action::Accept)) {
            self.rich(r, scope);
        }
    }

    pub fn target(&mut self, t: Target, scope: &Scope) {
        if matches!(t, Target::Default) {
            self.rule(
                "allow",
                "icmp",
                scope,
                None,
                "firewalld's default target accepts ICMP",
            );
        }
        let verdict = match t {
            Target::Default | Target::Reject => "reject",
            Target::Drop => "drop",
            Target::Accept => "allow",
        };
        match scope {
            Scope::Anywhere if t == Target::Accept => {
                self.rule("allow", "", scope, None, "target ACCEPT")
            }
            Scope::Anywhere => self.default = if verdict == "drop" { "drop" } else { "reject" },
            _ => self.rule(verdict, "", scope, None, "the zone's target"),
        }
    }

    fn rich(&mut self, r: &Rich, scope: &Scope) {
        if !r.unsupported.is_empty() {
            let mut why = format!("not imported: {}", r.unsupported.join(", "));
            if matches!(r.action, Some(Action::Drop | Action::Reject)) {
                why.push_str("; this block is missing from the policy");
            }
            self.skip(&r.at, &r.text, why);
            return;
        }
        for a in &r.approximate {
            self.skip(&r.at, &r.text, format!("imported without {a}"));
        }
        let fam = match r.family.as_deref() {
            Some("ipv4") => Some(Fam::V4),
            Some("ipv6") => Some(Fam::V6),
            _ => None,
        };
        let src = match r.source.as_deref().map(|s| (s, net(s))) {
            Some((s, None)) => {
                return self.skip(&r.at, &r.text, format!("`{s}` is not an address"));
            }
            Some((_, Some(n))) => Some(vec![n]),
            None => None,
        };
        let dst = match r.destination.as_deref().map(|d| (d, net(d))) {
            Some((d, None)) => {
                return self.skip(&r.at, &r.text, format!("`{d}` is not an address"));
            }
            Some((_, Some(n))) => Some(vec![n]),
            None => None,
        };
        let verdict = match r.action {
            Some(Action::Accept) => "allow",
            Some(Action::Reject) => "reject",
            _ => "drop",
        };
        let rs = RuleScope {
            scope,
            src: src.as_deref(),
            dst: dst.as_deref(),
            fam,
            log: r.log.as_deref(),
        };
        match &r.matches {
            Match::Service(n) => self.service_rule(verdict, n, &r.at, scope, Some(rs)),
            Match::Port(p) => {
                let ports = self.port_items(std::slice::from_ref(p));
                if !ports.is_empty() {
                    self.scoped(verdict, &catalog::ports_text(&ports), rs, "rich rule");
                }
            }
            Match::Icmp(n) => self.icmp(verdict, n, &r.at, rs, "rich rule"),
            Match::All => self.scoped(verdict, "", rs, "rich rule"),
        }
    }

    /// tcp/udp/sctp ports of `items`; any other is skipped.
    fn port_items(&mut self, items: &[PortItem]) -> Ports {
        let mut out = Vec::new();
        for p in items {
            match (service::proto(&p.proto), p.range) {
                (Some(proto), Some((lo, hi))) if lo > 0 => out.push((proto, lo, hi)),
                _ => self.skip(
                    &p.at,
                    format!("port {} {:?}", p.proto, p.range),
                    "hostwall matches tcp, udp and sctp ports 1-65535 only",
                ),
            }
        }
        out
    }

    fn service_rule(
        &mut self,
        verdict: &str,
        name: &str,
        at: &Pos,
        scope: &Scope,
        rs: Option<RuleScope<'_>>,
    ) {
        let rs = rs.unwrap_or(RuleScope {
            scope,
            src: None,
            dst: None,
            fam: None,
            log: None,
        });
        let s = match self.services.resolved(name) {
            Ok(s) => s,
            Err(why) => return self.skip(at, format!("service {name}"), why),
        };
        let what = format!("service {name}");
        if !s.helpers.is_empty() {
            self.skip(
                at,
                &what,
                format!(
                    "imported without its conntrack helper {} (docs/services.md)",
                    s.helpers.join(", ")
                ),
            );
        }
        let dst = match self.service_destinations(&s, &what, at, rs.dst) {
            Some(d) => d,
            None => return,
        };
        if !s.protocols.is_empty() || !s.source_ports.is_empty() {
            self.skip(at, &what, "its protocols and source ports are not imported (hostwall matches destination ports)");
        }
        let ports = self.port_items(&s.ports);
        if ports.is_empty() {
            return self.skip(at, &what, "nothing of it is expressible: not imported");
        }
        let text = self.service_text(name, &ports, at);
        let rs = RuleScope {
            dst: dst.as_deref().or(rs.dst),
            ..rs
        };
        self.scoped(verdict, &text, rs, "");
    }

    /// A service's `<destination ipv4= ipv6=>` as networks for the rule's `to` (firewalld
    /// applies the service only to the families it names). `None`: the rule cannot be
    /// written (listed): an address that does not parse, or a rich rule's destination as
    /// well (firewalld refuses that pair).
    fn service_destinations(
        &mut self,
        s: &Service,
        what: &str,
        at: &Pos,
        rule_dst: Option<&[IpNet]>,
    ) -> Option<Option<Vec<IpNet>>> {
        if s.destinations.is_empty() {
            return Some(None);
        }
        if rule_dst.is_some() {
            let why = "not imported: the rule and the service both name a destination                        (firewalld refuses the pair)";
            self.skip(at, what, why);
            return None;
        }
        let mut nets = Vec::new();
        for d in &s.destinations {
            match net(d) {
                Some(n) => nets.push(n),
                None => {
                    let why = format!("not imported: its destination `{d}` is not an address");
                    self.skip(at, what, why);
                    return None;
                }
            }
        }
        Some(Some(nets))
    }

    /// The catalog's name when it has the same ports, a definition for a name it lacks,
    /// else the ports written out.
    fn service_text(&mut self, name: &str, ports: &Ports, at: &Pos) -> String {
        let sorted = |p: &[(Proto, u16, u16)]| {
            let mut v = p.to_vec();
            v.sort();
            v.dedup();
            v
        };
        match catalog::builtin(name) {
            Some(b) if sorted(b.ports) == sorted(ports) => name.to_string(),
            None if definable_name(name) => {
                let file = self.services.path(name).unwrap_or(&at.file).to_string();
                self.defs
                    .entry(name.to_string())
                    .or_insert_with(|| (catalog::ports_text(ports), file));
                name.to_string()
            }
            _ => {
                let text = catalog::ports_text(ports);
                self.skip(
                    at,
                    format!("service {name}"),
                    format!("written as its ports ({text}): hostwall's `{name}` has other ports"),
                );
                text
            }
        }
    }

    fn icmp_block(&mut self, verdict: &str, name: &str, at: &Pos, scope: &Scope) {
        let rs = RuleScope {
            scope,
            src: None,
            dst: None,
            fam: None,
            log: None,
        };
        self.icmp(verdict, name, at, rs, "icmp-block");
    }

    /// An ICMP type by firewalld's name, as `icmp T` and `icmpv6 T` in the rule's families.
    fn icmp(&mut self, verdict: &str, name: &str, at: &Pos, rs: RuleScope<'_>, comment: &str) {
        let (v4, v6) = icmp_names(name);
        let v4 = v4.filter(|n| crate::ir::ICMP_TYPES.iter().any(|t| t.1 == *n));
        let v6 = v6.filter(|n| crate::ir::ICMPV6_TYPES.iter().any(|t| t.1 == *n));
        let v4 = v4.filter(|_| !matches!(rs.fam, Some(Fam::V6)));
        let v6 = v6.filter(|_| !matches!(rs.fam, Some(Fam::V4)));
        if v4.is_none() && v6.is_none() {
            return self.skip(
                at,
                format!("<icmp-block name=\"{name}\"/>"),
                "no ICMP type of that name in hostwall (an ICMP code?)",
            );
        }
        if let Some(n) = v4 {
            let fam = Some(Fam::V4);
            self.scoped(
                verdict,
                &format!("icmp {n}"),
                RuleScope { fam, ..rs },
                comment,
            );
        }
        if let Some(n) = v6 {
            let narrowed =
                rs.src.is_some() || rs.dst.is_some() || matches!(rs.scope, Scope::From(_));
            let fam = narrowed.then_some(Fam::V6);
            self.scoped(
                verdict,
                &format!("icmpv6 {n}"),
                RuleScope { fam, ..rs },
                comment,
            );
        }
    }

    /// A rule for everything, in any scope (a policy's target).
    pub fn everything(&mut self, verdict: &str, comment: &str) {
        self.rule(verdict, "", &Scope::Anywhere, None, comment);
    }

    fn rule(&mut self, verdict: &str, what: &str, scope: &Scope, fam: Option<Fam>, comment: &str) {
        self.scoped(
            verdict,
            what,
            RuleScope {
                scope,
                src: None,
                dst: None,
                fam,
                log: None,
            },
            comment,
        );
    }

    /// One rule line: the zone's scope narrowed by a rich rule's source and family, with the
    /// destinations (`to`) of the rule or its service in the families both sides share.
    fn scoped(&mut self, verdict: &str, what: &str, rs: RuleScope<'_>, comment: &str) {
        let mut from = match rs.scope {
            Scope::From(n) => Some(n.clone()),
            _ => None,
        };
        if let Some(src) = rs.src {
            from = Some(match from {
                Some(z) => intersect(&z, src),
                None => src.to_vec(),
            });
        }
        if let Some(f) = rs.fam {
            from = Some(match from {
                Some(n) => n.into_iter().filter(|n| f.has(n)).collect(),
                None => vec![f.any()],
            });
        }
        let mut to = rs.dst.map(|d| match rs.fam {
            Some(f) => d.iter().copied().filter(|n| f.has(n)).collect(),
            None => d.to_vec(),
        });
        let family_only = rs.src.is_none() && !matches!(rs.scope, Scope::From(_));
        if family_only && to.is_some() {
            // `to` in the rule's family already says it.
            from = None;
        }
        if let (Some(f), Some(t)) = (&mut from, &mut to) {
            // Only the families both name: the rule matches no other.
            let (fc, tc) = (f.clone(), t.clone());
            f.retain(|n| tc.iter().any(|m| same_family(n, m)));
            t.retain(|n| fc.iter().any(|m| same_family(n, m)));
        }
        let mut line = format!("    {verdict}");
        if !what.is_empty() {
            line.push(' ');
            line.push_str(what);
        }
        if from.as_ref().is_some_and(Vec::is_empty) || to.as_ref().is_some_and(Vec::is_empty) {
            self.lines.push(format!("    # never matches (the zone's sources, the rule's and its destinations share no network or family): {verdict} {what}"));
            return;
        }
        if let Some(n) = &from {
            line.push_str(&format!(" from {}", join(n)));
        }
        if let Some(n) = &to {
            line.push_str(&format!(" to {}", join(n)));
        }
        if let Scope::On(i) = rs.scope {
            line.push_str(&format!(" on \"{i}\""));
        }
        if what.is_empty() && from.is_none() && to.is_none() && !matches!(rs.scope, Scope::On(_)) {
            line.push_str(" from 0.0.0.0/0, ::/0");
        }
        if let Some(log) = rs.log {
            line.push(' ');
            line.push_str(log);
        }
        if !comment.is_empty() {
            line.push_str(&format!("  # {comment}"));
        }
        self.lines.push(line);
    }

    /// The whole policy text.
    pub fn finish(mut self, cfg: &Config, default_zone: &str, active: &[&Zone]) -> String {
        for f in &cfg.custom_services {
            if let Ok(s) = self.services.resolved(&f.name) {
                if let Some(p) = s
                    .catalog_ports()
                    .filter(|_| catalog::builtin(&f.name).is_none() && definable_name(&f.name))
                {
                    self.defs
                        .entry(f.name.clone())
                        .or_insert_with(|| (catalog::ports_text(&p), f.path.clone()));
                }
            }
        }
        let names: Vec<&str> = active.iter().map(|z| z.name.as_str()).collect();
        let mut out = format!(
            "# Imported by `hostwall import firewalld`. Default zone: {default_zone}; active zones: {}.\n\
             # Zones are tried as firewalld tries them: source zones, interface zones, the default.\n",
            names.join(", ")
        );
        for (name, (ports, file)) in &self.defs {
            out.push_str(&format!("service {name} {ports}  # {file}\n"));
        }
        out.push_str(&format!(
            "\npolicy firewalld {{\n    default {}\n",
            self.default
        ));
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("}\n");
        out
    }
}

/// A rule's scope: the zone's, a rich rule's source, a family.
#[derive(Clone, Copy)]
struct RuleScope<'a> {
    scope: &'a Scope,
    src: Option<&'a [IpNet]>,
    /// A rich rule's or a service's destination addresses (`to`).
    dst: Option<&'a [IpNet]>,
    fam: Option<Fam>,
    /// A rich rule's `log` clause.
    log: Option<&'a str>,
}

#[derive(Clone, Copy)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn has(self, n: &IpNet) -> bool {
        matches!((self, n), (Fam::V4, IpNet::V4(_)) | (Fam::V6, IpNet::V6(_)))
    }
    fn any(self) -> IpNet {
        let text = match self {
            Fam::V4 => "0.0.0.0/0",
            Fam::V6 => "::/0",
        };
        text.parse().unwrap_or_default()
    }
}

/// An address or a network, host bits cleared.
fn net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// The networks in both lists.
fn intersect(a: &[IpNet], b: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.contains(y) {
                out.push(*y);
            } else if y.contains(x) {
                out.push(*x);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

fn join(n: &[IpNet]) -> String {
    n.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name the policy language takes for `service NAME`.
fn definable_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "tcp",
        "udp",
        "sctp",
        "icmp",
        "icmpv6",
        "from",
        "to",
        "on",
        "in",
        "out",
        "established",
        "counter",
    ];
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
        && !WORDS.contains(&name)
}
