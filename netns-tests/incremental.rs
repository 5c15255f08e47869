//! Incremental apply against the real kernel: from every policy and golden to others it
//! leaves exactly the table a full apply leaves (`nft list table`), `diff --full` is
//! empty after each, and the apply reads our table no more than the capture did; a change to our table since the guard's base still refuses it; a
//! range split by hand is removed as the kernel stores it, never half; a change to a list split
//! into several sets moves only its own elements, in the sets they fall in, and each piece's
//! range before its lookup reads back as compiled, in both families and directions.
//!
//! CI walks each case from two others; `HOSTWALL_FULL_COUNTS=1` walks every ordered pair.

use crate::support::corpus;
use crate::support::nft::{At, nft_ok};
use hostwall::apply::{ApplyError, ApplyOptions, ApplyPath, apply, restore};
use hostwall::drift::{self, DriftOptions};
use hostwall::ir::Ruleset;
use hostwall::netns::Netns;
use std::path::PathBuf;

pub fn full_counts() -> bool {
    std::env::var_os("HOSTWALL_FULL_COUNTS").is_some()
}

pub fn opts(ns: &Netns, full_replace: bool) -> ApplyOptions {
    ApplyOptions {
        netns: Some(ns.name().to_string()),
        full_replace,
        ..Default::default()
    }
}

pub fn listing(ns: &Netns, table: &str) -> String {
    nft_ok(At::Netns(ns.name()), &["list", "table", "inet", table], "")
}

/// `diff --full` of `rs` against the namespace: the drift (warnings aside).
pub fn drift(rs: &Ruleset, ns: &Netns) -> Vec<hostwall::diff::Change> {
    let o = DriftOptions {
        netns: Some(ns.name().to_string()),
        state_dir: PathBuf::from("/nonexistent-hostwall-state"),
        full: true,
    };
    let r = drift::full(rs, &o).unwrap_or_else(|e| panic!("diff: {e}"));
    (r.changes.into_iter())
        .filter(|c| c.severity == hostwall::diff::Severity::Drift)
        .collect()
}

fn applied(rs: &Ruleset, o: &ApplyOptions) -> ApplyPath {
    apply(rs, o).unwrap_or_else(|e| panic!("apply: {e}")).path
}

/// `apply`'s way under the safe flow: capture (the revert's copy and the guard's base),
/// then apply with that guard. Our table is dumped once, by the capture: the apply
/// decodes the in-place change from the capture's copy.
fn applied_captured(rs: &Ruleset, ns: &Netns) -> ApplyPath {
    let o = opts(ns, false);
    let captured = restore::capture(rs, &o).unwrap_or_else(|e| panic!("capture: {e}"));
    let o = ApplyOptions {
        guard: Some(captured.guard),
        ..o
    };
    let r = apply(rs, &o).unwrap_or_else(|e| panic!("apply: {e}"));
    assert_eq!(r.table_dumps, 0, "the apply dumped our table again");
    r.path
}

