//! A reusable harness for booted-system tests: a Debian 12 root built once and
//! cached outside the repository ([`Root`]), booted with systemd as PID 1 in
//! its own pid, mount, net, uts and ipc namespaces with the freshly built
//! `hostwall` inside ([`boot`]), a probe script's output and the journal
//! collected, and everything torn down on every path. See docs/boot-tests.md.

mod boot;
mod cgroup;
mod root;

pub use boot::{BootOutput, BootSpec, Machine, boot};
pub use root::Root;

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the root failed ({status}); log {log}:\n{tail}")]
    Build {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("processes of the boot outlived it: cgroups {cgroups:?} are not empty")]
    Leak { cgroups: Vec<PathBuf> },
    #[error("the boot did not power off within {after:?}\n{}", output.explain())]
    Timeout {
        after: Duration,
        output: Box<BootOutput>,
    },
}

impl HarnessError {
    pub fn io(path: &Path, source: std::io::Error) -> HarnessError {
        HarnessError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A script of `boot-tests/sh/`.
fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("boot-tests/sh")
        .join(name)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
