//! `labels::sums` and `cache::sums` on a compiled policy and hand-made kernel reads.

use crate::check::{NoIncludes, check};
use crate::ir::{Ruleset, Stmt};
use crate::live::counters::Counted;
use crate::metrics::cache;
use crate::metrics::labels::{Labeller, RuleLabels, Sums, policy_labels, sums};
use crate::source::{SourceMap, Span};

const POLICY: &str = "policy t {
    allow ssh counter
    allow tcp 8080 from 10.0.0.0/8, fd00::/64 counter
    drop udp 5353 counter
    allow http
    count rejected
}
";

fn compiled() -> (SourceMap, Ruleset) {
    let mut map = SourceMap::new();
    let file = map.add("t.policy", POLICY.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
    (map, crate::compile::compile(&policy))
}

/// Every counted rule of `rs` as the kernel would report it: its place, no origin, and
/// packets = 10 × its position + 1, bytes = 100 × packets.
fn kernel(rs: &Ruleset) -> Vec<Counted> {
    let mut out = Vec::new();
    for ch in &rs.table.chains {
        for (index, r) in ch.rules.iter().enumerate() {
            if r.stmts.contains(&Stmt::Counter) {
                let packets = 10 * index as u64 + 1;
                let mut rule = r.clone();
                rule.origin.clear();
                out.push(Counted {
                    chain: ch.name.clone(),
                    index,
                    rule,
                    packets,
                    bytes: 100 * packets,
                });
            }
        }
    }
    out
}

fn labelled(map: &SourceMap, rs: &Ruleset, counted: &[Counted]) -> Sums {
    let line = |s: &Span| format!("{}:{}", map.file(s.file).name, map.line_col(*s).0);
    let service = |s: &Span| (map.line_col(*s).0 == 2).then(|| "ssh".to_string());
    let with = Labeller {
        expected: rs,
        line: &line,
        service: &service,
    };
    sums(counted, Some(&with))
}

fn key(service: &str, verdict: &str, line: &str) -> RuleLabels {
    RuleLabels {
        chain: "input".into(),
        service: service.into(),
        verdict: verdict.into(),
        line: line.into(),
    }
}

#[test]
fn each_policy_line_is_one_series_summed_over_its_kernel_rules() {
    let (map, rs) = compiled();
    let counted = kernel(&rs);
    let s = labelled(&map, &rs, &counted);
    let lines: Vec<&str> = s.rules.keys().map(|k| k.line.as_str()).collect();
    assert_eq!(lines, ["t.policy:3", "t.policy:4", "t.policy:2"], "{s:?}");
    // Line 3 is two kernel rules (IPv4 and IPv6): one series, their sum.
    let halves: Vec<&Counted> = counted
        .iter()
        .filter(|c| c.rule.comment.as_deref() == Some("tcp 8080"))
        .collect();
    assert_eq!(halves.len(), 2);
    let want = halves.iter().map(|c| c.packets).sum::<u64>();
    assert_eq!(s.rules[&key("", "allow", "t.policy:3")].0, want);
    assert_eq!(
        s.rules[&key("ssh", "allow", "t.policy:2")].0,
        counted[0].packets
    );
    // The two default-action rules (TCP reset, then ICMPX) are one chain's sum.
    let tail: Vec<&Counted> = counted
        .iter()
        .filter(|c| c.rule.comment.is_none())
        .collect();
    assert_eq!(tail.len(), 2);
    let want: u64 = tail.iter().map(|c| c.bytes).sum();
    assert_eq!(s.rejected["input"].1, want);
}

#[test]
fn rules_are_matched_by_what_they_do_not_where_they_stand() {
    let (map, rs) = compiled();
    let mut counted = kernel(&rs);
    // A rule inserted by hand before everything shifts every place by one.
    for c in &mut counted {
        c.index += 1;
    }
    let mut extra = counted[0].clone();
    extra.rule.comment = Some("by hand".into());
    extra.index = 0;
    counted.insert(0, extra);
    let s = labelled(&map, &rs, &counted);
    assert!(
        s.rules.contains_key(&key("ssh", "allow", "t.policy:2")),
        "{s:?}"
    );
    assert!(s.rules.contains_key(&key("by hand", "allow", "")), "{s:?}");
    assert_eq!(s.rules.len(), 4);
    // The cache labels by place only: the shifted table misses it, so it compiles.
    let line = |s: &Span| format!("l{}", s.start);
    let none = |_: &Span| None;
    let with = Labeller {
        expected: &rs,
        line: &line,
        service: &none,
    };
    let c = cache::of(&rs, "d", |chain, r| {
        (!r.origin.is_empty()).then(|| policy_labels(chain, r, &with))
    });
    assert_eq!(cache::sums(&c, &counted), None);
    let exact = kernel(&rs);
    let from_cache = cache::sums(&c, &exact).expect("every rule in its place");
    assert_eq!(from_cache.rejected, labelled(&map, &rs, &exact).rejected);
    assert_eq!(from_cache.rules.len(), 3);
}

#[test]
fn without_the_policy_rules_are_labelled_by_what_the_kernel_holds() {
    let (_, rs) = compiled();
    let s = sums(&kernel(&rs), None);
    let services: Vec<&str> = s.rules.keys().map(|k| k.service.as_str()).collect();
    assert_eq!(services, ["", "ssh", "tcp 8080", "udp 5353"], "{s:?}");
    assert!(s.rules.keys().all(|k| k.line.is_empty()));
    assert!(s.rejected.is_empty());
}
