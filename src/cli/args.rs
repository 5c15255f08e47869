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
    /// When to colour diagnostics (auto: only on a terminal, and never with NO_COLOR set).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  hostwall compile                       print the ruleset of the built-in kvm-host policy
  hostwall check policies/migration-net.policy --site /etc/hostwall/site.toml
  hostwall compile host.policy --format json
  hostwall fmt --check host.policy
  sudo hostwall apply --confirm 60 host.policy   apply; reverted unless `hostwall confirm`
  sudo hostwall verify host.policy       packets between namespaces prove the policy
  sudo hostwall diff host.policy         is the live ruleset still the policy?

Exit codes: 0 ok, 1 policy errors, 2 usage or system errors.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a policy and print its nftables ruleset.
    #[command(
        after_help = "Example:\n  hostwall compile policies/kvm-host.policy --site site.toml > host.nft"
    )]
    Compile(CompileArgs),
    /// Check a policy and print its diagnostics only.
    #[command(after_help = "Example:\n  hostwall check host.policy && echo ok")]
    Check(CheckArgs),
    /// Print a policy in canonical form (comments kept).
    #[command(
        after_help = "Examples:\n  hostwall fmt host.policy\n  hostwall fmt --check host.policy   # exit 1 when not formatted\n  hostwall fmt --write host.policy"
    )]
    Fmt(FmtArgs),
    /// Prove the policy with real packets between two throwaway network namespaces (root).
    #[command(
        after_help = "Examples:\n  sudo hostwall verify policies/kvm-host.policy\n  sudo hostwall verify host.policy --against legacy.nft   # check a hand-written ruleset against the policy\n\nExit codes: 0 every probe passed, 1 some probe failed, 2 set-up error."
    )]
    Verify(VerifyArgs),
    /// Compare the live ruleset and forwarding sysctls with the policy (exit 0 in sync, 1 drift).
    #[command(
        after_help = "Examples:\n  sudo hostwall diff /etc/hostwall/host.policy\n  sudo hostwall diff --format json host.policy | jq .changes   # for monitoring\n  sudo hostwall diff --netns guest-lab --full\n\nExit codes: 0 in sync, 1 drift, 2 error (like diff)."
    )]
    Diff(DiffArgs),
    /// Apply the policy to the kernel: one atomic batch, then the forwarding sysctls.
    Apply(super::apply::ApplyArgs),
    /// Keep a change applied with `apply --confirm` (from any shell, ideally a new SSH session).
    #[command(
        after_help = "Example:\n  sudo hostwall confirm\n\nExit codes: 0 kept (or nothing pending and the last change was kept), 1 nothing kept: the change was reverted (named, with when and why), 2 error."
    )]
    Confirm(super::apply::StateArgs),
    /// Show a pending `apply --confirm` change and the time left (reverts a stale one),
    /// or how the last one ended.
    #[command(after_help = "Example:\n  sudo hostwall status\n\nExit codes: 0 reported, 2 error.")]
    Status(super::apply::StateArgs),
    /// Revert a pending `apply --confirm` change now.
    #[command(
        after_help = "Example:\n  sudo hostwall revert\n\nExit codes: 0 reverted (or nothing pending and the last change was reverted), 1 nothing pending and the last change was kept, 2 error or the revert failed (retried)."
    )]
    Revert(super::apply::StateArgs),
    /// The detached revert watcher (started by `apply --confirm`).
    #[command(hide = true)]
    WatchRevert(super::apply::WatchArgs),
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
    /// Where `apply` records what it committed.
    #[arg(long, value_name = "DIR", default_value = "/run/hostwall", hide = true)]
    pub state_dir: PathBuf,
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
}

/// The policy to read and the site file giving its host-specific values.
#[derive(clap::Args, Debug, Clone)]
pub struct Input {
    /// Policy file (default: the built-in kvm-host policy). `-` reads standard input.
    pub policy: Option<PathBuf>,
    /// Site file (TOML) with this host's networks, interfaces and table name.
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
}

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Policy file (default: the built-in kvm-host policy).
    pub policy: Option<PathBuf>,
    /// Exit 1 when the file is not in canonical form; print nothing.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Rewrite the file in place.
    #[arg(long)]
    pub write: bool,
}
