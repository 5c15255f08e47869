//! Command-line glue: arguments, reading files, printing, exit codes. The only printing code.

mod apply;
mod args;
mod assets;
mod boot;
mod coexist;
mod defaults;
mod diff;
mod explain;
mod files;
mod import;
mod init;
mod interrupt;
mod load;
mod output;
mod replace;
mod services;

pub use args::Args;

use args::{Command, CompileFormat};
use load::Loaded;
use output::Out;
use std::process::ExitCode;

/// Exit code 1: policy errors (or, later, drift).
pub(crate) const EXIT_POLICY: u8 = 1;
/// Exit code 2: usage or system errors (missing file, permission, kernel refused).
pub(crate) const EXIT_SYSTEM: u8 = 2;

pub fn run(mut args: Args) -> ExitCode {
    let out = Out::new(args.color, args.max_diagnostics);
    if let Err(code) = defaults::fill(&out, &mut args.command, &args.config_dir) {
        return ExitCode::from(code);
    }
    let code = match &args.command {
        Command::Init(c) => init::run(&out, c, &args.config_dir),
        Command::Compile(c) => compile(&out, c),
        Command::Check(c) => check(&out, c),
        Command::Fmt(c) => fmt(&out, c),
        Command::Verify(c) => verify(&out, c),
        Command::Diff(c) => diff::run(&out, c),
        Command::Explain(c) => explain::run(&out, c),
        Command::Apply(c) => apply::apply(&out, c),
        Command::Confirm(c) => apply::confirm(&out, c),
        Command::Status(c) => apply::status(&out, c),
        Command::Revert(c) => apply::revert(&out, c),
        Command::WatchRevert(c) => apply::watch_revert(c),
        Command::Boot(c) => boot::run(&out, c),
        Command::GenAssets(c) => assets::run(&out, c),
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
            out.error(&format!("{e:#}"));
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

fn compile(out: &Out, c: &args::CompileArgs) -> u8 {
    let (loaded, rs) = match load_compiled(out, &c.input) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let text = match c.format {
        CompileFormat::Nft => hostwall::emit::text::render(&rs, &loaded.name),
        CompileFormat::Json => hostwall::emit::json::render(&rs),
    };
    out.stdout(&text)
}

fn check(out: &Out, c: &args::CheckArgs) -> u8 {
    match load_checked(out, &c.input) {
        Ok(l) => {
            let mut warnings = l.diagnostics.len();
            if c.live {
                match live_conflicts(out, &l, c.netns.as_deref()) {
                    Ok(n) => warnings += n,
                    Err(code) => return code,
                }
            }
            out.stderr(&format!(
                "{}: ok{}\n",
                l.name,
                match warnings {
                    0 => String::new(),
                    1 => " (1 warning)".into(),
                    n => format!(" ({n} warnings)"),
                }
            ));
            0
        }
        Err(code) => code,
    }
}

/// `check --live`: the other tables' conflicts with the checked policy, printed as
/// warnings; how many.
fn live_conflicts(out: &Out, l: &Loaded, netns: Option<&str>) -> Result<usize, u8> {
    let Some(policy) = &l.policy else {
        return Err(EXIT_POLICY);
    };
    let rs = hostwall::compile::compile(policy);
    let locate = |s: &hostwall::source::Span| l.map.location(*s);
    match hostwall::drift::warnings(&rs, netns, &locate) {
        Ok(w) => {
            let shown: Vec<_> = w
                .changes
                .into_iter()
                .filter(|c| c.packet.is_some())
                .collect();
            if !shown.is_empty() {
                out.stderr(&hostwall::diff::render_text(&shown));
            }
            Ok(shown.len())
        }
        Err(e) => {
            out.error(&format!("cannot read the live ruleset: {e}"));
            Err(EXIT_SYSTEM)
        }
    }
}

fn fmt(out: &Out, c: &args::FmtArgs) -> u8 {
    if c.write
        && c.policy
            .as_deref()
            .is_none_or(|p| p == std::path::Path::new("-"))
    {
        out.error(
            "--write needs a policy file (standard input and the built-in default cannot be \
             rewritten); without --write the formatted text goes to standard output",
        );
        return EXIT_SYSTEM;
    }
    let (name, bytes) = match load::read_policy(c.policy.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            out.error(&format!("{e:#}"));
            return EXIT_SYSTEM;
        }
    };
    let mut map = hostwall::source::SourceMap::new();
    let (file, encoding) = hostwall::text::add(&mut map, name.clone(), &bytes);
    let formatted = match hostwall::syntax::format(&map, file) {
        Ok(f) if encoding.is_empty() => f,
        result => {
            let mut diags = encoding;
            diags.extend(result.err().unwrap_or_default());
            out.diagnostics(&map, &diags);
            return EXIT_POLICY;
        }
    };
    let unchanged = formatted == map.file(file).text;
    if c.check {
        if unchanged {
            return 0;
        }
        out.error(&format!(
            "{name} is not formatted; run `hostwall fmt --write {name}`"
        ));
        return EXIT_POLICY;
    }
    match &c.policy {
        Some(path) if c.write => {
            if !unchanged {
                if let Err(e) = replace::replace(path, formatted.as_bytes()) {
                    out.error(&format!("{e}; {} is unchanged", path.display()));
                    return EXIT_SYSTEM;
                }
            }
            0
        }
        _ => out.stdout(&formatted),
    }
}

fn verify(out: &Out, c: &args::VerifyArgs) -> u8 {
    let (loaded, rs) = match load_compiled(out, &c.input) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // The lab's namespaces are removed if the run is interrupted.
    interrupt::remove_namespaces_then_die();
    let opts = hostwall::verify::VerifyOptions {
        against: c.against.clone(),
        probes: c.probes.map(|n| n as usize),
        sources: Some(loaded.map),
    };
    match hostwall::verify::verify(&rs, &opts) {
        Ok(report) => {
            let code = out.stdout(&hostwall::verify::render_table(&report));
            if code != 0 {
                code
            } else if report.all_passed() {
                0
            } else {
                EXIT_POLICY
            }
        }
        Err(e) => {
            out.error(&format!("verify could not run: {e}"));
            EXIT_SYSTEM
        }
    }
}
