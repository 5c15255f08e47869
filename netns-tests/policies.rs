//! `verify` passes on every policy shipped in policies/ (compiled through the library).

use crate::common::{our_namespaces, serial};
use crate::support::corpus;
use hostwall::check::{NoIncludes, check};
use hostwall::source::SourceMap;
use hostwall::verify::{VerifyOptions, render_table, verify};

#[test]
#[ignore = "needs root"]
fn verify_passes_on_every_shipped_policy() {
    crate::support::root::require();
    let _guard = serial();
    let paths = corpus::files("policies", "policy");
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read policy");
        let mut map = SourceMap::new();
        let site = site_for(&path, &text).map(|t| map.add("site.toml", t));
        let file = map.add(path.display().to_string(), text);
        let (policy, diags) = check(&mut map, file, site, &NoIncludes);
        let policy =
            policy.unwrap_or_else(|| panic!("{} does not check: {diags:?}", path.display()));
        let rs = hostwall::compile::compile(&policy);
        let report = verify(&rs, &VerifyOptions::default()).expect("verify sets up");
        let table = render_table(&report);
        eprintln!("{}\n{table}", path.display());
        assert!(report.all_passed(), "{}\n{table}", path.display());
        assert_eq!(our_namespaces(), Vec::<String>::new());
    }
}

/// The site file a shipped policy needs: `NAME.site.toml` beside it, else the
/// example its header comment shows (lines indented as `#   key = ...`).
fn site_for(path: &std::path::Path, text: &str) -> Option<String> {
    if let Ok(site) = std::fs::read_to_string(path.with_extension("site.toml")) {
        return Some(site);
    }
    let example: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("#   "))
        .map(|l| format!("{l}\n"))
        .collect();
    (!example.is_empty()).then_some(example)
}
