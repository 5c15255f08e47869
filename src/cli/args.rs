//! Command-line arguments (clap derive) with examples in `--help`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// hostwall: a firewall policy compiler for Linux virtualization hosts.
///
/// Write a small policy, check it, compile it to a default-reject nftables ruleset,
/// apply it atomically over netlink, and verify it with real packets.
#[derive(Parser, Debug)]
#[command(name = "hostwall", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every subcommand takes.
#[derive(clap::Args, Debug)]
pub struct Globals {
    /// When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Print at most N errors and N warnings (the first in file order); the rest are
    /// counted in one line. 0 prints every diagnostic.
    #[arg(long, value_name = "N", default_value_t = hostwall::diag::DEFAULT_SHOWN, global = true)]
    pub max_diagnostics: usize,
    /// Where the default policy and site file live (tests point it at a scratch dir).
    #[arg(long, value_name = "DIR", default_value = hostwall::config::DEFAULT_DIR, global = true, hide = true)]
    pub config_dir: PathBuf,
}

impl Args {
    /// The arguments of this process's command line, as [`Parser::parse`] reads them
    /// (and with its help, version and errors). A line that names `apply` first, the
    /// command config management runs again and again, is read by a parser made of the
    /// global options and `apply`'s alone: made and run in about 0.02 ms, where making
    /// every subcommand's and running it took 0.3 ms (a re-apply takes 2-10). A line
    /// that parser cannot read (`--help`, a mistake) goes to the full one, which answers
    /// as always.
    pub fn from_env() -> Args {
        let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
        Args::of_apply(&argv).unwrap_or_else(|| Args::parse_from(argv))
    }

    /// `argv` read by the parser of `apply` alone; `None` when it names another command
    /// first, or that parser finds anything to say.
    fn of_apply(argv: &[std::ffi::OsString]) -> Option<Args> {
        use clap::{Args as _, FromArgMatches};
        if argv.get(1).is_none_or(|a| a != "apply") {
            return None;
        }
        let apply = super::apply::ApplyArgs::augment_args(clap::Command::new("apply"));
        let cmd = Globals::augment_args(clap::Command::new("hostwall")).subcommand(apply);
        let matches = cmd.try_get_matches_from(argv).ok()?;
        Args::from_arg_matches(&matches).ok()
    }
}

const EXAMPLES: &str = "\
Examples:
  hostwall init                          write /etc/hostwall/host.policy fitted to this host
  hostwall compile                       print the ruleset of /etc/hostwall/host.policy
                                         (or of the built-in kvm-host policy without it)
  hostwall check policies/migration-net.policy --site /etc/hostwall/site.toml
  hostwall compile host.policy --format json
  hostwall fmt --check host.policy
  hostwall apply --confirm 60 host.policy   apply; reverted unless `hostwall confirm`
  hostwall verify host.policy       packets between namespaces prove the policy
  hostwall diff host.policy         is the live ruleset still the policy?

