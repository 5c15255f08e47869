//! Incremental apply planning: rules aligned by content (one insertion is one
//! insertion at its place), exact element differences, and every fallback named.

use super::*;
use crate::ir::{ChainPolicy, Hook, L4Proto, Match, PortMatch, SetKey};

#[path = "../../tests/support/build/ir.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{accept, base, iv, ruleset, set};

fn tcp(p: u16) -> Rule {
    accept(vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(p))])
}

/// The live form of `rs`: rule handles from 100 on, elements as they are.
fn live_of(rs: &Ruleset) -> LiveTable {
    let mut h = 100;
    LiveTable {
        sets: (rs.table.sets.iter())
            .map(|s| LiveSet::of(s, |s| s.elements.clone()))
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

fn input(ports: &[u16]) -> Ruleset {
    let rules = ports.iter().map(|p| tcp(*p)).collect();
    let blocks = set("block4", SetKey::Ipv4Addr, vec![iv(10, 20), iv(30, 30)]);
    ruleset(
        vec![blocks],
        vec![base("input", Hook::Input, ChainPolicy::Drop, rules)],
    )
}

fn delta<'a>(live: &LiveTable, new: &'a Ruleset) -> Delta<'a> {
    match plan(live, new) {
        Decision::Delta(d) => d,
        Decision::Full(why) => panic!("full replace: {why}"),
    }
}

fn places(d: &Delta) -> Vec<String> {
    (d.rules.iter().flat_map(|(_, ops)| ops))
        .map(|op| match op {
            RuleOp::Delete { handle, .. } => format!("delete {handle}"),
            RuleOp::Put { place, index, .. } => format!("{place:?} #{index}"),
        })
        .collect()
}

#[test]
fn one_inserted_rule_is_one_insertion_before_the_next_kept_rule_issue14() {
    let old = input(&[22, 80, 443, 8443]);
    let live = live_of(&old);
    let new = input(&[22, 80, 8080, 443, 8443]);
    let d = delta(&live, &new);
    // Handles 101..104: 443 is 103.
    assert_eq!(places(&d), ["Before(103) #3"]);
    assert!(d.elements.is_empty() && d.new_sets.is_empty());
    // At the start and at the end.
    assert_eq!(
        places(&delta(&live, &input(&[21, 22, 80, 443, 8443]))),
        ["Before(101) #1"]
    );
    assert_eq!(
        places(&delta(&live, &input(&[22, 80, 443, 8443, 9000]))),
        ["Append #5"]
    );
}

#[test]
fn changed_rules_are_replaced_by_handle_and_removed_ones_deleted_issue14() {
    let live = live_of(&input(&[22, 80, 443, 8443]));
    assert_eq!(
        places(&delta(&live, &input(&[22, 81, 443, 8443]))),
        ["Replace(102) #2"]
    );
    assert_eq!(
        places(&delta(&live, &input(&[22, 443, 8443]))),
        ["delete 102"]
    );
    // Two old rules for one new one between the same kept rules.
    assert_eq!(
        places(&delta(&live, &input(&[22, 9, 8443]))),
        ["Replace(102) #2", "delete 103"]
    );
    // Nothing changed: nothing to send.
    assert!(delta(&live, &input(&[22, 80, 443, 8443])).is_empty());
}

#[test]
fn elements_differ_as_the_kernel_stores_them_issue14() {
    let old = input(&[22]);
    let mut live = live_of(&old);
    let mut new = input(&[22]);
    new.table.sets[0].elements = vec![iv(10, 20), iv(40, 40)].into();
    let d = delta(&live, &new);
    assert_eq!(d.elements.len(), 1);
    assert_eq!(d.elements[0].removed, [iv(30, 30)]);
    assert_eq!(d.elements[0].added, [iv(40, 40)]);
    // A range split in the kernel (10-14, 15-20) that merges to the policy's 10-20 is
    // still two elements to remove and one to add: removals name stored elements.
    live.sets[0].elements = Packed::from(vec![iv(10, 14), iv(15, 20), iv(30, 30)]);
    let d = delta(&live, &old);
    assert_eq!(d.elements[0].removed, [iv(10, 14), iv(15, 20)]);
    assert_eq!(d.elements[0].added, [iv(10, 20)]);
    let s = summarize(&d);
    assert_eq!(s.lines[0].text, "set block4: 1 added, 2 removed");
    assert_eq!(s.lines[0].elements.len(), 3);
}

