//! Incremental apply planned from the table record (`apply::trusted`) against the real
//! kernel: from policy to policy it reads nothing and leaves exactly the table a full
//! apply leaves; a record that is stale (the ruleset moved), damaged, of another
//! namespace or of another policy at another generation is not trusted, and the apply
//! then reads our table and is still exact.

use crate::incremental::{blocklist, drift, listing, opts};
use crate::support::corpus;
use crate::support::nft::{At, nft_ok};
use hostwall::apply::{ApplyOptions, ApplyPath, PlanBasis, apply, trusted};
use hostwall::ir::Ruleset;
use hostwall::netns::Netns;
use std::path::{Path, PathBuf};

fn with_record(ns: &Netns, record: &Path, full: bool) -> ApplyOptions {
    ApplyOptions {
        table_record: Some(record.to_path_buf()),
        ..opts(ns, full)
    }
}

fn has_dynamic(rs: &Ruleset) -> bool {
    rs.table.sets.iter().any(|s| s.timeout_ms.is_some())
}

/// Applies; a record is kept after every apply, a table with a dynamic set's too (the
/// set without its learned elements, issue #14). Planned from the record, with every
/// sysctl the policy sets already at its value (`forwarding on` re-applied), the apply
/// reads nothing of our table: not even a copy for the sysctl step's rollback, a step
/// that writes nothing.
fn applied(rs: &Ruleset, o: &ApplyOptions) -> (ApplyPath, PlanBasis) {
    let r = apply(rs, o).unwrap_or_else(|e| panic!("apply: {e}"));
    if o.table_record.is_some() {
        assert_eq!(r.record_error, None);
    }
    if r.basis == PlanBasis::Record && r.sysctls.iter().all(|c| c.old == c.new) {
        assert_eq!(
            r.table_dumps, 0,
            "our table was read for a sysctl step writing nothing"
        );
    }
    // Whatever the basis: a copy taken for the sysctl step is also what the plan reads.
    assert!(
        r.table_dumps <= 1,
        "our table was read {} times",
        r.table_dumps
    );
    (r.path, r.basis)
}

fn state() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let record = trusted::path(&dir.path().join("state"), Some("lab"));
    (dir, record)
}

/// `nft list table` of our table after a full apply of `rs` in a namespace of its own.
fn full_listing(rs: &Ruleset) -> String {
    let other = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    applied(rs, &opts(&other, true));
    listing(&other, "hostwall")
}

