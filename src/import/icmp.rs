//! firewalld's ICMP type names in nft's words, per family.

/// firewalld's ICMP type name → nft's ICMPv4 and ICMPv6 names.
pub(super) fn icmp_names(name: &str) -> (Option<&'static str>, Option<&'static str>) {
    const MAP: &[(&str, Option<&str>, Option<&str>)] = &[
        ("echo-request", Some("echo-request"), Some("echo-request")),
        ("echo-reply", Some("echo-reply"), Some("echo-reply")),
        (
            "destination-unreachable",
            Some("destination-unreachable"),
            Some("destination-unreachable"),
        ),
        (
            "time-exceeded",
            Some("time-exceeded"),
            Some("time-exceeded"),
        ),
        (
            "parameter-problem",
            Some("parameter-problem"),
            Some("parameter-problem"),
        ),
        ("packet-too-big", None, Some("packet-too-big")),
        ("redirect", Some("redirect"), Some("nd-redirect")),
        (
            "router-advertisement",
            Some("router-advertisement"),
            Some("nd-router-advert"),
        ),
        (
            "router-solicitation",
            Some("router-solicitation"),
            Some("nd-router-solicit"),
        ),
        ("neighbour-advertisement", None, Some("nd-neighbor-advert")),
        ("neighbour-solicitation", None, Some("nd-neighbor-solicit")),
        ("source-quench", Some("source-quench"), None),
        ("timestamp-request", Some("timestamp-request"), None),
        ("timestamp-reply", Some("timestamp-reply"), None),
    ];
    MAP.iter()
        .find(|m| m.0 == name)
        .map_or((None, None), |m| (m.1, m.2))
}
