//! The whole host's verdict for one packet: every base chain of every table on each
//! hook of the packet's path, in priority order, as the kernel runs them. A packet
//! must be accepted by each; `drop`/`reject` anywhere ends it.
//!
//! Ternary throughout: a condition the IR cannot express (`Cond::Unknown`) may hold or
//! not, so both branches are followed and the chain's result is the set of ends it can
//! reach; an unknown action is an unknown end. The answer is `Accept` only when every
//! chain surely accepts, `Refused` when one surely refuses, otherwise `Unknown` with
//! what it depends on — never a silent accept.

use super::{L4, Packet, if_matches};
use crate::ir::TypeMatch;
use crate::ir::host::{
    Action, ChainType, Cond, HostChain, HostHook, HostRule, HostRuleset, HostTable, MapElem,
    MapKey, TableFamily,
};
use crate::ir::{AddrMatch, ChainPolicy, CtState, Match, NfProto, PortMatch, SetKey};
use crate::source::Span;
use std::net::IpAddr;

/// The kernel's jump stack depth (`NFT_JUMP_STACK_SIZE`).
const MAX_DEPTH: usize = 16;
/// Rule visits per base chain before the answer becomes unknown (undecidable
/// conditions double the branches to follow).
const BUDGET: usize = 20_000;

/// Where the packet goes: to the host, through it, or from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    Input,
    Forward,
    Output,
}

impl Path {
    pub fn hooks(self) -> &'static [HostHook] {
        match self {
            Path::Input => &[HostHook::Ingress, HostHook::Prerouting, HostHook::Input],
            Path::Forward => &[
                HostHook::Ingress,
                HostHook::Prerouting,
                HostHook::Forward,
                HostHook::Postrouting,
                HostHook::Egress,
            ],
            Path::Output => &[HostHook::Output, HostHook::Postrouting, HostHook::Egress],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Path::Input => "input",
            Path::Forward => "forward",
            Path::Output => "output",
        }
    }
}

/// How a chain can end for the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndKind {
    Accept,
    Drop,
    /// `reject ...` (its text).
    Reject(String),
    /// Something hostwall cannot evaluate decides (queue, dnat, an `xt` target, ...).
    Unknown(String),
}

impl EndKind {
    pub fn refuses(&self) -> bool {
        matches!(self, EndKind::Drop | EndKind::Reject(_))
    }
}

/// The rule that ended a chain; `None` in `End::at` is the chain's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    /// The chain holding the rule (a base chain or one it jumped to).
    pub chain: String,
    /// 0-based.
    pub index: usize,
    pub text: String,
    /// Policy lines (our table only).
    pub origin: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub kind: EndKind,
    pub at: Option<At>,
    /// Undecidable conditions assumed on the way ("if <fib ...>", "unless <...>").
    pub assumed: Vec<String>,
}

/// One base chain on the path and how it can end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub table: String,
    pub ours: bool,
    pub chain: String,
    pub hook: HostHook,
    pub priority: i32,
    /// A bridge-family chain: it sees the packet only if it crosses a bridge port.
    pub bridge: bool,
    pub ends: Vec<End>,
}

impl Step {
    pub fn surely_accepts(&self) -> bool {
        !self.ends.is_empty() && self.ends.iter().all(|e| e.kind == EndKind::Accept)
    }

    fn surely_refuses(&self) -> bool {
        !self.bridge && !self.ends.is_empty() && self.ends.iter().all(|e| e.kind.refuses())
    }
}

/// The combined answer for the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Accept,
    /// Surely refused; `step` is the chain that refuses (index into `steps`).
    Refused {
        step: usize,
    },
    /// May be accepted or refused: depends on what hostwall cannot evaluate.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDecision {
    pub answer: Answer,
    /// Every base chain on the packet's path, in the kernel's order (after a refusal:
    /// what the chains the packet never reaches would do).
    pub steps: Vec<Step>,
}

/// The host's answer for `pkt` on `path`. Every base chain on the path is evaluated;
/// the kernel stops at the first that surely refuses (`Answer::Refused`), so the steps
/// after it say only what those chains would do.
pub fn evaluate(host: &HostRuleset, path: Path, pkt: &Packet) -> HostDecision {
    let mut steps = Vec::new();
    let mut answer = Answer::Accept;
    for &hook in path.hooks() {
        for (table, chain) in on_hook(host, hook, pkt) {
            let bridge = table.family == Some(TableFamily::Bridge);
            let step = Step {
                table: table.title(),
                ours: table.ours,
                chain: chain.name.clone(),
                hook,
                priority: chain.base.as_ref().map_or(0, |b| b.priority),
                bridge,
                ends: base_chain(table, chain, pkt),
            };
            let decided = matches!(answer, Answer::Refused { .. });
            if !decided && step.surely_refuses() {
                answer = Answer::Refused { step: steps.len() };
            } else if !decided && !step.surely_accepts() {
                answer = Answer::Unknown;
            }
            steps.push(step);
        }
    }
    HostDecision { answer, steps }
}

