//! The whole host's ruleset: every table of every family, as far as the IR can say
//! what its rules do. Our own table is one of them; other tables add jumps and gotos to
//! regular chains, returns, verdict maps, NAT, other families and hooks, and an explicit
//! `Unknown` for whatever cannot be expressed — a condition or an action that `eval`
//! treats as "may match" / "may drop, may accept", never as a silent accept.
//!
//! Conditions are data (`ir::Match`, negated or unknown), never closures, so that a
//! later symbolic evaluator can intersect them as sets of packets.

#[path = "host_text.rs"]
mod text;

use super::{ChainPolicy, Interval, Match, Set};
use crate::source::Span;
use std::sync::Arc;

/// Every table the kernel holds (or, without `--live`, only our compiled one). The
/// tables are shared: the host with and without the others (`diff::conflicts`) hold our
/// table once, not a copy each (a 100,000-prefix table is megabytes of set elements).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRuleset {
    pub tables: Vec<Arc<HostTable>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFamily {
    Inet,
    Ip,
    Ip6,
    Bridge,
    Netdev,
    Arp,
}

impl TableFamily {
    pub fn name(self) -> &'static str {
        match self {
            TableFamily::Inet => "inet",
            TableFamily::Ip => "ip",
            TableFamily::Ip6 => "ip6",
            TableFamily::Bridge => "bridge",
            TableFamily::Netdev => "netdev",
            TableFamily::Arp => "arp",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTable {
    pub family: Option<TableFamily>,
    pub name: String,
    /// hostwall's own table (its rules carry policy lines).
    pub ours: bool,
    /// `flags dormant`: no chain of the table is attached to a hook.
    pub dormant: bool,
    /// Named and anonymous sets whose key the IR can hold.
    pub sets: Vec<Set>,
    pub maps: Vec<VerdictMap>,
    pub chains: Vec<HostChain>,
}

impl HostTable {
    /// `family name`, as nft writes a table.
    pub fn title(&self) -> String {
        format!(
            "{} {}",
            self.family.map_or("unknown-family", TableFamily::name),
            self.name
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostChain {
    pub name: String,
    /// `None` for a regular chain (reached only by jump or goto).
    pub base: Option<HostBase>,
    pub rules: Vec<HostRule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostHook {
    Ingress,
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Egress,
}

impl HostHook {
    pub fn name(self) -> &'static str {
        match self {
            HostHook::Ingress => "ingress",
            HostHook::Prerouting => "prerouting",
            HostHook::Input => "input",
            HostHook::Forward => "forward",
            HostHook::Output => "output",
            HostHook::Postrouting => "postrouting",
            HostHook::Egress => "egress",
        }
    }

    pub fn of(hook: super::Hook) -> HostHook {
        match hook {
            super::Hook::Prerouting => HostHook::Prerouting,
            super::Hook::Input => HostHook::Input,
            super::Hook::Forward => HostHook::Forward,
            super::Hook::Output => HostHook::Output,
            super::Hook::Postrouting => HostHook::Postrouting,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainType {
    Filter,
    /// Sees only the first packet of a connection; its NAT statements end the chain.
    Nat,
    Route,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBase {
    /// `None`: a hook number hostwall does not know (never evaluated, reported).
    pub hook: Option<HostHook>,
    pub chain_type: ChainType,
    pub priority: i32,
    pub policy: ChainPolicy,
    /// Devices of an ingress/egress chain.
    pub devices: Vec<String>,
}

/// One rule: every condition must hold, then the action runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRule {
    pub conds: Vec<Cond>,
    pub action: Action,
    /// The rule as nft-like text, for reports.
    pub text: String,
    pub comment: Option<String>,
    /// Policy lines (our table only).
    pub origin: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Is(Match),
    Not(Match),
    /// Any of the matches holds (a set of interface names, protocols or states), or,
    /// negated, none of them.
    AnyOf {
        of: Vec<Match>,
        negated: bool,
    },
    /// `ct status` has any of `mask`'s bits (`any`), or none of them (`!any`).
    CtStatus {
        mask: u32,
        any: bool,
    },
    /// A condition the IR cannot express (an `xt` match, `fib`, `ct status`, a
    /// concatenation, ...): it may or may not hold for any packet.
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// No verdict: the next rule runs (counters, logs, marks).
    Continue,
    Accept,
    Drop,
    /// `reject`, with how (`with icmpx admin-prohibited`, ...).
    Reject(String),
    Jump(String),
    Goto(String),
    Return,
    /// `KEY vmap @map` (or an anonymous map): the element's verdict, if any.
    Map {
        key: MapKey,
        map: String,
    },
    /// Source NAT (`snat`, `masquerade`): the chain ends as accept.
    SourceNat,
    /// Destination NAT (`dnat`, `redirect`): the packet may go elsewhere.
    DestNat(String),
    /// An action the IR cannot express (queue, synproxy, an `xt` target, ...).
    Unknown(String),
}

/// What a verdict map looks up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKey {
    IifName,
    OifName,
    L4Proto,
    CtState,
    Saddr4,
    Daddr4,
    Saddr6,
    Daddr6,
    /// The destination port of this protocol.
    Dport(super::L4Proto),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictMap {
    pub name: String,
    pub elements: Vec<(MapElem, Action)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapElem {
    /// Numeric keys (addresses, ports, protocol numbers), inclusive.
    Range(Interval),
    /// Interface names (a trailing `*` is a prefix).
    Name(super::IfName),
}

impl HostRuleset {
    /// Our table alone, as the compiler made it (explain without `--live`).
    pub fn of_ours(t: &super::Table) -> HostRuleset {
        HostRuleset {
            tables: vec![Arc::new(HostTable::of_ours(t))],
        }
    }

    /// Our table placed among the others as the kernel orders tables (`at`: its index
    /// in the dump; `None` or past the end: last, as a table created now would be).
    pub fn with_ours<T: Into<Arc<HostTable>>>(
        ours: impl Into<Arc<HostTable>>,
        others: impl IntoIterator<Item = T>,
        at: Option<usize>,
    ) -> HostRuleset {
        let ours = ours.into();
        let mut tables: Vec<Arc<HostTable>> = others.into_iter().map(Into::into).collect();
        let at = at.unwrap_or(tables.len()).min(tables.len());
        tables.insert(at, ours);
        HostRuleset { tables }
    }

    /// These tables, in this order.
    pub fn of(tables: Vec<HostTable>) -> HostRuleset {
        HostRuleset {
            tables: tables.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn ours(&self) -> Option<&HostTable> {
        self.tables.iter().map(|t| &**t).find(|t| t.ours)
    }
}

impl HostTable {
    /// Our IR table in host form: its matches are conditions, its verdicts actions, and
    /// a rule the live reader could not decode (`Stmt::Foreign`) an unknown action.
    pub fn of_ours(t: &super::Table) -> HostTable {
        HostTable {
            family: Some(TableFamily::Inet),
            name: t.name.clone(),
            ours: true,
            dormant: false,
            sets: t.sets.clone(),
            maps: Vec::new(),
            chains: t.chains.iter().map(chain_of_ours).collect(),
        }
    }
}

fn chain_of_ours(c: &super::Chain) -> HostChain {
    HostChain {
        name: c.name.clone(),
        base: c.base.map(|b| HostBase {
            hook: Some(HostHook::of(b.hook)),
            chain_type: ChainType::Filter,
            priority: b.priority,
            policy: b.policy,
            devices: Vec::new(),
        }),
        rules: c.rules.iter().map(rule_of_ours).collect(),
    }
}

fn rule_of_ours(r: &super::Rule) -> HostRule {
    let foreign = r.stmts.iter().find_map(|s| match s {
        super::Stmt::Foreign(t) => Some(t.clone()),
        _ => None,
    });
    let action = match (foreign, r.verdict) {
        (Some(t), _) => Action::Unknown(format!("a rule hostwall cannot decode: {t}")),
        (None, None) => Action::Continue,
        (None, Some(super::Verdict::Accept)) => Action::Accept,
        (None, Some(super::Verdict::Drop)) => Action::Drop,
        (None, Some(super::Verdict::Reject(w))) => Action::Reject(reject_text(w).into()),
    };
    let mut conds: Vec<Cond> = r.matches.iter().cloned().map(Cond::Is).collect();
    // A rate limit before a verdict decides only while it holds: its state is unknown.
    if r.verdict.is_some() {
        conds.extend(r.stmts.iter().filter_map(|s| match s {
            super::Stmt::Limit { .. } | super::Stmt::SourceLimit { .. } => {
                Some(Cond::Unknown(format!(
                    "{} (the rate limit's state)",
                    crate::emit::text::stmt_text(s)
                )))
            }
            _ => None,
        }));
    }
    HostRule {
        conds,
        action,
        text: {
            let mut t = String::new();
            crate::emit::text::rule(&mut t, r);
            t
        },
        comment: r.comment.clone(),
        origin: r.origin.clone(),
    }
}

pub use text::{action_text, cond_text, map_key_text, render};

pub fn reject_text(w: super::RejectWith) -> &'static str {
    match w {
        super::RejectWith::TcpReset => "reject with tcp reset",
        super::RejectWith::IcmpxAdminProhibited => "reject with icmpx admin-prohibited",
        super::RejectWith::IcmpxPortUnreachable => "reject with icmpx port-unreachable",
    }
}
