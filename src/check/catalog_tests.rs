//! Unit tests of the catalog: lookup by alias, descriptions, unknown-name help.

use super::*;

#[test]
fn describes_catalog_entries_as_policy_text() {
    let dns = builtin("dns").map(|b| b.ports).unwrap_or(&[]);
    assert_eq!(describe("dns", dns), "catalog: dns is udp 53 tcp 53");
    let v = builtin("vdsm-reg").map(|b| b.ports).unwrap_or(&[]);
    assert_eq!(ports_text(v), "tcp 80, 443");
}

#[test]
fn every_name_and_alias_is_unique_and_finds_its_entry() {
    let mut seen = std::collections::HashSet::new();
    for n in builtin_names() {
        assert!(seen.insert(n), "{n} twice");
        assert!(builtin(n).is_some(), "{n}");
        assert!(
            firewalld_only(n).is_none(),
            "{n} is carried and listed as not carried"
        );
    }
    assert_eq!(builtin("libvirt-tcp").map(|b| b.name), Some("libvirt"));
    assert_eq!(
        builtin("libvirt-tcp").map(|b| b.ports),
        builtin("libvirt").map(|b| b.ports)
    );
}

/// The fifteen names of the first catalog keep their ports (goldens and policies rely on
/// them) and stay fixed; later entries are open to a policy's own definition.
#[test]
fn the_first_catalog_names_keep_their_ports_and_stay_fixed() {
    use crate::model::Proto::{Tcp, Udp};
    let first: &[(&str, Ports)] = &[
        ("ssh", &[(Tcp, 22, 22)]),
        ("vdsm-reg", &[(Tcp, 80, 80), (Tcp, 443, 443)]),
        ("spice", &[(Tcp, 5634, 6166)]),
        ("kvm-migration", &[(Tcp, 49152, 49216)]),
        ("libvirt-tls", &[(Tcp, 16514, 16514)]),
        ("libvirt-tcp", &[(Tcp, 16509, 16509)]),
        ("vnc", &[(Tcp, 5900, 5999)]),
        ("dns", &[(Udp, 53, 53), (Tcp, 53, 53)]),
        ("dhcp", &[(Udp, 67, 67), (Udp, 547, 547)]),
        ("http", &[(Tcp, 80, 80)]),
        ("https", &[(Tcp, 443, 443)]),
        ("nfs", &[(Tcp, 2049, 2049)]),
        ("iscsi", &[(Tcp, 3260, 3260)]),
        ("ntp", &[(Udp, 123, 123)]),
        ("snmp", &[(Udp, 161, 161)]),
    ];
    for (name, ports) in first {
        let b = builtin(name).unwrap_or_else(|| panic!("{name} is gone"));
        assert_eq!(b.ports, *ports, "{name}");
        assert!(b.fixed(), "{name}");
    }
    for n in ["cockpit", "ceph", "glusterfs", "syslog"] {
        assert!(builtin(n).is_some_and(|b| !b.fixed()), "{n}");
    }
}

#[test]
fn unknown_names_are_pointed_at_firewalld_equivalents() {
    let help = |n: &str| {
        let index = crate::check::suggest::NameIndex::new(builtin_names());
        unknown_service_help(n, index.suggest(n))
    };
    assert_eq!(help("libvirtd"), "did you mean `libvirt`?");
    assert_eq!(help("zabbix-agnet"), "did you mean `zabbix-agent`?");
    let pg = help("postgresql");
    assert!(pg.contains("firewalld service (tcp 5432)"), "{pg}");
    assert!(pg.contains("`service postgresql tcp 5432`"), "{pg}");
    let near = help("postgresq");
    assert!(
        near.starts_with("did you mean firewalld's `postgresql`?"),
        "{near}"
    );
    let odd = help("mdns");
    assert!(
        odd.contains("destination") && odd.contains("`service mdns udp 5353` (its ports only)"),
        "{odd}"
    );
    assert!(help("qqqqqqqq").starts_with("define it"));
    let ipsec = help("ipsec");
    assert!(
        ipsec.contains("(ah esp udp 500, 4500 tcp 4500)") && ipsec.contains("tcp PORT"),
        "{ipsec}"
    );
    let bacula = help("bacula");
    assert!(
        bacula.ends_with("`service bacula tcp 9101, 9102, 9103`"),
        "{bacula}"
    );
}

/// Checks a policy body; the rendered diagnostics and the compiled ruleset as nft text.
fn run(body: &str) -> (String, Option<String>) {
    use crate::check::{NoIncludes, check};
    use crate::diag::{Color, render};
    let mut map = crate::source::SourceMap::new();
    let f = map.add("p", format!("policy t {{\n{body}\n}}\n"));
    let (p, d) = check(&mut map, f, None, &NoIncludes);
    let text = p.map(|p| crate::emit::text::render(&crate::compile::compile(&p), "p"));
    (render(&map, &d, Color::Never), text)
}

/// A policy that defined a name the catalog gained keeps its own meaning: no error, the
/// same table as before the name was built in, and a warning only when the ports differ.
#[test]
fn a_policy_service_named_like_a_newer_entry_keeps_its_meaning() {
    let (diags, mine) = run("service ceph tcp 3300, 6800-7300\nallow ceph");
    assert!(mine.is_some(), "{diags}");
    assert!(
        diags.contains("W0001") && diags.contains("catalog: ceph is tcp 6800-7300"),
        "{diags}"
    );
    let (_, ports) = run("allow tcp 3300, 6800-7300");
    assert_eq!(strip_comments(&mine), strip_comments(&ports));
    let (diags, _) = run("service cockpit tcp 9090\nallow cockpit");
    assert_eq!(diags, "");
    let (diags, _) = run("service syslog udp 514 tcp 514\nallow syslog from 10.0.0.0/8");
    assert!(diags.contains("W0001"), "{diags}");
    let (diags, text) = run("service iscsi tcp 3260\nallow iscsi");
    assert!(diags.contains("E0304") && text.is_none(), "{diags}");
    let (diags, text) = run("service libvirt-tcp tcp 16509");
    assert!(diags.contains("E0304") && text.is_none(), "{diags}");
}

#[test]
fn an_alias_compiles_like_its_entry() {
    let (d1, a) = run("allow libvirt-tcp from 192.0.2.0/24");
    let (d2, b) = run("allow tcp 16509 from 192.0.2.0/24");
    assert_eq!((d1.as_str(), d2.as_str()), ("", ""));
    assert_eq!(strip_comments(&a), strip_comments(&b));
    let (d, _) = run("allow libvirtd");
    assert!(
        d.contains("E0101") && d.contains("did you mean `libvirt`?"),
        "{d}"
    );
    let (d, _) = run("allow nagios-nrpe");
    assert!(d.contains("E0101"), "{d}");
}

fn strip_comments(t: &Option<String>) -> String {
    let t = t.as_deref().unwrap_or("none");
    t.lines()
        .map(|l| l.split(" comment ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}
