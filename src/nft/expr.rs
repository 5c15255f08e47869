//! nf_tables expressions as typed data, encoded straight into the batch in safe Rust
//! (`encode`). Constructors mirror what `nft` generates; attribute order in `encode` is
//! libnftnl 1.2.4's (`src/expr/*.c` build functions), which the test-only `oracle`
//! checks byte for byte.

use super::vocab::{
    CmpOp, CtKey, IcmpxCode, LimitType, MetaKey, NFTA_DATA_VALUE, NFTA_DATA_VERDICT, PayloadBase,
    Register, RejectType, VerdictCode,
};
use super::wire::{WireError, Writer};

/// Register-sized data (one nf_tables register holds 16 bytes), kept inline
/// so building a rule allocates nothing per expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data {
    bytes: [u8; 16],
    len: u8,
}

impl Data {
    /// Callers pass at most 16 bytes (an address, an interface name, a port);
    /// anything longer is a bug in the caller, refused at encoding time.
    fn new(d: &[u8]) -> Data {
        let mut bytes = [0u8; 16];
        let n = d.len().min(16);
        bytes[..n].copy_from_slice(&d[..n]);
        let len = if d.len() > 16 { u8::MAX } else { n as u8 };
        Data { bytes, len }
    }

    pub(super) fn get(&self) -> Result<&[u8], WireError> {
        self.bytes
            .get(..self.len as usize)
            .ok_or_else(|| WireError("expression data longer than one register".into()))
    }

    fn zeroed(len: u8) -> Data {
        Data::new(&[0u8; 16][..(len as usize).min(16)])
    }
}

/// An nf_tables expression, as `nft` generates it for hostwall's matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `meta load KEY => reg 1`.
    Meta(MetaKey),
    /// `ct load state => reg 1`.
    CtState,
    Payload {
        base: PayloadBase,
        offset: u32,
        len: u32,
    },
    /// Compares register 1 with data already in the register's byte order.
    Cmp {
        op: CmpOp,
        data: Data,
    },
    /// `reg 1 = (reg 1 & mask) ^ 0`.
    Bitwise {
        mask: Data,
    },
    /// Register 1 looked up in a set, named within the batch by `set_id`.
    Lookup {
        set: String,
        set_id: u32,
    },
    Counter,
    /// `limit rate N/unit burst B packets` (`unit` in seconds).
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
    },
    /// `update @set { <register 1> limit rate N/unit burst B packets }`: a dynamic set
    /// update with one nested limit, the key in register 1.
    Dynset {
        set: String,
        set_id: u32,
        rate: u64,
        unit: u64,
        burst: u32,
    },
    /// nft sets only the attributes given (`level`: the syslog number).
    Log {
        prefix: Option<String>,
        group: Option<u16>,
        level: Option<u32>,
    },
    Verdict(VerdictCode),
    /// `reject`: a type and, for ICMPX, its code (0 when there is none).
    Reject(RejectType, Option<IcmpxCode>),
}

// Netlink attribute numbers (linux/netfilter/nf_tables.h).
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
/// `NFT_DYNSET_OP_UPDATE`: add the key when absent, refresh its timeout when present.
pub const DYNSET_OP_UPDATE: u32 = 1;

impl Expr {
    pub fn meta(key: MetaKey) -> Expr {
        Expr::Meta(key)
    }

    pub fn ct_state() -> Expr {
        Expr::CtState
    }

    pub fn payload(base: PayloadBase, offset: u32, len: u32) -> Expr {
        Expr::Payload { base, offset, len }
    }

    pub fn cmp(op: CmpOp, data: &[u8]) -> Expr {
        Expr::Cmp {
            op,
            data: Data::new(data),
        }
    }

    pub fn bitwise_mask(mask: &[u8]) -> Expr {
        Expr::Bitwise {
            mask: Data::new(mask),
        }
    }

    pub fn lookup(set: &str, set_id: u32) -> Expr {
        Expr::Lookup {
            set: set.to_string(),
            set_id,
        }
    }

    pub fn counter() -> Expr {
        Expr::Counter
    }

    pub fn limit(rate: u64, unit: u64, burst: u32) -> Expr {
        Expr::Limit { rate, unit, burst }
    }

    pub fn source_limit(set: &str, set_id: u32, rate: u64, unit: u64, burst: u32) -> Expr {
        Expr::Dynset {
            set: set.to_string(),
            set_id,
            rate,
            unit,
            burst,
        }
    }

    pub fn log(prefix: Option<&str>, group: Option<u16>, level: Option<u32>) -> Expr {
        Expr::Log {
            prefix: prefix.map(str::to_string),
            group,
            level,
        }
    }

    pub fn verdict(v: VerdictCode) -> Expr {
        Expr::Verdict(v)
    }

    pub fn reject(ty: RejectType, code: Option<IcmpxCode>) -> Expr {
        Expr::Reject(ty, code)
    }

