//! Semantic diff between the compiled ruleset (expected) and the decoded live state (actual).
//!
//! Pure: IR in, `Vec<Change>` out. Both sides are normalised first (set elements merged
//! and sorted, set names as given), rules compared by their canonical nft text in order,
//! so "the same meaning" compares equal however the table was written.

mod conflicts;
mod foreign;
mod json;
mod probes;
mod render;
mod rules;
mod sets;
#[cfg(test)]
mod tests;

pub use crate::live::state::{
    CanDrop, ChainHead, ForeignChain, Judgement, Kind, Live, Unmodelled, chain_summary,
};
pub use conflicts::conflicts;
pub use json::render_json;
pub use render::{render_text, render_text_verbose};
pub(crate) use rules::lcs_marks;
pub use sets::subtract;

use crate::ir::{self, Chain, Ruleset, Sysctl};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Drift,
    Warning,
}

/// One difference. `object` names what differs ("chain input", "set allow_tcp");
/// `expected`/`actual` are nft text (or values), absent when that side has nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A base chain's registration (extra chains of ours, other tables' chains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainHead>,
    /// The rules of a chain the policy does not make, as nft text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// For another table's chain: whether it can drop the host's traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_drop: Option<CanDrop>,
    /// For a conflict: an example packet (`eval::text` form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<String>,
    /// For a conflict: the policy line concerned (`file:line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_line: Option<String>,
    /// For traffic another table accepts and ours refuses: a policy line allowing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
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
            sets::sets(&t.sets, &actual.sets, &t.chains, &mut out);
            chains(&t.chains, &actual.chains, &live.unmodelled, &mut out);
            unmodelled(&t.chains, &live.unmodelled, &mut out);
        }
    }
    out.extend(sysctls(&expected.sysctls, &live.sysctls));
    foreign::warnings(&live.foreign, &mut out);
    foreign::changing(&live.changing, &mut out);
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

impl Change {
    fn with_chain(self, chain: Option<ChainHead>) -> Change {
        Change { chain, ..self }
    }
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
        chain: None,
        rules: Vec::new(),
        can_drop: None,
        packet: None,
        policy_line: None,
        suggestion: None,
    }
}

fn chains(expected: &[Chain], actual: &[Chain], odd: &[Unmodelled], out: &mut Vec<Change>) {
    for e in expected {
        let obj = format!("chain {}", e.name);
        let Some(a) = actual.iter().find(|a| a.name == e.name) else {
            out.push(missing_chain(e, &obj, odd));
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
                        Some(eb.policy.name().into()),
                        Some(ab.policy.name().into()),
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
        rules::rules(&e.name, &e.rules, &a.rules, out);
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            let head = a.base.as_ref().map(ChainHead::of);
            out.push(extra_chain(&a.name, head, &a.rules));
        }
    }
}

/// A chain of the policy that the IR side lacks: missing, or present under a
/// registration the IR cannot describe (another hook or type), then reported as such.
fn missing_chain(e: &Chain, obj: &str, odd: &[Unmodelled]) -> Change {
    let n = e.rules.len();
    let Some(u) = odd
        .iter()
        .find(|u| u.kind == Kind::ChainExtra && u.object == obj)
    else {
        return change(Kind::ChainMissing, obj, Some(format!("{n} rules")), None);
    };
    let want = e.base.as_ref().map(ChainHead::of);
    Change {
        chain: u.chain.clone(),
        rules: u.rules.iter().map(rules::rule_text).collect(),
        ..change(
            Kind::ChainHook,
            obj,
            Some(chain_summary(want.as_ref(), n)),
            Some(u.actual.clone()),
        )
    }
}

/// A chain the policy does not make, with its registration and every rule.
fn extra_chain(name: &str, head: Option<ChainHead>, rules: &[ir::Rule]) -> Change {
    Change {
        rules: rules.iter().map(rules::rule_text).collect(),
        ..change(
            Kind::ChainExtra,
            &format!("chain {name}"),
            None,
            Some(chain_summary(head.as_ref(), rules.len())),
        )
    }
    .with_chain(head)
}

/// Drift for everything in our table the IR cannot hold, except chains already
/// reported against the policy chain of the same name.
fn unmodelled(expected: &[Chain], odd: &[Unmodelled], out: &mut Vec<Change>) {
    for u in odd {
        let matched = u.kind == Kind::ChainExtra
            && expected
                .iter()
                .any(|e| u.object == format!("chain {}", e.name));
        if matched {
            continue;
        }
        out.push(Change {
            chain: u.chain.clone(),
            rules: u.rules.iter().map(rules::rule_text).collect(),
            ..change(u.kind, &u.object, None, Some(u.actual.clone()))
        });
    }
}
