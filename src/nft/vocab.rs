//! The kernel's nf_tables vocabulary, declared once and used both ways: the encoder
//! writes these enums' numbers (`raw`) and the live decoder reads numbers back into
//! them (`TryFrom<u32>`), so a number the two sides disagree on cannot hide.
//! Values are from linux/netfilter/nf_tables.h, linux/netfilter.h and nftables'
//! datatype.h; the plain constants below are flags and attribute numbers.

/// A number outside a vocabulary: the decoder treats the expression as unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{vocabulary} has no value {value}")]
pub struct Unknown {
    pub vocabulary: &'static str,
    pub value: u32,
}

/// Declares a `#[repr(u32)]` enum with `ALL`, `raw()` and `TryFrom<u32>`, all from the
/// one list of `Variant = number` pairs.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The number the kernel uses.
            pub const fn raw(self) -> u32 {
                self as u32
            }
        }

        impl TryFrom<u32> for $name {
            type Error = Unknown;

            fn try_from(value: u32) -> Result<Self, Unknown> {
                $(if value == $value {
                    return Ok($name::$variant);
                })+
                Err(Unknown { vocabulary: stringify!($name), value })
            }
        }
    };
}

vocabulary! {
    /// `enum nft_registers`: the verdict register and the first 16-byte data register.
    Register {
        Verdict = 0,
        R1 = 1,
    }
}

vocabulary! {
    /// `enum nft_cmp_ops`.
    CmpOp {
        Eq = 0,
        Neq = 1,
        Lt = 2,
        Lte = 3,
        Gt = 4,
        Gte = 5,
    }
}

vocabulary! {
    /// `enum nft_range_ops`.
    RangeOp {
        Eq = 0,
        Neq = 1,
    }
}

vocabulary! {
    /// `enum nft_bitwise_ops`: hostwall's masks are `Bool` (`(reg & mask) ^ xor`).
    BitwiseOp {
        Bool = 0,
        Lshift = 1,
        Rshift = 2,
    }
}

vocabulary! {
    /// `enum nft_payload_bases`.
    PayloadBase {
        LinkLayer = 0,
        Network = 1,
        Transport = 2,
    }
}

vocabulary! {
    /// `enum nft_meta_keys` values hostwall writes or reads.
    MetaKey {
        Protocol = 1,
        IifName = 6,
        OifName = 7,
        NfProto = 15,
        L4Proto = 16,
    }
}

vocabulary! {
    /// `enum nft_ct_keys` values hostwall writes or reads.
    CtKey {
        State = 0,
        Status = 2,
    }
}

vocabulary! {
    /// Verdict codes as the kernel stores them: `NF_*` from linux/netfilter.h, and
    /// nf_tables' own negative `NFT_*` codes as their two's complement.
    VerdictCode {
        Drop = 0,
        Accept = 1,
        Stolen = 2,
        Continue = (-1i32) as u32,
        Break = (-2i32) as u32,
        Jump = (-3i32) as u32,
        Goto = (-4i32) as u32,
        Return = (-5i32) as u32,
    }
}

vocabulary! {
    /// `NFPROTO_*`: a table's family, and the value `meta nfproto` loads.
    Family {
        Unspec = 0,
        Inet = 1,
        Ipv4 = 2,
        Arp = 3,
        Netdev = 5,
        Bridge = 7,
        Ipv6 = 10,
    }
}

vocabulary! {
    /// `enum nf_inet_hooks` (bridge chains use the same numbers and names).
    InetHook {
        Prerouting = 0,
        Input = 1,
        Forward = 2,
        Output = 3,
        Postrouting = 4,
        Ingress = 5,
    }
}

vocabulary! {
    /// `enum nft_reject_types`.
    RejectType {
        IcmpUnreach = 0,
        TcpRst = 1,
        IcmpxUnreach = 2,
    }
}

vocabulary! {
    /// `enum nft_reject_inet_code`: the codes of `RejectType::IcmpxUnreach`.
    IcmpxCode {
        NoRoute = 0,
        PortUnreach = 1,
        HostUnreach = 2,
        AdminProhibited = 3,
    }
}

vocabulary! {
    /// `enum nft_limit_type`.
    LimitType {
        Pkts = 0,
        Bytes = 1,
    }
}

vocabulary! {
    /// `enum nft_nat_types`.
    NatType {
        Snat = 0,
        Dnat = 1,
    }
}

vocabulary! {
    /// `NFT_OBJECT_*`: named stateful object types.
    ObjectType {
        Counter = 1,
        Quota = 2,
        CtHelper = 3,
        Limit = 4,
        Connlimit = 5,
        Tunnel = 6,
        CtTimeout = 7,
        Secmark = 8,
        CtExpect = 9,
        Synproxy = 10,
    }
}

vocabulary! {
    /// nft's datatype ids (`enum datatypes` in nftables' datatype.h) that set keys and
    /// map data of hostwall's and other tables have.
    DataType {
        Ipv4Addr = 7,
        Ipv6Addr = 8,
        InetProto = 12,
        InetService = 13,
        IcmpType = 14,
        CtState = 26,
        Icmpv6Type = 29,
        IfName = 41,
        Verdict = 0xffff_ff00,
    }
}

