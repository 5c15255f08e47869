//! Golden error cases: tests/data/errors/NNN-name/{policy, expected.txt} (optional site.toml and
//! included files beside them). The rendered diagnostics must equal expected.txt; a missing
//! expected.txt is written, `UPDATE_EXPECT=1` rewrites them all.

use hostwall::check::{self, Includes};
use hostwall::diag::{Color, render};
use hostwall::source::SourceMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Loads includes from the case directory; display names are the paths as written, so goldens
/// do not depend on where the repository is checked out.
pub struct DirIncludes(pub PathBuf);

impl Includes for DirIncludes {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(from).parent().unwrap_or(Path::new(""));
        let name = base.join(path).to_string_lossy().into_owned();
        fs::read_to_string(self.0.join(&name))
            .map(|t| (name, t))
            .map_err(|e| format!("{path}: {e}"))
    }
}

/// Renders what `check` says about one case directory.
pub fn render_case(dir: &Path) -> String {
    let mut map = SourceMap::new();
    let text = fs::read_to_string(dir.join("policy")).unwrap_or_default();
    let policy = map.add("policy", text);
    let site = fs::read_to_string(dir.join("site.toml"))
        .ok()
        .map(|t| map.add("site.toml", t));
    let (_, diags) = check::check(&mut map, policy, site, &DirIncludes(dir.to_path_buf()));
    render(&map, &diags, Color::Never)
}

pub fn case_dirs(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(kind);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("policy").is_file());
    dirs.sort();
    dirs
}

#[test]
fn error_goldens() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let dirs = case_dirs("errors");
    assert!(
        dirs.len() >= 30,
        "expected at least 30 error cases, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let got = render_case(dir);
        assert!(
            !got.is_empty(),
            "{}: error cases must produce a diagnostic",
            dir.display()
        );
        let path = dir.join("expected.txt");
        match fs::read_to_string(&path) {
            Ok(want) if !update => {
                if want != got {
                    failures.push(format!("--- {}\n{got}", dir.display()));
                }
            }
            _ => fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "rendered diagnostics differ (UPDATE_EXPECT=1 rewrites):\n{}",
        failures.join("\n")
    );
}
