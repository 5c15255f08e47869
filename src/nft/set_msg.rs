//! The NEWSET message: a named set's key, flags, and for a dynamic set its size and timeout,
//! in libnftnl's attribute order.

use super::vocab::{NFTA_SET_ID, SET_EVAL, SET_INTERVAL, SET_TIMEOUT};
use super::wire::{MsgType, NFPROTO_INET, NLM_F_CREATE, SetSpec, Writer, set_userdata};

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_TIMEOUT: u16 = 11;
const NFTA_SET_USERDATA: u16 = 13;

/// Entries a dynamic set holds at most (`size`), as the IR's `DYNAMIC_SET_SIZE`.
const DYNAMIC_SIZE: u32 = crate::ir::DYNAMIC_SET_SIZE;

impl SetSpec<'_> {
    /// `NFTA_SET_FLAGS`: `interval`, or `dynamic,timeout` for a dynamic set.
    pub fn flags(&self) -> u32 {
        let mut f = if self.interval { SET_INTERVAL } else { 0 };
        if self.timeout_ms.is_some() {
            f |= SET_TIMEOUT | SET_EVAL;
        }
        f
    }
}

impl Writer {
    pub fn set(&mut self, seq: u32, table: &str, set: &SetSpec<'_>) {
        let m = self.begin_msg(MsgType::NewSet.raw(), NLM_F_CREATE, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_SET_TABLE, table);
        self.put_str(NFTA_SET_NAME, set.name);
        self.put_be32(NFTA_SET_FLAGS, set.flags());
        self.put_be32(NFTA_SET_KEY_TYPE, set.key_type.raw());
        self.put_be32(NFTA_SET_KEY_LEN, set.key_len);
        self.put_be32(NFTA_SET_ID, set.id);
        if let Some(ms) = set.timeout_ms {
            let desc = self.nest_start(NFTA_SET_DESC);
            self.put_be32(NFTA_SET_DESC_SIZE, DYNAMIC_SIZE);
            // A size nest is twelve bytes: it cannot overflow.
            let _ = self.nest_end(desc);
            self.put(NFTA_SET_TIMEOUT, &ms.to_be_bytes());
        }
        self.put(NFTA_SET_USERDATA, &set_userdata(set.comment));
        self.end_msg(m);
    }
}
