//! Address classes of the sources and destinations `verify` probes with (pure):
//! which are sent from the client namespace over a test link, which only over
//! the host's own loopback, and which no probe can show a verdict for — with
//! the reason, which the table prints as a "not probed" row.
//!
//! What the kernel does with each class was measured (Linux 6.x, packets made
//! by hand on a veth): packets from 0.0.0.0, 127/8, 224/4 and 255.255.255.255
//! reach prerouting but never the input hook (martians); an IPv6 multicast
//! source is dropped before any hook; 0.x.y.z, 240/4, 169.254/16, fe80::/10
//! and `::` do reach input, the first four answerably; an IPv6 packet from an
//! IPv4-mapped address reaches input but TCP discards it without an answer.

use crate::ir::Interval;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address a source or destination is, as far as the kernel cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AddrClass {
    /// Ordinary unicast, including 0.x.y.z (not 0.0.0.0), 240/4, ULA, site-local
    /// and IPv4-compatible IPv6 (Linux routes them all like any unicast).
    Unicast,
    /// 169.254/16, fe80::/10: used on a link, never forwarded.
    LinkLocal,
    /// 127/8, ::1: only the host itself sends from them, over `lo`.
    Loopback,
    /// 0.0.0.0, `::`.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// ::ffff:a.b.c.d: a socket sends IPv4 for it.
    V4Mapped,
}

/// How an input probe from an address travels to the host's input hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// From the client namespace over a test link (a veth).
    Client,
    /// From the host namespace itself, over `lo`.
    Loopback,
}

pub(crate) fn classify(a: IpAddr) -> AddrClass {
    match a {
        IpAddr::V4(a) => {
            if a.is_unspecified() {
                AddrClass::Unspecified
            } else if a.is_broadcast() {
                AddrClass::Broadcast
            } else if a.is_loopback() {
                AddrClass::Loopback
            } else if a.is_multicast() {
                AddrClass::Multicast
            } else if a.is_link_local() {
                AddrClass::LinkLocal
            } else {
                AddrClass::Unicast
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                AddrClass::Unspecified
            } else if a.is_loopback() {
                AddrClass::Loopback
            } else if a.is_multicast() {
                AddrClass::Multicast
            } else if a.to_ipv4_mapped().is_some() {
                AddrClass::V4Mapped
            } else if a.segments()[0] & 0xffc0 == 0xfe80 {
                AddrClass::LinkLocal
            } else {
                AddrClass::Unicast
            }
        }
    }
}

impl AddrClass {
    /// How an input probe from this class is sent, or why none is.
    pub(crate) fn input_route(self, v4: bool) -> Result<Route, &'static str> {
        match self {
            AddrClass::Unicast | AddrClass::LinkLocal => Ok(Route::Client),
            AddrClass::Loopback => Ok(Route::Loopback),
            AddrClass::Unspecified if v4 => Err(
                "the kernel drops packets from 0.0.0.0 before the input hook (only DHCP \
                 broadcasts from it get there, and verify sends none)",
            ),
            AddrClass::Unspecified => Err(
                "a packet from :: cannot be answered (only neighbour discovery and MLD send \
                 from it), so no probe shows a verdict",
            ),
            AddrClass::Multicast => {
                Err("the kernel drops packets from a multicast address before the input hook")
            }
            AddrClass::Broadcast => {
                Err("the kernel drops packets from 255.255.255.255 before the input hook")
            }
            AddrClass::V4Mapped => Err(
                "sockets send IPv4 for an IPv4-mapped address: only a hand-made IPv6 packet \
                 carries one, and verify sends none (the kernel's TCP would not answer it)",
            ),
        }
    }

    /// Whether a forward probe can carry this class, or why not.
    pub(crate) fn forward_route(self, v4: bool) -> Result<(), &'static str> {
        match self {
            AddrClass::Unicast => Ok(()),
            AddrClass::LinkLocal => {
                Err("link-local addresses stay on their link: verify routes none through the host")
            }
            AddrClass::Loopback => Err("the kernel never forwards loopback addresses"),
            other => other.input_route(v4).map(|_| ()),
        }
    }
}

