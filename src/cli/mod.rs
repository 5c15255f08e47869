//! Command-line glue: arguments, reading files, printing, exit codes. The only printing code.

pub(crate) mod apply;
mod args;
mod assets;
mod boot;
mod check;
mod coexist;
mod compile;
mod defaults;
mod diff;
mod explain;
mod files;
mod fmt;
mod import;
mod init;
mod interrupt;
mod json;
mod load;
mod metrics;
mod output;
mod replace;
mod services;
mod verify;

pub use args::Args;

use args::Command;
use load::Loaded;
use output::Out;
use std::process::ExitCode;

/// Exit code 1: policy errors (or, later, drift).
pub(crate) const EXIT_POLICY: u8 = 1;
/// Exit code 2: usage or system errors (missing file, permission, kernel refused).
pub(crate) const EXIT_SYSTEM: u8 = 2;

pub fn run(mut args: Args) -> ExitCode {
    let g = &args.globals;
    let out = Out::new(g.color, g.max_diagnostics);
    if let Err(code) = defaults::fill(&out, &mut args.command, &g.config_dir) {
        return ExitCode::from(json::refused(&out, &args.command, code));
    }
    let code = match &args.command {
        Command::Init(c) => init::run(&out, c, &args.globals.config_dir),
        Command::Compile(c) => compile::run(&out, c),
        Command::Check(c) => check::run(&out, c),
        Command::Fmt(c) => fmt::run(&out, c),
        Command::Verify(c) => verify::run(&out, c),
        Command::Diff(c) => diff::run(&out, c),
        Command::Explain(c) => explain::run(&out, c),
        Command::Apply(c) => apply::apply(&out, c),
        Command::Confirm(c) => apply::confirm(&out, c),
        Command::Status(c) => apply::status(&out, c),
        Command::Revert(c) => apply::revert(&out, c),
        Command::WatchRevert(c) => apply::watch_revert(c),
        Command::Boot(c) => boot::run(&out, c),
        Command::GenAssets(c) => assets::run(&out, c),
        Command::Metrics(c) => metrics::run(&out, c, &args.globals.config_dir),
        Command::Services(c) => services::run(&out, c),
        Command::Import(c) => import::run(&out, c),
    };
    ExitCode::from(code)
}

/// Loads and checks; prints diagnostics; `Err` carries the exit code to stop with.
pub(crate) fn load_checked(out: &Out, input: &args::Input) -> Result<Loaded, u8> {
    let loaded = match load::load(input) {
        Ok(l) => l,
        Err(e) => {
            out.error(&output::chain_text(&e));
            return Err(EXIT_SYSTEM);
        }
    };
    out.diagnostics(&loaded.map, &loaded.diagnostics);
    if loaded.policy.is_none() {
        let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        out.error(&format!(
            "{} has {n} error{}; nothing compiled",
            loaded.name,
            if n == 1 { "" } else { "s" }
        ));
        return Err(EXIT_POLICY);
    }
    Ok(loaded)
}

/// Loads, checks and compiles: the start of every command that needs the ruleset.
pub(crate) fn load_compiled(
    out: &Out,
    input: &args::Input,
) -> Result<(Loaded, hostwall::ir::Ruleset), u8> {
    let loaded = load_checked(out, input)?;
    let Some(policy) = &loaded.policy else {
        return Err(EXIT_POLICY);
    };
    let rs = hostwall::compile::compile(policy);
    Ok((loaded, rs))
}
