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
            .filter(|(_, f)| !f.has_digest())
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

/// What [`inputs_digest_unparsed`] read: each file's canonical name and bytes, in the
/// order it hashed them, and that digest.
struct Prior {
    files: Vec<NamedBytes>,
    names: Vec<String>,
    digest: String,
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
/// when they are the same files in the same order, the digest of their texts is the one
/// already computed from those bytes.
fn seed_digest(loaded: &Loaded, has_site: bool, prior: Prior) {
    let names: Vec<String> = loaded
        .map
        .files()
        .map(|(_, f)| canonical(&f.name))
        .collect();
    if names == prior.names {
        let skip = 1 + usize::from(has_site);
        let includes = names.into_iter().skip(skip).collect();
        let _ = (loaded.digest).set((has_site, prior.digest, includes));
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

/// The same digest computed without parsing: the policy and site file named on the
/// command line plus the includes a record lists. `None` when any file is unreadable.
/// The digest of the inputs `rec` was applied from, as they are now: the record's own
/// while its stamps hold ([`hostwall::record::InputStamps::hold`]), else read and hashed.
pub fn digest_for(input: &Input, rec: &hostwall::record::ApplyRecord) -> Option<String> {
    if stamps_hold(input, rec) {
        return Some(rec.digest.clone());
    }
    inputs_digest_unparsed(input, &rec.includes)
}

/// Whether `rec`'s input stamps stand for the files `input` names now.
pub fn stamps_hold(input: &Input, rec: &hostwall::record::ApplyRecord) -> bool {
    let paths = input_paths(input, &rec.includes);
    (rec.stamps.as_ref()).is_some_and(|s| paths.is_some_and(|p| s.hold(&p)))
}

pub fn inputs_digest_unparsed(input: &Input, includes: &[String]) -> Option<String> {
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
    let texts = (files.iter()).map(|(n, bytes)| (n.as_str(), unmarked(bytes)));
    let digest = hostwall::record::inputs_digest_bytes(texts);
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    if total > PRIOR_MAX_BYTES {
        return Some(digest);
    }
    let names = files.iter().map(|(n, _)| n.clone()).collect();
    *prior() = Some(Prior {
        files,
        names,
        digest: digest.clone(),
    });
    Some(digest)
}

/// `bytes` after a leading byte-order mark: the text `hostwall::text::decode` makes of
/// them whenever it finds no problem in them (`record::inputs_digest_bytes`). Hashed
/// undecoded, a file is not checked twice over (1.6 MB: 0.2 ms).
fn unmarked(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostwall::text::decode;

    #[test]
    fn a_large_input_is_shed_after_its_digest_and_read_back_only_unchanged_issue14() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = dir.path().join("p.policy");
        let inc = dir.path().join("inc.policy");
        // 300,000 /30s (5 MiB) in the include, the policy small.
        let list: Vec<String> = (0..300_000u32)
            .map(|i| {
                let v = i * 8;
                format!("10.{}.{}.{}/30", v >> 16 & 255, v >> 8 & 255, v & 255)
            })
            .collect();
        std::fs::write(&inc, format!("define big = {}\n", list.join(", "))).expect("write");
        let text = "include \"inc.policy\"\npolicy p {\n    allow ssh tcp 22 from big\n}\n";
        std::fs::write(&policy, text).expect("write");
        let input = Input {
            policy: Some(policy.clone()),
            site: None,
        };
        let mut loaded = load(&input).expect("load");
        assert!(loaded.policy.is_some(), "{:?}", loaded.diagnostics);
        let digest = digest_texts(&loaded, false);
        let before = loaded.map.clone();
        loaded.shed_large();
        let shed: Vec<_> = (loaded.map.files())
            .filter(|(id, _)| loaded.map.is_shed(*id))
            .map(|(_, f)| f.name.clone())
            .collect();
        assert_eq!(shed, vec![inc.display().to_string()], "only the large file");
        assert_eq!(
            inputs_digest(&loaded, false),
            digest,
            "taken before shedding"
        );
        let restored = loaded.restored_map().expect("read back");
        for ((_, a), (_, b)) in restored.files().zip(before.files()) {
            assert!(a.text == b.text, "{}", a.name);
        }
        // The include rewritten since the check: not taken back.
        std::fs::write(&inc, "define big = 10.0.0.0/30\n").expect("write");
        let err = loaded.restored_map().map(|_| ()).expect_err("changed");
        assert!(err.contains("changed since it was checked"), "{err}");
    }

    /// The digest a loaded policy reports is always the digest of the texts it was
    /// compiled from, whether the unparsed read's digest was reused or not.
    #[test]
    fn a_reused_inputs_digest_is_the_digest_of_the_loaded_texts_issue14() {
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = dir.path().join("p.policy");
        let inc = dir.path().join("inc.policy");
        let write = |p: &Path, t: &str| std::fs::write(p, t).expect("write");
        write(&inc, "define big = 10.0.0.0/30, 10.0.0.8/30\n");
        let body = |extra: &str| {
            format!(
                "include \"inc.policy\"\n{extra}policy input {{\n    allow ssh tcp 22 from big\n}}\n"
            )
        };
        write(&policy, &body(""));
        let input = Input {
            policy: Some(policy.clone()),
            site: None,
        };
        let incs = vec![canonical(&inc.display().to_string())];
        let check = |unparsed: Option<String>, reused: bool| {
            let loaded = load(&input).expect("load");
            assert!(loaded.policy.is_some(), "{:?}", loaded.diagnostics);
            let fresh = digest_texts(&loaded, false);
            assert_eq!(loaded.digest.get().is_some(), reused);
            assert_eq!(inputs_digest(&loaded, false), fresh);
            if reused {
                assert_eq!(unparsed, Some(fresh.0));
            }
        };
        // Same files: the unparsed digest is the loaded one.
        check(inputs_digest_unparsed(&input, &incs), true);
        // Rewritten after the digest: the bytes hashed are the bytes compiled.
        let d = inputs_digest_unparsed(&input, &incs);
        write(&policy, &body("# changed\n"));
        write(&inc, "define big = 10.0.0.16/30\n");
        check(d, true);
        // The record's include list is not what the policy includes now: computed anew.
        check(inputs_digest_unparsed(&input, &[]), false);
        let other = dir.path().join("other.policy");
        write(&other, "# not included\n");
        check(
            inputs_digest_unparsed(&input, &[canonical(&other.display().to_string())]),
            false,
        );
        // No unparsed read at all.
        check(None, false);
    }

    /// A file that decodes without a problem is its bytes after a byte-order mark: the
    /// unparsed digest, of those bytes, is the digest of the texts.
    fn same(bytes: &[u8]) {
        let d = decode(bytes);
        if d.total == 0 {
            assert_eq!(unmarked(bytes), d.text.as_bytes(), "{bytes:?}");
        }
    }

    #[test]
    fn the_inputs_digest_text_is_the_decoded_text() {
        for bytes in [
            &b""[..],
            b"table t\n\tallow tcp 22\n",
            b"\xEF\xBB\xBFwith a byte-order mark\n",
            b"crlf\r\nline\r\n",
            b"lone\rcarriage return",
            b"trailing cr\r",
            b"nul\0 esc\x1b del\x7f",
            "c1 \u{85} \u{9f} nbsp \u{a0} copy \u{a9} \u{e9}".as_bytes(),
            b"bad \xff utf-8 \xc3",
            b"\xEF\xBB\xBF\xEF\xBB\xBFtwo marks",
        ] {
            same(bytes);
        }
        // Hashed as bytes, the digest is the one of the decoded texts.
        let text = "policy p {\r\n    allow ssh\r\n}\r\n";
        let bytes = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(
            hostwall::record::inputs_digest_bytes([("p", unmarked(&bytes))]),
            hostwall::record::inputs_digest([("p", decode(&bytes).text.as_str())])
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_digest_as_decoded(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::any::<u8>(),
                proptest::sample::select(b"\r\n\t\x7f\xc2\x85\x9f\xa0 a".to_vec()),
            ],
            0..200,
        )) {
            same(&bytes);
        }
    }
}
