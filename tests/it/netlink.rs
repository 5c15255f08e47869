//! emit::netlink against the nft oracle: expression sequences equal what
//! `nft --debug=netlink` generates for the text form, and the table the kernel
//! holds after our batch lists exactly as after `nft -f` of the text emitter.
//! Every kernel test runs in a fresh network namespace of its own.

use crate::support::build::ir::{base, every_encoder_form, rule, ruleset, set};
use crate::support::netns::in_new_netns as in_netns;
use crate::support::nft::here_ok as nft_ok;
use hostwall::apply::{ApplyOptions, apply};
use hostwall::emit::netlink::{BatchOptions, BatchPart, build};
use hostwall::emit::text;
use hostwall::ir::*;
use hostwall::nft::oracle;

/// `nft list table inet hostwall` after loading the text emitter's script.
fn listing_via_nft(rs: &Ruleset) -> String {
    in_netns(|| {
        nft_ok(&["-f", "-"], &text::render(rs, "test"));
        nft_ok(&["list", "table", "inet", "hostwall"], "")
    })
}

/// The same listing after hostwall applied the IR over netlink.
pub fn listing_via_netlink(rs: &Ruleset) -> String {
    in_netns(|| {
        if let Err(e) = apply(rs, &ApplyOptions::default()) {
            panic!("apply failed: {e}");
        }
        nft_ok(&["list", "table", "inet", "hostwall"], "")
    })
}

#[test]
#[ignore = "needs root"]
fn netlink_listing_equals_nft_text_listing_for_every_form() {
    crate::support::root::require();
    let rs = every_encoder_form();
    let want = listing_via_nft(&rs);
    let got = listing_via_netlink(&rs);
    assert_eq!(got, want);
}

#[test]
#[ignore = "needs root"]
fn empty_table_and_empty_sets_match_nft() {
    crate::support::root::require();
    let rs = ruleset(
        vec![set("none", SetKey::Ipv4Addr, vec![])],
        vec![base("input", Hook::Input, ChainPolicy::Accept, vec![])],
    );
    assert_eq!(listing_via_netlink(&rs), listing_via_nft(&rs));
}

#[test]
#[ignore = "needs root"]
fn full_range_sets_match_nft() {
    crate::support::root::require();
    let all4 = Interval {
        lo: 0,
        hi: u32::MAX as u128,
    };
    let all6 = Interval {
        lo: 0,
        hi: u128::MAX,
    };
    let rs = ruleset(
        vec![
            set("all4", SetKey::Ipv4Addr, vec![all4]),
            set("all6", SetKey::Ipv6Addr, vec![all6]),
            set(
                "allports",
                SetKey::InetService,
                vec![Interval { lo: 0, hi: 65535 }],
            ),
            set(
                "top",
                SetKey::InetService,
                vec![Interval {
                    lo: 60000,
                    hi: 65535,
                }],
            ),
        ],
        vec![base("input", Hook::Input, ChainPolicy::Accept, vec![])],
    );
    assert_eq!(listing_via_netlink(&rs), listing_via_nft(&rs));
}

/// Each rule's expressions, as libnftnl prints them, from nft's own batch.
fn nft_debug_rules(rs: &Ruleset) -> Vec<String> {
    let out = in_netns(|| nft_ok(&["--debug=netlink", "-f", "-"], &text::render(rs, "test")));
    let mut rules = Vec::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if line.starts_with("inet hostwall ") {
            rules.extend(cur.take());
            cur = Some(String::new());
        } else if let Some(c) = cur.as_mut() {
            if line.starts_with("  [") {
                c.push_str(line.trim());
                c.push('\n');
            } else if line.trim().is_empty() || line.trim_start().starts_with("userdata") {
                continue;
            } else {
                rules.extend(cur.take());
            }
        }
    }
    rules.extend(cur);
    rules
}

#[test]
#[ignore = "needs root"]
fn expressions_equal_nft_debug_netlink() {
    crate::support::root::require();
    let rs = every_encoder_form();
    let want = nft_debug_rules(&rs);
    let batch = build(&rs, &BatchOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<String> = batch
        .messages
        .iter()
        .filter(|m| matches!(m.what, BatchPart::Rule { .. }))
        .map(|m| {
            let text = oracle::rule_debug_text(batch.bytes_of(m)).unwrap_or_default();
            text.lines()
                .filter(|l| l.trim_start().starts_with('['))
                .map(|l| format!("{}\n", l.trim()))
                .collect()
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "rule {} differs", i + 1);
    }
}

#[test]
#[ignore = "needs root"]
fn hundred_thousand_element_set_applies() {
    crate::support::root::require();
    let elems: Vec<Interval> = (0..100_000u128)
        .map(|i| Interval {
            lo: 0x0a00_0000 + i * 8,
            hi: 0x0a00_0000 + i * 8 + 3,
        })
        .collect();
    let mut s = set("big", SetKey::Ipv4Addr, elems);
    s.origin = vec![];
    let rules = vec![rule(
        vec![Match::Saddr(AddrMatch::Set4("big".into()))],
        vec![],
        Some(Verdict::Accept),
    )];
    let rs = ruleset(
        vec![s],
        vec![base("input", Hook::Input, ChainPolicy::Accept, rules)],
    );
    let batch = build(&rs, &BatchOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        batch.len() > 128 * 1024,
        "the batch must exceed nftnl's page size"
    );
    let count = in_netns(|| {
        let r = apply(&rs, &ApplyOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        // The applied batch also carries the generation id (one attribute).
        assert_eq!(r.batch_bytes, batch.len() + 8);
        let listing = nft_ok(&["list", "set", "inet", "hostwall", "big"], "");
        listing.matches("/30").count()
    });
    assert_eq!(count, 100_000);
}
