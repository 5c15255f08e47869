//! Reading single nf_tables expressions: attribute access on a `RawExpr` (`E`), numbers
//! read into the kernel vocabulary (`nft::vocab`), and the small forms expressions build
//! (a compare, a masked compare, a range, a lookup, an address prefix, an interface
//! name). `decode` and `host` string these together into IR matches.

use crate::ir::kernel;
use crate::ir::{
    AddrMatch, IfName, L4Proto, LogLevel, Match, NfProto, PortMatch, RateUnit, SetKey, Stmt,
    TypeMatch, Verdict,
};
use crate::nft::expr_attr;
use crate::nft::read::RawExpr;
use crate::nft::vocab::{BitwiseOp, CmpOp, LimitType, RangeOp, Register, VerdictCode};
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

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
pub struct E<'a>(pub &'a RawExpr);

impl<'a> E<'a> {
    pub fn is(&self, name: &str) -> bool {
        self.0.name == name
    }
    pub fn get(&self, a: u32) -> Option<&'a [u8]> {
        self.0
            .attrs
            .iter()
            .find(|(k, _)| *k as u32 == a)
            .map(|(_, v)| v.as_slice())
    }
    /// An integer attribute (libnftnl hands them over in host order).
    pub fn num(&self, a: u32) -> Option<u64> {
        let b = self.get(a)?;
        Some(match b.len() {
            1 => b[0] as u64,
            2 => u16::from_ne_bytes([b[0], b[1]]) as u64,
            4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64,
            8 => u64::from_ne_bytes(b.try_into().ok()?),
            _ => return None,
        })
    }
    /// An integer attribute read into its vocabulary; `None` when unset or unknown.
    pub fn kind<T: TryFrom<u32>>(&self, a: u32) -> Option<T> {
        T::try_from(u32::try_from(self.num(a)?).ok()?).ok()
    }
    /// True when the register attribute `a` names `reg`.
    pub fn reg(&self, a: u32, reg: Register) -> bool {
        self.kind(a) == Some(reg)
    }
    pub fn string(&self, a: u32) -> Option<String> {
        let b = self.get(a)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        Some(String::from_utf8_lossy(b).into_owned())
    }
    /// True when no attribute outside `allowed` is set (so nothing would be lost).
    pub fn only(&self, allowed: &[u32]) -> bool {
        self.0
            .attrs
            .iter()
            .all(|(k, _)| allowed.contains(&(*k as u32)))
    }
    /// `cmp <op> reg 1 <data>`.
    pub fn cmp(&self, op: CmpOp) -> Option<&'a [u8]> {
        (self.is("cmp")
            && self.reg(expr_attr::CMP_SREG, Register::R1)
            && self.kind(expr_attr::CMP_OP) == Some(op))
        .then(|| self.get(expr_attr::CMP_DATA))
        .flatten()
    }
}

/// What a loaded register is tested against.
pub enum Test {
    /// Equal to `value` under `mask` (`None`: the whole register).
    Eq {
        value: Vec<u8>,
        mask: Option<Vec<u8>>,
    },
    /// Inclusive range.
    Range(Vec<u8>, Vec<u8>),
    Lookup(String),
}

/// The test after a payload load of `len` bytes, and how many expressions it used:
/// `[bitwise] cmp eq`, `cmp gte + cmp lte`, `range eq`, or `lookup`.
pub fn test(x: &[RawExpr], len: usize) -> Option<(Test, usize)> {
    let first = E(x.first()?);
    if first.is("bitwise") {
        let mask = bitwise(&first, len)?.to_vec();
        let value = E(x.get(1)?).cmp(CmpOp::Eq)?.to_vec();
        return Some((
            Test::Eq {
                value,
                mask: Some(mask),
            },
            2,
        ));
    }
    if let Some(v) = first.cmp(CmpOp::Eq) {
        return Some((
            Test::Eq {
                value: v.to_vec(),
                mask: None,
            },
            1,
        ));
    }
    if let Some(lo) = first.cmp(CmpOp::Gte) {
        let hi = E(x.get(1)?).cmp(CmpOp::Lte)?;
        return Some((Test::Range(lo.to_vec(), hi.to_vec()), 2));
    }
    if first.is("range")
        && first.only(&[
            expr_attr::RANGE_SREG,
            expr_attr::RANGE_OP,
            expr_attr::RANGE_FROM_DATA,
            expr_attr::RANGE_TO_DATA,
        ])
        && first.reg(expr_attr::RANGE_SREG, Register::R1)
        && first.kind(expr_attr::RANGE_OP) == Some(RangeOp::Eq)
    {
        let lo = first.get(expr_attr::RANGE_FROM_DATA)?.to_vec();
        let hi = first.get(expr_attr::RANGE_TO_DATA)?.to_vec();
        return Some((Test::Range(lo, hi), 1));
    }
    if first.is("lookup")
        && first.only(&[
            expr_attr::LOOKUP_SREG,
            expr_attr::LOOKUP_SET,
            expr_attr::LOOKUP_SET_ID,
            expr_attr::LOOKUP_FLAGS,
        ])
        && first.reg(expr_attr::LOOKUP_SREG, Register::R1)
        && first.num(expr_attr::LOOKUP_FLAGS).unwrap_or(0) == 0
    {
        return Some((Test::Lookup(first.string(expr_attr::LOOKUP_SET)?), 1));
    }
    None
}