/// The base chains that see `pkt` on `hook`, in the kernel's order: by priority, and at
/// equal priority the chain registered last first (the kernel inserts a new hook before
/// the existing ones of its priority). Registration follows the dump order: tables in
/// creation order, chains in creation order within each.
fn on_hook<'a>(
    host: &'a HostRuleset,
    hook: HostHook,
    pkt: &Packet,
) -> Vec<(&'a HostTable, &'a HostChain)> {
    let v4 = pkt.src.is_ipv4();
    let mut out: Vec<(&HostTable, &HostChain)> = Vec::new();
    for t in host.tables.iter().rev().filter(|t| !t.dormant) {
        for c in t.chains.iter().rev() {
            let Some(b) = &c.base else { continue };
            if b.hook != Some(hook) {
                continue;
            }
            if b.chain_type == ChainType::Nat && pkt.ct != CtState::NEW {
                continue; // NAT chains see only a connection's first packet
            }
            let dev = |d: &Option<String>| d.as_ref().is_some_and(|d| b.devices.contains(d));
            let sees = match (t.family, hook) {
                (_, HostHook::Ingress) => dev(&pkt.iif),
                (_, HostHook::Egress) => dev(&pkt.oif),
                (Some(TableFamily::Inet | TableFamily::Bridge), _) => true,
                (Some(TableFamily::Ip), _) => v4,
                (Some(TableFamily::Ip6), _) => !v4,
                _ => false,
            };
            if sees {
                out.push((t, c));
            }
        }
    }
    out.sort_by_key(|(_, c)| c.base.as_ref().map_or(0, |b| b.priority));
    out
}

/// Every way a base chain can end for the packet, its policy included.
fn base_chain(table: &HostTable, chain: &HostChain, pkt: &Packet) -> Vec<End> {
    let mut w = Walker {
        table,
        pkt,
        budget: BUDGET,
    };
    let policy = match chain.base.as_ref().map(|b| b.policy) {
        Some(ChainPolicy::Drop) => EndKind::Drop,
        _ => EndKind::Accept,
    };
    let mut ends: Vec<End> = Vec::new();
    for (flow, assumed) in w.rules_from(chain, 0, 0, Vec::new()) {
        let end = match flow {
            Flow::Term(kind, at) => End { kind, at, assumed },
            Flow::Back => End {
                kind: policy.clone(),
                at: None,
                assumed,
            },
        };
        if !ends.iter().any(|e| e.kind == end.kind && e.at == end.at) {
            ends.push(end);
        }
    }
    ends
}

enum Flow {
    Term(EndKind, Option<At>),
    /// Fell off the end of the chain, or `return`.
    Back,
}

type Flows = Vec<(Flow, Vec<String>)>;

struct Walker<'a> {
    table: &'a HostTable,
    pkt: &'a Packet,
    budget: usize,
}

/// A condition's truth for the packet.
enum Tri {
    Yes,
    No,
    Maybe(String),
}