fn addrs(r: std::ops::Range<u32>) -> Vec<String> {
    r.map(|i| format!("10.2.{}.{}", i / 250, i % 250 + 1))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn applies_planned_from_the_table_record_read_nothing_and_leave_the_full_apply_table_issue14() {
    crate::support::root::require();
    let cases: Vec<(String, Ruleset)> = (corpus::clean().iter())
        .map(|c| (c.name.clone(), corpus::compile(c)))
        .filter(|(_, rs)| rs.table.name == "hostwall")
        .collect();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    let want: Vec<String> = (cases.iter())
        .map(|(_, rs)| {
            applied(rs, &opts(&ns, true));
            listing(&ns, "hostwall")
        })
        .collect();
    let n = cases.len();
    // A chain of applies, each planned from the record the one before it wrote.
    applied(&cases[0].1, &with_record(&ns, &record, true));
    let (mut from_record, mut dynamic) = (0, 0);
    assert!(
        cases.iter().any(|(_, rs)| has_dynamic(rs)),
        "no case with a dynamic set"
    );
    for step in 1..=2 * n {
        let (i, j) = ((step - 1) * 7 % n, step * 7 % n);
        let (path, basis) = applied(&cases[j].1, &with_record(&ns, &record, false));
        let (a, b) = (&cases[i].0, &cases[j].0);
        assert_eq!(listing(&ns, "hostwall"), want[j], "{a} -> {b} ({path:?})");
        assert_eq!(drift(&cases[j].1, &ns), vec![], "{a} -> {b}");
        match basis {
            PlanBasis::Record => from_record += 1,
            other => panic!("{a} -> {b}: planned from {other:?}"),
        }
        dynamic += usize::from(has_dynamic(&cases[i].1));
    }
    eprintln!("{from_record} applies planned from the record, {dynamic} after a dynamic set");
    assert_eq!(from_record, 2 * n, "every apply planned from the record");
    assert!(dynamic > 0, "no apply from a table with a dynamic set");
}

#[test]
#[ignore = "needs root"]
fn a_stale_damaged_or_foreign_record_is_not_trusted_and_the_apply_reads_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    let (a, b, c) = (
        blocklist(&addrs(0..40), None),
        blocklist(&addrs(5..45), Some(8080)),
        blocklist(&addrs(20..70), Some(9090)),
    );
    let want_b = full_listing(&b);
    let reads = |basis: PlanBasis, says: &str| match basis {
        PlanBasis::Read { why } => assert!(why.contains(says), "{why}"),
        other => panic!("trusted a record it should not have: {other:?}"),
    };
    // Stale: an element added by hand moves the generation on.
    applied(&a, &with_record(&ns, &record, true));
    let set = (a.table.sets.iter())
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr)
        .map(|s| s.name.clone())
        .expect("an address set");
    let add = ["add", "element", "inet", "hostwall", &set, "{ 192.0.2.9 }"];
    nft_ok(At::Netns(ns.name()), &add, "");
    let (_, basis) = applied(&b, &with_record(&ns, &record, false));
    reads(basis, "moved on");
    assert_eq!(
        listing(&ns, "hostwall"),
        want_b,
        "the hand-made element stayed"
    );
    // Damaged: one byte of the record flipped.
    applied(&a, &with_record(&ns, &record, true));
    let mut bytes = std::fs::read(&record).unwrap_or_else(|e| panic!("{e}"));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&record, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (_, basis) = applied(&b, &with_record(&ns, &record, false));
    reads(basis, "checksum");
    assert_eq!(listing(&ns, "hostwall"), want_b);
    // Foreign: a well-formed record of policy c, written in another namespace at the
    // very generation this one is at now.
    let (ns2, (_dir2, record2)) = (
        Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}")),
        state(),
    );
    applied(&a, &with_record(&ns, &record, true));
    let genid = hostwall::live::genid(Some(ns.name())).unwrap_or_else(|e| panic!("{e}"));
    // One commit each: the table made, then deleted, ...
    let mut pad = ["add", "table", "inet", "pad"];
    while hostwall::live::genid(Some(ns2.name())).unwrap_or_else(|e| panic!("{e}")) + 1 < genid {
        nft_ok(At::Netns(ns2.name()), &pad, "");
        pad[0] = if pad[0] == "add" { "delete" } else { "add" };
    }
    applied(&c, &with_record(&ns2, &record2, true));
    assert_eq!(
        hostwall::live::genid(Some(ns2.name())).unwrap_or_else(|e| panic!("{e}")),
        genid,
        "both namespaces at one generation"
    );
    std::fs::copy(&record2, &record).unwrap_or_else(|e| panic!("{e}"));
    let (_, basis) = applied(&b, &with_record(&ns, &record, false));
    reads(basis, "another network namespace");
    assert_eq!(listing(&ns, "hostwall"), want_b);
    // The record the last apply wrote stands: the next one reads nothing.
    let (path, basis) = applied(&a, &with_record(&ns, &record, false));
    assert_eq!(basis, PlanBasis::Record, "{path:?}");
    assert_eq!(drift(&a, &ns), vec![]);
}

/// The binary keeps the record in its state dir and plans from it: a second apply
/// reads no table, an edit that compiles to the same table is unchanged from the record
/// (the generation does not move), and a hand edit of our table sends it back to reading.
#[test]
#[ignore = "needs root"]
fn the_binary_plans_from_its_table_record_and_reads_when_it_is_stale_issue14() {
    use crate::apply::{Env, exit, stderr};
    crate::support::root::require();
    let env = Env::new("hw-rec");
    let text = |port: u16, comment: &str| {
        format!(
            "policy rec {{\n    default drop\n    allow ssh tcp 22 from 10.7.0.0/16, 10.9.1.1\n    allow tcp {port}\n}}\n# {comment}\n"
        )
    };
    let p = env.file("rec.policy", &text(8080, "a"));
    let p = p.to_string_lossy().to_string();
    exit(&env.apply(&[&p]), 0);
    let record = trusted::path(&env.state(), Some(env.ns.name()));
    assert!(record.exists(), "no table record kept");
    env.file("rec.policy", &text(8081, "a"));
    let out = env.apply(&[&p]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("  incremental: 1 rules replaced\n"), "{err}");
    assert!(
        err.contains("  planned from the table record: our table was not read\n"),
        "{err}"
    );
    // Other bytes, same table: unchanged, proven from the table record.
    env.file("rec.policy", &text(8081, "another comment"));
    let genid = || hostwall::live::genid(Some(env.ns.name())).unwrap_or_else(|e| panic!("{e}"));
    let before = genid();
    let out = env.apply(&[&p]);
    exit(&out, 0);
    assert!(stderr(&out).contains(&format!("unchanged (generation {before})")));
    assert_eq!(genid(), before);
    // By hand: the record is stale, the apply reads and puts the policy back.
    env.nft(
        &[
            "add", "rule", "inet", "hostwall", "input", "tcp", "dport", "7", "accept",
        ],
        "",
    );
    env.file("rec.policy", &text(8082, "b"));
    let out = env.apply(&[&p]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("  planned from a read of our table (the ruleset moved on since"),
        "{err}"
    );
    assert!(
        !env.ruleset().contains("dport 7 accept"),
        "the hand-made rule stayed"
    );
    assert!(env.ruleset().contains("dport 8082"));
}

