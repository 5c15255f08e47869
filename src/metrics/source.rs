//! How full the dynamic sets of `limit ... per source` are, for monitoring: the policy
//! lines each set serves, the `hostwall_source_limit_*` gauges, and the Nagios state by
//! the fill thresholds (a full set refuses every new source: the limit fails closed).

use super::expo::{Family, Type};
use super::nagios::State;
use crate::ir;
use crate::live::learned::Fill;
use crate::source::Span;
use std::collections::BTreeMap;

/// `diff --check` is WARNING once a set holds this share (percent) of its size.
pub const WARNING_PERCENT: u64 = 80;
/// `diff --check` is CRITICAL once a set holds this share (percent) of its size.
pub const CRITICAL_PERCENT: u64 = 95;

/// One live dynamic set, how full it is and the policy lines it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSet {
    pub fill: Fill,
    /// The policy lines whose limit fills it (`file:line`, comma separated); empty
    /// when the policy does not make this set or could not be compiled.
    pub line: String,
}

/// The sets `fills` names, labelled by `lines` (set name to its policy lines).
pub fn label(fills: Vec<Fill>, lines: &BTreeMap<String, String>) -> Vec<SourceSet> {
    fills
        .into_iter()
        .map(|fill| SourceSet {
            line: lines.get(&fill.set).cloned().unwrap_or_default(),
            fill,
        })
        .collect()
}

/// The policy lines of each dynamic set of the compiled table, by set name.
pub fn set_lines(rs: &ir::Ruleset, line: &dyn Fn(&Span) -> String) -> BTreeMap<String, String> {
    rs.table
        .sets
        .iter()
        .filter(|s| s.timeout_ms.is_some())
        .map(|s| {
            let lines: Vec<String> = s.origin.iter().map(line).collect();
            (s.name.clone(), lines.join(","))
        })
        .collect()
}

/// The state a set's fill puts the check in: WARNING from [`WARNING_PERCENT`] of its
/// size, CRITICAL from [`CRITICAL_PERCENT`]; a set without a size never fills.
pub fn state(f: &Fill) -> State {
    let (n, size) = (u128::from(f.entries), u128::from(f.size));
    if size == 0 {
        State::Ok
    } else if n * 100 >= size * u128::from(CRITICAL_PERCENT) {
        State::Critical
    } else if n * 100 >= size * u128::from(WARNING_PERCENT) {
        State::Warning
    } else {
        State::Ok
    }
}

/// The entries from which a set of `size` reaches `percent` (0: never).
fn threshold(size: u32, percent: u64) -> u64 {
    (u64::from(size) * percent).div_ceil(100)
}

/// The gauges: entries and size of every set, labelled by set, family and policy line.
pub fn families(sets: &[SourceSet]) -> Vec<Family> {
    let mut entries = Family::new(
        "hostwall_source_limit_entries",
        Type::Gauge,
        "Sources a `limit ... per source` set holds now, by set, family and policy line",
    );
    let mut size = Family::new(
        "hostwall_source_limit_size",
        Type::Gauge,
        "Sources a `limit ... per source` set can hold; once full, new sources are refused",
    );
    for s in sets {
        let labels = vec![
            ("set", s.fill.set.clone()),
            ("family", s.fill.family.to_string()),
            ("line", s.line.clone()),
        ];
        entries.samples.push((labels.clone(), s.fill.entries));
        size.samples.push((labels, u64::from(s.fill.size)));
    }
    vec![entries, size]
}

/// The check's word on the sets: their worst state, what to say of each set at
/// WARNING or worse, and the performance data of every set.
pub fn nagios(sets: &[SourceSet]) -> (State, Vec<String>, String) {
    let mut worst = State::Ok;
    let mut said = Vec::new();
    let mut perf = String::new();
    for s in sets {
        let f = &s.fill;
        let st = state(f);
        worst = worst.max(st);
        if st != State::Ok {
            let pct = f.entries * 100 / u64::from(f.size.max(1));
            let rule = match s.line.is_empty() {
                true => String::new(),
                false => format!(" (limit per source at {})", s.line),
            };
            said.push(format!(
                "source set {}{rule} {pct}% full ({} of {})",
                f.set, f.entries, f.size
            ));
        }
        // Nagios ranges alert above their end: WARNING from `threshold` on.
        let range = |p| threshold(f.size, p).saturating_sub(1);
        perf.push_str(&format!(
            " {}={};{};{};0;{}",
            perf_label(&f.set),
            f.entries,
            range(WARNING_PERCENT),
            range(CRITICAL_PERCENT),
            f.size
        ));
    }
    (worst, said, perf)
}

/// A performance-data label: quoted when it holds anything but word characters, and
/// never a quote, `=` or `|` of its own.
fn perf_label(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.chars().all(plain) && !name.is_empty() {
        return name.to_string();
    }
    let kept: String = name
        .chars()
        .map(|c| match c {
            '\'' | '=' | '|' => '_',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("'{kept}'")
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
