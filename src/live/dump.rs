//! The netlink requests of a read: one socket, one request at a time (GETGEN, GETTABLE,
//! GETCHAIN, GETRULE, GETSET, GETSETELEM, GETOBJ, GETFLOWTABLE), each answer handed message by message to a
//! parser. Requests are encoded here in safe Rust; parsing is `nft::read`'s.

use super::LiveError;
use crate::nft::read::{
    self as ffi, AlignedBuf, RawChain, RawElem, RawFlowtable, RawObj, RawRule, RawSet, RawTable,
};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_GETSET: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_GETGEN: u16 = 16;
const NFT_MSG_GETOBJ: u16 = 19;
const NFT_MSG_GETFLOWTABLE: u16 = 23;
/// `NFTA_SET_TABLE`, `NFTA_SET_ELEM_LIST_TABLE`, `NFTA_OBJ_TABLE` and
/// `NFTA_FLOWTABLE_TABLE` share number 1; the set name is 2.
const NFTA_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub const NFPROTO_UNSPEC: u8 = 0;
pub const NFPROTO_INET: u8 = 1;

/// Large enough for the biggest dump skb the kernel builds (32 KiB) with room to spare.
const RECV_BUF: usize = 256 * 1024;

/// An open nf_tables netlink socket and its receive buffer.
pub struct Conn {
    sock: mnl::Socket,
    buf: AlignedBuf,
    seq: u32,
    /// Set when the kernel flagged a dump as interrupted: a commit (in any table)
    /// happened between two of its messages.
    pub interrupted: bool,
}

impl Conn {
    pub fn open() -> Result<Conn, LiveError> {
        let sock = mnl::Socket::new(mnl::Bus::Netfilter).map_err(LiveError::Socket)?;
        Ok(Conn {
            sock,
            buf: AlignedBuf::new(RECV_BUF),
            seq: 0,
            interrupted: false,
        })
    }

    /// The current ruleset generation id.
    pub fn genid(&mut self) -> Result<u32, LiveError> {
        let mut id = None;
        self.request(
            "generation",
            NFT_MSG_GETGEN,
            NFPROTO_UNSPEC,
            false,
            &[],
            |m| {
                id = Some(ffi::parse_gen(m)?);
                Ok(())
            },
        )?;
        id.ok_or(LiveError::Missing("generation"))
    }

