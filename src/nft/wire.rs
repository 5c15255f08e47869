//! Netlink wire encoding for nf_tables batches: headers, attributes, and the
//! table, chain, set, set-element and rule messages, written in safe Rust.
//!
//! Writing straight into the one batch buffer keeps 1M-element sets and 10k
//! rules fast (no allocation per element or rule). Rule expressions encode
//! themselves (`expr.rs`); tests check them byte for byte against libnftnl's
//! encoding of the same rule (`oracle::reference_message`).

use super::expr::Expr;
use super::vocab::{
    DataType, Family, InetHook, NFTA_DATA_VALUE, NFTA_LIST_ELEM, SET_ELEM_INTERVAL_END,
    UDATA_RULE_COMMENT, UDATA_SET_COMMENT, UDATA_SET_KEYBYTEORDER, VerdictCode,
};

use std::fmt;

/// `NFNL_SUBSYS_NFTABLES`, the high byte of every nf_tables message type.
pub const SUBSYS_NFTABLES: u16 = 10;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
/// Asks the kernel to send what a message made back to its sender (a rule: with the
/// handle it got).
pub const NLM_F_ECHO: u16 = 0x8;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;
/// nlmsghdr (16) + nfgenmsg (4).
pub const HDR_LEN: usize = 20;
/// Netlink attribute lengths are u16: a nest (the element list) must stay below.
const MAX_NEST: usize = u16::MAX as usize;

/// The nfgenmsg family byte of every message hostwall sends.
pub const NFPROTO_UNSPEC: u8 = Family::Unspec.raw() as u8;
pub const NFPROTO_INET: u8 = Family::Inet.raw() as u8;

/// nf_tables message kinds (low byte of the message type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum MsgType {
    NewTable = 0,
    GetTable = 1,
    DelTable = 2,
    NewChain = 3,
    GetChain = 4,
    NewRule = 6,
    GetRule = 7,
    NewSet = 9,
    GetSet = 10,
    NewSetElem = 12,
    GetSetElem = 13,
    NewGen = 15,
    GetGen = 16,
    NewObj = 18,
    GetObj = 19,
    NewFlowtable = 22,
    GetFlowtable = 23,
    DelChain = 5,
    DelRule = 8,
    DelSet = 11,
    DelSetElem = 14,
}

impl MsgType {
    pub fn raw(self) -> u16 {
        (SUBSYS_NFTABLES << 8) | self as u16
    }
}

pub const NFNL_MSG_BATCH_BEGIN: u16 = 16;
pub const NFNL_MSG_BATCH_END: u16 = 17;
const NFNL_BATCH_GENID: u16 = 1;

// Attribute numbers from linux/netfilter/nf_tables.h.
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;

/// nft's `BYTEORDER_BIG_ENDIAN`: every key type hostwall uses is network order.
const BYTEORDER_BIG_ENDIAN: u32 = 2;

/// A message could not be encoded (a value exceeds what netlink can carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends netlink messages to one contiguous buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
    /// Where the room faulted in ahead ends ([`Writer::fault_ahead`]).
    faulted: usize,
}

/// A buffer made with room for at least this many bytes (a large batch: 100,000
/// addresses take 3.8 MB) has its room faulted in ahead, [`FAULT_STEP`] at a time.
const FAULT_FROM: usize = 1 << 20;
const FAULT_STEP: usize = 256 << 10;

impl Writer {
    /// A writer with room for `n` bytes; a large room starts on the pages of buffers
    /// given up before it, where there are any ([`crate::pages::adopt_retired`]).
    pub fn with_capacity(n: usize) -> Writer {
        let mut buf = Vec::with_capacity(n);
        let faulted = match n >= FAULT_FROM {
            true => crate::pages::adopt_retired(&mut buf),
            false => 0,
        };
        Writer { buf, faulted }
    }

    /// Faults in the next [`FAULT_STEP`] bytes of a large buffer's room by one call
    /// (`pages::reserve_faulted`) instead of an exception a page as messages fill it;
    /// never grows the buffer.
    #[cold]
    fn fault_ahead(&mut self) {
        let room = self.buf.capacity() - self.buf.len();
        if self.buf.capacity() >= FAULT_FROM {
            crate::pages::reserve_faulted(&mut self.buf, room.min(FAULT_STEP));
        }
        self.faulted = self.buf.len() + FAULT_STEP;
    }

