//! nf_tables expressions as data, turned into libnftnl expressions behind the
//! nftnl crate's `Expression` trait.
//!
//! The crate lacks log, limit, reject and the generic forms hostwall needs, so
//! every expression is described here as a name plus typed libnftnl attributes;
//! one `to_expr` holds all the FFI. Constructors mirror what `nft` generates.

use nftnl::Rule;
use nftnl::expr::Expression;
use nftnl::nftnl_sys as sys;
use std::ffi::{CStr, CString, c_void};
use std::ptr::NonNull;

/// One libnftnl attribute value, typed as libnftnl's setters expect it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attr {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Data(Vec<u8>),
    Str(CString),
}

/// An nf_tables expression: its kernel name and libnftnl attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    name: &'static CStr,
    attrs: Vec<(u32, Attr)>,
}

// Kernel constants (linux/netfilter/nf_tables.h, linux/netfilter.h).
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
pub const NF_DROP: u32 = 0;
pub const NF_ACCEPT: u32 = 1;

/// `enum nft_meta_keys` values hostwall loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MetaKey {
    NfProto = 15,
    L4Proto = 16,
    IifName = 6,
    OifName = 7,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PayloadBase {
    Network = 1,
    Transport = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
    Lte = 3,
    Gte = 5,
}

/// `NFT_REJECT_*` types and their codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    TcpReset,
    /// `NFT_REJECT_ICMPX_UNREACH` with an `NFT_REJECT_ICMPX_*` code.
    Icmpx(u8),
}

pub const ICMPX_PORT_UNREACH: u8 = 1;
pub const ICMPX_ADMIN_PROHIBITED: u8 = 3;

impl Expr {
    fn new(name: &'static CStr) -> Expr {
        Expr {
            name,
            attrs: Vec::new(),
        }
    }

    fn with(mut self, key: u32, v: Attr) -> Expr {
        self.attrs.push((key, v));
        self
    }

    pub fn meta(key: MetaKey) -> Expr {
        Expr::new(c"meta")
            .with(sys::NFTNL_EXPR_META_KEY, Attr::U32(key as u32))
            .with(sys::NFTNL_EXPR_META_DREG, Attr::U32(REG_1))
    }

    /// `ct load state => reg 1`.
    pub fn ct_state() -> Expr {
        Expr::new(c"ct")
            .with(sys::NFTNL_EXPR_CT_KEY, Attr::U32(0)) // NFT_CT_STATE
            .with(sys::NFTNL_EXPR_CT_DREG, Attr::U32(REG_1))
    }

    pub fn payload(base: PayloadBase, offset: u32, len: u32) -> Expr {
        Expr::new(c"payload")
            .with(sys::NFTNL_EXPR_PAYLOAD_DREG, Attr::U32(REG_1))
            .with(sys::NFTNL_EXPR_PAYLOAD_BASE, Attr::U32(base as u32))
            .with(sys::NFTNL_EXPR_PAYLOAD_OFFSET, Attr::U32(offset))
            .with(sys::NFTNL_EXPR_PAYLOAD_LEN, Attr::U32(len))
    }

    /// Compares register 1 with `data` (already in the register's byte order).
    pub fn cmp(op: CmpOp, data: &[u8]) -> Expr {
        Expr::new(c"cmp")
            .with(sys::NFTNL_EXPR_CMP_SREG, Attr::U32(REG_1))
            .with(sys::NFTNL_EXPR_CMP_OP, Attr::U32(op as u32))
            .with(sys::NFTNL_EXPR_CMP_DATA, Attr::Data(data.to_vec()))
    }

    /// `reg 1 = (reg 1 & mask) ^ 0`.
    pub fn bitwise_mask(mask: &[u8]) -> Expr {
        Expr::new(c"bitwise")
            .with(sys::NFTNL_EXPR_BITWISE_SREG, Attr::U32(REG_1))
            .with(sys::NFTNL_EXPR_BITWISE_DREG, Attr::U32(REG_1))
            .with(sys::NFTNL_EXPR_BITWISE_LEN, Attr::U32(mask.len() as u32))
            .with(sys::NFTNL_EXPR_BITWISE_MASK, Attr::Data(mask.to_vec()))
            .with(sys::NFTNL_EXPR_BITWISE_XOR, Attr::Data(vec![0; mask.len()]))
    }

