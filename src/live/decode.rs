//! Expression sequences -> `ir::Rule`: the exact inverse of what nft (and
//! `emit::netlink`) generate for each IR form. Anything that is not exactly one of
//! those forms becomes a rule holding `Stmt::Foreign` with libnftnl's text of every
//! expression: decoding never drops or guesses.

use super::ffi::{RawExpr, RawRule};
use crate::ir::{
    AddrMatch, CtState, IfName, L4Proto, Match, NfProto, PortMatch, RateUnit, RejectWith, Rule,
    SetKey, Stmt, TypeMatch, Verdict,
};
use ipnet::{Ipv4Net, Ipv6Net};
use nftnl_sys as sys;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

// Kernel constants (linux/netfilter/nf_tables.h, linux/netfilter.h).
const META_IIFNAME: u64 = 6;
const META_OIFNAME: u64 = 7;
const META_NFPROTO: u64 = 15;
const META_L4PROTO: u64 = 16;
const CT_STATE: u64 = 0;
const CMP_EQ: u64 = 0;
const CMP_NEQ: u64 = 1;
const CMP_LTE: u64 = 3;
const CMP_GTE: u64 = 5;
const BASE_NETWORK: u64 = 1;
const BASE_TRANSPORT: u64 = 2;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NF_DROP: u64 = 0;
const NF_ACCEPT: u64 = 1;
const REJECT_TCP_RST: u64 = 1;
const REJECT_ICMPX: u64 = 2;
const ICMPX_PORT_UNREACH: u64 = 1;
const ICMPX_ADMIN_PROHIBITED: u64 = 3;
/// `LOGLEVEL_WARNING`: what the kernel reports for a `log` without `level`.
const LOG_LEVEL_DEFAULT: u64 = 4;
/// `NFTNL_UDATA_RULE_COMMENT`.
const UDATA_RULE_COMMENT: u8 = 0;

/// One rule of our table. `sets` holds the named sets the IR can express (name -> key);
/// a lookup into any other set (anonymous, a map, another type) makes the rule foreign.
pub fn rule(raw: &RawRule, sets: &HashMap<String, SetKey>) -> Rule {
    let comment = raw.userdata.as_deref().and_then(comment);
    match Decoder::new(sets).run(&raw.exprs) {
        Some((matches, stmts, verdict)) => Rule {
            matches,
            stmts,
            verdict,
            comment,
            origin: Vec::new(),
        },
        None => Rule {
            matches: Vec::new(),
            stmts: vec![Stmt::Foreign(foreign_text(&raw.exprs))],
            verdict: None,
            comment,
            origin: Vec::new(),
        },
    }
}

