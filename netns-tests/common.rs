//! Shared helpers: the root check, and small builders for checked policies.

use hostwall::model::{
    Addrs, DefaultAction, Forwarding, IfName, IpFamily, Policy, PortRange, PortSpec, Proto, Rule,
    Settings, Traffic, Verdict,
};
use hostwall::source::Span;

/// True when the tests can create namespaces; otherwise prints why they skip.
pub fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0;
    if !ok {
        eprintln!("{test}: needs root: skipped because it creates network namespaces");
    }
    ok
}

pub fn ports(proto: Proto, ranges: &[(u16, u16)]) -> Traffic {
    Traffic::Ports(
        ranges
            .iter()
            .map(|&(lo, hi)| PortSpec {
                proto,
                range: PortRange { lo, hi },
                span: Span::default(),
            })
            .collect(),
    )
}

pub fn rule(verdict: Verdict, service: &str, traffic: Traffic) -> Rule {
    Rule {
        verdict,
        service: Some(service.to_string()),
        traffic,
        sources: None,
        destinations: None,
        iif: vec![],
        oif: vec![],
        established_only: false,
        counter: false,
        span: Span::default(),
    }
}

pub fn from(mut r: Rule, name: &str, nets: &[&str]) -> Rule {
    r.sources = Some(Addrs {
        name: Some(name.to_string()),
        nets: nets.iter().filter_map(|n| n.parse().ok()).collect(),
        span: Span::default(),
    });
    r
}

pub fn on(mut r: Rule, name: &str, wildcard: bool) -> Rule {
    r.iif.push(IfName {
        name: name.to_string(),
        wildcard,
    });
    r
}

pub fn policy(name: &str, input: Vec<Rule>) -> Policy {
    Policy {
        name: name.to_string(),
        span: Span::default(),
        default: DefaultAction::Reject,
        forwarding: Forwarding::default(),
        input,
        forward: None,
        forward_default: DefaultAction::Reject,
        log_rejected: None,
        count_rejected: false,
        settings: Settings::default(),
    }
}

/// The guide's virtualization host: icmp, ssh, vdsm-reg, spice, migration, forwarding on.
pub fn kvm_host() -> Policy {
    let icmp = |family| Traffic::Icmp {
        family,
        types: None,
    };
    let mut p = policy(
        "kvm-host",
        vec![
            rule(Verdict::Accept, "icmp", icmp(IpFamily::V4)),
            rule(Verdict::Accept, "icmpv6", icmp(IpFamily::V6)),
            rule(Verdict::Accept, "ssh", ports(Proto::Tcp, &[(22, 22)])),
            rule(
                Verdict::Accept,
                "vdsm-reg",
                ports(Proto::Tcp, &[(80, 80), (443, 443)]),
            ),
            rule(Verdict::Accept, "spice", ports(Proto::Tcp, &[(5634, 6166)])),
            rule(
                Verdict::Accept,
                "kvm-migration",
                ports(Proto::Tcp, &[(49152, 49216)]),
            ),
        ],
    );
    p.forwarding.ipv4 = Some((true, Span::default()));
    p
}

/// Serialises tests that count this process's namespaces (`hw-v-<pid>-*`),
/// so one test's live namespaces are not mistaken for another's leftovers.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Namespaces this process's verify runs created and did not remove.
pub fn our_namespaces() -> Vec<String> {
    let prefix = format!("hw-v-{}-", std::process::id());
    hostwall::netns::list()
        .expect("list /run/netns")
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Removes `ns` and creates a namespace of the same name again, trying for a few
/// seconds to get the nsfs inode number the old one had (the kernel hands a freed
/// namespace's number to the next new one once its cleanup ran). Returns the new
/// namespace and whether the number repeated; tests assert on behaviour either way.
pub fn recreate_same_name(ns: hostwall::netns::Netns) -> (hostwall::netns::Netns, bool) {
    let name = ns.name().to_string();
    let old = hostwall::nsid::inode_of(ns.path()).expect("nsfs inode");
    ns.remove().expect("remove namespace");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let fresh = hostwall::netns::Netns::create(&name).expect("same name again");
        let inode = hostwall::nsid::inode_of(fresh.path()).expect("nsfs inode");
        if inode == old || std::time::Instant::now() > end {
            eprintln!("{name}: recreated, nsfs inode repeated: {}", inode == old);
            return (fresh, inode == old);
        }
        fresh.remove().expect("remove namespace");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A private state directory for one test: owner-only, as the state directory's trust
/// rule requires (see `safe::trust`).
pub fn state_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod state dir");
    dir
}
