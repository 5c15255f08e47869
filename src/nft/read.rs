//! The read side's only unsafe code: libnftnl's message parsers turned into owned,
//! plain Rust values (`Raw*`), plus the aligned receive buffer they parse from.
//!
//! Everything here copies out of libnftnl objects and frees them before returning, so
//! nothing above this file sees a pointer. Interpretation (what an attribute means)
//! happens in safe code (`live::decode`): this file only reports what is set.

use nftnl_sys as sys;
use std::ffi::{CStr, c_char, c_void};

/// One expression exactly as the kernel reported it: its name, every attribute libnftnl
/// says is set (as raw bytes, integers in host order), and libnftnl's own text of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExpr {
    pub name: String,
    pub attrs: Vec<(u16, Vec<u8>)>,
    /// `[ meta load mark => reg 1 ]`, as `nft --debug=netlink` prints it.
    pub text: String,
    /// A dynset's nested expression (`NFTA_DYNSET_EXPR`), decoded the same way.
    pub nested: Vec<RawExpr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTable {
    pub family: u32,
    pub name: String,
    /// `NFT_TABLE_F_*` (1 = dormant: no chain of the table is hooked).
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawChain {
    pub family: u32,
    pub table: String,
    pub name: String,
    pub hook: Option<u32>,
    pub priority: Option<i32>,
    pub policy: Option<u32>,
    pub chain_type: Option<String>,
    /// Devices of a netdev (or inet ingress) base chain.
    pub devices: Vec<String>,
}

/// A named stateful object (counter, quota, limit, ct helper, synproxy, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawObj {
    pub name: String,
    /// `NFT_OBJECT_*` as the kernel sent it, whether or not libnftnl knows the type.
    pub obj_type: Option<u32>,
    /// libnftnl's text of the object's contents (`pkts 0 bytes 0`), empty when it
    /// does not know the type.
    pub text: String,
}

/// A flowtable: its hook, priority, devices and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFlowtable {
    pub name: String,
    pub hook: Option<u32>,
    pub priority: Option<i32>,
    pub devices: Vec<String>,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRule {
    pub family: u32,
    pub table: String,
    pub chain: String,
    pub exprs: Vec<RawExpr>,
    pub userdata: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSet {
    pub family: u32,
    pub table: String,
    pub name: String,
    pub flags: u32,
    pub key_type: u32,
    pub key_len: u32,
    /// A map's data type (nft datatype id; `0xffffff00` for verdicts).
    pub data_type: Option<u32>,
    /// Set with a timeout or per-set expressions.
    pub stateful: bool,
    /// The set's timeout (`NFTA_SET_TIMEOUT`), in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The size written at creation (`NFTA_SET_DESC_SIZE`).
    pub size: Option<u32>,
    /// Per-set expressions (`NFTA_SET_EXPR`/`NFTA_SET_EXPRESSIONS`): none hostwall creates.
    pub set_exprs: bool,
    pub userdata: Option<Vec<u8>>,
}

pub use super::elems::ElemKey;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawElem {
    pub key: ElemKey,
    pub key_end: Option<ElemKey>,
    pub flags: u32,
    /// Data, verdict, timeout, expressions or object reference attached: a map or a
    /// stateful element, which the IR's sets cannot hold.
    pub extra: bool,
    /// A verdict map element's verdict code and, for jump/goto, its chain.
    pub verdict: Option<(i32, Option<String>)>,
}

/// Why libnftnl refused a message.
#[derive(Debug, thiserror::Error)]
#[error("libnftnl could not parse a {0} message")]
pub struct ParseError(pub &'static str);

/// A receive buffer aligned for `nlmsghdr` (libnftnl requires it: pages are), in pages
/// of its own: only the pages a message is received into are ever touched (most
/// exchanges receive a few hundred bytes of the megabyte a client can take at once).
pub struct AlignedBuf(crate::pages::Zeroed<u8>);

impl AlignedBuf {
    pub fn new(bytes: usize) -> AlignedBuf {
        AlignedBuf(crate::pages::Zeroed::new(bytes))
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Checks that `msg` is one whole netlink message that libnftnl may walk: 4-byte
/// aligned, and its header length within the slice.
fn checked(msg: &[u8]) -> Option<*const libc::nlmsghdr> {
    if msg.len() < std::mem::size_of::<libc::nlmsghdr>() + 4 || (msg.as_ptr() as usize) % 4 != 0 {
        return None;
    }
    let len = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
    (len <= msg.len()).then_some(msg.as_ptr() as *const libc::nlmsghdr)
}

/// # Safety
/// `p` is null or a NUL-terminated string that outlives the call.
unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Bound on the entries read from a NULL-terminated string array (device lists).
const MAX_ARRAY: usize = 4096;

/// # Safety
/// `p` is null or a NULL-terminated array of NUL-terminated strings that outlive the call.
unsafe fn strings(p: *const *const c_char) -> Vec<String> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    // SAFETY: per the caller's contract, every entry up to the NULL one is readable.
    unsafe {
        while out.len() < MAX_ARRAY {
            let s = *p.add(out.len());
            if s.is_null() {
                break;
            }
            out.push(string(s));
        }
    }
    out
}

/// # Safety
/// `p` is null or points at `len` readable bytes.
unsafe fn bytes(p: *const c_void, len: u32) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, len as usize) }.to_vec())
}

