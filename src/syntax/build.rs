//! pest pairs -> AST, failing closed: every keyword maps to its AST value by an explicit
//! match, and a pair the builder does not expect (a grammar branch it has no case for) is an
//! error that rejects the file, never a default such as `allow`.

use super::ast::*;
use super::grammar::{PolicyParser, Rule};
use super::lists;
use crate::source::{FileId, Span, Spanned};
use pest::Parser;
use pest::error::{Error, ErrorVariant};
use pest::iterators::Pair;
use std::cell::Cell;

/// What building returns: the value, or a pest error (syntax, or an unhandled grammar branch).
pub(crate) type Built<T> = Result<T, Box<Error<Rule>>>;

pub(crate) struct Builder<'t> {
    pub file: FileId,
    /// The cuts made for the fast lane, when pest parses a spliced copy.
    pub spliced: Option<&'t lists::Spliced>,
    /// Cuts put back between their neighbours; each must be, or the tree is not trusted.
    pub consumed: Cell<usize>,
}

/// The error for a pair the builder has no case for: the file is rejected at that pair.
pub(crate) fn unexpected(p: &Pair<Rule>, wanted: &str) -> Box<Error<Rule>> {
    Box::new(Error::new_from_span(
        ErrorVariant::CustomError {
            message: format!(
                "{wanted} (internal error: the parser has no case for {:?} `{}`)",
                p.as_rule(),
                p.as_str().chars().take(40).collect::<String>()
            ),
        },
        p.as_span(),
    ))
}

/// The one inner pair of `p` (keyword wrappers like `verdict`, `action`, `proto`).
fn only_child<'i>(p: &Pair<'i, Rule>, wanted: &str) -> Built<Pair<'i, Rule>> {
    let mut inner = p.clone().into_inner();
    match (inner.next(), inner.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(unexpected(p, wanted)),
    }
}