/// libnftnl's text of every expression on one line; counter values are left out so
/// that the text does not change as packets flow.
pub fn foreign_text(exprs: &[RawExpr]) -> String {
    exprs
        .iter()
        .map(|e| match e.name.as_str() {
            "counter" => "[ counter ]",
            _ => e.text.trim(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rule comment in the rule's userdata TLVs (type u8, length u8, value).
pub fn comment(udata: &[u8]) -> Option<String> {
    tlv(udata, UDATA_RULE_COMMENT).map(|v| {
        let v = v.strip_suffix(&[0]).unwrap_or(v);
        String::from_utf8_lossy(v).into_owned()
    })
}

/// The value of the first TLV of `kind` in libnftnl's userdata encoding.
pub fn tlv(mut data: &[u8], kind: u8) -> Option<&[u8]> {
    while data.len() >= 2 {
        let (t, len) = (data[0], data[1] as usize);
        let value = data.get(2..2 + len)?;
        if t == kind {
            return Some(value);
        }
        data = &data[2 + len..];
    }
    None
}

/// Attribute access on one expression.
struct E<'a>(&'a RawExpr);

impl<'a> E<'a> {
    fn is(&self, name: &str) -> bool {
        self.0.name == name
    }
    fn get(&self, a: u32) -> Option<&'a [u8]> {
        self.0
            .attrs
            .iter()
            .find(|(k, _)| *k as u32 == a)
            .map(|(_, v)| v.as_slice())
    }
    /// An integer attribute (libnftnl hands them over in host order).
    fn num(&self, a: u32) -> Option<u64> {
        let b = self.get(a)?;
        Some(match b.len() {
            1 => b[0] as u64,
            2 => u16::from_ne_bytes([b[0], b[1]]) as u64,
            4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64,
            8 => u64::from_ne_bytes(b.try_into().ok()?),
            _ => return None,
        })
    }
    fn string(&self, a: u32) -> Option<String> {
        let b = self.get(a)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        Some(String::from_utf8_lossy(b).into_owned())
    }
    /// True when no attribute outside `allowed` is set (so nothing would be lost).
    fn only(&self, allowed: &[u32]) -> bool {
        self.0
            .attrs
            .iter()
            .all(|(k, _)| allowed.contains(&(*k as u32)))
    }
    /// `cmp <op> reg 1 <data>`.
    fn cmp(&self, op: u64) -> Option<&'a [u8]> {
        (self.is("cmp")
            && self.num(sys::NFTNL_EXPR_CMP_SREG) == Some(1)
            && self.num(sys::NFTNL_EXPR_CMP_OP) == Some(op))
        .then(|| self.get(sys::NFTNL_EXPR_CMP_DATA))
        .flatten()
    }
}

/// What a loaded register is tested against.
enum Test {
    /// Equal to `value` under `mask` (`None`: the whole register).
    Eq {
        value: Vec<u8>,
        mask: Option<Vec<u8>>,
    },
    /// Inclusive range.
    Range(Vec<u8>, Vec<u8>),
    Lookup(String),
}

type Decoded = (Vec<Match>, Vec<Stmt>, Option<Verdict>);

struct Decoder<'s> {
    sets: &'s HashMap<String, SetKey>,
    out: Vec<Match>,
    stmts: Vec<Stmt>,
    verdict: Option<Verdict>,
    /// The layer-3 protocol established by a `meta nfproto` match, and whether that
    /// match is still the last one decoded (then it is the dependency nft writes
    /// before a network-header payload, implied by it).
    nf: Option<u8>,
    l4: Option<u8>,
}

impl<'s> Decoder<'s> {
    fn new(sets: &'s HashMap<String, SetKey>) -> Self {
        Decoder {
            sets,
            out: Vec::new(),
            stmts: Vec::new(),
            verdict: None,
            nf: None,
            l4: None,
        }
    }

    fn run(mut self, exprs: &[RawExpr]) -> Option<Decoded> {
        let mut i = 0;
        while i < exprs.len() {
            if self.verdict.is_some() {
                return None;
            }
            i += self.step(&exprs[i..])?;
        }
        Some((self.out, self.stmts, self.verdict))
    }

    /// Decodes the form starting at `x[0]`; returns how many expressions it used.
    fn step(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        let is_match = e.is("meta") || e.is("ct") || e.is("payload");
        if is_match && !self.stmts.is_empty() {
            return None; // a match after a statement has no IR form
        }
        match x[0].name.as_str() {
            "meta" => self.meta(x),
            "ct" => self.ct(x),
            "payload" => self.payload(x),
            "immediate" => {
                self.verdict = Some(immediate(&e)?);
                Some(1)
            }
            "reject" => {
                self.verdict = Some(Verdict::Reject(self.reject(&e)?));
                Some(1)
            }
            _ => {
                self.stmts.push(stmt(&e)?);
                Some(1)
            }
        }
    }

    fn meta(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        if !e.only(&[sys::NFTNL_EXPR_META_KEY, sys::NFTNL_EXPR_META_DREG])
            || e.num(sys::NFTNL_EXPR_META_DREG) != Some(1)
        {
            return None;
        }
        let data = E(x.get(1)?).cmp(CMP_EQ)?;
        let m = match e.num(sys::NFTNL_EXPR_META_KEY)? {
            META_NFPROTO => {
                let p = one_byte(data)?;
                self.nf = Some(p);
                Match::NfProto(match p {
                    NFPROTO_IPV4 => NfProto::Ipv4,
                    NFPROTO_IPV6 => NfProto::Ipv6,
                    _ => return None,
                })
            }
            META_L4PROTO => {
                let p = one_byte(data)?;
                self.l4 = Some(p);
                Match::L4Proto(L4Proto::from_number(p)?)
            }
            META_IIFNAME => Match::IifName(ifname(data)?),
            META_OIFNAME => Match::OifName(ifname(data)?),
            _ => return None,
        };
        self.out.push(m);
        Some(2)
    }

