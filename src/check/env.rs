//! Name tables the rules resolve against: services (user + catalog), networks (`define` +
//! site `[networks]`) and site interfaces. Built once per check, before any rule is lowered.

use super::catalog;
use super::codes;
use super::site::Site;
use super::suggest::NameIndex;
use super::validate;
use crate::diag::Diagnostic;
use crate::model::{IfName, Nets, PortRange, Proto};
use crate::source::Span;
use crate::syntax::ast;
use std::collections::HashMap;

/// A user service or a catalog entry, as rules see it.
pub(crate) struct Service {
    pub ports: Vec<(Proto, u16, u16)>,
    /// Where it was defined; `None` for the built-in catalog.
    pub defined: Option<Span>,
}

enum NetDef<'a> {
    Define(&'a ast::Define),
    /// `nets` is `None` when the site value was invalid (reported on the site file).
    Site {
        nets: Option<Nets>,
        span: Span,
    },
}

pub(crate) struct Env<'a> {
    services: HashMap<String, Service>,
    net_defs: HashMap<String, NetDef<'a>>,
    /// Resolved networks; `None` when the definition had errors (already reported).
    nets: HashMap<String, Option<Nets>>,
    /// `None`: the site value was invalid (already reported).
    ifaces: HashMap<String, Option<Vec<IfName>>>,
    /// Names for "did you mean": services (user and catalog), networks, interfaces.
    service_names: NameIndex,
    net_names: NameIndex,
    iface_names: NameIndex,
}