    /// The kernel's name for the expression (`NFTA_EXPR_NAME`).
    pub fn name(&self) -> &'static str {
        match self {
            Expr::Meta(_) => "meta",
            Expr::CtState => "ct",
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Counter => "counter",
            Expr::Limit { .. } => "limit",
            Expr::Dynset { .. } => "dynset",
            Expr::Log { .. } => "log",
            Expr::Verdict(_) => "immediate",
            Expr::Reject(..) => "reject",
        }
    }

    /// Appends `NFTA_EXPR_NAME` and the `NFTA_EXPR_DATA` nest, attributes in
    /// libnftnl's order, so the bytes equal what libnftnl would write.
    pub fn encode(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_str(NFTA_EXPR_NAME, self.name());
        let nest = w.nest_start(NFTA_EXPR_DATA);
        match self {
            Expr::Meta(key) => {
                w.put_be32(2, key.raw()); // NFTA_META_KEY
                w.put_be32(1, Register::R1.raw()); // NFTA_META_DREG
            }
            Expr::CtState => {
                w.put_be32(2, CtKey::State.raw()); // NFTA_CT_KEY
                w.put_be32(1, Register::R1.raw()); // NFTA_CT_DREG
            }
            Expr::Payload { base, offset, len } => {
                w.put_be32(1, Register::R1.raw()); // NFTA_PAYLOAD_DREG
                w.put_be32(2, base.raw());
                w.put_be32(3, *offset);
                w.put_be32(4, *len);
            }
            Expr::Cmp { op, data } => {
                w.put_be32(1, Register::R1.raw()); // NFTA_CMP_SREG
                w.put_be32(2, op.raw());
                data_value(w, 3, data.get()?)?; // NFTA_CMP_DATA
            }
            Expr::Bitwise { mask } => {
                let m = mask.get()?;
                w.put_be32(1, Register::R1.raw()); // NFTA_BITWISE_SREG
                w.put_be32(2, Register::R1.raw()); // NFTA_BITWISE_DREG
                w.put_be32(3, m.len() as u32); // NFTA_BITWISE_LEN
                data_value(w, 4, m)?; // NFTA_BITWISE_MASK
                data_value(w, 5, Data::zeroed(mask.len).get()?)?; // NFTA_BITWISE_XOR
            }
            Expr::Lookup { set, set_id } => {
                w.put_be32(2, Register::R1.raw()); // NFTA_LOOKUP_SREG
                w.put_str(1, cut_nul(set)); // NFTA_LOOKUP_SET
                w.put_be32(4, *set_id); // NFTA_LOOKUP_SET_ID
            }
            Expr::Counter => {}
            Expr::Limit { rate, unit, burst } => {
                w.put(1, &rate.to_be_bytes()); // NFTA_LIMIT_RATE
                w.put(2, &unit.to_be_bytes());
                w.put_be32(3, *burst);
                w.put_be32(4, LimitType::Pkts.raw()); // NFTA_LIMIT_TYPE
                w.put_be32(5, 0); // NFTA_LIMIT_FLAGS
            }
            Expr::Dynset {
                set,
                set_id,
                rate,
                unit,
                burst,
            } => {
                w.put_be32(4, Register::R1.raw()); // NFTA_DYNSET_SREG_KEY
                w.put_be32(3, DYNSET_OP_UPDATE); // NFTA_DYNSET_OP
                w.put_str(1, cut_nul(set)); // NFTA_DYNSET_SET_NAME
                w.put_be32(2, *set_id); // NFTA_DYNSET_SET_ID
                let inner = w.nest_start(7); // NFTA_DYNSET_EXPR
                Expr::limit(*rate, *unit, *burst).encode(w)?;
                w.nest_end(inner)?;
            }
            Expr::Log {
                prefix,
                group,
                level,
            } => {
                if let Some(p) = prefix {
                    w.put_str(2, cut_nul(p)); // NFTA_LOG_PREFIX
                }
                if let Some(g) = group {
                    w.put(1, &g.to_be_bytes()); // NFTA_LOG_GROUP
                }
                if let Some(l) = level {
                    w.put_be32(5, *l); // NFTA_LOG_LEVEL
                }
            }
            Expr::Verdict(v) => {
                w.put_be32(1, Register::Verdict.raw()); // NFTA_IMMEDIATE_DREG
                let data = w.nest_start(2); // NFTA_IMMEDIATE_DATA
                let verdict = w.nest_start(NFTA_DATA_VERDICT);
                w.put_be32(NFTA_VERDICT_CODE, v.raw());
                w.nest_end(verdict)?;
                w.nest_end(data)?;
            }
            Expr::Reject(ty, code) => {
                w.put_be32(1, ty.raw()); // NFTA_REJECT_TYPE
                w.put(2, &[reject_code(*code)]); // NFTA_REJECT_ICMP_CODE
            }
        }
        w.nest_end(nest)
    }
}

fn data_value(w: &mut Writer, ty: u16, d: &[u8]) -> Result<(), WireError> {
    let n = w.nest_start(ty);
    w.put(NFTA_DATA_VALUE, d);
    w.nest_end(n)
}

/// The one-byte code a reject carries (0 without one).
pub(super) fn reject_code(code: Option<IcmpxCode>) -> u8 {
    code.map_or(0, |c| c.raw() as u8)
}

/// Interior NULs cannot be represented in a C string; the checker rejects them
/// earlier, so cutting at the first NUL only guards against misuse (and is what
/// libnftnl's strz attributes would send).
pub(crate) fn cut_nul(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}
