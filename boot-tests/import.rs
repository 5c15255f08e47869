//! `hostwall import firewalld` proven against the real firewalld daemon: one boot of
//! the shared root with firewalld.service enabled in the machine's layer (libvirt masked
//! there, so the daemon's ruleset is the only one) runs firewalld under systemd on each
//! of the five configurations `firewall-offline-cmd` builds (`support::firewalld::SETUPS`),
//! on two that firewalld reads unlike the obvious way (`QUIRKS`: a `firewalld.conf` it
//! falls back from, interface dispatch order and wildcards), and on one made through the running daemon over D-Bus (`firewall-cmd --permanent`,
//! `--reload`: `support::firewalld::RUNTIME`), capturing `nft list ruleset` each time
//! (`import/probe.sh`). Outside the boot, each configuration directory is imported and the
//! policy verified `--against` the daemon's ruleset with real packets.

use crate::harness::{BootOutput, BootSpec, Machine};
use crate::support::firewalld::{self, Comparison, Setup};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PROBE: &str = include_str!("import/probe.sh");

/// Units the machine's layer masks: libvirtd would add its own tables and, with
/// firewalld running, put virbr0 in firewalld's `libvirt` zone.
const MASKED: &[&str] = &[
    "libvirtd.service",
    "libvirtd.socket",
    "libvirtd-ro.socket",
    "libvirtd-admin.socket",
    "libvirt-guests.service",
    "virtlogd.service",
    "virtlogd.socket",
    "virtlockd.service",
    "virtlockd.socket",
];

/// Every file under `dir` as (`prefix/relative path`, contents).
fn files_of(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries.flatten() {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            files_of(&e.path(), &name, out);
        } else {
            let data = std::fs::read(e.path()).unwrap_or_else(|err| panic!("{name}: {err}"));
            out.push((name, data));
        }
    }
}

/// The machine's layer before it boots: `first` is its /etc/firewalld, firewalld.service
/// is enabled (as `systemctl enable` links it), libvirt's units are masked.
fn prepare_layer(upper: &Path, first: &Path) {
    let mut files = Vec::new();
    files_of(first, "etc/firewalld", &mut files);
    for (name, data) in files {
        let path = upper.join(name);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let units = upper.join("etc/systemd/system");
    let wants = units.join("multi-user.target.wants");
    std::fs::create_dir_all(&wants).expect("mkdir");
    let unit = "/lib/systemd/system/firewalld.service";
    let link = |target: &str, at: PathBuf| {
        std::os::unix::fs::symlink(target, &at).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
    };
    link(unit, wants.join("firewalld.service"));
    link(
        unit,
        units.join("dbus-org.fedoraproject.FirewallD1.service"),
    );
    for m in MASKED {
        link("/dev/null", units.join(m));
    }
}

/// The daemon's capture of `setup`: it exists, holds firewalld's table and only that,
/// with a chain for the setup's default zone that the zone dispatch jumps to.
fn captured(out: &BootOutput, dir: &Path, setup: &Setup) -> PathBuf {
    let nft_path = dir.join(setup.name).join("ruleset.nft");
    let nft = std::fs::read_to_string(&nft_path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", nft_path.display(), out.explain()));
    let tables: Vec<&str> = nft.lines().filter(|l| l.starts_with("table ")).collect();
    assert_eq!(
        tables,
        ["table inet firewalld {"],
        "{}: not the daemon's ruleset alone:\n{nft}",
        setup.name
    );
    let zone = format!("goto filter_IN_{}", setup.default_zone);
    assert!(
        nft.contains(&format!("chain filter_IN_{} {{", setup.default_zone)) && nft.contains(&zone),
        "{}: no `{zone}` in the daemon's ruleset:\n{nft}",
        setup.name
    );
    let line = out
        .probe_log
        .lines()
        .find(|l| l.starts_with(&format!("CAPTURED {} ", setup.name)))
        .unwrap_or_else(|| panic!("{}: not captured\n{}", setup.name, out.explain()));
    assert!(
        line.contains("unit=active") && line.contains(&format!("default={} ", setup.default_zone)),
        "{}: {line}",
        setup.name
    );
    nft_path
}

fn report(name: &str, c: &Comparison) -> String {
    format!(
        "  {name:<24} {} probes, {} passed, {} listed by the import (+{} ports only to a `to` destination), {} reset vs admin-prohibited (+{} over IPv6 TCP)\n",
        c.probes,
        c.passed,
        c.listed,
        c.to_destinations,
        c.prohibited_for_refused,
        c.v6_tcp_timeout_for_refused
    )
}

#[test]
#[ignore = "needs root"]
fn firewalld_daemon_rulesets_match_imported_policies_packet_by_packet_issue13() {
    crate::support::root::require();
    let started = Instant::now();
    let root = crate::root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let setups: Vec<&Setup> = (firewalld::SETUPS.iter())
        .chain(firewalld::QUIRKS)
        .collect();
    let configs: Vec<PathBuf> = (setups.iter())
        .map(|s| firewalld::build(s, tmp.path()))
        .collect();
    let runtime_start = firewalld::conf_only(&firewalld::RUNTIME, &tmp.path().join("start"));
    let mut m = Machine::new(&root, "firewalld").unwrap_or_else(|e| panic!("{e}"));
    prepare_layer(&m.upper(), &configs[0]);
    let mut spec = BootSpec::new("firewalld", PROBE);
    spec.with_hostwall = false;
    spec.timeout = Duration::from_secs(300);
    let order: Vec<&str> = setups.iter().map(|s| s.name).collect();
    spec = spec
        .file("order", order.join("\n") + "\n")
        .file("runtime.sh", firewalld::runtime_script(&firewalld::RUNTIME));
    for (s, etc) in setups.iter().zip(&configs) {
        files_of(etc, &format!("configs/{}", s.name), &mut spec.files);
    }
    files_of(&runtime_start, "configs/runtime-dbus", &mut spec.files);
    let out = m.boot(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.probe_rc, Some(0), "{}", out.explain());
    assert!(
        (out.probe_log.lines())
            .any(|l| l == "BOOTED firewalld enabled=enabled active=active libvirtd=inactive"),
        "firewalld did not start at boot under systemd:\n{}",
        out.explain()
    );
    let booted = started.elapsed();
    let dir = m.out_dir();
    let mut problems = Vec::new();
    let mut table = String::new();
    for (s, etc) in setups.iter().zip(&configs) {
        let rules = captured(&out, &dir, s);
        let c = firewalld::compare(s.name, etc, &rules, tmp.path());
        table.push_str(&report(s.name, &c));
        problems.extend(c.problems);
    }
    let rt = &firewalld::RUNTIME;
    let rules = captured(&out, &dir, rt);
    let written = dir.join("runtime-dbus/etc");
    let nft = std::fs::read_to_string(&rules).expect("ruleset");
    assert!(
        written.join("zones/mgmt.xml").exists() && nft.contains("chain filter_IN_mgmt {"),
        "the zone made over D-Bus is not in the daemon's files or ruleset:\n{nft}"
    );
    let c = firewalld::compare(rt.name, &written, &rules, tmp.path());
    table.push_str(&report(rt.name, &c));
    problems.extend(c.problems);
    eprintln!(
        "firewalld daemon vs import ({:.1?} to boot and capture, {:.1?} in all):\n{table}",
        booted,
        started.elapsed()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
