//! Reading policy, include and site files from disk into a `SourceMap`, then checking.

use super::args::Input;
use super::files::{self, MAX_POLICY_BYTES, MAX_TOTAL_BYTES, ReadError};
use anyhow::{Context, Result};
use hostwall::check::{self, Includes};
use hostwall::diag::Diagnostic;
use hostwall::model::Policy;
use hostwall::source::SourceMap;
use std::borrow::Cow;
use std::cell::Cell;
use std::path::Path;

/// Display name of the built-in policy in diagnostics and generated headers.
pub const BUILTIN_NAME: &str = hostwall::boot::BUILTIN_NAME;

pub struct Loaded {
    pub name: String,
    pub map: SourceMap,
    pub policy: Option<Policy>,
    pub diagnostics: Vec<Diagnostic>,
    /// [`inputs_digest`] once computed (the texts in `map` never change).
    digest: std::cell::OnceCell<(bool, String, Vec<String>)>,
    /// [`inputs_checksum`] once computed.
    checksum: std::cell::OnceCell<(bool, String)>,
}

/// Reads the policy's bytes: a file, `-` for stdin, or the built-in default. A file must be
/// a regular file of at most [`MAX_POLICY_BYTES`]; stdin is read up to the same limit.
pub fn read_policy(path: Option<&Path>) -> Result<(String, Vec<u8>)> {
    match path {
        None => Ok((
            BUILTIN_NAME.into(),
            hostwall::DEFAULT_POLICY.as_bytes().to_vec(),
        )),
        Some(p) if p == Path::new("-") => {
            let bytes = files::read_to_limit(std::io::stdin().lock(), MAX_POLICY_BYTES)
                .context("cannot read the policy from standard input")?;
            crate::reading(bytes.len() as u64);
            Ok(("<stdin>".into(), bytes))
        }
        Some(p) => {
            let bytes = files::read_limited(p, MAX_POLICY_BYTES)
                .with_context(|| format!("cannot read policy {}", p.display()))?;
            Ok((p.display().to_string(), bytes))
        }
    }
}

/// Reads the site file's bytes (a regular file of at most [`files::MAX_SITE_BYTES`]).
fn read_site(p: &Path) -> Result<Vec<u8>> {
    files::read_limited(p, files::MAX_SITE_BYTES)
        .with_context(|| format!("cannot read site file {}", p.display()))
}

/// Reads and checks the policy (and site file) named on the command line.
pub fn load(input: &Input) -> Result<Loaded> {
    let mut prior = prior_for(input);
    let served = Cell::new(0);
    let (name, policy) = match input.policy.as_deref() {
        Some(p) if p != Path::new("-") => match take_read(&mut prior, p, MAX_POLICY_BYTES) {
            Some(bytes) => {
                served.set(served.get() + 1);
                (p.display().to_string(), bytes)
            }
            None => read_policy(Some(p))?,
        },
        p => read_policy(p)?,
    };
    let site = match &input.site {
        Some(p) => Some((p.display().to_string(), {
            match take_read(&mut prior, p, files::MAX_SITE_BYTES) {
                Some(bytes) => {
                    served.set(served.get() + 1);
                    bytes
                }
                None => read_site(p)?,
            }
        })),
        None => None,
    };
    let used = policy.len() + site.as_ref().map_or(0, |(_, b)| b.len());
    let includes = FsIncludes {
        budget: Cell::new(MAX_TOTAL_BYTES.saturating_sub(used as u64)),
        prior: std::cell::RefCell::new(prior.as_mut().map(|p| std::mem::take(&mut p.files))),
        served: &served,
    };
    let mut map = SourceMap::new();
    let (policy, diagnostics) = check::check_bytes(
        &mut map,
        (&name, policy),
        site.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())),
        &includes,
    );
    let loaded = Loaded {
        name,
        map,
        policy,
        diagnostics,
        digest: Default::default(),
        checksum: Default::default(),
    };
    if let Some(p) = prior
        && served.get() == loaded.map.files().count()
        && loaded.policy.is_some()
    {
        seed_digest(&loaded, input.site.is_some(), p);
    }
    Ok(loaded)
}

/// Input of at least this many bytes in all is shed by [`Loaded::shed_large`].
const SHED_MIN_TOTAL: usize = 4 << 20;
/// The smallest file [`Loaded::shed_large`] sheds.
const SHED_MIN_FILE: usize = 1 << 20;

