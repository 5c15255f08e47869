//! Rule messages: the table and chain a run of rules goes into, and the checks a rule
//! passes before `wire::Writer::rule` encodes it (the test-only `oracle` compares that
//! encoding with libnftnl's byte for byte).

use super::expr::Expr;
use super::vocab::MAX_COMMENT;
use super::wire::{WireError, Writer};

/// The table and chain a run of rules is written into.
pub struct RuleTarget {
    table: String,
    chain: String,
}

impl RuleTarget {
    pub fn new(table: &str, chain: &str) -> Result<RuleTarget, WireError> {
        if table.contains('\0') {
            return Err(WireError("table name contains NUL".into()));
        }
        if chain.contains('\0') {
            return Err(WireError("chain name contains NUL".into()));
        }
        Ok(RuleTarget {
            table: table.to_string(),
            chain: chain.to_string(),
        })
    }

    /// Appends one NEWRULE message (create, append to the chain's end).
    pub fn write(
        &self,
        w: &mut Writer,
        seq: u32,
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> Result<(), WireError> {
        check_comment(comment)?;
        w.rule(seq, &self.table, &self.chain, exprs, comment)
    }
}

pub(super) fn check_comment(comment: Option<&str>) -> Result<(), WireError> {
    match comment {
        Some(c) if c.len() > MAX_COMMENT => Err(WireError(format!(
            "comment of {} bytes exceeds the {MAX_COMMENT} byte limit of a rule comment",
            c.len(),
        ))),
        Some(c) if c.contains('\0') => Err(WireError("comment contains NUL".into())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::vocab::CmpOp;

    #[test]
    fn long_comments_and_oversized_rules_are_refused_cleanly() {
        let target = RuleTarget::new("t", "c").unwrap_or_else(|e| panic!("{e}"));
        let mut w = Writer::default();
        let longest = "c".repeat(MAX_COMMENT);
        assert!(target.write(&mut w, 1, &[], Some(&longest)).is_ok());
        w.buf.clear();
        let long = "c".repeat(MAX_COMMENT + 1);
        let e = target.write(&mut w, 1, &[], Some(&long));
        assert!(e.is_err_and(|e| e.0.contains("129 bytes exceeds the 128 byte limit")));
        let many = vec![Expr::cmp(CmpOp::Eq, &[0xff; 16]); 3000];
        let e = target.write(&mut w, 1, &many, None);
        assert!(e.is_err_and(|e| e.0.contains("too large")));
        assert!(w.buf.is_empty(), "a refused rule leaves nothing behind");
    }
}
