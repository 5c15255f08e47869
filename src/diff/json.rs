//! The JSON form of a diff, for monitoring (`hostwall diff --format json`, schema 1 in
//! docs/diff.md). Its own output types: renaming a field or variant of the diff's
//! internal types cannot change the schema, and every kind's name is spelled out here.
//! Keys are in alphabetical order in every object.

use super::{CanDrop, ChainHead, Change, Kind, Severity};
use serde::Serialize;

/// The schema version the document carries; bumped only for an incompatible change.
pub const SCHEMA: u32 = 1;

/// The whole document.
#[derive(Serialize)]
struct Document<'a> {
    changes: Vec<ChangeOut<'a>>,
    fast_path: bool,
    genid: u32,
    in_sync: bool,
    schema: u32,
    table: &'a str,
}

/// One change.
#[derive(Serialize)]
struct ChangeOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    actual: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    can_drop: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<ChainOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    kind: &'static str,
    object: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_line: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    rules: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    suggestion: Option<&'a str>,
}

/// A base chain's registration.
#[derive(Serialize)]
struct ChainOut<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    devices: &'a [String],
    family: &'a str,
    hook: &'a str,
    policy: &'a str,
    priority: i32,
    #[serde(rename = "type")]
    chain_type: &'a str,
}

/// The document for `changes` in `table` (`inet hostwall`), pretty-printed with a final
/// newline. In sync means no change of severity drift (warnings allowed).
pub fn render_json(table: &str, changes: &[Change], fast_path: bool, genid: u32) -> String {
    let doc = Document {
        changes: changes.iter().map(change).collect(),
        fast_path,
        genid,
        in_sync: !changes.iter().any(|c| c.severity == Severity::Drift),
        schema: SCHEMA,
        table,
    };
    // Serialising plain strings, numbers and booleans cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn change(c: &Change) -> ChangeOut<'_> {
    ChangeOut {
        actual: c.actual.as_deref(),
        can_drop: c.can_drop.map(can_drop_name),
        chain: c.chain.as_ref().map(chain),
        expected: c.expected.as_deref(),
        kind: kind_name(c.kind),
        object: &c.object,
        packet: c.packet.as_deref(),
        policy_line: c.policy_line.as_deref(),
        position: c.position,
        rules: &c.rules,
        service: c.service.as_deref(),
        severity: severity_name(c.severity),
        suggestion: c.suggestion.as_deref(),
    }
}

fn chain(h: &ChainHead) -> ChainOut<'_> {
    ChainOut {
        devices: &h.devices,
        family: &h.family,
        hook: &h.hook,
        policy: &h.policy,
        priority: h.priority,
        chain_type: &h.chain_type,
    }
}

/// The schema's name of each kind (the table in docs/diff.md).
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::TableMissing => "table-missing",
        Kind::ChainMissing => "chain-missing",
        Kind::ChainExtra => "chain-extra",
        Kind::ChainHook => "chain-hook",
        Kind::ChainPolicy => "chain-policy",
        Kind::RuleMissing => "rule-missing",
        Kind::RuleAdded => "rule-added",
        Kind::RuleChanged => "rule-changed",
        Kind::RuleMoved => "rule-moved",
        Kind::SetMissing => "set-missing",
        Kind::SetExtra => "set-extra",
        Kind::SetType => "set-type",
        Kind::ElementMissing => "element-missing",
        Kind::ElementExtra => "element-extra",
        Kind::Sysctl => "sysctl",
        Kind::ObjectExtra => "object-extra",
        Kind::FlowtableExtra => "flowtable-extra",
        Kind::Unsupported => "unsupported",
        Kind::ForeignBaseChain => "foreign-base-chain",
        Kind::ForeignChanging => "foreign-changing",
        Kind::PolicyDefeated => "policy-defeated",
        Kind::PolicyRefuses => "policy-refuses",
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Drift => "drift",
        Severity::Warning => "warning",
    }
}

fn can_drop_name(c: CanDrop) -> &'static str {
    match c {
        CanDrop::Yes => "yes",
        CanDrop::Unknown => "unknown",
        CanDrop::No => "no",
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
