//! Semantic diff between the compiled ruleset (expected) and the decoded live state (actual).
//!
//! Pure: IR in, `Vec<Change>` out. Both sides are normalised first (set elements merged
//! and sorted, set names as given), rules compared by their canonical nft text in order,
//! so "the same meaning" compares equal however the table was written.

use crate::emit::text;
use crate::ir::{self, Chain, Interval, Rule, Ruleset, Set, SetKey, Sysctl, Table};
use serde::Serialize;

/// What kind of drift a change is. Serialised in `--format json` (stable, kebab-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    TableMissing,
    ChainMissing,
    ChainExtra,
    ChainHook,
    ChainPolicy,
    RuleMissing,
    RuleAdded,
    RuleChanged,
    RuleMoved,
    SetMissing,
    SetExtra,
    SetType,
    ElementMissing,
    ElementExtra,
    Sysctl,
    /// An object in our table that hostwall never makes (a map, a chain on another hook).
    Unsupported,
    /// Warning: another table's base chain on a hook we filter can drop or accept first.
    ForeignBaseChain,
    /// Warning: another table changed while it was read; its chains are shown as read.
    ForeignChanging,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Drift,
    Warning,
}

/// One difference. `object` names what differs ("chain input", "set allow_tcp");
/// `expected`/`actual` are nft text (or values), absent when that side has nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub severity: Severity,
    pub object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// 1-based rule position in the chain, where a rule is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The policy services concerned (from the expected rule's comment), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Another table's base chain, as the live reader reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignChain {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub hook: ir::Hook,
    pub priority: i32,
    pub policy: ir::ChainPolicy,
    /// Whether any rule in it can drop or reject (policy drop counts).
    pub can_drop: bool,
}

/// The live state as read back from the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Live {
    /// Our table, or `None` when it is absent.
    pub table: Option<Table>,
    /// Current sysctl values (`None` when unreadable).
    pub sysctls: Vec<(Sysctl, Option<bool>)>,
    /// Base chains of every other table.
    pub foreign: Vec<ForeignChain>,
    /// Other tables that changed while they were read ("family name").
    pub changing: Vec<String>,
}

/// All differences, drift first in table order, then warnings.
pub fn diff(expected: &Ruleset, live: &Live) -> Vec<Change> {
    let mut out = Vec::new();
    let t = &expected.table;
    let tname = format!("table {} {}", t.family.name(), t.name);
    match &live.table {
        None => out.push(change(
            Kind::TableMissing,
            &tname,
            Some(format!(
                "{tname} with {} chain{}",
                t.chains.len(),
                if t.chains.len() == 1 { "" } else { "s" }
            )),
            None,
        )),
        Some(actual) => {
            sets(&t.sets, &actual.sets, &mut out);
            chains(&t.chains, &actual.chains, &mut out);
        }
    }
    out.extend(sysctls(&expected.sysctls, &live.sysctls));
    foreign(expected, live, &mut out);
    for t in &live.changing {
        out.push(Change {
            severity: Severity::Warning,
            ..change(
                Kind::ForeignChanging,
                &format!("table {t}"),
                None,
                Some("another program committed to it during the read: its chains above are as one dump saw them (our table was read consistently)".into()),
            )
        });
    }
    out
}

/// Sysctl differences only (the fast path reads nothing else).
pub fn sysctls(expected: &[ir::SysctlSetting], actual: &[(Sysctl, Option<bool>)]) -> Vec<Change> {
    let mut out = Vec::new();
    for s in expected {
        let value = actual
            .iter()
            .find(|(k, _)| *k == s.key)
            .and_then(|(_, v)| *v);
        if value != Some(s.value) {
            out.push(change(
                Kind::Sysctl,
                s.key.name(),
                Some((s.value as u8).to_string()),
                Some(value.map_or("unreadable".into(), |v| (v as u8).to_string())),
            ));
        }
    }
    out
}

fn change(kind: Kind, object: &str, expected: Option<String>, actual: Option<String>) -> Change {
    Change {
        kind,
        severity: Severity::Drift,
        object: object.to_string(),
        expected,
        actual,
        position: None,
        service: None,
    }
}