impl Loaded {
    /// Lets go of the texts of a large input once it is checked (a million addresses:
    /// 17 MB that compile and apply would otherwise hold at their peak), keeping what
    /// locates a span. Each file of at least 1 MiB that can be read again by its name
    /// goes, when the input is at least 4 MiB in all; each file's digest is taken first,
    /// on several threads (what the shed text is known again by, and the inputs' digest's
    /// part for it). [`Loaded::restored_map`] reads them back for what needs the text.
    pub fn shed_large(&mut self) {
        let total: usize = self.map.files().map(|(_, f)| f.text.len()).sum();
        if total < SHED_MIN_TOTAL {
            return;
        }
        self.map.digest_all();
        let ids: Vec<_> = (self.map.files())
            .filter(|(_, f)| f.text.len() >= SHED_MIN_FILE && rereadable(&f.name))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.map.shed(id);
        }
    }

    /// Whether the inputs' digest is still to be taken from at least 256 KiB of text,
    /// enough to be worth taking on a thread of its own.
    pub fn digest_worth_a_thread(&self) -> bool {
        let texts: usize = (self.map.files())
            .filter(|(_, f)| !f.has_sums())
            .map(|(_, f)| f.text.len())
            .sum();
        self.digest.get().is_none() && texts >= 256 << 10
    }

    /// The source map with every shed text read back from its file, for rendering an
    /// excerpt or keeping the texts; an error when a file cannot be read or is no
    /// longer the text that was checked. The read back is not a read the apply record's
    /// input stamps may vouch for (`files::read_again`).
    pub fn restored_map(&self) -> std::result::Result<Cow<'_, SourceMap>, String> {
        let shed: Vec<_> = (self.map.files())
            .filter(|(id, _)| self.map.is_shed(*id))
            .map(|(id, f)| (id, f.name.clone()))
            .collect();
        if shed.is_empty() {
            return Ok(Cow::Borrowed(&self.map));
        }
        let mut map = self.map.clone();
        for (id, name) in shed {
            let bytes = files::read_again(Path::new(&name), MAX_POLICY_BYTES)
                .map_err(|e| format!("cannot read {name} again: {e}"))?;
            map.restore(id, hostwall::text::decode_owned(bytes).text)?;
        }
        Ok(Cow::Owned(map))
    }
}

/// Whether an input named `name` is a file that can be read again by that name (not the
/// built-in policy, not standard input).
fn rereadable(name: &str) -> bool {
    name != BUILTIN_NAME && name != "<stdin>"
}

/// A file's canonical name and bytes.
type NamedBytes = (String, Vec<u8>);

/// The most input bytes the unparsed read keeps for the load (4 MiB): larger inputs are
/// read again file by file, so their bytes are not all held while the first is parsed.
const PRIOR_MAX_BYTES: usize = 4 << 20;

/// What [`inputs_now`] read: each file's canonical name and bytes, in the order it
/// hashed them, their checksum, and their digest unless the checksum proved a change.
struct Prior {
    files: Vec<NamedBytes>,
    names: Vec<String>,
    digest: Option<String>,
    checksum: String,
}

/// The files `input` and `includes` name, as stamped ([`hostwall::record::InputStamps`]):
/// the policy's and site file's canonical paths, then the includes as recorded. `None`
/// for standard input and for the built-in policy (its text is in the binary, whose
/// version alone does not tell it; it is small, so it is hashed every time).
pub fn input_paths(input: &Input, includes: &[String]) -> Option<Vec<std::path::PathBuf>> {
    let mut paths = Vec::new();
    match input.policy.as_deref() {
        Some(p) if p == Path::new("-") => return None,
        Some(p) => paths.push(canonical(&p.display().to_string()).into()),
        None => return None,
    }
    if let Some(site) = &input.site {
        paths.push(canonical(&site.display().to_string()).into());
    }
    paths.extend(includes.iter().map(std::path::PathBuf::from));
    Some(paths)
}

fn prior() -> std::sync::MutexGuard<'static, Option<Prior>> {
    static PRIOR: std::sync::Mutex<Option<Prior>> = std::sync::Mutex::new(None);
    PRIOR.lock().unwrap_or_else(|e| e.into_inner())
}

/// The unparsed read, taken when it began with `input`'s policy file.
fn prior_for(input: &Input) -> Option<Prior> {
    let policy = input.policy.as_deref().filter(|p| *p != Path::new("-"))?;
    let name = canonical(&policy.display().to_string());
    let mut kept = prior();
    kept.take_if(|p| p.names.first() == Some(&name))
}