/// NFT_MSG_NEWTABLE -> family and name.
pub fn parse_table(msg: &[u8]) -> Result<RawTable, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("table"))?;
    // SAFETY: `nlh` is a whole aligned message (checked); the object is freed on all
    // paths, and strings are copied before it is.
    unsafe {
        let t = sys::nftnl_table_alloc();
        if t.is_null() {
            return Err(ParseError("table"));
        }
        let ok = sys::nftnl_table_nlmsg_parse(nlh, t) >= 0;
        let out = RawTable {
            family: sys::nftnl_table_get_u32(t, sys::NFTNL_TABLE_FAMILY as u16),
            name: string(sys::nftnl_table_get_str(t, sys::NFTNL_TABLE_NAME as u16)),
            flags: sys::nftnl_table_get_u32(t, sys::NFTNL_TABLE_FLAGS as u16),
        };
        sys::nftnl_table_free(t);
        if ok {
            Ok(out)
        } else {
            Err(ParseError("table"))
        }
    }
}

/// NFT_MSG_NEWCHAIN -> its identity and, for a base chain, hook, priority, policy.
pub fn parse_chain(msg: &[u8]) -> Result<RawChain, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("chain"))?;
    // SAFETY: as in `parse_table`; getters are only called for attributes that are set.
    unsafe {
        let c = sys::nftnl_chain_alloc();
        if c.is_null() {
            return Err(ParseError("chain"));
        }
        let ok = sys::nftnl_chain_nlmsg_parse(nlh, c) >= 0;
        let set = |a: u32| sys::nftnl_chain_is_set(c, a as u16);
        let out = RawChain {
            family: sys::nftnl_chain_get_u32(c, sys::NFTNL_CHAIN_FAMILY as u16),
            table: string(sys::nftnl_chain_get_str(c, sys::NFTNL_CHAIN_TABLE as u16)),
            name: string(sys::nftnl_chain_get_str(c, sys::NFTNL_CHAIN_NAME as u16)),
            hook: set(sys::NFTNL_CHAIN_HOOKNUM)
                .then(|| sys::nftnl_chain_get_u32(c, sys::NFTNL_CHAIN_HOOKNUM as u16)),
            priority: set(sys::NFTNL_CHAIN_PRIO)
                .then(|| sys::nftnl_chain_get_s32(c, sys::NFTNL_CHAIN_PRIO as u16)),
            policy: set(sys::NFTNL_CHAIN_POLICY)
                .then(|| sys::nftnl_chain_get_u32(c, sys::NFTNL_CHAIN_POLICY as u16)),
            chain_type: set(sys::NFTNL_CHAIN_TYPE)
                .then(|| string(sys::nftnl_chain_get_str(c, sys::NFTNL_CHAIN_TYPE as u16))),
            devices: if set(sys::NFTNL_CHAIN_DEVICES) {
                strings(sys::nftnl_chain_get_array(
                    c,
                    sys::NFTNL_CHAIN_DEVICES as u16,
                ))
            } else if set(sys::NFTNL_CHAIN_DEV) {
                vec![string(sys::nftnl_chain_get_str(
                    c,
                    sys::NFTNL_CHAIN_DEV as u16,
                ))]
            } else {
                Vec::new()
            },
        };
        sys::nftnl_chain_free(c);
        if ok {
            Ok(out)
        } else {
            Err(ParseError("chain"))
        }
    }
}

