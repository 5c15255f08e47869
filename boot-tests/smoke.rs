//! The harness itself: systemd is PID 1 and reaches its running state, the
//! fresh `hostwall` writes a policy with `init` and applies it inside the boot's own
//! network namespace, the boot
//! leaves nothing behind on the host (ruleset, cgroups, processes), and a
//! machine keeps its disk across reboots but not its journal.

use crate::harness::{self, BootSpec};

const PROBE: &str = r#"
set -u
echo "pid1=$(cat /proc/1/comm)"
echo "state=$(systemctl is-system-running --wait)"
systemctl --failed --no-legend --plain | sed 's/^/failed: /'
/hostwall-test/hostwall init --config-dir /run/hostwall-etc >/dev/null 2>&1 &&
  /hostwall-test/hostwall apply --config-dir /run/hostwall-etc --state-dir /run/hostwall-test >/dev/null &&
  echo applied=yes
nft list table inet hostwall | grep -c 'tcp dport @allow_tcp accept' | sed 's/^/ssh_rule=/'
echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
if echo 1 >/proc/sys/kernel/sysrq 2>/dev/null; then echo kernel_sysctl=writable; else echo kernel_sysctl=read-only; fi
"#;

/// The host's ruleset without its counters' and timeouts' moving values (`-s`).
fn host_ruleset() -> String {
    crate::support::nft::here_ok(&["-s", "list", "ruleset"], "")
}

#[test]
#[ignore = "needs root"]
fn booted_root_runs_systemd_and_hostwall_and_leaves_nothing_behind() {
    crate::support::root::require();
    let root = crate::root();
    let before = host_ruleset();
    let out =
        harness::boot(&root, &BootSpec::new("smoke", PROBE)).unwrap_or_else(|e| panic!("{e}"));
    let log = &out.probe_log;
    let why = out.explain();
    assert_eq!(out.probe_rc, Some(0), "{why}");
    assert!(log.contains("pid1=systemd"), "{why}");
    assert!(log.contains("state=running"), "{why}");
    assert!(
        log.contains("applied=yes") && log.contains("ssh_rule=1"),
        "{why}"
    );
    assert!(log.contains("forward=1"), "{why}");
    assert!(log.contains("kernel_sysctl=read-only"), "{why}");
    assert!(out.journal.contains("hostwall-probe.service"), "{why}");
    assert_eq!(
        host_ruleset(),
        before,
        "the boot changed the host's ruleset"
    );
    let leaked: Vec<_> = std::fs::read_dir("/sys/fs/cgroup/systemd")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_else(|_| Vec::<String>::new())
        .into_iter()
        .filter(|n| n.starts_with(&format!("hostwall-boot-smoke-{}", std::process::id())))
        .collect();
    assert!(leaked.is_empty(), "cgroups left: {leaked:?}");
    eprintln!("smoke boot: {:.1?}", out.elapsed);
}

const FIRST: &str = "echo first-boot-probe; mkdir -p /var/lib/hostwall-test; echo kept >/var/lib/hostwall-test/mark\n";
const SECOND: &str = "echo \"mark=$(cat /var/lib/hostwall-test/mark)\"; echo \"host=$(cat /var/lib/hostwall-test/from-host)\"\n";

/// A machine keeps its disk across boots (what boot-time service tests need)
/// while each boot's journal and results start empty.
#[test]
#[ignore = "needs root"]
fn a_machine_keeps_its_state_across_boots_and_not_its_journal() {
    crate::support::root::require();
    let root = crate::root();
    let mut machine = harness::Machine::new(&root, "reboot").unwrap_or_else(|e| panic!("{e}"));
    let first = machine
        .boot(&BootSpec::new("reboot", FIRST))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.probe_rc, Some(0), "{}", first.explain());
    let from_host = machine.upper().join("var/lib/hostwall-test/from-host");
    std::fs::write(&from_host, "written between boots\n").unwrap_or_else(|e| panic!("{e}"));
    let second = machine
        .boot(&BootSpec::new("reboot", SECOND))
        .unwrap_or_else(|e| panic!("{e}"));
    let why = second.explain();
    assert_eq!(second.probe_rc, Some(0), "{why}");
    assert!(second.probe_log.contains("mark=kept"), "{why}");
    assert!(
        second.probe_log.contains("host=written between boots"),
        "{why}"
    );
    assert!(!second.probe_log.contains("first-boot-probe"), "{why}");
    assert!(second.journal.contains("hostwall-probe.service"), "{why}");
    assert_eq!(
        second
            .journal
            .matches("Started hostwall-probe.service")
            .count(),
        1,
        "{why}"
    );
}

/// A probe that never ends: the boot is killed at its deadline, reported with
/// what it printed and its journal, and torn down like any other.
#[test]
#[ignore = "needs root"]
fn a_hung_probe_is_killed_at_the_deadline_and_torn_down() {
    crate::support::root::require();
    let root = crate::root();
    let mut spec = BootSpec::new("hung", "echo hung-probe-started; exec sleep 100000\n");
    spec.with_hostwall = false;
    spec.timeout = std::time::Duration::from_secs(20);
    let started = std::time::Instant::now();
    let err = match harness::boot(&root, &spec) {
        Ok(out) => panic!("a hung probe finished: {}", out.explain()),
        Err(e) => e,
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let harness::HarnessError::Timeout { output, .. } = &err else {
        panic!("not a timeout: {err}");
    };
    let why = output.explain();
    assert_eq!(output.probe_rc, None, "{why}");
    assert!(output.probe_log.contains("hung-probe-started"), "{why}");
    assert!(output.journal.contains("hostwall-probe.service"), "{why}");
    let pid = std::process::id();
    let ours = |dir: &str| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.starts_with("hostwall-boot-hung-") && n.ends_with(&format!("-{pid}"))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        ours("/sys/fs/cgroup/systemd") + ours("/sys/fs/cgroup/unified"),
        0
    );
}
