//! The sysctl step made to fail: a sysctl tree (`--sysctl-root`, `ApplyOptions::sysctl_root`)
//! whose IPv4 forwarding file can be written and whose IPv6 one cannot (immutable, which
//! stops root too), and a ruleset that turns both on.

use crate::ir::{Ruleset, Sysctl, SysctlSetting};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A sysctl tree whose IPv4 forwarding file is writable and whose IPv6 one is immutable;
/// both hold `0` to begin with. Made mutable again when dropped.
pub struct SysctlTree(tempfile::TempDir);

impl SysctlTree {
    pub fn new() -> SysctlTree {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for p in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap_or(Path::new("/")))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&f, "0\n").unwrap_or_else(|e| panic!("{e}"));
        }
        let t = SysctlTree(d);
        let st = Command::new("chattr").arg("+i").arg(t.v6()).status();
        assert!(st.is_ok_and(|s| s.success()), "chattr +i failed");
        t
    }

    /// The tree's root, as the sysctl root to give.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// The file `p` under the root (empty when unreadable).
    pub fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.0.path().join(p)).unwrap_or_default()
    }

    fn v6(&self) -> PathBuf {
        self.0.path().join("net/ipv6/conf/all/forwarding")
    }
}

impl Drop for SysctlTree {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.v6()).status();
    }
}

/// `rs` with IPv4 and IPv6 forwarding turned on.
pub fn forwarding(mut rs: Ruleset) -> Ruleset {
    rs.sysctls = [Sysctl::Ipv4Forward, Sysctl::Ipv6Forward]
        .into_iter()
        .map(|key| SysctlSetting {
            key,
            value: true,
            origin: None,
        })
        .collect();
    rs
}
