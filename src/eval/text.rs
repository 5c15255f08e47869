//! Packets as text, both ways: `udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new`.
//!
//! ```text
//! PROTO SRC[:PORT] -> DST[:PORT] [type ICMP-TYPE] [on|in IFACE] [out IFACE] [STATE]
//! ```
//! PROTO is `tcp`, `udp`, `sctp`, `icmp`, `icmpv6` or a protocol number; IPv6 addresses
//! with a port are written `[2001:db8::1]:443`; the source port is accepted and not
//! used (no rule of the IR looks at it). `on`/`in` names the input interface, `out` the
//! output one: input only is a packet to the host, both is one through it, output only
//! one from it. STATE is the conntrack state (`new` when absent).

use super::host::Path;
use super::{L4, Packet};
use crate::ir::{self, CtState, SetKey};
use std::net::IpAddr;
use std::ops::Range;

/// A packet text that does not parse: what is wrong and where (byte range).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PacketError {
    pub message: String,
    pub range: Range<usize>,
    pub help: Option<String>,
}

fn err(range: Range<usize>, message: impl Into<String>, help: Option<&str>) -> PacketError {
    PacketError {
        message: message.into(),
        range,
        help: help.map(str::to_string),
    }
}

/// Words and where they start.
fn words(text: &str) -> Vec<(&str, Range<usize>)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((&text[s..i], s..i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((&text[s..], s..text.len()));
    }
    out
}

const USAGE: &str = "write PROTO SRC[:PORT] -> DST[:PORT] [on|in IFACE] [out IFACE] [new|established|related|invalid|untracked], e.g. udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new";

/// Parses a packet; every problem is reported with its byte range.
pub fn parse(text: &str) -> Result<(Packet, Path), PacketError> {
    let w = words(text);
    let end = text.len()..text.len();
    let Some((proto, prange)) = w.first().cloned() else {
        return Err(err(0..text.len(), "empty packet", Some(USAGE)));
    };
    let (src, _) = endpoint(w.get(1), &end, "source address")?;
    match w.get(2) {
        Some(("->", _)) => {}
        Some((_, r)) => {
            return Err(err(
                r.clone(),
                "expected `->` after the source",
                Some(USAGE),
            ));
        }
        None => return Err(err(end, "expected `->` and a destination", Some(USAGE))),
    }
    let (dst, dport) = endpoint(w.get(3), &end, "destination address")?;
    if src.is_ipv4() != dst.is_ipv4() {
        let r = w[1].1.start..w[3].1.end;
        return Err(err(
            r,
            "source and destination are of different families",
            None,
        ));
    }
    let mut pkt = Packet {
        src,
        dst,
        iif: None,
        oif: None,
        l4: L4::Other(0),
        ct: CtState::NEW,
    };
    let kind = options(&w[4..], proto, &mut pkt)?;
    pkt.l4 = l4(proto, prange, dport, kind, pkt.src.is_ipv4())?;
    let path = path_of(&pkt, text)?;
    Ok((pkt, path))
}

/// The words after the destination: interfaces, ICMP type, state. Returns the type.
fn options(
    w: &[(&str, Range<usize>)],
    proto: &str,
    pkt: &mut Packet,
) -> Result<Option<u8>, PacketError> {
    let mut kind = None;
    let mut i = 0;
    while i < w.len() {
        let (word, r) = (w[i].0, w[i].1.clone());
        if !matches!(word, "on" | "in" | "out" | "type") {
            pkt.ct =
                state(word).ok_or_else(|| err(r, format!("unknown word `{word}`"), Some(USAGE)))?;
            i += 1;
            continue;
        }
        let Some((v, vr)) = w.get(i + 1) else {
            return Err(err(r, format!("`{word}` needs a value"), Some(USAGE)));
        };
        match word {
            "type" => kind = Some(icmp_type(proto, v, vr)?),
            "out" => pkt.oif = Some(iface(v, vr)?),
            _ => pkt.iif = Some(iface(v, vr)?),
        }
        i += 2;
    }
    Ok(kind)
}

