//! pest parse tree -> AST. The only place (with `errors.rs`) that sees pest `Rule`/`Pair` types.

use super::ast::*;
use super::lists;
use crate::source::{FileId, Span, Spanned};
use pest::Parser;
use pest::iterators::Pair;
use std::cell::Cell;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;

/// Parses `text` (the whole file, so pest offsets are file offsets) into an AST.
///
/// Long address lists go through the fast lane (`lists`); when that cannot be proven to give
/// the same tree, or the text has a syntax error, pest parses the original text, so every
/// error is reported exactly as pest sees it.
pub(crate) fn parse_text(file: FileId, text: &str) -> Result<File, Box<pest::error::Error<Rule>>> {
    parse_text_with(file, text, lists::MIN_RUN)
}

/// [`parse_text`] with the fast lane's run threshold as a parameter (tests use small ones).
pub(crate) fn parse_text_with(
    file: FileId,
    text: &str,
    min_run: usize,
) -> Result<File, Box<pest::error::Error<Rule>>> {
    if let Some(spliced) = lists::splice(text, min_run) {
        let b = Builder {
            file,
            original: text,
            spliced: Some(&spliced),
            consumed: Cell::new(0),
        };
        if let Ok(items) = b.file(&spliced.text) {
            if b.consumed.get() == spliced.cuts.len() {
                return Ok(File {
                    items,
                    comments: comments(file, text),
                });
            }
        }
    }
    let b = Builder {
        file,
        original: text,
        spliced: None,
        consumed: Cell::new(0),
    };
    Ok(File {
        items: b.file(text)?,
        comments: comments(file, text),
    })
}

/// Whether the fast lane's tree was used for `text` (tests: it must not silently always fall back).
#[cfg(test)]
pub(crate) fn fast_lane_taken(text: &str, min_run: usize) -> bool {
    let Some(spliced) = lists::splice(text, min_run) else {
        return false;
    };
    let b = Builder {
        file: FileId::default(),
        original: text,
        spliced: Some(&spliced),
        consumed: Cell::new(0),
    };
    b.file(&spliced.text).is_ok() && b.consumed.get() == spliced.cuts.len()
}

/// Finds every `#` comment (a `#` outside a quoted string runs to the end of its line).
fn comments(file: FileId, text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut start = None;
    // Bytes, not chars: every byte looked at is ASCII, so offsets are the same, and a
    // 100,000-entry policy is megabytes of text.
    for (i, &c) in text.as_bytes().iter().enumerate() {
        match c {
            b'\n' => {
                if let Some(s) = start.take() {
                    out.push(Span::new(file, s..trim_cr(text, s, i)));
                }
                in_string = false;
            }
            b'"' if start.is_none() => in_string = !in_string,
            b'#' if start.is_none() && !in_string => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Span::new(file, s..trim_cr(text, s, text.len())));
    }
    out
}

fn trim_cr(text: &str, start: usize, end: usize) -> usize {
    if end > start && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

struct Builder<'t> {
    file: FileId,
    /// The file's text (pest may be parsing a spliced copy of it).
    original: &'t str,
    /// The cuts made for the fast lane, when pest parses a spliced copy.
    spliced: Option<&'t lists::Spliced>,
    /// Cuts put back between their neighbours; each must be, or the tree is not trusted.
    consumed: Cell<usize>,
}