Exit codes: 0 ok, 1 policy errors, 2 usage or system errors.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write /etc/hostwall/host.policy and site.toml from a template, fitted to this host
    /// (sshd's ports, libvirt's bridges, forwarding).
    Init(super::init::InitArgs),
    /// Check a policy and print its nftables ruleset.
    #[command(
        after_help = "Example:\n  hostwall compile policies/kvm-host.policy --site site.toml > host.nft"
    )]
    Compile(CompileArgs),
    /// Check a policy and print its diagnostics only (--live: and its conflicts with the host's other tables).
    #[command(
        after_help = "Examples:\n  hostwall check host.policy && echo ok\n  hostwall check --live host.policy   # conflicts with libvirt, docker, firewalld tables\n\nExit codes: 0 ok (warnings included), 1 policy errors, 2 usage or system errors."
    )]
    Check(CheckArgs),
    /// Print a policy in canonical form (comments kept).
    #[command(
        after_help = "Examples:\n  hostwall fmt host.policy\n  hostwall fmt --check host.policy   # exit 1 when not formatted\n  hostwall fmt --write host.policy"
    )]
    Fmt(FmtArgs),
    /// Prove the policy with real packets between two throwaway network namespaces (root).
    #[command(
        after_help = "Examples:\n  hostwall verify policies/kvm-host.policy\n  hostwall verify host.policy --against legacy.nft   # check a hand-written ruleset against the policy\n\nExit codes: 0 no security failure (rows refused differently alone pass), 1 a security failure or probe error (--strict: any failure), 2 set-up error (docs/exit-codes.md)."
    )]
    Verify(VerifyArgs),
    /// Compare the live ruleset and forwarding sysctls with the policy (exit 0 in sync, 1 drift).
    #[command(
        after_help = "Examples:\n  hostwall diff /etc/hostwall/host.policy\n  hostwall diff --format json host.policy | jq .changes   # for monitoring\n  hostwall diff --netns guest-lab --full\n\nExit codes: 0 in sync, 1 drift or a policy line another table defeats, 2 error (like diff)."
    )]
    Diff(DiffArgs),
    /// Explain one packet: each table's deciding rule on its path and the combined verdict.
    #[command(
        after_help = "Examples:\n  hostwall explain 'tcp 203.0.113.7 -> 192.0.2.1:22 on eth0 new' host.policy\n  hostwall explain 'udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new' --live\n  hostwall explain 'tcp 203.0.113.7 -> 192.168.122.50:8000 in eth0 out virbr0' --live --format json\n\nPacket: PROTO SRC[:PORT] -> DST[:PORT] [type ICMP-TYPE] [on|in IFACE] [out IFACE] [new|established|related|invalid|untracked].\n`on IFACE` alone is a packet to the host, `in A out B` one through it, `out IFACE` alone one from it.\n\nExit codes: 0 explained, 1 the packet or the policy has errors, 2 system error."
    )]
    Explain(ExplainArgs),
    /// Apply the policy to the kernel: one atomic batch, then the forwarding sysctls.
    Apply(super::apply::ApplyArgs),
    /// Keep a change applied with `apply --confirm` (from any shell, ideally a new SSH session).
    #[command(
        after_help = "Examples:\n  hostwall confirm\n  hostwall confirm --netns lab\n\nExit codes: 0 kept (or nothing pending and the last change was kept), 1 nothing kept: the change was reverted (named, with when and why), 2 error."
    )]
    Confirm(super::apply::PendingArgs),
    /// Show a pending `apply --confirm` change and the time left (reverts a stale one),
    /// or how the last one ended.
    #[command(
        after_help = "Examples:\n  hostwall status\n  hostwall status --netns lab\n\nExit codes: 0 reported, 2 error."
    )]
    Status(super::apply::PendingArgs),
    /// Revert a pending `apply --confirm` change now.
    #[command(
        after_help = "Examples:\n  hostwall revert\n  hostwall revert --netns lab\n\nExit codes: 0 reverted (or nothing pending and the last change was reverted), 1 nothing pending and the last change was kept, 2 error or the revert failed (retried)."
    )]
    Revert(super::apply::PendingArgs),
    /// Apply the policy at boot, falling back to the last known good or the built-in
    /// kvm-host policy (what hostwall.service runs).
    Boot(super::boot::BootArgs),
    /// The detached revert watcher (started by `apply --confirm`).
    #[command(hide = true)]
    WatchRevert(super::apply::WatchArgs),
    /// Write the man pages and shell completions (packaging/gen-assets.sh).
    #[command(hide = true)]
    GenAssets(super::assets::AssetsArgs),
    /// Print Prometheus metrics (node_exporter textfile format): sync, drift by kind,
    /// last apply, pending change, and the packets and bytes of every rule with `counter`.
    #[command(
        after_help = "Examples:\n  hostwall metrics\n  hostwall metrics -o /var/lib/prometheus/node-exporter/hostwall.prom\n  hostwall metrics --netns lab lab.policy\n\nExit codes: 0 every part read, 2 a part could not be read (hostwall_up 0 in the output) or the file not written."
    )]
    Metrics(super::metrics::MetricsArgs),
    /// List the built-in service catalog (or one service): ports and where they come from.
    #[command(
        after_help = "Examples:\n  hostwall services\n  hostwall services libvirt\n  hostwall services --format json | jq '.services[].name'\n\nExit codes: 0 listed, 1 NAME is not in the catalog (with a suggestion), 2 usage error."
    )]
    Services(super::services::ServicesArgs),
    /// Write a hostwall policy from another firewall's configuration (firewalld).
    #[command(
        after_help = "Examples:\n  hostwall import firewalld > host.policy\n  hostwall import firewalld /etc/firewalld -o host.policy\n\nExit codes: 0 imported whole, 1 imported, but something is not expressed (each listed on stderr with file:line:col), 2 unreadable or malformed input (nothing written)."
    )]
    Import(super::import::ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: Input,
    /// Compare inside /run/netns/NAME instead of the current network namespace.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Output: lines for people, or a JSON document for monitoring (docs/diff.md).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Always dump and compare, even when the recorded generation id says nothing changed.
    #[arg(long)]
    pub full: bool,
    /// Nagios/Icinga plugin output: one line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    /// (docs/metrics.md says which drift is which).
    #[arg(long, conflicts_with = "format")]
    pub check: bool,
    /// Where `apply` records what it committed.
    #[arg(long, value_name = "DIR", default_value = "/run/hostwall", hide = true)]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub system: SystemArgs,
    /// List every set element that differs (by default: a count per set).
    #[arg(short, long)]
    pub verbose: bool,
}