impl<'a> Env<'a> {
    /// Collects every definition (order-independent), reporting duplicates and bad values.
    pub fn build(
        services: &[&'a ast::ServiceDef],
        defines: &[&'a ast::Define],
        site: &Site,
        diags: &mut Vec<Diagnostic>,
    ) -> Env<'a> {
        let mut env = Env {
            services: HashMap::new(),
            net_defs: HashMap::new(),
            nets: HashMap::new(),
            ifaces: HashMap::new(),
            service_names: NameIndex::default(),
            net_names: NameIndex::default(),
            iface_names: NameIndex::default(),
        };
        for s in services {
            env.add_service(s, diags);
        }
        for n in &site.networks {
            let def = NetDef::Site {
                nets: n.nets.clone(),
                span: n.span,
            };
            env.net_defs.insert(n.name.clone(), def);
        }
        for d in defines {
            env.add_define(d, diags);
        }
        env.net_names = NameIndex::new(env.net_defs.keys().map(String::as_str));
        let mut known: Vec<&str> = env.services.keys().map(String::as_str).collect();
        for n in catalog::builtin_names() {
            known.push(n);
        }
        env.service_names = NameIndex::new(known);
        let mut names: Vec<String> = env.net_defs.keys().cloned().collect();
        names.sort();
        for n in names {
            env.resolve_net(&n, &mut Vec::new(), diags);
        }
        for i in &site.interfaces {
            env.ifaces.insert(i.name.clone(), i.ifaces.clone());
        }
        env.iface_names = NameIndex::new(env.ifaces.keys().map(String::as_str));
        env
    }

    /// A `define` of the policy; a name defined before (here or in the site file) is an error.
    fn add_define(&mut self, d: &'a ast::Define, diags: &mut Vec<Diagnostic>) {
        let name = &d.name.value;
        // Too long is reported but still defined: its uses are not "unknown".
        if let Err(e) = validate::name_length(name, d.name.span, "network") {
            diags.push(e);
        }
        if let Some(prev) = self.net_defs.get(name) {
            let (prev_span, where_) = match prev {
                NetDef::Define(p) => (p.name.span, "first defined here"),
                NetDef::Site { span, .. } => (*span, "defined in the site file here"),
            };
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_DEFINITION,
                    d.name.span,
                    format!("network `{name}` is defined twice"),
                )
                .with_label("second definition")
                .with_secondary(prev_span, where_)
                .with_help("rename one of them; a name has one meaning per policy"),
            );
            return;
        }
        self.net_defs.insert(name.clone(), NetDef::Define(d));
    }

    fn add_service(&mut self, s: &ast::ServiceDef, diags: &mut Vec<Diagnostic>) {
        let name = &s.name.value;
        if let Err(e) = validate::name_length(name, s.name.span, "service") {
            diags.push(e);
        }
        if let Some(b) = catalog::builtin(name).filter(|b| b.fixed()) {
            diags.push(
                Diagnostic::error(
                    codes::BUILTIN_REDEFINED,
                    s.name.span,
                    format!("service `{name}` is built in"),
                )
                .with_label("redefines a catalog service")
                .with_help(format!(
                    "{}; use it as is, or give your service another name",
                    catalog::describe(name, b.ports)
                )),
            );
            return;
        }
        if let Some(prev) = self.services.get(name) {
            let mut d = Diagnostic::error(
                codes::DUPLICATE_DEFINITION,
                s.name.span,
                format!("service `{name}` is defined twice"),
            )
            .with_label("second definition")
            .with_help("rename one of them, or delete the copy");
            if let Some(p) = prev.defined {
                d = d.with_secondary(p, "first defined here");
            }
            diags.push(d);
            return;
        }
        let Some(ports) = ports_of(&s.ports, diags) else {
            return;
        };
        let ports: Vec<_> = ports.iter().map(|p| (p.0, p.1.lo, p.1.hi)).collect();
        if let Some(b) = catalog::builtin(name) {
            diags.extend(redefined_catalog_entry(s, b, &ports));
        }
        self.services.insert(
            name.clone(),
            Service {
                ports,
                defined: Some(s.name.span),
            },
        );
    }

    /// Resolves a network name (recursively through `define`s), memoised.
    fn resolve_net(
        &mut self,
        name: &str,
        stack: &mut Vec<String>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Nets> {
        if let Some(done) = self.nets.get(name) {
            return done.clone();
        }
        let def = match self.net_defs.get(name)? {
            NetDef::Site { nets, .. } => {
                let nets = nets.clone();
                self.nets.insert(name.to_string(), nets.clone());
                return nets;
            }
            NetDef::Define(d) => *d,
        };
        stack.push(name.to_string());
        let mut out = Nets::default();
        let mut ok = true;
        for item in &def.items {
            if let ast::NetItem::V4(v) = item {
                out.share_v4(&v.ranges);
                continue;
            }
            match self.resolve_item(item, stack, diags) {
                Some(nets) => out.extend(&nets),
                None => ok = false,
            }
        }
        stack.pop();
        out.shrink_to_fit();
        let res = ok.then_some(out);
        self.nets.insert(name.to_string(), res.clone());
        res
    }

    /// One item of a `define`: an address, or a network resolved in turn (`None`: an
    /// error, reported).
    fn resolve_item(
        &mut self,
        item: &ast::NetItem,
        stack: &mut Vec<String>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Nets> {
        let found = match item {
            ast::NetItem::Cidr(c) => {
                validate::net(&c.value, c.span).map(|n| [n].into_iter().collect())
            }
            ast::NetItem::V4(v) => {
                let mut nets = Nets::default();
                nets.share_v4(&v.ranges);
                Ok(nets)
            }
            ast::NetItem::Name(n) if stack.contains(&n.value) => Err(Diagnostic::error(
                codes::NETWORK_CYCLE,
                n.span,
                format!("network `{}` is defined in terms of itself", n.value),
            )
            .with_label("refers back to a network being defined")
            .with_help(format!(
                "definition chain: {} -> {}",
                stack.join(" -> "),
                n.value
            ))),
            ast::NetItem::Name(n) if self.net_defs.contains_key(&n.value) => {
                return self.resolve_net(&n.value, stack, diags);
            }
            ast::NetItem::Name(n) => Err(self.unknown_network(&n.value, n.span)),
        };
        found.map_err(|d| diags.push(d)).ok()
    }

    /// A network by name for a rule: Err when unknown; Ok(None) when its definition had errors.
    pub fn network(&self, name: &str, span: Span) -> Result<Option<&Nets>, Diagnostic> {
        match self.nets.get(name) {
            Some(n) => Ok(n.as_ref()),
            None => Err(self.unknown_network(name, span)),
        }
    }

    fn unknown_network(&self, name: &str, span: Span) -> Diagnostic {
        let d = Diagnostic::error(
            codes::UNKNOWN_NETWORK,
            span,
            format!("unknown network `{name}`"),
        )
        .with_label("not defined");
        match self.net_names.suggest(name) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "define it: `define {name} = 192.0.2.0/24`, or add it to the site file's [networks]"
            )),
        }
    }

    pub fn service(&self, name: &str, span: Span) -> Result<Service, Diagnostic> {
        if let Some(s) = self.services.get(name) {
            return Ok(Service {
                ports: s.ports.clone(),
                defined: s.defined,
            });
        }
        if let Some(b) = catalog::builtin(name) {
            return Ok(Service {
                ports: b.ports.to_vec(),
                defined: None,
            });
        }
        let d = Diagnostic::error(
            codes::UNKNOWN_SERVICE,
            span,
            format!("unknown service `{name}`"),
        )
        .with_label("not in the catalog");
        let suggestion = self.service_names.suggest(name);
        Err(d.with_help(catalog::unknown_service_help(name, suggestion)))
    }

    /// An interface name for a rule: Err when unknown; Ok(None) when its site value had errors.
    pub fn interface(&self, name: &str, span: Span) -> Result<Option<&Vec<IfName>>, Diagnostic> {
        self.ifaces.get(name).map(Option::as_ref).ok_or_else(|| {
            let d = Diagnostic::error(
                codes::UNKNOWN_INTERFACE,
                span,
                format!("unknown interface name `{name}`"),
            )
            .with_label("not in the site file's [interfaces]");
            match self.iface_names.suggest(name) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "quote a literal interface name: `\"{name}\"`; bare names come from the \
                     site file's [interfaces]"
                )),
            }
        })
    }
}