impl Builder<'_> {
    /// The top-level items of `text` (the original or the spliced copy).
    fn file(&self, text: &str) -> Result<Vec<TopItem>, Box<pest::error::Error<Rule>>> {
        let mut pairs = PolicyParser::parse(Rule::file, text).map_err(Box::new)?;
        let mut items = Vec::new();
        if let Some(root) = pairs.next() {
            for p in root.into_inner() {
                match p.as_rule() {
                    Rule::include => items.push(self.include(p)),
                    Rule::policy => items.push(TopItem::Policy(self.policy(p))),
                    Rule::EOI => {}
                    _ => items.push(TopItem::Stmt(self.stmt(p))),
                }
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

    fn number(&self, p: &Pair<Rule>) -> Spanned<u64> {
        // Saturating: the checker reports anything above the field's range, with this span.
        let v = p.as_str().parse::<u64>().unwrap_or(u64::MAX);
        Spanned::new(v, self.span(p))
    }

    fn unquote(&self, p: &Pair<Rule>) -> Spanned<String> {
        let s = p.as_str();
        let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
        Spanned::new(inner.to_string(), self.span(p))
    }

    fn include(&self, p: Pair<Rule>) -> TopItem {
        let span = self.span(&p);
        let path = p
            .into_inner()
            .find(|c| c.as_rule() == Rule::string)
            .map(|c| self.unquote(&c))
            .unwrap_or_else(|| Spanned::new(String::new(), span));
        TopItem::Include { path, span }
    }

    fn policy(&self, p: Pair<Rule>) -> PolicyBlock {
        let span = self.span(&p);
        let mut name = Spanned::new(String::new(), span);
        let mut body = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::name => name = self.text(&c),
                Rule::body => body = c.into_inner().map(|s| self.stmt(s)).collect(),
                _ => {}
            }
        }
        let header = Span::new(self.file, span.range().start..name.span.range().end);
        PolicyBlock {
            name,
            header,
            body,
            span,
        }
    }

    fn stmt(&self, p: Pair<Rule>) -> Stmt {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::default_stmt => {
                let action = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::action)
                    .map(|c| {
                        let a = if c.as_str() == "drop" {
                            Action::Drop
                        } else {
                            Action::Reject
                        };
                        Spanned::new(a, self.span(&c))
                    })
                    .unwrap_or(Spanned::new(Action::Reject, span));
                Stmt::Default { action, span }
            }
            Rule::forwarding => {
                let mut family = None;
                let mut on = Spanned::new(false, span);
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::family => {
                            let f = if c.as_str() == "ipv6" {
                                Family::Ipv6
                            } else {
                                Family::Ipv4
                            };
                            family = Some(Spanned::new(f, self.span(&c)));
                        }
                        Rule::on_off => on = Spanned::new(c.as_str() == "on", self.span(&c)),
                        _ => {}
                    }
                }
                Stmt::Forwarding { family, on, span }
            }
            Rule::service_def => {
                let mut name = Spanned::new(String::new(), span);
                let mut ports = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::name => name = self.text(&c),
                        Rule::portspec => ports = self.portspec(c),
                        _ => {}
                    }
                }
                Stmt::Service(ServiceDef { name, ports, span })
            }
            Rule::define => {
                let mut name = Spanned::new(String::new(), span);
                let mut items = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::name => name = self.text(&c),
                        Rule::net_list => items = self.net_list(c),
                        _ => {}
                    }
                }
                Stmt::Define(Define { name, items, span })
            }
            Rule::log_stmt => Stmt::Log(self.log(p)),
            Rule::count_stmt => Stmt::Count { span },
            Rule::forward_block => {
                let mut keyword = span;
                let mut body = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::kw_forward => keyword = self.span(&c),
                        Rule::forward_body => body = c.into_inner().map(|s| self.stmt(s)).collect(),
                        _ => {}
                    }
                }
                Stmt::Forward(ForwardBlock {
                    keyword,
                    body,
                    span,
                })
            }
            _ => Stmt::Rule(self.rule(p)),
        }
    }

    fn log(&self, p: Pair<Rule>) -> LogStmt {
        let span = self.span(&p);
        let mut log = LogStmt {
            limit: None,
            prefix: None,
            group: None,
            repeated: Vec::new(),
            span,
        };
        for c in p.into_inner() {
            let clause = match c.as_rule() {
                Rule::log_limit => LogClause::Limit(self.log_limit(c)),
                Rule::log_prefix => {
                    let Some(s) = c.into_inner().find(|x| x.as_rule() == Rule::string) else {
                        continue;
                    };
                    LogClause::Prefix(self.unquote(&s))
                }
                Rule::log_group => {
                    let Some(n) = c.into_inner().find(|x| x.as_rule() == Rule::number) else {
                        continue;
                    };
                    LogClause::Group(self.number(&n))
                }
                _ => continue,
            };
            // The first of each kind counts; later ones are kept for the checker to report.
            match clause {
                LogClause::Limit(l) if log.limit.is_none() => log.limit = Some(l),
                LogClause::Prefix(p) if log.prefix.is_none() => log.prefix = Some(p),
                LogClause::Group(g) if log.group.is_none() => log.group = Some(g),
                again => log.repeated.push(again),
            }
        }
        log
    }

    fn log_limit(&self, c: Pair<Rule>) -> LogLimit {
        let lspan = self.span(&c);
        let mut nums = Vec::new();
        let mut unit = RateUnit::Second;
        for x in c.into_inner() {
            match x.as_rule() {
                Rule::number => nums.push(self.number(&x)),
                Rule::rate_unit => {
                    unit = match x.as_str() {
                        "minute" => RateUnit::Minute,
                        "hour" => RateUnit::Hour,
                        "day" => RateUnit::Day,
                        _ => RateUnit::Second,
                    }
                }
                _ => {}
            }
        }
        let mut nums = nums.into_iter();
        let count = nums.next().unwrap_or(Spanned::new(0, lspan));
        LogLimit {
            count,
            unit,
            burst: nums.next(),
            span: lspan,
        }
    }

    fn rule(&self, p: Pair<Rule>) -> Rule_ {
        let span = self.span(&p);
        let mut verdict = Spanned::new(Verdict::Allow, span);
        let mut service = None;
        let mut clauses = Vec::new();
        for c in p.into_inner() {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::verdict => {
                    let v = match c.as_str() {
                        "drop" => Verdict::Drop,
                        "reject" => Verdict::Reject,
                        _ => Verdict::Allow,
                    };
                    verdict = Spanned::new(v, cspan);
                }
                Rule::service_ref => service = Some(self.text(&c)),
                Rule::portspec => clauses.push(Clause::Ports(self.portspec(c), cspan)),
                Rule::icmp => clauses.push(self.icmp(c)),
                Rule::from => clauses.push(Clause::From(self.nets_of(c), cspan)),
                Rule::to => clauses.push(Clause::To(self.nets_of(c), cspan)),
                Rule::on => clauses.push(Clause::On(self.ifaces_of(c), cspan)),
                Rule::in_ => clauses.push(Clause::In(self.ifaces_of(c), cspan)),
                Rule::out => clauses.push(Clause::Out(self.ifaces_of(c), cspan)),
                Rule::established => clauses.push(Clause::Established(cspan)),
                Rule::counter => clauses.push(Clause::Counter(cspan)),
                _ => {}
            }
        }
        Rule_ {
            verdict,
            service,
            clauses,
            span,
        }
    }

    fn portspec(&self, p: Pair<Rule>) -> Vec<PortGroup> {
        p.into_inner()
            .map(|g| {
                let span = self.span(&g);
                let mut proto = Spanned::new(Proto::Tcp, span);
                let mut ports = Vec::new();
                for c in g.into_inner() {
                    match c.as_rule() {
                        Rule::proto => {
                            let v = match c.as_str() {
                                "udp" => Proto::Udp,
                                "sctp" => Proto::Sctp,
                                _ => Proto::Tcp,
                            };
                            proto = Spanned::new(v, self.span(&c));
                        }
                        Rule::port_list => {
                            ports = c.into_inner().map(|i| self.port_item(i)).collect()
                        }
                        _ => {}
                    }
                }
                PortGroup { proto, ports, span }
            })
            .collect()
    }

    fn port_item(&self, p: Pair<Rule>) -> PortItem {
        let span = self.span(&p);
        let mut nums = p.into_inner().map(|n| self.number(&n));
        let lo = nums.next().unwrap_or(Spanned::new(0, span));
        PortItem {
            lo,
            hi: nums.next(),
            span,
        }
    }

    fn icmp(&self, p: Pair<Rule>) -> Clause {
        let span = self.span(&p);
        let mut v6 = false;
        let mut types = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::icmp_kind => v6 = c.as_str() == "icmpv6",
                Rule::icmp_type => {
                    let t = match c.clone().into_inner().next() {
                        Some(n) if n.as_rule() == Rule::number => {
                            IcmpType::Number(self.number(&n).value)
                        }
                        _ => IcmpType::Name(c.as_str().to_string()),
                    };
                    types.push(Spanned::new(t, self.span(&c)));
                }
                _ => {}
            }
        }
        Clause::Icmp { v6, types, span }
    }

    fn nets_of(&self, p: Pair<Rule>) -> Vec<NetItem> {
        p.into_inner()
            .find(|c| c.as_rule() == Rule::net_list)
            .map(|c| self.net_list(c))
            .unwrap_or_default()
    }

    fn net_list(&self, p: Pair<Rule>) -> Vec<NetItem> {
        let mut out: Vec<NetItem> = Vec::new();
        for x in p.into_inner().filter_map(|item| item.into_inner().next()) {
            self.restore_cut(x.as_span().start(), &mut out);
            out.push(match x.as_rule() {
                Rule::cidr => NetItem::Cidr(self.text(&x)),
                _ => NetItem::Name(self.text(&x)),
            });
        }
        out
    }

    /// Puts back the items of the fast lane's cut that ends where this item starts, when
    /// the item before it is the one the cut began after.
    fn restore_cut(&self, start: usize, out: &mut Vec<NetItem>) {
        let Some(cut) = self.spliced.and_then(|s| s.cut_at(start)) else {
            return;
        };
        if out.last().map(|n| n.span().range().end) != Some(cut.prev_end) {
            return;
        }
        out.reserve(cut.items.len() + 1);
        out.extend(cut.items.iter().map(|&(a, b)| {
            NetItem::Cidr(Spanned::new(
                self.original[a..b].to_string(),
                Span::new(self.file, a..b),
            ))
        }));
        self.consumed.set(self.consumed.get() + 1);
    }

    fn ifaces_of(&self, p: Pair<Rule>) -> Vec<Iface> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::iface_list)
            .flat_map(|c| c.into_inner())
            .filter_map(|i| i.into_inner().next())
            .map(|x| match x.as_rule() {
                Rule::string => Iface::Quoted(self.unquote(&x)),
                _ => Iface::Name(self.text(&x)),
            })
            .collect()
    }
}

/// The AST rule type, renamed here because pest's generated enum is also called `Rule`.
type Rule_ = super::ast::Rule;

fn tight_end(p: &Pair<Rule>) -> usize {
    match p.clone().into_inner().last() {
        Some(last) => tight_end(&last),
        None => p.as_span().end(),
    }
}
