//! `hostwall compile`: the policy's ruleset as an nft script or libnftables JSON.

use super::args::{CompileArgs, CompileFormat};
use super::load_checked;
use super::output::Out;
use std::io::Write;

pub fn run(out: &Out, c: &CompileArgs) -> u8 {
    let mut loaded = match load_checked(out, &c.input) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let name = std::mem::take(&mut loaded.name);
    let Some(policy) = loaded.policy.take() else {
        return super::EXIT_POLICY;
    };
    // The diagnostics are out: the sources' text goes before the ruleset is built, and
    // the checked policy before its text is (a million addresses: 17 MB and 8 MB less).
    drop(loaded);
    let rs = hostwall::compile::compile(&policy);
    drop(policy);
    match c.format {
        CompileFormat::Nft => streamed(out, |sink| {
            hostwall::emit::text::render_to(&rs, &name, sink)
        }),
        CompileFormat::Json => out.stdout(&hostwall::emit::json::render(&rs)),
    }
}

/// Standard output written in the pieces `render` hands on, as [`Out::stdout`] writes
/// one string: a closed pipe is no error, any other write error is reported.
fn streamed(out: &Out, render: impl FnOnce(&mut dyn FnMut(&str))) -> u8 {
    let mut o = std::io::stdout().lock();
    let mut failed: Option<std::io::Error> = None;
    render(&mut |piece| {
        if failed.is_none() {
            failed = o.write_all(piece.as_bytes()).err();
        }
    });
    match failed.map_or_else(|| o.flush(), Err) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            out.error(&format!("cannot write output: {e}"));
            2
        }
    }
}
