//! `hostwall boot`: the boot service's entry point (docs/boot.md). Reads and checks the
//! policy like `apply`, then lets [`hostwall::boot`] apply it, or the last known good, or
//! the built-in kvm-host policy; logs each failed attempt and the outcome to the
//! system log, keeps the policy as the last known good when it was applied, and exits
//! non-zero whenever anything but the policy was applied.

use super::args::Input;
use super::load::{self, Loaded};
use super::output::Out;
use hostwall::boot::{self, Failed, Ready, Reason, Source};
use hostwall::safe::perms;
use std::path::PathBuf;

const BOOT_EXAMPLES: &str = "\
Example (what hostwall.service runs):
  hostwall boot /etc/hostwall/host.policy --site /etc/hostwall/site.toml

A policy that cannot be read (missing, unreadable, unsafe permissions), checked or
compiled, or that the kernel refuses, is replaced by the last known good (the last
policy applied and kept, in /var/lib/hostwall), else by the built-in kvm-host policy.

Exit codes: 0 the policy was applied, 1 a fallback was applied instead (the journal
says why, with file:line:col), 2 nothing could be applied.";

#[derive(clap::Args, Debug)]
#[command(after_help = BOOT_EXAMPLES)]
pub struct BootArgs {
    /// Policy file.
    #[arg(default_value = "/etc/hostwall/host.policy")]
    pub policy: PathBuf,
    /// Site file (TOML) with this host's networks, interfaces and table name.
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// Skip the ownership/mode check of the policy and site files (as `apply`'s).
    #[arg(long)]
    pub insecure_perms: bool,
    #[command(flatten)]
    pub state: super::apply::StateArgs,
    /// Where the last known good is kept.
    #[arg(long, value_name = "DIR", hide = true, default_value = hostwall::lkg::DEFAULT_DIR)]
    pub lkg_dir: PathBuf,
}

pub fn run(out: &Out, b: &BootArgs) -> u8 {
    let input = Input {
        policy: Some(b.policy.clone()),
        site: b.site.clone(),
    };
    let name = b.policy.display().to_string();
    let policy = read(out, &input, &name, !b.insecure_perms);
    let booted = boot::run(policy, &b.lkg_dir, &mut |r: &Ready| {
        super::apply::boot_apply(&b.state, r)
    });
    if let Some((r, rep)) = &booted.applied {
        if r.source == Source::Policy {
            keep(out, b, r, rep.genid);
        }
    }
    let log = b.state.log();
    for entry in booted.entries(&name) {
        let _ = log.send(&entry);
    }
    let code = booted.exit_code();
    if code == 0 {
        out.stderr(&format!("hostwall: {}\n", booted.summary()));
    } else {
        out.error(&booted.summary());
    }
    code
}

/// The policy, read, permission-checked, checked and compiled; its diagnostics printed.
fn read(out: &Out, input: &Input, name: &str, check_perms: bool) -> Result<Ready, Failed> {
    let failed = |reason, location, error| Failed {
        source: Source::Policy,
        name: name.to_string(),
        reason,
        location,
        error,
    };
    let loaded: Loaded = load::load(input)
        .map_err(|e| failed(Reason::Unreadable, None, super::output::chain_text(&e)))?;
    let files = match check_perms {
        true => super::apply::policy_files(&loaded),
        false => Vec::new(),
    };
    for file in files {
        perms::check_file(&file).map_err(|e| failed(Reason::Unreadable, None, e.to_string()))?;
    }
    out.diagnostics(&loaded.map, &loaded.diagnostics);
    let Some(policy) = &loaded.policy else {
        return Err(failed(
            Reason::Invalid,
            boot::first_location(&loaded.map, &loaded.diagnostics),
            boot::first_error(&loaded.map, &loaded.diagnostics),
        ));
    };
    let ruleset = hostwall::compile::compile(policy);
    Ok(Ready {
        source: Source::Policy,
        name: name.to_string(),
        map: loaded.map,
        has_site: input.site.is_some(),
        ruleset,
    })
}

/// The policy applied at boot is the last known good from now on.
fn keep(out: &Out, b: &BootArgs, r: &Ready, generation: u32) {
    let entry = hostwall::lkg::EntryRef::from_map(&r.map, r.has_site, &r.ruleset, generation);
    if let Err(e) = hostwall::lkg::store(&b.lkg_dir, &entry) {
        out.stderr(&format!(
            "hostwall: warning: the policy is applied, but not kept as the last known good: {e}\n"
        ));
    }
}
