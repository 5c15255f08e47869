//! Unit tests of `neighbours` (pure): what the lab can hold, how a reject reaches the
//! client, and how the combined verdict becomes each probe's expectation and reason.

use super::*;
use crate::ir::host::{Action, Cond, HostHook};
use crate::ir::{ChainPolicy, IfName, L4Proto, Match, PortMatch};
use crate::source::SourceMap;

#[path = "../../tests/support/build/host.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{host_base as base, host_rule as rule, host_table as table};

fn compile(text: &str) -> (Ruleset, SourceMap) {
    let mut map = SourceMap::new();
    let file = map.add("n.policy", text);
    let (policy, diags) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    (crate::compile::compile(&policy), map)
}

fn tcp(port: u16) -> Cond {
    Cond::Is(Match::Dport(L4Proto::Tcp, PortMatch::Port(port)))
}

/// The plan's input and forward probes: (name, expected, rules text).
fn rows(plan: &ProbePlan) -> Vec<(String, Outcome, String)> {
    let names = plan.names();
    let (expected, rules) = (plan.expected(), plan.rules());
    (0..names.len())
        .map(|i| {
            (
                names[i].to_string(),
                expected[i].clone(),
                rules[i].to_string(),
            )
        })
        .collect()
}

fn row<'a>(rows: &'a [(String, Outcome, String)], name: &str) -> &'a (String, Outcome, String) {
    (rows.iter().find(|r| r.0 == name)).unwrap_or_else(|| panic!("no probe {name}: {rows:#?}"))
}

const POLICY: &str = "policy p {\n    default reject\n    allow tcp 22\n    allow tcp 8080\n}\n";

/// Another table on input: priority -10 accepts 9090 and drops 8080; priority 10
/// refuses 22 from 198.18.0.0/16 with an ICMP host-unreachable (type 0 code 1).
fn neighbours() -> HostTable {
    let early = vec![
        rule(vec![tcp(9090)], Action::Accept),
        rule(vec![tcp(8080)], Action::Drop),
    ];
    let late = vec![rule(
        vec![
            tcp(22),
            Cond::Is(Match::Saddr(crate::ir::AddrMatch::V4(
                "198.18.0.0/16".parse().unwrap(),
            ))),
        ],
        Action::Reject("reject (type 0 code 1)".into()),
    )];
    table(
        TableFamily::Ip,
        "filter",
        false,
        vec![
            base("early", HostHook::Input, -10, ChainPolicy::Accept, early),
            base("late", HostHook::Input, 10, ChainPolicy::Accept, late),
        ],
    )
}

#[test]
fn a_probe_another_table_refuses_keeps_the_policys_expectation_and_names_both() {
    let (rs, map) = compile(POLICY);
    let opts = super::super::VerifyOptions {
        sources: Some(map.clone()),
        ..Default::default()
    };
    let mut plan = super::super::plan(&rs, None, &opts).expect("plan");
    let host = HostRuleset::with_ours(HostTable::of_ours(&rs.table), vec![neighbours()], None);
    let not_probed = apply_to_plan(&rs, &mut plan, &host, Some(&map));
    assert!(not_probed.is_empty(), "{not_probed:?}");
    let rows = rows(&plan);
    // Dropped by the other table before ours accepts: the policy is defeated.
    let (_, expected, why) = row(&rows, "tcp 8080 from 198.18.0.2");
    assert_eq!(*expected, Outcome::Open);
    assert!(
        why.contains("decided by n.policy:3,4 accept"),
        "ours by line: {why}"
    );
    assert!(
        why.contains("defeated: the policy allows it but table ip filter chain early rule 2"),
        "{why}"
    );
    // Over IPv6 an `ip` table sees nothing: the policy alone.
    let (_, expected, why) = row(&rows, "tcp 8080 from fd00:6877::2");
    assert_eq!(
        (expected, why.contains("defeated")),
        (&Outcome::Open, false)
    );
    // A later chain rejects 22 from the lab's net with host-unreachable.
    let (_, expected, why) = row(&rows, "tcp 22 from 198.18.0.2");
    assert_eq!(*expected, Outcome::Open);
    assert!(why.contains("chain late rule 1"), "{why}");
    // Accepted early by the other table, refused by ours: still refused, not defeated.
    let ports: Vec<_> = rows
        .iter()
        .filter(|r| r.0.starts_with("tcp 9090"))
        .collect();
    for (name, expected, why) in ports {
        assert_eq!(*expected, Outcome::Refused, "{name}");
        assert!(
            !why.contains("defeated") && !why.contains("refused by"),
            "{why}"
        );
    }
}