    pub fn tables(&mut self) -> Result<Vec<RawTable>, LiveError> {
        let mut out = Vec::new();
        self.request("table", NFT_MSG_GETTABLE, NFPROTO_UNSPEC, true, &[], |m| {
            out.push(ffi::parse_table(m)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every chain of every table and family (the kernel cannot filter a chain dump
    /// by table: a dump of several messages during which any commit happened may
    /// have skipped or repeated chains, and is flagged in `interrupted`).
    pub fn chains(&mut self) -> Result<Vec<RawChain>, LiveError> {
        let mut out = Vec::new();
        self.request("chain", NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, true, &[], |m| {
            out.push(ffi::parse_chain(m)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The rules of one table, in chain order. The kernel filters a rule dump by
    /// table before it counts where the next message resumes, so commits to other
    /// tables between the messages of this dump cannot make it skip or repeat rules.
    pub fn rules(&mut self, family: u8, table: &str) -> Result<Vec<RawRule>, LiveError> {
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_TABLE, table);
        let mut out = Vec::new();
        self.request("rule", NFT_MSG_GETRULE, family, true, &attrs, |m| {
            out.push(ffi::parse_rule(m)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The sets of one table.
    pub fn sets(&mut self, family: u8, table: &str) -> Result<Vec<RawSet>, LiveError> {
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_TABLE, table);
        let mut out = Vec::new();
        self.request("set", NFT_MSG_GETSET, family, true, &attrs, |m| {
            out.push(ffi::parse_set(m)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The named stateful objects of one table, of every type.
    pub fn objects(&mut self, family: u8, table: &str) -> Result<Vec<RawObj>, LiveError> {
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_TABLE, table);
        let mut out = Vec::new();
        self.request("object", NFT_MSG_GETOBJ, family, true, &attrs, |m| {
            out.push(ffi::parse_obj(m)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The flowtables of one table.
    pub fn flowtables(&mut self, family: u8, table: &str) -> Result<Vec<RawFlowtable>, LiveError> {
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_TABLE, table);
        let mut out = Vec::new();
        self.request(
            "flowtable",
            NFT_MSG_GETFLOWTABLE,
            family,
            true,
            &attrs,
            |m| {
                out.push(ffi::parse_flowtable(m)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The elements of one set, in the kernel's order.
    pub fn elements(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<RawElem>, LiveError> {
        let mut attrs = Vec::new();
        put_str(&mut attrs, NFTA_TABLE, table);
        put_str(&mut attrs, NFTA_SET_ELEM_LIST_SET, set);
        let mut out = Vec::new();
        self.request(
            "set element",
            NFT_MSG_GETSETELEM,
            family,
            true,
            &attrs,
            |m| {
                ffi::parse_elems(m, &mut out)?;
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Sends one request and feeds each answer message to `each` until the dump ends
    /// (NLMSG_DONE) or, for a plain get, the acknowledgement arrives.
    fn request(
        &mut self,
        what: &'static str,
        msg_type: u16,
        family: u8,
        dump: bool,
        attrs: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), ffi::ParseError>,
    ) -> Result<(), LiveError> {
        let Conn {
            sock,
            buf,
            seq,
            interrupted,
        } = self;
        *seq = seq.wrapping_add(1);
        let seq = *seq;
        let flags = if dump {
            libc::NLM_F_DUMP as u16
        } else {
            libc::NLM_F_ACK as u16
        };
        let req = encode(msg_type, family, flags, seq, attrs);
        sock.send(&req)
            .map_err(|source| LiveError::Send { what, source })?;
        let portid = sock.portid();
        loop {
            let bytes = buf.bytes_mut();
            let n = sock
                .recv_raw(bytes)
                .map_err(|source| LiveError::Recv { what, source })?;
            let data = &bytes[..n];
            for msg in mnl::NlMessages::new(data) {
                let msg = msg.map_err(|source| LiveError::Recv { what, source })?;
                let h = header(msg);
                if h.seq != seq || (h.pid != 0 && h.pid != portid) {
                    continue;
                }
                if h.flags & libc::NLM_F_DUMP_INTR as u16 != 0 {
                    *interrupted = true;
                }
                match h.kind {
                    k if k == libc::NLMSG_DONE as u16 => return Ok(()),
                    k if k == libc::NLMSG_ERROR as u16 => {
                        return match error_code(msg) {
                            0 => Ok(()),
                            e => Err(LiveError::kernel(what, e)),
                        };
                    }
                    k if k >> 8 == NFNL_SUBSYS_NFTABLES => each(msg)?,
                    _ => {}
                }
            }
        }
    }
}

struct Header {
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// The fields of an `nlmsghdr` (the iterator guarantees at least 16 bytes).
fn header(m: &[u8]) -> Header {
    let u16_at = |i: usize| u16::from_ne_bytes([m[i], m[i + 1]]);
    let u32_at = |i: usize| u32::from_ne_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
    Header {
        kind: u16_at(4),
        flags: u16_at(6),
        seq: u32_at(8),
        pid: u32_at(12),
    }
}

/// The (positive) errno of an NLMSG_ERROR message; 0 is an acknowledgement.
fn error_code(m: &[u8]) -> i32 {
    match m.get(16..20) {
        Some(b) => -i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        None => libc::EBADMSG,
    }
}

/// An nf_tables request: nlmsghdr, nfgenmsg, then the given attributes.
fn encode(msg_type: u16, family: u8, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg_type).to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16 | flags).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family, version (NFNETLINK_V0), resource id (big endian, unused).
    m.extend_from_slice(&[family, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// Appends a NUL-terminated string attribute, padded to 4 bytes.
fn put_str(out: &mut Vec<u8>, kind: u16, s: &str) {
    let len = 4 + s.len() + 1;
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_setelem_dump_request() {
        let mut a = Vec::new();
        put_str(&mut a, NFTA_TABLE, "hw");
        put_str(&mut a, NFTA_SET_ELEM_LIST_SET, "abcd");
        // "hw\0" is 7 bytes -> 8; "abcd\0" is 9 -> 12.
        assert_eq!(a.len(), 20);
        assert_eq!(&a[0..2], &7u16.to_ne_bytes());
        let m = encode(NFT_MSG_GETSETELEM, NFPROTO_INET, 0x300, 9, &a);
        assert_eq!(m.len(), 40);
        let h = header(&m);
        assert_eq!(h.kind, (10 << 8) | 13);
        assert_eq!(h.flags, 0x301);
        assert_eq!(h.seq, 9);
        assert_eq!(m[16], NFPROTO_INET);
    }

    #[test]
    fn reads_error_codes() {
        let mut m = vec![0u8; 36];
        m[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(error_code(&m), libc::EPERM);
        assert_eq!(error_code(&m[..10]), libc::EBADMSG);
    }
}