    /// `ct state X`: load, mask with the state bits, compare != 0.
    fn ct(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        if !e.only(&[sys::NFTNL_EXPR_CT_KEY, sys::NFTNL_EXPR_CT_DREG])
            || e.num(sys::NFTNL_EXPR_CT_KEY) != Some(CT_STATE)
            || e.num(sys::NFTNL_EXPR_CT_DREG) != Some(1)
        {
            return None;
        }
        let mask = bitwise(&E(x.get(1)?), 4)?;
        let zero = E(x.get(2)?).cmp(CMP_NEQ)?;
        if zero != [0u8; 4] {
            return None;
        }
        let bits = u32::from_ne_bytes(mask.try_into().ok()?);
        self.out.push(Match::CtState(CtState(bits)));
        Some(3)
    }

    fn payload(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        if !e.only(&[
            sys::NFTNL_EXPR_PAYLOAD_DREG,
            sys::NFTNL_EXPR_PAYLOAD_BASE,
            sys::NFTNL_EXPR_PAYLOAD_OFFSET,
            sys::NFTNL_EXPR_PAYLOAD_LEN,
        ]) || e.num(sys::NFTNL_EXPR_PAYLOAD_DREG) != Some(1)
        {
            return None;
        }
        let base = e.num(sys::NFTNL_EXPR_PAYLOAD_BASE)?;
        let offset = e.num(sys::NFTNL_EXPR_PAYLOAD_OFFSET)?;
        let len = e.num(sys::NFTNL_EXPR_PAYLOAD_LEN)? as usize;
        let (test, used) = test(&x[1..], len)?;
        match base {
            BASE_NETWORK => self.network(offset, len, test)?,
            BASE_TRANSPORT => self.transport(offset, len, test)?,
            _ => return None,
        }
        Some(1 + used)
    }

    /// `ip saddr ...` etc. The `meta nfproto` before it is nft's dependency: implied.
    fn network(&mut self, offset: u64, len: usize, test: Test) -> Option<()> {
        let nf = self.nf?;
        let (daddr, width) = match (nf, offset) {
            (NFPROTO_IPV4, 12) => (false, 4),
            (NFPROTO_IPV4, 16) => (true, 4),
            (NFPROTO_IPV6, 8) => (false, 16),
            (NFPROTO_IPV6, 24) => (true, 16),
            _ => return None,
        };
        let v6 = width == 16;
        let a = match test {
            Test::Eq { value, mask } => {
                let (addr, plen) = prefix(&value, mask.as_deref(), len, width)?;
                if v6 {
                    AddrMatch::V6(Ipv6Net::new(Ipv6Addr::from(addr), plen).ok()?)
                } else {
                    AddrMatch::V4(Ipv4Net::new(Ipv4Addr::from(addr as u32), plen).ok()?)
                }
            }
            Test::Lookup(name) if len == width => {
                let want = if v6 {
                    SetKey::Ipv6Addr
                } else {
                    SetKey::Ipv4Addr
                };
                (self.sets.get(&name) == Some(&want)).then_some(())?;
                if v6 {
                    AddrMatch::Set6(name)
                } else {
                    AddrMatch::Set4(name)
                }
            }
            _ => return None,
        };
        self.drop_dependency(|m| matches!(m, Match::NfProto(_)));
        self.out.push(if daddr {
            Match::Daddr(a)
        } else {
            Match::Saddr(a)
        });
        Some(())
    }

    /// `tcp dport ...`, `icmp type ...`: the `meta l4proto` (and for ICMP the
    /// `meta nfproto`) right before are nft's dependencies, implied by the match.
    fn transport(&mut self, offset: u64, len: usize, test: Test) -> Option<()> {
        let l4 = L4Proto::from_number(self.l4?)?;
        let m = match (l4, offset, len) {
            (L4Proto::Tcp | L4Proto::Udp | L4Proto::Sctp, 2, 2) => {
                Match::Dport(l4, self.port_test(test)?)
            }
            (L4Proto::Icmp, 0, 1) if self.nf == Some(NFPROTO_IPV4) => {
                Match::IcmpType(self.type_test(test, SetKey::IcmpType)?)
            }
            (L4Proto::Icmpv6, 0, 1) if self.nf == Some(NFPROTO_IPV6) => {
                Match::Icmpv6Type(self.type_test(test, SetKey::Icmpv6Type)?)
            }
            _ => return None,
        };
        self.drop_dependency(|m| matches!(m, Match::L4Proto(_)));
        if matches!(m, Match::IcmpType(_) | Match::Icmpv6Type(_)) {
            self.drop_dependency(|m| matches!(m, Match::NfProto(_)));
        }
        self.out.push(m);
        Some(())
    }

