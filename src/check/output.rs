//! What `output { }` rules may say: the clauses that have no meaning for packets the host
//! sends are refused (`E0406`), `limit ... per source` among them.

use super::codes;
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::syntax::ast::{Clause, LogLimit};

/// `E0406` for a clause `output { }` has no use for: what the host sends has no input
/// interface, its source is the host, and its replies are always accepted.
pub(crate) fn clause_check(c: &Clause, diags: &mut Vec<Diagnostic>) {
    let (word, help) = match c {
        Clause::On(..) | Clause::In(..) => (
            if matches!(c, Clause::On(..)) {
                "on"
            } else {
                "in"
            },
            "the host's own packets have no input interface: write `out IFACE`",
        ),
        Clause::From(..) => (
            "from",
            "the host is the source of what it sends: say where it goes with `to NETS`",
        ),
        Clause::Established(_) => (
            "established",
            "established and related traffic from the host is always accepted",
        ),
        Clause::Limit(LogLimit {
            per_source: Some(at),
            ..
        }) => return per_source(*at, diags),
        _ => return,
    };
    diags.push(
        Diagnostic::error(
            codes::NOT_IN_OUTPUT,
            c.span(),
            format!("`{word}` is not allowed inside `output {{ }}`"),
        )
        .with_label("not an output clause")
        .with_help(help),
    );
}

/// `E0406` for `limit ... per source` in `output { }`: every packet the host sends has one
/// of the host's own addresses as its source, so the buckets would be the host's.
fn per_source(at: Span, diags: &mut Vec<Diagnostic>) {
    diags.push(
        Diagnostic::error(
            codes::NOT_IN_OUTPUT,
            at,
            "`per source` is not allowed inside `output { }`",
        )
        .with_label("the source is this host")
        .with_help("the host is the source of what it sends: write the limit without `per source`"),
    );
}
