//! Messages that change our table in place, for incremental applies: a rule placed
//! by handle (inserted before one, or replacing one), and deletions of rules by
//! handle, of sets and of chains. Set elements are removed by `wire::ElemStream::deleting`.

use super::expr::Expr;
use super::rule::check_comment;
use super::wire::{MsgType, NFPROTO_INET, NLM_F_APPEND, NLM_F_CREATE, WireError, Writer};

/// `NLM_F_REPLACE`: a NEWRULE that takes the place of the rule named by its handle.
pub const NLM_F_REPLACE: u16 = 0x100;

// Attribute numbers from linux/netfilter/nf_tables.h.
const NFTA_TABLE: u16 = 1; // NFTA_{RULE,SET,CHAIN}_TABLE
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_POSITION: u16 = 6;
const NFTA_SET_NAME: u16 = 2;
const NFTA_CHAIN_NAME: u16 = 3;

/// Where a NEWRULE message puts its rule (handles as the kernel gave them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// At the end of the chain.
    Append,
    /// Right before the rule with this handle.
    Before(u64),
    /// In place of the rule with this handle (which it takes over).
    Replace(u64),
}

impl Writer {
    /// One NEWRULE message for `chain` of `table`, put where `place` says. On error
    /// the buffer is left as it was.
    pub fn rule_placed(
        &mut self,
        seq: u32,
        (table, chain): (&str, &str),
        place: Place,
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> Result<(), WireError> {
        check_comment(comment)?;
        if table.contains('\0') || chain.contains('\0') {
            return Err(WireError("table or chain name contains NUL".into()));
        }
        let start = self.buf.len();
        let flags = match place {
            Place::Append => NLM_F_CREATE | NLM_F_APPEND,
            Place::Before(_) => NLM_F_CREATE,
            Place::Replace(_) => NLM_F_REPLACE,
        };
        let m = self.begin_msg(MsgType::NewRule.raw(), flags, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_RULE_CHAIN, chain);
        match place {
            Place::Append => {}
            Place::Before(h) => self.put(NFTA_RULE_POSITION, &h.to_be_bytes()),
            Place::Replace(h) => self.put(NFTA_RULE_HANDLE, &h.to_be_bytes()),
        }
        self.rule_tail((start, m), exprs, comment)
    }

    /// DELRULE: the rule with `handle` in `chain`.
    pub fn del_rule(&mut self, seq: u32, table: &str, chain: &str, handle: u64) {
        let m = self.begin_msg(MsgType::DelRule.raw(), 0, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_RULE_CHAIN, chain);
        self.put(NFTA_RULE_HANDLE, &handle.to_be_bytes());
        self.end_msg(m);
    }

    /// DELSET: the named set (no rule may refer to it when the batch commits).
    pub fn del_set(&mut self, seq: u32, table: &str, name: &str) {
        let m = self.begin_msg(MsgType::DelSet.raw(), 0, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_SET_NAME, name);
        self.end_msg(m);
    }

    /// DELCHAIN: the chain, with every rule in it.
    pub fn del_chain(&mut self, seq: u32, table: &str, name: &str) {
        let m = self.begin_msg(MsgType::DelChain.raw(), 0, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_CHAIN_NAME, name);
        self.end_msg(m);
    }
}
