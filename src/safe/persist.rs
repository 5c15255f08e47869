//! `apply --persist`: the sysctl.d drop-in that makes the policy's forwarding setting
//! survive a reboot (systemd-sysctl applies it early at boot, before the boot service).
//!
//! The drop-in lists exactly the forwarding sysctls the policy states (`on` -> 1,
//! `off` -> 0), so an explicit `forwarding off` also wins over a lower-numbered drop-in
//! that turns forwarding on. A policy that states no forwarding setting leaves the
//! sysctls alone at apply time, so the drop-in is removed: hostwall then asserts nothing.

use super::{Error, atomic_write, remove_durably};
use crate::ir::{Ruleset, SysctlSetting};
use std::path::Path;

/// Where the drop-in goes by default. `90-` so it sorts after distribution defaults
/// (`10-`..`50-`) but before the admin's own `99-sysctl.conf`.
pub const DEFAULT_DROPIN: &str = "/etc/sysctl.d/90-hostwall.conf";

/// What [`persist`] did to the drop-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persisted {
    Written,
    /// Already held exactly this content: not rewritten.
    Unchanged,
    Removed,
    /// No setting to persist and no file to remove.
    Absent,
}

/// The drop-in text for `sysctls`, `None` when there is nothing to persist.
pub fn render(sysctls: &[SysctlSetting], policy: &str) -> Option<String> {
    if sysctls.is_empty() {
        return None;
    }
    let mut out = format!(
        "# Written by `hostwall apply --persist` from {policy}; do not edit.\n\
         # Removed again by `hostwall apply --persist` with a policy that sets no forwarding.\n"
    );
    for s in sysctls {
        out.push_str(&format!("{} = {}\n", s.key.name(), u8::from(s.value)));
    }
    Some(out)
}

/// Writes (atomically, mode 0644) or removes the drop-in at `path` to match the
/// forwarding settings of `rs`.
pub fn persist(rs: &Ruleset, policy: &str, path: &Path) -> Result<Persisted, Error> {
    match render(&rs.sysctls, policy) {
        Some(text) => {
            if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
                return Ok(Persisted::Unchanged);
            }
            atomic_write(path, text.as_bytes(), 0o644)?;
            Ok(Persisted::Written)
        }
        None if remove_durably(path)? => Ok(Persisted::Removed),
        None => Ok(Persisted::Absent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Family, Sysctl, Table};

    fn ruleset(sysctls: Vec<SysctlSetting>) -> Ruleset {
        Ruleset {
            table: Table {
                family: Family::Inet,
                name: "hostwall".into(),
                sets: vec![],
                chains: vec![],
            },
            sysctls,
        }
    }

    fn setting(key: Sysctl, value: bool) -> SysctlSetting {
        SysctlSetting {
            key,
            value,
            origin: None,
        }
    }

    #[test]
    fn writes_states_and_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("90-hostwall.conf");
        let on = ruleset(vec![
            setting(Sysctl::Ipv4Forward, true),
            setting(Sysctl::Ipv6Forward, false),
        ]);
        assert_eq!(
            persist(&on, "host.policy", &path).ok(),
            Some(Persisted::Written)
        );
        let text = std::fs::read_to_string(&path).expect("written");
        assert!(text.starts_with("# Written by `hostwall apply --persist` from host.policy"));
        assert!(text.ends_with("net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 0\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(
            persist(&on, "host.policy", &path).ok(),
            Some(Persisted::Unchanged)
        );

        let none = ruleset(vec![]);
        assert_eq!(
            persist(&none, "host.policy", &path).ok(),
            Some(Persisted::Removed)
        );
        assert!(!path.exists());
        assert_eq!(
            persist(&none, "host.policy", &path).ok(),
            Some(Persisted::Absent)
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }
}
