//! Expression sequences -> `ir::Rule`: the exact inverse of what nft (and
//! `emit::netlink`) generate for each IR form. Anything that is not exactly one of
//! those forms becomes a rule holding `Stmt::Foreign` with libnftnl's text of every
//! expression: decoding never drops or guesses.

use super::expr_read::*;
use crate::ir::kernel::{nfproto_of, reject_of};
use crate::ir::{CtState, L4Proto, Match, NfProto, RejectWith, Rule, SetKey, Stmt, Verdict};
use crate::nft::expr::DYNSET_OP_UPDATE;
use crate::nft::expr_attr;
use crate::nft::read::{RawExpr, RawRule};
use crate::nft::vocab::{CmpOp, CtKey, MetaKey, PayloadBase, Register, UDATA_RULE_COMMENT};
use std::collections::HashMap;

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

type Decoded = (Vec<Match>, Vec<Stmt>, Option<Verdict>);

struct Decoder<'s> {
    sets: &'s HashMap<String, SetKey>,
    out: Vec<Match>,
    stmts: Vec<Stmt>,
    verdict: Option<Verdict>,
    /// The layer-3 protocol established by a `meta nfproto` match, and whether that
    /// match is still the last one decoded (then it is the dependency nft writes
    /// before a network-header payload, implied by it).
    nf: Option<NfProto>,
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
            "payload" if x.get(1).is_some_and(|n| n.name == "dynset") => self.source_limit(x),
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
        if !e.only(&[expr_attr::META_KEY, expr_attr::META_DREG])
            || !e.reg(expr_attr::META_DREG, Register::R1)
        {
            return None;
        }
        let data = E(x.get(1)?).cmp(CmpOp::Eq)?;
        let m = match e.kind(expr_attr::META_KEY)? {
            MetaKey::NfProto => {
                let p = nfproto_of(u32::from(one_byte(data)?))?;
                self.nf = Some(p);
                Match::NfProto(p)
            }
            MetaKey::L4Proto => {
                let p = one_byte(data)?;
                self.l4 = Some(p);
                Match::L4Proto(L4Proto::from_number(p)?)
            }
            MetaKey::IifName => Match::IifName(ifname(data)?),
            MetaKey::OifName => Match::OifName(ifname(data)?),
            MetaKey::Protocol => return None,
        };
        self.out.push(m);
        Some(2)
    }

    /// `ct state X`: load, mask with the state bits, compare != 0.
    fn ct(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        if !e.only(&[expr_attr::CT_KEY, expr_attr::CT_DREG])
            || e.kind(expr_attr::CT_KEY) != Some(CtKey::State)
            || !e.reg(expr_attr::CT_DREG, Register::R1)
        {
            return None;
        }
        let mask = bitwise(&E(x.get(1)?), 4)?;
        let zero = E(x.get(2)?).cmp(CmpOp::Neq)?;
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
            expr_attr::PAYLOAD_DREG,
            expr_attr::PAYLOAD_BASE,
            expr_attr::PAYLOAD_OFFSET,
            expr_attr::PAYLOAD_LEN,
        ]) || !e.reg(expr_attr::PAYLOAD_DREG, Register::R1)
        {
            return None;
        }
        let base = e.kind(expr_attr::PAYLOAD_BASE)?;
        let offset = e.num(expr_attr::PAYLOAD_OFFSET)?;
        let len = e.num(expr_attr::PAYLOAD_LEN)? as usize;
        let (test, used) = test(&x[1..], len)?;
        match base {
            PayloadBase::Network => self.network(offset, len, test)?,
            PayloadBase::Transport => self.transport(offset, len, test)?,
            PayloadBase::LinkLayer => return None,
        }
        Some(1 + used)
    }

    /// `ip saddr` into register 1, then `update @set { limit ... }` on a dynamic set of that
    /// family's addresses: a `per source` limit.
    fn source_limit(&mut self, x: &[RawExpr]) -> Option<usize> {
        let e = E(&x[0]);
        let plain = e.only(&[
            expr_attr::PAYLOAD_DREG,
            expr_attr::PAYLOAD_BASE,
            expr_attr::PAYLOAD_OFFSET,
            expr_attr::PAYLOAD_LEN,
        ]) && e.reg(expr_attr::PAYLOAD_DREG, Register::R1)
            && e.kind(expr_attr::PAYLOAD_BASE) == Some(PayloadBase::Network);
        let family = self.nf?;
        let (off, len, key) = match family {
            NfProto::Ipv4 => (12, 4, SetKey::Ipv4Addr),
            NfProto::Ipv6 => (8, 16, SetKey::Ipv6Addr),
        };
        let at = (
            e.num(expr_attr::PAYLOAD_OFFSET)?,
            e.num(expr_attr::PAYLOAD_LEN)?,
        );
        let d = E(&x[1]);
        let update = d.only(&[
            expr_attr::DYNSET_SREG_KEY,
            expr_attr::DYNSET_OP,
            expr_attr::DYNSET_SET_NAME,
            expr_attr::DYNSET_SET_ID,
            expr_attr::DYNSET_TIMEOUT,
            expr_attr::DYNSET_FLAGS,
        ]) && d.reg(expr_attr::DYNSET_SREG_KEY, Register::R1)
            // The kernel dumps a timeout (0: the set's own applies) and flags (0).
            && d.num(expr_attr::DYNSET_TIMEOUT).unwrap_or(0) == 0
            && d.num(expr_attr::DYNSET_FLAGS).unwrap_or(0) == 0
            && d.num(expr_attr::DYNSET_OP) == Some(u64::from(DYNSET_OP_UPDATE));
        let set = d.string(expr_attr::DYNSET_SET_NAME)?;
        let keyed = self.sets.get(&set) == Some(&key);
        (plain && at == (off, len) && update && keyed).then_some(())?;
        let [inner] = x[1].nested.as_slice() else {
            return None;
        };
        let Stmt::Limit { rate, unit, burst } = stmt(&E(inner))? else {
            return None;
        };
        self.stmts.push(Stmt::SourceLimit {
            set,
            family,
            rate,
            unit,
            burst,
        });
        Some(2)
    }

    /// `ip saddr ...` etc. The `meta nfproto` before it is nft's dependency: implied.
    fn network(&mut self, offset: u64, len: usize, test: Test) -> Option<()> {
        let m = address_match(self.nf?, offset, len, test, |n| self.sets.get(n).copied())?;
        self.drop_dependency(|m| matches!(m, Match::NfProto(_)));
        self.out.push(m);
        Some(())
    }

    /// `tcp dport ...`, `icmp type ...`: the `meta l4proto` (and for ICMP the
    /// `meta nfproto`) right before are nft's dependencies, implied by the match.
    fn transport(&mut self, offset: u64, len: usize, test: Test) -> Option<()> {
        let l4 = L4Proto::from_number(self.l4?)?;
        let m = transport_match(l4, offset, len, test, |n| self.sets.get(n).copied())?;
        let icmp_of = match m {
            Match::IcmpType(_) => Some(NfProto::Ipv4),
            Match::Icmpv6Type(_) => Some(NfProto::Ipv6),
            _ => None,
        };
        if icmp_of.is_some() && self.nf != icmp_of {
            return None; // nft writes ICMP matches after their IP version's nfproto
        }
        self.drop_dependency(|m| matches!(m, Match::L4Proto(_)));
        if icmp_of.is_some() {
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

    fn reject(&self, e: &E) -> Option<RejectWith> {
        if !e.only(&[expr_attr::REJECT_TYPE, expr_attr::REJECT_CODE]) {
            return None;
        }
        let code = e.num(expr_attr::REJECT_CODE).unwrap_or(0);
        let ty = e.num(expr_attr::REJECT_TYPE)?;
        match reject_of(u32::try_from(ty).ok()?, u32::try_from(code).ok()?)? {
            // Only meaningful for TCP packets: nft writes it after a TCP match.
            RejectWith::TcpReset if self.l4 != Some(L4Proto::Tcp.number()) => None,
            r => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{AddrMatch, PortMatch};
    use crate::live::test_exprs::{cmp, ex, meta, payload, verdict};

    fn accept() -> RawExpr {
        verdict(1, None)
    }
    fn decode(exprs: Vec<RawExpr>) -> Rule {
        let raw = RawRule {
            family: 1,
            table: "t".into(),
            chain: "c".into(),
            exprs,
            userdata: Some(b"\x00\x04ssh\x00".to_vec()),
        };
        rule(&raw, &HashMap::new())
    }

    #[test]
    fn range_as_two_comparisons_is_a_port_range() {
        let r = decode(vec![
            meta(16),
            cmp(0, &[17]),
            payload(2, 2, 2),
            cmp(5, &5000u16.to_be_bytes()),
            cmp(3, &5010u16.to_be_bytes()),
            accept(),
        ]);
        assert_eq!(
            r.matches,
            vec![Match::Dport(L4Proto::Udp, PortMatch::Range(5000, 5010))]
        );
        assert_eq!(r.comment.as_deref(), Some("ssh"));
    }

    #[test]
    fn network_payload_needs_its_nfproto_context() {
        // `ip saddr 10.0.0.0/8` without `meta nfproto ipv4` first is not nft's form.
        let r = decode(vec![payload(1, 12, 1), cmp(0, &[10]), accept()]);
        assert!(matches!(r.stmts.as_slice(), [Stmt::Foreign(_)]), "{r:?}");
        let r = decode(vec![
            meta(15),
            cmp(0, &[2]),
            payload(1, 12, 1),
            cmp(0, &[10]),
            accept(),
        ]);
        assert_eq!(
            r.matches,
            vec![Match::Saddr(AddrMatch::V4("10.0.0.0/8".parse().unwrap()))]
        );
    }

    /// A piece of a cut list: its range (two comparisons of the whole address), then
    /// nothing else of the address; an empty or backwards range is not one of ours.
    #[test]
    fn range_of_whole_addresses_is_an_address_range() {
        let range = |lo: [u8; 4], hi: [u8; 4]| {
            decode(vec![
                meta(15),
                cmp(0, &[2]),
                payload(1, 16, 4),
                cmp(5, &lo),
                cmp(3, &hi),
                accept(),
            ])
        };
        let r = range([10, 0, 0, 0], [10, 1, 13, 251]);
        let want = AddrMatch::Range4("10.0.0.0".parse().unwrap(), "10.1.13.251".parse().unwrap());
        assert_eq!(r.matches, vec![Match::Daddr(want)]);
        for backwards in [
            range([10, 0, 0, 1], [10, 0, 0, 1]),
            range([10, 0, 0, 2], [10, 0, 0, 1]),
        ] {
            assert!(
                matches!(backwards.stmts.as_slice(), [Stmt::Foreign(_)]),
                "{backwards:?}"
            );
        }
    }

    #[test]
    fn statement_after_verdict_or_match_after_statement_is_foreign() {
        let counter = ex("counter", &[], "counter");
        let r = decode(vec![counter.clone(), meta(16), cmp(0, &[6]), accept()]);
        assert!(matches!(r.stmts.as_slice(), [Stmt::Foreign(t)] if t.contains("[ counter ]")));
        let r = decode(vec![accept(), counter]);
        assert!(matches!(r.stmts.as_slice(), [Stmt::Foreign(_)]));
    }
}
