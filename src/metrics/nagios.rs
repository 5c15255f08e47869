//! `hostwall diff --check`: the drift report as one Nagios/Icinga plugin line and its
//! exit code. CRITICAL is drift of our table (its rules, sets, chains, anything added
//! to it, the table gone); WARNING is a forwarding sysctl that differs, or another
//! table refusing traffic a policy line allows (`policy-defeated`); the other warnings
//! (other tables' base chains, tables changing while read, traffic another table
//! accepts and ours refuses) are counted in the performance data only. A per-source
//! limit set that fills up is WARNING, then CRITICAL (`source`'s thresholds). UNKNOWN
//! (3) is any failure to answer.

use super::source::{self, SourceSet};
use super::{is_warning, kind_name};
use crate::diff::{Change, Kind};
use crate::drift::DriftReport;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// The plugin's exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The state one change puts the check in.
pub fn state_of(c: &Change) -> State {
    match c.kind {
        Kind::Sysctl | Kind::PolicyDefeated => State::Warning,
        k if is_warning(k) => State::Ok,
        _ => State::Critical,
    }
}

/// The plugin line (with its line feed) and state for a drift report on `table`.
pub fn line(r: &DriftReport, table: &str) -> (State, String) {
    line_with_sets(r, table, &[])
}

/// [`line`], with how full the table's per-source limit sets are: the worse of the
/// two states, each set at WARNING or worse named with its rule, every set's fill in
/// the performance data.
pub fn line_with_sets(r: &DriftReport, table: &str, sets: &[SourceSet]) -> (State, String) {
    let drift_state = r.changes.iter().map(state_of).max().unwrap_or(State::Ok);
    let (set_state, full, set_perf) = source::nagios(sets);
    let state = drift_state.max(set_state);
    let drift = r.changes.iter().filter(|c| !is_warning(c.kind)).count();
    let warnings = r.changes.len() - drift;
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for c in r.changes.iter().filter(|c| state_of(c) != State::Ok) {
        *by_kind.entry(kind_name(c.kind)).or_default() += 1;
    }
    let mut what: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let summary = match (state, drift_state) {
        (State::Ok, _) => format!("in sync: table {table} (generation {})", r.genid),
        (_, State::Critical) => format!(
            "{drift} difference{} in table {table}: {}",
            if drift == 1 { "" } else { "s" },
            [what.join(", ")]
                .into_iter()
                .chain(full)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => {
            what.extend(full);
            format!("table {table} in sync, but: {}", what.join(", "))
        }
    };
    let perf = format!(
        "drift={drift};;1;0 warnings={warnings};;;0 generation={}{set_perf}",
        r.genid
    );
    (
        state,
        format!("HOSTWALL {} - {} | {perf}\n", state.word(), clean(&summary)),
    )
}

/// The UNKNOWN line for a check that could not answer.
pub fn unknown(reason: &str) -> (State, String) {
    let s = State::Unknown;
    (s, format!("HOSTWALL {} - {}\n", s.word(), clean(reason)))
}

/// Plugin output is one line, and `|` starts the performance data.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || c == '|' { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change of `kind` (through serde, so fields added later need no edit here).
    fn change(kind: Kind) -> Change {
        let severity = if is_warning(kind) { "warning" } else { "drift" };
        let v = serde_json::json!({"kind": kind, "severity": severity, "object": "chain input"});
        serde_json::from_value(v).expect("a change")
    }

    fn report(kinds: &[Kind]) -> DriftReport {
        DriftReport {
            changes: kinds.iter().copied().map(change).collect(),
            fast_path: false,
            genid: 41,
        }
    }

    #[test]
    fn each_kind_maps_to_the_documented_state() {
        let t = "inet hostwall";
        let (s, l) = line(&report(&[Kind::ForeignBaseChain, Kind::PolicyRefuses]), t);
        assert_eq!((s, s.code()), (State::Ok, 0));
        assert_eq!(
            l,
            "HOSTWALL OK - in sync: table inet hostwall (generation 41) | drift=0;;1;0 warnings=2;;;0 generation=41\n"
        );
        let (s, l) = line(&report(&[Kind::Sysctl, Kind::ForeignChanging]), t);
        assert_eq!((s, s.code()), (State::Warning, 1));
        assert!(
            l.starts_with("HOSTWALL WARNING - table inet hostwall in sync, but: sysctl 1 |"),
            "{l}"
        );
        let (s, _) = line(&report(&[Kind::PolicyDefeated]), t);
        assert_eq!(s, State::Warning);
        let (s, l) = line(
            &report(&[
                Kind::Sysctl,
                Kind::ElementExtra,
                Kind::RuleMissing,
                Kind::RuleMissing,
            ]),
            t,
        );
        assert_eq!((s, s.code()), (State::Critical, 2));
        assert!(
            l.starts_with("HOSTWALL CRITICAL - 4 differences in table inet hostwall: element-extra 1, rule-missing 2, sysctl 1 | drift=4;"),
            "{l}"
        );
        for k in Kind::ALL
            .into_iter()
            .filter(|k| !is_warning(*k) && *k != Kind::Sysctl)
        {
            assert_eq!(line(&report(&[k]), t).0, State::Critical, "{k:?}");
        }
    }

    #[test]
    fn unknown_is_one_line_whatever_the_reason_says() {
        let (s, l) = unknown("cannot read: a | b\nc");
        assert_eq!(s.code(), 3);
        assert_eq!(l, "HOSTWALL UNKNOWN - cannot read: a   b c\n");
    }
}