/// The bytes the unparsed digest read for `path` (compared by canonical name), when
/// they are within `limit`: the load compiles the very bytes that were hashed.
fn take_read(prior: &mut Option<Prior>, path: &Path, limit: u64) -> Option<Vec<u8>> {
    let files = &mut prior.as_mut()?.files;
    take_named(files, &canonical(&path.display().to_string()), limit)
}

fn take_named(files: &mut [NamedBytes], name: &str, limit: u64) -> Option<Vec<u8>> {
    let (_, bytes) = files.iter_mut().find(|(n, b)| n == name && !b.is_empty())?;
    (bytes.len() as u64 <= limit).then(|| std::mem::take(bytes))
}

/// Every file of `loaded` came from the unparsed read, and the policy checked (so each
/// file decoded without a problem, and its text is its bytes after a byte-order mark):
/// when they are the same files in the same order, the checksum and digest of their
/// texts are the ones already computed from those bytes.
fn seed_digest(loaded: &Loaded, has_site: bool, prior: Prior) {
    let names: Vec<String> = loaded
        .map
        .files()
        .map(|(_, f)| canonical(&f.name))
        .collect();
    if names == prior.names {
        let _ = (loaded.checksum).set((has_site, prior.checksum));
        if let Some(digest) = prior.digest {
            let skip = 1 + usize::from(has_site);
            let includes = names.into_iter().skip(skip).collect();
            let _ = (loaded.digest).set((has_site, digest, includes));
        }
    }
}

/// Includes resolved relative to the including file's directory, each a regular file of at
/// most [`MAX_POLICY_BYTES`], all files together at most [`MAX_TOTAL_BYTES`].
struct FsIncludes<'a> {
    /// Bytes the remaining includes may still take.
    budget: Cell<u64>,
    /// Files the unparsed digest read, by canonical name, not yet taken.
    prior: std::cell::RefCell<Option<Vec<NamedBytes>>>,
    /// How many files were taken from them.
    served: &'a Cell<usize>,
}

impl Includes for FsIncludes<'_> {
    fn load(&self, from: &str, path: &str) -> std::result::Result<(String, Vec<u8>), String> {
        let full = check::include_path(from, path);
        let left = self.budget.get();
        let limit = MAX_POLICY_BYTES.min(left);
        let name = canonical(&full.display().to_string());
        let kept = (self.prior.borrow_mut().as_mut()).and_then(|f| take_named(f, &name, limit));
        if let Some(bytes) = kept {
            self.served.set(self.served.get() + 1);
            self.budget.set(left - bytes.len() as u64);
            return Ok((full.display().to_string(), bytes));
        }
        let bytes =
            files::read_limited(&full, MAX_POLICY_BYTES.min(left)).map_err(|e| match e {
                ReadError::TooLarge(_) if left < MAX_POLICY_BYTES => format!(
                    "cannot read {}: the policy and its includes together exceed the {} MiB limit",
                    full.display(),
                    MAX_TOTAL_BYTES >> 20
                ),
                e => format!("cannot read {}: {e}", full.display()),
            })?;
        self.budget.set(left - bytes.len() as u64);
        Ok((full.display().to_string(), bytes))
    }
}