impl Builder<'_> {
    /// The top-level items of `text` (the original or the spliced copy).
    pub fn file(&self, text: &str) -> Built<Vec<TopItem>> {
        let mut pairs = PolicyParser::parse(Rule::file, text).map_err(Box::new)?;
        let root = pairs.next().ok_or_else(|| {
            Box::new(Error::new_from_pos(
                ErrorVariant::CustomError {
                    message: "a policy file (internal error: no parse tree)".into(),
                },
                pest::Position::from_start(text),
            ))
        })?;
        let mut items = Vec::new();
        for p in root.into_inner() {
            match p.as_rule() {
                Rule::include => items.push(self.include(p)?),
                Rule::policy => items.push(TopItem::Policy(self.policy(p)?)),
                Rule::service_def | Rule::define => items.push(TopItem::Stmt(self.stmt(p)?)),
                Rule::EOI => {}
                _ => return Err(unexpected(&p, "a top-level statement")),
            }
        }
        Ok(items)
    }

    /// A position in the text pest parsed, as an offset into the file.
    fn pos(&self, p: usize) -> usize {
        match self.spliced {
            Some(s) => s.original(p),
            None => p,
        }
    }

    /// The span of a pair without the trailing whitespace/comments pest may have swallowed.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let start = self.pos(p.as_span().start());
        Span::new(self.file, start..self.pos(tight_end(p)))
    }

    fn text(&self, p: &Pair<Rule>) -> Spanned<String> {
        Spanned::new(p.as_str().to_string(), self.span(p))
    }

    fn number(&self, p: &Pair<Rule>) -> Built<Spanned<u64>> {
        if p.as_rule() != Rule::number {
            return Err(unexpected(p, "a number"));
        }
        // Saturating: the checker reports anything above the field's range, with this span.
        let v = p.as_str().parse::<u64>().unwrap_or(u64::MAX);
        Ok(Spanned::new(v, self.span(p)))
    }

    fn unquote(&self, p: &Pair<Rule>) -> Built<Spanned<String>> {
        let s = p.as_str();
        match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) if p.as_rule() == Rule::string => {
                Ok(Spanned::new(inner.to_string(), self.span(p)))
            }
            _ => Err(unexpected(p, "a quoted string")),
        }
    }

    /// The one child of `p` with rule `rule`.
    fn child<'i>(&self, p: &Pair<'i, Rule>, kind: Rule, wanted: &str) -> Built<Pair<'i, Rule>> {
        p.clone()
            .into_inner()
            .find(|c| c.as_rule() == kind)
            .ok_or_else(|| unexpected(p, wanted))
    }

    fn include(&self, p: Pair<Rule>) -> Built<TopItem> {
        let span = self.span(&p);
        let path = self.unquote(&self.child(&p, Rule::string, "an include path")?)?;
        Ok(TopItem::Include { path, span })
    }

    fn policy(&self, p: Pair<Rule>) -> Built<PolicyBlock> {
        let span = self.span(&p);
        let name = self.text(&self.child(&p, Rule::name, "a policy name")?);
        let body = self.body(&p, Rule::body, "a policy body")?;
        let header = Span::new(self.file, span.range().start..name.span.range().end);
        Ok(PolicyBlock {
            name,
            header,
            body,
            span,
        })
    }

    fn stmt(&self, p: Pair<Rule>) -> Built<Stmt> {
        let span = self.span(&p);
        Ok(match p.as_rule() {
            Rule::default_stmt => self.default_stmt(p)?,
            Rule::forwarding => self.forwarding(p)?,
            Rule::service_def => Stmt::Service(self.service_def(p)?),
            Rule::define => Stmt::Define(self.define(p)?),
            Rule::log_stmt => Stmt::Log(self.log(p)?),
            Rule::count_stmt => Stmt::Count { span },
            Rule::forward_block => Stmt::Forward(self.forward_block(p)?),
            Rule::output_block => Stmt::Output(self.output_block(p)?),
            Rule::rule => Stmt::Rule(self.rule(p)?),
            _ => return Err(unexpected(&p, "a statement")),
        })
    }

    /// The statements of the block body `kind` of `p`.
    fn body(&self, p: &Pair<Rule>, kind: Rule, wanted: &str) -> Built<Vec<Stmt>> {
        (self.child(p, kind, wanted)?.into_inner())
            .map(|s| self.stmt(s))
            .collect()
    }

    fn default_stmt(&self, p: Pair<Rule>) -> Built<Stmt> {
        let a = self.child(&p, Rule::action, "`reject` or `drop`")?;
        let action = match only_child(&a, "`reject` or `drop`")?.as_rule() {
            Rule::kw_drop => Action::Drop,
            Rule::kw_reject => Action::Reject,
            _ => return Err(unexpected(&a, "`reject` or `drop`")),
        };
        Ok(Stmt::Default {
            action: Spanned::new(action, self.span(&a)),
            span: self.span(&p),
        })
    }

    fn service_def(&self, p: Pair<Rule>) -> Built<ServiceDef> {
        let name = self.text(&self.child(&p, Rule::name, "a service name")?);
        let ports = self.portspec(self.child(&p, Rule::portspec, "ports")?)?;
        let span = self.span(&p);
        Ok(ServiceDef { name, ports, span })
    }

    fn define(&self, p: Pair<Rule>) -> Built<Define> {
        let name = self.text(&self.child(&p, Rule::name, "a network name")?);
        let items = self.net_list(self.child(&p, Rule::net_list, "addresses")?)?;
        let span = self.span(&p);
        Ok(Define { name, items, span })
    }

    fn forward_block(&self, p: Pair<Rule>) -> Built<ForwardBlock> {
        let span = self.span(&p);
        let keyword = self.span(&self.child(&p, Rule::kw_forward, "`forward`")?);
        let body = self.body(&p, Rule::forward_body, "a forward body")?;
        Ok(ForwardBlock {
            keyword,
            body,
            span,
        })
    }

    fn output_block(&self, p: Pair<Rule>) -> Built<ForwardBlock> {
        let span = self.span(&p);
        let keyword = self.span(&self.child(&p, Rule::kw_output, "`output`")?);
        let body = self.body(&p, Rule::output_body, "an output body")?;
        Ok(ForwardBlock {
            keyword,
            body,
            span,
        })
    }

    fn forwarding(&self, p: Pair<Rule>) -> Built<Stmt> {
        let span = self.span(&p);
        let mut family = None;
        let mut on = None;
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::kw_forwarding => {}
                Rule::family => {
                    let f = match only_child(&c, "`ipv4` or `ipv6`")?.as_rule() {
                        Rule::kw_ipv4 => Family::Ipv4,
                        Rule::kw_ipv6 => Family::Ipv6,
                        _ => return Err(unexpected(&c, "`ipv4` or `ipv6`")),
                    };
                    family = Some(Spanned::new(f, self.span(&c)));
                }
                Rule::on_off => {
                    let v = match only_child(&c, "`on` or `off`")?.as_rule() {
                        Rule::kw_on => true,
                        Rule::kw_off => false,
                        _ => return Err(unexpected(&c, "`on` or `off`")),
                    };
                    on = Some(Spanned::new(v, self.span(&c)));
                }
                _ => return Err(unexpected(&c, "`ipv4`, `ipv6`, `on` or `off`")),
            }
        }
        let on = on.ok_or_else(|| unexpected(&p, "`on` or `off`"))?;
        Ok(Stmt::Forwarding { family, on, span })
    }

    fn log(&self, p: Pair<Rule>) -> Built<LogStmt> {
        let span = self.span(&p);
        let mut log = LogStmt {
            limit: None,
            prefix: None,
            group: None,
            level: None,
            repeated: Vec::new(),
            span,
        };
        for c in p.into_inner() {
            let clause = match c.as_rule() {
                Rule::kw_log | Rule::kw_rejected => continue,
                Rule::log_limit => LogClause::Limit(self.log_limit(c)?),
                Rule::log_prefix => {
                    LogClause::Prefix(self.unquote(&self.child(&c, Rule::string, "a prefix")?)?)
                }
                Rule::log_group => {
                    LogClause::Group(self.number(&self.child(&c, Rule::number, "a group")?)?)
                }
                Rule::log_level => {
                    LogClause::Level(self.text(&self.child(&c, Rule::name, "a log level")?))
                }
                _ => return Err(unexpected(&c, "`limit`, `prefix`, `level` or `group`")),
            };
            // The first of each kind counts; later ones are kept for the checker to report.
            match clause {
                LogClause::Limit(l) if log.limit.is_none() => log.limit = Some(l),
                LogClause::Prefix(p) if log.prefix.is_none() => log.prefix = Some(p),
                LogClause::Group(g) if log.group.is_none() => log.group = Some(g),
                LogClause::Level(l) if log.level.is_none() => log.level = Some(l),
                again => log.repeated.push(again),
            }
        }
        Ok(log)
    }

    fn log_limit(&self, c: Pair<Rule>) -> Built<LogLimit> {
        let lspan = self.span(&c);
        let mut nums = Vec::new();
        let mut unit = None;
        let mut per_source = None;
        for x in c.clone().into_inner() {
            match x.as_rule() {
                Rule::kw_limit | Rule::slash | Rule::kw_burst => {}
                Rule::per_source => per_source = Some(self.span(&x)),
                Rule::number => nums.push(self.number(&x)?),
                Rule::rate_unit => {
                    unit = Some(match only_child(&x, "a time unit")?.as_rule() {
                        Rule::kw_second => RateUnit::Second,
                        Rule::kw_minute => RateUnit::Minute,
                        Rule::kw_hour => RateUnit::Hour,
                        Rule::kw_day => RateUnit::Day,
                        _ => return Err(unexpected(&x, "a time unit")),
                    })
                }
                _ => return Err(unexpected(&x, "a rate")),
            }
        }
        let mut nums = nums.into_iter();
        match (nums.next(), unit, nums.next(), nums.next()) {
            (Some(count), Some(unit), burst, None) => Ok(LogLimit {
                count,
                unit,
                burst,
                per_source,
                span: lspan,
            }),
            _ => Err(unexpected(&c, "`limit N/unit [burst M]`")),
        }
    }

    fn rule(&self, p: Pair<Rule>) -> Built<PolicyRule> {
        let span = self.span(&p);
        let mut verdict = None;
        let mut service = None;
        let mut clauses = Vec::new();
        for c in p.clone().into_inner() {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::verdict if verdict.is_none() => {
                    let v = match only_child(&c, "`allow`, `drop` or `reject`")?.as_rule() {
                        Rule::kw_allow => Verdict::Allow,
                        Rule::kw_drop => Verdict::Drop,
                        Rule::kw_reject => Verdict::Reject,
                        _ => return Err(unexpected(&c, "`allow`, `drop` or `reject`")),
                    };
                    verdict = Some(Spanned::new(v, cspan));
                }
                Rule::service_ref => service = Some(self.text(&c)),
                Rule::portspec => clauses.push(Clause::Ports(self.portspec(c)?, cspan)),
                Rule::icmp => clauses.push(self.icmp(c)?),
                Rule::from => clauses.push(Clause::From(self.nets_of(c)?, cspan)),
                Rule::to => clauses.push(Clause::To(self.nets_of(c)?, cspan)),
                Rule::on => clauses.push(Clause::On(self.ifaces_of(c)?, cspan)),
                Rule::in_ => clauses.push(Clause::In(self.ifaces_of(c)?, cspan)),
                Rule::out => clauses.push(Clause::Out(self.ifaces_of(c)?, cspan)),
                Rule::established => clauses.push(Clause::Established(cspan)),
                Rule::counter => clauses.push(Clause::Counter(cspan)),
                Rule::rule_log => clauses.push(Clause::Log(self.log(c)?)),
                Rule::rule_limit => clauses.push(Clause::Limit(self.log_limit(c)?)),
                _ => return Err(unexpected(&c, "a rule clause")),
            }
        }
        let verdict = verdict.ok_or_else(|| unexpected(&p, "`allow`, `drop` or `reject`"))?;
        Ok(PolicyRule {
            verdict,
            service,
            clauses,
            span,
        })
    }

    fn portspec(&self, p: Pair<Rule>) -> Built<Vec<PortGroup>> {
        p.into_inner().map(|g| self.port_group(g)).collect()
    }

    fn port_group(&self, g: Pair<Rule>) -> Built<PortGroup> {
        let span = self.span(&g);
        let proto_pair = self.child(&g, Rule::proto, "a protocol")?;
        let v = match only_child(&proto_pair, "a protocol")?.as_rule() {
            Rule::kw_tcp => Proto::Tcp,
            Rule::kw_udp => Proto::Udp,
            Rule::kw_sctp => Proto::Sctp,
            _ => return Err(unexpected(&proto_pair, "a protocol (tcp, udp, sctp)")),
        };
        let proto = Spanned::new(v, self.span(&proto_pair));
        let ports = self
            .child(&g, Rule::port_list, "ports")?
            .into_inner()
            .map(|i| self.port_item(i))
            .collect::<Built<_>>()?;
        Ok(PortGroup { proto, ports, span })
    }

    fn port_item(&self, p: Pair<Rule>) -> Built<PortItem> {
        let span = self.span(&p);
        let nums = p
            .clone()
            .into_inner()
            .map(|n| self.number(&n))
            .collect::<Built<Vec<_>>>()?;
        let mut nums = nums.into_iter();
        match (nums.next(), nums.next(), nums.next()) {
            (Some(lo), hi, None) => Ok(PortItem { lo, hi, span }),
            _ => Err(unexpected(&p, "a port or port range")),
        }
    }

    fn icmp(&self, p: Pair<Rule>) -> Built<Clause> {
        let span = self.span(&p);
        let mut v6 = None;
        let mut types = Vec::new();
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::icmp_kind => {
                    v6 = Some(match only_child(&c, "`icmp` or `icmpv6`")?.as_rule() {
                        Rule::kw_icmp => false,
                        Rule::kw_icmpv6 => true,
                        _ => return Err(unexpected(&c, "`icmp` or `icmpv6`")),
                    })
                }
                Rule::icmp_type => {
                    let t = match only_child(&c, "an ICMP type")? {
                        n if n.as_rule() == Rule::number => {
                            IcmpType::Number(self.number(&n)?.value)
                        }
                        n if n.as_rule() == Rule::name => IcmpType::Name(n.as_str().to_string()),
                        n => return Err(unexpected(&n, "an ICMP type")),
                    };
                    types.push(Spanned::new(t, self.span(&c)));
                }
                _ => return Err(unexpected(&c, "an ICMP type")),
            }
        }
        let v6 = v6.ok_or_else(|| unexpected(&p, "`icmp` or `icmpv6`"))?;
        Ok(Clause::Icmp { v6, types, span })
    }

    fn nets_of(&self, p: Pair<Rule>) -> Built<Vec<NetItem>> {
        self.net_list(self.child(&p, Rule::net_list, "addresses")?)
    }

    fn net_list(&self, p: Pair<Rule>) -> Built<Vec<NetItem>> {
        let mut out = lists::Entries::default();
        let mut prev_end = None;
        for item in p.into_inner() {
            let x = only_child(&item, "an address, CIDR or network name")?;
            self.restore_cut(x.as_span().start(), prev_end, &mut out);
            let t = self.text(&x);
            prev_end = Some(t.span.range().end);
            match x.as_rule() {
                Rule::cidr => match super::v4::entry(&t.value) {
                    Some((lo, hi, form)) => out.v4(lo, hi, form),
                    None => out.other(NetItem::Cidr(Box::new(t))),
                },
                Rule::name => out.other(NetItem::Name(Box::new(t))),
                _ => return Err(unexpected(&x, "an address, CIDR or network name")),
            }
        }
        Ok(out.finish(0))
    }

    /// Puts back the items of the fast lane's cut that ends where this item starts, when
    /// the item before it, which ended at `prev_end`, is the one the cut began after: that
    /// item (A) is taken away and the cut's A..Y put in its place.
    fn restore_cut(&self, start: usize, prev_end: Option<usize>, out: &mut lists::Entries) {
        let Some(cut) = self.spliced.and_then(|s| s.cut_at(start)) else {
            return;
        };
        if prev_end != Some(cut.prev_end) {
            return;
        }
        let items = cut.items.take();
        if items.is_empty() {
            // Taken already: a second visit is not a cut put back (the caller then
            // parses the original text).
            return;
        }
        out.pop();
        out.append(items);
        self.consumed.set(self.consumed.get() + 1);
    }

    fn ifaces_of(&self, p: Pair<Rule>) -> Built<Vec<Iface>> {
        let list = self.child(&p, Rule::iface_list, "interfaces")?;
        list.into_inner()
            .map(|i| {
                let x = only_child(&i, "an interface")?;
                match x.as_rule() {
                    Rule::string => Ok(Iface::Quoted(self.unquote(&x)?)),
                    Rule::name => Ok(Iface::Name(self.text(&x))),
                    _ => Err(unexpected(&x, "an interface")),
                }
            })
            .collect()
    }
}

