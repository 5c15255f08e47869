//! Unit tests of the in-place change's inverse: planned from a delta, resolved against
//! the table the change left, refused against any other. The kernel is a model here:
//! a change and its inverse are played on a `LiveTable`, and the inverse must give
//! back the table before, for many random pairs of tables.

use super::super::delta::{Decision, LiveChain, LiveSet, LiveTable, plan, rule_text};
use super::super::inverse_check::{Resolved, resolve};
use super::*;
use crate::digest::unhex;
use crate::emit::delta::{Delta, RuleOp, UndoRule};
use crate::ir::{ChainPolicy, Hook, L4Proto, Match, PortMatch, Rule, Ruleset, SetKey};

#[path = "../../tests/support/build/ir.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{accept, base, iv, ruleset, set};

fn tcp(p: u16) -> Rule {
    accept(vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(p))])
}

/// A table of `chains` (name, ports: one rule each) and `sets` (name, elements).
fn table(sets: &[(&str, Vec<u128>)], chains: &[(&str, Vec<u16>)]) -> Ruleset {
    let sets = (sets.iter())
        .map(|(n, e)| set(n, SetKey::Ipv4Addr, e.iter().map(|v| iv(*v, *v)).collect()))
        .collect();
    let chains = (chains.iter())
        .map(|(n, ports)| {
            let rules = ports.iter().map(|p| tcp(*p)).collect();
            base(n, Hook::Input, ChainPolicy::Drop, rules)
        })
        .collect();
    ruleset(sets, chains)
}

/// The kernel's side of the model: handles from a counter that never repeats.
struct Model {
    next: u64,
}

impl Model {
    fn handle(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn live_of(&mut self, rs: &Ruleset) -> LiveTable {
        LiveTable {
            sets: (rs.table.sets.iter())
                .map(|s| LiveSet::of(s, |s| s.elements.clone()))
                .collect(),
            chains: (rs.table.chains.iter())
                .map(|c| LiveChain {
                    name: c.name.clone(),
                    base: c.base,
                    rules: c
                        .rules
                        .iter()
                        .map(|r| (self.handle(), rule_text(r)))
                        .collect(),
                })
                .collect(),
            foreign: vec![],
        }
    }

    /// `d` played on `live`, as the kernel commits it.
    fn commit(&mut self, live: &LiveTable, d: &Delta) -> LiveTable {
        let mut t = live.clone();
        for e in &d.elements {
            let s = t
                .sets
                .iter_mut()
                .find(|s| s.name == e.set.name)
                .expect("set");
            edit(s, |v| {
                v.retain(|x| !e.removed.contains(x));
                v.extend(e.added.iter().copied());
            });
        }
        for s in &d.new_sets {
            t.sets.push(LiveSet::of(s, |s| s.elements.clone()));
        }
        for (chain, ops) in &d.rules {
            let c = t
                .chains
                .iter_mut()
                .find(|c| c.name == *chain)
                .expect("chain");
            for op in ops {
                match op {
                    RuleOp::Delete { handle, .. } => c.rules.retain(|(h, _)| h != handle),
                    RuleOp::Put { place, rule, .. } => {
                        let text = rule_text(rule);
                        let h = self.handle();
                        put(&mut c.rules, *place, h, text);
                    }
                }
            }
        }
        for c in &d.new_chains {
            t.chains.push(LiveChain {
                name: c.name.clone(),
                base: c.base,
                rules: c
                    .rules
                    .iter()
                    .map(|r| (self.handle(), rule_text(r)))
                    .collect(),
            });
        }
        t.chains.retain(|c| !d.removed_chains.contains(&c.name));
        t.sets.retain(|s| !d.removed_sets.contains(&s.name));
        t
    }

    /// The resolved inverse played on `live`; a replayed rule's message is its text.
    fn undo(&mut self, live: &LiveTable, r: &Resolved) -> LiveTable {
        let mut t = live.clone();
        for s in &r.sets {
            t.sets.push(LiveSet::of(s, |s| s.elements.clone()));
        }
        for c in &r.chains {
            let text = |m: &Vec<u8>| String::from_utf8_lossy(m).into_owned();
            t.chains.push(LiveChain {
                name: c.name.clone(),
                base: c.base,
                rules: c.rules.iter().map(|m| (self.handle(), text(m))).collect(),
            });
        }
        for (set, drop, add) in &r.element_sets {
            let s = t.sets.iter_mut().find(|s| s.name == set.name).expect("set");
            edit(s, |v| {
                v.retain(|x| !drop.contains(x));
                v.extend(add.iter().copied());
            });
        }
        for (chain, ops) in &r.rules {
            let c = t
                .chains
                .iter_mut()
                .find(|c| c.name == *chain)
                .expect("chain");
            for op in ops {
                match op {
                    UndoRule::Delete(h) => c.rules.retain(|(x, _)| x != h),
                    UndoRule::Replay { place, msg, .. } => {
                        let text = String::from_utf8_lossy(msg).into_owned();
                        let h = self.handle();
                        put(&mut c.rules, *place, h, text);
                    }
                }
            }
        }
        t.chains.retain(|c| !r.drop_chains.contains(&c.name));
        t.sets.retain(|s| !r.drop_sets.contains(&s.name));
        t
    }
}

fn put(rules: &mut Vec<(u64, String)>, place: Place, h: u64, text: String) {
    match place {
        Place::Append => rules.push((h, text)),
        Place::Before(a) => {
            let i = rules.iter().position(|(x, _)| *x == a).expect("anchor");
            rules.insert(i, (h, text));
        }
        Place::Replace(a) => {
            let r = rules.iter_mut().find(|(x, _)| *x == a).expect("replaced");
            r.1 = text;
        }
    }
}

/// Old rules as the model's kernel would dump them: each rule's text as its message.
struct Texts<'a>(&'a LiveTable);

