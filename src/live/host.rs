//! Another table's rule -> `ir::host::HostRule`, as far as the IR can say what it does.
//!
//! Unlike `decode` (our table, exact inverse or foreign text), this reader is lenient
//! per condition: every load-and-test group it knows becomes a match (or its negation,
//! or any-of a set's elements), and every group it does not know becomes an explicit
//! `Cond::Unknown` with libnftnl's text; every terminal it does not know becomes
//! `Action::Unknown`. Nothing is skipped: an expression is a known condition, a known
//! statement that cannot change the verdict, a known action, or unknown.

use super::effect::HARMLESS_OBJECTS;
use super::expr_read::*;
use crate::ir::host::{Action, Cond, HostRule, MapKey};
use crate::ir::kernel::nfproto_of;
use crate::ir::{CtState, L4Proto, Match, NfProto, SetKey};
use crate::nft::expr_attr;
use crate::nft::read::{RawExpr, RawRule};
use crate::nft::vocab::{
    CmpOp, CtKey, IcmpxCode, LOOKUP_F_INV, MetaKey, NatType, PayloadBase, Register, RejectType,
    VerdictCode,
};
use std::collections::HashMap;

/// The most elements a set may have to be expanded into an any-of condition.
pub const MAX_EXPANDED: usize = 4096;

/// Ethertypes `meta protocol` loads (linux/if_ether.h).
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// What the table's sets hold, by name: IR sets (addresses, ports, ICMP types) are
/// looked up as such; small sets of other keys are expanded into any-of conditions.
#[derive(Default)]
pub struct Sets {
    pub ir: HashMap<String, SetKey>,
    /// nft datatype id and raw keys of the other plain sets.
    pub raw: HashMap<String, (u32, Vec<Vec<u8>>)>,
    /// Verdict maps the table holds (decoded into `HostTable::maps`).
    pub maps: HashMap<String, u32>,
}

/// Statements that neither end the rule's path nor change what later rules see.
const HARMLESS: &[&str] = &[
    "counter",
    "log",
    "limit",
    "last",
    "notrack",
    "dynset",
    "dup",
    "quota",
    "flow_offload",
];

/// One rule of another table. `nf` is the layer-3 protocol the table's family implies
/// (`ip` tables see only IPv4).
pub fn rule(raw: &RawRule, sets: &Sets, nf: Option<NfProto>) -> HostRule {
    let mut d = Rd {
        sets,
        nf,
        l4: None,
        conds: Vec::new(),
    };
    let action = d.read(&raw.exprs);
    let comment = raw.userdata.as_deref().and_then(super::decode::comment);
    let text = rule_text(&d.conds, &action);
    HostRule {
        conds: d.conds,
        action,
        text,
        comment,
        origin: Vec::new(),
    }
}