    /// Removes the last decoded match when it is the dependency nft writes right before
    /// a payload match (an earlier, non-adjacent one was written explicitly: kept).
    fn drop_dependency(&mut self, is_dep: impl Fn(&Match) -> bool) {
        if self.out.last().is_some_and(is_dep) {
            self.out.pop();
        }
    }

    fn port_test(&self, test: Test) -> Option<PortMatch> {
        Some(match test {
            Test::Eq { value, mask: None } => PortMatch::Port(be16(&value)?),
            Test::Range(lo, hi) => match (be16(&lo)?, be16(&hi)?) {
                (a, b) if a == b => PortMatch::Port(a),
                (a, b) if a < b => PortMatch::Range(a, b),
                _ => return None,
            },
            Test::Lookup(name) if self.sets.get(&name) == Some(&SetKey::InetService) => {
                PortMatch::Set(name)
            }
            _ => return None,
        })
    }

    fn type_test(&self, test: Test, key: SetKey) -> Option<TypeMatch> {
        Some(match test {
            Test::Eq { value, mask: None } => TypeMatch::Type(one_byte(&value)?),
            Test::Lookup(name) if self.sets.get(&name) == Some(&key) => TypeMatch::Set(name),
            _ => return None,
        })
    }

    fn reject(&self, e: &E) -> Option<RejectWith> {
        if !e.only(&[sys::NFTNL_EXPR_REJECT_TYPE, sys::NFTNL_EXPR_REJECT_CODE]) {
            return None;
        }
        let code = e.num(sys::NFTNL_EXPR_REJECT_CODE).unwrap_or(0);
        match (e.num(sys::NFTNL_EXPR_REJECT_TYPE)?, code) {
            // Only meaningful for TCP packets: nft writes it after a TCP match.
            (REJECT_TCP_RST, 0) if self.l4 == Some(6) => Some(RejectWith::TcpReset),
            (REJECT_ICMPX, ICMPX_ADMIN_PROHIBITED) => Some(RejectWith::IcmpxAdminProhibited),
            (REJECT_ICMPX, ICMPX_PORT_UNREACH) => Some(RejectWith::IcmpxPortUnreachable),
            _ => None,
        }
    }
}

/// The test after a payload load of `len` bytes, and how many expressions it used:
/// `[bitwise] cmp eq`, `cmp gte + cmp lte`, `range eq`, or `lookup`.
fn test(x: &[RawExpr], len: usize) -> Option<(Test, usize)> {
    let first = E(x.first()?);
    if first.is("bitwise") {
        let mask = bitwise(&first, len)?.to_vec();
        let value = E(x.get(1)?).cmp(CMP_EQ)?.to_vec();
        return Some((
            Test::Eq {
                value,
                mask: Some(mask),
            },
            2,
        ));
    }
    if let Some(v) = first.cmp(CMP_EQ) {
        return Some((
            Test::Eq {
                value: v.to_vec(),
                mask: None,
            },
            1,
        ));
    }
    if let Some(lo) = first.cmp(CMP_GTE) {
        let hi = E(x.get(1)?).cmp(CMP_LTE)?;
        return Some((Test::Range(lo.to_vec(), hi.to_vec()), 2));
    }
    if first.is("range")
        && first.only(&[
            sys::NFTNL_EXPR_RANGE_SREG,
            sys::NFTNL_EXPR_RANGE_OP,
            sys::NFTNL_EXPR_RANGE_FROM_DATA,
            sys::NFTNL_EXPR_RANGE_TO_DATA,
        ])
        && first.num(sys::NFTNL_EXPR_RANGE_SREG) == Some(1)
        && first.num(sys::NFTNL_EXPR_RANGE_OP) == Some(0)
    {
        let lo = first.get(sys::NFTNL_EXPR_RANGE_FROM_DATA)?.to_vec();
        let hi = first.get(sys::NFTNL_EXPR_RANGE_TO_DATA)?.to_vec();
        return Some((Test::Range(lo, hi), 1));
    }
    if first.is("lookup")
        && first.only(&[
            sys::NFTNL_EXPR_LOOKUP_SREG,
            sys::NFTNL_EXPR_LOOKUP_SET,
            sys::NFTNL_EXPR_LOOKUP_SET_ID,
            sys::NFTNL_EXPR_LOOKUP_FLAGS,
        ])
        && first.num(sys::NFTNL_EXPR_LOOKUP_SREG) == Some(1)
        && first.num(sys::NFTNL_EXPR_LOOKUP_FLAGS).unwrap_or(0) == 0
    {
        return Some((Test::Lookup(first.string(sys::NFTNL_EXPR_LOOKUP_SET)?), 1));
    }
    None
}

