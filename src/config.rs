//! The configuration conventions: which policy and site file a command uses when the
//! command line names none (`/etc/hostwall/host.policy`, `/etc/hostwall/site.toml`).

use std::path::{Path, PathBuf};

/// Where an installed host keeps its policy and site file.
pub const DEFAULT_DIR: &str = "/etc/hostwall";
/// The default policy's file name inside the configuration directory.
pub const POLICY_FILE: &str = "host.policy";
/// The default site file's name inside the configuration directory.
pub const SITE_FILE: &str = "site.toml";

/// What a command does when no policy is named and the configuration directory has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Read-only commands (`compile`, `check`, `fmt`, `verify`, `explain`): the built-in
    /// kvm-host policy, with a note naming it.
    Builtin,
    /// Commands that change or judge the kernel (`apply`, `diff`): refuse.
    Refuse,
}

/// The files a command reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The policy file (`-`: standard input); `None` is the built-in kvm-host policy.
    pub policy: Option<PathBuf>,
    /// The site file, if any.
    pub site: Option<PathBuf>,
    /// One line for the user when a default was taken in place of a missing file.
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "no policy: write {} (`hostwall init`) or name one",
        .0.display()
    )]
    NoPolicy(PathBuf),
}

/// The policy and site file of a command: the ones named, else the configuration
/// directory's when something is there (a file that is there but unreadable is an error
/// later, never a silent fallback), else the built-in policy or a refusal.
pub fn choose(
    dir: &Path,
    policy: Option<&Path>,
    site: Option<&Path>,
    fallback: Fallback,
) -> Result<Chosen, ConfigError> {
    let site = site
        .map(Path::to_path_buf)
        .or_else(|| Some(dir.join(SITE_FILE)).filter(|p| present(p)));
    if let Some(p) = policy {
        return Ok(Chosen {
            policy: Some(p.to_path_buf()),
            site,
            note: None,
        });
    }
    let default = dir.join(POLICY_FILE);
    if present(&default) {
        return Ok(Chosen {
            policy: Some(default),
            site,
            note: None,
        });
    }
    match fallback {
        Fallback::Refuse => Err(ConfigError::NoPolicy(default)),
        Fallback::Builtin => Ok(Chosen {
            policy: None,
            site,
            note: Some(format!(
                "no {}: using the built-in kvm-host policy (`hostwall init` writes one)",
                default.display()
            )),
        }),
    }
}

/// Whether anything is at `path` (a dangling symlink or a file in an unreadable
/// directory counts: reading it then reports why it cannot be used).
fn present(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn named_files_win_and_the_directory_fills_in_the_rest() {
        let d = dir();
        std::fs::write(d.path().join(SITE_FILE), "").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.path().join(POLICY_FILE), "").unwrap_or_else(|e| panic!("{e}"));
        let named = Path::new("/x/p.policy");
        let c = choose(d.path(), Some(named), None, Fallback::Refuse);
        assert_eq!(
            c,
            Ok(Chosen {
                policy: Some(named.into()),
                site: Some(d.path().join(SITE_FILE)),
                note: None
            })
        );
        let c = choose(d.path(), None, Some(Path::new("s.toml")), Fallback::Refuse);
        assert_eq!(
            c,
            Ok(Chosen {
                policy: Some(d.path().join(POLICY_FILE)),
                site: Some("s.toml".into()),
                note: None
            })
        );
    }

    #[test]
    fn an_empty_directory_means_builtin_with_a_note_or_a_refusal() {
        let d = dir();
        let c = choose(d.path(), None, None, Fallback::Builtin).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.policy, c.site), (None, None));
        let note = c.note.unwrap_or_default();
        assert!(note.contains("built-in kvm-host"), "{note}");
        assert!(note.contains(&d.path().join(POLICY_FILE).display().to_string()));
        let e = choose(d.path(), None, None, Fallback::Refuse);
        assert_eq!(e, Err(ConfigError::NoPolicy(d.path().join(POLICY_FILE))));
        let text = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.starts_with("no policy: write "), "{text}");
        assert!(text.ends_with("(`hostwall init`) or name one"), "{text}");
    }

    #[test]
    fn a_dangling_symlink_is_a_policy_that_fails_to_read_not_a_fallback() {
        let d = dir();
        std::os::unix::fs::symlink("/nonexistent/p", d.path().join(POLICY_FILE))
            .unwrap_or_else(|e| panic!("{e}"));
        let c = choose(d.path(), None, None, Fallback::Builtin).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.policy, Some(d.path().join(POLICY_FILE)));
        assert_eq!(c.note, None);
    }
}
