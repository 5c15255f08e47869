//! Address forms outside the compile goldens: forward rules with address ranges on both
//! sides. (The goldens feed the verify mutation score, and verify's forward probes do not
//! yet pair a range's first address on one side with the other side's, so a range narrowed
//! by one address at its start would count as a survivor there.) Compiled text, the real
//! `nft -c`, and the JSON form loading like the text.

use crate::support::{corpus, nft};

const FORWARD_RANGES: &str = "policy p {
    forward {
        allow tcp 22 from 10.3.0.1-10.3.0.4 to 10.4.0.0-10.4.0.5
        allow tcp 80 from fd00:3::1-fd00:3::ff to 10.4.0.0-10.4.0.255, fd00:4::-fd00:4::7
    }
}
";

#[test]
fn forward_ranges_compile_to_interval_sets_on_both_sides() {
    let rs = corpus::compile_text(FORWARD_RANGES);
    let text = hostwall::emit::text::render(&rs, "policy");
    for want in [
        "elements = { 10.3.0.1-10.3.0.4 }",
        "elements = { 10.4.0.0-10.4.0.5 }",
        "elements = { fd00:3::1-fd00:3::ff }",
        "ip saddr @forward_allow_src_v4 ip daddr @forward_allow_dst_v4 tcp dport 22 accept",
        "ip6 saddr @forward_allow_src_v6 ip6 daddr fd00:4::/125 tcp dport 80 accept",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // No IPv4 destination rule for IPv6-only sources.
    assert!(!text.contains("ip daddr 10.4.0.0/24"), "{text}");
    nft::accepts(&text).expect("nft -c accepts it");
    let a = nft::load_and_list(&text, false).expect("text loads");
    let b = nft::load_and_list(&hostwall::emit::json::render(&rs), true).expect("JSON loads");
    assert_eq!(a, b, "text and JSON load differently");
}