    /// Looks register 1 up in the named set (`set_id` names it within the batch).
    pub fn lookup(set: &str, set_id: u32) -> Expr {
        Expr::new(c"lookup")
            .with(sys::NFTNL_EXPR_LOOKUP_SREG, Attr::U32(REG_1))
            .with(sys::NFTNL_EXPR_LOOKUP_SET, Attr::Str(cstring(set)))
            .with(sys::NFTNL_EXPR_LOOKUP_SET_ID, Attr::U32(set_id))
    }

    pub fn counter() -> Expr {
        Expr::new(c"counter")
    }

    /// `limit rate N/unit burst B packets` (`unit` in seconds).
    pub fn limit(rate: u64, unit: u64, burst: u32) -> Expr {
        Expr::new(c"limit")
            .with(sys::NFTNL_EXPR_LIMIT_RATE, Attr::U64(rate))
            .with(sys::NFTNL_EXPR_LIMIT_UNIT, Attr::U64(unit))
            .with(sys::NFTNL_EXPR_LIMIT_BURST, Attr::U32(burst))
            .with(sys::NFTNL_EXPR_LIMIT_TYPE, Attr::U32(0)) // NFT_LIMIT_PKTS
            .with(sys::NFTNL_EXPR_LIMIT_FLAGS, Attr::U32(0))
    }

    /// `log [prefix ".."] [group N]`: nft sets only the attributes given.
    pub fn log(prefix: Option<&str>, group: Option<u16>) -> Expr {
        let mut e = Expr::new(c"log");
        if let Some(p) = prefix {
            e = e.with(sys::NFTNL_EXPR_LOG_PREFIX, Attr::Str(cstring(p)));
        }
        if let Some(g) = group {
            e = e.with(sys::NFTNL_EXPR_LOG_GROUP, Attr::U16(g));
        }
        e
    }

    pub fn verdict(v: u32) -> Expr {
        Expr::new(c"immediate")
            .with(sys::NFTNL_EXPR_IMM_DREG, Attr::U32(REG_VERDICT))
            .with(sys::NFTNL_EXPR_IMM_VERDICT, Attr::U32(v))
    }

    pub fn reject(r: Reject) -> Expr {
        let (ty, code) = match r {
            Reject::TcpReset => (1, 0),       // NFT_REJECT_TCP_RST
            Reject::Icmpx(code) => (2, code), // NFT_REJECT_ICMPX_UNREACH
        };
        Expr::new(c"reject")
            .with(sys::NFTNL_EXPR_REJECT_TYPE, Attr::U32(ty))
            .with(sys::NFTNL_EXPR_REJECT_CODE, Attr::U8(code))
    }

    /// Upper bound of this expression's encoded size, to keep a rule message
    /// below libnftnl's 64 KiB buffer.
    pub fn max_encoded_len(&self) -> usize {
        let attrs: usize = self
            .attrs
            .iter()
            .map(|(_, a)| match a {
                Attr::Data(d) => d.len() + 12,
                Attr::Str(s) => s.as_bytes().len() + 12,
                _ => 16,
            })
            .sum();
        32 + attrs
    }
}

/// Interior NULs cannot be represented in a C string; the checker rejects them
/// earlier, so truncating at the first NUL here only guards against misuse.
fn cstring(s: &str) -> CString {
    let cut = s.split('\0').next().unwrap_or("");
    CString::new(cut).unwrap_or_default()
}

impl Expression for Expr {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        // SAFETY: nftnl_expr_alloc returns a fresh expression or NULL (checked);
        // each setter copies its argument, and the attribute keys above are the
        // ones libnftnl defines for this expression name, with the value types
        // its setters expect. Ownership passes to the rule (`nftnl_rule_add_expr`).
        unsafe {
            let Some(e) = NonNull::new(sys::nftnl_expr_alloc(self.name.as_ptr())) else {
                std::process::abort(); // out of memory, as the nftnl crate does
            };
            let p = e.as_ptr();
            for (key, v) in &self.attrs {
                let k = *key as u16;
                match v {
                    Attr::U8(x) => sys::nftnl_expr_set_u8(p, k, *x),
                    Attr::U16(x) => sys::nftnl_expr_set_u16(p, k, *x),
                    Attr::U32(x) => sys::nftnl_expr_set_u32(p, k, *x),
                    Attr::U64(x) => sys::nftnl_expr_set_u64(p, k, *x),
                    Attr::Data(d) => {
                        sys::nftnl_expr_set(p, k, d.as_ptr() as *const c_void, d.len() as u32);
                    }
                    Attr::Str(s) => {
                        sys::nftnl_expr_set_str(p, k, s.as_ptr());
                    }
                }
            }
            e
        }
    }
}
