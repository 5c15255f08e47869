//! The .deb on a booted Debian 12: `dpkg -i` installs it disabled (no table, no
//! forwarding, the unit neither enabled nor active), and once `hostwall init` has
//! written the policy and the unit is enabled, the next boot has the table live, forwarding on, the
//! man pages and completions in place and `hostwall diff` in sync.

use crate::harness::{self, BootSpec};
use crate::package_build;

const INSTALL: &str = r#"
set -u
dpkg -i /hostwall-test/hostwall.deb >/tmp/dpkg.log 2>&1; echo "dpkg_rc=$?"
sed 's/^/dpkg: /' /tmp/dpkg.log
echo "enabled=$(systemctl is-enabled hostwall.service 2>&1)"
echo "active=$(systemctl is-active hostwall.service 2>&1)"
if nft list table inet hostwall >/dev/null 2>&1; then echo table=present; else echo table=absent; fi
echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
hostwall init >/tmp/init.log 2>&1; echo "init_rc=$?"
sed 's/^/init: /' /tmp/init.log
test -f /etc/hostwall/host.policy && echo policy=written
hostwall check >/dev/null 2>&1; echo "check_rc=$?"
systemctl enable hostwall.service 2>&1; echo "enable_rc=$?"
"#;

const BOOTED: &str = r#"
set -u
echo "active=$(systemctl is-active hostwall.service 2>&1)"
nft list table inet hostwall | grep -c 'tcp dport @allow_tcp accept' | sed 's/^/ssh_rule=/'
echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "which=$(command -v hostwall)"
test -f /lib/systemd/system/hostwall.service && echo unit=/lib/systemd/system/hostwall.service
hostwall --version | sed 's/^/version=/'
if command -v man >/dev/null; then
    man -w hostwall-apply | sed 's/^/man=/'
else
    zcat /usr/share/man/man8/hostwall-apply.8.gz | grep -c '^\.TH hostwall-apply 8' | sed 's/^/man_th=/'
fi
for f in /usr/share/bash-completion/completions/hostwall \
    /usr/share/zsh/vendor-completions/_hostwall \
    /usr/share/fish/vendor_completions.d/hostwall.fish; do
    grep -q apply "$f" && echo "completion=$f"
done
hostwall diff >/dev/null 2>&1; echo "diff_rc=$?"
"#;

/// libvirtd's default network turns `ip_forward` on by itself; masked, forwarding
/// is on at the second boot only because hostwall.service applied the policy.
fn mask_libvirt(upper: &std::path::Path) {
    let dir = upper.join("etc/systemd/system");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for unit in [
        "libvirtd.service",
        "libvirtd.socket",
        "libvirtd-ro.socket",
        "libvirtd-admin.socket",
        "libvirt-guests.service",
    ] {
        std::os::unix::fs::symlink("/dev/null", dir.join(unit))
            .unwrap_or_else(|e| panic!("masking {unit}: {e}"));
    }
}

#[test]
#[ignore = "needs root"]
fn deb_installs_disabled_and_applies_the_policy_at_the_next_boot() {
    crate::support::root::require();
    let deb = package_build::deb();
    let bytes = std::fs::read(&deb).unwrap_or_else(|e| panic!("{}: {e}", deb.display()));
    let root = crate::root();
    let mut machine = harness::Machine::new(&root, "deb").unwrap_or_else(|e| panic!("{e}"));
    mask_libvirt(&machine.upper());
    let mut install = BootSpec::new("deb", INSTALL).file("hostwall.deb", bytes);
    install.with_hostwall = false;
    let first = machine.boot(&install).unwrap_or_else(|e| panic!("{e}"));
    let why = first.explain();
    let log = &first.probe_log;
    for line in [
        "dpkg_rc=0",
        "enabled=disabled",
        "active=inactive",
        "table=absent",
        "forward=0",
        "init_rc=0",
        "policy=written",
        "check_rc=0",
        "enable_rc=0",
        "is installed but not enabled",
    ] {
        assert!(log.contains(line), "after dpkg -i, no `{line}`: {why}");
    }
    let mut check = BootSpec::new("deb", BOOTED);
    check.with_hostwall = false;
    let second = machine.boot(&check).unwrap_or_else(|e| panic!("{e}"));
    let why = second.explain();
    let log = &second.probe_log;
    for line in [
        "active=active",
        "ssh_rule=1",
        "forward=1",
        "which=/usr/sbin/hostwall",
        "unit=/lib/systemd/system/hostwall.service",
        "version=hostwall ",
        "completion=/usr/share/bash-completion/completions/hostwall",
        "completion=/usr/share/zsh/vendor-completions/_hostwall",
        "completion=/usr/share/fish/vendor_completions.d/hostwall.fish",
        "diff_rc=0",
    ] {
        assert!(log.contains(line), "at the next boot, no `{line}`: {why}");
    }
    assert!(
        log.contains("man_th=1") || log.contains("man=/usr/share/man/man8/hostwall-apply.8.gz"),
        "no hostwall-apply(8): {why}"
    );
    assert!(second.journal.contains("hostwall.service"), "{why}");
}
