//! The handles after an in-place change: where the kernel puts each rule, and the
//! table a commit leaves, filled in from its echoes or refused without one.

use super::*;
use crate::emit::netlink::Message;
use crate::ir::{ChainPolicy, Hook};

#[path = "../../tests/support/build/ir.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{accept, base, ruleset};

fn live(handles: &[u64]) -> Vec<(u64, String)> {
    handles.iter().map(|&h| (h, format!("rule {h}"))).collect()
}

#[test]
fn deletes_replaces_inserts_and_appends_land_where_the_kernel_puts_them() {
    let rule = crate::ir::Rule {
        matches: Vec::new(),
        stmts: Vec::new(),
        verdict: None,
        comment: None,
        origin: Vec::new(),
    };
    let put = |place, index| RuleOp::Put {
        place,
        index,
        rule: &rule,
    };
    let del = |handle| RuleOp::Delete {
        handle,
        text: String::new(),
    };
    // live 4 5 6 7 -> new: [put 1] 4 [put 3 for 5] [6 deleted] [put 4] [put 5] 7 [put 7]
    let ops = [
        put(Place::Before(4), 1),
        put(Place::Replace(5), 3),
        del(6),
        put(Place::Before(7), 4),
        put(Place::Before(7), 5),
        put(Place::Append, 7),
    ];
    let got = after(live(&[4, 5, 6, 7]), &ops).expect("lines up");
    use Slot::Put;
    let kept = |h: u64| Slot::Live(h, format!("rule {h}"));
    assert_eq!(
        got,
        vec![Put(1), kept(4), Put(3), Put(4), Put(5), kept(7), Put(7)]
    );
    // An operation on a handle the chain does not have, or a rule replaced twice.
    assert_eq!(after(live(&[4]), &[del(9)]), None);
    let twice = [put(Place::Replace(4), 1), put(Place::Replace(4), 2)];
    assert_eq!(after(live(&[4]), &twice), None);
}

/// The chains a commit leaves: the kept rules' handles and texts as they were, each put
/// rule's handle from the echo of its message; a put rule without an echo (or with the
/// echo of another message only) leaves nothing to write a record from.
#[test]
fn a_commit_is_filled_in_from_the_echoes_or_not_at_all() {
    let new = ruleset(
        Vec::new(),
        vec![base(
            "input",
            Hook::Input,
            ChainPolicy::Drop,
            vec![accept(vec![]); 2],
        )],
    );
    let slots = || {
        Slots(vec![(
            "input".to_string(),
            vec![Slot::Live(4, "kept".into()), Slot::Put(2)],
        )])
    };
    let message = |seq, what| Message {
        seq,
        offset: 0,
        len: 0,
        what,
        origin: Vec::new(),
    };
    let batch = Batch {
        bytes: Vec::new(),
        tail: Vec::new(),
        messages: vec![
            message(10, BatchPart::BatchBegin),
            message(
                11,
                BatchPart::Rule {
                    chain: "input".into(),
                    index: 2,
                },
            ),
            message(12, BatchPart::BatchEnd),
        ],
    };
    let chains = slots().fill(&new, &batch, &[(11, 9)]).expect("echoed");
    let rules: Vec<u64> = chains[0].rules.iter().map(|(h, _)| *h).collect();
    assert_eq!(rules, [4, 9]);
    assert_eq!(chains[0].rules[0].1, "kept");
    assert_eq!(
        chains[0].rules[1].1,
        delta::rule_text(&new.table.chains[0].rules[1])
    );
    assert_eq!(slots().fill(&new, &batch, &[]), None, "no echo");
    assert_eq!(
        slots().fill(&new, &batch, &[(12, 9)]),
        None,
        "another message's"
    );
}
