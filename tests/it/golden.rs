//! Golden-directory helper: each case is a folder holding its input beside its expected
//! output. A missing expected file is written (and the case fails so it gets reviewed);
//! `UPDATE_EXPECT=1` rewrites every expected file.

use std::path::{Path, PathBuf};

/// The case folders under `tests/data/<kind>/`, sorted.
pub fn cases(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root.display());
    dirs
}

/// Compares `actual` with the expected file; returns a description of any mismatch.
pub fn compare(expected: &Path, actual: &str) -> Result<(), String> {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    match std::fs::read_to_string(expected) {
        Ok(want) if want == actual => Ok(()),
        _ if update => {
            std::fs::write(expected, actual).map_err(|e| format!("{}: {e}", expected.display()))
        }
        Ok(want) => Err(format!(
            "{} differs (UPDATE_EXPECT=1 rewrites it):\n{}",
            expected.display(),
            line_diff(&want, actual)
        )),
        Err(_) => {
            std::fs::write(expected, actual).map_err(|e| format!("{}: {e}", expected.display()))?;
            Err(format!("{} was missing; written, review it", expected.display()))
        }
    }
}

/// Runs `f` on every case and panics once, listing every failing case.
pub fn run_all(kind: &str, mut f: impl FnMut(&Path) -> Result<(), String>) {
    let failures: Vec<String> = cases(kind)
        .iter()
        .filter_map(|d| f(d).err().map(|e| format!("--- {}\n{e}", d.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of the {kind} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A small line diff: the first differing lines with their numbers.
fn line_diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            out.push_str(&format!(
                "line {}:\n  expected: {}\n  actual:   {}\n",
                i + 1,
                a.unwrap_or(&"<none>"),
                b.unwrap_or(&"<none>")
            ));
            if out.lines().count() > 30 {
                break;
            }
        }
    }
    out
}
