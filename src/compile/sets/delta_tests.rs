//! Content-defined pieces against the in-place planner and the packet verdict: a change of
//! k elements in a 100k list touches only the sets the changed elements fall in, and a
//! list split into pieces gives every address the verdict the unsplit list gives it.

use crate::apply::delta::{
    Decision, LiveChain, LiveSet, LiveTable, plan, rule_text, stored_elements,
};
use crate::check::{NoIncludes, check};
use crate::compile::{MAX_SET_ELEMENTS, Options, compile_with};
use crate::eval::{self, L4, Packet};
use crate::ir::{Hook, Ruleset, Verdict};
use crate::source::SourceMap;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn compiled(text: &str, max: usize) -> Ruleset {
    let mut map = SourceMap::new();
    let file = map.add("t.policy", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
    compile_with(
        &policy,
        &Options {
            max_set_elements: max,
        },
    )
}

/// The live form of `rs` as the kernel would hold it after a full apply.
fn live_of(rs: &Ruleset) -> LiveTable {
    let mut h = 100;
    LiveTable {
        sets: (rs.table.sets.iter())
            .map(|s| LiveSet::of(s, stored_elements))
            .collect(),
        chains: (rs.table.chains.iter())
            .map(|c| LiveChain {
                name: c.name.clone(),
                base: c.base,
                rules: (c.rules.iter())
                    .map(|r| {
                        h += 1;
                        (h, rule_text(r))
                    })
                    .collect(),
            })
            .collect(),
        foreign: vec![],
    }
}

/// `n` networks 8 addresses apart from 10.0.0.0: a /30 each, except that each index in
/// `moved` becomes the single address 5 past its start (not adjacent to any other).
fn feed(n: u32, moved: &BTreeSet<u32>) -> String {
    let nets: Vec<String> = (0..n)
        .map(|i| {
            let v = 0x0a00_0000 + i * 8;
            match moved.contains(&i) {
                true => Ipv4Addr::from(v + 5).to_string(),
                false => format!("{}/30", Ipv4Addr::from(v)),
            }
        })
        .collect();
    format!(
        "policy feed {{\n    define big = {}\n    allow tcp 22\n    drop from big\n}}\n",
        nets.join(", ")
    )
}

/// The name of the set of `rs` holding address `v`.
fn holder(rs: &Ruleset, v: u32) -> String {
    let v = u128::from(v);
    let s = (rs.table.sets.iter()).find(|s| s.elements.iter().any(|e| e.lo <= v && v <= e.hi));
    s.map(|s| s.name.clone())
        .unwrap_or_else(|| panic!("no set holds {v:#x}"))
}

/// `k` distinct indices below `n`, spread by a fixed linear congruential walk.
fn spread(k: usize, n: u32, seed: u64) -> BTreeSet<u32> {
    let mut x = seed;
    let mut out = BTreeSet::new();
    while out.len() < k {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.insert(((x >> 33) % u64::from(n)) as u32);
    }
    out
}

#[test]
fn a_change_of_k_elements_touches_only_the_sets_it_falls_in_issue14() {
    let n = 100_000;
    let old = compiled(&feed(n, &BTreeSet::new()), MAX_SET_ELEMENTS);
    let names: Vec<(&str, usize)> = (old.table.sets.iter())
        .map(|s| (s.name.as_str(), s.elements.len()))
        .collect();
    assert!(names.len() >= 8, "the list is split: {names:?}");
    let live = live_of(&old);
    let shapes: [(&str, BTreeSet<u32>); 6] = [
        ("the first", [0].into()),
        ("the last", [n - 1].into()),
        ("one mid-way", [n / 2 + 7].into()),
        ("1,000 at the start", (0..1_000).collect()),
        ("1,000 spread", spread(1_000, n, 7)),
        ("30 spread", spread(30, n, 11)),
    ];
    for (what, moved) in shapes {
        let new = compiled(&feed(n, &moved), MAX_SET_ELEMENTS);
        let d = match plan(&live, &new) {
            Decision::Delta(d) => d,
            Decision::Full(why) => panic!("{what}: full replace: {why}"),
        };
        assert!(d.new_sets.is_empty() && d.removed_sets.is_empty(), "{what}");
        let want: BTreeSet<String> = (moved.iter())
            .flat_map(|&i| {
                let v = 0x0a00_0000 + i * 8;
                [holder(&old, v), holder(&new, v + 5)]
            })
            .collect();
        let got: BTreeSet<String> = d.elements.iter().map(|e| e.set.name.clone()).collect();
        assert_eq!(got, want, "{what}: the sets touched");
        // A rule is replaced only where its set's range moved (its first or last element).
        let ends = |rs: &Ruleset, name: &str| {
            let s = rs.table.sets.iter().find(|s| s.name == name);
            s.map(|s| (s.elements.first(), s.elements.last()))
        };
        let ranged: BTreeSet<String> = (got.iter())
            .filter(|n| ends(&old, n) != ends(&new, n))
            .cloned()
            .collect();
        assert_eq!(rule_sets(&d), ranged, "{what}: the rules replaced");
        let removed: usize = d.elements.iter().map(|e| e.removed.len()).sum();
        let added: usize = d.elements.iter().map(|e| e.added.len()).sum();
        assert_eq!((removed, added), (moved.len(), moved.len()), "{what}");
        if moved.len() == 1 {
            assert_eq!(got.len(), 1, "{what}: one set");
        }
    }
}

/// The sets named by the rules a delta replaces, each behind its range; it makes no
/// other rule change.
fn rule_sets(d: &crate::emit::delta::Delta<'_>) -> BTreeSet<String> {
    use crate::emit::delta::RuleOp;
    use crate::ir::{AddrMatch, Match};
    use crate::nft::change::Place;
    let mut put = BTreeSet::new();
    for op in d.rules.iter().flat_map(|(_, ops)| ops) {
        let rule = match op {
            RuleOp::Put {
                rule,
                place: Place::Replace(_),
                ..
            } => rule,
            other => panic!("only replacements: {other:?}"),
        };
        let range = |m: &Match| matches!(m, Match::Saddr(AddrMatch::Range4(..)));
        assert!(
            rule.matches.iter().any(range),
            "a rule put without its range"
        );
        for m in &rule.matches {
            if let Match::Saddr(AddrMatch::Set4(s)) = m {
                put.insert(s.clone());
            }
        }
    }
    put
}

/// The feed's `n` /30s without the indices `removed`, with the single addresses `added`.
fn feed_changed(n: u32, removed: &BTreeSet<u32>, added: &[u32]) -> String {
    let mut nets: Vec<String> = (0..n)
        .filter(|i| !removed.contains(i))
        .map(|i| format!("{}/30", Ipv4Addr::from(0x0a00_0000 + i * 8)))
        .collect();
    nets.extend(added.iter().map(|v| Ipv4Addr::from(*v).to_string()));
    format!(
        "policy feed {{\n    define big = {}\n    allow tcp 22\n    drop from big\n}}\n",
        nets.join(", ")
    )
}

/// Networks removed or added (every later one shifts by as many places): still only
/// the sets they fall in, and a set made for networks past the end comes last.
#[test]
fn networks_removed_or_added_change_only_their_own_sets_issue14() {
    let n = 100_000;
    let old = compiled(&feed_changed(n, &BTreeSet::new(), &[]), MAX_SET_ELEMENTS);
    let live = live_of(&old);
    let past_end = |k: u32| (0..k).map(|i| 0x0b00_0000 + i * 8).collect::<Vec<u32>>();
    let shapes: [(&str, BTreeSet<u32>, Vec<u32>); 5] = [
        ("the first removed", [0].into(), vec![]),
        ("three spread removed", spread(3, n, 5), vec![]),
        (
            "one added mid-way",
            [].into(),
            vec![0x0a00_0000 + n / 2 * 8 + 5],
        ),
        ("the first moved past the end", [0].into(), past_end(1)),
        (
            "1,000 at the start moved past the end",
            (0..1_000).collect(),
            past_end(1_000),
        ),
    ];
    for (what, removed, added) in shapes {
        let new = compiled(&feed_changed(n, &removed, &added), MAX_SET_ELEMENTS);
        let d = match plan(&live, &new) {
            Decision::Delta(d) => d,
            Decision::Full(why) => panic!("{what}: full replace: {why}"),
        };
        assert!(d.removed_sets.is_empty(), "{what}");
        let want: BTreeSet<String> = (removed.iter())
            .map(|&i| holder(&old, 0x0a00_0000 + i * 8))
            .chain(added.iter().map(|&v| holder(&new, v)))
            .collect();
        let got: BTreeSet<String> = (d.elements.iter().map(|e| e.set.name.clone()))
            .chain(d.new_sets.iter().map(|s| s.name.clone()))
            .collect();
        assert_eq!(got, want, "{what}: the sets touched");
        let removed_n: usize = d.elements.iter().map(|e| e.removed.len()).sum();
        let added_n: usize = (d.elements.iter().map(|e| e.added.len()))
            .chain(d.new_sets.iter().map(|s| s.elements.len()))
            .sum();
        assert_eq!((removed_n, added_n), (removed.len(), added.len()), "{what}");
    }
}

/// A policy whose v4 and v6 lists hold every shape of element: /30s, single addresses,
/// ranges and /27s (v4), /64s and single addresses (v6).
fn mixed(n: u32) -> String {
    let v4: Vec<String> = (0..n)
        .map(|i| {
            let b = 0x0a00_0000 + i * 64;
            let a = |o: u32| Ipv4Addr::from(b + o);
            match i % 4 {
                0 => format!("{}/30", a(0)),
                1 => a(1).to_string(),
                2 => format!("{}-{}", a(3), a(17)),
                _ => format!("{}/27", a(32)),
            }
        })
        .collect();
    let v6: Vec<String> = (0..n / 2)
        .map(|i| match i % 2 {
            0 => format!("2001:db8:0:{i:x}::/64"),
            _ => format!("2001:db8:1:{i:x}::9"),
        })
        .collect();
    format!(
        "policy p {{\n    define big = {}, {}\n    allow tcp 22 from big\n}}\n",
        v4.join(", "),
        v6.join(", ")
    )
}

fn verdict(rs: &Ruleset, src: IpAddr) -> Verdict {
    let dst: IpAddr = match src {
        IpAddr::V4(_) => "192.0.2.1".parse().expect("address"),
        IpAddr::V6(_) => "2001:db8:ffff::1".parse().expect("address"),
    };
    let pkt = Packet::new_inbound(src, dst, "eth0", L4::Tcp { dport: 22 });
    eval::evaluate(rs, Hook::Input, &pkt)
        .expect("evaluates")
        .verdict
}

#[test]
fn a_list_split_into_pieces_gives_every_address_the_verdict_of_one_set() {
    let text = mixed(3_000);
    let split = compiled(&text, 64);
    let whole = compiled(&text, usize::MAX);
    assert!(split.table.sets.len() >= 60, "split into pieces");
    assert_eq!(whole.table.sets.len(), 3, "nd, v4, v6");
    let mut probes: Vec<IpAddr> = Vec::new();
    for s in &whole.table.sets[1..] {
        for e in s.elements.iter() {
            for v in [e.lo.wrapping_sub(1), e.lo, e.hi, e.hi.wrapping_add(1)] {
                probes.push(match s.name.ends_with("v4") {
                    true => IpAddr::V4(Ipv4Addr::from(v as u32)),
                    false => IpAddr::V6(Ipv6Addr::from(v)),
                });
            }
        }
    }
    let random = spread(4_000, 3_000 * 64, 3);
    probes.extend(
        random
            .iter()
            .map(|o| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + o))),
    );
    let mut accepted = 0;
    for src in probes {
        let want = verdict(&whole, src);
        assert_eq!(verdict(&split, src), want, "{src}");
        accepted += usize::from(want == Verdict::Accept);
    }
    assert!(
        accepted > 5_000,
        "{accepted} accepted: the probes reach the lists"
    );
}