/// The root under which other firewall services, sshd and libvirt are looked for.
#[derive(clap::Args, Debug, Clone)]
pub struct SystemArgs {
    /// The system's root directory (tests point it at a fake one).
    #[arg(
        long = "system-root",
        value_name = "DIR",
        default_value = "/",
        hide = true
    )]
    pub root: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The packet, e.g. 'udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new'.
    pub packet: String,
    #[command(flatten)]
    pub input: Input,
    /// Judge against every table the kernel holds (ours as loaded), not the policy alone.
    #[arg(long)]
    pub live: bool,
    /// With --live: read /run/netns/NAME instead of the current network namespace.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Output: lines for people, or a JSON document.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: Input,
    /// Load this nft ruleset in the throwaway host namespace instead of the policy's own
    /// (needs the `nft` program): shows whether a legacy ruleset does what the policy says.
    #[arg(long, value_name = "RULESET.nft")]
    pub against: Option<PathBuf>,
    /// Send at most N probes: crossings of overlapping rules and boundaries first, then
    /// samples of each rule, then the port matrix (default 2000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub probes: Option<u32>,
    /// Output: the table, a JSON document (docs/json.md), or JUnit XML for CI systems.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
    /// Show only the probes that failed (the summary still counts every probe).
    #[arg(long)]
    pub failures_only: bool,
    /// Fail (exit 1) also when probes were refused differently than the policy says
    /// (reject vs drop); by default only security failures and probe errors fail.
    #[arg(long)]
    pub strict: bool,
    /// Copy the host's other tables (read-only: every table but the policy's) into the
    /// test namespace next to the policy's, and expect what they do together: a probe the
    /// policy allows but another table refuses fails, naming both rules.
    #[arg(long, conflicts_with = "against")]
    pub with_live_tables: bool,
    /// With --with-live-tables: copy the tables of this network namespace instead.
    #[arg(long, value_name = "NAME", requires = "with_live_tables")]
    pub netns: Option<String>,
    /// With --with-live-tables: leave out what cannot be copied faithfully (flowtables,
    /// chains bound to devices the test lacks), named in the notes, instead of refusing.
    #[arg(long, requires = "with_live_tables")]
    pub allow_partial: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Text,
    Json,
    Junit,
}