/// `bitwise reg 1 = (reg 1 & mask) ^ 0` over `len` bytes -> the mask.
fn bitwise<'a>(e: &E<'a>, len: usize) -> Option<&'a [u8]> {
    let ok = e.is("bitwise")
        && e.only(&[
            sys::NFTNL_EXPR_BITWISE_SREG,
            sys::NFTNL_EXPR_BITWISE_DREG,
            sys::NFTNL_EXPR_BITWISE_LEN,
            sys::NFTNL_EXPR_BITWISE_MASK,
            sys::NFTNL_EXPR_BITWISE_XOR,
            sys::NFTNL_EXPR_BITWISE_OP,
        ])
        && e.num(sys::NFTNL_EXPR_BITWISE_SREG) == Some(1)
        && e.num(sys::NFTNL_EXPR_BITWISE_DREG) == Some(1)
        && e.num(sys::NFTNL_EXPR_BITWISE_LEN) == Some(len as u64)
        && e.num(sys::NFTNL_EXPR_BITWISE_OP).unwrap_or(0) == 0 // NFT_BITWISE_BOOL
        && e.get(sys::NFTNL_EXPR_BITWISE_XOR)?.iter().all(|b| *b == 0);
    let mask = e.get(sys::NFTNL_EXPR_BITWISE_MASK)?;
    (ok && mask.len() == len).then_some(mask)
}

/// A network prefix from a masked compare of the first `len` bytes of an address of
/// `width` bytes: (address value, prefix length). The mask must be leading ones and
/// the value must have no bits outside it (nft writes exactly that).
fn prefix(value: &[u8], mask: Option<&[u8]>, len: usize, width: usize) -> Option<(u128, u8)> {
    if len == 0 || len > width || value.len() != len {
        return None;
    }
    let plen = match mask {
        None => 8 * len as u32,
        Some(m) => {
            let ones: u32 = m.iter().map(|b| b.count_ones()).sum();
            let contiguous = m.iter().enumerate().all(|(i, b)| {
                let want_bits = ones.saturating_sub(8 * i as u32).min(8);
                *b == !(0xffu8.checked_shr(want_bits).unwrap_or(0))
            });
            if !contiguous || value.iter().zip(m).any(|(v, m)| v & !m != 0) {
                return None;
            }
            ones
        }
    };
    let mut full = [0u8; 16];
    full[..len].copy_from_slice(value);
    let addr = u128::from_be_bytes(full) >> (8 * (16 - width));
    Some((addr, plen as u8))
}

/// An interface name compare: with a NUL it is exact (nft pads to IFNAMSIZ; a
/// writer may stop after the NUL), without one it is a `name*` prefix match.
fn ifname(data: &[u8]) -> Option<IfName> {
    let (name, wildcard) = match data.iter().position(|b| *b == 0) {
        Some(nul) if data[nul..].iter().all(|b| *b == 0) => (&data[..nul], false),
        Some(_) => return None,
        None => (data, true),
    };
    Some(IfName {
        name: String::from_utf8(name.to_vec()).ok()?,
        wildcard,
    })
}

fn immediate(e: &E) -> Option<Verdict> {
    if !e.only(&[sys::NFTNL_EXPR_IMM_DREG, sys::NFTNL_EXPR_IMM_VERDICT])
        || e.num(sys::NFTNL_EXPR_IMM_DREG) != Some(0)
    {
        return None;
    }
    match e.num(sys::NFTNL_EXPR_IMM_VERDICT)? {
        NF_ACCEPT => Some(Verdict::Accept),
        NF_DROP => Some(Verdict::Drop),
        _ => None,
    }
}

