//! Value checks shared by the policy and the site file: ports, addresses, interface names,
//! and the "did you mean" suggestion for unknown names.

use crate::diag::Diagnostic;
use crate::model::{IfName, PortRange};
use crate::nets::NetRange;
use crate::source::{Span, Spanned};
use ipnet::IpNet;
use std::net::IpAddr;

/// `E0201`: a port is 0 or above 65535 (`allow tcp 70000`).
pub const PORT_RANGE: &str = "E0201";
/// `E0202`: a range whose first port is above its last (`allow tcp 6166-5634`).
pub const REVERSED_RANGE: &str = "E0202";
/// `E0203`: not an IPv4/IPv6 address or CIDR (`from 10.0.0.300/8`).
pub const BAD_ADDRESS: &str = "E0203";
/// `E0204`: a CIDR with host bits set (`from 10.0.0.1/8`); help names the network address.
pub const HOST_BITS: &str = "E0204";
/// `E0205`: an interface name the kernel cannot have (`on "a-very-long-ifname0"`, `"vir*br"`),
/// or one nft cannot match (`on "*"`) or the script cannot carry (`"a\\b"`, `"$x"`).
pub const BAD_IFACE: &str = "E0205";
/// Longest interface name as written, `*` included (IFNAMSIZ - 1; nft refuses longer strings).
pub const MAX_IFNAME: usize = 15;
/// `E0210`: a name longer than [`MAX_NAME`] bytes (`define <300 letters> = ...`).
pub const NAME_TOO_LONG: &str = "E0210";
/// `E0223`: an address range whose first address is above its last (`10.0.0.9-10.0.0.5`).
pub const REVERSED_ADDR_RANGE: &str = "E0223";
/// `E0224`: an address range from one family to the other (`10.0.0.1-fd00::1`), or with a
/// prefix on either end (`10.0.0.0/24-10.0.1.0`).
pub const MIXED_ADDR_RANGE: &str = "E0224";
/// `E0225`: a `per source` limit whose bucket takes longer than [`MAX_SOURCE_TIMEOUT_MS`]
/// to refill (`limit 1/day per source burst 100`): its per-source state would outlive it.
pub const SOURCE_LIMIT_TOO_SLOW: &str = "E0225";
/// Longest a `per source` limit's per-address state is kept: 2^32-1 ms (about 49.7 days).
pub const MAX_SOURCE_TIMEOUT_MS: u64 = u32::MAX as u64;

/// Longest `define`, `service`, policy or site name, in bytes. Set names are built from network
/// names plus a suffix, and the kernel caps set names at 255 bytes; 64 keeps every derived
/// name well inside that and is plenty for a name a person reads.
pub const MAX_NAME: usize = 64;

/// Checks a name's length (its characters are the grammar's business).
pub fn name_length(name: &str, span: Span, what: &str) -> Result<(), Diagnostic> {
    if name.len() <= MAX_NAME {
        return Ok(());
    }
    Err(
        Diagnostic::error(NAME_TOO_LONG, span, format!("{what} name is too long"))
            .with_label(format!("{} bytes", name.len()))
            .with_help(format!(
                "names are at most {MAX_NAME} bytes (they become nft set names, which the \
                 kernel limits)"
            )),
    )
}

/// Checks a log prefix: at most 127 bytes (the kernel's limit), printable, and free of what
/// would end or rewrite an nft string (`"`, `\\`) or read as an nft variable (`$`).
pub fn log_prefix(text: &str, span: Span) -> Result<(), Diagnostic> {
    let bad = |label: String, help: &str| {
        Err(
            Diagnostic::error(super::codes::BAD_LOG_PREFIX, span, "invalid log prefix")
                .with_label(label)
                .with_help(help.to_string()),
        )
    };
    if text.len() > 127 {
        return bad(
            format!("{} bytes", text.len()),
            "the kernel log prefix is at most 127 bytes",
        );
    }
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '$') || c.is_control())
    {
        return bad(
            format!("contains {}", shown_char(c)),
            "a log prefix is printable text without `\"`, `\\` or `$`",
        );
    }
    Ok(())
}

