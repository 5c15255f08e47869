//! Golden error cases: tests/data/errors/NNN-name/{policy, expected.txt} (optional site.toml and
//! included files beside them). The rendered diagnostics must equal expected.txt; a missing or
//! different expected.txt fails, `UPDATE_EXPECT=1` writes them (see `support::golden`).

use crate::support::{corpus, golden, nft};
use hostwall::check::{self, Includes};
use hostwall::diag::{Color, render};
use hostwall::source::SourceMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Loads includes from the case directory; display names are the paths as written, so goldens
/// do not depend on where the repository is checked out.
pub struct DirIncludes(pub PathBuf);

impl Includes for DirIncludes {
    fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        let base = Path::new(from).parent().unwrap_or(Path::new(""));
        let name = base.join(path).to_string_lossy().into_owned();
        fs::read(self.0.join(&name))
            .map(|t| (name, t))
            .map_err(|e| format!("{path}: {e}"))
    }
}

/// Renders what `check` says about one case directory.
pub fn render_case(dir: &Path) -> String {
    let mut map = SourceMap::new();
    let policy = fs::read(dir.join("policy")).unwrap_or_default();
    let site = fs::read(dir.join("site.toml")).ok();
    let (_, diags) = check::check_bytes(
        &mut map,
        ("policy", policy.as_slice()),
        site.as_deref().map(|s| ("site.toml", s)),
        &DirIncludes(dir.to_path_buf()),
    );
    render(&map, &diags, Color::Never)
}

#[test]
fn error_goldens() {
    let dirs = corpus::case_dirs("errors");
    assert!(
        dirs.len() >= 30,
        "expected at least 30 error cases, found {}",
        dirs.len()
    );
    golden::run_all("errors", |dir| {
        let got = render_case(dir);
        if got.is_empty() {
            return Err("error cases must produce a diagnostic".into());
        }
        golden::compare(&dir.join("expected.txt"), &got)
    });
}

/// Checks and compiles `policy` with `site`, returning the nft script or the rendered errors.
fn script(site: &str, policy: &str) -> Result<String, String> {
    let mut map = SourceMap::new();
    let p = map.add("policy", policy);
    let s = map.add("site.toml", site);
    let (checked, diags) = check::check(&mut map, p, Some(s), &check::NoIncludes);
    match checked {
        Some(c) => Ok(hostwall::emit::text::render(
            &hostwall::compile::compile(&c),
            "policy",
        )),
        None => Err(render(&map, &diags, Color::Never)),
    }
}

/// Whether nft accepts `script` (`nft -c -f -` in a throwaway user+net namespace).
fn nft_accepts(script: &str) -> bool {
    nft::accepts(script).is_ok()
}

/// Every table name the site file accepts is one nft reads in the emitted script, and every
/// keyword it refuses is one nft refuses (so the list is neither short nor needlessly long).
#[test]
fn site_table_names_agree_with_nft() {
    let policy = "policy p {\n    allow ssh on \"virbr*\"\n}\n";
    for name in [
        "my-fw", "fw", "a-b-", "x1_2", "Drop", "filter", "prefix", "last",
    ] {
        let text = script(&format!("table = \"{name}\"\n"), policy)
            .unwrap_or_else(|e| panic!("{name}: site rejected it:\n{e}"));
        assert!(text.contains(&format!("table inet {name} {{")), "{text}");
        assert!(nft_accepts(&text), "{name}: nft refused\n{text}");
    }
    for kw in hostwall::keywords::NFT_KEYWORDS {
        let err = script(&format!("table = \"{kw}\"\n"), policy).expect_err(kw);
        assert!(err.contains("an nft keyword"), "{kw}: {err}");
        let raw = format!("table inet {kw} {{\n\tchain c {{\n\t}}\n}}\n");
        assert!(!nft_accepts(&raw), "{kw}: nft reads it as a table name");
    }
    for bad in ["1fw", "my.fw", "my fw", "_fw", ""] {
        assert!(
            script(&format!("table = \"{bad}\"\n"), policy).is_err(),
            "{bad}"
        );
    }
}

/// An empty site list is an error, never a rule without its `on`/`from` (regression: it
/// compiled to an unrestricted `tcp dport 22 accept`, or the rule vanished).
#[test]
fn empty_site_lists_never_widen_or_drop_rules() {
    let err = script(
        "[interfaces]\nguests = []\n",
        "policy p {\n allow ssh on guests\n}\n",
    )
    .expect_err("empty interface list");
    assert!(err.contains("E0503") && !err.contains("E0103"), "{err}");
    let err = script(
        "[networks]\nmgmt = []\n",
        "policy p {\n allow tcp 80 from mgmt\n}\n",
    )
    .expect_err("empty network list");
    assert!(err.contains("E0503") && !err.contains("E0102"), "{err}");
}

/// Interface names and prefixes the checker accepts load in nft as written (the emitter's
/// defensive replacement never fires for them).
#[test]
fn accepted_names_and_prefixes_load_unchanged() {
    let site =
        "log_prefix = \"fw#1 'x' {%}: \"\n[interfaces]\nodd = [\"a'b\", \"v#1\", \"br-é*\"]\n";
    let text = script(site, "policy p {\n log rejected\n allow ssh on odd\n}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    for want in [
        "\"a'b\"",
        "\"v#1\"",
        "\"br-é*\"",
        "prefix \"fw#1 'x' {%}: \"",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(nft_accepts(&text), "nft refused:\n{text}");
}
