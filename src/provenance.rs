//! Where the live table came from, said in words: when hostwall last applied it from
//! other inputs than the ones a command reads, its differences from the policy are
//! differences between two policies, not changes made by hand.

use crate::record::ApplyRecord;

/// `None` when the record's inputs are the ones being read (`changed` false: the same
/// digest); otherwise the sentence naming the policy the table was applied from and the
/// one read now. `policy` is the policy's canonical path (or the built-in's or stdin's
/// name).
pub fn applied_from_other(rec: &ApplyRecord, policy: &str, changed: bool) -> Option<String> {
    if !changed {
        return None;
    }
    let table = format!("table inet {}", rec.table);
    Some(match rec.policy.as_deref() {
        Some(p) if p == policy => format!(
            "{table} was last applied by hostwall from {p} (generation {}), and that \
             policy, its site file or an include has changed since",
            rec.genid
        ),
        Some(p) => format!(
            "{table} was last applied by hostwall from {p} (generation {}), not from {policy}",
            rec.genid
        ),
        None => format!(
            "{table} was last applied by hostwall (generation {}) from other files than {policy}",
            rec.genid
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(policy: Option<&str>) -> ApplyRecord {
        ApplyRecord {
            genid: 41,
            digest: "aa".into(),
            includes: Vec::new(),
            table: "hostwall".into(),
            sysctls: Vec::new(),
            netns: None,
            warnings: None,
            policy: policy.map(str::to_string),
            stamps: None,
            checksum: None,
        }
    }

    #[test]
    fn names_both_policies_or_the_edit_and_is_silent_for_the_same_inputs() {
        let etc = "/etc/hostwall/host.policy";
        assert_eq!(applied_from_other(&rec(Some(etc)), etc, false), None);
        let other = applied_from_other(&rec(Some(etc)), "<built-in kvm-host.policy>", true)
            .unwrap_or_default();
        assert_eq!(
            other,
            "table inet hostwall was last applied by hostwall from /etc/hostwall/host.policy \
             (generation 41), not from <built-in kvm-host.policy>"
        );
        let edited = applied_from_other(&rec(Some(etc)), etc, true).unwrap_or_default();
        assert!(edited.contains("has changed since"), "{edited}");
        let old = applied_from_other(&rec(None), "/srv/p.policy", true).unwrap_or_default();
        assert!(old.contains("other files than /srv/p.policy"), "{old}");
    }
}
