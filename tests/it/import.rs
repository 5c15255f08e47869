//! `hostwall import firewalld` on configurations built with the real
//! `firewall-offline-cmd`: what each policy says, what is listed as not expressed (with
//! its file:line:col), exit codes, and malformed input. The packet-by-packet comparison
//! with firewalld's own ruleset is `netns-tests/import.rs`.

use crate::support::{cli, firewalld};
use std::path::Path;

fn import(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["import", "firewalld", dir.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let o = cli::hostwall(&args);
    (o.status.code(), cli::text(&o.stdout), cli::text(&o.stderr))
}

/// The lines each configuration's policy must hold, and what must be listed.
fn expected(name: &str) -> (i32, &'static [&'static str], &'static [&'static str]) {
    match name {
        "public-virt-host" => (
            0,
            &[
                "default reject",
                "    allow cockpit\n",
                "    allow libvirt-tls\n",
                "    allow vdsm\n",
                "    allow tcp 8443\n",
                "    reject icmp echo-request from 0.0.0.0/0",
                "    reject icmpv6 echo-request",
                "    allow icmp  # firewalld's default target",
            ],
            &[],
        ),
        "mgmt-source-zone" => (
            0,
            &[
                "default drop",
                "    allow cockpit from 10.20.0.0/16\n",
                "    allow prometheus-node-exporter from 10.20.0.0/16\n",
                "    allow zabbix-agent from 10.20.0.0/16\n",
                "    reject from 10.20.0.0/16  # the zone's target",
                "    allow ssh\n",
            ],
            &[],
        ),
        "storage-interface-zone" => (
            0,
            &[
                "default drop",
                "    allow nfs on \"eth1\"",
                "    allow iscsi-target on \"eth1\"",
                "    allow rpc-bind on \"eth1\"",
                "    reject on \"eth1\"  # the zone's target",
                "    allow ssh\n",
            ],
            &[],
        ),
        "rich-rules" => (
            0,
            &[
                "    allow libvirt from 198.18.0.0/24 log prefix \"libvirt \" level info\n",
                "    reject tcp 22 from 198.18.0.2/32",
                "    allow http from 2001:db8::/32",
                "    drop from 192.0.2.7/32",
                "    allow https to 192.0.2.1/32\n",
            ],
            &[],
        ),
        "custom-service-and-nat" => (
            1,
            &[
                "service myapp tcp 9443 udp 9444-9445",
                "    allow myapp\n",
                "    allow dhcpv6-client to fe80::/64\n",
            ],
            &[
                "<masquerade/>: masquerading (NAT)",
                "<forward-port port=\"80\" protocol=\"tcp\" to-port=\"8080\"/>",
            ],
        ),
        other => panic!("no expectations for {other}"),
    }
}

