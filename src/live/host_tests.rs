//! The lenient reader on hand-made expressions: what it knows becomes conditions and
//! actions, what it does not stays unknown, and nothing is skipped.

use super::*;
use crate::ir::IfName;
use crate::live::test_exprs::{cmp, ex, meta, u32b, verdict};
use crate::nft::expr_attr;

fn read(exprs: Vec<RawExpr>, sets: &Sets) -> HostRule {
    let raw = RawRule {
        family: 2,
        table: "filter".into(),
        chain: "FORWARD".into(),
        exprs,
        userdata: None,
    };
    rule(&raw, sets, Some(NfProto::Ipv4))
}
fn oif(name: &str) -> Match {
    Match::OifName(IfName {
        name: name.into(),
        wildcard: false,
    })
}

#[test]
fn negations_jumps_and_goto_decode_issue10() {
    let sets = Sets::default();
    let r = read(
        vec![meta(7), cmp(1, b"docker0\0"), verdict(-3, Some("DOCKER"))],
        &sets,
    );
    assert_eq!(r.conds, vec![Cond::Not(oif("docker0"))]);
    assert_eq!(r.action, Action::Jump("DOCKER".into()));
    assert_eq!(r.text, "oifname != \"docker0\" jump DOCKER");
    let r = read(vec![verdict(-4, Some("zone"))], &sets);
    assert_eq!(r.action, Action::Goto("zone".into()));
    let r = read(vec![verdict(-5, None)], &sets);
    assert_eq!(r.action, Action::Return);
}

#[test]
fn xt_matches_fib_and_unknown_targets_stay_unknown_issue10() {
    let sets = Sets::default();
    let xt = ex("match", &[], "match name conntrack rev 3");
    let r = read(vec![xt, verdict(1, None)], &sets);
    assert!(
        matches!(&r.conds[..], [Cond::Unknown(t)] if t.contains("conntrack")),
        "{r:?}"
    );
    assert_eq!(r.action, Action::Accept);
    // An `xt` comment is harmless (the name is a NUL-padded field, as the kernel dumps it).
    let comment = b"comment\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    let r = read(
        vec![
            ex(
                "match",
                &[(expr_attr::MT_NAME, comment)],
                "match name comment rev 0",
            ),
            verdict(0, None),
        ],
        &sets,
    );
    assert!(r.conds.is_empty());
    assert_eq!(r.action, Action::Drop);
    // fib loads into a register: the load and its test are one unknown condition.
    let fib = ex("fib", &[(expr_attr::FIB_DREG, &u32b(1))], "fib daddr type");
    let r = read(
        vec![fib, cmp(0, &u32b(2)), verdict(-3, Some("DOCKER"))],
        &sets,
    );
    assert!(
        matches!(&r.conds[..], [Cond::Unknown(t)] if t.contains("fib")),
        "{r:?}"
    );
    // A target that never ends the path is nothing; one hostwall does not know is unknown.
    let checksum = ex(
        "target",
        &[(expr_attr::TG_NAME, b"CHECKSUM\0")],
        "target name CHECKSUM rev 0",
    );
    assert_eq!(read(vec![checksum], &sets).action, Action::Continue);
    let r = read(
        vec![ex(
            "target",
            &[(expr_attr::TG_NAME, b"SECMARK\0")],
            "target",
        )],
        &sets,
    );
    assert!(
        matches!(&r.action, Action::Unknown(t) if t.contains("SECMARK")),
        "{r:?}"
    );
    // A synproxy object reference is an action hostwall cannot evaluate; a counter's is not.
    let obj = |t: u32| {
        ex(
            "objref",
            &[(expr_attr::OBJREF_IMM_TYPE, &u32b(t))],
            "objref",
        )
    };
    assert!(matches!(
        read(vec![obj(10)], &sets).action,
        Action::Unknown(_)
    ));
    assert_eq!(
        read(vec![obj(1), verdict(1, None)], &sets).action,
        Action::Accept
    );
    // `meta mark set` changes nothing the IR reads.
    let set_mark = ex("meta", &[(expr_attr::META_SREG, &u32b(1))], "meta set mark");
    assert_eq!(
        read(vec![set_mark, verdict(1, None)], &sets).action,
        Action::Accept
    );
}

#[test]
fn interface_sets_expand_and_verdict_maps_are_actions_issue10() {
    let mut sets = Sets::default();
    let name = |s: &str| {
        let mut k = s.as_bytes().to_vec();
        k.resize(16, 0);
        k
    };
    let keys = vec![name("virbr0"), name("eth0")];
    sets.raw.insert("__set0".into(), (41, keys));
    sets.maps.insert("zones".into(), 41);
    let lookup = |set: &str, dreg: Option<u32>| {
        let mut a: Vec<(u32, Vec<u8>)> = vec![
            (expr_attr::LOOKUP_SREG, u32b(1).to_vec()),
            (expr_attr::LOOKUP_SET, format!("{set}\0").into_bytes()),
        ];
        if let Some(d) = dreg {
            a.push((expr_attr::LOOKUP_DREG, u32b(d).to_vec()));
        }
        let refs: Vec<(u32, &[u8])> = a.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        ex("lookup", &refs, "lookup")
    };
    let r = read(
        vec![meta(7), lookup("__set0", None), verdict(1, None)],
        &sets,
    );
    assert_eq!(
        r.conds,
        vec![Cond::AnyOf {
            of: vec![oif("eth0"), oif("virbr0")],
            negated: false
        }]
    );
    let r = read(vec![meta(6), lookup("zones", Some(0))], &sets);
    assert_eq!(
        r.action,
        Action::Map {
            key: MapKey::IifName,
            map: "zones".into()
        }
    );
    // A map the table does not hold in the IR: the rule's action is unknown.
    let r = read(vec![meta(6), lookup("other", Some(0))], &sets);
    assert!(matches!(r.action, Action::Unknown(_)), "{r:?}");
}
