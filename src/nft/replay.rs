//! A dumped nf_tables object re-emitted as its creation request: the one encoder that
//! both copies of tables (our own before a change, `apply::table_copy`; the other
//! tables for verify's lab, `live::copy`) replay the kernel's messages with.

use crate::nft::vocab::NFTA_SET_ID;
use crate::nft::wire::{MsgType, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, Writer};

/// Attributes the kernel adds to dumps but refuses or misreads in requests, by message
/// type: (type, attribute numbers to drop).
const STRIP: &[(MsgType, &[u16])] = &[
    (MsgType::NewTable, &[3, 4, 7]), // USE, HANDLE, OWNER
    (MsgType::NewChain, &[2, 6]),    // HANDLE, USE
    // HANDLE; TYPE and COUNT (backend name, element count: dumped by kernels
    // >= 6.16, refused in requests with "Attribute failed policy validation").
    (MsgType::NewSet, &[16, 19, 20]),
    (MsgType::NewSetElem, &[]),
    (MsgType::NewRule, &[3, 6]), // HANDLE, POSITION
    (MsgType::NewObj, &[5, 6]),  // USE, HANDLE
];

/// `NFTA_TABLE_FLAGS`.
pub const NFTA_TABLE_FLAGS: u16 = 2;

/// Re-emits the dumped message `m` as a creation request (rules appended) with sequence
/// `seq`; a set gets `id` as its batch id. `table_flags`: for a table message, the mask
/// of its flags to keep (`None` keeps the attribute as dumped).
pub fn replay(w: &mut Writer, m: &[u8], seq: u32, id: u32, table_flags: Option<u32>) {
    let ty = u16::from_ne_bytes([m[4], m[5]]);
    let strip = (STRIP.iter().find(|(t, _)| t.raw() == ty)).map_or(&[][..], |(_, s)| s);
    let is_table = ty == MsgType::NewTable.raw();
    let flags = if ty == MsgType::NewRule.raw() {
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND
    } else {
        NLM_F_REQUEST | NLM_F_CREATE
    };
    let start = w.begin_msg(ty, flags, seq, m[16], 0);
    let mut rest = m.get(20..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        if len < 4 || len > rest.len() {
            break;
        }
        let t = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        let padded = ((len + 3) & !3).min(rest.len());
        match table_flags {
            Some(mask) if is_table && t == NFTA_TABLE_FLAGS && len == 8 => {
                let f = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
                w.put_be32(NFTA_TABLE_FLAGS, f & mask);
            }
            _ if !strip.contains(&t) => {
                w.buf.extend_from_slice(&rest[..padded]);
                w.buf.resize(w.buf.len() + ((len + 3) & !3) - padded, 0);
            }
            _ => {}
        }
        rest = &rest[padded..];
    }
    if ty == MsgType::NewSet.raw() {
        w.put_be32(NFTA_SET_ID, id);
    }
    w.end_msg(start);
}