/// NFT_MSG_NEWRULE -> its chain, every expression with all its attributes, userdata.
pub fn parse_rule(msg: &[u8]) -> Result<RawRule, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("rule"))?;
    // SAFETY: as in `parse_chain`. The expression iterator borrows the rule and is
    // destroyed before the rule is freed; expression data is copied out while both live.
    unsafe {
        let r = sys::nftnl_rule_alloc();
        if r.is_null() {
            return Err(ParseError("rule"));
        }
        if sys::nftnl_rule_nlmsg_parse(nlh, r) < 0 {
            sys::nftnl_rule_free(r);
            return Err(ParseError("rule"));
        }
        let mut exprs = Vec::new();
        let it = sys::nftnl_expr_iter_create(r);
        if !it.is_null() {
            let mut e = sys::nftnl_expr_iter_next(it);
            while !e.is_null() {
                exprs.push(expr(e));
                e = sys::nftnl_expr_iter_next(it);
            }
            sys::nftnl_expr_iter_destroy(it);
        }
        let mut ulen = 0u32;
        let udata = if sys::nftnl_rule_is_set(r, sys::NFTNL_RULE_USERDATA as u16) {
            bytes(
                sys::nftnl_rule_get_data(r, sys::NFTNL_RULE_USERDATA as u16, &mut ulen),
                ulen,
            )
        } else {
            None
        };
        let out = RawRule {
            family: sys::nftnl_rule_get_u32(r, sys::NFTNL_RULE_FAMILY as u16),
            table: string(sys::nftnl_rule_get_str(r, sys::NFTNL_RULE_TABLE as u16)),
            chain: string(sys::nftnl_rule_get_str(r, sys::NFTNL_RULE_CHAIN as u16)),
            exprs,
            userdata: udata,
        };
        sys::nftnl_rule_free(r);
        Ok(out)
    }
}

/// Expression attribute numbers are small (libnftnl keeps them as bits of a u32).
const MAX_EXPR_ATTR: u16 = 31;

/// # Safety
/// `e` is a live expression of a live rule.
unsafe fn expr(e: *mut sys::nftnl_expr) -> RawExpr {
    // SAFETY: per the contract; attribute 0 is the expression's name.
    unsafe {
        let name = string(sys::nftnl_expr_get_str(e, 0));
        let mut attrs = Vec::new();
        let mut nested = Vec::new();
        let dynset_expr = sys::NFTNL_EXPR_DYNSET_EXPR as u16;
        for a in 1..=MAX_EXPR_ATTR {
            if !sys::nftnl_expr_is_set(e, a) {
                continue;
            }
            if name == "dynset" && a == dynset_expr {
                // The attribute is the nested expression itself, owned by `e`.
                let mut len = 0u32;
                let inner = sys::nftnl_expr_get(e, a, &mut len) as *mut sys::nftnl_expr;
                if !inner.is_null() {
                    nested.push(expr(inner));
                }
                continue;
            }
            let mut len = 0u32;
            if let Some(b) = bytes(sys::nftnl_expr_get(e, a, &mut len), len) {
                attrs.push((a, b));
            }
        }
        let mut buf = vec![0u8; 1024];
        let n = sys::nftnl_expr_snprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), e, 0, 0);
        let body = if n > 0 {
            string(buf.as_ptr() as *const c_char)
        } else {
            String::new()
        };
        let text = format!("[ {name} {}]", body);
        RawExpr {
            name,
            attrs,
            text,
            nested,
        }
    }
}

/// `NFTA_OBJ_TYPE`: the object type attribute, read directly so that a type libnftnl
/// does not know is still reported by number.
const NFTA_OBJ_TYPE: u16 = 3;
const NFTA_OBJ_NAME: u16 = 2;

/// The payload of the first top-level attribute `kind` after the nfgenmsg header.
fn top_attr(msg: &[u8], kind: u16) -> Option<&[u8]> {
    let len = u32::from_ne_bytes(msg.get(0..4)?.try_into().ok()?) as usize;
    let mut rest = msg.get(20..len.min(msg.len()))?;
    while rest.len() >= 4 {
        let alen = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        if alen < 4 || alen > rest.len() {
            return None;
        }
        if u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff == kind {
            return Some(&rest[4..alen]);
        }
        rest = rest.get(alen.next_multiple_of(4)..).unwrap_or(&[]);
    }
    None
}