/// Input only: to the host; both: through it; output only: from it.
fn path_of(pkt: &Packet, text: &str) -> Result<Path, PacketError> {
    match (&pkt.iif, &pkt.oif) {
        (Some(_), None) => Ok(Path::Input),
        (Some(_), Some(_)) => Ok(Path::Forward),
        (None, Some(_)) => Ok(Path::Output),
        (None, None) => Err(err(
            0..text.len(),
            "the packet names no interface",
            Some(
                "add `on IFACE` (to the host), `in IFACE out IFACE` (through it) or `out IFACE` (from it)",
            ),
        )),
    }
}

fn endpoint(
    w: Option<&(&str, Range<usize>)>,
    end: &Range<usize>,
    what: &str,
) -> Result<(IpAddr, Option<u16>), PacketError> {
    let Some((t, r)) = w else {
        return Err(err(end.clone(), format!("expected a {what}"), Some(USAGE)));
    };
    let bad = |m: String| err(r.clone(), m, Some(USAGE));
    if let Ok(a) = t.parse::<IpAddr>() {
        return Ok((a, None));
    }
    let (addr, port) = if let Some(rest) = t.strip_prefix('[') {
        let (a, p) = rest
            .split_once("]:")
            .ok_or_else(|| bad(format!("`{t}` is not [IPv6]:PORT")))?;
        (a, p)
    } else {
        t.rsplit_once(':')
            .ok_or_else(|| bad(format!("`{t}` is not an IP address")))?
    };
    let a = addr
        .parse::<IpAddr>()
        .map_err(|_| bad(format!("`{addr}` is not an IP address")))?;
    let p = port
        .parse::<u16>()
        .map_err(|_| bad(format!("`{port}` is not a port (0-65535)")))?;
    Ok((a, Some(p)))
}

fn iface(v: &str, r: &Range<usize>) -> Result<String, PacketError> {
    let ok = !v.is_empty()
        && v.len() < 16
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'/');
    if ok {
        Ok(v.trim_matches('"').to_string())
    } else {
        Err(err(
            r.clone(),
            format!("`{v}` is not an interface name (1-15 printable bytes)"),
            None,
        ))
    }
}

fn state(w: &str) -> Option<u32> {
    Some(match w {
        "new" => CtState::NEW,
        "established" => CtState::ESTABLISHED,
        "related" => CtState::RELATED,
        "invalid" => CtState::INVALID,
        "untracked" => CtState::UNTRACKED,
        _ => return None,
    })
}

fn icmp_type(proto: &str, v: &str, r: &Range<usize>) -> Result<u8, PacketError> {
    let key = match proto {
        "icmp" => SetKey::IcmpType,
        "icmpv6" => SetKey::Icmpv6Type,
        _ => {
            return Err(err(
                r.clone(),
                "`type` is for icmp and icmpv6 packets",
                None,
            ));
        }
    };
    let table = if key == SetKey::Icmpv6Type {
        ir::ICMPV6_TYPES
    } else {
        ir::ICMP_TYPES
    };
    v.parse::<u8>()
        .ok()
        .or_else(|| table.iter().find(|(_, n)| *n == v).map(|(t, _)| *t))
        .ok_or_else(|| err(r.clone(), format!("`{v}` is not an {proto} type"), None))
}

fn l4(
    proto: &str,
    r: Range<usize>,
    dport: Option<u16>,
    kind: Option<u8>,
    v4: bool,
) -> Result<L4, PacketError> {
    let need_port = |p: Option<u16>| {
        p.ok_or_else(|| {
            err(
                r.clone(),
                format!("a {proto} packet needs a destination port (DST:PORT)"),
                None,
            )
        })
    };
    Ok(match proto {
        "tcp" => L4::Tcp {
            dport: need_port(dport)?,
        },
        "udp" => L4::Udp {
            dport: need_port(dport)?,
        },
        "sctp" => L4::Sctp {
            dport: need_port(dport)?,
        },
        "icmp" if v4 => L4::Icmp {
            kind: kind.unwrap_or(8),
        },
        "icmpv6" if !v4 => L4::Icmpv6 {
            kind: kind.unwrap_or(128),
        },
        "icmp" | "icmpv6" => {
            return Err(err(
                r,
                format!("{proto} does not go with these addresses' family"),
                None,
            ));
        }
        n => match n.parse::<u8>() {
            Ok(n) => L4::Other(n),
            Err(_) => {
                return Err(err(
                    r,
                    format!("unknown protocol `{n}`"),
                    Some("tcp, udp, sctp, icmp, icmpv6 or a protocol number"),
                ));
            }
        },
    })
}