impl OldRules for Texts<'_> {
    fn rule(&mut self, chain: &str, handle: u64) -> Result<Vec<u8>, String> {
        (self.0.chains.iter().find(|c| c.name == chain))
            .and_then(|c| c.rules.iter().find(|(h, _)| *h == handle))
            .map(|(_, t)| t.clone().into_bytes())
            .ok_or_else(|| format!("no rule {handle}"))
    }

    fn chain_rules(&mut self, chain: &str) -> Result<Vec<Vec<u8>>, String> {
        let c = self
            .0
            .chains
            .iter()
            .find(|c| c.name == chain)
            .ok_or("no chain")?;
        Ok(c.rules
            .iter()
            .map(|(_, t)| t.clone().into_bytes())
            .collect())
    }
}

/// The table without rule handles (a re-added rule gets a new one; `nft list` shows none).
fn shape(t: &LiveTable) -> (Vec<LiveSet>, Vec<(String, Vec<String>)>) {
    let chains = (t.chains.iter())
        .map(|c| {
            (
                c.name.clone(),
                c.rules.iter().map(|(_, r)| r.clone()).collect(),
            )
        })
        .collect();
    (t.sets.clone(), chains)
}

/// old -> new in place, then the inverse: the table before, exactly.
fn round_trip(old: &Ruleset, new: &Ruleset) -> Result<(), String> {
    let mut m = Model { next: 100 };
    let pre = m.live_of(old);
    let d = match plan(&pre, new) {
        Decision::Delta(d) => d,
        Decision::Full(why) => return Err(format!("full: {why}")),
    };
    let inv = of_delta(&pre, &d, 7, &mut Texts(&pre))?;
    let post = m.commit(&pre, &d);
    let r = resolve(&inv, &post)?;
    let back = m.undo(&post, &r);
    assert_eq!(shape(&back), shape(&pre), "{d:#?}");
    // Handles of rules that stayed are the same ones.
    let remade = |n: &str| inv.removed_chains.iter().any(|c| c.name == n);
    for (a, b) in (back.chains.iter().zip(&pre.chains)).filter(|(a, _)| !remade(&a.name)) {
        for (h, _) in &b.rules {
            let changed = inv.chains.iter().any(|c| {
                c.name == a.name
                    && c.rules
                        .iter()
                        .any(|u| matches!(u, RuleUndo::Deleted { handle, .. } if handle == h))
            });
            assert!(
                changed || a.rules.iter().any(|(x, _)| x == h),
                "handle {h} kept"
            );
        }
    }
    Ok(())
}

/// A deterministic pseudo-random sequence (no dependency needed for a test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn subset(&mut self, max: u64) -> Vec<u64> {
        (1..=max).filter(|_| self.next(3) != 0).collect()
    }
}