/// counter, limit, log: the statements the IR has.
fn stmt(e: &E) -> Option<Stmt> {
    match e.0.name.as_str() {
        "counter" => Some(Stmt::Counter),
        "limit" => {
            let ok = e.only(&[
                sys::NFTNL_EXPR_LIMIT_RATE,
                sys::NFTNL_EXPR_LIMIT_UNIT,
                sys::NFTNL_EXPR_LIMIT_BURST,
                sys::NFTNL_EXPR_LIMIT_TYPE,
                sys::NFTNL_EXPR_LIMIT_FLAGS,
            ]) && e.num(sys::NFTNL_EXPR_LIMIT_TYPE).unwrap_or(0) == 0
                && e.num(sys::NFTNL_EXPR_LIMIT_FLAGS).unwrap_or(0) == 0;
            let unit = match e.num(sys::NFTNL_EXPR_LIMIT_UNIT)? {
                1 => RateUnit::Second,
                60 => RateUnit::Minute,
                3600 => RateUnit::Hour,
                86400 => RateUnit::Day,
                _ => return None,
            };
            ok.then_some(Stmt::Limit {
                rate: e.num(sys::NFTNL_EXPR_LIMIT_RATE)?,
                unit,
                burst: u32::try_from(e.num(sys::NFTNL_EXPR_LIMIT_BURST).unwrap_or(0)).ok()?,
            })
        }
        "log" => log(e),
        _ => None,
    }
}

/// `log [prefix P] [group G]`: the kernel reports level 4 for a plain log and
/// snaplen/qthreshold 0 for a group log; anything else has no IR form.
fn log(e: &E) -> Option<Stmt> {
    let group = e.num(sys::NFTNL_EXPR_LOG_GROUP);
    let defaults = match group {
        Some(_) => {
            e.num(sys::NFTNL_EXPR_LOG_SNAPLEN).unwrap_or(0) == 0
                && e.num(sys::NFTNL_EXPR_LOG_QTHRESHOLD).unwrap_or(0) == 0
                && e.get(sys::NFTNL_EXPR_LOG_LEVEL).is_none()
        }
        None => {
            e.num(sys::NFTNL_EXPR_LOG_LEVEL)
                .unwrap_or(LOG_LEVEL_DEFAULT)
                == LOG_LEVEL_DEFAULT
                && e.get(sys::NFTNL_EXPR_LOG_SNAPLEN).is_none()
                && e.get(sys::NFTNL_EXPR_LOG_QTHRESHOLD).is_none()
        }
    };
    (defaults && e.num(sys::NFTNL_EXPR_LOG_FLAGS).unwrap_or(0) == 0).then_some(())?;
    Some(Stmt::Log {
        prefix: e.string(sys::NFTNL_EXPR_LOG_PREFIX),
        group: group.map(u16::try_from).transpose().ok()?,
    })
}

fn one_byte(d: &[u8]) -> Option<u8> {
    match d {
        [b] => Some(*b),
        _ => None,
    }
}

fn be16(d: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(d.try_into().ok()?))
}

/// The IR's interval value of a big-endian set key.
pub fn key_value(key: &[u8]) -> Option<u128> {
    if key.is_empty() || key.len() > 16 {
        return None;
    }
    let mut full = [0u8; 16];
    full[16 - key.len()..].copy_from_slice(key);
    Some(u128::from_be_bytes(full))
}

/// Whether a (foreign) rule can drop a packet: a drop verdict, a reject, a verdict
/// map (a lookup into register 0) or a queue (which drops when no one listens).
pub fn can_drop(exprs: &[RawExpr]) -> bool {
    exprs.iter().any(|x| {
        let e = E(x);
        match x.name.as_str() {
            "reject" | "queue" => true,
            "immediate" => {
                e.num(sys::NFTNL_EXPR_IMM_DREG) == Some(0)
                    && e.num(sys::NFTNL_EXPR_IMM_VERDICT) == Some(NF_DROP)
            }
            "lookup" => e.num(sys::NFTNL_EXPR_LOOKUP_DREG) == Some(0),
            _ => false,
        }
    })
}

/// Chains a rule jumps or goes to.
pub fn jump_targets(exprs: &[RawExpr]) -> Vec<String> {
    exprs
        .iter()
        .filter(|x| x.name == "immediate")
        .filter_map(|x| E(x).string(sys::NFTNL_EXPR_IMM_CHAIN))
        .collect()
}