impl Rd<'_> {
    /// Reads the expressions into conditions and returns the rule's action.
    fn read(&mut self, x: &[RawExpr]) -> Action {
        let mut i = 0;
        while i < x.len() {
            if is_load(&x[i]) {
                let n = group_len(&x[i..]);
                if let Some(a) = self.load_group(&x[i..i + n]) {
                    return a;
                }
                i += n;
                continue;
            }
            if let Some(a) = self.single(&x[i]) {
                return a;
            }
            i += 1;
        }
        Action::Continue
    }

    /// A load and its test: a condition (kept), or a verdict map (the action).
    fn load_group(&mut self, group: &[RawExpr]) -> Option<Action> {
        match self.group(group) {
            Some(Step::Cond(c)) => self.conds.push(c),
            Some(Step::Action(a)) => return Some(a),
            None if ends_in_vmap(group) => {
                return Some(Action::Unknown(format!("verdict map on {}", text(group))));
            }
            None => self.conds.push(Cond::Unknown(text(group))),
        }
        None
    }

    /// An expression that is not a load: a harmless statement (nothing), a condition
    /// hostwall cannot read (kept as unknown), or the rule's action.
    fn single(&mut self, x: &RawExpr) -> Option<Action> {
        let e = E(x);
        let data_load = e.num(expr_attr::IMM_DREG).is_some_and(|r| r != 0);
        match x.name.as_str() {
            n if HARMLESS.contains(&n) => None,
            // `meta mark set`, `ct mark set`: metadata the IR's matches never read.
            "meta" | "ct" => None,
            "objref" => match e.kind(expr_attr::OBJREF_IMM_TYPE) {
                Some(t) if HARMLESS_OBJECTS.contains(&t) => None,
                _ => Some(Action::Unknown(x.text.trim().into())),
            },
            // A data load feeding the statement after it (NAT addresses and ports).
            "immediate" if data_load => None,
            "match" => {
                match super::xt::condition(&e) {
                    super::xt::XtMatch::Harmless => {}
                    super::xt::XtMatch::Cond(c) => self.conds.push(c),
                    super::xt::XtMatch::Unknown => {
                        self.conds.push(Cond::Unknown(x.text.trim().into()))
                    }
                }
                None
            }
            "target" => super::xt::action(&e, self.nf),
            "connlimit" => {
                self.conds.push(Cond::Unknown(x.text.trim().into()));
                None
            }
            "immediate" => Some(verdict(&e)),
            "reject" => Some(Action::Reject(reject(&e))),
            "nat" => Some(match e.kind(expr_attr::NAT_TYPE) {
                Some(NatType::Snat) => Action::SourceNat,
                _ => Action::DestNat(x.text.trim().into()),
            }),
            "masq" => Some(Action::SourceNat),
            "redir" => Some(Action::DestNat("redirect".into())),
            _ => Some(Action::Unknown(x.text.trim().to_string())),
        }
    }
}

/// A register load: the start of a condition group.
fn is_load(x: &RawExpr) -> bool {
    let e = E(x);
    match x.name.as_str() {
        "meta" => e.get(expr_attr::META_DREG).is_some(),
        "ct" => e.get(expr_attr::CT_DREG).is_some(),
        "payload" => e.get(expr_attr::PAYLOAD_DREG).is_some(),
        "fib" | "socket" | "rt" | "exthdr" | "osf" | "numgen" | "hash" | "xfrm" | "tunnel" => true,
        _ => false,
    }
}

/// Loads (a concatenation has several), transforms, then one test.
fn group_len(x: &[RawExpr]) -> usize {
    let mut n = 1;
    while n < x.len() && (is_load(&x[n]) || matches!(x[n].name.as_str(), "bitwise" | "byteorder")) {
        n += 1;
    }
    if n < x.len() && matches!(x[n].name.as_str(), "cmp" | "range" | "lookup") {
        n += 1;
    }
    n
}

fn ends_in_vmap(group: &[RawExpr]) -> bool {
    group
        .last()
        .is_some_and(|l| l.name == "lookup" && E(l).reg(expr_attr::LOOKUP_DREG, Register::Verdict))
}

pub fn text(exprs: &[RawExpr]) -> String {
    super::decode::foreign_text(exprs)
}

enum Step {
    Cond(Cond),
    Action(Action),
}

/// The reading state of one rule: the protocols established so far.
struct Rd<'a> {
    sets: &'a Sets,
    nf: Option<NfProto>,
    l4: Option<u8>,
    conds: Vec<Cond>,
}

