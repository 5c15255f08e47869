//! Every template fitted to every kind of host checks clean; the fitting itself.

use super::*;
use crate::test_util::assert_contains;

fn net(bridge: &str, name: Option<&str>, mode: &str) -> Network {
    Network {
        bridge: bridge.into(),
        name: name.map(str::to_string),
        mode: mode.into(),
        routes: matches!(mode, "nat" | "route"),
    }
}

fn hosts() -> Vec<Found> {
    let ssh = |ports: Vec<u16>, source| Ports { ports, source };
    vec![
        Found {
            ssh: ssh(vec![22], Source::NotFound),
            networks: vec![],
        },
        Found {
            ssh: ssh(vec![22, 2222], Source::Config("/usr/sbin/sshd".into())),
            networks: vec![net("virbr0", Some("default"), "nat")],
        },
        Found {
            ssh: ssh(vec![443], Source::Sockets),
            networks: vec![
                net("br-lab", Some("lab"), "isolated"),
                net("virbr3", None, "nat"),
                net("xbr", Some("routed"), "route"),
            ],
        },
    ]
}

#[test]
fn every_template_fitted_to_every_host_checks_clean() {
    for t in TEMPLATE_NAMES {
        for found in hosts() {
            if let Err(e) = build(t, &found) {
                panic!("{t} with {found:?}: {e}");
            }
        }
    }
    assert!(matches!(
        build("kvm", &hosts()[0]),
        Err(InitError::UnknownTemplate { .. })
    ));
}

#[test]
fn ssh_ports_replace_the_templates_rule_and_keep_its_conditions() {
    let found = &hosts()[2];
    let f = build("migration-net", found).unwrap_or_else(|e| panic!("{e}"));
    assert_contains(
        &f.policy,
        "    allow tcp 443 from mgmt  # sshd listens here (its listening sockets)\n",
    );
    assert!(!f.policy.contains("allow  ssh"), "{}", f.policy);
    // Not a virbr* bridge: its own rules; a virbr* one: the template's.
    assert_contains(&f.policy, "allow dns  udp 53 tcp 53 on \"br-lab\"");
    assert_contains(&f.policy, "allow dhcp udp 67, 547 on \"xbr\"");
    assert!(!f.policy.contains("on \"virbr3\""));
    // migration-net says nothing of forwarding; two networks route.
    assert_contains(
        &f.policy,
        "    forwarding on  # bridge virbr3 (no libvirt XML names it), libvirt network routed (route, xbr) route guests through the host\n",
    );
    assert_contains(&f.site, "migration = [\"192.168.50.0/24\"]");
    let f = build("kvm-host", &hosts()[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_contains(
        &f.policy,
        "allow ssh tcp 22  # sshd was not found: port 22 assumed",
    );
    assert_eq!(
        f.policy.matches("\n    forwarding on").count(),
        1,
        "{}",
        f.policy
    );
}

#[test]
fn nothing_is_overwritten_without_force_and_the_modes_are_set() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = d.path().join("etc/hostwall");
    let files = build("kvm-host", &hosts()[1]).unwrap_or_else(|e| panic!("{e}"));
    let written = write(&dir, &files, false).unwrap_or_else(|e| panic!("{e}"));
    for p in &written {
        let mode = std::fs::metadata(p).map(|m| m.permissions().mode() & 0o7777);
        assert_eq!(mode.ok(), Some(MODE), "{}", p.display());
    }
    std::fs::write(&written[0], "mine").unwrap_or_else(|e| panic!("{e}"));
    let again = write(&dir, &files, false);
    assert!(
        matches!(&again, Err(InitError::Exists(p)) if *p == written[0]),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&written[0]).ok().as_deref(),
        Some("mine")
    );
    write(&dir, &files, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_to_string(&written[0]).ok(),
        Some(files.policy)
    );
}