/// The burst nft uses when none is written (`limit rate 10/minute` is `burst 5 packets`);
/// the compiler writes the same.
pub const DEFAULT_BURST: u32 = 5;

/// Whether the kernel accepts a packet limit of `rate` per `unit_secs` with `burst` (0: the
/// default): its bucket, (unit in ns / rate) x burst, must fit in 64 bits, or `nft_limit_init`
/// refuses the rule with EOVERFLOW. Err: the largest burst that fits.
pub fn limit_bucket(rate: u32, unit_secs: u64, burst: u32) -> Result<(), u64> {
    let per_token = unit_secs * 1_000_000_000 / u64::from(rate.max(1));
    let burst = if burst == 0 { DEFAULT_BURST } else { burst };
    match per_token.checked_mul(u64::from(burst)) {
        Some(_) => Ok(()),
        None => Err(u64::MAX / per_token.max(1)),
    }
}

/// How long a source's entry in a `per source` limit's set lives after its last new
/// connection: the time its bucket takes to refill (burst x unit / rate), rounded up to
/// whole seconds (what nft's JSON can carry) and at least one second.
pub fn source_timeout_ms(rate: u32, unit_secs: u64, burst: u32) -> u64 {
    let burst = if burst == 0 { DEFAULT_BURST } else { burst };
    let total = u128::from(burst) * u128::from(unit_secs);
    let secs = total.div_ceil(u128::from(rate.max(1))).max(1);
    u64::try_from(secs * 1000).unwrap_or(u64::MAX)
}

/// `text` with control characters escaped, so a message never carries them raw.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A character for a label: itself in backticks, or its escape when it is invisible.
fn shown_char(c: char) -> String {
    if c.is_control() {
        format!("the control character {}", c.escape_default())
    } else {
        format!("`{c}`")
    }
}

/// Checks one port item; both ends must be 1..=65535 and in order.
pub fn port_range(
    lo: &Spanned<u64>,
    hi: Option<&Spanned<u64>>,
    span: Span,
) -> Result<PortRange, Diagnostic> {
    for p in std::iter::once(lo).chain(hi) {
        if p.value == 0 || p.value > 65535 {
            return Err(Diagnostic::error(
                PORT_RANGE,
                p.span,
                format!("port {} is out of range", shown(p.value)),
            )
            .with_label("ports are 1 to 65535")
            .with_help(if p.value == 0 {
                "port 0 is reserved and never matches real traffic".to_string()
            } else {
                "TCP, UDP and SCTP ports are 16-bit numbers: at most 65535".to_string()
            }));
        }
    }
    let lo_v = lo.value as u16;
    let hi_v = hi.map(|h| h.value as u16).unwrap_or(lo_v);
    if hi_v < lo_v {
        return Err(Diagnostic::error(
            REVERSED_RANGE,
            span,
            format!("port range {lo_v}-{hi_v} is reversed"),
        )
        .with_label("first port is above the last")
        .with_help(format!("write `{hi_v}-{lo_v}`")));
    }
    Ok(PortRange { lo: lo_v, hi: hi_v })
}

pub(crate) fn shown(v: u64) -> String {
    if v == u64::MAX {
        "(too many digits)".into()
    } else {
        v.to_string()
    }
}

/// Parses an address, a CIDR (host bits rejected) or an inclusive range `FIRST-LAST` of two
/// addresses of one family, as the range of addresses it covers.
pub fn net(text: &str, span: Span) -> Result<NetRange, Diagnostic> {
    match text.split_once('-') {
        Some((lo, hi)) if address_shaped(lo) && address_shaped(hi) => {
            addr_range(text, lo, hi, span)
        }
        _ => cidr(text, span).map(NetRange::of_net),
    }
}

