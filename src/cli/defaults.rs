//! The policy and site file of a command that names none: `config::choose` for each
//! command (read-only ones fall back to the built-in policy, `apply` and `diff` refuse),
//! with the note or refusal printed.

use super::EXIT_SYSTEM;
use super::args::{Command, Input};
use super::output::Out;
use hostwall::config::{self, Fallback};
use std::path::Path;

/// Fills in `command`'s policy and site file from the configuration directory `dir`.
pub fn fill(out: &Out, command: &mut Command, dir: &Path) -> Result<(), u8> {
    let (input, fallback) = match command {
        Command::Compile(c) => (&mut c.input, Fallback::Builtin),
        Command::Check(c) => (&mut c.input, Fallback::Builtin),
        Command::Verify(c) => (&mut c.input, Fallback::Builtin),
        Command::Explain(c) => (&mut c.input, Fallback::Builtin),
        Command::Diff(c) if c.check => {
            return choose(out, &mut c.input, dir, Fallback::Refuse)
                .map_err(|_| super::diff::check_unknown(out, "no policy to compare with"));
        }
        Command::Diff(c) => (&mut c.input, Fallback::Refuse),
        Command::Apply(c) => (&mut c.input, Fallback::Refuse),
        Command::Fmt(c) => {
            // fmt reads no site file.
            let mut input = Input {
                policy: c.policy.take(),
                site: None,
            };
            choose(out, &mut input, dir, Fallback::Builtin)?;
            c.policy = input.policy;
            return Ok(());
        }
        Command::Init(_)
        | Command::Confirm(_)
        | Command::Status(_)
        | Command::Revert(_)
        | Command::WatchRevert(_)
        | Command::Boot(_)
        | Command::GenAssets(_)
        | Command::Metrics(_)
        | Command::Services(_)
        | Command::Import(_) => {
            return Ok(());
        }
    };
    choose(out, input, dir, fallback)
}

fn choose(out: &Out, input: &mut Input, dir: &Path, fallback: Fallback) -> Result<(), u8> {
    let chosen = config::choose(
        dir,
        input.policy.as_deref(),
        input.site.as_deref(),
        fallback,
    )
    .map_err(|e| {
        out.error(&e.to_string());
        EXIT_SYSTEM
    })?;
    if let Some(note) = &chosen.note {
        out.stderr(&format!("hostwall: note: {note}\n"));
    }
    input.policy = chosen.policy;
    input.site = chosen.site;
    Ok(())
}