#[test]
fn a_refusal_by_another_table_first_sets_what_the_client_sees() {
    let (rs, map) = compile(POLICY);
    let mut plan = super::super::plan(&rs, None, &Default::default()).expect("plan");
    // Ours rejects tcp 23 with a reset; another table drops it earlier.
    let t = table(
        TableFamily::Inet,
        "early",
        false,
        vec![base(
            "in",
            HostHook::Input,
            -10,
            ChainPolicy::Accept,
            vec![rule(vec![tcp(23)], Action::Drop)],
        )],
    );
    let host = HostRuleset::with_ours(HostTable::of_ours(&rs.table), vec![t], None);
    apply_to_plan(&rs, &mut plan, &host, Some(&map));
    let rows = rows(&plan);
    for name in ["tcp 23 from 198.18.0.2", "tcp 23 from fd00:6877::2"] {
        let (_, expected, why) = row(&rows, name);
        assert_eq!(*expected, Outcome::Timeout, "{name}");
        assert!(
            why.contains("refused by table inet early chain in rule 1"),
            "{why}"
        );
        assert!(!why.contains("defeated"), "{why}");
    }
}

#[test]
fn probes_an_unknown_decides_are_not_probed_and_name_the_rule() {
    let (rs, map) = compile(POLICY);
    let mut plan = super::super::plan(&rs, None, &Default::default()).expect("plan");
    let before = plan.len();
    let odd = rule(
        vec![tcp(22), Cond::Unknown("numgen random mod 2".into())],
        Action::Drop,
    );
    let t = table(
        TableFamily::Inet,
        "odd",
        false,
        vec![base(
            "c",
            HostHook::Input,
            -5,
            ChainPolicy::Accept,
            vec![odd],
        )],
    );
    let host = HostRuleset::with_ours(HostTable::of_ours(&rs.table), vec![t], None);
    let not_probed = apply_to_plan(&rs, &mut plan, &host, Some(&map));
    let names: Vec<&str> = not_probed.iter().map(|n| n.name.as_str()).collect();
    assert!(names.contains(&"tcp 22 from 198.18.0.2"), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("tcp 22 ")), "{names:?}");
    assert_eq!(plan.len() + not_probed.len(), before);
    assert_eq!(plan.names().len(), plan.rules().len());
    let why = &not_probed[0].reason;
    assert!(why.contains("table inet odd chain c rule 1"), "{why}");
    assert!(why.contains("numgen"), "{why}");
}