impl Rd<'_> {
    fn group(&mut self, g: &[RawExpr]) -> Option<Step> {
        let [load, rest @ ..] = g else { return None };
        let e = E(load);
        let reg = |a: u32| e.reg(a, Register::R1);
        match load.name.as_str() {
            "meta" if reg(expr_attr::META_DREG) => self.meta(e.kind(expr_attr::META_KEY)?, rest),
            "ct" if reg(expr_attr::CT_DREG) && e.get(expr_attr::CT_DIR).is_none() => {
                self.ct(e.kind(expr_attr::CT_KEY)?, rest)
            }
            "payload" if reg(expr_attr::PAYLOAD_DREG) => self.payload(&e, rest),
            _ => None,
        }
    }

    fn meta(&mut self, key: MetaKey, rest: &[RawExpr]) -> Option<Step> {
        let (field, width) = match key {
            MetaKey::IifName => (MapKey::IifName, 16),
            MetaKey::OifName => (MapKey::OifName, 16),
            MetaKey::L4Proto => (MapKey::L4Proto, 1),
            MetaKey::NfProto | MetaKey::Protocol => {
                let [t] = rest else { return None };
                let (data, neg) = eq_or_neq(&E(t))?;
                let nf = if key == MetaKey::NfProto {
                    nfproto_of(u32::from(one_byte(data)?))?
                } else {
                    match be16(data)? {
                        ETH_P_IP => NfProto::Ipv4,
                        ETH_P_IPV6 => NfProto::Ipv6,
                        _ => return None,
                    }
                };
                let m = Match::NfProto(nf);
                if !neg {
                    self.nf = Some(nf);
                }
                return Some(Step::Cond(cond(m, neg)));
            }
        };
        let [t] = rest else { return None };
        let te = E(t);
        if te.is("lookup") {
            return self.lookup(&te, field, width);
        }
        let (data, neg) = eq_or_neq(&te)?;
        let m = match field {
            MapKey::IifName => Match::IifName(ifname(data)?),
            MapKey::OifName => Match::OifName(ifname(data)?),
            _ => {
                let p = one_byte(data)?;
                if !neg {
                    self.l4 = Some(p);
                }
                Match::L4Proto(L4Proto::from_number(p)?)
            }
        };
        Some(Step::Cond(cond(m, neg)))
    }

    /// `ct state`: mask then `!= 0` (any of the bits) or `== 0` (none of them);
    /// `ct status`: the same over status bits.
    fn ct(&mut self, key: CtKey, rest: &[RawExpr]) -> Option<Step> {
        if let [t] = rest {
            let te = E(t);
            if key == CtKey::State && te.is("lookup") {
                return self.lookup(&te, MapKey::CtState, 4);
            }
            let (data, neg) = eq_or_neq(&te)?;
            let v = u32::from_ne_bytes(data.try_into().ok()?);
            return match key {
                CtKey::State if v.count_ones() == 1 => {
                    Some(Step::Cond(cond(Match::CtState(CtState(v)), neg)))
                }
                _ => None,
            };
        }
        let [b, t] = rest else { return None };
        let mask = u32::from_ne_bytes(bitwise(&E(b), 4)?.try_into().ok()?);
        let (zero, none) = eq_or_neq(&E(t))?;
        if zero != [0u8; 4] {
            return None;
        }
        // `!= 0`: any of the bits (none = false); `== 0`: none of them.
        let any = none;
        Some(Step::Cond(match key {
            CtKey::State => cond(Match::CtState(CtState(mask)), !any),
            CtKey::Status => Cond::CtStatus { mask, any },
        }))
    }

    fn payload(&mut self, e: &E, rest: &[RawExpr]) -> Option<Step> {
        let base = e.kind(expr_attr::PAYLOAD_BASE)?;
        let offset = e.num(expr_attr::PAYLOAD_OFFSET)?;
        let len = e.num(expr_attr::PAYLOAD_LEN)? as usize;
        let neg_test = match rest {
            [t] if E(t).cmp(CmpOp::Neq).is_some() => Some(E(t).cmp(CmpOp::Neq)?.to_vec()),
            _ => None,
        };
        if let Some(v) = neg_test {
            let m = self.payload_match(
                base,
                offset,
                len,
                Test::Eq {
                    value: v,
                    mask: None,
                },
            )?;
            return Some(Step::Cond(Cond::Not(m)));
        }
        if let [b, t] = rest
            && E(t).cmp(CmpOp::Neq).is_some()
        {
            let mask = bitwise(&E(b), len)?.to_vec();
            let value = E(t).cmp(CmpOp::Neq)?.to_vec();
            let test = Test::Eq {
                value,
                mask: Some(mask),
            };
            return Some(Step::Cond(Cond::Not(
                self.payload_match(base, offset, len, test)?,
            )));
        }
        if let [t] = rest
            && E(t).is("lookup")
        {
            let te = E(t);
            let vmap = te.reg(expr_attr::LOOKUP_DREG, Register::Verdict);
            let inv = inverted(&te);
            let set = te.string(expr_attr::LOOKUP_SET)?;
            if vmap {
                let key = self.payload_key(base, offset, len)?;
                self.sets.maps.contains_key(&set).then_some(())?;
                return Some(Step::Action(Action::Map { key, map: set }));
            }
            let m = self.payload_match(base, offset, len, Test::Lookup(set))?;
            return Some(Step::Cond(cond(m, inv)));
        }
        let (test, used) = test(rest, len)?;
        (used == rest.len()).then_some(())?;
        Some(Step::Cond(Cond::Is(
            self.payload_match(base, offset, len, test)?,
        )))
    }

    /// The map key a payload load is, for a verdict map.
    fn payload_key(&self, base: PayloadBase, offset: u64, len: usize) -> Option<MapKey> {
        use PayloadBase::{Network, Transport};
        Some(match (base, self.nf?, offset, len) {
            (Network, NfProto::Ipv4, 12, 4) => MapKey::Saddr4,
            (Network, NfProto::Ipv4, 16, 4) => MapKey::Daddr4,
            (Network, NfProto::Ipv6, 8, 16) => MapKey::Saddr6,
            (Network, NfProto::Ipv6, 24, 16) => MapKey::Daddr6,
            (Transport, _, 2, 2) => MapKey::Dport(L4Proto::from_number(self.l4?)?),
            _ => return None,
        })
    }

    fn payload_match(
        &mut self,
        base: PayloadBase,
        offset: u64,
        len: usize,
        test: Test,
    ) -> Option<Match> {
        match base {
            PayloadBase::Network => self.network(offset, len, test),
            PayloadBase::Transport => self.transport(offset, len, test),
            PayloadBase::LinkLayer => None,
        }
    }

    fn network(&mut self, offset: u64, len: usize, test: Test) -> Option<Match> {
        let nf = self.nf?;
        if nf == NfProto::Ipv4 && offset == 9 && len == 1 {
            // `ip protocol tcp`
            let Test::Eq { value, mask: None } = test else {
                return None;
            };
            let p = one_byte(&value)?;
            self.l4 = Some(p);
            return Some(Match::L4Proto(L4Proto::from_number(p)?));
        }
        address_match(nf, offset, len, test, |n| self.sets.ir.get(n).copied())
    }

    fn transport(&mut self, offset: u64, len: usize, test: Test) -> Option<Match> {
        let l4 = L4Proto::from_number(self.l4?)?;
        transport_match(l4, offset, len, test, |n| self.sets.ir.get(n).copied())
    }

    /// `iifname { ... }`, `meta l4proto { ... }`, `ct state { ... }` and their verdict
    /// maps: a set of another key expanded into any-of its elements.
    fn lookup(&mut self, te: &E, field: MapKey, width: usize) -> Option<Step> {
        let name = te.string(expr_attr::LOOKUP_SET)?;
        if te.reg(expr_attr::LOOKUP_DREG, Register::Verdict) {
            self.sets.maps.contains_key(&name).then_some(())?;
            return Some(Step::Action(Action::Map {
                key: field,
                map: name,
            }));
        }
        let inv = inverted(te);
        let (_, keys) = self.sets.raw.get(&name)?;
        if keys.len() > MAX_EXPANDED {
            return None;
        }
        let mut of = keys
            .iter()
            .map(|k| key_match(field, k, width))
            .collect::<Option<Vec<_>>>()?;
        // The kernel's element order is its hash order: sort for a stable reading.
        of.sort_by_cached_key(|m| format!("{m:?}"));
        Some(Step::Cond(Cond::AnyOf { of, negated: inv }))
    }
}

