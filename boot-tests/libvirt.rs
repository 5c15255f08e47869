//! Real libvirt under each built-in policy: a booted root runs
//! libvirtd with its `default` NAT network; `libvirt/probe.sh` applies the
//! policy and measures a guest's DHCP lease, its DNS answers over UDP and TCP,
//! NAT out to a world namespace, and the host's protection, after boot, after
//! `virsh net-destroy/net-start default` and after `systemctl restart libvirtd`.
//! The pre-fix kvm-host is the control: the same checks must see its failures.

use crate::harness::{self, BootOutput, BootSpec};
use std::collections::BTreeMap;
use std::time::Duration;

const PROBE: &str = include_str!("libvirt/probe.sh");
const DHCLIENT_CONF: &str = include_str!("libvirt/dhclient.conf");
const V6_NETWORK: &str = include_str!("libvirt/v6net.xml");

/// kvm-host as shipped before issue #10: nothing for the guests on virbr*.
const KVM_HOST_WITHOUT_GUEST_RULES: &str = "policy kvm-host {
    default reject
    forwarding on
    allow icmp
    allow ssh           tcp 22
    allow vdsm-reg      tcp 80, 443
    allow spice         tcp 5634-6166
    allow kvm-migration tcp 49152-49216
}
";

const PHASES: &[&str] = &["boot", "net-restart", "libvirtd-restart"];

/// What one policy must show in every phase: (check, outcome).
fn expected(policy: &str) -> Vec<(&'static str, &'static str)> {
    let guests_served = policy != "kvm-host-without-guest-rules";
    let served = if guests_served { "ok" } else { "fail" };
    // default drop times out; default reject refuses
    let closed = if policy == "minimal-host" {
        "timeout"
    } else {
        "refused"
    };
    // minimal-host and migration-net allow ssh from the management network only
    let ssh_other = match policy {
        "minimal-host" | "migration-net" => closed,
        _ => "connected",
    };
    let mut checks = vec![
        ("dhcp", served),
        ("dhcp6", served),
        ("dns-udp", served),
        ("dns-tcp", served),
        ("nat", "ok"),
        ("ssh-mgmt", "connected"),
        ("ssh-other", ssh_other),
        ("db-world", closed),
        ("diff", "in-sync"),
        ("forward", "ip_forward=1"),
    ];
    if policy == "libvirt-nat" {
        // The test's second network, virbr1, is isolated: libvirt's LIBVIRT_FWO rejects
        // what leaves it, which `allow in "virbr*" from guests` allows. diff says so.
        checks.retain(|(c, _)| *c != "diff");
        checks.push(("diff", "defeated"));
        // The real libvirt reproduced in verify's lab: nothing fails.
        checks.push(("verify-live", "pass"));
    }
    if policy == "libvirt-nat-8000" {
        // libvirt's LIBVIRT_FWI rejects what the added line allows: measured with real
        // packets, named by explain and by diff (exit 1, summary "defeated: ..."),
        // and failed by verify --with-live-tables.
        checks.retain(|(c, _)| *c != "diff");
        checks.extend([
            ("diff", "defeated"),
            ("port8000", "refused"),
            ("explain", "rejected-LIBVIRT_FWI"),
            ("verify-live", "defeated-8000-only"),
        ]);
    }
    checks
}

/// `RESULT phase check outcome detail` lines → (phase, check) → (outcome, detail).
fn results(log: &str) -> BTreeMap<(String, String), (String, String)> {
    log.lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (phase, check, outcome) = (w.next()?, w.next()?, w.next()?);
            let detail = w.collect::<Vec<_>>().join(" ");
            Some((
                (phase.to_string(), check.to_string()),
                (outcome.to_string(), detail),
            ))
        })
        .collect()
}

fn run(policy: &str, text: &str, site: Option<&str>) {
    crate::support::root::require();
    let root = crate::root();
    let mut spec = BootSpec::new(policy, PROBE)
        .file("policy", text)
        .file("dhclient.conf", DHCLIENT_CONF)
        .file("v6net.xml", V6_NETWORK);
    if let Some(site) = site {
        spec = spec.file("site.toml", site);
    }
    if policy.starts_with("libvirt-nat") {
        spec = spec.file("live-checks", "");
    }
    spec.timeout = Duration::from_secs(240);
    let out = harness::boot(&root, &spec).unwrap_or_else(|e| panic!("{policy}: {e}"));
    check(policy, &out);
}

fn check(policy: &str, out: &BootOutput) {
    let got = results(&out.probe_log);
    let why = out.explain();
    let mut wrong = Vec::new();
    let mut table = format!("{policy} ({:.1?} boot and probe)\n", out.elapsed);
    if got.keys().any(|(_, c)| c == "network") {
        wrong.push("libvirt's default network did not come up".to_string());
    }
    for phase in PHASES {
        table.push_str(&format!("  {phase:<17}"));
        for (check, want) in expected(policy) {
            let key = (phase.to_string(), check.to_string());
            let (outcome, detail) = got.get(&key).cloned().unwrap_or_default();
            table.push_str(&format!(" {check}={outcome}"));
            if outcome != want {
                wrong.push(format!("{phase} {check}: {outcome} {detail} (want {want})"));
            }
        }
        table.push('\n');
    }
    eprintln!("{table}");
    assert!(
        wrong.is_empty(),
        "{policy}:\n{}\n\n{table}\n{why}",
        wrong.join("\n")
    );
    assert_eq!(out.probe_rc, Some(0), "{policy}: {why}");
}

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

fn shipped(name: &str) -> String {
    let path = format!("{POLICIES}/{name}.policy");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
#[ignore = "needs root"]
fn libvirt_guests_work_under_kvm_host_issue10() {
    run("kvm-host", &shipped("kvm-host"), None);
}

#[test]
#[ignore = "needs root"]
fn libvirt_guests_work_under_minimal_host_issue10() {
    run("minimal-host", &shipped("minimal-host"), None);
}

#[test]
#[ignore = "needs root"]
fn libvirt_guests_work_under_migration_net_issue10() {
    let site = format!("{POLICIES}/migration-net.site.toml");
    let site = std::fs::read_to_string(&site).unwrap_or_else(|e| panic!("{site}: {e}"));
    run("migration-net", &shipped("migration-net"), Some(&site));
}

#[test]
#[ignore = "needs root"]
fn libvirt_guests_work_under_libvirt_nat_issue10() {
    run("libvirt-nat", &shipped("libvirt-nat"), None);
}

/// libvirt-nat plus `allow tcp 8000 out "virbr*" to guests`, which libvirt's own
/// LIBVIRT_FWI refuses: the issue's port-8000 row, re-measured with the real libvirt.
#[test]
#[ignore = "needs root"]
fn libvirt_fwi_defeats_port_8000_and_verify_with_live_tables_fails_issue10() {
    crate::support::root::require();
    let base = shipped("libvirt-nat");
    let text = base.replace(
        "allow out \"virbr*\" to guests established  # and only replies back in",
        "allow out \"virbr*\" to guests established  # and only replies back in\n        allow tcp 8000 out \"virbr*\" to guests",
    );
    assert_ne!(text, base, "the forward rule was added");
    run("libvirt-nat-8000", &text, None);
}

/// The control: the checks see the failures the issue reported.
#[test]
#[ignore = "needs root"]
fn kvm_host_without_guest_rules_cuts_off_dhcp_and_dns_issue10() {
    run(
        "kvm-host-without-guest-rules",
        KVM_HOST_WITHOUT_GUEST_RULES,
        None,
    );
}