    /// Starts a message; returns its offset for `end_msg`.
    pub fn begin_msg(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
        if self.buf.len() >= self.faulted {
            self.fault_ahead();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by end_msg
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf
            .extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    pub fn end_msg(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn put(&mut self, ty: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len() + align4(len) - len, 0);
    }

    pub fn put_be32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A NUL-terminated string attribute (`NLA_STRING` as nft sends it).
    pub fn put_str(&mut self, ty: u16, s: &str) {
        let len = 4 + s.len() + 1;
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.buf.resize(self.buf.len() + align4(len) - len, 0);
    }

    pub fn nest_start(&mut self, ty: u16) -> usize {
        self.attr_start(ty | NLA_F_NESTED)
    }

    pub fn nest_end(&mut self, start: usize) -> Result<(), WireError> {
        let len = self.buf.len() - start;
        if len > MAX_NEST {
            return Err(WireError(format!(
                "netlink nest of {len} bytes exceeds 65535"
            )));
        }
        self.buf[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        Ok(())
    }

    /// Batch begin, carrying the generation id the batch was built against
    /// (the kernel refuses the whole batch with ERESTART if it moved on).
    pub fn batch_begin(&mut self, seq: u32, genid: Option<u32>) {
        let m = self.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            0,
            seq,
            NFPROTO_UNSPEC,
            SUBSYS_NFTABLES,
        );
        if let Some(g) = genid {
            self.put_be32(NFNL_BATCH_GENID, g);
        }
        self.end_msg(m);
    }

    pub fn batch_end(&mut self, seq: u32) {
        let m = self.begin_msg(NFNL_MSG_BATCH_END, 0, seq, NFPROTO_UNSPEC, SUBSYS_NFTABLES);
        self.end_msg(m);
    }

    /// NEWTABLE (create if missing) or DELTABLE (`add == false`).
    pub fn table(&mut self, seq: u32, name: &str, add: bool) {
        let (ty, flags) = if add {
            (MsgType::NewTable.raw(), NLM_F_CREATE)
        } else {
            (MsgType::DelTable as u16 | (SUBSYS_NFTABLES << 8), 0)
        };
        let m = self.begin_msg(ty, flags, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_TABLE_NAME, name);
        if add {
            self.put_be32(NFTA_TABLE_FLAGS, 0);
        }
        self.end_msg(m);
    }

    pub fn chain(&mut self, seq: u32, table: &str, name: &str, base: Option<BaseSpec>) {
        let m = self.begin_msg(MsgType::NewChain.raw(), NLM_F_CREATE, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_CHAIN_TABLE, table);
        self.put_str(NFTA_CHAIN_NAME, name);
        if let Some(b) = base {
            self.put_str(NFTA_CHAIN_TYPE, "filter");
            self.put_be32(NFTA_CHAIN_POLICY, b.policy.raw());
            let n = self.nest_start(NFTA_CHAIN_HOOK);
            self.put_be32(NFTA_HOOK_HOOKNUM, b.hook.raw());
            self.put_be32(NFTA_HOOK_PRIORITY, b.priority as u32);
            // A hook nest is a few dozen bytes: it cannot overflow.
            let _ = self.nest_end(n);
        }
        self.end_msg(m);
    }

    /// NEWSETELEM messages for `elems`, split so each element list nest fits in
    /// 64 KiB. `next_seq` hands out one sequence number per message written;
    /// returns how many messages were written.
    pub fn set_elems(
        &mut self,
        table: &str,
        set: &SetSpec<'_>,
        elems: impl IntoIterator<Item = Elem>,
        next_seq: impl FnMut() -> u32,
    ) -> Result<usize, WireError> {
        let mut stream = ElemStream::new(self, table, set, next_seq);
        for e in elems {
            stream.push(&e)?;
        }
        stream.finish()
    }

    /// One element: `LIST_ELEM { [FLAGS], KEY { DATA_VALUE } }`, laid out on
    /// the stack and appended at once: this runs two million times for 1M
    /// prefixes, so it avoids the per-attribute capacity checks of `put`, and every
    /// copy has a fixed size (the whole stack buffer appended, then the tail past the
    /// element cut off), which compiles to a few vector moves instead of a `memcpy`
    /// call per element.
    fn elem(&mut self, e: &Elem) {
        let len = e.len as usize;
        let padded = align4(len);
        let flags = if e.end { 8 } else { 0 };
        let total = 4 + flags + 8 + padded;
        let mut b = [0u8; 4 + 8 + 8 + 16];
        b[0..2].copy_from_slice(&(total as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&(NFTA_LIST_ELEM | NLA_F_NESTED).to_ne_bytes());
        let key_at = if e.end {
            b[4..6].copy_from_slice(&8u16.to_ne_bytes());
            b[6..8].copy_from_slice(&NFTA_SET_ELEM_FLAGS.to_ne_bytes());
            b[8..12].copy_from_slice(&SET_ELEM_INTERVAL_END.to_be_bytes());
            12
        } else {
            4
        };
        let mut key = [0u8; 8 + 16];
        key[0..2].copy_from_slice(&((8 + padded) as u16).to_ne_bytes());
        key[2..4].copy_from_slice(&(NFTA_SET_ELEM_KEY | NLA_F_NESTED).to_ne_bytes());
        key[4..6].copy_from_slice(&((4 + len) as u16).to_ne_bytes());
        key[6..8].copy_from_slice(&NFTA_DATA_VALUE.to_ne_bytes());
        // The key bytes past `len` are zero: they are the attribute's padding.
        key[8..].copy_from_slice(&e.bytes);
        b[key_at..key_at + 24].copy_from_slice(&key);
        let start = self.buf.len();
        self.buf.extend_from_slice(&b);
        self.buf.truncate(start + total);
    }

    /// [`Writer::elem`] of a 4-byte key (an IPv4 address), laid out with sizes known
    /// when compiled: most of a large list's batch is these.
    fn elem4(&mut self, key: u32, end: bool) {
        let mut b = [0u8; 24];
        let (total, key_at) = if end { (24u16, 12) } else { (16u16, 4) };
        b[0..2].copy_from_slice(&total.to_ne_bytes());
        b[2..4].copy_from_slice(&(NFTA_LIST_ELEM | NLA_F_NESTED).to_ne_bytes());
        if end {
            b[4..6].copy_from_slice(&8u16.to_ne_bytes());
            b[6..8].copy_from_slice(&NFTA_SET_ELEM_FLAGS.to_ne_bytes());
            b[8..12].copy_from_slice(&SET_ELEM_INTERVAL_END.to_be_bytes());
        }
        let mut k = [0u8; 12];
        k[0..2].copy_from_slice(&12u16.to_ne_bytes());
        k[2..4].copy_from_slice(&(NFTA_SET_ELEM_KEY | NLA_F_NESTED).to_ne_bytes());
        k[4..6].copy_from_slice(&8u16.to_ne_bytes());
        k[6..8].copy_from_slice(&NFTA_DATA_VALUE.to_ne_bytes());
        k[8..12].copy_from_slice(&key.to_be_bytes());
        b[key_at..key_at + 12].copy_from_slice(&k);
        match end {
            true => self.buf.extend_from_slice(&b),
            false => self.buf.extend_from_slice(&b[..16]),
        }
    }

    /// One NEWRULE message appending `exprs` (and the comment userdata nft
    /// writes) to `chain`. On error the buffer is left as it was.
    pub fn rule(
        &mut self,
        seq: u32,
        table: &str,
        chain: &str,
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> Result<(), WireError> {
        let start = self.buf.len();
        let flags = NLM_F_CREATE | NLM_F_APPEND;
        let m = self.begin_msg(MsgType::NewRule.raw(), flags, seq, NFPROTO_INET, 0);
        self.put_str(NFTA_RULE_TABLE, table);
        self.put_str(NFTA_RULE_CHAIN, chain);
        self.rule_tail((start, m), exprs, comment)
    }

    /// A NEWRULE message's comment userdata and expressions, then its end; on
    /// error the buffer is cut back to `start`, as it was before the message.
    pub(super) fn rule_tail(
        &mut self,
        (start, m): (usize, usize),
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> Result<(), WireError> {
        if let Some(c) = comment {
            let a = self.attr_start(NFTA_RULE_USERDATA);
            push_str_tlv(&mut self.buf, UDATA_RULE_COMMENT, c);
            self.attr_end(a);
        }
        let r = self.rule_exprs(exprs);
        match r {
            Ok(()) => self.end_msg(m),
            Err(_) => self.buf.truncate(start),
        }
        r
    }

    /// `NFTA_RULE_EXPRESSIONS`, when there are any.
    pub(super) fn rule_exprs(&mut self, exprs: &[Expr]) -> Result<(), WireError> {
        if exprs.is_empty() {
            return Ok(());
        }
        let list = self.nest_start(NFTA_RULE_EXPRESSIONS);
        for e in exprs {
            let el = self.nest_start(NFTA_LIST_ELEM);
            e.encode(self)?;
            self.nest_end(el)?;
        }
        self.nest_end(list)
            .map_err(|_| WireError("rule too large for one netlink message".into()))
    }

    /// An attribute whose payload the caller appends; `attr_end` sizes and pads it.
    pub(super) fn attr_start(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        start
    }

    pub(super) fn attr_end(&mut self, start: usize) {
        let len = self.buf.len() - start;
        self.buf[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        self.buf.resize(self.buf.len() + align4(len) - len, 0);
    }

    /// A dump request (`NLM_F_DUMP`) for one kind of object of `family` (`NFPROTO_UNSPEC`:
    /// every family), in `table` when given, of set `set` for elements.
    pub fn dump_request(
        &mut self,
        ty: MsgType,
        family: u8,
        seq: u32,
        table: Option<&str>,
        set: Option<&str>,
    ) {
        let m = self.begin_msg(ty.raw(), NLM_F_DUMP, seq, family, 0);
        if let Some(t) = table {
            self.put_str(1, t); // NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,..}
        }
        if let Some(s) = set {
            self.put_str(NFTA_SET_ELEM_LIST_SET, s);
        }
        self.end_msg(m);
    }

    /// A generation id request, acknowledged so that its answer has an end.
    pub fn get_gen(&mut self, seq: u32) {
        let m = self.begin_msg(MsgType::GetGen.raw(), NLM_F_ACK, seq, NFPROTO_UNSPEC, 0);
        self.end_msg(m);
    }
}

/// NEWSETELEM messages written as elements are pushed (no element vector:
/// 1M prefixes are two million elements), a new message whenever the element
/// list nest would pass 64 KiB. `finish` closes the last one.
pub struct ElemStream<'a, F: FnMut() -> u32> {
    w: &'a mut Writer,
    /// DELSETELEM instead of NEWSETELEM ([`ElemStream::deleting`]).
    delete: bool,
    table: &'a str,
    set: &'a SetSpec<'a>,
    next_seq: F,
    /// Offsets of the open message and of its element list nest.
    open: Option<(usize, usize)>,
    messages: usize,
}

impl<'a, F: FnMut() -> u32> ElemStream<'a, F> {
    pub fn new(w: &'a mut Writer, table: &'a str, set: &'a SetSpec<'a>, next_seq: F) -> Self {
        ElemStream {
            w,
            delete: false,
            table,
            set,
            next_seq,
            open: None,
            messages: 0,
        }
    }

    /// The same stream removing the elements (DELSETELEM messages).
    pub fn deleting(self) -> Self {
        ElemStream {
            delete: true,
            ..self
        }
    }

    pub fn push(&mut self, e: &Elem) -> Result<(), WireError> {
        self.room()?;
        self.w.elem(e);
        Ok(())
    }

    /// [`ElemStream::push`] of a 4-byte key.
    pub fn push4(&mut self, key: u32, end: bool) -> Result<(), WireError> {
        self.room()?;
        self.w.elem4(key, end);
        Ok(())
    }

    /// A message with room for one more element: the open one, or a new one.
    fn room(&mut self) -> Result<(), WireError> {
        // Headroom under the 64 KiB nest limit for one more element.
        const CHUNK_LIMIT: usize = MAX_NEST - 64;
        match self.open {
            Some((_, list)) if self.w.buf.len() - list <= CHUNK_LIMIT => Ok(()),
            _ => {
                self.close()?;
                self.open_message();
                Ok(())
            }
        }
    }

    fn open_message(&mut self) {
        let (ty, flags) = match self.delete {
            false => (MsgType::NewSetElem, NLM_F_CREATE | NLM_F_EXCL),
            true => (MsgType::DelSetElem, 0),
        };
        let seq = (self.next_seq)();
        let w = &mut *self.w;
        let m = w.begin_msg(ty.raw(), flags, seq, NFPROTO_INET, 0);
        w.put_str(NFTA_SET_ELEM_LIST_TABLE, self.table);
        w.put_str(NFTA_SET_ELEM_LIST_SET, self.set.name);
        w.put_be32(NFTA_SET_ELEM_LIST_SET_ID, self.set.id);
        let list = w.nest_start(NFTA_SET_ELEM_LIST_ELEMENTS);
        self.open = Some((m, list));
        self.messages += 1;
    }

    fn close(&mut self) -> Result<(), WireError> {
        if let Some((m, list)) = self.open.take() {
            self.w.nest_end(list)?;
            self.w.end_msg(m);
        }
        Ok(())
    }

    /// Closes the last message; returns how many messages were written.
    pub fn finish(mut self) -> Result<usize, WireError> {
        self.close()?;
        Ok(self.messages)
    }
}

/// Set userdata exactly as nft writes it: key byte order, then the comment.
pub(super) fn set_userdata(comment: Option<&str>) -> Vec<u8> {
    let mut u = vec![UDATA_SET_KEYBYTEORDER, 4];
    u.extend_from_slice(&BYTEORDER_BIG_ENDIAN.to_ne_bytes());
    if let Some(c) = comment {
        push_str_tlv(&mut u, UDATA_SET_COMMENT, c);
    }
    u
}

/// A userdata TLV holding `s` NUL-terminated, as nft writes comments. The text stops at
/// a NUL (the checker refuses them) and at 254 bytes (the TLV length is one byte; the
/// compiler keeps comments within `MAX_COMMENT`).
pub(super) fn push_str_tlv(out: &mut Vec<u8>, kind: u8, s: &str) {
    let text = super::expr::cut_nul(s).as_bytes();
    let n = text.len().min(254);
    out.extend_from_slice(&[kind, n as u8 + 1]);
    out.extend_from_slice(&text[..n]);
    out.push(0);
}

#[derive(Clone, Copy, Debug)]
pub struct BaseSpec {
    pub hook: InetHook,
    pub priority: i32,
    /// `Accept` or `Drop`.
    pub policy: VerdictCode,
}

#[derive(Clone, Copy, Debug)]
pub struct SetSpec<'a> {
    pub name: &'a str,
    pub id: u32,
    pub interval: bool,
    /// `Some`: a dynamic set (`flags dynamic,timeout`) with this timeout.
    pub timeout_ms: Option<u64>,
    /// nft datatype of the key.
    pub key_type: DataType,
    pub key_len: u32,
    pub comment: Option<&'a str>,
}

/// One set element key in network byte order (up to 16 bytes), with the
/// interval-end flag nft uses to close a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elem {
    bytes: [u8; 16],
    len: u8,
    pub end: bool,
}

impl Elem {
    /// The low `len` bytes of `value`, big-endian.
    pub fn new(value: u128, len: usize, end: bool) -> Elem {
        // Shifted to the top, the low `len` bytes come first and zeros after them,
        // with no copy of a run-time length.
        let shift = 8 * (16 - len.min(16)) as u32;
        let bytes = value.checked_shl(shift).unwrap_or(0).to_be_bytes();
        Elem {
            bytes,
            len: len as u8,
            end,
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Rewrites the generation id carried by the batch begin message at the start of
/// `batch` (see [`Writer::batch_begin`]). Returns false when it carries none.
pub fn set_batch_genid(batch: &mut [u8], genid: u32) -> bool {
    let Some(len) = batch
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return false;
    };
    let end = (len as usize).min(batch.len());
    let mut at = 20;
    while at + 4 <= end {
        let alen = u16::from_ne_bytes([batch[at], batch[at + 1]]) as usize;
        let ty = u16::from_ne_bytes([batch[at + 2], batch[at + 3]]) & 0x3fff;
        if alen < 4 || at + alen > end {
            return false;
        }
        if ty == NFNL_BATCH_GENID && alen == 8 {
            batch[at + 4..at + 8].copy_from_slice(&genid.to_be_bytes());
            return true;
        }
        at += (alen + 3) & !3;
    }
    false
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