fn sets(expected: &[Set], actual: &[Set], out: &mut Vec<Change>) {
    for e in expected {
        let obj = format!("set {}", e.name);
        let Some(a) = actual.iter().find(|a| a.name == e.name) else {
            out.push(change(Kind::SetMissing, &obj, Some(set_head(e)), None));
            continue;
        };
        if a.key != e.key || a.interval != e.interval {
            out.push(change(
                Kind::SetType,
                &obj,
                Some(set_head(e)),
                Some(set_head(a)),
            ));
            continue;
        }
        elements(e, a, out);
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            out.push(change(
                Kind::SetExtra,
                &format!("set {}", a.name),
                None,
                Some(set_head(a)),
            ));
        }
    }
}

fn set_head(s: &Set) -> String {
    format!(
        "type {}{}, {} elements",
        s.key.name(),
        if s.interval { ", flags interval" } else { "" },
        s.elements.len()
    )
}

/// Element differences as interval arithmetic, so a kernel that split or merged
/// ranges differently still compares equal.
fn elements(e: &Set, a: &Set, out: &mut Vec<Change>) {
    let mut want = e.elements.clone();
    let mut have = a.elements.clone();
    ir::normalize_intervals(&mut want);
    ir::normalize_intervals(&mut have);
    let obj = format!("set {}", e.name);
    for iv in subtract(&want, &have) {
        out.push(change(
            Kind::ElementMissing,
            &obj,
            Some(element_text(e.key, iv)),
            None,
        ));
    }
    for iv in subtract(&have, &want) {
        out.push(change(
            Kind::ElementExtra,
            &obj,
            None,
            Some(element_text(a.key, iv)),
        ));
    }
}

fn element_text(key: SetKey, iv: Interval) -> String {
    let mut s = String::new();
    text::element(&mut s, key, iv);
    s
}

/// `a \ b` for sorted, merged interval lists, in one linear pass.
pub fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut j = 0;
    for iv in a {
        let mut lo = iv.lo;
        let hi = iv.hi;
        while j < b.len() && b[j].hi < lo {
            j += 1;
        }
        let mut k = j;
        let mut done = false;
        while k < b.len() && b[k].lo <= hi {
            if b[k].lo > lo {
                out.push(Interval {
                    lo,
                    hi: b[k].lo - 1,
                });
            }
            if b[k].hi >= hi {
                done = true;
                break;
            }
            lo = b[k].hi + 1;
            k += 1;
        }
        if !done {
            out.push(Interval { lo, hi });
        }
    }
    out
}

fn chains(expected: &[Chain], actual: &[Chain], out: &mut Vec<Change>) {
    for e in expected {
        let obj = format!("chain {}", e.name);
        let Some(a) = actual.iter().find(|a| a.name == e.name) else {
            out.push(change(
                Kind::ChainMissing,
                &obj,
                Some(format!("{} rules", e.rules.len())),
                None,
            ));
            continue;
        };
        match (&e.base, &a.base) {
            (Some(eb), Some(ab)) => {
                if eb.hook != ab.hook || eb.priority != ab.priority {
                    out.push(change(
                        Kind::ChainHook,
                        &obj,
                        Some(format!("hook {} priority {}", eb.hook.name(), eb.priority)),
                        Some(format!("hook {} priority {}", ab.hook.name(), ab.priority)),
                    ));
                }
                if eb.policy != ab.policy {
                    out.push(change(
                        Kind::ChainPolicy,
                        &obj,
                        Some(policy_name(eb.policy).into()),
                        Some(policy_name(ab.policy).into()),
                    ));
                }
            }
            (eb, ab) if eb != ab => out.push(change(
                Kind::ChainHook,
                &obj,
                Some(eb.map_or("regular chain".into(), |b| b.hook.name().to_string())),
                Some(ab.map_or("regular chain".into(), |b| b.hook.name().to_string())),
            )),
            _ => {}
        }
        rules(&e.name, &e.rules, &a.rules, out);
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            out.push(change(
                Kind::ChainExtra,
                &format!("chain {}", a.name),
                None,
                Some(format!("{} rules", a.rules.len())),
            ));
        }
    }
}

fn policy_name(p: ir::ChainPolicy) -> &'static str {
    match p {
        ir::ChainPolicy::Accept => "accept",
        ir::ChainPolicy::Drop => "drop",
    }
}