/// NFT_MSG_NEWOBJ -> name, type and libnftnl's text of the contents. Name and type
/// are read from the message itself, so an object libnftnl cannot parse is still named.
pub fn parse_obj(msg: &[u8]) -> Result<RawObj, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("object"))?;
    let name = top_attr(msg, NFTA_OBJ_NAME)
        .map(|b| String::from_utf8_lossy(b.strip_suffix(&[0]).unwrap_or(b)).into_owned())
        .ok_or(ParseError("object"))?;
    let obj_type = top_attr(msg, NFTA_OBJ_TYPE)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes);
    // SAFETY: as in `parse_chain`; the text is copied out before the object is freed.
    let text = unsafe {
        let o = sys::nftnl_obj_alloc();
        if o.is_null() {
            return Err(ParseError("object"));
        }
        let known = sys::nftnl_obj_nlmsg_parse(nlh, o) >= 0
            && sys::nftnl_obj_is_set(o, sys::NFTNL_OBJ_TYPE as u16);
        let mut buf = vec![0u8; 1024];
        let n = if known {
            sys::nftnl_obj_snprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), o, 0, 0)
        } else {
            0
        };
        sys::nftnl_obj_free(o);
        if n > 0 {
            string(buf.as_ptr() as *const c_char)
        } else {
            String::new()
        }
    };
    Ok(RawObj {
        name,
        obj_type,
        text,
    })
}

/// NFT_MSG_NEWFLOWTABLE -> name, hook, priority, devices, flags.
pub fn parse_flowtable(msg: &[u8]) -> Result<RawFlowtable, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("flowtable"))?;
    // SAFETY: as in `parse_chain`.
    unsafe {
        let f = sys::nftnl_flowtable_alloc();
        if f.is_null() {
            return Err(ParseError("flowtable"));
        }
        let ok = sys::nftnl_flowtable_nlmsg_parse(nlh, f) >= 0;
        let set = |a: u32| sys::nftnl_flowtable_is_set(f, a as u16);
        let out = RawFlowtable {
            name: string(sys::nftnl_flowtable_get_str(
                f,
                sys::NFTNL_FLOWTABLE_NAME as u16,
            )),
            hook: set(sys::NFTNL_FLOWTABLE_HOOKNUM)
                .then(|| sys::nftnl_flowtable_get_u32(f, sys::NFTNL_FLOWTABLE_HOOKNUM as u16)),
            priority: set(sys::NFTNL_FLOWTABLE_PRIO)
                .then(|| sys::nftnl_flowtable_get_s32(f, sys::NFTNL_FLOWTABLE_PRIO as u16)),
            devices: if set(sys::NFTNL_FLOWTABLE_DEVICES) {
                strings(sys::nftnl_flowtable_get_array(
                    f,
                    sys::NFTNL_FLOWTABLE_DEVICES as u16,
                ))
            } else {
                Vec::new()
            },
            flags: if set(sys::NFTNL_FLOWTABLE_FLAGS) {
                sys::nftnl_flowtable_get_u32(f, sys::NFTNL_FLOWTABLE_FLAGS as u16)
            } else {
                0
            },
        };
        sys::nftnl_flowtable_free(f);
        if ok {
            Ok(out)
        } else {
            Err(ParseError("flowtable"))
        }
    }
}

/// NFT_MSG_NEWSET -> name, flags, key type and length, userdata.
pub fn parse_set(msg: &[u8]) -> Result<RawSet, ParseError> {
    let nlh = checked(msg).ok_or(ParseError("set"))?;
    // SAFETY: as in `parse_chain`.
    unsafe {
        let s = sys::nftnl_set_alloc();
        if s.is_null() {
            return Err(ParseError("set"));
        }
        let ok = sys::nftnl_set_nlmsg_parse(nlh, s) >= 0;
        let set = |a: u32| sys::nftnl_set_is_set(s, a as u16);
        let u32_of = |a: u32| sys::nftnl_set_get_u32(s, a as u16);
        let mut ulen = 0u32;
        let userdata = if set(sys::NFTNL_SET_USERDATA) {
            bytes(
                sys::nftnl_set_get_data(s, sys::NFTNL_SET_USERDATA as u16, &mut ulen),
                ulen,
            )
        } else {
            None
        };
        let out = RawSet {
            family: u32_of(sys::NFTNL_SET_FAMILY),
            table: string(sys::nftnl_set_get_str(s, sys::NFTNL_SET_TABLE as u16)),
            name: string(sys::nftnl_set_get_str(s, sys::NFTNL_SET_NAME as u16)),
            flags: if set(sys::NFTNL_SET_FLAGS) {
                u32_of(sys::NFTNL_SET_FLAGS)
            } else {
                0
            },
            key_type: u32_of(sys::NFTNL_SET_KEY_TYPE),
            key_len: u32_of(sys::NFTNL_SET_KEY_LEN),
            data_type: set(sys::NFTNL_SET_DATA_TYPE).then(|| u32_of(sys::NFTNL_SET_DATA_TYPE)),
            stateful: set(sys::NFTNL_SET_TIMEOUT)
                || set(sys::NFTNL_SET_EXPR)
                || set(sys::NFTNL_SET_EXPRESSIONS),
            timeout_ms: set(sys::NFTNL_SET_TIMEOUT)
                .then(|| sys::nftnl_set_get_u64(s, sys::NFTNL_SET_TIMEOUT as u16)),
            size: set(sys::NFTNL_SET_DESC_SIZE).then(|| u32_of(sys::NFTNL_SET_DESC_SIZE)),
            set_exprs: set(sys::NFTNL_SET_EXPR) || set(sys::NFTNL_SET_EXPRESSIONS),
            userdata,
        };
        sys::nftnl_set_free(s);
        if ok { Ok(out) } else { Err(ParseError("set")) }
    }
}