/// The record's layout now: how many patches its file holds after the record.
/// Addresses `from + 2i` for `i` in `r`: none adjacent, so each is a set element.
fn spaced(from: u32, r: std::ops::Range<u32>) -> Vec<String> {
    r.map(|i| std::net::Ipv4Addr::from(from + 2 * i).to_string())
        .collect()
}

fn patches(record: &Path, ns: &Netns) -> usize {
    let here = hostwall::nsid::NetnsId::of(Some(ns.name())).ok();
    let genid = hostwall::live::genid(Some(ns.name())).unwrap_or_else(|e| panic!("{e}"));
    let (_, origin) = trusted::live_from(record, "hostwall", here.as_ref(), genid)
        .unwrap_or_else(|e| panic!("the record is not trusted: {e}"));
    origin.layout.count
}

#[test]
#[ignore = "needs root"]
fn in_place_applies_append_patches_the_next_apply_trusts_until_the_record_is_rewritten_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    // 20,000 addresses that stay (none adjacent: 20,000 set elements), and a window of
    // 8 in a list of its own moved by one each time: one out, one in. Each patch changes
    // only the small set, so reading the patches back copies little.
    let policy = |k: u32| {
        corpus::compile_text(&format!(
            "policy feed {{\n    default drop\n    allow ssh tcp 22\n    drop from {}\n    drop tcp 80 from {}\n}}\n",
            spaced(0x0a02_0000, 0..20_000).join(", "),
            spaced(0x0b00_0000, k..k + 8).join(", ")
        ))
    };
    applied(&policy(0), &with_record(&ns, &record, true));
    assert_eq!(patches(&record, &ns), 0);
    let mut counts = Vec::new();
    for k in 1..=trusted::MAX_PATCHES as u32 + 3 {
        let (path, basis) = applied(&policy(k), &with_record(&ns, &record, false));
        assert!(
            matches!(path, ApplyPath::Incremental { .. }),
            "{k}: {path:?}"
        );
        assert_eq!(
            basis,
            PlanBasis::Record,
            "{k}: every apply planned from the record"
        );
        counts.push(patches(&record, &ns));
        if k % 20 == 0 {
            assert_eq!(drift(&policy(k), &ns), vec![], "{k}");
        }
    }
    // One patch more per apply, until the record is written again (it then holds none):
    // at the latest after MAX_PATCHES, sooner once the patches pass a quarter of the
    // record (each holds the table's description: about 1 KB here, for 160 KB).
    assert_eq!(counts[0], 1, "{counts:?}");
    assert!(
        counts.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 0),
        "{counts:?}"
    );
    assert!(
        counts.contains(&0) && counts.iter().all(|&c| c <= trusted::MAX_PATCHES),
        "{counts:?}"
    );
    assert!(*counts.iter().max().unwrap_or(&0) >= 20, "{counts:?}");
    let last = policy(trusted::MAX_PATCHES as u32 + 3);
    let other = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    applied(&last, &opts(&other, true));
    assert_eq!(listing(&ns, "hostwall"), listing(&other, "hostwall"));
    // A damaged patch: the record is refused and the apply reads our table instead.
    let mut bytes = std::fs::read(&record).unwrap_or_else(|e| panic!("{e}"));
    let end = bytes.len() - 1;
    bytes[end] ^= 0x10;
    std::fs::write(&record, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (_, basis) = applied(&policy(0), &with_record(&ns, &record, false));
    assert!(matches!(basis, PlanBasis::Read { .. }), "{basis:?}");
    assert_eq!(drift(&policy(0), &ns), vec![]);
}