/// Whether one end of `FIRST-LAST` is made of address characters (so `not-an-ip` is a bad
/// address, not a bad range).
fn address_shaped(s: &str) -> bool {
    !s.is_empty() && (s.bytes()).all(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'/'))
}

/// `FIRST-LAST`: both plain addresses of one family, first not above last.
fn addr_range(text: &str, lo: &str, hi: &str, span: Span) -> Result<NetRange, Diagnostic> {
    let bad = |what: &str| {
        Diagnostic::error(
            BAD_ADDRESS,
            span,
            format!("`{text}` is not an address range: `{what}` is not an address"),
        )
        .with_label("not an IPv4/IPv6 address")
        .with_help("write a range as two addresses of one family: `10.0.0.5-10.0.0.9`, `fd00::10-fd00::1f`")
    };
    if lo.contains('/') || hi.contains('/') {
        return Err(Diagnostic::error(
            MIXED_ADDR_RANGE,
            span,
            format!("`{text}` mixes a prefix and a range"),
        )
        .with_label("a range's ends are single addresses")
        .with_help("write either a CIDR (`10.0.0.0/24`) or a range of two addresses (`10.0.0.0-10.0.1.255`)"));
    }
    let a = lo.parse::<IpAddr>().map_err(|_| bad(lo))?;
    let b = hi.parse::<IpAddr>().map_err(|_| bad(hi))?;
    let range = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => NetRange::V4(a.into(), b.into()),
        (IpAddr::V6(a), IpAddr::V6(b)) => NetRange::V6(a.into(), b.into()),
        _ => {
            return Err(Diagnostic::error(
                MIXED_ADDR_RANGE,
                span,
                format!("`{text}` runs from one address family to the other"),
            )
            .with_label("an IPv4 and an IPv6 address")
            .with_help(
                "a range's two ends are both IPv4 or both IPv6; list the families separately",
            ));
        }
    };
    let (first, last) = range.bounds();
    if first > last {
        return Err(Diagnostic::error(
            REVERSED_ADDR_RANGE,
            span,
            format!("`{text}` is reversed: its first address is above its last"),
        )
        .with_label("first address above last")
        .with_help(format!("write `{hi}-{lo}`")));
    }
    Ok(range)
}

/// Parses an address (as a host route) or a CIDR, rejecting host bits.
pub fn cidr(text: &str, span: Span) -> Result<IpNet, Diagnostic> {
    if let Some(net) = plain_v4(text) {
        return Ok(net);
    }
    let net = if text.contains('/') {
        text.parse::<IpNet>().ok()
    } else {
        text.parse::<IpAddr>().ok().map(IpNet::from)
    };
    let Some(net) = net else {
        return Err(Diagnostic::error(
            BAD_ADDRESS,
            span,
            format!("`{text}` is not an address or CIDR"),
        )
        .with_label("not an IPv4/IPv6 address")
        .with_help(
            "write an address (`192.0.2.1`, `2001:db8::1`), a CIDR (`10.0.0.0/8`, \
                     `fd00::/64`) or a range (`10.0.0.5-10.0.0.9`); IPv4 prefixes are at most \
                     /32, IPv6 at most /128",
        ));
    };
    let trunc = net.trunc();
    if trunc != net {
        return Err(
            Diagnostic::error(HOST_BITS, span, format!("`{text}` has host bits set"))
                .with_label(format!(
                    "bits after the first {} are not zero",
                    net.prefix_len()
                ))
                .with_help(format!(
                    "the network is `{trunc}`; for the single host write `{}`",
                    net.addr()
                )),
        );
    }
    Ok(net)
}

