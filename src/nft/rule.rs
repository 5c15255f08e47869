//! Rule messages: the table and chain a run of rules goes into, the direct
//! safe-Rust encoding used for every batch (`wire::Writer::rule`), and the
//! libnftnl encoding of the same rule kept as the reference the tests compare
//! it with byte for byte.

use super::expr::Expr;
use super::vocab::MAX_COMMENT;
use super::wire::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, WireError, Writer};
use nftnl::{Chain, MsgType, NlMsg, ProtoFamily, Rule, Table};
use std::ffi::{CString, c_void};

/// The table and chain a run of rules is written into.
pub struct RuleTarget {
    table: String,
    chain: String,
}

impl RuleTarget {
    pub fn new(table: &str, chain: &str) -> Result<RuleTarget, WireError> {
        if table.contains('\0') {
            return Err(WireError("table name contains NUL".into()));
        }
        if chain.contains('\0') {
            return Err(WireError("chain name contains NUL".into()));
        }
        Ok(RuleTarget {
            table: table.to_string(),
            chain: chain.to_string(),
        })
    }

    /// Appends one NEWRULE message (create, append to the chain's end).
    pub fn write(
        &self,
        w: &mut Writer,
        seq: u32,
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> Result<(), WireError> {
        check_comment(comment)?;
        w.rule(seq, &self.table, &self.chain, exprs, comment)
    }
}

fn check_comment(comment: Option<&str>) -> Result<(), WireError> {
    match comment {
        Some(c) if c.len() > MAX_COMMENT => Err(WireError(format!(
            "comment of {} bytes exceeds the {MAX_COMMENT} byte limit of a rule comment",
            c.len(),
        ))),
        Some(c) if c.contains('\0') => Err(WireError("comment contains NUL".into())),
        _ => Ok(()),
    }
}

/// The same NEWRULE message as `RuleTarget::write`, built by libnftnl
/// through the nftnl crate: the reference encoding for tests.
pub fn reference_message(
    table: &str,
    chain: &str,
    seq: u32,
    exprs: &[Expr],
    comment: Option<&str>,
) -> Result<Vec<u8>, WireError> {
    // libnftnl writes into a fixed buffer without bounds checks: only hand it
    // rules whose (identical) direct encoding fits with room to spare.
    let max = nftnl::nft_nlmsg_maxsize() as usize;
    let mut direct = Writer::default();
    RuleTarget::new(table, chain)?.write(&mut direct, seq, exprs, comment)?;
    if direct.buf.len() > max / 2 {
        return Err(WireError("rule too large for the reference encoder".into()));
    }
    let nul = |_| WireError("name contains NUL".into());
    let t = CString::new(table).map_err(nul)?;
    let c = CString::new(chain).map_err(nul)?;
    let table = Table::new(&t, ProtoFamily::Inet);
    let chain = Chain::new(&c, &table);
    let mut rule = Rule::new(&chain);
    for e in exprs {
        rule.add_expr(e);
    }
    if let Some(text) = comment {
        let cs = CString::new(text).map_err(nul)?;
        rule.set_comment(cs).map_err(|e| WireError(e.to_string()))?;
    }
    let mut buf = vec![0u8; max];
    // SAFETY: `buf` holds the `nft_nlmsg_maxsize()` bytes the NlMsg contract
    // requires; libnftnl writes one netlink message starting at its head.
    unsafe { rule.write(buf.as_mut_ptr() as *mut c_void, seq, MsgType::Add) };
    let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(16..=max).contains(&len) {
        return Err(WireError(format!("libnftnl wrote a {len} byte message")));
    }
    buf.truncate(len);
    // The crate asks for EXCL|ACK; hostwall sends rules without them.
    let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND;
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::vocab::{
        CmpOp, IcmpxCode, MetaKey, PayloadBase, RejectType,
        VerdictCode::{Accept, Drop},
    };

    /// Every expression form and option hostwall emits, in rule-sized groups.
    fn rules() -> Vec<(Vec<Expr>, Option<String>)> {
        let ifname = *b"virbr0\0\0\0\0\0\0\0\0\0\0";
        vec![
            (vec![], None),
            (vec![Expr::verdict(Accept)], Some("a comment".into())),
            (
                vec![
                    Expr::meta(MetaKey::L4Proto),
                    Expr::cmp(CmpOp::Eq, &[6]),
                    Expr::payload(PayloadBase::Transport, 2, 2),
                    Expr::cmp(CmpOp::Eq, &22u16.to_be_bytes()),
                    Expr::verdict(Accept),
                ],
                None,
            ),
            (
                vec![
                    Expr::meta(MetaKey::IifName),
                    Expr::cmp(CmpOp::Eq, &ifname),
                    Expr::meta(MetaKey::OifName),
                    Expr::cmp(CmpOp::Eq, b"vnet"),
                    Expr::ct_state(),
                    Expr::bitwise_mask(&6u32.to_ne_bytes()),
                    Expr::cmp(CmpOp::Neq, &0u32.to_ne_bytes()),
                    Expr::counter(),
                    Expr::verdict(Drop),
                ],
                Some("x".into()),
            ),
            (
                vec![
                    Expr::meta(MetaKey::NfProto),
                    Expr::cmp(CmpOp::Eq, &[10]),
                    Expr::payload(PayloadBase::Network, 8, 16),
                    Expr::bitwise_mask(&[0xff; 16]),
                    Expr::cmp(CmpOp::Eq, &[0x20; 16]),
                    Expr::payload(PayloadBase::Transport, 2, 2),
                    Expr::cmp(CmpOp::Gte, &1000u16.to_be_bytes()),
                    Expr::cmp(CmpOp::Lte, &2000u16.to_be_bytes()),
                    Expr::lookup("some-set", 3),
                    Expr::limit(10, 60, 5),
                    Expr::log(Some("hostwall: "), Some(7)),
                    Expr::log(None, None),
                    Expr::log(Some("p"), None),
                    Expr::log(None, Some(2)),
                    Expr::reject(RejectType::TcpRst, None),
                    Expr::reject(RejectType::IcmpxUnreach, Some(IcmpxCode::AdminProhibited)),
                    Expr::reject(RejectType::IcmpxUnreach, Some(IcmpxCode::PortUnreach)),
                ],
                Some("c".repeat(ORACLE_MAX_COMMENT)),
            ),
        ]
    }

    /// The nftnl crate's `set_comment` writes into a 128-byte userdata buffer, so the
    /// longest comment it can encode is 125 bytes (TLV header and NUL included).
    const ORACLE_MAX_COMMENT: usize = 125;

    fn hex(b: &[u8]) -> String {
        b.chunks(4)
            .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn direct_encoding_equals_libnftnl_byte_for_byte() {
        let target = RuleTarget::new("hostwall", "input").unwrap_or_else(|e| panic!("{e}"));
        for (i, (exprs, comment)) in rules().iter().enumerate() {
            let mut w = Writer::default();
            target
                .write(&mut w, 42 + i as u32, exprs, comment.as_deref())
                .unwrap_or_else(|e| panic!("{e}"));
            let want = reference_message(
                "hostwall",
                "input",
                42 + i as u32,
                exprs,
                comment.as_deref(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(hex(&w.buf), hex(&want), "rule {i} differs");
        }
    }

    #[test]
    fn long_comments_and_oversized_rules_are_refused_cleanly() {
        let target = RuleTarget::new("t", "c").unwrap_or_else(|e| panic!("{e}"));
        let mut w = Writer::default();
        let longest = "c".repeat(MAX_COMMENT);
        assert!(target.write(&mut w, 1, &[], Some(&longest)).is_ok());
        w.buf.clear();
        let long = "c".repeat(MAX_COMMENT + 1);
        let e = target.write(&mut w, 1, &[], Some(&long));
        assert!(e.is_err_and(|e| e.0.contains("129 bytes exceeds the 128 byte limit")));
        let many = vec![Expr::cmp(CmpOp::Eq, &[0xff; 16]); 3000];
        let e = target.write(&mut w, 1, &many, None);
        assert!(e.is_err_and(|e| e.0.contains("too large")));
        assert!(w.buf.is_empty(), "a refused rule leaves nothing behind");
    }
}