fn rule_text(r: &Rule) -> String {
    let mut s = String::new();
    text::rule(&mut s, r);
    s
}

/// Ordered comparison: a longest common subsequence keeps what is in place; the rest
/// is missing, added, moved (same text on both sides) or changed (same position).
fn rules(chain: &str, expected: &[Rule], actual: &[Rule], out: &mut Vec<Change>) {
    let e: Vec<String> = expected.iter().map(rule_text).collect();
    let a: Vec<String> = actual.iter().map(rule_text).collect();
    let (in_e, in_a) = lcs_marks(&e, &a);
    let obj = format!("chain {chain}");
    let missing: Vec<usize> = (0..e.len()).filter(|i| !in_e[*i]).collect();
    let mut added: Vec<usize> = (0..a.len()).filter(|j| !in_a[*j]).collect();
    for i in missing {
        let service = expected[i].comment.clone();
        // Present elsewhere in the chain: moved.
        if let Some(pos) = added.iter().position(|j| a[*j] == e[i]) {
            let j = added.remove(pos);
            out.push(Change {
                position: Some(j + 1),
                service,
                ..change(
                    Kind::RuleMoved,
                    &obj,
                    Some(format!("{} (position {})", e[i], i + 1)),
                    Some(format!("{} (position {})", a[j], j + 1)),
                )
            });
            continue;
        }
        // An unmatched actual rule at the same position: changed in place.
        if let Some(pos) = added.iter().position(|j| *j == i) {
            let j = added.remove(pos);
            out.push(Change {
                position: Some(i + 1),
                service,
                ..change(
                    Kind::RuleChanged,
                    &obj,
                    Some(e[i].clone()),
                    Some(a[j].clone()),
                )
            });
            continue;
        }
        out.push(Change {
            position: Some(i + 1),
            service,
            ..change(Kind::RuleMissing, &obj, Some(e[i].clone()), None)
        });
    }
    for j in added {
        out.push(Change {
            position: Some(j + 1),
            ..change(Kind::RuleAdded, &obj, None, Some(a[j].clone()))
        });
    }
}