#[test]
#[ignore = "needs root"]
fn incremental_from_each_policy_to_others_leaves_the_full_apply_table_issue14() {
    crate::support::root::require();
    let cases: Vec<(String, Ruleset)> = (corpus::clean().iter())
        .map(|c| (c.name.clone(), corpus::compile(c)))
        .filter(|(_, rs)| rs.table.name == "hostwall")
        .collect();
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let ns = Netns::create_unique("hw-incr").unwrap_or_else(|e| panic!("netns: {e}"));
    let want: Vec<String> = (cases.iter())
        .map(|(_, rs)| {
            applied(rs, &opts(&ns, true));
            listing(&ns, "hostwall")
        })
        .collect();
    let n = cases.len();
    let pairs: Vec<(usize, usize)> = match full_counts() {
        true => (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .collect(),
        false => (0..n)
            .flat_map(|i| [(i, (i + 1) % n), (i, (i + 7) % n)])
            .collect(),
    };
    let mut incremental = 0;
    for (i, j) in pairs {
        applied(&cases[i].1, &opts(&ns, true));
        let path = applied_captured(&cases[j].1, &ns);
        incremental += usize::from(matches!(path, ApplyPath::Incremental { .. }));
        let (from, to) = (&cases[i].0, &cases[j].0);
        assert_eq!(
            listing(&ns, "hostwall"),
            want[j],
            "{from} -> {to} ({path:?})"
        );
        assert_eq!(drift(&cases[j].1, &ns), vec![], "{from} -> {to}");
    }
    eprintln!("{incremental} of the applies went in place");
    assert!(incremental >= n / 2, "only {incremental} in place");
}

/// A policy blocking `addrs` (besides a fixed allow), as a block-list feed makes it.
pub fn blocklist(addrs: &[String], extra_port: Option<u16>) -> Ruleset {
    let mut text = String::from("policy feed {\n    default drop\n    allow ssh tcp 22\n");
    if let Some(p) = extra_port {
        text.push_str(&format!("    allow tcp {p}\n"));
    }
    if !addrs.is_empty() {
        text.push_str(&format!("    drop from {}\n", addrs.join(", ")));
    }
    text.push_str("}\n");
    corpus::compile_text(&text)
}

#[test]
#[ignore = "needs root"]
fn a_change_to_our_table_since_the_base_refuses_the_incremental_batch_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-incr").unwrap_or_else(|e| panic!("netns: {e}"));
    let addrs = |r: std::ops::Range<u32>| -> Vec<String> {
        r.map(|i| format!("10.1.{}.{}", i / 250, i % 250 + 1))
            .collect()
    };
    let old = blocklist(&addrs(0..50), None);
    applied(&old, &opts(&ns, true));
    let new = blocklist(&addrs(1..51), None);
    let captured = restore::capture(&new, &opts(&ns, false)).unwrap_or_else(|e| panic!("{e}"));
    let before = listing(&ns, "hostwall");
    // By hand, after the base: an element of ours.
    let set = (old.table.sets.iter())
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr)
        .map(|s| s.name.clone())
        .expect("an address set");
    nft_ok(
        At::Netns(ns.name()),
        &["add", "element", "inet", "hostwall", &set, "{ 192.0.2.1 }"],
        "",
    );
    let hand = listing(&ns, "hostwall");
    assert_ne!(before, hand);
    let o = ApplyOptions {
        guard: Some(captured.guard.clone()),
        ..opts(&ns, false)
    };
    match apply(&new, &o) {
        Err(ApplyError::Concurrent { expected }) => assert_eq!(expected, captured.guard.base()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(listing(&ns, "hostwall"), hand, "nothing applied");
    // Without the stale guard it goes in place, and the hand-made element goes too.
    let path = applied(&new, &opts(&ns, false));
    let ApplyPath::Incremental { summary } = path else {
        panic!("{path:?}")
    };
    assert_eq!((summary.elements_added, summary.elements_removed), (1, 2));
    assert_eq!(drift(&new, &ns), vec![]);
}

#[test]
#[ignore = "needs root"]
fn a_range_split_by_hand_is_removed_as_stored_never_half_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-incr").unwrap_or_else(|e| panic!("netns: {e}"));
    let with = blocklist(&["10.0.0.0/30".into(), "172.16.0.0/12".into()], None);
    let without = blocklist(&["172.16.0.0/12".into()], None);
    applied(&with, &opts(&ns, true));
    let set = (with.table.sets.iter())
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr)
        .map(|s| s.name.clone())
        .expect("an address set");
    // Adjacent to ours: the live view merges the two into 10.0.0.0/29.
    nft_ok(
        At::Netns(ns.name()),
        &[
            "add",
            "element",
            "inet",
            "hostwall",
            &set,
            "{ 10.0.0.4/30 }",
        ],
        "",
    );
    let path = applied(&without, &opts(&ns, false));
    assert!(matches!(path, ApplyPath::Incremental { .. }), "{path:?}");
    assert_eq!(drift(&without, &ns), vec![]);
    let inc = listing(&ns, "hostwall");
    applied(&without, &opts(&ns, true));
    assert_eq!(inc, listing(&ns, "hostwall"));
}

