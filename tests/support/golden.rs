//! The one golden runner: an expected file beside each case's input. A missing or
//! different expected file fails the case; with `UPDATE_EXPECT=1` it is written instead,
//! and the run says which files it wrote.

use std::path::Path;

/// True when `UPDATE_EXPECT=1` asks for expected files to be (re)written.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1")
}

/// Compares `actual` with the file `expected`; `Err` describes a mismatch or a missing
/// file. With `UPDATE_EXPECT=1` a missing or different file is written and reported on
/// stderr.
pub fn compare(expected: &Path, actual: &str) -> Result<(), String> {
    compare_or_write(expected, actual, updating())
}

/// [`compare`], writing a missing or different file only when `write`.
pub fn compare_or_write(expected: &Path, actual: &str, write: bool) -> Result<(), String> {
    let want = std::fs::read_to_string(expected);
    if want.as_deref().is_ok_and(|w| w == actual) {
        return Ok(());
    }
    if write {
        std::fs::write(expected, actual).map_err(|e| format!("{}: {e}", expected.display()))?;
        eprintln!("UPDATE_EXPECT=1: wrote {}", expected.display());
        return Ok(());
    }
    match want {
        Ok(want) => Err(format!(
            "{} differs (UPDATE_EXPECT=1 rewrites it):\n{}",
            expected.display(),
            line_diff(&want, actual)
        )),
        Err(e) => Err(format!(
            "{} cannot be read ({e}); UPDATE_EXPECT=1 writes it from the actual output:\n{actual}",
            expected.display()
        )),
    }
}

/// Runs `f` on every case folder of `tests/data/<kind>/` and panics once, listing every
/// failing case.
pub fn run_all(kind: &str, mut f: impl FnMut(&Path) -> Result<(), String>) {
    let dirs = super::corpus::case_dirs(kind);
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| f(d).err().map(|e| format!("--- {}\n{e}", d.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of the {} {kind} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

/// A small line diff: the first differing lines with their numbers.
pub fn line_diff(want: &str, got: &str) -> String {
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
