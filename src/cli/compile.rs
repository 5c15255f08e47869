//! `hostwall compile`: the policy's ruleset as an nft script or libnftables JSON.

use super::args::{CompileArgs, CompileFormat};
use super::load_compiled;
use super::output::Out;

pub fn run(out: &Out, c: &CompileArgs) -> u8 {
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
