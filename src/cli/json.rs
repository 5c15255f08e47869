//! `--format json` glue: the host name, the policy part every document shares, loading
//! a policy without printing its diagnostics, and printing a document (docs/json.md).

use super::args::Input;
use super::load::{self, BUILTIN_NAME, Loaded};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM};
use hostwall::json::ErrorKind;
pub use hostwall::json::PolicyPart;
use serde::Serialize;

/// The machine's host name as this process sees it (`""` when it cannot be read).
pub fn host() -> String {
    hostwall::sysctl::read_key("kernel.hostname").unwrap_or_default()
}

/// Prints `body` in the envelope; the exit code is `code` unless stdout fails.
pub fn print<T: Serialize>(out: &Out, command: &str, schema: u32, code: u8, body: T) -> u8 {
    let doc = hostwall::json::document(command, schema, &host(), code == 0, body);
    match out.stdout(&doc) {
        0 => code,
        failed => failed,
    }
}

/// The policy part of a document for `input`, before (or without) reading it.
pub fn named(input: &Input) -> PolicyPart {
    PolicyPart {
        policy: policy_name(input.policy.as_deref()),
        site: input.site.as_ref().map(|s| s.display().to_string()),
        ..PolicyPart::default()
    }
}

/// The policy part of a document for a loaded policy: every diagnostic.
pub fn loaded(input: &Input, l: &Loaded) -> PolicyPart {
    PolicyPart {
        policy: l.name.clone(),
        diagnostics: hostwall::json::diagnostics(&l.map, &l.diagnostics),
        ..named(input)
    }
}

/// The name a policy path gets in documents (as `load::read_policy` names it).
pub fn policy_name(p: Option<&std::path::Path>) -> String {
    match p {
        None => BUILTIN_NAME.to_string(),
        Some(p) if p == std::path::Path::new("-") => "<stdin>".to_string(),
        Some(p) => p.display().to_string(),
    }
}

/// Loads and checks without printing: the loaded policy (checked clean, maybe with
/// warnings), or the exit code and the policy part saying why not.
pub fn load_checked(input: &Input) -> Result<Loaded, (u8, PolicyPart)> {
    let l = match load::load(input) {
        Ok(l) => l,
        Err(e) => {
            let part = named(input).with_error(ErrorKind::Input, super::output::chain_text(&e));
            return Err((EXIT_SYSTEM, part));
        }
    };
    if l.policy.is_none() {
        let n = l.diagnostics.iter().filter(|d| d.is_error()).count();
        let msg = format!(
            "{} has {n} error{}; nothing compiled",
            l.name,
            if n == 1 { "" } else { "s" }
        );
        let part = loaded(input, &l).with_error(ErrorKind::Policy, msg);
        return Err((EXIT_POLICY, part));
    }
    Ok(l)
}

/// Loads, checks and compiles without printing.
pub fn load_compiled(input: &Input) -> Result<(Loaded, hostwall::ir::Ruleset), (u8, PolicyPart)> {
    let l = load_checked(input)?;
    match &l.policy {
        Some(p) => {
            let rs = hostwall::compile::compile(p);
            Ok((l, rs))
        }
        None => Err((EXIT_POLICY, loaded(input, &l))),
    }
}

/// The command's name and schema when it writes JSON (`--format json`).
fn json_command(c: &super::args::Command) -> Option<(&'static str, u32)> {
    use super::args::{Command, DiffFormat, VerifyFormat};
    match c {
        Command::Check(a) if a.format == DiffFormat::Json => Some(("check", super::check::SCHEMA)),
        Command::Diff(a) if a.format == DiffFormat::Json => Some(("diff", super::diff::SCHEMA)),
        Command::Explain(a) if a.format == DiffFormat::Json => {
            Some(("explain", super::explain::SCHEMA))
        }
        Command::Fmt(a) if a.format == DiffFormat::Json => Some(("fmt", super::fmt::SCHEMA)),
        Command::Verify(a) if a.format == VerifyFormat::Json => {
            Some(("verify", hostwall::verify::SCHEMA))
        }
        Command::Apply(a) if a.format == DiffFormat::Json => {
            Some(("apply", super::apply::JSON_SCHEMA))
        }
        _ => None,
    }
}

/// A command that stopped before it ran (no policy to use): in JSON mode, the document
/// saying why. Returns `code`, or the failure writing it.
pub fn refused(out: &Out, c: &super::args::Command, code: u8) -> u8 {
    let Some((name, schema)) = json_command(c) else {
        return code;
    };
    let message = out
        .last_error()
        .unwrap_or_else(|| "no policy to use".into());
    let part = PolicyPart::default().with_error(ErrorKind::Input, message);
    // The safe-apply family's documents also carry warnings and the exit code.
    let apply = matches!(c, super::args::Command::Apply(_));
    let body = Refused {
        part,
        warnings: apply.then(Vec::new),
        exit_code: apply.then_some(code),
    };
    print(out, name, schema, code, body)
}

/// The document of a command that stopped before it ran.
#[derive(Serialize)]
struct Refused {
    #[serde(flatten)]
    part: PolicyPart,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u8>,
}