/// The packet as `parse` reads it (without a source port).
pub fn format(pkt: &Packet) -> String {
    let host = |a: IpAddr, port: Option<u16>| match (a, port) {
        (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    let (proto, port, kind) = match pkt.l4 {
        L4::Tcp { dport } => ("tcp".to_string(), Some(dport), None),
        L4::Udp { dport } => ("udp".to_string(), Some(dport), None),
        L4::Sctp { dport } => ("sctp".to_string(), Some(dport), None),
        L4::Icmp { kind } => (
            "icmp".to_string(),
            None,
            ir::icmp_type_name(SetKey::IcmpType, kind)
                .map_or(kind.to_string(), str::to_string)
                .into(),
        ),
        L4::Icmpv6 { kind } => (
            "icmpv6".to_string(),
            None,
            ir::icmp_type_name(SetKey::Icmpv6Type, kind)
                .map_or(kind.to_string(), str::to_string)
                .into(),
        ),
        L4::Other(n) => (n.to_string(), None, None),
    };
    let mut s = format!("{proto} {} -> {}", pkt.src, host(pkt.dst, port));
    if let Some(k) = kind {
        s.push_str(&format!(" type {k}"));
    }
    if let Some(i) = &pkt.iif {
        s.push_str(&format!(" on {i}"));
    }
    if let Some(o) = &pkt.oif {
        s.push_str(&format!(" out {o}"));
    }
    let st = CtState(pkt.ct).names();
    s.push_str(&format!(" {}", st.first().copied().unwrap_or("new")));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses_and_formats_back() {
        let text = "udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new";
        let (p, path) = parse(text).expect("parses");
        assert_eq!(path, Path::Input);
        assert_eq!(p.l4, L4::Udp { dport: 67 });
        assert_eq!(p.iif.as_deref(), Some("virbr0"));
        assert_eq!(
            format(&p),
            "udp 192.168.122.50 -> 255.255.255.255:67 on virbr0 new"
        );
        let (p, path) =
            parse("tcp [2001:db8::1]:5 -> [2001:db8::2]:443 in eth0 out virbr0 established")
                .expect("v6");
        assert_eq!((path, p.ct), (Path::Forward, CtState::ESTABLISHED));
        let (p, _) =
            parse("icmpv6 fe80::1 -> ff02::1 type nd-router-advert out eth0").expect("icmpv6");
        assert_eq!(p.l4, L4::Icmpv6 { kind: 134 });
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = parse("udp 192.168.122.50:68 => 1.2.3.4:67 on virbr0").unwrap_err();
        assert_eq!(e.range, 22..24);
        let e = parse("tcp 10.0.0.1 -> 10.0.0.2:99999 on eth0").unwrap_err();
        assert!(e.message.contains("99999"), "{e}");
        assert_eq!(e.range, 16..30);
        let e = parse("tcp 10.0.0.1 -> 10.0.0.2:80 on eth0 sideways").unwrap_err();
        assert_eq!(e.range, 36..44);
        let e = parse("tcp 10.0.0.1 -> fd00::2 on eth0").unwrap_err();
        assert!(e.message.contains("families"), "{e}");
        let e = parse("tcp 10.0.0.1 -> 10.0.0.2 on eth0").unwrap_err();
        assert!(e.message.contains("destination port"), "{e}");
        assert!(parse("tcp 10.0.0.1 -> 10.0.0.2:80").is_err());
        assert!(parse("").is_err());
        assert!(parse("tcp 10.0.0.1 -> 10.0.0.2:80 on").is_err());
    }
}