/// One network a /24 from 10.0.0.0 on, every other /24 (so blocks in between are free),
/// plus `extra`.
fn sparse(n: u32, extra: &[u32]) -> String {
    let mut nets: Vec<String> = (0..n)
        .map(|i| Ipv4Addr::from(0x0a00_0000 + i * 512).to_string())
        .collect();
    nets.extend(extra.iter().map(|v| Ipv4Addr::from(*v).to_string()));
    format!(
        "policy feed {{\n    define big = {}\n    drop from big\n}}\n",
        nets.join(", ")
    )
}

/// One block in this many starts a set (the hash divisor of the first level of cuts).
fn boundary_every() -> u64 {
    (MAX_SET_ELEMENTS / 2) as u64
}

/// A network in a free /24 mid-way whose hash selects it (`selected`) or not.
fn free_block(n: u32, selected: bool) -> u32 {
    (n / 2..n)
        .map(|i| 0x0a00_0000 + i * 512 + 256)
        .find(|v| (super::split::mix(u128::from(v >> 8)) % boundary_every() == 0) == selected)
        .unwrap_or_else(|| panic!("no free block with selected = {selected}"))
}

#[test]
fn a_network_in_a_new_block_changes_one_set_unless_its_block_starts_a_set_mid_list_issue14() {
    let n = 60_000;
    let old = compiled(&sparse(n, &[]), MAX_SET_ELEMENTS);
    let live = live_of(&old);
    let plain = free_block(n, false);
    let new = compiled(&sparse(n, &[plain]), MAX_SET_ELEMENTS);
    let Decision::Delta(d) = plan(&live, &new) else {
        panic!("an unselected block goes in place")
    };
    let touched: Vec<&str> = d.elements.iter().map(|e| e.set.name.as_str()).collect();
    assert_eq!(touched, [holder(&new, plain)]);
    assert!(d.new_sets.is_empty());
    // A selected block mid-list starts a set before others that stay: only a full
    // replace lists the sets as a full apply does, and the reason says so.
    let boundary = free_block(n, true);
    let new = compiled(&sparse(n, &[boundary]), MAX_SET_ELEMENTS);
    let name = format!("src_big_v4_{:08x}", boundary & !0xff);
    assert_eq!(holder(&new, boundary), name, "the block starts a set");
    match plan(&live, &new) {
        Decision::Full(why) => assert!(
            why.starts_with(&format!("new set {name} comes before")),
            "{why}"
        ),
        Decision::Delta(_) => panic!("a set made mid-list in place"),
    }
}