/// Fast path for the common case, a canonical IPv4 network without host bits
/// (`10.0.0.0/8`, `192.0.2.1`): ~10x cheaper than the general parsers, which matters for
/// 100,000-entry lists. `None` for anything else (including anything the general parsers
/// would reject or read differently, like leading zeros), which then takes the general path.
fn plain_v4(text: &str) -> Option<IpNet> {
    let b = text.as_bytes();
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, o) in octets.iter_mut().enumerate() {
        if k > 0 {
            (b.get(i) == Some(&b'.')).then_some(())?;
            i += 1;
        }
        let (v, next) = crate::nets::canonical_number(b, i, 3)?;
        *o = u8::try_from(v).ok()?;
        i = next;
    }
    let prefix = match b.get(i) {
        None => 32,
        Some(b'/') => match crate::nets::canonical_number(b, i + 1, 2)? {
            (p, end) if end == b.len() && p <= 32 => p,
            _ => return None,
        },
        Some(_) => return None,
    };
    let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(octets), prefix as u8).ok()?;
    (net.trunc() == net).then_some(IpNet::V4(net))
}

/// Checks an interface name as written (quotes removed); `*` at the end means a prefix match.
pub fn iface(text: &str, span: Span) -> Result<IfName, Diagnostic> {
    let (name, wildcard) = match text.strip_suffix('*') {
        Some(n) => (n, true),
        None => (text, false),
    };
    match iface_problem(name, wildcard) {
        Some((why, help)) => Err(Diagnostic::error(
            BAD_IFACE,
            span,
            format!("invalid interface name \"{}\"", visible(text)),
        )
        .with_label(why)
        .with_help(help.to_string())),
        None => Ok(IfName {
            name: name.to_string(),
            wildcard,
        }),
    }
}

/// What is wrong with interface name `name` (its trailing `*` removed): a label and a help.
fn iface_problem(name: &str, wildcard: bool) -> Option<(String, &'static str)> {
    if name.contains('*') {
        return Some((
            "`*` may only come last".into(),
            "a trailing `*` matches every name with that prefix, like \"virbr*\"",
        ));
    }
    if name.is_empty() {
        return Some(if wildcard {
            // nft refuses an all-wildcard `iifname "*"`, and it would mean "any interface".
            (
                "matches every interface".into(),
                "leave out the interface clause to match every interface",
            )
        } else {
            ("empty".into(), "write the interface name, like \"eth0\"")
        });
    }
    // nft strings hold at most IFNAMSIZ - 1 = 15 bytes, and a wildcard's `*` is one of them.
    let written = name.len() + usize::from(wildcard);
    if written > MAX_IFNAME {
        return Some(if wildcard {
            (
                format!("{written} bytes long with the `*`"),
                "nft strings are at most 15 bytes and the `*` counts: a wildcard's prefix is at \
                 most 14 bytes",
            )
        } else {
            (
                format!("{written} bytes long"),
                "Linux interface names are at most 15 bytes",
            )
        });
    }
    iface_char_problem(name)
}

/// Characters an interface name cannot hold, or that the nft script cannot carry.
fn iface_char_problem(name: &str) -> Option<(String, &'static str)> {
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
        || name == "."
        || name == ".."
    {
        return Some((
            "contains `/`, `:` or a space".into(),
            "Linux interface names cannot contain `/`, `:` or whitespace",
        ));
    }
    // Linux allows these, but the nft script cannot carry them faithfully (`"`, `\`, control
    // characters) or nft reads them as a variable (`$`): the text and netlink forms would differ.
    let c = name
        .chars()
        .find(|&c| matches!(c, '"' | '\\' | '$') || c.is_control())?;
    Some((
        format!("contains {}", shown_char(c)),
        "hostwall does not accept `\"`, `\\`, `$` or control characters in interface names; \
         rename the interface",
    ))
}

