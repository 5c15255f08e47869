//! Other firewall services that can wipe or override hostwall's table, found from files
//! and processes under a root directory (never by asking systemd, only reading its
//! files): nftables.service enabled with a `flush ruleset` configuration, and a running
//! firewalld.

use std::io::Read;
use std::path::{Path, PathBuf};

/// nftables.service's configuration files: Debian's, then RHEL's.
const NFT_CONFIGS: [&str; 2] = ["etc/nftables.conf", "etc/sysconfig/nftables.conf"];
/// Largest nftables configuration file read.
const CONFIG_LIMIT: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rival {
    /// nftables.service is enabled and its configuration flushes the whole ruleset.
    NftablesFlush { config: PathBuf, line: usize },
    /// firewalld is running.
    Firewalld { pid: u32 },
}

impl std::fmt::Display for Rival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rival::NftablesFlush { config, line } => write!(
                f,
                "nftables.service is enabled and {}:{line} says `flush ruleset`: each time it \
                 starts or restarts it deletes hostwall's table with every other one (run \
                 `hostwall apply` after it, or remove that line)",
                config.display()
            ),
            Rival::Firewalld { pid } => write!(
                f,
                "firewalld is running (pid {pid}): its own table filters the same packets, so \
                 traffic this policy allows may still be refused (run one of the two)"
            ),
        }
    }
}

/// Every rival found under `root` (`/` on a real host).
pub fn find(root: &Path) -> Vec<Rival> {
    let mut found = Vec::new();
    if nftables_enabled(root) {
        found.extend(
            NFT_CONFIGS
                .iter()
                .map(|c| root.join(c))
                .find_map(|c| flush_line(&c).map(|line| Rival::NftablesFlush { config: c, line })),
        );
    }
    found.extend(firewalld_pid(root).map(|pid| Rival::Firewalld { pid }));
    found
}

/// Whether some target wants nftables.service (a link in a `*.wants` directory of
/// /etc/systemd/system) and the unit is not masked.
fn nftables_enabled(root: &Path) -> bool {
    let units = root.join("etc/systemd/system");
    let masked = std::fs::read_link(units.join("nftables.service"))
        .is_ok_and(|t| t == Path::new("/dev/null"));
    let Ok(dirs) = std::fs::read_dir(&units) else {
        return false;
    };
    !masked
        && dirs.flatten().any(|d| {
            d.file_name().to_string_lossy().ends_with(".wants")
                && std::fs::symlink_metadata(d.path().join("nftables.service")).is_ok()
        })
}

/// The 1-based line of the first uncommented `flush ruleset` in `config`.
fn flush_line(config: &Path) -> Option<usize> {
    let file = std::fs::File::open(config).ok()?;
    let mut text = String::new();
    file.take(CONFIG_LIMIT).read_to_string(&mut text).ok()?;
    text.lines()
        .position(|l| {
            let code = l.split('#').next().unwrap_or("");
            code.split(';').any(|s| {
                let words: Vec<&str> = s.split_whitespace().collect();
                words == ["flush", "ruleset"]
            })
        })
        .map(|i| i + 1)
}

/// The system D-Bus socket (its default address, before and after /var/run became /run).
const SYSTEM_BUS: [&str; 2] = [
    "run/dbus/system_bus_socket",
    "var/run/dbus/system_bus_socket",
];

/// Present exactly while systemd's firewalld unit is active.
const FIREWALLD_UNIT_ACTIVE: &str = "run/systemd/units/invocation:firewalld.service";

/// Where firewalld's packages install the daemon (Debian, RHEL; `sbin` for roots
/// without a merged /usr) and where a build from source puts it.
const FIREWALLD_BINS: [&str; 4] = [
    "usr/sbin/firewalld",
    "sbin/firewalld",
    "usr/local/sbin/firewalld",
    "usr/bin/firewalld",
];

/// The pid of a running firewalld: a process whose command name is `firewalld`. The
/// process table is read only when firewalld may be running, since the scan costs an
/// open and a read per process (1.5 ms for 66 processes here, more on a busy host) on
/// every apply. It is not read
/// - when no firewalld is installed;
/// - without a system D-Bus socket: firewalld connects to the system bus before anything
///   else and exits when it cannot;
/// - under systemd (it keeps `/run/systemd/system`) unless the firewalld unit is active,
///   which systemd marks with the link `/run/systemd/units/invocation:firewalld.service`
///   from the unit's start until it is inactive again. An older systemd, without
///   `/run/systemd/units`, keeps no such links, and there the table is read. A firewalld
///   started by hand on a systemd host, outside its unit, is not seen.
fn firewalld_pid(root: &Path) -> Option<u32> {
    if !FIREWALLD_BINS.iter().any(|b| root.join(b).exists()) {
        return None;
    }
    if !SYSTEM_BUS.iter().any(|b| root.join(b).exists()) {
        return None;
    }
    if root.join("run/systemd/system").is_dir()
        && root.join("run/systemd/units").is_dir()
        && std::fs::symlink_metadata(root.join(FIREWALLD_UNIT_ACTIVE)).is_err()
    {
        return None;
    }
    let procs = std::fs::read_dir(root.join("proc")).ok()?;
    procs.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        (command_name(&p.path().join("comm"))? == b"firewalld".as_slice()).then_some(pid)
    })
}