#[test]
#[ignore = "needs root"]
fn dry_run_shows_the_in_place_change_in_policy_lines_messages_only_under_verbose_issue13() {
    crate::support::root::require();
    let env = crate::apply::Env::new("hw-incr");
    let base = "policy p {\n    default reject\n    allow ssh tcp 22 from 10.1.0.0/16, 10.5.0.0/16\n    allow http tcp 80\n}\n";
    let next = "policy p {\n    default reject\n    allow ssh tcp 22 from 10.1.0.0/16, 10.9.0.0/16\n    allow udp 8080\n    allow http tcp 80\n}\n";
    let a = env.file("a.policy", base);
    let b = env.file("b.policy", next);
    let args = |p: &std::path::Path, more: &[&str]| {
        let mut v: Vec<String> = ["--insecure-perms"].iter().map(|s| s.to_string()).collect();
        v.extend(more.iter().map(|s| s.to_string()));
        v.push(p.to_string_lossy().into_owned());
        v
    };
    let run = |v: Vec<String>| {
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        env.apply(&r)
    };
    crate::apply::exit(&run(args(&a, &[])), 0);
    let before = env.ruleset();
    let out = run(args(&b, &["--dry-run"]));
    crate::apply::exit(&out, 0);
    let plan = crate::apply::stdout(&out);
    let file = b.to_string_lossy();
    assert!(
        plan.starts_with("in place (only these changes are sent):\n"),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "set allow_src_v4: 1 added, 1 removed  ({file}:3:5)"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "chain input: rule 6 added: udp dport 8080 accept comment \"udp 8080\"  ({file}:4:5)"
        )),
        "{plan}"
    );
    assert!(
        !plan.contains("seq "),
        "netlink messages only under -v: {plan}"
    );
    assert!(!plan.contains("+ 10.9.0.0/16"), "{plan}");
    let out = run(args(&b, &["--dry-run", "-v"]));
    let plan = crate::apply::stdout(&out);
    assert!(plan.contains("      + 10.9.0.0/16\n"), "{plan}");
    assert!(plan.contains("      - 10.5.0.0/16\n"), "{plan}");
    assert!(plan.contains("the batch it would send:"), "{plan}");
    assert!(
        plan.contains("deletion of elements of set allow_src_v4"),
        "{plan}"
    );
    assert_eq!(env.ruleset(), before, "a dry run changed nothing");
    // The apply itself says which path it took.
    let out = run(args(&b, &[]));
    crate::apply::exit(&out, 0);
    let err = crate::apply::stderr(&out);
    assert!(
        err.contains("  incremental: 1 elements added, 1 elements removed, 1 rules added\n"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root"]
fn our_table_alone_is_proven_at_a_generation_any_other_table_denies_it_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-alone").unwrap_or_else(|e| panic!("netns: {e}"));
    let alone =
        || hostwall::apply::alone("hostwall", Some(ns.name())).unwrap_or_else(|e| panic!("{e}"));
    let none = alone();
    assert!(none.is_some(), "an empty ruleset has no other table");
    let rs = blocklist(&["10.9.0.1".to_string()], Some(8080));
    let r = apply(&rs, &opts(&ns, true)).unwrap_or_else(|e| panic!("apply: {e}"));
    assert_eq!(alone(), Some(r.genid), "at the apply's own generation");
    for other in [["ip", "hostwall"], ["inet", "libvirt"], ["netdev", "x"]] {
        nft_ok(
            At::Netns(ns.name()),
            &["add", "table", other[0], other[1]],
            "",
        );
        assert_eq!(alone(), None, "table {} {} exists", other[0], other[1]);
        nft_ok(
            At::Netns(ns.name()),
            &["delete", "table", other[0], other[1]],
            "",
        );
    }
    let back = alone().unwrap_or_else(|| panic!("alone again"));
    assert!(
        back != r.genid,
        "the generation moved on with the other tables"
    );
}

/// `n` networks 8 addresses apart from 10.0.0.0: a /30 each, except that each index in
/// `moved` becomes the single address 5 past its start.
fn feed(n: u32, moved: &[u32]) -> Vec<String> {
    feed_to_end(n, moved, 0)
}

/// [`feed`] with its first `to_end` networks moved past the end, as single addresses
/// from 11.0.0.0 on, 8 apart (every other network shifts by as many places).
fn feed_to_end(n: u32, moved: &[u32], to_end: u32) -> Vec<String> {
    let past = (0..to_end).map(|i| std::net::Ipv4Addr::from(0x0b00_0000 + i * 8).to_string());
    (to_end..n)
        .map(|i| {
            let v = std::net::Ipv4Addr::from(0x0a00_0000 + i * 8);
            match moved.contains(&i) {
                true => std::net::Ipv4Addr::from(u32::from(v) + 5).to_string(),
                false => format!("{v}/30"),
            }
        })
        .chain(past)
        .collect()
}

/// The name of the address set of `rs` holding `v`.
fn holder(rs: &Ruleset, v: u32) -> String {
    let v = u128::from(v);
    let s = (rs.table.sets.iter()).find(|s| s.elements.iter().any(|e| e.lo <= v && v <= e.hi));
    s.map(|s| s.name.clone())
        .unwrap_or_else(|| panic!("no set holds {v:#x}"))
}

#[test]
#[ignore = "needs root"]
fn a_changed_big_list_applied_in_place_equals_a_full_apply_and_moves_only_its_elements_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-incr").unwrap_or_else(|e| panic!("netns: {e}"));
    let n = 24_000;
    let base = blocklist(&feed(n, &[]), None);
    let pieces = (base.table.sets.iter())
        .filter(|s| s.key == hostwall::ir::SetKey::Ipv4Addr)
        .count();
    assert!(pieces >= 2, "the list is split: {pieces} sets");
    let shapes: [(&str, Vec<u32>, u32); 5] = [
        ("the first", vec![0], 0),
        ("the last", vec![n - 1], 0),
        (
            "60 spread",
            (0..60).map(|i| (i * 7_919 + 13) % n).collect(),
            0,
        ),
        ("the first past the end", vec![], 1),
        ("200 at the start past the end", vec![], 200),
    ];
    for (what, moved, to_end) in shapes {
        applied(&base, &opts(&ns, true));
        let new = blocklist(&feed_to_end(n, &moved, to_end), None);
        let path = applied(&new, &opts(&ns, false));
        let ApplyPath::Incremental { summary } = path else {
            panic!("{what}: {path:?}")
        };
        let k = moved.len() + to_end as usize;
        let moves = (summary.elements_added, summary.elements_removed);
        assert_eq!(moves, (k, k), "{what}: elements moved");
        let want: std::collections::BTreeSet<String> = (moved.iter())
            .flat_map(|&i| {
                let v = 0x0a00_0000 + i * 8;
                [holder(&base, v), holder(&new, v + 5)]
            })
            .chain((0..to_end).map(|i| holder(&base, 0x0a00_0000 + i * 8)))
            .chain((0..to_end).map(|i| holder(&new, 0x0b00_0000 + i * 8)))
            .collect();
        let touched: std::collections::BTreeSet<String> = (summary.lines.iter())
            .filter_map(|l| l.text.strip_prefix("set "))
            .filter_map(|t| t.split(':').next().map(str::to_string))
            .collect();
        assert_eq!(touched, want, "{what}: the sets touched");
        let in_place = listing(&ns, "hostwall");
        assert_eq!(drift(&new, &ns), vec![], "{what}");
        applied(&new, &opts(&ns, true));
        assert_eq!(
            in_place,
            listing(&ns, "hostwall"),
            "{what}: as a full apply"
        );
    }
}

