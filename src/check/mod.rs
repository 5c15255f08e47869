//! Policy text (+ site file, + includes) -> checked `model::Policy` and every diagnostic.
//!
//! check does no I/O: includes come through the [`Includes`] trait, the site file is already in
//! the source map. Every error in one run; warnings never stop compilation.

// `Result<_, Diagnostic>` is the error path of a checker run, taken once per mistake; boxing
// every diagnostic would only add noise.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod codes;
mod env;
mod log;
mod output;
mod policy;
mod rules;
mod shadow;
mod site;
pub mod suggest;
pub mod validate;

use crate::diag::Diagnostic;
use crate::model::Policy;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::{self, ast};
use site::Site;

/// Resolves `include "path"` statements; the CLI implements it with the file system (check does no I/O).
pub trait Includes {
    /// `from`: display name of the including file; `path`: as written. Returns (display name,
    /// the file's bytes), decoded and checked like every other input (see [`crate::text`]).
    fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String>;
}

/// Where `include "path"` in the file named `from` points: `path` itself when absolute, else
/// `path` relative to the directory of `from`. Pure path arithmetic, no I/O; every
/// [`Includes`] that reads files resolves names with it so they agree.
pub fn include_path(from: &str, path: &str) -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    if Path::new(path).is_absolute() {
        return PathBuf::from(path);
    }
    Path::new(from)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(path)
}

/// For callers without a file system view: every include fails with a diagnostic.
pub struct NoIncludes;

impl Includes for NoIncludes {
    fn load(&self, _from: &str, _path: &str) -> Result<(String, Vec<u8>), String> {
        Err("includes are not available here".into())
    }
}

/// [`check`] for files read as bytes (name, bytes): each is decoded into `map` and its
/// encoding problems (not UTF-8, control characters) are reported first, as errors.
pub fn check_bytes(
    map: &mut SourceMap,
    policy: (&str, impl Into<Vec<u8>>),
    site: Option<(&str, &[u8])>,
    includes: &dyn Includes,
) -> (Option<Policy>, Vec<Diagnostic>) {
    let (policy, mut diags) = crate::text::add_owned(map, policy.0, policy.1.into());
    let site = site.map(|(name, bytes)| {
        let (id, d) = crate::text::add(map, name, bytes);
        diags.extend(d);
        id
    });
    let (result, more) = check(map, policy, site, includes);
    diags.extend(more);
    let ok = !diags.iter().any(Diagnostic::is_error);
    (result.filter(|_| ok), diags)
}

/// Parses and checks one policy (+ optional site file already added to `map`).
/// Returns the checked policy when there are no errors (warnings allowed), and ALL diagnostics.
pub fn check(
    map: &mut SourceMap,
    policy: FileId,
    site: Option<FileId>,
    includes: &dyn Includes,
) -> (Option<Policy>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let site = match site {
        Some(f) => {
            let (s, d) = site::parse(map, f);
            diags.extend(d);
            s
        }
        None => Site::default(),
    };
    let mut files = Vec::new();
    let main = match syntax::parse(map, policy) {
        Ok(ast) => ast,
        Err(d) => {
            diags.extend(d);
            return (None, diags);
        }
    };
    let main_name = normalise(&map.file(policy).name);
    let mut loader = Loader {
        includes,
        stack: vec![main_name.clone()],
        seen: vec![main_name],
        syntax_failed: false,
    };
    loader.load_includes(map, &main, &mut files, &mut diags);
    if loader.syntax_failed {
        return (None, diags);
    }
    let result = policy::check_policy(policy, &main, &files, &site, &mut diags);
    let ok = !diags.iter().any(Diagnostic::is_error);
    (result.filter(|_| ok), diags)
}

/// Loads included files depth first, remembering the chain to report cycles.
struct Loader<'a> {
    includes: &'a dyn Includes,
    /// Display names of the files being included right now (the chain).
    stack: Vec<String>,
    /// Every file loaded so far: a file included twice (diamond) is read once.
    seen: Vec<String>,
    syntax_failed: bool,
}

/// One include of a file, read and checked in order, its parse still to come: read and
/// added to the map (with the encoding problems its decoding found), or what stands in
/// its place (a diagnostic, or nothing for a file already loaded).
enum Loaded {
    File {
        name: String,
        id: FileId,
        encoding: Vec<Diagnostic>,
    },
    Failed(Diagnostic),
    Skipped,
}