/// One NFT_MSG_NEWSETELEM message -> its elements, appended to `out` in message order.
pub fn parse_elems(msg: &[u8], out: &mut Vec<RawElem>) -> Result<(), ParseError> {
    match super::elems::parse(msg, out) {
        Some(()) => Ok(()),
        None => parse_elems_nftnl(msg, out),
    }
}

/// [`parse_elems`] by libnftnl alone.
pub(super) fn parse_elems_nftnl(msg: &[u8], out: &mut Vec<RawElem>) -> Result<(), ParseError> {
    let nlh = checked(msg).ok_or(ParseError("set element"))?;
    // SAFETY: as in `parse_rule`: the iterator is destroyed before the set is freed and
    // key bytes are copied while the element lives.
    unsafe {
        let s = sys::nftnl_set_alloc();
        if s.is_null() {
            return Err(ParseError("set element"));
        }
        if sys::nftnl_set_elems_nlmsg_parse(nlh, s) < 0 {
            sys::nftnl_set_free(s);
            return Err(ParseError("set element"));
        }
        let it = sys::nftnl_set_elems_iter_create(s);
        if !it.is_null() {
            let mut e = sys::nftnl_set_elems_iter_next(it);
            while !e.is_null() {
                out.push(elem(e));
                e = sys::nftnl_set_elems_iter_next(it);
            }
            sys::nftnl_set_elems_iter_destroy(it);
        }
        sys::nftnl_set_free(s);
        Ok(())
    }
}

/// # Safety
/// `e` is a live element of a live set.
unsafe fn elem(e: *mut sys::nftnl_set_elem) -> RawElem {
    // SAFETY: per the contract; data is copied out.
    unsafe {
        let set = |a: u32| sys::nftnl_set_elem_is_set(e, a as u16);
        let get = |a: u32| {
            let mut len = 0u32;
            if set(a) {
                bytes(sys::nftnl_set_elem_get(e, a as u16, &mut len), len)
            } else {
                None
            }
        };
        RawElem {
            key: get(sys::NFTNL_SET_ELEM_KEY).unwrap_or_default().into(),
            key_end: get(sys::NFTNL_SET_ELEM_KEY_END).map(ElemKey::from),
            flags: if set(sys::NFTNL_SET_ELEM_FLAGS) {
                sys::nftnl_set_elem_get_u32(e, sys::NFTNL_SET_ELEM_FLAGS as u16)
            } else {
                0
            },
            verdict: set(sys::NFTNL_SET_ELEM_VERDICT).then(|| {
                let code = sys::nftnl_set_elem_get_u32(e, sys::NFTNL_SET_ELEM_VERDICT as u16);
                let chain = get(sys::NFTNL_SET_ELEM_CHAIN).map(|b| {
                    let b = b.strip_suffix(&[0]).unwrap_or(&b).to_vec();
                    String::from_utf8_lossy(&b).into_owned()
                });
                (code as i32, chain)
            }),
            extra: [
                sys::NFTNL_SET_ELEM_VERDICT,
                sys::NFTNL_SET_ELEM_CHAIN,
                sys::NFTNL_SET_ELEM_DATA,
                sys::NFTNL_SET_ELEM_TIMEOUT,
                sys::NFTNL_SET_ELEM_EXPR,
                sys::NFTNL_SET_ELEM_OBJREF,
                sys::NFTNL_SET_ELEM_EXPRESSIONS,
            ]
            .into_iter()
            .any(set),
        }
    }
}