impl Walker<'_> {
    fn rules_from(
        &mut self,
        chain: &HostChain,
        from: usize,
        depth: usize,
        assumed: Vec<String>,
    ) -> Flows {
        for (i, rule) in chain.rules.iter().enumerate().skip(from) {
            if self.budget == 0 {
                let why = "too many undecidable conditions to follow".to_string();
                return vec![(Flow::Term(EndKind::Unknown(why), None), assumed)];
            }
            self.budget -= 1;
            if rule.action == Action::Continue {
                continue;
            }
            match self.conds(rule) {
                Tri::No => continue,
                Tri::Yes => return self.act(chain, i, &rule.action, depth, assumed),
                Tri::Maybe(why) => {
                    let mut yes = assumed.clone();
                    yes.push(format!("if {why}"));
                    let mut no = assumed;
                    no.push(format!("unless {why}"));
                    let mut out = self.act(chain, i, &rule.action, depth, yes);
                    out.extend(self.rules_from(chain, i + 1, depth, no));
                    return out;
                }
            }
        }
        vec![(Flow::Back, assumed)]
    }

    fn act(
        &mut self,
        chain: &HostChain,
        i: usize,
        action: &Action,
        depth: usize,
        assumed: Vec<String>,
    ) -> Flows {
        let rule = &chain.rules[i];
        let at = || {
            Some(At {
                chain: chain.name.clone(),
                index: i,
                text: rule.text.clone(),
                origin: rule.origin.clone(),
            })
        };
        let term = |k: EndKind, assumed| vec![(Flow::Term(k, at()), assumed)];
        match action {
            Action::Continue => self.rules_from(chain, i + 1, depth, assumed),
            Action::Accept | Action::SourceNat => term(EndKind::Accept, assumed),
            Action::Drop => term(EndKind::Drop, assumed),
            Action::Reject(how) => term(EndKind::Reject(how.clone()), assumed),
            Action::Return => vec![(Flow::Back, assumed)],
            Action::DestNat(t) => term(
                EndKind::Unknown(format!(
                    "destination NAT ({t}) may send the packet elsewhere"
                )),
                assumed,
            ),
            Action::Unknown(t) => term(EndKind::Unknown(t.clone()), assumed),
            Action::Jump(target) => self.jump(chain, i, target, false, depth, assumed),
            Action::Goto(target) => self.jump(chain, i, target, true, depth, assumed),
            Action::Map { key, map } => match self.map_lookup(*key, map) {
                Ok(Some(a)) => {
                    let a = a.clone();
                    self.act(chain, i, &a, depth, assumed)
                }
                Ok(None) => self.rules_from(chain, i + 1, depth, assumed),
                Err(why) => term(EndKind::Unknown(why), assumed),
            },
        }
    }

    /// `jump`/`goto` from rule `i` of `chain`: the target's ends; a `return` (or falling
    /// off the target's end) continues after the jump, or returns from `chain` after a goto.
    fn jump(
        &mut self,
        chain: &HostChain,
        i: usize,
        target: &str,
        goto: bool,
        depth: usize,
        assumed: Vec<String>,
    ) -> Flows {
        let unknown = |why: String, assumed| {
            let at = At {
                chain: chain.name.clone(),
                index: i,
                text: chain.rules[i].text.clone(),
                origin: chain.rules[i].origin.clone(),
            };
            vec![(Flow::Term(EndKind::Unknown(why), Some(at)), assumed)]
        };
        let Some(sub) = self.table.chains.iter().find(|c| c.name == target) else {
            return unknown(
                format!("jump to chain {target}, which was not read"),
                assumed,
            );
        };
        if depth + 1 > MAX_DEPTH {
            return unknown("jumps nest deeper than the kernel allows".into(), assumed);
        }
        let flows = self.rules_from(sub, 0, depth + 1, assumed);
        if goto {
            return flows;
        }
        let mut out = Vec::new();
        for (flow, a) in flows {
            match flow {
                Flow::Back => out.extend(self.rules_from(chain, i + 1, depth, a)),
                term => out.push((term, a)),
            }
        }
        out
    }

    fn conds(&self, rule: &HostRule) -> Tri {
        let mut maybe = Vec::new();
        for c in &rule.conds {
            match self.cond(c) {
                Tri::No => return Tri::No,
                Tri::Yes => {}
                Tri::Maybe(w) => maybe.push(w),
            }
        }
        if maybe.is_empty() {
            Tri::Yes
        } else {
            Tri::Maybe(maybe.join(" and "))
        }
    }

    fn cond(&self, c: &Cond) -> Tri {
        match c {
            Cond::Is(m) => self.matches(m),
            Cond::Not(m) => match self.matches(m) {
                Tri::Yes => Tri::No,
                Tri::No => Tri::Yes,
                maybe => maybe,
            },
            Cond::AnyOf { of, negated } => {
                let mut r = Tri::No;
                for m in of {
                    match self.matches(m) {
                        Tri::Yes => {
                            r = Tri::Yes;
                            break;
                        }
                        Tri::Maybe(w) => r = Tri::Maybe(w),
                        Tri::No => {}
                    }
                }
                match (r, negated) {
                    (Tri::Yes, true) => Tri::No,
                    (Tri::No, true) => Tri::Yes,
                    (r, _) => r,
                }
            }
            // The packet is described before any NAT: no status bit is set.
            Cond::CtStatus { any, .. } => tri(!*any),
            Cond::Unknown(t) => Tri::Maybe(format!("<{t}>")),
        }
    }

    fn matches(&self, m: &Match) -> Tri {
        let pkt = self.pkt;
        let b = tri;
        match m {
            Match::IifName(n) => b(if_matches(n, pkt.iif.as_deref())),
            Match::OifName(n) => b(if_matches(n, pkt.oif.as_deref())),
            Match::CtState(s) => b(pkt.ct & s.0 != 0),
            Match::L4Proto(p) => b(pkt.l4.proto_number() == p.number()),
            Match::NfProto(p) => b(nfproto(pkt) == *p),
            Match::Saddr(a) => self.addr(a, pkt.src),
            Match::Daddr(a) => self.addr(a, pkt.dst),
            Match::Dport(proto, pm) => match pkt.l4.dport(*proto) {
                Some(port) => match pm {
                    PortMatch::Port(p) => b(*p == port),
                    PortMatch::Range(lo, hi) => b((*lo..=*hi).contains(&port)),
                    PortMatch::Set(s) => self.in_set(s, SetKey::InetService, port as u128),
                },
                None => Tri::No,
            },
            Match::IcmpType(t) => match pkt.l4 {
                L4::Icmp { kind } => self.kind(t, kind, SetKey::IcmpType),
                _ => Tri::No,
            },
            Match::Icmpv6Type(t) => match pkt.l4 {
                L4::Icmpv6 { kind } => self.kind(t, kind, SetKey::Icmpv6Type),
                _ => Tri::No,
            },
        }
    }

    fn kind(&self, t: &TypeMatch, kind: u8, key: SetKey) -> Tri {
        match t {
            TypeMatch::Type(v) => tri(*v == kind),
            TypeMatch::Set(s) => self.in_set(s, key, kind as u128),
        }
    }

    fn addr(&self, a: &AddrMatch, addr: IpAddr) -> Tri {
        match (a, addr) {
            (AddrMatch::V4(n), IpAddr::V4(ip)) => tri(n.contains(&ip)),
            (AddrMatch::V6(n), IpAddr::V6(ip)) => tri(n.contains(&ip)),
            (AddrMatch::Set4(s), IpAddr::V4(ip)) => {
                self.in_set(s, SetKey::Ipv4Addr, u32::from(ip) as u128)
            }
            (AddrMatch::Set6(s), IpAddr::V6(ip)) => {
                self.in_set(s, SetKey::Ipv6Addr, u128::from(ip))
            }
            (AddrMatch::Range4(lo, hi), IpAddr::V4(ip)) => tri((lo..=hi).contains(&&ip)),
            (AddrMatch::Range6(lo, hi), IpAddr::V6(ip)) => tri((lo..=hi).contains(&&ip)),
            _ => Tri::No,
        }
    }

    fn in_set(&self, name: &str, key: SetKey, v: u128) -> Tri {
        match self
            .table
            .sets
            .iter()
            .find(|s| s.name == name && s.key == key)
        {
            Some(s) => tri(s.elements.holds(v)),
            None => Tri::Maybe(format!("set @{name}, which was not read")),
        }
    }

    /// The verdict map element for the packet's key; `Ok(None)` when none holds.
    fn map_lookup(&self, key: MapKey, map: &str) -> Result<Option<&Action>, String> {
        let m = (self.table.maps.iter().find(|m| m.name == map))
            .ok_or_else(|| format!("verdict map @{map}, which was not read"))?;
        let pkt = self.pkt;
        let value: Option<u128> = match key {
            MapKey::L4Proto => Some(pkt.l4.proto_number() as u128),
            MapKey::CtState => Some(pkt.ct as u128),
            MapKey::Saddr4 | MapKey::Saddr6 => Some(addr_value(pkt.src)),
            MapKey::Daddr4 | MapKey::Daddr6 => Some(addr_value(pkt.dst)),
            MapKey::Dport(p) => match pkt.l4.dport(p) {
                Some(port) => Some(port as u128),
                None => return Ok(None),
            },
            MapKey::IifName | MapKey::OifName => None,
        };
        let name = match key {
            MapKey::IifName => pkt.iif.as_deref(),
            MapKey::OifName => pkt.oif.as_deref(),
            _ => None,
        };
        Ok(m.elements.iter().find_map(|(e, a)| {
            let hit = match (e, value) {
                (MapElem::Range(i), Some(v)) => i.lo <= v && v <= i.hi,
                (MapElem::Name(n), None) => if_matches(n, name),
                _ => false,
            };
            hit.then_some(a)
        }))
    }
}

fn tri(x: bool) -> Tri {
    if x { Tri::Yes } else { Tri::No }
}

fn addr_value(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn nfproto(pkt: &Packet) -> NfProto {
    if pkt.src.is_ipv4() {
        NfProto::Ipv4
    } else {
        NfProto::Ipv6
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
