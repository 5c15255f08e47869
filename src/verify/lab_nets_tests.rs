//! The lab's blocks against policies whose nets equal, contain and sit inside the
//! default lab ranges: the blocks move away, and no probe address is ever inside them
//! unless it is a link's own.

use super::super::design;
use super::choose;
use crate::ir::Ruleset;
use std::net::IpAddr;

fn compile(text: &str) -> Ruleset {
    let mut map = crate::source::SourceMap::new();
    let file = map.add("policy", text);
    let (policy, diags) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
    match policy {
        Some(p) => crate::compile::compile(&p),
        None => panic!("does not check: {diags:?}"),
    }
}

/// A policy with one rule per net, each on its own port.
fn policy_of(nets: &[&str]) -> Ruleset {
    let rules: String = nets
        .iter()
        .enumerate()
        .map(|(i, n)| format!("    allow tcp {} from {n}\n", 1000 + i))
        .collect();
    compile(&format!("policy p {{\n    default reject\n{rules}}}\n"))
}

/// Nets that equal, contain and sit inside each default lab range, both families,
/// /31, /32, /127 and /128 sources and ranges ending on .255.
const OVERLAPPING: [&[&str]; 8] = [
    &["198.18.0.0/24", "198.19.0.0/24"],
    &["198.18.0.0/15", "fd00:6877::/32"],
    &["198.16.0.0/12", "fd00::/8"],
    &[
        "198.18.0.4/31",
        "198.18.0.2",
        "198.19.0.1",
        "fd00:6877::2/127",
        "fd00:6877::2",
    ],
    &[
        "198.18.0.128-198.18.0.255",
        "198.19.0.0-198.19.0.255",
        "fd00:6877:1::1/128",
    ],
    &[
        "198.18.0.255",
        "198.18.0.0",
        "fd00:6877::/64",
        "fd00:6877:1::/64",
    ],
    &[
        "100.64.0.0/10",
        "198.18.0.0/16",
        "198.19.0.0/16",
        "10.0.0.0/8",
    ],
    &["fd00:6877::/47", "fd00:6877:2::/48", "198.18.1.0/24"],
];

fn in_nets(rs: &Ruleset, a: IpAddr) -> bool {
    let v = match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let mut ivs = Vec::new();
    let mut ivs6 = Vec::new();
    super::named_nets(rs, &mut ivs, &mut ivs6);
    let list = if a.is_ipv4() { ivs } else { ivs6 };
    list.iter().any(|iv| iv.lo <= v && v <= iv.hi)
}

#[test]
fn the_lab_moves_out_of_every_net_the_policy_names() {
    for nets in OVERLAPPING {
        let rs = policy_of(nets);
        let lab = choose(&rs, None);
        assert_eq!(lab.note, None, "{nets:?}");
        assert_ne!(lab.client, lab.far, "{nets:?}");
        let topo = design::topology(&rs, None);
        for l in topo.links.iter().chain(&topo.far_links) {
            for v4 in [true, false] {
                for a in [l.host_addr(v4), l.client_addr(v4)] {
                    assert!(
                        !in_nets(&rs, a),
                        "{nets:?}: lab address {a} in a policy net"
                    );
                }
            }
        }
    }
}

#[test]
fn no_extra_probe_address_is_inside_the_lab() {
    for nets in OVERLAPPING {
        let rs = policy_of(nets);
        let plan = super::super::plan(&rs, None, &Default::default()).expect("plan");
        let topo = &plan.topo;
        for e in topo.endpoints.iter().chain(&topo.far_endpoints) {
            if !e.base {
                assert!(
                    !topo.lab.reserved(e.addr),
                    "{nets:?}: {} is in the lab",
                    e.addr
                );
            }
        }
        // Every net is still probed from inside (none is a lab range any more).
        assert!(topo.unprobed.is_empty(), "{nets:?}: {:?}", topo.unprobed);
    }
}

#[test]
fn the_against_rulesets_nets_move_the_lab_too() {
    let plain = policy_of(&["203.0.113.0/24"]);
    let against = policy_of(&["198.18.0.0/24", "fd00:6877::/64"]);
    let lab = choose(&plain, Some(&against));
    for a in ["198.18.0.1", "fd00:6877::1"] {
        assert!(!lab.reserved(a.parse().expect("addr")), "{a}: {lab:?}");
    }
    assert!(choose(&plain, None).reserved("198.18.0.1".parse().expect("addr")));
}

#[test]
fn nets_covering_every_candidate_put_the_lab_inside_them_and_say_so() {
    let rs = policy_of(&[
        "0.0.0.0/0",
        "::/0",
        "10.0.0.0/8",
        "198.18.0.0/24",
        "fd00:6877::/64",
    ]);
    let lab = choose(&rs, None);
    let note = lab.note.clone().expect("a note");
    assert!(note.contains("on purpose"), "{note}");
    // Inside the nets, but never where one of them draws a boundary.
    for a in ["198.18.0.1", "10.0.0.1", "fd00:6877::1"] {
        assert!(!lab.reserved(a.parse().expect("addr")), "{a}: {lab:?}");
    }
    let plan = super::super::plan(&rs, None, &Default::default()).expect("plan");
    for e in plan.topo.endpoints.iter().filter(|e| !e.base) {
        assert!(!plan.topo.lab.reserved(e.addr), "{}", e.addr);
    }
}

#[test]
fn default_policies_keep_the_default_ranges() {
    let rs = policy_of(&["203.0.113.0/24", "2001:db8::/32"]);
    let lab = choose(&rs, None);
    assert_eq!(lab.client.v4_addr(0, 1).to_string(), "198.18.0.1");
    assert_eq!(lab.far.v4_addr(3, 2).to_string(), "198.19.3.2");
    assert_eq!(lab.client.v6_addr(1, 2).to_string(), "fd00:6877:0:1::2");
    assert_eq!(lab.far.v6_addr(0, 1).to_string(), "fd00:6877:1::1");
    assert_eq!(lab.note, None);
}