/// A file's name for the apply record: its canonical path when it is a file, else the
/// display name as is (`<stdin>`, the built-in policy).
pub fn canonical(name: &str) -> String {
    std::fs::canonicalize(name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Digest of every file a loaded policy was compiled from, and the include files among
/// them (everything after the policy and the site file), for the `diff` fast path.
pub fn inputs_digest(loaded: &Loaded, has_site: bool) -> (String, Vec<String>) {
    match loaded.digest.get() {
        Some((site, digest, includes)) if *site == has_site => (digest.clone(), includes.clone()),
        _ => {
            let (digest, includes) = digest_texts(loaded, has_site);
            let _ = (loaded.digest).set((has_site, digest.clone(), includes.clone()));
            (digest, includes)
        }
    }
}

/// [`hostwall::record::inputs_checksum`] of every file a loaded policy was compiled
/// from, named as [`inputs_digest`] names them.
pub fn inputs_checksum(loaded: &Loaded, has_site: bool) -> String {
    match loaded.checksum.get() {
        Some((site, sum)) if *site == has_site => sum.clone(),
        _ => {
            let files: Vec<(String, usize, u64)> = (loaded.map.files())
                .map(|(_, f)| (canonical(&f.name), f.text_len(), f.checksum()))
                .collect();
            let sum = hostwall::record::inputs_checksum(
                files.iter().map(|(n, len, c)| (n.as_str(), *len, *c)),
            );
            let _ = (loaded.checksum).set((has_site, sum.clone()));
            sum
        }
    }
}

/// Whether `loaded`'s inputs are other than those `rec` was applied from: proved by
/// another checksum when the record has one, else by another digest.
pub fn inputs_differ(loaded: &Loaded, has_site: bool, rec: &hostwall::record::ApplyRecord) -> bool {
    if rec
        .checksum
        .as_ref()
        .is_some_and(|c| *c != inputs_checksum(loaded, has_site))
    {
        return true;
    }
    inputs_digest(loaded, has_site).0 != rec.digest
}

fn digest_texts(loaded: &Loaded, has_site: bool) -> (String, Vec<String>) {
    loaded.map.digest_all();
    let files: Vec<(String, [u8; 32])> = (loaded.map.files())
        .map(|(_, f)| (canonical(&f.name), f.digest()))
        .collect();
    let digest =
        hostwall::record::inputs_digest_hashed(files.iter().map(|(n, d)| (n.as_str(), *d)));
    let skip = 1 + usize::from(has_site);
    let includes = files.iter().skip(skip).map(|(n, _)| n.clone()).collect();
    (digest, includes)
}

/// The digest of the inputs `rec` was applied from, as they are now: the record's own
/// while its stamps hold ([`hostwall::record::InputStamps::hold`]), else read and hashed.
/// `None` when a file is unreadable, or when the record's checksum already proves the
/// inputs changed (no digest could then be the record's).
pub fn digest_for(input: &Input, rec: &hostwall::record::ApplyRecord) -> Option<String> {
    if stamps_hold(input, rec) {
        return Some(rec.digest.clone());
    }
    match inputs_now(input, &rec.includes, rec.checksum.as_deref())? {
        Now::Digest(digest) => Some(digest),
        Now::Changed => None,
    }
}

/// Whether `rec`'s input stamps stand for the files `input` names now.
pub fn stamps_hold(input: &Input, rec: &hostwall::record::ApplyRecord) -> bool {
    let paths = input_paths(input, &rec.includes);
    (rec.stamps.as_ref()).is_some_and(|s| paths.is_some_and(|p| s.hold(&p)))
}

/// The inputs as they are now, against a record.
pub enum Now {
    /// Their checksum is not the record's: they changed (their digest is not taken).
    Changed,
    /// Their digest, for the caller to compare.
    Digest(String),
}

/// Reads the policy and site file named on the command line plus the includes a record
/// lists, without parsing: [`Now::Changed`] when their checksum is not `recorded`
/// (the record's [`hostwall::record::ApplyRecord::checksum`]), else their digest.
/// `None` when any file is unreadable. What was read is kept for the load that follows,
/// when it is small enough.
pub fn inputs_now(input: &Input, includes: &[String], recorded: Option<&str>) -> Option<Now> {
    let (name, policy) = read_policy(input.policy.as_deref()).ok()?;
    let mut files = vec![(canonical(&name), policy)];
    if let Some(site) = &input.site {
        let name = site.display().to_string();
        files.push((canonical(&name), read_site(site).ok()?));
    }
    for inc in includes {
        let bytes = files::read_limited(Path::new(inc), MAX_POLICY_BYTES).ok()?;
        files.push((inc.clone(), bytes));
    }
    let texts = || (files.iter()).map(|(n, bytes)| (n.as_str(), unmarked(bytes)));
    let checksum = hostwall::record::inputs_checksum(
        texts().map(|(n, t)| (n, t.len(), hostwall::digest::checksum(t))),
    );
    let digest = (recorded.is_none_or(|r| r == checksum))
        .then(|| hostwall::record::inputs_digest_bytes(texts()));
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    if total <= PRIOR_MAX_BYTES {
        let names = files.iter().map(|(n, _)| n.clone()).collect();
        *prior() = Some(Prior {
            files,
            names,
            digest: digest.clone(),
            checksum,
        });
    }
    Some(digest.map_or(Now::Changed, Now::Digest))
}

/// `bytes` after a leading byte-order mark: the text `hostwall::text::decode` makes of
/// them whenever it finds no problem in them (`record::inputs_digest_bytes`). Hashed
/// undecoded, a file is not checked twice over (1.6 MB: 0.2 ms).
fn unmarked(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
