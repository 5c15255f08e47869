//! `hostwall import firewalld [DIR] [-o POLICY]`: reads firewalld's configuration (DIR,
//! default /etc/firewalld, over /usr/lib/firewalld), writes the policy, lists on standard
//! error everything it does not express.

use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, files, replace};
use hostwall::import::convert::{Config, File};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImportFrom {
    /// firewalld's zones, policies, services and rich rules → a hostwall policy (exit 1 when something
    /// is not expressed: each is listed with its file:line:col).
    Firewalld(FirewalldArgs),
}

#[derive(clap::Args, Debug)]
pub struct FirewalldArgs {
    /// firewalld's configuration directory.
    #[arg(value_name = "DIR", default_value = "/etc/firewalld")]
    pub dir: PathBuf,
    /// Write the policy here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "POLICY")]
    pub output: Option<PathBuf>,
    /// firewalld's own defaults, under the configuration directory's files.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/usr/lib/firewalld",
        hide = true
    )]
    pub defaults_dir: PathBuf,
}

/// Each file at most this many bytes (firewalld's files are a few kilobytes).
const MAX_FILE_BYTES: u64 = 1 << 20;
/// At most this many files in one directory.
const MAX_FILES: usize = 10_000;
/// All files together at most this many bytes.
const MAX_TOTAL_BYTES: u64 = files::MAX_TOTAL_BYTES;

pub fn run(out: &Out, c: &ImportArgs) -> u8 {
    let ImportFrom::Firewalld(a) = &c.from;
    let cfg = match read_config(&a.dir, &a.defaults_dir) {
        Ok(cfg) => cfg,
        Err(e) => {
            out.error(&e);
            return EXIT_SYSTEM;
        }
    };
    let imported = match hostwall::import::firewalld(&cfg) {
        Ok(i) => i,
        Err(errors) => {
            for e in &errors {
                out.error(&e.to_string());
            }
            out.error(&format!(
                "{} error(s) in firewalld's files; nothing written",
                errors.len()
            ));
            return EXIT_SYSTEM;
        }
    };
    if let Err(e) = self_check(&imported.policy) {
        out.error(&format!(
            "the imported policy does not check (a hostwall bug):\n{e}"
        ));
        return EXIT_SYSTEM;
    }
    let code = match &a.output {
        Some(path) => write_policy(out, path, &imported.policy),
        None => out.stdout(&imported.policy),
    };
    if code != 0 {
        return code;
    }
    for s in &imported.forwarding {
        out.stderr(&format!(
            "hostwall: note: {}: {}: {}\n",
            s.at, s.what, s.why
        ));
    }
    for s in &imported.skipped {
        out.stderr(&format!(
            "hostwall: not expressed: {}: {}: {}\n",
            s.at, s.what, s.why
        ));
    }
    if imported.skipped.is_empty() {
        0
    } else {
        out.stderr(&format!(
            "hostwall: {} thing(s) of firewalld's configuration are not expressed by the policy (listed above)\n",
            imported.skipped.len()
        ));
        EXIT_POLICY
    }
}

/// Checks the policy as `hostwall check` would; the rendered errors when it fails.
fn self_check(text: &str) -> Result<(), String> {
    let mut map = hostwall::source::SourceMap::new();
    let f = map.add("imported.policy", text.to_string());
    let (p, d) = hostwall::check::check(&mut map, f, None, &hostwall::check::NoIncludes);
    match p {
        Some(_) => Ok(()),
        None => Err(hostwall::diag::render(
            &map,
            &d,
            hostwall::diag::Color::Never,
        )),
    }
}

fn write_policy(out: &Out, path: &Path, text: &str) -> u8 {
    let result = if path.exists() {
        replace::replace(path, text.as_bytes()).map_err(|e| e.to_string())
    } else {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            out.error(&e);
            EXIT_SYSTEM
        }
    }
}

/// Zones, services and policies of `dir` over those of `defaults`, and `dir`'s firewalld.conf.
fn read_config(dir: &Path, defaults: &Path) -> Result<Config, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{}: not a directory (firewalld's configuration)",
            dir.display()
        ));
    }
    let mut budget = MAX_TOTAL_BYTES;
    let conf_path = dir.join("firewalld.conf");
    let conf = if conf_path.exists() {
        Some(read_file("firewalld", &conf_path, &mut budget)?)
    } else {
        None
    };
    let mut zones = xml_files(&defaults.join("zones"), &mut budget)?;
    for (name, f) in xml_files(&dir.join("zones"), &mut budget)? {
        zones.insert(name, f);
    }
    let stock = xml_files(&defaults.join("services"), &mut budget)?;
    let custom = xml_files(&dir.join("services"), &mut budget)?;
    let mut policies = xml_files(&defaults.join("policies"), &mut budget)?;
    for (name, f) in xml_files(&dir.join("policies"), &mut budget)? {
        policies.insert(name, f);
    }
    Ok(Config {
        conf,
        zones: zones.into_values().collect(),
        stock_services: stock.into_values().collect(),
        custom_services: custom.into_values().collect(),
        policies: policies.into_values().collect(),
    })
}

/// `NAME.xml` files of a directory (none when it does not exist), by name.
fn xml_files(
    dir: &Path,
    budget: &mut u64,
) -> Result<std::collections::BTreeMap<String, File>, String> {
    let mut out = std::collections::BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for e in entries {
        let path = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".xml"))
        else {
            continue;
        };
        if out.len() >= MAX_FILES {
            return Err(format!("{}: more than {MAX_FILES} files", dir.display()));
        }
        out.insert(name.to_string(), read_file(name, &path, budget)?);
    }
    Ok(out)
}

/// One file, within its own limit and what is left of the total (`budget`).
fn read_file(name: &str, path: &Path, budget: &mut u64) -> Result<File, String> {
    let limit = MAX_FILE_BYTES.min(*budget);
    let bytes = files::read_limited(path, limit).map_err(|e| {
        let total = if limit < MAX_FILE_BYTES {
            " (all files together: at most 32 MiB)"
        } else {
            ""
        };
        format!("{}: {e}{total}", path.display())
    })?;
    *budget -= bytes.len() as u64;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{}: not UTF-8 text ({e})", path.display()))?;
    Ok(File {
        name: name.to_string(),
        path: path.display().to_string(),
        text,
    })
}