/// One element of a set (or map) keyed by `field`, as a match.
pub fn key_match(field: MapKey, k: &[u8], width: usize) -> Option<Match> {
    Some(match field {
        MapKey::IifName => Match::IifName(ifname(k)?),
        MapKey::OifName => Match::OifName(ifname(k)?),
        MapKey::L4Proto => Match::L4Proto(L4Proto::from_number(one_byte(k)?)?),
        MapKey::CtState if k.len() == width => {
            Match::CtState(CtState(u32::from_ne_bytes(k.try_into().ok()?)))
        }
        _ => return None,
    })
}

/// A lookup with `NFT_LOOKUP_F_INV`: `!= @set`.
fn inverted(te: &E) -> bool {
    te.num(expr_attr::LOOKUP_FLAGS).unwrap_or(0) & u64::from(LOOKUP_F_INV) != 0
}

fn cond(m: Match, negated: bool) -> Cond {
    if negated { Cond::Not(m) } else { Cond::Is(m) }
}

/// `cmp eq` or `cmp neq` on register 1: (data, negated).
fn eq_or_neq<'a>(e: &E<'a>) -> Option<(&'a [u8], bool)> {
    if let Some(d) = e.cmp(CmpOp::Eq) {
        return Some((d, false));
    }
    e.cmp(CmpOp::Neq).map(|d| (d, true))
}