pub use super::suggest::did_you_mean;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_interface_names() {
        let s = Span::default();
        assert!(iface("virbr*", s).is_ok_and(|i| i.wildcard && i.name == "virbr"));
        assert!(iface("vir*br", s).is_err());
        assert!(iface("abcdefghijklmnop", s).is_err());
        assert!(iface("abcdefghijklmno", s).is_ok());
        assert!(iface("abcdefghijklmn*", s).is_ok());
        assert!(iface("abcdefghijklmno*", s).is_err());
        assert!(iface("abcdefghijklmé*", s).is_err());
        assert!(iface("eth 0", s).is_err());
        for bad in [
            "*", "a\\b", "$x", "a\"b", "a\tb", "a\u{1}", "a/b", "a:b", "..", "",
        ] {
            assert!(iface(bad, s).is_err(), "{bad:?}");
        }
        for good in ["eth0", "a'b", "vnet#1", "é", "a-b.c*"] {
            assert!(iface(good, s).is_ok(), "{good:?}");
        }
    }

    /// The kernel's packet bucket, (unit ns / rate) x burst, must fit in 64 bits.
    #[test]
    fn a_source_entry_lives_until_its_bucket_refills() {
        assert_eq!(source_timeout_ms(10, 60, 5), 30_000);
        assert_eq!(source_timeout_ms(10, 60, 0), 30_000);
        assert_eq!(source_timeout_ms(3, 1, 1), 1000);
        assert_eq!(source_timeout_ms(7, 60, 2), 18_000);
        assert_eq!(
            source_timeout_ms(1, 86_400, u32::MAX),
            371_085_174_288_000_000
        );
    }

    #[test]
    fn limit_bucket_matches_the_kernels_overflow_check() {
        assert_eq!(limit_bucket(1, 60, 307_445_734), Ok(()));
        assert_eq!(limit_bucket(1, 60, 307_445_735), Err(307_445_734));
        assert_eq!(limit_bucket(1, 86_400, 0), Ok(()));
        assert!(limit_bucket(1, 86_400, u32::MAX).is_err());
        assert_eq!(limit_bucket(u32::MAX, 1, u32::MAX), Ok(()));
    }

    #[test]
    fn validates_log_prefixes() {
        let s = Span::default();
        assert!(log_prefix("hostwall: ", s).is_ok());
        assert!(log_prefix(&"x".repeat(127), s).is_ok());
        for bad in ["$x", "a\\b", "a\"b", "a\nb", &"x".repeat(128)] {
            assert!(log_prefix(bad, s).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cidr_rejects_host_bits_and_accepts_addresses() {
        let s = Span::default();
        assert!(cidr("10.0.0.1/8", s).is_err());
        assert_eq!(cidr("10.0.0.1", s).map(|n| n.prefix_len()), Ok(32));
        assert!(cidr("fd00::/64", s).is_ok());
        assert!(cidr("10.0.0.300", s).is_err());
    }

    #[test]
    fn ipv4_fast_path_agrees_with_the_general_parsers() {
        let s = Span::default();
        let cases = [
            "10.0.0.0/8",
            "10.0.0.1",
            "0.0.0.0/0",
            "255.255.255.255",
            "255.255.255.255/32",
            "10.0.0.0/33",
            "10.0.0.256",
            "010.0.0.0/8",
            "10.0.0.0/08",
            "10.0.0.1/8",
            "10.0.0",
            "10.0.0.0.0",
            "1.2.3.4/",
            "1.2.3.4/x",
            "1..3.4",
            "10.0.0.0/7",
            "8.0.0.0/7",
            "+1.2.3.4",
            "192.0.2.0/24",
            "192.0.2.128/25",
            "1.2.3.04",
            "fd00::/8",
            "1.2.3.4/32/",
            "1.2.3.4/1x",
            "1.2.3.4 ",
            "1.2.3.1234",
            "",
            "/8",
            "1.2.3.4.",
            ".1.2.3",
        ];
        for c in cases {
            let general = if c.contains('/') {
                c.parse::<IpNet>().ok()
            } else {
                c.parse::<IpAddr>().ok().map(IpNet::from)
            }
            .filter(|n| n.trunc() == *n);
            if let Some(fast) = plain_v4(c) {
                assert_eq!(Some(fast), general, "{c}");
            }
            assert_eq!(cidr(c, s).ok(), general, "{c}");
        }
        assert!(plain_v4("10.0.0.0/8").is_some() && plain_v4("10.0.0.1").is_some());
    }
}