#[test]
fn what_a_delta_cannot_express_is_a_full_replace_with_its_reason_issue14() {
    let old = input(&[22]);
    let live = live_of(&old);
    let full = |new: &Ruleset, live: &LiveTable| match plan(live, new) {
        Decision::Full(why) => why,
        Decision::Delta(d) => panic!("delta: {d:?}"),
    };
    let mut new = input(&[22]);
    if let Some(b) = new.table.chains[0].base.as_mut() {
        b.policy = ChainPolicy::Accept;
    }
    assert!(full(&new, &live).contains("chain input changes its registration"));
    let mut new = input(&[22]);
    if let Some(b) = new.table.chains[0].base.as_mut() {
        b.priority = 5;
    }
    assert!(full(&new, &live).contains("priority 0 policy drop -> hook input priority 5"));
    let mut new = input(&[22]);
    new.table.sets[0].key = SetKey::Ipv6Addr;
    assert_eq!(full(&new, &live), "set block4 changes its type or flags");
    let mut odd = live.clone();
    odd.foreign.push("named objects".into());
    assert!(full(&old, &odd).contains("holds named objects"));
    // A new set ahead of one that stays would list in another order than a full apply.
    let mut new = input(&[22]);
    new.table
        .sets
        .insert(0, set("early", SetKey::InetService, vec![iv(1, 2)]));
    assert!(full(&new, &live).contains("new set early comes before set block4"));
    // ... after it, it is added in place.
    let mut new = input(&[22]);
    new.table
        .sets
        .push(set("late", SetKey::InetService, vec![iv(1, 2)]));
    assert_eq!(delta(&live, &new).new_sets.len(), 1);
    // Replacing most of the table costs more in place.
    let big = input(&(1..60).collect::<Vec<_>>());
    let other = input(&(100..110).collect::<Vec<_>>());
    assert!(full(&other, &live_of(&big)).contains("larger than the new table"));
}

#[test]
fn the_path_serialises_with_its_reason_or_counts_issue14() {
    let full = ApplyPath::Full {
        reason: "table inet hostwall does not exist yet".into(),
    };
    let v = serde_json::to_value(&full).unwrap_or_default();
    assert_eq!(v["path"], "full");
    assert_eq!(v["reason"], "table inet hostwall does not exist yet");
    let live = live_of(&input(&[22]));
    let new = input(&[22, 80]);
    let inc = ApplyPath::Incremental {
        summary: summarize(&delta(&live, &new)),
    };
    let v = serde_json::to_value(&inc).unwrap_or_default();
    assert_eq!(v["path"], "incremental");
    assert_eq!(v["summary"]["rules_added"], 1);
    assert_eq!(v["summary"]["elements_added"], 0);
}

/// `input(ports)` with a per-source limit's dynamic set (timeout `ms`) after `block4`.
fn with_limit_set(ports: &[u16], ms: u64) -> Ruleset {
    let mut rs = input(ports);
    let mut dynamic = set("allow_limit4", SetKey::Ipv4Addr, vec![]);
    dynamic.interval = false;
    dynamic.timeout_ms = Some(ms);
    rs.table.sets.push(dynamic);
    rs
}

/// A per-source limit's dynamic set that stays as compiled is kept as it is: its
/// learned elements are never in the delta; only a timeout change (a new rate or burst)
/// needs the set made anew, and the reason says so.
#[test]
fn a_kept_dynamic_set_never_changes_its_learned_elements_issue14() {
    let live = live_of(&with_limit_set(&[22], 20_000));
    let more = with_limit_set(&[22, 9000], 20_000);
    let d = delta(&live, &more);
    assert_eq!(places(&d), ["Append #2"]);
    assert!(d.elements.is_empty() && d.new_sets.is_empty() && d.removed_sets.is_empty());
    // An unrelated set's elements change: only that set's elements are sent.
    let mut new = with_limit_set(&[22], 20_000);
    new.table.sets[0].elements = vec![iv(10, 20)].into();
    let d = delta(&live, &new);
    assert_eq!(d.elements.len(), 1);
    assert_eq!(d.elements[0].set.name, "block4");
    assert!(delta(&live, &with_limit_set(&[22], 20_000)).is_empty());
    let why = match plan(&live, &with_limit_set(&[22], 30_000)) {
        Decision::Full(why) => why,
        Decision::Delta(d) => panic!("delta: {d:?}"),
    };
    assert!(why.contains("allow_limit4 changes its timeout (20000 ms -> 30000 ms"));
    assert!(why.contains("forgets the sources it learned"), "{why}");
    // A plain set where the policy now has a dynamic one of that name.
    let mut plain = live.clone();
    plain.sets[1].timeout_ms = None;
    match plan(&plain, &with_limit_set(&[22], 20_000)) {
        Decision::Full(why) => assert_eq!(why, "set allow_limit4 changes its type or flags"),
        Decision::Delta(d) => panic!("delta: {d:?}"),
    }
    // The set goes with its rule: removed after the rules, never its elements.
    let without = input(&[22]);
    let d = delta(&live, &without);
    assert_eq!(d.removed_sets, ["allow_limit4"]);
}
