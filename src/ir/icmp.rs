//! The ICMP and ICMPv6 type names nft knows, by number, and the ICMPv6 types every
//! policy lets in.

use super::SetKey;

/// ICMP type names as nft spells them: (number, name).
pub const ICMP_TYPES: &[(u8, &str)] = &[
    (0, "echo-reply"),
    (3, "destination-unreachable"),
    (4, "source-quench"),
    (5, "redirect"),
    (8, "echo-request"),
    (9, "router-advertisement"),
    (10, "router-solicitation"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
    (13, "timestamp-request"),
    (14, "timestamp-reply"),
    (15, "info-request"),
    (16, "info-reply"),
    (17, "address-mask-request"),
    (18, "address-mask-reply"),
];

/// ICMPv6 type names as nft spells them: (number, name).
pub const ICMPV6_TYPES: &[(u8, &str)] = &[
    (1, "destination-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (130, "mld-listener-query"),
    (131, "mld-listener-report"),
    (132, "mld-listener-done"),
    (133, "nd-router-solicit"),
    (134, "nd-router-advert"),
    (135, "nd-neighbor-solicit"),
    (136, "nd-neighbor-advert"),
    (137, "nd-redirect"),
    (138, "router-renumbering"),
    (141, "ind-neighbor-solicit"),
    (142, "ind-neighbor-advert"),
    (143, "mld2-listener-report"),
];

/// ICMPv6 types that are always accepted: neighbour discovery and multicast listener
/// discovery. Conntrack does not track them (nft sees them as `invalid`), so without
/// this rule a policy that allows only echo would break IPv6 on the host entirely.
pub const ICMPV6_ALWAYS: &[u8] = &[130, 131, 132, 133, 134, 135, 136, 143];

/// nft's name for an ICMP (v4) or ICMPv6 type number.
pub fn icmp_type_name(key: SetKey, t: u8) -> Option<&'static str> {
    let table = match key {
        SetKey::Icmpv6Type => ICMPV6_TYPES,
        _ => ICMP_TYPES,
    };
    table.iter().find(|(n, _)| *n == t).map(|(_, s)| *s)
}
