//! Warnings for other tables' base chains: a packet must be accepted by every base
//! chain on its path, so a drop in another table (on any hook of any family: netdev
//! ingress, prerouting, output, ...) decides what the host gets as much as ours does.
//! They are warnings, not drift: the policy does not own those tables.

use super::{CanDrop, Change, ForeignChain, Kind, Severity, change};

/// One warning per foreign base chain, with its registration and the judgement.
pub(super) fn warnings(foreign: &[ForeignChain], out: &mut Vec<Change>) {
    for f in foreign {
        let j = &f.judgement;
        let what = match j.can_drop {
            CanDrop::Yes => format!("can drop the host's traffic ({})", j.why),
            CanDrop::Unknown => format!("may drop the host's traffic ({})", j.why),
            CanDrop::No => format!("cannot drop ({})", j.why),
        };
        out.push(Change {
            severity: Severity::Warning,
            can_drop: Some(j.can_drop),
            ..change(
                Kind::ForeignBaseChain,
                &format!("table {} {} chain {}", f.family, f.table, f.chain),
                None,
                Some(format!("{}: {what}", f.head)),
            )
            .with_chain(Some(f.head.clone()))
        });
    }
}

/// One warning per other table that changed while it was read: its chains above are as
/// one dump saw them. Our own table is always read at one generation.
pub(super) fn changing(tables: &[String], out: &mut Vec<Change>) {
    for t in tables {
        out.push(Change {
            severity: Severity::Warning,
            ..change(
                Kind::ForeignChanging,
                &format!("table {t}"),
                None,
                Some("another program committed to it during the read: its chains are shown as one dump saw them (our table was read consistently)".into()),
            )
        });
    }
}
