//! `hostwall init`: prints what it found on the host, writes the fitted policy and site
//! file into the configuration directory.

use super::EXIT_SYSTEM;
use super::output::Out;
use hostwall::init::{self, DEFAULT_TEMPLATE, Host, TEMPLATE_NAMES};
use std::path::Path;

const INIT_EXAMPLES: &str = "\
Templates (policies/ in the source, /usr/share/hostwall/ when installed):
  kvm-host       the host-security guide's virtualization host (default)
  libvirt-nat    guests on libvirt's NAT network, forwarded through the host
  migration-net  management and migration networks from the site file
  minimal-host   SSH from a management network only, everything else dropped

Examples:
  hostwall init                          write /etc/hostwall/host.policy and site.toml
  hostwall init --template minimal-host
  hostwall init --force                  replace both files

Exit codes: 0 written, 2 a file exists (without --force) or cannot be written.";

#[derive(clap::Args, Debug)]
#[command(after_help = INIT_EXAMPLES)]
pub struct InitArgs {
    /// The shipped policy to start from.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TEMPLATE,
          value_parser = clap::builder::PossibleValuesParser::new(TEMPLATE_NAMES))]
    pub template: String,
    /// Replace host.policy and site.toml when they exist.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub system: super::args::SystemArgs,
}

pub fn run(out: &Out, a: &InitArgs, config_dir: &Path) -> u8 {
    let path = std::env::var_os("PATH");
    let host = Host {
        path_var: path.as_deref(),
        root: &a.system.root,
    };
    let found = init::survey(&host);
    let mut text = format!("hostwall init: {} template; found:\n", a.template);
    for line in init::report(&found) {
        text.push_str(&format!("  {line}\n"));
    }
    out.stderr(&text);
    let written =
        init::build(&a.template, &found).and_then(|f| init::write(config_dir, &f, a.force));
    match written {
        Ok([policy, site]) => {
            out.stderr(&format!(
                "wrote {} and {} (mode {:04o})\nnext: hostwall check, then hostwall apply --confirm 60\n",
                policy.display(),
                site.display(),
                init::MODE
            ));
            0
        }
        Err(e) => {
            out.error(&e.to_string());
            EXIT_SYSTEM
        }
    }
}