/// A policy's own `service` named like a catalog entry that is open to that (one added
/// after the first catalog): the policy's ports are used; a warning when they differ.
fn redefined_catalog_entry(
    s: &ast::ServiceDef,
    b: &catalog::Builtin,
    ports: &[(Proto, u16, u16)],
) -> Option<Diagnostic> {
    let (mut mine, mut theirs) = (ports.to_vec(), b.ports.to_vec());
    mine.sort();
    mine.dedup();
    theirs.sort();
    theirs.dedup();
    (mine != theirs).then(|| {
        Diagnostic::warning(
            codes::CATALOG_MISMATCH,
            s.name.span,
            format!("service `{}` differs from the catalog's", s.name.value),
        )
        .with_label(format!("this policy's `{}` is {}", s.name.value, catalog::ports_text(ports)))
        .with_help(format!(
            "{}; this policy's definition is used here. Rename it, or delete it to use the catalog's",
            catalog::describe(b.name, b.ports)
        ))
    })
}

/// Validates a written port spec; `None` when any item had an error (reported).
pub(crate) fn ports_of(
    groups: &[ast::PortGroup],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(Proto, PortRange, Span)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for g in groups {
        let proto = match g.proto.value {
            ast::Proto::Tcp => Proto::Tcp,
            ast::Proto::Udp => Proto::Udp,
            ast::Proto::Sctp => Proto::Sctp,
        };
        for item in &g.ports {
            match validate::port_range(&item.lo, item.hi.as_ref(), item.span) {
                Ok(r) => out.push((proto, r, item.span)),
                Err(d) => {
                    diags.push(d);
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}