/// A patch rebuilds each set it changes when the record is read: patches that change
/// the big sets are soon folded into a record written whole, so reading the record never
/// copies more elements than it holds (a window of 20,000 moved by one changes its first
/// and its last set each time, of at most 4,096 elements: here every fifth patch folds).
#[test]
#[ignore = "needs root"]
fn patches_that_rebuild_big_sets_are_soon_written_whole_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    let policy = |k: u32| blocklist(&spaced(0x0a02_0000, k..k + 20_000), None);
    applied(&policy(0), &with_record(&ns, &record, true));
    let mut counts = Vec::new();
    for k in 1..=12 {
        let (path, basis) = applied(&policy(k), &with_record(&ns, &record, false));
        assert!(
            matches!(path, ApplyPath::Incremental { .. }),
            "{k}: {path:?}"
        );
        assert_eq!(basis, PlanBasis::Record, "{k}");
        counts.push(patches(&record, &ns));
    }
    assert!(counts.contains(&1) && counts.contains(&0), "{counts:?}");
    assert!(counts.iter().all(|&c| c <= 4), "{counts:?}");
    assert_eq!(drift(&policy(12), &ns), vec![]);
}

/// #14: with the generation moved since our last commit (another table committed), no
/// table record stands: the unchanged check reads our table once and the apply plans
/// from that read, dumping nothing of its own. A commit after that read (here, one to
/// our own set) makes the apply read again, and it still leaves exactly the policy.
#[test]
#[ignore = "needs root"]
fn the_unchanged_checks_read_is_what_the_apply_plans_from_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-seen").unwrap_or_else(|e| panic!("netns: {e}"));
    let (dir, record) = state();
    let (a, b) = (
        blocklist(&addrs(0..400), None),
        blocklist(&addrs(1..401), None),
    );
    applied(&a, &with_record(&ns, &record, false));
    let other = || {
        let n = format!("t{}", std::process::id());
        nft_ok(At::Netns(ns.name()), &["add", "table", "ip", &n], "");
        nft_ok(At::Netns(ns.name()), &["delete", "table", "ip", &n], "");
    };
    let opts = hostwall::drift::DriftOptions {
        netns: Some(ns.name().to_string()),
        state_dir: dir.path().join("state"),
        full: false,
    };
    let locate = |_: &hostwall::source::Span| String::new();
    let check = |rs: &Ruleset| {
        let by_record = hostwall::unchanged::by_table_record(rs, &opts, None, &locate);
        assert!(
            matches!(by_record, Ok(None)),
            "the record stood after another table's commit"
        );
        hostwall::unchanged::by_table_read(rs, &opts, &locate)
    };
    other();
    assert!(
        matches!(
            check(&a),
            Some(hostwall::unchanged::Verdict::Unchanged { .. })
        ),
        "the read found the table unchanged"
    );
    other();
    assert_eq!(check(&b), Some(hostwall::unchanged::Verdict::Differs));
    let r = apply(&b, &with_record(&ns, &record, false)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(r.path, ApplyPath::Incremental { .. }),
        "{:?}",
        r.path
    );
    assert!(matches!(r.basis, PlanBasis::Read { .. }), "{:?}", r.basis);
    assert_eq!(r.table_dumps, 0, "the apply read our table again");
    assert!(drift(&b, &ns).is_empty(), "{:?}", drift(&b, &ns));
    // Read, then our own set changed behind it: the apply must not plan from the read.
    other();
    assert_eq!(check(&a), Some(hostwall::unchanged::Verdict::Differs));
    let set = (b
        .table
        .sets
        .iter()
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr))
    .map(|s| s.name.clone())
    .unwrap_or_else(|| panic!("no address set"));
    let elem = format!("add element inet hostwall {set} {{ 192.0.2.99 }}");
    nft_ok(At::Netns(ns.name()), &["-f", "-"], &elem);
    let r = apply(&a, &with_record(&ns, &record, false)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(r.basis, PlanBasis::Read { .. }), "{:?}", r.basis);
    assert_eq!(r.table_dumps, 1, "planned from a read older than the table");
    assert!(drift(&a, &ns).is_empty(), "{:?}", drift(&a, &ns));
}

