//! Reading policy, include and site files from disk into a `SourceMap`, then checking.

use super::args::Input;
use crate::check::{self, Includes};
use crate::diag::Diagnostic;
use crate::model::Policy;
use crate::source::SourceMap;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Display name of the built-in policy in diagnostics and generated headers.
pub const BUILTIN_NAME: &str = "<built-in kvm-host.policy>";

pub struct Loaded {
    pub name: String,
    pub map: SourceMap,
    pub policy: Option<Policy>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the policy text: a file, `-` for stdin, or the built-in default.
pub fn read_policy(path: Option<&Path>) -> Result<(String, String)> {
    match path {
        None => Ok((BUILTIN_NAME.into(), crate::DEFAULT_POLICY.into())),
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the policy from standard input")?;
            Ok(("<stdin>".into(), s))
        }
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read policy {}", p.display()))?;
            Ok((p.display().to_string(), text))
        }
    }
}

/// Reads and checks the policy (and site file) named on the command line.
pub fn load(input: &Input) -> Result<Loaded> {
    let (name, text) = read_policy(input.policy.as_deref())?;
    let mut map = SourceMap::new();
    let policy = map.add(name.clone(), text);
    let site = match &input.site {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read site file {}", p.display()))?;
            Some(map.add(p.display().to_string(), text))
        }
        None => None,
    };
    let includes = FsIncludes;
    let (policy, diagnostics) = check::check(&mut map, policy, site, &includes);
    Ok(Loaded {
        name,
        map,
        policy,
        diagnostics,
    })
}

/// Includes resolved relative to the including file's directory.
struct FsIncludes;

impl Includes for FsIncludes {
    fn load(&self, from: &str, path: &str) -> std::result::Result<(String, String), String> {
        let base = Path::new(from)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let full = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            base.join(path)
        };
        std::fs::read_to_string(&full)
            .map(|t| (full.display().to_string(), t))
            .map_err(|e| format!("cannot read {}: {e}", full.display()))
    }
}

/// A file's name for the apply record: its canonical path when it is a file, else the
/// display name as is (`<stdin>`, the built-in policy).
fn canonical(name: &str) -> String {
    std::fs::canonicalize(name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Digest of every file a loaded policy was compiled from, and the include files among
/// them (everything after the policy and the site file), for the `diff` fast path.
pub fn inputs_digest(loaded: &Loaded, has_site: bool) -> (String, Vec<String>) {
    let files: Vec<(String, &str)> = loaded
        .map
        .files()
        .map(|(_, f)| (canonical(&f.name), f.text.as_str()))
        .collect();
    let digest = crate::record::inputs_digest(files.iter().map(|(n, t)| (n.as_str(), *t)));
    let skip = 1 + usize::from(has_site);
    let includes = files.iter().skip(skip).map(|(n, _)| n.clone()).collect();
    (digest, includes)
}

/// The same digest computed without parsing: the policy and site file named on the
/// command line plus the includes a record lists. `None` when any file is unreadable.
pub fn inputs_digest_unparsed(input: &Input, includes: &[String]) -> Option<String> {
    let (name, text) = read_policy(input.policy.as_deref()).ok()?;
    let mut files = vec![(canonical(&name), text)];
    if let Some(site) = &input.site {
        let name = site.display().to_string();
        files.push((canonical(&name), std::fs::read_to_string(site).ok()?));
    }
    for inc in includes {
        files.push((inc.clone(), std::fs::read_to_string(inc).ok()?));
    }
    Some(crate::record::inputs_digest(
        files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
    ))
}