/// Address ranges of each class other than unicast, as intervals of one family.
fn special_ranges(v4: bool) -> Vec<Interval> {
    let v4net = |a: [u8; 4], len: u32| {
        let lo = u32::from(Ipv4Addr::from(a)) as u128;
        Interval {
            lo,
            hi: lo | ((1u128 << (32 - len)) - 1),
        }
    };
    let v6net = |a: Ipv6Addr, len: u32| {
        let lo = u128::from(a);
        let host = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - len)) - 1
        };
        Interval { lo, hi: lo | host }
    };
    if v4 {
        vec![
            v4net([0, 0, 0, 0], 32),
            v4net([127, 0, 0, 0], 8),
            v4net([169, 254, 0, 0], 16),
            v4net([224, 0, 0, 0], 4),
            v4net([255, 255, 255, 255], 32),
        ]
    } else {
        vec![
            v6net(Ipv6Addr::UNSPECIFIED, 128),
            v6net(Ipv6Addr::LOCALHOST, 128),
            v6net(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
            v6net(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
            v6net(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
        ]
    }
}

/// The address of family `v4` with value `v`, if it fits.
pub(crate) fn addr(v: u128, v4: bool) -> Option<IpAddr> {
    if v4 {
        Some(Ipv4Addr::from(u32::try_from(v).ok()?).into())
    } else {
        Some(Ipv6Addr::from(v).into())
    }
}

/// Candidate addresses inside `iv`: near both ends, and on both sides of
/// every special range inside it, so an interval holding any address of a
/// class yields one (a prefix like 0.0.0.0/0 or 224.0.0.0/3 included).
fn candidates(iv: &Interval, v4: bool) -> Vec<u128> {
    let mut out = vec![
        iv.lo.checked_add(1),
        iv.lo.checked_add(2),
        iv.lo.checked_add(3),
        iv.hi.checked_sub(1),
        Some(iv.lo),
        Some(iv.hi),
    ];
    for s in special_ranges(v4) {
        out.extend([
            s.lo.checked_sub(1),
            Some(s.lo),
            s.lo.checked_add(1),
            s.hi.checked_add(1),
        ]);
    }
    let mut seen = BTreeSet::new();
    out.into_iter()
        .flatten()
        .filter(|v| iv.lo <= *v && *v <= iv.hi && seen.insert(*v))
        .collect()
}

/// An address inside `iv` whose class `want` accepts, not one `avoid` holds.
pub(crate) fn pick(
    iv: &Interval,
    v4: bool,
    avoid: impl Fn(IpAddr) -> bool,
    want: impl Fn(AddrClass) -> bool,
) -> Option<IpAddr> {
    candidates(iv, v4)
        .into_iter()
        .filter_map(|v| addr(v, v4))
        .find(|a| want(classify(*a)) && !avoid(*a))
}

/// The class whose reason explains an interval no probe could come from:
/// its lowest address that is not unicast, else its lowest address.
pub(crate) fn blocking_class(iv: &Interval, v4: bool) -> AddrClass {
    candidates(iv, v4)
        .into_iter()
        .filter_map(|v| addr(v, v4))
        .map(classify)
        .find(|c| *c != AddrClass::Unicast)
        .unwrap_or(AddrClass::Unicast)
}

/// The loopback address probes from the host are sent to.
pub(crate) fn loopback_dst(v4: bool) -> IpAddr {
    if v4 {
        Ipv4Addr::LOCALHOST.into()
    } else {
        Ipv6Addr::LOCALHOST.into()
    }
}

/// An interval as written: an address, a prefix, or `lo-hi`.
pub(crate) fn show(iv: &Interval, v4: bool) -> String {
    let bits = if v4 { 32 } else { 128 };
    let (Some(lo), Some(hi)) = (addr(iv.lo, v4), addr(iv.hi, v4)) else {
        return format!("{}-{}", iv.lo, iv.hi);
    };
    if iv.lo == iv.hi {
        return lo.to_string();
    }
    match crate::ir::range_to_prefixes(iv.lo, iv.hi, bits).as_slice() {
        [(_, len)] => format!("{lo}/{len}"),
        _ => format!("{lo}-{hi}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(net: &str) -> (Interval, bool) {
        let parsed = net
            .parse::<ipnet::IpNet>()
            .or_else(|_| net.parse::<IpAddr>().map(ipnet::IpNet::from));
        match parsed.expect("net") {
            ipnet::IpNet::V4(n) => (Interval::from_v4(n), true),
            ipnet::IpNet::V6(n) => (Interval::from_v6(n), false),
        }
    }

    #[test]
    fn classes() {
        for (a, c) in [
            ("10.0.0.1", AddrClass::Unicast),
            ("0.1.2.3", AddrClass::Unicast),
            ("240.0.0.5", AddrClass::Unicast),
            ("169.254.3.3", AddrClass::LinkLocal),
            ("127.5.0.1", AddrClass::Loopback),
            ("0.0.0.0", AddrClass::Unspecified),
            ("239.1.1.1", AddrClass::Multicast),
            ("255.255.255.255", AddrClass::Broadcast),
            ("2001:db8::1", AddrClass::Unicast),
            ("::1.2.3.4", AddrClass::Unicast),
            ("fe80::5", AddrClass::LinkLocal),
            ("::1", AddrClass::Loopback),
            ("::", AddrClass::Unspecified),
            ("ff02::1", AddrClass::Multicast),
            ("::ffff:10.0.0.1", AddrClass::V4Mapped),
        ] {
            assert_eq!(classify(a.parse().expect("addr")), c, "{a}");
        }
    }

    #[test]
    fn a_prefix_holding_unicast_yields_unicast_whatever_its_edges() {
        let unicast = |c| c == AddrClass::Unicast;
        for net in [
            "0.0.0.0/0",
            "224.0.0.0/3",
            "127.0.0.0/7",
            "::/0",
            "::ffff:0:0/95",
        ] {
            let (iv, v4) = iv(net);
            let a = pick(&iv, v4, |_| false, unicast).unwrap_or_else(|| panic!("{net}"));
            assert_eq!(classify(a), AddrClass::Unicast, "{net}: {a}");
        }
        for net in ["224.0.0.0/4", "127.0.0.0/8", "::ffff:0:0/96", "ff00::/8"] {
            let (iv, v4) = iv(net);
            assert_eq!(pick(&iv, v4, |_| false, unicast), None, "{net}");
            assert_ne!(blocking_class(&iv, v4), AddrClass::Unicast, "{net}");
        }
    }

    #[test]
    fn shows_nets_as_written() {
        for net in ["10.0.0.0/8", "::ffff:10.0.0.1", "0.0.0.0", "fe80::/10"] {
            let (iv, v4) = iv(net);
            assert_eq!(show(&iv, v4), net);
        }
        let odd = Interval { lo: 1, hi: 2 };
        assert_eq!(show(&odd, true), "0.0.0.1-0.0.0.2");
    }
}