/// A v4 and v6 list cut into sets, as sources and as destinations: the kernel lists each
/// piece's rule with its range as compiled, `diff --full` reads them back unchanged, and
/// moving each family's first and last network (every range at an end moves) goes in
/// place to exactly the table a full apply makes.
#[test]
#[ignore = "needs root"]
fn ranges_before_lookups_round_trip_in_both_families_and_directions_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-incr").unwrap_or_else(|e| panic!("netns: {e}"));
    let list = |shift: u32| {
        let v4 = (0..6_000u32).map(|i| {
            format!(
                "{}/30",
                std::net::Ipv4Addr::from(0x0b00_0000 + (i + shift) * 8)
            )
        });
        let v6 = (0..6_000u128).map(|i| {
            let v = (0x2001_0db8u128 << 96) + (i + u128::from(shift)) * 512;
            format!("{}/120", std::net::Ipv6Addr::from(v))
        });
        let nets: Vec<String> = v4.chain(v6).collect();
        corpus::compile_text(&format!(
            "policy p {{\n    define big = {}\n    allow ssh tcp 22\n    drop from big\n    drop to big\n}}\n",
            nets.join(", ")
        ))
    };
    let (base, moved) = (list(0), list(1));
    applied(&base, &opts(&ns, true));
    let text = listing(&ns, "hostwall");
    for (family, dir) in [
        ("ip", "saddr"),
        ("ip6", "saddr"),
        ("ip", "daddr"),
        ("ip6", "daddr"),
    ] {
        let guarded = (text.lines())
            .filter(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(family)
                    && w.next() == Some(dir)
                    && w.next().is_some_and(|r| r.contains('-'))
                    && w.next() == Some(family)
                    && w.next() == Some(dir)
                    && w.next().is_some_and(|s| s.starts_with('@'))
            })
            .count();
        assert!(
            guarded >= 2,
            "{family} {dir}: {guarded} pieces behind ranges\n{text}"
        );
    }
    assert_eq!(drift(&base, &ns), vec![]);
    let path = applied(&moved, &opts(&ns, false));
    let ApplyPath::Incremental { summary } = path else {
        panic!("{path:?}")
    };
    assert!(
        summary.rules_replaced >= 4,
        "the ranges at the ends moved: {summary:?}"
    );
    let in_place = listing(&ns, "hostwall");
    assert_eq!(drift(&moved, &ns), vec![]);
    applied(&moved, &opts(&ns, true));
    assert_eq!(in_place, listing(&ns, "hostwall"), "as a full apply");
}
