//! Compile goldens: `tests/data/compile/NNN-name/{policy, site.toml?, expected.nft}`.
//! Every expected script is also fed to the real `nft -c -f` in a throwaway namespace.

use crate::support::{golden, nft};
use hostwall::check::{NoIncludes, check};
use hostwall::diag::{Color, render};
use hostwall::source::SourceMap;
use std::path::Path;

/// Checks and compiles one case's policy; Err holds the rendered diagnostics.
pub fn compile_case(dir: &Path) -> Result<(String, hostwall::ir::Ruleset), String> {
    let text = std::fs::read_to_string(dir.join("policy")).map_err(|e| e.to_string())?;
    let mut map = SourceMap::new();
    let file = map.add("policy", text);
    let site = std::fs::read_to_string(dir.join("site.toml"))
        .ok()
        .map(|t| map.add("site.toml", t));
    let (policy, diags) = check(&mut map, file, site, &NoIncludes);
    let Some(policy) = policy else {
        return Err(render(&map, &diags, Color::Never));
    };
    if !diags.is_empty() {
        return Err(format!(
            "compile cases must check clean; move it to errors/:\n{}",
            render(&map, &diags, Color::Never)
        ));
    }
    let rs = hostwall::compile::compile(&policy);
    Ok((hostwall::emit::text::render(&rs, "policy"), rs))
}

#[test]
fn compile_goldens() {
    golden::run_all("compile", |dir| {
        let (text, _) = compile_case(dir)?;
        golden::compare(&dir.join("expected.nft"), &text)
    });
}

#[test]
fn compile_goldens_json_loads_like_text() {
    // The JSON form must give the kernel the same ruleset as the text form.
    golden::run_all("compile", |dir| {
        let (text, rs) = compile_case(dir)?;
        let json = hostwall::emit::json::render(&rs);
        let a = nft::load_and_list(&text, false)?;
        let b = nft::load_and_list(&json, true)?;
        if a == b {
            Ok(())
        } else {
            Err(format!("text and JSON load differently:\n{a}\n---\n{b}"))
        }
    });
}

/// The kernel's own parser agrees every golden is valid (`nft -c -f` in a private netns).
#[test]
fn compile_goldens_pass_nft_check() {
    golden::run_all("compile", |dir| {
        let script =
            std::fs::read_to_string(dir.join("expected.nft")).map_err(|e| e.to_string())?;
        nft::accepts(&script)
    });
}