/// A process's command name (`comm`: at most 15 bytes and a newline), in one read.
fn command_name(comm: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 32];
    let n = std::fs::File::open(comm).ok()?.read(&mut buf).ok()?;
    let name = &buf[..n];
    Some(name.strip_suffix(b"\n").unwrap_or(name).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }

    fn enable(root: &Path, wants: &str) {
        let d = root.join("etc/systemd/system").join(wants);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(
            "/lib/systemd/system/nftables.service",
            d.join("nftables.service"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A root where firewalld is installed and a system bus runs, and pid 977 is named
    /// `firewalld`.
    fn firewalld_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(d.path(), "usr/sbin/firewalld", "#!/usr/bin/python3\n");
        write(d.path(), SYSTEM_BUS[0], "");
        write(d.path(), "proc/977/comm", "firewalld\n");
        d
    }

    const DEBIAN_STOCK: &str = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n";

    #[test]
    fn an_enabled_nftables_service_that_flushes_is_found_with_its_line() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(d.path(), "etc/nftables.conf", DEBIAN_STOCK);
        assert_eq!(find(d.path()), vec![], "not enabled: no warning");
        enable(d.path(), "sysinit.target.wants");
        let found = find(d.path());
        assert_eq!(
            found,
            vec![Rival::NftablesFlush {
                config: d.path().join("etc/nftables.conf"),
                line: 3
            }]
        );
        assert!(
            found[0]
                .to_string()
                .contains("nftables.conf:3 says `flush ruleset`")
        );
        // Masked: never started, whatever wants it.
        std::os::unix::fs::symlink(
            "/dev/null",
            d.path().join("etc/systemd/system/nftables.service"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find(d.path()), vec![]);
    }

    #[test]
    fn a_commented_or_table_only_flush_is_not_a_ruleset_flush() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        enable(d.path(), "multi-user.target.wants");
        write(
            d.path(),
            "etc/sysconfig/nftables.conf",
            "# flush ruleset\nflush table inet filter\ninclude \"/etc/nftables/main.nft\"\n",
        );
        assert_eq!(find(d.path()), vec![]);
        write(
            d.path(),
            "etc/sysconfig/nftables.conf",
            "add table inet x; flush ruleset # go\n",
        );
        assert_eq!(find(d.path()).len(), 1);
    }

    #[test]
    fn a_firewalld_process_is_found_by_its_command_name() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(d.path(), "usr/sbin/firewalld", "#!/usr/bin/python3\n");
        write(d.path(), SYSTEM_BUS[0], "");
        write(d.path(), "proc/1/comm", "systemd\n");
        write(d.path(), "proc/self/comm", "firewalld\n");
        write(d.path(), "proc/812/comm", "firewalld-helper\n");
        write(d.path(), "proc/813/comm", "firewalld2\n");
        assert_eq!(find(d.path()), vec![]);
        write(d.path(), "proc/977/comm", "firewalld\n");
        assert_eq!(find(d.path()), vec![Rival::Firewalld { pid: 977 }]);
    }

    #[test]
    fn without_firewalld_installed_the_process_table_is_not_read() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(d.path(), "proc/977/comm", "firewalld\n");
        write(d.path(), SYSTEM_BUS[0], "");
        assert_eq!(find(d.path()), vec![], "not installed: nothing read");
        for bin in FIREWALLD_BINS {
            let b = d.path().join(bin);
            write(d.path(), bin, "#!/usr/bin/python3\n");
            assert_eq!(find(d.path()), vec![Rival::Firewalld { pid: 977 }], "{bin}");
            std::fs::remove_file(b).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn under_systemd_the_process_table_is_read_only_while_the_firewalld_unit_is_active() {
        let d = firewalld_root();
        std::fs::create_dir_all(d.path().join("run/systemd/system"))
            .unwrap_or_else(|e| panic!("{e}"));
        let found = vec![Rival::Firewalld { pid: 977 }];
        assert_eq!(find(d.path()), found, "a systemd without unit links: read");
        let units = d.path().join("run/systemd/units");
        std::fs::create_dir_all(&units).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find(d.path()), vec![], "unit inactive: nothing read");
        std::os::unix::fs::symlink(
            "5f7c2a0d7b0e4a8e9a2f3c1d0e9b8a7c",
            units.join("invocation:firewalld.service"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find(d.path()), vec![Rival::Firewalld { pid: 977 }]);
    }

    #[test]
    fn without_a_system_bus_the_process_table_is_not_read() {
        let d = firewalld_root();
        std::fs::remove_file(d.path().join(SYSTEM_BUS[0])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            find(d.path()),
            vec![],
            "no system bus: firewalld cannot run"
        );
        for bus in SYSTEM_BUS {
            write(d.path(), bus, "");
            assert_eq!(find(d.path()), vec![Rival::Firewalld { pid: 977 }], "{bus}");
            std::fs::remove_file(d.path().join(bus)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
