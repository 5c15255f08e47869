//! Issue #11 item 2: `hostwall init` through the binary, on fake hosts: sshd found by a
//! PATH stub's `sshd -T`, by its listening sockets, or not at all; libvirt networks from
//! fake network XML and /proc/net/dev. The written files are pinned by goldens under
//! tests/data/init/CASE/ and must `check` clean; nothing is overwritten without --force.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fake host: a system root, a PATH directory and a configuration directory.
pub struct FakeHost {
    pub dir: tempfile::TempDir,
}

impl FakeHost {
    pub fn new() -> FakeHost {
        let h = FakeHost {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for d in ["root", "bin", "etc"] {
            std::fs::create_dir(h.dir.path().join(d)).expect("mkdir");
        }
        h
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("etc/hostwall")
    }

    /// A file under the fake root.
    pub fn file(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// An `sshd` on the PATH that runs `script` (sh).
    pub fn sshd(&self, script: &str) {
        let p = self.dir.path().join("bin/sshd");
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// `hostwall ARGS` on the fake host (`--system-root` for init only).
    pub fn hostwall(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostwall"));
        c.args(args);
        if args.first() == Some(&"init") {
            c.arg("--system-root").arg(self.root());
        }
        c.arg("--config-dir")
            .arg(self.config())
            .env("PATH", self.dir.path().join("bin"))
            .output()
            .expect("run hostwall")
    }

    /// stderr with the fake host's directory as `HOST`.
    pub fn stderr(&self, o: &Output) -> String {
        String::from_utf8_lossy(&o.stderr).replace(&self.dir.path().display().to_string(), "HOST")
    }

    /// Runs `init ARGS`, expects success, compares both files and the report with
    /// tests/data/init/CASE, and checks the written policy clean.
    pub fn init_matches(&self, case: &str, args: &[&str]) {
        let mut full = vec!["init"];
        full.extend_from_slice(args);
        let o = self.hostwall(&full);
        assert_eq!(o.status.code(), Some(0), "{}", self.stderr(&o));
        let want = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/init")
            .join(case);
        std::fs::create_dir_all(&want).expect("mkdir");
        let mut errs = Vec::new();
        for f in ["host.policy", "site.toml"] {
            let got = std::fs::read_to_string(self.config().join(f)).expect("written");
            errs.extend(crate::support::golden::compare(&want.join(f), &got).err());
        }
        errs.extend(crate::support::golden::compare(&want.join("stderr"), &self.stderr(&o)).err());
        assert!(errs.is_empty(), "{}", errs.join("\n"));
        let c = self.hostwall(&["check"]);
        let err = String::from_utf8_lossy(&c.stderr).into_owned();
        assert_eq!(c.status.code(), Some(0), "{err}");
        assert!(err.ends_with("host.policy: ok\n"), "not clean: {err}");
    }
}

const DEFAULT_NET: &str = "<network>\n  <name>default</name>\n  <uuid>9d1c5f3e-0000-4000-8000-000000000001</uuid>\n  <forward mode='nat'/>\n  <bridge name='virbr0' stp='on' delay='0'/>\n  <ip address='192.168.122.1' netmask='255.255.255.0'>\n    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>\n  </ip>\n</network>\n";
const LAB_NET: &str = "<networkstatus>\n  <class_id bitmap='0-3'/>\n  <network>\n    <name>lab</name>\n    <bridge name='br-lab'/>\n    <ip address='10.77.0.1' prefix='24'><dhcp><range start='10.77.0.10' end='10.77.0.99'/></dhcp></ip>\n  </network>\n</networkstatus>\n";
const PROC_NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n  eth0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\nvirbr0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\nvirbr5:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n";

#[test]
fn init_fits_sshd_t_ports_and_every_libvirt_bridge_issue11() {
    let h = FakeHost::new();
    h.sshd("[ \"$1\" = -T ] || exit 9\nprintf 'port 2222\\nport 22\\naddressfamily any\\nlistenaddress [::]:2222\\n'");
    h.file("etc/libvirt/qemu/networks/default.xml", DEFAULT_NET);
    h.file("var/lib/libvirt/network/lab.xml", LAB_NET);
    h.file("proc/net/dev", PROC_NET_DEV);
    h.init_matches("sshd-t-libvirt", &[]);
    h.init_matches(
        "sshd-t-libvirt-minimal",
        &["--template", "minimal-host", "--force"],
    );
}

#[test]
fn init_without_sshd_says_so_and_writes_port_22_with_a_comment_issue11() {
    let h = FakeHost::new();
    // An sshd that fails (as `sshd -T` does without host keys) and no sshd socket.
    h.sshd("echo 'sshd: no hostkeys available -- exiting.' >&2; exit 1");
    h.init_matches("no-sshd", &["--template", "migration-net"]);
    let policy = std::fs::read_to_string(h.config().join("host.policy")).expect("read");
    assert!(
        policy.contains("allow ssh tcp 22 from mgmt  # sshd was not found: port 22 assumed"),
        "{policy}"
    );
}

#[test]
fn init_reads_sshd_ports_from_its_listening_sockets_issue11() {
    let h = FakeHost::new();
    let row = |sl: u32, port: u16, st: &str, inode: u64| {
        format!(
            "  {sl:>2}: 00000000:{port:04X} 00000000:0000 {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
        )
    };
    let head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    // sshd listens on 7022 (v4) and 7023 (v6); cupsd on 631; a connection on 22.
    h.file(
        "proc/net/tcp",
        &format!(
            "{head}{}{}{}",
            row(0, 7022, "0A", 5001),
            row(1, 631, "0A", 5002),
            row(2, 22, "01", 5003)
        ),
    );
    h.file(
        "proc/net/tcp6",
        &format!("{head}{}", row(0, 7023, "0A", 5004)),
    );
    h.file("proc/700/comm", "sshd\n");
    h.file("proc/701/comm", "cupsd\n");
    std::fs::create_dir_all(h.root().join("proc/700/fd")).expect("mkdir");
    std::fs::create_dir_all(h.root().join("proc/701/fd")).expect("mkdir");
    for (pid, fd, inode) in [
        (700, 3, 5001),
        (700, 4, 5004),
        (701, 5, 5002),
        (700, 6, 5003),
    ] {
        std::os::unix::fs::symlink(
            format!("socket:[{inode}]"),
            h.root().join(format!("proc/{pid}/fd/{fd}")),
        )
        .expect("ln");
    }
    h.init_matches("sshd-sockets", &["--template", "libvirt-nat"]);
}

#[test]
fn init_never_overwrites_without_force_and_names_the_templates_issue11() {
    let h = FakeHost::new();
    std::fs::create_dir_all(h.config()).expect("mkdir");
    std::fs::write(h.config().join("site.toml"), "table = \"mine\"\n").expect("write");
    let o = h.hostwall(&["init"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        h.stderr(&o).ends_with("hostwall: error: HOST/etc/hostwall/site.toml exists; `hostwall init --force` replaces it\n"),
        "{}",
        h.stderr(&o)
    );
    assert!(!h.config().join("host.policy").exists(), "nothing written");
    assert_eq!(
        std::fs::read_to_string(h.config().join("site.toml"))
            .ok()
            .as_deref(),
        Some("table = \"mine\"\n")
    );
    let o = h.hostwall(&["init", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", h.stderr(&o));
    let o = h.hostwall(&["init", "--template", "kvm"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("[possible values: kvm-host, libvirt-nat, migration-net, minimal-host]"),
        "{err}"
    );
    let help = h.hostwall(&["init", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for t in ["kvm-host", "libvirt-nat", "migration-net", "minimal-host"] {
        assert!(help.contains(&format!("  {t} ")), "{t}: {help}");
    }
}

/// The real OpenSSH server (`openssh-server`, installed by .ci/run): its `sshd -T` output
/// with a configuration of our own (two ports) is read, run through a wrapper that gives
/// it the privilege separation directory in a private mount namespace (/run stays the
/// host's); the same sshd without that directory fails, and init says sshd was not found.
#[test]
#[ignore = "needs root"]
fn init_reads_the_real_openssh_sshd_t_issue11() {
    crate::support::root::require();
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.exists(),
        "this test runs the real OpenSSH server: apt-get install openssh-server"
    );
    let key = ["ed25519", "ecdsa", "rsa"]
        .iter()
        .map(|k| format!("/etc/ssh/ssh_host_{k}_key"))
        .find(|p| Path::new(p).exists())
        .expect("openssh-server generates host keys");
    let h = FakeHost::new();
    let cfg = h.dir.path().join("sshd_config");
    std::fs::write(&cfg, format!("Port 2200\nPort 2201\nHostKey {key}\n")).expect("write");
    h.sshd(&format!(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexec unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -f {} \"$@\"' sshd \"$@\"",
        cfg.display()
    ));
    let o = h.hostwall(&["init", "--template", "minimal-host"]);
    assert_eq!(o.status.code(), Some(0), "{}", h.stderr(&o));
    assert!(
        h.stderr(&o)
            .contains("  sshd: tcp 2200, 2201 (`sshd -T`)\n"),
        "{}",
        h.stderr(&o)
    );
    let policy = std::fs::read_to_string(h.config().join("host.policy")).expect("read");
    assert!(
        policy.contains("    allow tcp 2200, 2201 from mgmt  # sshd listens here (`sshd -T`)\n"),
        "{policy}"
    );
    // Without /run/sshd (a host where sshd never ran) `sshd -T` fails: not found.
    h.sshd(&format!(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexec unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec /usr/sbin/sshd -f {} \"$@\"' sshd \"$@\"",
        cfg.display()
    ));
    let o = h.hostwall(&["init", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", h.stderr(&o));
    assert!(h.stderr(&o).contains("sshd: not found"), "{}", h.stderr(&o));
}
