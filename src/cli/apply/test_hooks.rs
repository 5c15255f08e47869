//! Debug builds only: `HOSTWALL_TEST_BREAK_RULE=COMMENT` makes the first rule with that
//! comment (a service name) one the kernel refuses (a log prefix over its 127-byte
//! limit) while keeping the rule's policy line, so the end-to-end tests can prove
//! through the binary that a refused batch changes nothing and is reported at
//! `file:line:col`. The checker rejects every such policy, so no honest policy text
//! reaches the kernel and fails there.
//!
//! `HOSTWALL_TEST_APPEND_AFTER_CHECK=TEXT` appends TEXT to the policy file once it is
//! checked and compiled: an edit made while the apply runs, so what is read back of a
//! shed text (a refusal's excerpt, the last known good) is not the text checked.

use hostwall::ir::{Ruleset, Stmt};

pub fn break_rule(mut rs: Ruleset) -> Ruleset {
    let Ok(comment) = std::env::var("HOSTWALL_TEST_BREAK_RULE") else {
        return rs;
    };
    let rule = rs
        .table
        .chains
        .iter_mut()
        .flat_map(|c| c.rules.iter_mut())
        .find(|r| r.comment.as_deref() == Some(comment.as_str()));
    if let Some(rule) = rule {
        rule.stmts.push(Stmt::Log {
            prefix: Some("x".repeat(200)),
            group: None,
            level: hostwall::ir::LogLevel::Warn,
        });
    }
    rs
}

pub fn append_after_check(policy: &str) {
    let Ok(text) = std::env::var("HOSTWALL_TEST_APPEND_AFTER_CHECK") else {
        return;
    };
    use std::io::Write;
    // A failure leaves the file as it was: the test that set this then fails on what
    // it expects to see.
    let _ = (std::fs::OpenOptions::new().append(true).open(policy))
        .and_then(|mut f| f.write_all(text.as_bytes()));
}