/// `bitwise reg 1 = (reg 1 & mask) ^ 0` over `len` bytes -> the mask.
pub fn bitwise<'a>(e: &E<'a>, len: usize) -> Option<&'a [u8]> {
    let ok = e.is("bitwise")
        && e.only(&[
            expr_attr::BITWISE_SREG,
            expr_attr::BITWISE_DREG,
            expr_attr::BITWISE_LEN,
            expr_attr::BITWISE_MASK,
            expr_attr::BITWISE_XOR,
            expr_attr::BITWISE_OP,
        ])
        && e.reg(expr_attr::BITWISE_SREG, Register::R1)
        && e.reg(expr_attr::BITWISE_DREG, Register::R1)
        && e.num(expr_attr::BITWISE_LEN) == Some(len as u64)
        && e.get(expr_attr::BITWISE_OP)
            .is_none_or(|_| e.kind(expr_attr::BITWISE_OP) == Some(BitwiseOp::Bool))
        && e.get(expr_attr::BITWISE_XOR)?.iter().all(|b| *b == 0);
    let mask = e.get(expr_attr::BITWISE_MASK)?;
    (ok && mask.len() == len).then_some(mask)
}

/// A network prefix from a masked compare of the first `len` bytes of an address of
/// `width` bytes: (address value, prefix length). The mask must be leading ones and
/// the value must have no bits outside it (nft writes exactly that).
pub fn prefix(value: &[u8], mask: Option<&[u8]>, len: usize, width: usize) -> Option<(u128, u8)> {
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
pub fn ifname(data: &[u8]) -> Option<IfName> {
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

pub fn immediate(e: &E) -> Option<Verdict> {
    if !e.only(&[expr_attr::IMM_DREG, expr_attr::IMM_VERDICT])
        || !e.reg(expr_attr::IMM_DREG, Register::Verdict)
    {
        return None;
    }
    match e.kind(expr_attr::IMM_VERDICT)? {
        VerdictCode::Accept => Some(Verdict::Accept),
        VerdictCode::Drop => Some(Verdict::Drop),
        _ => None,
    }
}

/// counter, limit, log: the statements the IR has.
pub fn stmt(e: &E) -> Option<Stmt> {
    match e.0.name.as_str() {
        "counter" => Some(Stmt::Counter),
        "limit" => {
            let ok = e.only(&[
                expr_attr::LIMIT_RATE,
                expr_attr::LIMIT_UNIT,
                expr_attr::LIMIT_BURST,
                expr_attr::LIMIT_TYPE,
                expr_attr::LIMIT_FLAGS,
            ]) && e
                .get(expr_attr::LIMIT_TYPE)
                .is_none_or(|_| e.kind(expr_attr::LIMIT_TYPE) == Some(LimitType::Pkts))
                && e.num(expr_attr::LIMIT_FLAGS).unwrap_or(0) == 0;
            let unit = match e.num(expr_attr::LIMIT_UNIT)? {
                1 => RateUnit::Second,
                60 => RateUnit::Minute,
                3600 => RateUnit::Hour,
                86400 => RateUnit::Day,
                _ => return None,
            };
            ok.then_some(Stmt::Limit {
                rate: e.num(expr_attr::LIMIT_RATE)?,
                unit,
                burst: u32::try_from(e.num(expr_attr::LIMIT_BURST).unwrap_or(0)).ok()?,
            })
        }
        "log" => log(e),
        _ => None,
    }
}

/// `log [prefix P] [level L] [group G]`: the kernel reports a level for a plain log (4
/// when none was set) and snaplen/qthreshold 0 for a group log; anything else has no IR
/// form.
fn log(e: &E) -> Option<Stmt> {
    let group = e.num(expr_attr::LOG_GROUP);
    let level = match group {
        Some(_) => {
            let defaults = e.num(expr_attr::LOG_SNAPLEN).unwrap_or(0) == 0
                && e.num(expr_attr::LOG_QTHRESHOLD).unwrap_or(0) == 0
                && e.get(expr_attr::LOG_LEVEL).is_none();
            defaults.then_some(LogLevel::Warn)?
        }
        None => {
            let plain = e.get(expr_attr::LOG_SNAPLEN).is_none()
                && e.get(expr_attr::LOG_QTHRESHOLD).is_none();
            plain.then_some(())?;
            kernel::log_level_of(e.num(expr_attr::LOG_LEVEL))?
        }
    };
    (e.num(expr_attr::LOG_FLAGS).unwrap_or(0) == 0).then_some(())?;
    Some(Stmt::Log {
        prefix: e.string(expr_attr::LOG_PREFIX),
        group: group.map(u16::try_from).transpose().ok()?,
        level,
    })
}

pub fn one_byte(d: &[u8]) -> Option<u8> {
    match d {
        [b] => Some(*b),
        _ => None,
    }
}

pub fn be16(d: &[u8]) -> Option<u16> {
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

/// `ip saddr`, `ip6 daddr` and the like: the payload at `offset` of the network header
/// of layer-3 protocol `nf`, tested against a prefix or looked up in a set (`set_key`
/// gives a named set's key type). `None` for any other field or a set of another type.
pub fn address_match(
    nf: NfProto,
    offset: u64,
    len: usize,
    test: Test,
    set_key: impl Fn(&str) -> Option<SetKey>,
) -> Option<Match> {
    let (daddr, width) = match (nf, offset) {
        (NfProto::Ipv4, 12) => (false, 4),
        (NfProto::Ipv4, 16) => (true, 4),
        (NfProto::Ipv6, 8) => (false, 16),
        (NfProto::Ipv6, 24) => (true, 16),
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
            (set_key(&name) == Some(want)).then_some(())?;
            if v6 {
                AddrMatch::Set6(name)
            } else {
                AddrMatch::Set4(name)
            }
        }
        Test::Range(lo, hi) if lo.len() == width && hi.len() == width => {
            let (lo, hi) = (key_value(&lo)?, key_value(&hi)?);
            (lo < hi).then_some(())?;
            if v6 {
                AddrMatch::Range6(Ipv6Addr::from(lo), Ipv6Addr::from(hi))
            } else {
                let v4 = |v: u128| Some(Ipv4Addr::from(u32::try_from(v).ok()?));
                AddrMatch::Range4(v4(lo)?, v4(hi)?)
            }
        }
        _ => return None,
    };
    Some(if daddr {
        Match::Daddr(a)
    } else {
        Match::Saddr(a)
    })
}

/// `tcp dport`, `icmp type` and the like: the payload at `offset` of the transport
/// header of `l4`, tested against a port, a port range or a type, or looked up in a set
/// (`set_key` gives a named set's key type). `None` for any other field or set.
pub fn transport_match(
    l4: L4Proto,
    offset: u64,
    len: usize,
    test: Test,
    set_key: impl Fn(&str) -> Option<SetKey>,
) -> Option<Match> {
    Some(match (l4, offset, len) {
        (L4Proto::Tcp | L4Proto::Udp | L4Proto::Sctp, 2, 2) => {
            Match::Dport(l4, port_test(test, set_key)?)
        }
        (L4Proto::Icmp, 0, 1) => Match::IcmpType(type_test(test, SetKey::IcmpType, set_key)?),
        (L4Proto::Icmpv6, 0, 1) => Match::Icmpv6Type(type_test(test, SetKey::Icmpv6Type, set_key)?),
        _ => return None,
    })
}

fn port_test(test: Test, set_key: impl Fn(&str) -> Option<SetKey>) -> Option<PortMatch> {
    Some(match test {
        Test::Eq { value, mask: None } => PortMatch::Port(be16(&value)?),
        Test::Range(lo, hi) => match (be16(&lo)?, be16(&hi)?) {
            (a, b) if a == b => PortMatch::Port(a),
            (a, b) if a < b => PortMatch::Range(a, b),
            _ => return None,
        },
        Test::Lookup(name) if set_key(&name) == Some(SetKey::InetService) => PortMatch::Set(name),
        _ => return None,
    })
}

fn type_test(
    test: Test,
    key: SetKey,
    set_key: impl Fn(&str) -> Option<SetKey>,
) -> Option<TypeMatch> {
    Some(match test {
        Test::Eq { value, mask: None } => TypeMatch::Type(one_byte(&value)?),
        Test::Lookup(name) if set_key(&name) == Some(key) => TypeMatch::Set(name),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn prefixes_from_masks() {
        assert_eq!(
            prefix(&[172, 16], Some(&[255, 240]), 2, 4),
            Some((0xac10_0000, 12))
        );
        assert_eq!(prefix(&[10, 0, 0, 1], None, 4, 4), Some((0x0a00_0001, 32)));
        // Non-contiguous mask, or value bits outside the mask: no prefix.
        assert_eq!(prefix(&[10, 0], Some(&[255, 1]), 2, 4), None);
        assert_eq!(prefix(&[10, 1], Some(&[255, 0]), 2, 4), None);
    }

    #[test]
    fn interface_names_exact_and_wildcard() {
        let mut lo = [0u8; 16];
        lo[..2].copy_from_slice(b"lo");
        assert_eq!(
            ifname(&lo).map(|i| (i.name, i.wildcard)),
            Some(("lo".into(), false))
        );
        assert_eq!(ifname(b"lo\0").map(|i| i.wildcard), Some(false));
        assert_eq!(
            ifname(b"virbr").map(|i| (i.name, i.wildcard)),
            Some(("virbr".into(), true))
        );
        assert_eq!(ifname(b"a\0b"), None);
    }

    #[test]
    fn udata_tlv_walk() {
        assert_eq!(tlv(b"\x07\x01x\x00\x02ab", 0), Some(&b"ab"[..]));
        assert_eq!(tlv(b"\x00\x09ab", 0), None);
    }
}
