//! The policy AST: what was written, with spans, before any name is resolved or number checked.
//!
//! Numbers are kept as written (`u64`, saturating) so the checker can say "port 70000 is out of
//! range" with the exact span instead of the parser failing.

use crate::nets::V4Form;
use crate::source::{Span, Spanned};
use std::borrow::Cow;

/// One parsed file (the policy, or an included file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub items: Vec<TopItem>,
    /// Every `#` comment, in order: (span of the comment, including `#`).
    pub comments: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopItem {
    /// `include "path"`: the path as written (quotes removed) and the statement span.
    Include {
        path: Spanned<String>,
        span: Span,
    },
    Policy(PolicyBlock),
    Stmt(Stmt),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyBlock {
    pub name: Spanned<String>,
    /// `policy NAME`.
    pub header: Span,
    pub body: Vec<Stmt>,
    /// The whole block, up to and including `}`.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Reject,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Drop,
    Reject,
}

impl Verdict {
    pub fn keyword(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn keyword(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

/// A statement inside `policy { }` (or at the top level / in an included file for
/// `service` and `define`). Every variant keeps the span of the whole statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Default {
        action: Spanned<Action>,
        span: Span,
    },
    Forwarding {
        family: Option<Spanned<Family>>,
        on: Spanned<bool>,
        span: Span,
    },
    Service(ServiceDef),
    Define(Define),
    Log(LogStmt),
    Count {
        span: Span,
    },
    Forward(ForwardBlock),
    Rule(Rule),
    /// `output { ... }`: rules for what the host sends (same shape as `forward { }`).
    Output(ForwardBlock),
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Default { span, .. } | Stmt::Forwarding { span, .. } | Stmt::Count { span } => {
                *span
            }
            Stmt::Service(s) => s.span,
            Stmt::Define(d) => d.span,
            Stmt::Log(l) => l.span,
            Stmt::Forward(f) | Stmt::Output(f) => f.span,
            Stmt::Rule(r) => r.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDef {
    pub name: Spanned<String>,
    pub ports: Vec<PortGroup>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Define {
    pub name: Spanned<String>,
    pub items: Vec<NetItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStmt {
    /// `limit N/unit [burst M]`: (N, unit, burst). The first one written.
    pub limit: Option<LogLimit>,
    /// The first `prefix` written.
    pub prefix: Option<Spanned<String>>,
    /// The first `group` written.
    pub group: Option<Spanned<u64>>,
    /// The first `level` written: the name as written, checked by the checker.
    pub level: Option<Spanned<String>>,
    /// Clauses given again after the first of their kind, in order: an error for the checker,
    /// kept so that formatting loses nothing.
    pub repeated: Vec<LogClause>,
    pub span: Span,
}

/// One clause of `log rejected`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogClause {
    Limit(LogLimit),
    Prefix(Spanned<String>),
    Group(Spanned<u64>),
    Level(Spanned<String>),
}

impl LogClause {
    pub fn keyword(&self) -> &'static str {
        match self {
            LogClause::Limit(_) => "limit",
            LogClause::Prefix(_) => "prefix",
            LogClause::Group(_) => "group",
            LogClause::Level(_) => "level",
        }
    }

    pub fn span(&self) -> Span {
        match self {
            LogClause::Limit(l) => l.span,
            LogClause::Prefix(p) => p.span,
            LogClause::Group(g) => g.span,
            LogClause::Level(l) => l.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLimit {
    pub count: Spanned<u64>,
    pub unit: RateUnit,
    pub burst: Option<Spanned<u64>>,
    /// `per source` (rules only): one bucket per source address.
    pub per_source: Option<Span>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardBlock {
    /// The `forward` (or `output`) keyword.
    pub keyword: Span,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

/// `tcp 80, 443, 5634-6166`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGroup {
    pub proto: Spanned<Proto>,
    pub ports: Vec<PortItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortItem {
    pub lo: Spanned<u64>,
    pub hi: Option<Spanned<u64>>,
    pub span: Span,
}

/// One item of an address list. IPv4 entries that follow one another in a list (by far
/// the most common content of a long list) are one [`V4Items`]: 9 bytes an entry, no
/// allocation of their own, their text rebuilt on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetItem {
    /// An address, CIDR or range as written, not yet parsed (IPv6, or anything
    /// [`crate::nets::packed_v4`] leaves to the checker).
    Cidr(Box<Spanned<String>>),
    /// A network name (`define` or site `[networks]`).
    Name(Box<Spanned<String>>),
    /// Canonical IPv4 addresses, CIDRs and ranges written one after another.
    V4(Box<V4Items>),
}

/// IPv4 entries written one after another in a list, as the checker reads them. They
/// carry no span: nothing reports on one entry of them (a bad entry is a [`NetItem::Cidr`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V4Items {
    /// Each entry's first and last address, in list order: the checker's address lists
    /// share this vector as one of their runs (`nets::Runs`), so a million addresses are
    /// not copied out of the tree.
    pub ranges: std::sync::Arc<Vec<(u32, u32)>>,
    /// How each entry was written (`1.2.3.4` and `1.2.3.4/32` are one range).
    pub forms: Vec<V4Form>,
}

impl V4Items {
    pub fn len(&self) -> usize {
        self.forms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }
}

impl NetItem {
    /// The entries as written, one string each (a [`NetItem::V4`] holds many).
    pub fn texts(&self) -> Box<dyn Iterator<Item = Cow<'_, str>> + '_> {
        match self {
            NetItem::Cidr(s) | NetItem::Name(s) => {
                Box::new(std::iter::once(Cow::Borrowed(s.value.as_str())))
            }
            NetItem::V4(v) => Box::new(
                (v.ranges.iter().zip(&v.forms))
                    .map(|(&(lo, hi), &form)| Cow::Owned(crate::nets::v4_text(lo, hi, form))),
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Iface {
    /// `"eth0"`, `"virbr*"` (quotes removed).
    Quoted(Spanned<String>),
    /// A site `[interfaces]` name.
    Name(Spanned<String>),
}

impl Iface {
    pub fn span(&self) -> Span {
        match self {
            Iface::Quoted(s) | Iface::Name(s) => s.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpType {
    Number(u64),
    Name(String),
}

/// One clause of a rule, in the order written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    Ports(Vec<PortGroup>, Span),
    Icmp {
        v6: bool,
        types: Vec<Spanned<IcmpType>>,
        span: Span,
    },
    From(Vec<NetItem>, Span),
    To(Vec<NetItem>, Span),
    On(Vec<Iface>, Span),
    In(Vec<Iface>, Span),
    Out(Vec<Iface>, Span),
    Established(Span),
    Counter(Span),
    /// `log ...` on a rule: its clauses, as for `log rejected`.
    Log(LogStmt),
    /// `limit N/unit [burst M]` on a rule: a rate limit on what it accepts.
    Limit(LogLimit),
}

impl Clause {
    pub fn span(&self) -> Span {
        match self {
            Clause::Ports(_, s)
            | Clause::Icmp { span: s, .. }
            | Clause::From(_, s)
            | Clause::To(_, s)
            | Clause::On(_, s)
            | Clause::In(_, s)
            | Clause::Out(_, s)
            | Clause::Established(s)
            | Clause::Counter(s) => *s,
            Clause::Log(l) => l.span,
            Clause::Limit(l) => l.span,
        }
    }
}

/// `allow ssh tcp 22 from mgmt on "eno1" counter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub verdict: Spanned<Verdict>,
    pub service: Option<Spanned<String>>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_item_is_16_bytes() {
        // A list of names or IPv6 entries holds one per entry.
        assert!(std::mem::size_of::<super::NetItem>() <= 16);
    }
}