/// A record that says our table holds an element the kernel's does not (well formed,
/// at the kernel's generation: only the kernel can tell) plans an in-place change that
/// deletes it, which the kernel refuses. Nothing of that batch is committed; the apply
/// sends the full replace in its place, says why, and leaves exactly the table a full
/// apply leaves, with a record the next apply plans from.
#[test]
#[ignore = "needs root"]
fn an_in_place_change_the_kernel_refuses_is_sent_as_the_full_replace_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    let (a, b) = (
        blocklist(&addrs(0..40), None),
        blocklist(&addrs(5..45), None),
    );
    let (want_a, want_b) = (full_listing(&a), full_listing(&b));
    applied(&a, &with_record(&ns, &record, true));
    let bytes = std::fs::read(&record).unwrap_or_else(|e| panic!("{e}"));
    let mut rec = trusted::TableRecord::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let set = (rec.live.sets.iter_mut())
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr && !s.elements.is_empty())
        .expect("an address set");
    let phantom = hostwall::ir::Interval::single(u128::from(0xc000_024d_u32)); // 192.0.2.77
    let mut elements = set.elements.to_vec();
    elements.push(phantom);
    elements.sort();
    set.elements = hostwall::ir::Packed::from(elements);
    trusted::store(&record, &rec).unwrap_or_else(|e| panic!("{e}"));
    let r = apply(&b, &with_record(&ns, &record, false)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.basis, PlanBasis::Record, "planned from the lying record");
    match &r.path {
        ApplyPath::Full { reason } => assert!(
            reason.contains("the kernel refused the in-place change"),
            "{reason}"
        ),
        other => panic!("not sent as the full replace: {other:?}"),
    }
    assert_eq!(r.record_error, None);
    assert_eq!(listing(&ns, "hostwall"), want_b);
    assert_eq!(drift(&b, &ns), vec![]);
    // The record written after the full replace is the kernel's table again.
    let (path, basis) = applied(&a, &with_record(&ns, &record, false));
    assert_eq!(basis, PlanBasis::Record, "{path:?}");
    assert!(matches!(path, ApplyPath::Incremental { .. }), "{path:?}");
    assert_eq!(listing(&ns, "hostwall"), want_a);
}

/// Each chain's rule handles in order, as `nft -a list table` shows them.
fn nft_handles(ns: &Netns) -> Vec<(String, Vec<u64>)> {
    let text = nft_ok(
        At::Netns(ns.name()),
        &["-a", "list", "table", "inet", "hostwall"],
        "",
    );
    let mut chains: Vec<(String, Vec<u64>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        let handle = || line.rsplit_once("# handle ")?.1.parse::<u64>().ok();
        if let Some(rest) = line.strip_prefix("chain ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            chains.push((name.to_string(), Vec::new()));
        } else if let (Some(h), Some((_, rules))) = (handle(), chains.last_mut()) {
            rules.push(h);
        }
    }
    chains
}

