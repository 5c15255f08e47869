//! Compile goldens: `tests/data/compile/NNN-name/{policy, site.toml?, expected.nft}`.
//! Every expected script is also fed to the real `nft -c -f` in a throwaway namespace.

use crate::golden;
use hostwall::check::{NoIncludes, check};
use hostwall::diag::{Color, render};
use hostwall::source::SourceMap;
use std::path::Path;
use std::process::Command;

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
        let a = nft_listing(&text, false)?;
        let b = nft_listing(&json, true)?;
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
        let out = Command::new("unshare")
            .args(["-rn", "nft", "-c", "-f"])
            .arg(dir.join("expected.nft"))
            .output()
            .map_err(|e| format!("cannot run `unshare -rn nft` (install nftables, util-linux): {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft -c rejected it:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
}

/// Loads a script into a fresh private namespace and returns `nft list ruleset`.
pub fn nft_listing(script: &str, json: bool) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("rules");
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let flag = if json { "-j " } else { "" };
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c"])
        .arg(format!(
            "nft {flag}-f '{}' && nft list ruleset",
            path.display()
        ))
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nft refused the {} form:\n{}",
            if json { "JSON" } else { "text" },
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