impl Loader<'_> {
    /// Loads the includes of `file`, depth first: each is read, checked and added to the
    /// map, parsed, and its own includes loaded before the next one is read. A file whose
    /// text cannot hold an include (no `include` in it) has none to load, so the next one
    /// may be read before it is parsed: such a run is read in order and then parsed at
    /// once ([`parse_all`]), and everything is reported in the order of the walk.
    fn load_includes(
        &mut self,
        map: &mut SourceMap,
        file: &ast::File,
        out: &mut Vec<ast::File>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut run = Vec::new();
        for item in &file.items {
            let ast::TopItem::Include { path, .. } = item else {
                continue;
            };
            let loaded = self.load_one(map, path);
            let may_include = match &loaded {
                Loaded::File { id, .. } => map.file(*id).text.contains("include"),
                _ => false,
            };
            run.push(loaded);
            if may_include {
                self.parse_run(map, &mut run, out, diags);
            }
        }
        self.parse_run(map, &mut run, out, diags);
    }

    /// Reads, checks and adds one include to the map.
    fn load_one(&mut self, map: &mut SourceMap, path: &crate::source::Spanned<String>) -> Loaded {
        let from = self.stack.last().cloned().unwrap_or_default();
        let (name, bytes) = match self.includes.load(&from, &path.value) {
            // Compared (and passed back as the next `from`) in lexical normal form, so
            // `sub/../a.policy` is `a.policy` and a self-include is a cycle, not a descent.
            Ok((name, bytes)) => (normalise(&name), bytes),
            Err(e) => {
                return Loaded::Failed(
                    Diagnostic::error(
                        codes::INCLUDE_FAILED,
                        path.span,
                        format!("cannot include \"{}\"", path.value),
                    )
                    .with_label(e)
                    .with_help("include paths are relative to the including file"),
                );
            }
        };
        if self.stack.contains(&name) {
            return Loaded::Failed(include_cycle(&self.stack, &name, path.span));
        }
        if self.seen.contains(&name) {
            return Loaded::Skipped;
        }
        self.seen.push(name.clone());
        let (id, encoding) = crate::text::add_owned(map, name.clone(), bytes);
        Loaded::File { name, id, encoding }
    }

    /// Parses the files of `run` and, in order, reports each entry, loads each parsed
    /// file's includes and keeps it.
    fn parse_run(
        &mut self,
        map: &mut SourceMap,
        run: &mut Vec<Loaded>,
        out: &mut Vec<ast::File>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let ids: Vec<FileId> = (run.iter())
            .filter_map(|l| match l {
                Loaded::File { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let mut parsed = parse_all(map, &ids).into_iter();
        for loaded in run.drain(..) {
            let (name, encoding) = match loaded {
                Loaded::Failed(d) => {
                    diags.push(d);
                    continue;
                }
                Loaded::Skipped => continue,
                Loaded::File { name, encoding, .. } => (name, encoding),
            };
            diags.extend(encoding);
            match parsed.next() {
                Some(Ok(ast)) => {
                    self.stack.push(name);
                    self.load_includes(map, &ast, out, diags);
                    self.stack.pop();
                    out.push(ast);
                }
                Some(Err(d)) => {
                    diags.extend(d);
                    self.syntax_failed = true;
                }
                None => {}
            }
        }
    }
}

/// Text from which files are parsed on several threads (one file a thread at a time):
/// below it a thread costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Each file of `ids` parsed, in order: on as many threads as the CPUs allow when there
/// are several and they are large (parsing is a pure function of the text).
fn parse_all(map: &SourceMap, ids: &[FileId]) -> Vec<Result<ast::File, Vec<Diagnostic>>> {
    let bytes: usize = ids.iter().map(|id| map.file(*id).text.len()).sum();
    // The CPUs are asked only then: reading the cgroup's limits costs system calls.
    let threads = match (ids.len() < 2, bytes < PARALLEL_MIN_BYTES) {
        (false, false) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        _ => 1,
    }
    .min(ids.len());
    if threads < 2 {
        return ids.iter().map(|id| syntax::parse(map, *id)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(id) = ids.get(i) else {
                return done;
            };
            done.push((i, syntax::parse(map, *id)));
        }
    };
    let (mut all, helpers) = crate::threads::beside("parse", (1..threads).map(|_| &work), work);
    for done in helpers {
        match done {
            Ok(done) => all.extend(done),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// A path with `.` and `name/..` removed lexically (`sub/../a.policy` -> `a.policy`); a
/// leading `..` that cannot be resolved is kept, as is a leading `/`.
fn normalise(name: &str) -> String {
    let absolute = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn include_cycle(stack: &[String], name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::INCLUDE_CYCLE,
        span,
        format!("include cycle: \"{name}\" is already being included"),
    )
    .with_label("includes a file that includes this one")
    .with_help(format!("the chain is {} -> {name}", stack.join(" -> ")))
}

#[cfg(test)]
mod tests;
