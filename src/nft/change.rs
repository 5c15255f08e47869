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

/// `NFTA_RULE_POSITION_ID`, `NFTA_RULE_ID`: batch-local ids a dump never carries but a
/// replayed request must not pass on either.
const NFTA_RULE_ID: u16 = 9;
const NFTA_RULE_POSITION_ID: u16 = 10;

impl Writer {
    /// The dumped rule `m` (a NEWRULE message of a rule dump or get) sent again as a
    /// request put where `place` says: its attributes as dumped (table, chain,
    /// expressions, userdata), without the handle and position the kernel gave it.
    pub fn rule_replayed(&mut self, seq: u32, place: Place, m: &[u8]) -> Result<(), WireError> {
        let attrs = m
            .get(20..)
            .ok_or_else(|| WireError("a dumped rule shorter than its headers".into()))?;
        let flags = match place {
            Place::Append => NLM_F_CREATE | NLM_F_APPEND,
            Place::Before(_) => NLM_F_CREATE,
            Place::Replace(_) => NLM_F_REPLACE,
        };
        let family = m.get(16).copied().unwrap_or(NFPROTO_INET);
        let start = self.begin_msg(MsgType::NewRule.raw(), flags, seq, family, 0);
        let mut rest = attrs;
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            if len < 4 || len > rest.len() {
                break;
            }
            let t = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            let padded = ((len + 3) & !3).min(rest.len());
            let skip = [
                NFTA_RULE_HANDLE,
                NFTA_RULE_POSITION,
                NFTA_RULE_ID,
                NFTA_RULE_POSITION_ID,
            ];
            if !skip.contains(&t) {
                self.buf.extend_from_slice(&rest[..padded]);
                self.buf
                    .resize(self.buf.len() + ((len + 3) & !3) - padded, 0);
            }
            rest = &rest[padded..];
        }
        match place {
            Place::Append => {}
            Place::Before(h) => self.put(NFTA_RULE_POSITION, &h.to_be_bytes()),
            Place::Replace(h) => self.put(NFTA_RULE_HANDLE, &h.to_be_bytes()),
        }
        self.end_msg(start);
        Ok(())
    }

    /// GETRULE (not a dump): the one rule with `handle` in `chain`, acknowledged.
    pub fn get_rule(&mut self, seq: u32, (table, chain): (&str, &str), handle: u64) {
        let m = self.begin_msg(
            MsgType::GetRule.raw(),
            super::wire::NLM_F_ACK,
            seq,
            NFPROTO_INET,
            0,
        );
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_RULE_CHAIN, chain);
        self.put(NFTA_RULE_HANDLE, &handle.to_be_bytes());
        self.end_msg(m);
    }

    /// A rule dump of one chain of `table`.
    pub fn dump_chain_rules(&mut self, seq: u32, table: &str, chain: &str) {
        let m = self.begin_msg(
            MsgType::GetRule.raw(),
            super::wire::NLM_F_DUMP,
            seq,
            NFPROTO_INET,
            0,
        );
        self.put_str(NFTA_TABLE, table);
        self.put_str(NFTA_RULE_CHAIN, chain);
        self.end_msg(m);
    }
}