#[test]
fn the_inverse_of_random_in_place_changes_gives_back_the_table_before_issue14() {
    let mut g = Lcg(14);
    let mut checked = 0;
    for _ in 0..400 {
        let ports = |g: &mut Lcg| g.subset(12).into_iter().map(|p| p as u16 + 20).collect();
        let elems = |g: &mut Lcg| g.subset(30).into_iter().map(u128::from).collect();
        let mut sets_old = vec![("a", elems(&mut g))];
        let mut sets_new = vec![("a", elems(&mut g))];
        let mut chains_old = vec![("input", ports(&mut g))];
        let mut chains_new = vec![("input", ports(&mut g))];
        // Sets and chains added or removed at the end of their lists.
        match g.next(4) {
            0 => sets_new.push(("b", elems(&mut g))),
            1 => sets_old.push(("b", elems(&mut g))),
            2 => chains_new.push(("extra", ports(&mut g))),
            _ => chains_old.push(("extra", ports(&mut g))),
        }
        let (old, new) = (table(&sets_old, &chains_old), table(&sets_new, &chains_new));
        match round_trip(&old, &new) {
            Ok(()) => checked += 1,
            Err(e) if e.starts_with("full: ") => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(checked > 250, "most changes go in place: {checked}");
}

#[test]
fn a_removed_set_or_chain_before_one_that_stays_has_no_exact_inverse_issue14() {
    let old = table(&[("a", vec![1]), ("b", vec![2])], &[("input", vec![22])]);
    let new = table(&[("b", vec![2])], &[("input", vec![22])]);
    let e = round_trip(&old, &new).err().unwrap_or_default();
    assert!(
        e.contains("set a, which the change removes, comes before set b, which stays"),
        "{e}"
    );
    let old = table(&[], &[("input", vec![22]), ("output", vec![1])]);
    let new = table(&[], &[("output", vec![1])]);
    let e = round_trip(&old, &new).err().unwrap_or_default();
    assert!(e.contains("chain input, which the change removes"), "{e}");
}

#[test]
fn a_table_not_as_the_change_left_it_is_refused_naming_the_difference_issue14() {
    let mut m = Model { next: 100 };
    let old = table(&[("a", vec![1, 3, 5])], &[("input", vec![22, 80, 443])]);
    let new = table(&[("a", vec![1, 3, 7])], &[("input", vec![22, 8080, 80])]);
    let pre = m.live_of(&old);
    let Decision::Delta(d) = plan(&pre, &new) else {
        panic!("in place")
    };
    let inv = of_delta(&pre, &d, 7, &mut Texts(&pre)).expect("inverse");
    let post = m.commit(&pre, &d);
    assert!(resolve(&inv, &post).is_ok());
    // An element the change added removed by hand; one it removed added back.
    let mut t = post.clone();
    edit(&mut t.sets[0], |v| v.retain(|x| x.lo != 7));
    let e = resolve(&inv, &t).err().unwrap_or_default();
    assert!(
        e.contains("set a lacks an element the change added (7-7)"),
        "{e}"
    );
    let mut t = post.clone();
    edit(&mut t.sets[0], |v| v.push(iv(5, 5)));
    let e = resolve(&inv, &t).err().unwrap_or_default();
    assert!(
        e.contains("set a holds an element the change removed (5-5)"),
        "{e}"
    );
    // A rule added by hand; the inserted rule replaced by hand.
    let mut t = post.clone();
    t.chains[0].rules.push((999, "tcp dport 7 accept".into()));
    let e = resolve(&inv, &t).err().unwrap_or_default();
    assert!(
        e.contains("chain input holds 4 rules, the change left 3"),
        "{e}"
    );
    let mut t = post.clone();
    t.chains[0].rules[1].1 = "tcp dport 7 accept".into();
    let e = resolve(&inv, &t).err().unwrap_or_default();
    assert!(e.contains("is not the one the change inserted"), "{e}");
    // The table before the change (it never committed) is not the one it left.
    assert!(resolve(&inv, &pre).is_err());
}

#[test]
fn the_stored_inverse_round_trips_through_its_json() {
    let mut m = Model { next: 100 };
    let old = table(&[("a", vec![1, 5])], &[("input", vec![22, 80])]);
    let new = table(&[("a", vec![1, 6])], &[("input", vec![80, 25])]);
    let pre = m.live_of(&old);
    let Decision::Delta(d) = plan(&pre, &new) else {
        panic!("in place")
    };
    let inv = of_delta(&pre, &d, 7, &mut Texts(&pre)).expect("inverse");
    let json = serde_json::to_string(&inv).expect("json");
    let back: Inverse = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, inv);
    assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
    assert_eq!(intervals(&["a-ff".into()]), Ok(vec![iv(10, 255)]));
    assert!(intervals(&["zz".into()]).is_err());
}

#[test]
fn five_thousand_contiguous_deleted_rules_are_planned_and_checked_in_linear_time_issue14() {
    let mut m = Model { next: 100 };
    let all: Vec<u16> = (1..=12000).collect();
    // The last 5,000 rules deleted (contiguous), one more replaced before them.
    let kept: Vec<u16> = (all.iter().copied())
        .filter(|p| *p <= 7000)
        .map(|p| if p == 6999 { 60000 } else { p })
        .collect();
    let old = table(&[], &[("input", all)]);
    let new = table(&[], &[("input", kept)]);
    let pre = m.live_of(&old);
    let d = match plan(&pre, &new) {
        Decision::Delta(d) => d,
        Decision::Full(why) => panic!("in place: {why}"),
    };
    let started = std::time::Instant::now();
    let inv = of_delta(&pre, &d, 7, &mut Indexed::of(&pre)).expect("inverse");
    let post = m.commit(&pre, &d);
    let r = resolve(&inv, &post).expect("resolved");
    let took = started.elapsed();
    // Not a speed target: a complexity guard. The cubic scan took minutes here; the
    // linear one takes milliseconds (seconds in a debug build on a loaded machine).
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    let anchors: Vec<Option<u64>> = (inv.chains[0].rules.iter())
        .filter_map(|u| match u {
            RuleUndo::Deleted { anchor, .. } => Some(*anchor),
            _ => None,
        })
        .collect();
    assert_eq!(anchors.len(), 5000);
    assert!(
        anchors.iter().all(Option::is_none),
        "the block goes back at the end"
    );
    assert_eq!(shape(&m.undo(&post, &r)), shape(&pre));
}

/// [`Texts`] with an index, so the test measures the inverse, not the model.
struct Indexed(std::collections::HashMap<(String, u64), Vec<u8>>);

impl Indexed {
    fn of(t: &LiveTable) -> Indexed {
        Indexed(
            (t.chains.iter())
                .flat_map(|c| {
                    (c.rules.iter()).map(|(h, r)| ((c.name.clone(), *h), r.clone().into_bytes()))
                })
                .collect(),
        )
    }
}

impl OldRules for Indexed {
    fn rule(&mut self, chain: &str, handle: u64) -> Result<Vec<u8>, String> {
        (self.0.get(&(chain.to_string(), handle)).cloned()).ok_or_else(|| "no rule".into())
    }

    fn chain_rules(&mut self, _: &str) -> Result<Vec<Vec<u8>>, String> {
        Err("not in this test".into())
    }
}

#[test]
fn a_stored_inverse_with_impossible_positions_is_refused_not_a_panic_issue14() {
    let mut m = Model { next: 100 };
    let old = table(&[], &[("input", vec![22, 80])]);
    let new = table(&[], &[("input", vec![22, 8080, 80])]);
    let pre = m.live_of(&old);
    let Decision::Delta(d) = plan(&pre, &new) else {
        panic!("in place")
    };
    let inv = of_delta(&pre, &d, 7, &mut Texts(&pre)).expect("inverse");
    let post = m.commit(&pre, &d);
    for index in [0, 4, usize::MAX] {
        let mut bad = inv.clone();
        for u in &mut bad.chains[0].rules {
            if let RuleUndo::Inserted { index: i, .. } = u {
                *i = index;
            }
        }
        let e = resolve(&bad, &post).err().unwrap_or_default();
        assert!(
            e.contains("is not the one the change inserted"),
            "{index}: {e}"
        );
    }
    // A plan that deletes more rules than the chain holds has no inverse.
    let mut lying = d.clone();
    for (_, ops) in &mut lying.rules {
        ops.retain(|op| !matches!(op, RuleOp::Put { .. }));
        for h in [1, 2, 3] {
            ops.push(RuleOp::Delete {
                handle: pre.chains[0].rules[0].0 + h - 1,
                text: String::new(),
            });
        }
    }
    assert!(of_delta(&pre, &lying, 7, &mut Texts(&pre)).is_err());
}

/// Changes a live set's elements as `f` does to them unpacked, sorted after.
fn edit(s: &mut LiveSet, f: impl FnOnce(&mut Vec<Interval>)) {
    let mut v = s.elements.to_vec();
    f(&mut v);
    v.sort();
    s.elements = v.into();
}