/// The policy's rule (`ast::Rule`): pest's generated grammar enum is `Rule` here.
use super::ast::Rule as PolicyRule;

fn tight_end(p: &Pair<Rule>) -> usize {
    match p.clone().into_inner().next_back() {
        Some(last) => tight_end(&last),
        None => p.as_span().end(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> Builder<'static> {
        Builder {
            file: FileId::default(),
            spliced: None,
            consumed: Cell::new(0),
        }
    }

    fn pair(kind: Rule, text: &str) -> Pair<'_, Rule> {
        let mut pairs = PolicyParser::parse(kind, text).unwrap_or_else(|e| panic!("{e}"));
        pairs.next().unwrap_or_else(|| panic!("no pair for {text}"))
    }

    /// A statement of a kind the builder has no case for is rejected, never read as a rule
    /// (regression test for issue #8 item 12).
    #[test]
    fn unknown_statements_are_rejected_not_allowed() {
        for (kind, text) in [
            (Rule::include, "include \"x.policy\""),
            (Rule::policy, "policy p { }"),
            (Rule::verdict, "allow"),
            (Rule::net_list, "10.0.0.0/8"),
            (Rule::portspec, "tcp 22"),
        ] {
            let b = builder();
            match b.stmt(pair(kind, text)) {
                Ok(s) => panic!("{kind:?} `{text}` built {s:?}"),
                Err(e) => assert!(e.to_string().contains("internal error"), "{e}"),
            }
        }
    }

    /// A rule without a recognised verdict is an error, not an `allow` (regression: the
    /// verdict defaulted to `Allow`).
    #[test]
    fn a_rule_without_a_verdict_is_rejected() {
        for (kind, text) in [
            (Rule::log_stmt, "log rejected"),
            (Rule::default_stmt, "default drop"),
            (Rule::count_stmt, "count rejected"),
        ] {
            let b = builder();
            let got = b.rule(pair(kind, text));
            assert!(got.is_err(), "{text} built {got:?}");
        }
    }

    /// Every keyword maps to its own value, drop and reject included.
    #[test]
    fn verdicts_and_actions_map_exactly() {
        for (text, want) in [
            ("allow tcp 22", Verdict::Allow),
            ("drop tcp 22", Verdict::Drop),
            ("reject tcp 22", Verdict::Reject),
        ] {
            let b = builder();
            let r = b
                .rule(pair(Rule::rule, text))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.verdict.value, want, "{text}");
        }
        for (text, want) in [
            ("default drop", Action::Drop),
            ("default reject", Action::Reject),
        ] {
            let b = builder();
            match b.stmt(pair(Rule::default_stmt, text)) {
                Ok(Stmt::Default { action, .. }) => assert_eq!(action.value, want),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    /// The rejection reaches the user as a syntax diagnostic at the statement.
    #[test]
    fn an_unhandled_branch_is_a_diagnostic_not_a_panic() {
        let text = "include \"x.policy\"";
        let b = builder();
        let Err(e) = b.stmt(pair(Rule::include, text)) else {
            panic!("accepted");
        };
        let d = crate::syntax::errors::to_diagnostic(FileId::default(), text, &e);
        assert_eq!(d.code, crate::syntax::SYNTAX);
        assert!(d.is_error());
        assert_eq!(d.span.range().start, 0);
    }
}
