//! `hostwall init`: a policy and a commented site file for this host, from one of the
//! shipped templates (`policies/`), fitted to what the host runs: sshd's real ports,
//! DNS and DHCP on every libvirt bridge, forwarding when libvirt routes guests.
//! Nothing is written that does not check clean, and nothing is overwritten unless asked.

mod libvirt;
mod render;
mod sshd;

pub use libvirt::Network;
pub use sshd::{Ports, Source};

use std::path::{Path, PathBuf};

/// The templates: name, policy text, the site file it needs (if any).
const TEMPLATES: [(&str, &str, Option<&str>); 4] = [
    (
        "kvm-host",
        include_str!("../../policies/kvm-host.policy"),
        None,
    ),
    (
        "libvirt-nat",
        include_str!("../../policies/libvirt-nat.policy"),
        None,
    ),
    (
        "migration-net",
        include_str!("../../policies/migration-net.policy"),
        Some(include_str!("../../policies/migration-net.site.toml")),
    ),
    (
        "minimal-host",
        include_str!("../../policies/minimal-host.policy"),
        None,
    ),
];

/// The template names, for `--help` and errors.
pub const TEMPLATE_NAMES: [&str; 4] = ["kvm-host", "libvirt-nat", "migration-net", "minimal-host"];
/// The template used when none is named.
pub const DEFAULT_TEMPLATE: &str = "kvm-host";
/// Mode of both written files: root-owned, readable by all (a policy is no secret, and
/// `hostwall check` as a normal user keeps working), writable by the owner only.
pub const MODE: u32 = 0o644;

/// What `init` found on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub ssh: Ports,
    pub networks: Vec<Network>,
}

/// Where to look: the PATH for sshd, and the system root for /proc, /etc and /var.
pub struct Host<'a> {
    pub path_var: Option<&'a std::ffi::OsStr>,
    pub root: &'a Path,
}

/// Looks at the host.
pub fn survey(host: &Host<'_>) -> Found {
    Found {
        ssh: sshd::find(host.path_var, host.root),
        networks: libvirt::find(host.root),
    }
}

/// One line per finding, for the user and the policy's header.
pub fn report(found: &Found) -> Vec<String> {
    let ports: Vec<String> = found.ssh.ports.iter().map(u16::to_string).collect();
    let mut lines = vec![match &found.ssh.source {
        Source::Config(_) => format!("sshd: tcp {} (`sshd -T`)", ports.join(", ")),
        Source::Sockets => format!("sshd: tcp {} (its listening sockets)", ports.join(", ")),
        Source::NotFound => {
            "sshd: not found (no sshd on PATH, no sshd socket listening): port 22 assumed".into()
        }
    }];
    if found.networks.is_empty() {
        lines.push("libvirt: no network with a bridge found".into());
    }
    for n in &found.networks {
        lines.push(format!(
            "{}: DNS and DHCP from the host{}",
            render::label(n),
            if n.routes { ", forwarding needed" } else { "" }
        ));
    }
    lines
}

/// The two files `init` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    pub policy: String,
    pub site: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("unknown template {name:?}; the templates are: {known}")]
    UnknownTemplate { name: String, known: String },
    #[error("{} exists; `hostwall init --force` replaces it", .0.display())]
    Exists(PathBuf),
    #[error("the {template} template fitted to this host does not check clean:\n{diagnostics}")]
    NotClean {
        template: String,
        diagnostics: String,
    },
    #[error(transparent)]
    Write(#[from] crate::safe::Error),
}

/// The template fitted to `found`, checked: an error or warning in the result is
/// refused (it would be a defect of `init`, never the admin's to find at apply time).
pub fn build(template: &str, found: &Found) -> Result<Files, InitError> {
    let (_, text, site) = TEMPLATES
        .iter()
        .find(|(n, _, _)| *n == template)
        .ok_or_else(|| InitError::UnknownTemplate {
            name: template.to_string(),
            known: TEMPLATE_NAMES.join(", "),
        })?;
    let files = Files {
        policy: render::policy(template, text, found),
        site: render::site(template, *site),
    };
    let mut map = crate::source::SourceMap::new();
    let (_, diags) = crate::check::check_bytes(
        &mut map,
        ("host.policy", files.policy.as_bytes()),
        Some(("site.toml", files.site.as_bytes())),
        &NoIncludes,
    );
    if !diags.is_empty() {
        return Err(InitError::NotClean {
            template: template.to_string(),
            diagnostics: crate::diag::render(&map, &diags, crate::diag::Color::Never),
        });
    }
    Ok(files)
}

struct NoIncludes;

impl crate::check::Includes for NoIncludes {
    fn load(&self, _from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        Err(format!("{path}: templates include nothing"))
    }
}

/// Writes `dir/host.policy` and `dir/site.toml` (the directory is created when missing,
/// mode 0755), each atomically with [`MODE`]. Without `force`, refuses when either exists
/// and writes nothing. Returns the paths written.
pub fn write(dir: &Path, files: &Files, force: bool) -> Result<[PathBuf; 2], InitError> {
    let policy = dir.join(crate::config::POLICY_FILE);
    let site = dir.join(crate::config::SITE_FILE);
    if !force {
        for p in [&policy, &site] {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(InitError::Exists(p.clone()));
            }
        }
    }
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| crate::safe::Error::io("create", dir, e))?;
    }
    crate::safe::atomic_write(&site, files.site.as_bytes(), MODE)?;
    crate::safe::atomic_write(&policy, files.policy.as_bytes(), MODE)?;
    Ok([policy, site])
}

#[cfg(test)]
mod tests;
