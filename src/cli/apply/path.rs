//! Which path an apply took, for people: in place (with what it changed) or a full
//! replace (with why).

use hostwall::apply::ApplyPath;

/// Which path the apply took: `  incremental: ...` with the counts, or
/// `  full replace: <why>`.
pub(super) fn line(p: &ApplyPath) -> String {
    match p {
        ApplyPath::Full { reason } if reason.is_empty() => String::new(),
        ApplyPath::Full { reason } => format!("  full replace: {reason}\n"),
        ApplyPath::Incremental { summary: c } if c.is_empty() => {
            "  incremental: nothing to change, nothing sent\n".to_string()
        }
        ApplyPath::Incremental { summary: c } => {
            let mut parts = Vec::new();
            let mut count = |n: usize, what: &str| {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            };
            count(c.elements_added, "elements added");
            count(c.elements_removed, "elements removed");
            count(c.rules_added, "rules added");
            count(c.rules_removed, "rules removed");
            count(c.rules_replaced, "rules replaced");
            count(c.sets_added, "sets added");
            count(c.sets_removed, "sets removed");
            count(c.chains_added, "chains added");
            count(c.chains_removed, "chains removed");
            format!("  incremental: {}\n", parts.join(", "))
        }
    }
}