/// A verdict code as the kernel stores it (with its chain) as an action.
pub fn verdict_action(code: u32, chain: Option<String>) -> Action {
    use VerdictCode as V;
    match VerdictCode::try_from(code) {
        Ok(V::Drop) => Action::Drop,
        Ok(V::Accept) => Action::Accept,
        Ok(V::Continue | V::Break) => Action::Continue,
        Ok(V::Return) => Action::Return,
        Ok(jump @ (V::Jump | V::Goto)) => match chain {
            Some(c) if jump == V::Jump => Action::Jump(c),
            Some(c) => Action::Goto(c),
            None => Action::Unknown("a jump without a chain name".into()),
        },
        Ok(V::Stolen) | Err(_) => Action::Unknown(format!("verdict {}", code as i32)),
    }
}

fn verdict(e: &E) -> Action {
    match e.num(expr_attr::IMM_VERDICT) {
        Some(v) => verdict_action(v as u32, e.string(expr_attr::IMM_CHAIN)),
        None => Action::Unknown("an immediate without a verdict".into()),
    }
}

fn reject(e: &E) -> String {
    use RejectType as T;
    let code = e.num(expr_attr::REJECT_CODE).unwrap_or(0);
    let ty = e.num(expr_attr::REJECT_TYPE).unwrap_or(0);
    let known = (u32::try_from(ty).ok()).and_then(|t| T::try_from(t).ok());
    let icmpx = u32::try_from(code)
        .ok()
        .and_then(|c| IcmpxCode::try_from(c).ok());
    match (known, icmpx) {
        (Some(T::TcpRst), _) => "reject with tcp reset".into(),
        (Some(T::IcmpxUnreach), Some(IcmpxCode::AdminProhibited)) => {
            "reject with icmpx admin-prohibited".into()
        }
        (Some(T::IcmpxUnreach), Some(IcmpxCode::PortUnreach)) => {
            "reject with icmpx port-unreachable".into()
        }
        // ICMP port-unreachable (3), nft's default for `reject` in an ip table.
        (Some(T::IcmpUnreach), _) if code == 3 => "reject".into(),
        _ => format!("reject (type {ty} code {code})"),
    }
}

/// The rule as text: conditions in nft's words, unknowns in angle brackets.
pub fn rule_text(conds: &[Cond], action: &Action) -> String {
    let mut parts: Vec<String> = conds.iter().map(crate::ir::host::cond_text).collect();
    let a = crate::ir::host::action_text(action);
    if !a.is_empty() {
        parts.push(a);
    }
    parts.join(" ")
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