/// Which entries of each side belong to a longest common subsequence.
/// Quadratic in rule counts; chains compiled by hostwall stay small (sets carry the bulk).
/// Past a size bound it matches the common prefix and suffix only, still exact for
/// the usual hand edits (one rule appended, inserted or deleted).
fn lcs_marks(e: &[String], a: &[String]) -> (Vec<bool>, Vec<bool>) {
    let (n, m) = (e.len(), a.len());
    let mut in_e = vec![false; n];
    let mut in_a = vec![false; m];
    let mut pre = 0;
    while pre < n && pre < m && e[pre] == a[pre] {
        in_e[pre] = true;
        in_a[pre] = true;
        pre += 1;
    }
    let mut suf = 0;
    while suf < n - pre && suf < m - pre && e[n - 1 - suf] == a[m - 1 - suf] {
        in_e[n - 1 - suf] = true;
        in_a[m - 1 - suf] = true;
        suf += 1;
    }
    let (e2, a2) = (&e[pre..n - suf], &a[pre..m - suf]);
    if e2.is_empty() || a2.is_empty() || e2.len() * a2.len() > 4_000_000 {
        return (in_e, in_a);
    }
    let (n2, m2) = (e2.len(), a2.len());
    let mut t = vec![0u32; (n2 + 1) * (m2 + 1)];
    for i in (0..n2).rev() {
        for j in (0..m2).rev() {
            t[i * (m2 + 1) + j] = if e2[i] == a2[j] {
                t[(i + 1) * (m2 + 1) + j + 1] + 1
            } else {
                t[(i + 1) * (m2 + 1) + j].max(t[i * (m2 + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n2 && j < m2 {
        if e2[i] == a2[j] {
            in_e[pre + i] = true;
            in_a[pre + j] = true;
            i += 1;
            j += 1;
        } else if t[(i + 1) * (m2 + 1) + j] >= t[i * (m2 + 1) + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (in_e, in_a)
}

/// Warnings for other tables' base chains on hooks we filter: a packet must be
/// accepted by every base chain on a hook, so their drops (or accepts) shape what
/// the host lets in as much as ours do.
fn foreign(expected: &Ruleset, live: &Live, out: &mut Vec<Change>) {
    for f in &live.foreign {
        // Same hook, or prerouting, which every packet to input or forward passes first.
        let ours = expected
            .table
            .chains
            .iter()
            .filter_map(|c| c.base.as_ref())
            .any(|b| {
                b.hook == f.hook
                    || (f.hook == ir::Hook::Prerouting
                        && matches!(b.hook, ir::Hook::Input | ir::Hook::Forward))
            });
        if !ours {
            continue;
        }
        let what = if f.can_drop {
            "can drop or reject traffic our policy allows"
        } else {
            "accepts; it cannot let in what our chain rejects"
        };
        out.push(Change {
            severity: Severity::Warning,
            ..change(
                Kind::ForeignBaseChain,
                &format!("table {} {} chain {}", f.family, f.table, f.chain),
                None,
                Some(format!(
                    "hook {} priority {} policy {}: {what}",
                    f.hook.name(),
                    f.priority,
                    policy_name(f.policy)
                )),
            )
        });
    }
}

/// One line per change, for people: `rule missing in chain input (position 5): tcp dport ...`.
pub fn render_text(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let label = match c.kind {
            Kind::TableMissing => "table is absent".to_string(),
            Kind::ChainMissing => "chain missing".into(),
            Kind::ChainExtra => "chain not in the policy".into(),
            Kind::ChainHook => "chain hook differs".into(),
            Kind::ChainPolicy => "chain policy differs".into(),
            Kind::RuleMissing => "rule missing".into(),
            Kind::RuleAdded => "rule added by hand".into(),
            Kind::RuleChanged => "rule changed".into(),
            Kind::RuleMoved => "rule moved".into(),
            Kind::SetMissing => "set missing".into(),
            Kind::SetExtra => "set not in the policy".into(),
            Kind::SetType => "set type differs".into(),
            Kind::ElementMissing => "element missing".into(),
            Kind::ElementExtra => "element added".into(),
            Kind::Sysctl => "sysctl differs".into(),
            Kind::Unsupported => "object hostwall never makes".into(),
            Kind::ForeignBaseChain => "other table filters the same hook".into(),
            Kind::ForeignChanging => "other table changed while it was read".into(),
        };
        let sev = match c.severity {
            Severity::Drift => "drift",
            Severity::Warning => "warning",
        };
        s.push_str(&format!("{sev}: {label}: {}", c.object));
        if let Some(p) = c.position {
            s.push_str(&format!(", position {p}"));
        }
        if let Some(svc) = &c.service {
            s.push_str(&format!(" (service {svc})"));
        }
        s.push('\n');
        if let Some(e) = &c.expected {
            s.push_str(&format!("    policy says: {e}\n"));
        }
        if let Some(a) = &c.actual {
            s.push_str(&format!("    live has:    {a}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: u128, hi: u128) -> Interval {
        Interval { lo, hi }
    }

    #[test]
    fn subtract_intervals() {
        let a = vec![iv(0, 10), iv(20, 30)];
        let b = vec![iv(3, 4), iv(8, 22), iv(30, 30)];
        assert_eq!(subtract(&a, &b), vec![iv(0, 2), iv(5, 7), iv(23, 29)]);
        assert_eq!(subtract(&a, &[]), a);
        assert_eq!(subtract(&a, &[iv(0, 100)]), vec![]);
    }

    #[test]
    fn lcs_finds_inserted_rule() {
        let e: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let a: Vec<String> = ["x", "a", "c", "b"].iter().map(|s| s.to_string()).collect();
        let (ie, ia) = lcs_marks(&e, &a);
        assert_eq!(ie.iter().filter(|x| **x).count(), 2);
        assert!(!ia[0]);
    }

    fn rule(port: u16) -> Rule {
        Rule {
            matches: vec![ir::Match::Dport(
                ir::L4Proto::Tcp,
                ir::PortMatch::Port(port),
            )],
            stmts: vec![],
            verdict: Some(ir::Verdict::Accept),
            comment: Some(format!("svc{port}")),
            origin: vec![],
        }
    }

    fn ruleset(ports: &[u16], elems: Vec<Interval>) -> Ruleset {
        Ruleset {
            table: Table {
                family: ir::Family::Inet,
                name: "hostwall".into(),
                sets: vec![Set {
                    name: "allow_tcp".into(),
                    key: SetKey::InetService,
                    interval: true,
                    elements: elems,
                    comment: None,
                    origin: vec![],
                }],
                chains: vec![Chain {
                    name: "input".into(),
                    base: Some(ir::BaseChain {
                        hook: ir::Hook::Input,
                        priority: 0,
                        policy: ir::ChainPolicy::Drop,
                    }),
                    rules: ports.iter().map(|p| rule(*p)).collect(),
                }],
            },
            sysctls: vec![ir::SysctlSetting {
                key: Sysctl::Ipv4Forward,
                value: true,
                origin: None,
            }],
        }
    }

    fn live(rs: &Ruleset, fwd: bool) -> Live {
        Live {
            table: Some(rs.table.clone()),
            sysctls: vec![(Sysctl::Ipv4Forward, Some(fwd))],
            foreign: vec![],
        }
    }

    fn kinds(c: &[Change]) -> Vec<(Kind, Option<usize>)> {
        c.iter().map(|c| (c.kind, c.position)).collect()
    }

    #[test]
    fn foreign_chains_on_our_hooks_and_prerouting_warn() {
        let want = ruleset(&[22], vec![]);
        let chain = |hook, name: &str| ForeignChain {
            family: "ip".into(),
            table: "other".into(),
            chain: name.into(),
            hook,
            priority: 0,
            policy: ir::ChainPolicy::Drop,
            can_drop: true,
        };
        let mut l = live(&want, true);
        l.foreign = vec![
            chain(ir::Hook::Prerouting, "pre"),
            chain(ir::Hook::Input, "in"),
            chain(ir::Hook::Output, "out"),
        ];
        let objects: Vec<String> = diff(&want, &l).into_iter().map(|c| c.object).collect();
        assert_eq!(
            objects,
            vec!["table ip other chain pre", "table ip other chain in"]
        );
    }

    #[test]
    fn in_sync_is_empty_even_with_split_ranges() {
        let want = ruleset(&[22, 80], vec![iv(5634, 6166)]);
        let have = ruleset(&[22, 80], vec![iv(5634, 6000), iv(6001, 6166)]);
        assert_eq!(diff(&want, &live(&have, true)), vec![]);
    }

    #[test]
    fn reports_each_kind_of_rule_drift() {
        let want = ruleset(&[22, 80, 443], vec![]);
        type Case = (Vec<u16>, Vec<(Kind, Option<usize>)>);
        let cases: Vec<Case> = vec![
            (vec![22, 80, 443, 3306], vec![(Kind::RuleAdded, Some(4))]),
            (vec![3306, 22, 80, 443], vec![(Kind::RuleAdded, Some(1))]),
            (vec![22, 443], vec![(Kind::RuleMissing, Some(2))]),
            (vec![22, 81, 443], vec![(Kind::RuleChanged, Some(2))]),
            (vec![80, 22, 443], vec![(Kind::RuleMoved, Some(2))]),
        ];
        for (ports, expect) in cases {
            let have = ruleset(&ports, vec![]);
            assert_eq!(kinds(&diff(&want, &live(&have, true))), expect, "{ports:?}");
        }
    }

    #[test]
    fn reports_elements_policy_sysctl_and_absent_table() {
        let want = ruleset(&[22], vec![iv(22, 22), iv(5634, 6166)]);
        let mut have = ruleset(&[22], vec![iv(22, 22), iv(3306, 3306)]);
        if let Some(b) = have.table.chains[0].base.as_mut() {
            b.policy = ir::ChainPolicy::Accept;
        }
        let c = diff(&want, &live(&have, false));
        assert_eq!(
            c.iter()
                .map(|c| (c.kind, c.expected.clone(), c.actual.clone()))
                .collect::<Vec<_>>(),
            vec![
                (Kind::ElementMissing, Some("5634-6166".into()), None),
                (Kind::ElementExtra, None, Some("3306".into())),
                (
                    Kind::ChainPolicy,
                    Some("drop".into()),
                    Some("accept".into())
                ),
                (Kind::Sysctl, Some("1".into()), Some("0".into())),
            ]
        );
        let none = Live {
            table: None,
            ..live(&have, true)
        };
        assert_eq!(kinds(&diff(&want, &none)), vec![(Kind::TableMissing, None)]);
    }
}
