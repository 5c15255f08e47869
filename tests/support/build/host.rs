//! Builders of the host-wide IR (every table's chains and rules, `ir::host`), for the
//! multi-table evaluation and conflict tests. Names the library as `crate::` (see
//! `build/mod.rs`).

use crate::ir::ChainPolicy;
use crate::ir::host::{
    Action, ChainType, Cond, HostBase, HostChain, HostHook, HostRule, HostTable, TableFamily,
    action_text,
};

/// A rule with its action as its text.
pub fn host_rule(conds: Vec<Cond>, action: Action) -> HostRule {
    let text = action_text(&action);
    HostRule {
        conds,
        action,
        text,
        comment: None,
        origin: vec![],
    }
}

/// A filter base chain on `hook` at `priority`.
pub fn host_base(
    name: &str,
    hook: HostHook,
    priority: i32,
    policy: ChainPolicy,
    rules: Vec<HostRule>,
) -> HostChain {
    HostChain {
        name: name.into(),
        base: Some(HostBase {
            hook: Some(hook),
            chain_type: ChainType::Filter,
            priority,
            policy,
            devices: vec![],
        }),
        rules,
    }
}

/// A regular (jump target) chain.
pub fn host_regular(name: &str, rules: Vec<HostRule>) -> HostChain {
    HostChain {
        name: name.into(),
        base: None,
        rules,
    }
}

/// A table of `chains`, `ours` when it is hostwall's own.
pub fn host_table(
    family: TableFamily,
    name: &str,
    ours: bool,
    chains: Vec<HostChain>,
) -> HostTable {
    HostTable {
        family: Some(family),
        name: name.into(),
        ours,
        chains,
        ..HostTable::default()
    }
}