impl InetHook {
    /// The hook's name as nft prints it.
    pub fn name(self) -> &'static str {
        match self {
            InetHook::Prerouting => "prerouting",
            InetHook::Input => "input",
            InetHook::Forward => "forward",
            InetHook::Output => "output",
            InetHook::Postrouting => "postrouting",
            InetHook::Ingress => "ingress",
        }
    }
}

/// The longest rule comment in bytes: nft's `NFTNL_UDATA_COMMENT_MAXLEN` ("comment too
/// long, 128 characters maximum allowed"). The kernel allows 256 bytes of userdata
/// (`NFT_USERDATA_MAXLEN`), which the comment's TLV (2 + 128 + NUL) stays within.
pub const MAX_COMMENT: usize = 128;

/// `NFT_LOOKUP_F_INV`.
pub const LOOKUP_F_INV: u32 = 0x1;
/// `NFT_SET_*` flags.
pub const SET_ANONYMOUS: u32 = 0x1;
pub const SET_CONSTANT: u32 = 0x2;
pub const SET_INTERVAL: u32 = 0x4;
pub const SET_MAP: u32 = 0x8;
pub const SET_TIMEOUT: u32 = 0x10;
pub const SET_EVAL: u32 = 0x20;
/// `NFT_SET_ELEM_INTERVAL_END`.
pub const SET_ELEM_INTERVAL_END: u32 = 0x1;

/// Userdata TLV types as nft writes them (libnftnl's `NFTNL_UDATA_*`).
pub const UDATA_RULE_COMMENT: u8 = 0;
pub const UDATA_SET_KEYBYTEORDER: u8 = 0;
pub const UDATA_SET_COMMENT: u8 = 7;

/// `NFTA_SET_ID`: names a set within a batch (every NEWSET carries one; dumps do not).
pub const NFTA_SET_ID: u16 = 10;
/// `NFTA_LIST_ELEM`: one entry of a nested list (expressions, set elements).
pub const NFTA_LIST_ELEM: u16 = 1;
/// `NFTA_DATA_VALUE`, `NFTA_DATA_VERDICT` in a `NFTA_*_DATA` nest.
pub const NFTA_DATA_VALUE: u16 = 1;
pub const NFTA_DATA_VERDICT: u16 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's number reads back as the same variant, and the numbers of a
    /// vocabulary are distinct; a number next to each is refused.
    fn round_trips<T>(all: &[T], raw: impl Fn(T) -> u32)
    where
        T: Copy + PartialEq + std::fmt::Debug + TryFrom<u32, Error = Unknown>,
    {
        let mut seen = std::collections::HashSet::new();
        for &v in all {
            let n = raw(v);
            assert_eq!(T::try_from(n), Ok(v), "{v:?} = {n}");
            assert!(seen.insert(n), "{v:?}: number {n} used twice");
        }
        for &v in all {
            for n in [raw(v).wrapping_add(1), raw(v).wrapping_sub(1)] {
                if !seen.contains(&n) {
                    assert!(T::try_from(n).is_err(), "{n} is not in the vocabulary");
                }
            }
        }
    }

    #[test]
    fn every_vocabulary_round_trips_every_variant() {
        round_trips(Register::ALL, Register::raw);
        round_trips(CmpOp::ALL, CmpOp::raw);
        round_trips(RangeOp::ALL, RangeOp::raw);
        round_trips(BitwiseOp::ALL, BitwiseOp::raw);
        round_trips(PayloadBase::ALL, PayloadBase::raw);
        round_trips(MetaKey::ALL, MetaKey::raw);
        round_trips(CtKey::ALL, CtKey::raw);
        round_trips(VerdictCode::ALL, VerdictCode::raw);
        round_trips(Family::ALL, Family::raw);
        round_trips(InetHook::ALL, InetHook::raw);
        round_trips(RejectType::ALL, RejectType::raw);
        round_trips(IcmpxCode::ALL, IcmpxCode::raw);
        round_trips(LimitType::ALL, LimitType::raw);
        round_trips(NatType::ALL, NatType::raw);
        round_trips(ObjectType::ALL, ObjectType::raw);
        round_trips(DataType::ALL, DataType::raw);
    }

    #[test]
    fn kernel_numbers_are_the_headers() {
        // Spot checks against linux/netfilter/nf_tables.h and netfilter.h.
        assert_eq!(MetaKey::L4Proto.raw(), 16);
        assert_eq!(VerdictCode::Jump.raw() as i32, -3);
        assert_eq!(VerdictCode::try_from(u32::MAX), Ok(VerdictCode::Continue));
        assert_eq!(Family::Ipv6.raw(), 10);
        assert_eq!(
            MetaKey::try_from(99),
            Err(Unknown {
                vocabulary: "MetaKey",
                value: 99
            })
        );
        assert_eq!(InetHook::Ingress.name(), "ingress");
    }
}
