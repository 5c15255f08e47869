//! Unit tests of the header-space boxes and their partition.

use super::cells::{ExtraCuts, Partition};
use super::*;
use crate::eval::evaluate;

fn compile(text: &str) -> Ruleset {
    let mut map = crate::source::SourceMap::new();
    let file = map.add("p", text);
    let (policy, diags) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    crate::compile::compile(&policy)
}

const D: &str = "policy d {
    default reject
    define bad = 203.0.113.0/24, 2001:db8:bad::/48
    drop from bad
    reject tcp 3306 from 198.51.100.0/24
    allow ssh tcp 22 on \"virbr*\"
    allow http tcp 80, 8000-8080 from 192.0.2.0/24, 10.0.0.0/8
}";

/// The policy's input chain.
fn input(rs: &Ruleset) -> &crate::ir::Chain {
    rs.table
        .chains
        .iter()
        .find(|c| c.name == "input")
        .expect("input")
}

fn input_cubes(rs: &Ruleset) -> Vec<(usize, Cube)> {
    input(rs)
        .rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Cube::of_rule(rs, r, Hook::Input)
                .expect("cube")
                .map(|c| (i, c))
        })
        .collect()
}

/// Which input rules match `pkt`, by the evaluator: each rule alone in a chain.
fn eval_matches(rs: &Ruleset, pkt: &Packet) -> Vec<bool> {
    let chain = input(rs);
    (0..chain.rules.len())
        .map(|i| {
            let mut c = chain.clone();
            let mut r = c.rules[i].clone();
            r.verdict = Some(crate::ir::Verdict::Drop);
            c.rules = vec![r];
            if let Some(b) = c.base.as_mut() {
                b.policy = crate::ir::ChainPolicy::Accept;
            }
            let mut one = rs.clone();
            one.table.chains = vec![c];
            evaluate(&one, Hook::Input, pkt).expect("eval").verdict != crate::ir::Verdict::Accept
        })
        .collect()
}

#[test]
fn boxes_and_cells_agree_with_eval_on_every_cell() {
    let rs = compile(D);
    let cubes = input_cubes(&rs);
    let all: Vec<Cube> = cubes.iter().map(|(_, c)| c.clone()).collect();
    let part = Partition::new(&all, Hook::Input, &ExtraCuts::default());
    let mut n = 0;
    part.each_cell(
        ALL_CT,
        |_, _| true,
        |pkt| {
            let by_eval = eval_matches(&rs, pkt);
            for (i, c) in &cubes {
                assert_eq!(c.contains(pkt), by_eval[*i], "rule {i} on {pkt:?}");
            }
            n += 1;
            true
        },
    );
    assert_eq!(n as u128, part.count());
    assert!(n > 1000, "{n} cells");
}

#[test]
fn intersections_and_differences_hold_the_right_packets() {
    let rs = compile(D);
    let cubes = input_cubes(&rs);
    let all: Vec<Cube> = cubes.iter().map(|(_, c)| c.clone()).collect();
    let part = Partition::new(&all, Hook::Input, &ExtraCuts::default());
    let dims = [
        Dim::Family,
        Dim::Proto,
        Dim::Saddr,
        Dim::Daddr,
        Dim::Port,
        Dim::Iif,
        Dim::Oif,
        Dim::Ct,
    ];
    for (_, a) in &cubes {
        for (_, b) in &cubes {
            let both = a.intersect(b);
            let parts: Vec<Cube> = dims.iter().filter_map(|d| a.minus_along(b, *d)).collect();
            part.each_cell(
                ALL_CT,
                |_, _| true,
                |pkt| {
                    assert_eq!(both.contains(pkt), a.contains(pkt) && b.contains(pkt));
                    let diff = parts.iter().any(|c| c.contains(pkt));
                    // Along the interface field only the first name is taken: a subset.
                    assert!(!diff || (a.contains(pkt) && !b.contains(pkt)), "{pkt:?}");
                    if b.iif.pos.len() <= 1 {
                        assert_eq!(diff, a.contains(pkt) && !b.contains(pkt), "{pkt:?}");
                    }
                    true
                },
            );
            assert_eq!(both.is_empty(), {
                let mut none = true;
                part.each_cell(
                    ALL_CT,
                    |_, _| true,
                    |p| {
                        none = !both.contains(p);
                        none
                    },
                );
                none
            });
        }
    }
}

#[test]
fn every_set_element_edge_is_a_cut_and_lookups_are_exact() {
    let big: Vec<crate::ir::Interval> = (0..100_000u128)
        .map(|i| crate::ir::Interval::single((10u128 << 24) + i * 3))
        .collect();
    let s = Ivs::new(big.clone());
    assert_eq!(s.intervals().len(), 100_000);
    for iv in big.iter().step_by(997) {
        assert!(s.contains(iv.lo) && !s.contains(iv.lo + 1));
    }
}