/// The record of an in-place rule change holds the kernel's own handles without a dump
/// of the rules (the live ones, and those the kernel echoed for each rule put): after
/// each of many random edits (rules inserted, deleted and replaced at random places, a
/// chain made and removed; now and then a full replace, recorded from a dump), the
/// record's chains are exactly `nft -a list`'s, handles and order, and every in-place
/// apply plans from the record the one before it wrote.
#[test]
#[ignore = "needs root"]
fn the_record_of_rule_changes_holds_the_kernels_handles_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    let here = hostwall::nsid::NetnsId::of(Some(ns.name())).ok();
    let policy = |input: &[u16], forward: &[u16]| {
        let mut text = String::from("policy feed {\n    default drop\n");
        for p in input {
            text.push_str(&format!("    allow tcp {p}\n"));
        }
        if !forward.is_empty() {
            text.push_str("    forward {\n");
            for p in forward {
                text.push_str(&format!("        allow tcp {p}\n"));
            }
            text.push_str("    }\n");
        }
        corpus::compile_text(&(text + "}\n"))
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut input, mut forward): (Vec<u16>, Vec<u16>) = ((1..=30).collect(), Vec::new());
    applied(&policy(&input, &forward), &with_record(&ns, &record, true));
    let mut port = 1000;
    for step in 0..60 {
        for _ in 0..=next(3) {
            port += 1;
            let list = if next(4) == 0 {
                &mut forward
            } else {
                &mut input
            };
            match next(3) {
                0 => list.insert(next(list.len() + 1), port),
                1 if !list.is_empty() => {
                    list.remove(next(list.len()));
                }
                _ if !list.is_empty() => {
                    let i = next(list.len());
                    list[i] = port;
                }
                _ => list.push(port),
            }
        }
        if step % 15 == 14 {
            forward.clear();
        }
        let rs = policy(&input, &forward);
        // Now and then a full replace (its record is written from a dump of the rules).
        let full = step % 7 == 6;
        let r = apply(&rs, &with_record(&ns, &record, full)).unwrap_or_else(|e| panic!("{e}"));
        let incremental = matches!(r.path, ApplyPath::Incremental { .. });
        assert_eq!(incremental, !full, "{step}: {:?}", r.path);
        if !full {
            assert_eq!(r.basis, PlanBasis::Record, "{step}: {:?}", r.path);
        }
        assert_eq!(
            (r.rule_dumps, &r.record_error),
            (u32::from(full), &None),
            "{step}: a dump for a full replace only"
        );
        let genid = hostwall::live::genid(Some(ns.name())).unwrap_or_else(|e| panic!("{e}"));
        let live = trusted::live_at(&record, "hostwall", here.as_ref(), genid)
            .unwrap_or_else(|e| panic!("{step}: the record is not trusted: {e}"));
        let recorded: Vec<(String, Vec<u64>)> = (live.chains.iter())
            .map(|c| (c.name.clone(), c.rules.iter().map(|(h, _)| *h).collect()))
            .collect();
        let mut kernel = nft_handles(&ns);
        kernel.sort();
        let mut recorded_sorted = recorded.clone();
        recorded_sorted.sort();
        assert_eq!(recorded_sorted, kernel, "{step}: the record's handles");
        if step % 10 == 0 {
            assert_eq!(drift(&rs, &ns), vec![], "{step}");
        }
    }
}

/// #14: a full replace of a large table writes its record's elements while the batch is
/// in the kernel (`trusted/write.rs`). That record stands for the table: the next
/// applies plan from it, in place, and leave exactly a full apply's table; a later full
/// replace drafts it again over the old one; nothing but the record is left beside it.
#[test]
#[ignore = "needs root"]
fn a_large_tables_record_drafted_during_the_send_stands_for_the_table_issue14() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-rec").unwrap_or_else(|e| panic!("netns: {e}"));
    let (_dir, record) = state();
    // 40,000 addresses, none adjacent: 320 KB of elements, over the size drafted.
    let policy = |k: u32| blocklist(&spaced(0x0a04_0000, k..k + 40_000), None);
    assert!(trusted::elements_len(&policy(0)) >= trusted::DRAFT_FROM);
    let full = |k: u32| {
        let r = apply(&policy(k), &with_record(&ns, &record, true))
            .unwrap_or_else(|e| panic!("apply: {e}"));
        assert_eq!((r.record_error, r.record_drafted), (None, true), "{k}");
    };
    full(0);
    for k in [1, 2, 9, 10] {
        if k == 9 {
            full(k);
            continue;
        }
        let (path, basis) = applied(&policy(k), &with_record(&ns, &record, false));
        assert!(
            matches!(path, ApplyPath::Incremental { .. }),
            "{k}: {path:?}"
        );
        assert_eq!(basis, PlanBasis::Record, "{k}");
        assert_eq!(listing(&ns, "hostwall"), full_listing(&policy(k)), "{k}");
    }
    assert_eq!(drift(&policy(10), &ns), vec![]);
    let dir = record.parent().unwrap_or_else(|| panic!("no directory"));
    // What a draft killed with its apply left goes with the next record written, here
    // an in-place apply's.
    let leftover = dir.join(".applied-lab.table.staged");
    std::fs::write(&leftover, b"cut short").unwrap_or_else(|e| panic!("{e}"));
    let (path, _) = applied(&policy(11), &with_record(&ns, &record, false));
    assert!(matches!(path, ApplyPath::Incremental { .. }), "{path:?}");
    assert!(!leftover.exists(), "the leftover stayed");
    let mut names: Vec<String> = (std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")))
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    names.sort();
    assert_eq!(names, vec!["applied-lab.table".to_string()]);
}