#[test]
fn forward_probes_name_our_line_and_theirs() {
    let text = "policy f {\n    default reject\n    forwarding on\n    forward {\n        default reject\n        allow tcp 8000 out \"virbr*\" to 192.168.122.0/24\n    }\n}\n";
    let (rs, map) = compile(text);
    let mut plan = super::super::plan(&rs, None, &Default::default()).expect("plan");
    let fwi = rule(
        vec![Cond::Is(Match::OifName(IfName {
            name: "virbr0".into(),
            wildcard: false,
        }))],
        Action::Reject("reject".into()),
    );
    let t = table(
        TableFamily::Ip,
        "filter",
        false,
        vec![base(
            "FORWARD",
            HostHook::Forward,
            0,
            ChainPolicy::Accept,
            vec![fwi],
        )],
    );
    let host = HostRuleset::with_ours(HostTable::of_ours(&rs.table), vec![t], None);
    apply_to_plan(&rs, &mut plan, &host, Some(&map));
    let rows = rows(&plan);
    let defeated: Vec<_> = rows.iter().filter(|r| r.2.contains("defeated")).collect();
    assert!(!defeated.is_empty(), "{rows:#?}");
    for (name, expected, why) in &defeated {
        assert!(
            name.starts_with("forward tcp 8000 ") && name.ends_with("out virbr0"),
            "{name}"
        );
        assert_eq!(*expected, Outcome::Open);
        assert!(why.contains("n.policy:6"), "{why}");
        assert!(
            why.contains("table ip filter chain FORWARD rule 1 (reject) refuses it"),
            "{why}"
        );
    }
    // UDP 8000 the policy refuses: at equal priority ours (created last) runs first,
    // so its admin-prohibited reaches the client, not the other table's reject.
    let udp = row(&rows, &defeated[0].0.replace("tcp 8000", "udp 8000"));
    assert_eq!(
        (&udp.1, udp.2.as_str()),
        (&Outcome::Prohibited, ""),
        "{udp:?}"
    );
}

#[test]
fn each_reject_reaches_the_client_as_the_kernel_sends_it() {
    let r = |t: &str| EndKind::Reject(t.into());
    let cases = [
        (
            ProbeKind::Tcp(1),
            r("reject with tcp reset"),
            true,
            Outcome::Refused,
        ),
        (
            ProbeKind::Udp(1),
            r("reject with tcp reset"),
            true,
            Outcome::Timeout,
        ),
        (ProbeKind::Udp(1), r("reject"), true, Outcome::Refused),
        (
            ProbeKind::Ping,
            r("reject with icmpx admin-prohibited"),
            false,
            Outcome::Prohibited,
        ),
        (
            ProbeKind::Udp(1),
            r("reject (type 0 code 3)"),
            true,
            Outcome::Refused,
        ),
        (
            ProbeKind::Udp(1),
            r("reject (type 0 code 3)"),
            false,
            Outcome::Prohibited,
        ),
        (
            ProbeKind::Udp(1),
            r("reject (type 0 code 4)"),
            false,
            Outcome::Refused,
        ),
        (
            ProbeKind::Tcp(1),
            r("reject (type 0 code 13)"),
            true,
            Outcome::Prohibited,
        ),
        (
            ProbeKind::Tcp(1),
            r("reject (type 1 code 0)"),
            true,
            Outcome::Refused,
        ),
        (
            ProbeKind::Ping,
            r("reject (type 2 code 1)"),
            false,
            Outcome::Refused,
        ),
        (
            ProbeKind::Ping,
            r("reject (type 2 code 2)"),
            true,
            Outcome::Prohibited,
        ),
        (ProbeKind::Tcp(1), EndKind::Drop, true, Outcome::Timeout),
    ];
    for (kind, end, v4, want) in cases {
        assert_eq!(
            refused_outcome(kind, &end, v4),
            want,
            "{kind:?} {end:?} v4={v4}"
        );
    }
}

#[test]
fn the_lab_holds_what_it_has_devices_for_and_names_the_rest() {
    let devices: BTreeSet<String> = ["hwv0", "virbr0", "lo"].map(String::from).into();
    let all = vec![
        ForeignTable::sample(
            5,
            "ing",
            &[("on_eth0", &["eth0"]), ("on_virbr", &["virbr0"])],
            &[],
        ),
        ForeignTable::sample(1, "fast", &[("fwd", &[])], &["ft"]),
        ForeignTable::sample(2, "filter", &[("INPUT", &[])], &[]),
    ];
    let (kept, left) = fit(all, &devices);
    let titles: Vec<String> = kept.iter().map(ForeignTable::title).collect();
    assert_eq!(titles, ["netdev ing", "ip filter"]);
    assert_eq!(kept[0].len(), 3, "the table and on_virbr with its rule");
    assert_eq!(
        left,
        [
            "table netdev ing chain on_eth0: bound to device(s) eth0, which the test namespace lacks",
            "table inet fast: it holds flowtables (ft), which bind to the host's devices",
        ]
    );
}
