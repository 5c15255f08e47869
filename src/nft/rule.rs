//! Rule messages: expressions and the comment userdata, serialised by libnftnl
//! into the caller's contiguous batch buffer.

use super::expr::Expr;
use super::wire::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, WireError, Writer};
use nftnl::{Chain, MsgType, NlMsg, ProtoFamily, Rule, Table};
use std::ffi::{CString, c_void};

/// libnftnl writes into a buffer it assumes holds its largest message.
fn max_msg() -> usize {
    nftnl::nft_nlmsg_maxsize() as usize
}

/// Longest comment nft accepts (`NFTNL_UDATA_COMMENT_MAXLEN`).
pub const MAX_COMMENT: usize = 128;

/// The table and chain a run of rules is written into.
pub struct RuleTarget {
    table: Table,
    chain: CString,
}

impl RuleTarget {
    pub fn new(table: &str, chain: &str) -> Result<RuleTarget, WireError> {
        let t = CString::new(table).map_err(|_| WireError("table name contains NUL".into()))?;
        let c = CString::new(chain).map_err(|_| WireError("chain name contains NUL".into()))?;
        Ok(RuleTarget {
            table: Table::new(&t, ProtoFamily::Inet),
            chain: c,
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
        let chain = Chain::new(&self.chain, &self.table);
        let mut rule = Rule::new(&chain);
        let budget: usize = exprs.iter().map(Expr::max_encoded_len).sum::<usize>() + 1024;
        if budget > max_msg() - 4096 {
            return Err(WireError(format!(
                "rule with {} expressions is too large for one netlink message",
                exprs.len()
            )));
        }
        for e in exprs {
            rule.add_expr(e);
        }
        if let Some(c) = comment {
            if c.len() >= MAX_COMMENT {
                return Err(WireError(format!(
                    "comment of {} bytes exceeds nft's {} byte limit",
                    c.len(),
                    MAX_COMMENT - 1
                )));
            }
            let cs = CString::new(c).map_err(|_| WireError("comment contains NUL".into()))?;
            rule.set_comment(cs).map_err(|e| WireError(e.to_string()))?;
        }
        let start = append_nlmsg(w, &rule, seq);
        // The crate asks for EXCL|ACK; errors are reported without ACK, and
        // acks for every rule would only fill the receive buffer.
        let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND;
        w.buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
        Ok(())
    }
}

/// Serialises `msg` at the end of the buffer without zero-filling 64 KiB first.
fn append_nlmsg(w: &mut Writer, msg: &impl NlMsg, seq: u32) -> usize {
    let max = max_msg();
    w.buf.reserve(max);
    let start = w.buf.len();
    // SAFETY: `reserve` guarantees `max` writable bytes past `start`, which is
    // the buffer size the NlMsg contract requires. libnftnl writes a complete
    // netlink message there (header, attributes and their zeroed padding), so
    // the first `nlmsg_len` bytes are initialised before `set_len` exposes them.
    unsafe {
        let dst = w.buf.as_mut_ptr().add(start);
        msg.write(dst as *mut c_void, seq, MsgType::Add);
        let len = std::ptr::read_unaligned(dst as *const u32) as usize;
        if len < 16 || len > max {
            // libnftnl overran the buffer it was given: memory is corrupt.
            std::process::abort();
        }
        w.buf.set_len(start + len);
    }
    start
}
