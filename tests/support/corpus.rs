//! The one walker over the repository's policy corpora: the shipped `policies/*.policy`
//! (with `NAME.site.toml` beside one when present) and the case folders under
//! `tests/data/<kind>/` (a `policy`, an optional `site.toml` and expected files). Every
//! listing is sorted, and an unreadable or empty corpus fails the test rather than
//! passing over nothing.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One policy of a corpus with the site file it is checked with.
#[derive(Clone, Debug)]
pub struct Case {
    /// The path shown in failures (the policy file or the case folder).
    pub name: String,
    pub policy: PathBuf,
    pub site: Option<PathBuf>,
}

impl Case {
    /// The policy's text; panics naming the file when it cannot be read.
    pub fn text(&self) -> String {
        read(&self.policy)
    }

    /// The site file's text, when the case has one.
    pub fn site_text(&self) -> Option<String> {
        self.site.as_deref().map(read)
    }
}

/// A file's text; panics naming the file when it cannot be read.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entries of the folder `path` that `keep` accepts, sorted; panics when it cannot
/// be read.
fn list(path: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .path()
        })
        .filter(|p| keep(p))
        .collect();
    out.sort();
    out
}

/// The entries of `dir` (relative to the repository) that `keep` accepts, sorted.
/// Panics when the folder cannot be read or nothing in it is kept.
pub fn entries(dir: &str, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let out = list(&repo().join(dir), keep);
    assert!(!out.is_empty(), "nothing to test under {dir}");
    out
}

/// The files of `dir` whose extension is `ext`, sorted.
pub fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    entries(dir, |p| {
        p.is_file() && p.extension().is_some_and(|x| x == ext)
    })
}

/// The case folders under `tests/data/<kind>/` that hold a `policy`, sorted.
pub fn case_dirs(kind: &str) -> Vec<PathBuf> {
    entries(&format!("tests/data/{kind}"), |p| {
        p.join("policy").is_file()
    })
}

/// Every shipped policy, `policies/*.policy`, with `NAME.site.toml` when present.
pub fn shipped() -> Vec<Case> {
    files("policies", "policy")
        .into_iter()
        .map(|policy| {
            let site = policy.with_extension("site.toml");
            Case {
                name: policy.display().to_string(),
                site: site.is_file().then_some(site),
                policy,
            }
        })
        .collect()
}

/// Every case of `tests/data/<kind>/`, with its `site.toml` when present.
pub fn goldens(kind: &str) -> Vec<Case> {
    case_dirs(kind).into_iter().map(case_of).collect()
}

/// The case of a folder holding a `policy` (and maybe a `site.toml`).
fn case_of(dir: PathBuf) -> Case {
    let site = dir.join("site.toml");
    Case {
        name: dir.display().to_string(),
        policy: dir.join("policy"),
        site: site.is_file().then_some(site),
    }
}

/// Every case of every kind under `tests/data/` (kinds without policies add none).
pub fn every_case() -> Vec<Case> {
    entries("tests/data", Path::is_dir)
        .iter()
        .flat_map(|kind| list(kind, |p| p.join("policy").is_file()))
        .map(case_of)
        .collect()
}

/// The shipped policies, then the compile goldens: every policy that must check clean.
pub fn clean() -> Vec<Case> {
    let mut all = shipped();
    all.extend(goldens("compile"));
    all
}

/// Checks a case; `Err` holds the rendered diagnostics. A case that checks with warnings
/// is `Ok` only when `warnings_ok`.
pub fn check_case(case: &Case, warnings_ok: bool) -> Result<hostwall::model::Policy, String> {
    use hostwall::diag::{Color, render};
    let mut map = hostwall::source::SourceMap::new();
    let file = map.add(case.policy.display().to_string(), case.text());
    let site = case.site_text().map(|t| map.add("site.toml", t));
    let (policy, diags) =
        hostwall::check::check(&mut map, file, site, &hostwall::check::NoIncludes);
    match policy {
        Some(p) if warnings_ok || diags.is_empty() => Ok(p),
        _ => Err(render(&map, &diags, Color::Never)),
    }
}

/// Checks and compiles a case that must check (warnings allowed); panics with the
/// rendered diagnostics otherwise.
pub fn compile(case: &Case) -> hostwall::ir::Ruleset {
    match check_case(case, true) {
        Ok(p) => hostwall::compile::compile(&p),
        Err(e) => panic!("{} does not check:\n{e}", case.name),
    }
}

/// Checks and compiles policy text (no site file); panics with the rendered diagnostics.
pub fn compile_text(text: &str) -> hostwall::ir::Ruleset {
    use hostwall::diag::{Color, render};
    let mut map = hostwall::source::SourceMap::new();
    let file = map.add("policy", text);
    let (policy, diags) =
        hostwall::check::check(&mut map, file, None, &hostwall::check::NoIncludes);
    match policy {
        Some(p) => hostwall::compile::compile(&p),
        None => panic!("does not check:\n{}", render(&map, &diags, Color::Never)),
    }
}