/// The policy to read and the site file giving its host-specific values.
#[derive(clap::Args, Debug, Clone)]
pub struct Input {
    /// Policy file (default: /etc/hostwall/host.policy; without it, `compile`, `check`,
    /// `fmt`, `verify` and `explain` use the built-in kvm-host policy, `apply` and `diff`
    /// refuse). `-` reads standard input.
    pub policy: Option<PathBuf>,
    /// Site file (TOML) with this host's networks, interfaces and table name (default:
    /// /etc/hostwall/site.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub input: Input,
    /// Output form: nft script, or libnftables JSON.
    #[arg(long, value_enum, default_value_t = CompileFormat::Nft)]
    pub format: CompileFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompileFormat {
    Nft,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: Input,
    /// Also read every table the kernel holds and report conflicts with the policy:
    /// traffic it allows that another table refuses, and the reverse (warnings).
    #[arg(long)]
    pub live: bool,
    /// With --live: read /run/netns/NAME instead of the current network namespace.
    #[arg(long, value_name = "NAME", requires = "live")]
    pub netns: Option<String>,
    /// Output: diagnostics for people (standard error), or a JSON document (docs/json.md).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Policy file (default: /etc/hostwall/host.policy, else the built-in kvm-host policy).
    pub policy: Option<PathBuf>,
    /// Exit 1 when the file is not in canonical form; print nothing.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Rewrite the file in place.
    #[arg(long)]
    pub write: bool,
    /// With --check: the answer as a JSON document (docs/json.md) instead of the exit code alone.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text, requires_if("json", "check"))]
    pub format: DiffFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::ffi::OsString;

    /// A command line naming `apply` is read by the parser of `apply` alone exactly as
    /// by the full one, each of `apply`'s options and the global ones among them; what
    /// the full parser refuses or answers (help, version, a mistake) is left to it.
    #[test]
    fn apply_alone_reads_a_line_as_the_full_parser_does() {
        let mut full = Args::command();
        full.build();
        let apply = full.find_subcommand("apply").expect("apply");
        let mut lines: Vec<Vec<String>> = [
            &[][..],
            &["p.policy"],
            &["--color", "never", "p.policy"],
            &["--max-diagnostics", "3", "-"],
            &["--config-dir", "/tmp/x", "--dry-run"],
            &["--help"],
            &["-h"],
            &["--version"],
            &["--bogus"],
            &["a", "b", "c"],
        ]
        .iter()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .collect();
        for arg in apply.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let mut line = vec![format!("--{long}")];
            if arg.get_action().takes_values() {
                let value = arg
                    .get_possible_values()
                    .first()
                    .map(|v| v.get_name().to_string());
                line.push(value.unwrap_or_else(|| "7".into()));
            }
            line.push("p.policy".into());
            lines.push(line);
        }
        let mut read_alone = 0;
        for line in &lines {
            let argv: Vec<OsString> = ["hostwall", "apply"]
                .into_iter()
                .map(OsString::from)
                .chain(line.iter().map(OsString::from))
                .collect();
            let by_full = Args::try_parse_from(&argv);
            match Args::of_apply(&argv) {
                Some(args) => {
                    read_alone += 1;
                    let by_full = by_full.unwrap_or_else(|e| panic!("{line:?}: {e}"));
                    assert_eq!(format!("{args:?}"), format!("{by_full:?}"), "{line:?}");
                }
                None => assert!(by_full.is_err(), "{line:?}: read by the full parser only"),
            }
        }
        assert!(
            read_alone > 20,
            "{read_alone} of {} lines read alone",
            lines.len()
        );
        let other = ["hostwall", "check", "p.policy"].map(OsString::from);
        assert!(Args::of_apply(&other).is_none());
    }
}