/// Five configurations made by firewall-offline-cmd import to policies that say what
/// firewalld's zones say, check clean of errors, and list (file:line:col) what they leave out.
#[test]
fn firewall_offline_cmd_configurations_import_and_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut problems = Vec::new();
    for s in firewalld::SETUPS {
        let etc = firewalld::build(s, tmp.path());
        let out = tmp.path().join(format!("{}.policy", s.name));
        let (code, stdout, stderr) = import(&etc, &["-o", out.to_str().expect("utf-8")]);
        let policy = std::fs::read_to_string(&out).unwrap_or_default();
        let (want_code, lines, listed) = expected(s.name);
        if code != Some(want_code) || !stdout.is_empty() {
            problems.push(format!(
                "{}: exit {code:?}, want {want_code}\n{stderr}",
                s.name
            ));
        }
        for l in lines.iter().filter(|l| !policy.contains(*l)) {
            problems.push(format!("{}: no {l:?} in\n{policy}", s.name));
        }
        for l in listed.iter().filter(|l| !stderr.contains(*l)) {
            problems.push(format!("{}: {l:?} is not listed in\n{stderr}", s.name));
        }
        for line in stderr
            .lines()
            .filter(|l| l.starts_with("hostwall: not expressed: "))
        {
            let at = line.trim_start_matches("hostwall: not expressed: ");
            let ok = at.starts_with(etc.to_str().unwrap_or("-")) && has_line_col(at);
            if !ok {
                problems.push(format!(
                    "{}: not at file:line:col in {etc:?}: {line}",
                    s.name
                ));
            }
        }
        let check = cli::hostwall(&["check", out.to_str().expect("utf-8")]);
        if check.status.code() != Some(0) {
            problems.push(format!(
                "{}: check fails:\n{}",
                s.name,
                cli::text(&check.stderr)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Policies made by `firewall-offline-cmd --new-policy`: the one from ANY to HOST is
/// imported before the zones; the forward and egress ones are listed at their place.
#[test]
fn firewalld_policies_are_imported_or_listed_issue13() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = firewalld::build(&firewalld::POLICIES[0], tmp.path());
    let (code, policy, stderr) = import(&etc, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let at = |l: &str| {
        policy
            .find(l)
            .unwrap_or_else(|| panic!("{l:?} not in\n{policy}"))
    };
    let order = [
        "    # policy hostin: ANY to HOST, priority -1",
        "    reject tcp 7778 from 198.18.0.0/24  # rich rule\n",
        "    allow tcp 7777\n",
        "    # zone public",
    ];
    let places: Vec<usize> = order.iter().map(|l| at(l)).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "{policy}");
    let dir = etc.join("policies").display().to_string();
    for want in [
        format!("{dir}/fwd.xml:2:1: policy fwd: a policy from internal to external"),
        format!("{dir}/egress.xml:2:1: policy egress: a policy from HOST to ANY"),
    ] {
        assert!(stderr.contains(&want), "{want}\n{stderr}");
    }
    assert!(!stderr.contains("hostin.xml"), "{stderr}");
    assert!(
        !policy.contains("http") && !policy.contains("dns"),
        "{policy}"
    );
}

/// `path:LINE:COL: ` after the file name.
fn has_line_col(at: &str) -> bool {
    let mut parts = at.splitn(4, ':');
    let (_, line, col) = (parts.next(), parts.next(), parts.next());
    line.is_some_and(|l| l.parse::<u32>().is_ok_and(|n| n > 0))
        && col.is_some_and(|c| c.parse::<u32>().is_ok_and(|n| n > 0))
}

/// A zone or service file that is not well-formed firewalld XML: every error at once, with
/// file:line:col, nothing written, exit 2.
#[test]
fn malformed_files_are_errors_at_their_place_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path();
    std::fs::create_dir_all(etc.join("zones")).expect("mkdir");
    std::fs::create_dir_all(etc.join("services")).expect("mkdir");
    std::fs::write(
        etc.join("zones/public.xml"),
        "<zone>\n  <service name=\"ssh\">\n</zone>\n",
    )
    .expect("w");
    std::fs::write(
        etc.join("zones/work.xml"),
        "<zone target=\"MAYBE\">\n  <interface name=\"eth3\"/>\n</zone>\n",
    )
    .expect("w");
    std::fs::write(
        etc.join("services/mine.xml"),
        "<service>\n  <port protocol=\"tcp\" port=\"99999\"/>\n</service>\n",
    )
    .expect("w");
    let out = etc.join("out.policy");
    let (code, stdout, stderr) = import(etc, &["-o", out.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty() && !out.exists());
    let public = format!(
        "{}:3:1: not well-formed XML",
        etc.join("zones/public.xml").display()
    );
    assert!(stderr.contains(&public), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:1:1: unknown zone target `MAYBE`",
            etc.join("zones/work.xml").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:2:3: `99999` is not a port",
            etc.join("services/mine.xml").display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

/// Hand-written zones: a service nobody defines, a rule with a rate limit, a custom
/// service shadowing a stock one with other ports, and ICMP codes are each listed; the
/// policy is still written (stdout) and checks.
#[test]
fn what_has_no_form_is_listed_line_by_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path();
    std::fs::create_dir_all(etc.join("zones")).expect("mkdir");
    std::fs::create_dir_all(etc.join("services")).expect("mkdir");
    std::fs::write(etc.join("firewalld.conf"), "# comment\nDefaultZone=edge\n").expect("w");
    let zone = "<?xml version=\"1.0\"?>\n<zone target=\"DROP\">\n  <service name=\"nosuch\"/>\n  \
        <service name=\"ssh\"/>\n  <icmp-block name=\"host-prohibited\"/>\n  <protocol value=\"gre\"/>\n  \
        <rule family=\"ipv4\"><source address=\"192.0.2.0/24\"/><service name=\"ssh\"/><accept><limit value=\"3/m\"/></accept></rule>\n  \
        <source-port port=\"53\" protocol=\"udp\"/>\n</zone>\n";
    std::fs::write(etc.join("zones/edge.xml"), zone).expect("w");
    std::fs::write(
        etc.join("services/ssh.xml"),
        "<service>\n  <port protocol=\"tcp\" port=\"2222\"/>\n</service>\n",
    )
    .expect("w");
    let (code, stdout, stderr) = import(etc, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let z = etc.join("zones/edge.xml").display().to_string();
    for want in [
        format!("{z}:3:3: service nosuch: no service `nosuch`"),
        format!("{z}:4:3: service ssh: written as its ports (tcp 2222)"),
        format!("{z}:5:3: <icmp-block name=\"host-prohibited\"/>"),
        format!("{z}:6:3: <protocol value=\"gre\"/>"),
        format!("{z}:7:3: <rule family=\"ipv4\">"),
        format!("{z}:8:3: <source-port port=\"53\" protocol=\"udp\"/>"),
    ] {
        assert!(stderr.contains(&want), "{want}\n{stderr}");
    }
    assert!(stderr.contains("a rate limit on the action"), "{stderr}");
    assert!(
        stdout.contains("    allow tcp 2222\n") && stdout.contains("default drop"),
        "{stdout}"
    );
    assert!(!stdout.contains("allow ssh"), "{stdout}");
}

/// Input is bounded: a zone file over 1 MiB, or a directory that is not one, is refused
/// with its name and nothing is written (exit 2), without reading it whole.
#[test]
fn oversized_or_missing_input_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path();
    std::fs::create_dir_all(etc.join("zones")).expect("mkdir");
    let mut big = String::from("<zone>\n");
    while big.len() < (2 << 20) {
        big.push_str("  <service name=\"ssh\"/>\n");
    }
    big.push_str("</zone>\n");
    std::fs::write(etc.join("zones/public.xml"), big).expect("w");
    let (code, stdout, stderr) = import(etc, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stdout.is_empty() && stderr.contains("zones/public.xml"),
        "{stderr}"
    );
    let (code, _, stderr) = import(&etc.join("nope"), &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nope: not a directory"), "{stderr}");
}
