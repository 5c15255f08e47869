//! The boot sequence's decisions (`hostwall boot`, docs/boot.md): try the policy, then
//! the last known good ([`crate::lkg`]), then the built-in kvm-host policy, until one
//! is applied; what failed on the way, and the system log entries that say so. A host
//! never boots open because of a typo: only when all three fail is nothing applied.
//!
//! Reading the policy from disk and applying a ruleset are the caller's (the CLI reads
//! files and holds the state-dir lock); this module only orders the attempts and names
//! each failure with its reason and, when it has one, its `file:line:col`.

use crate::apply::ApplyReport;
use crate::check::{self, NoIncludes};
use crate::diag::Diagnostic;
use crate::ir::Ruleset;
use crate::lkg::{self, LkgError};
use crate::source::SourceMap;
use crate::syslog::{Entry, Priority};
use std::path::Path;

/// Display name of the built-in policy in diagnostics, headers and log entries.
pub const BUILTIN_NAME: &str = "<built-in kvm-host.policy>";

/// Where a ruleset came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Policy,
    LastGood,
    BuiltIn,
}

impl Source {
    pub fn text(self) -> &'static str {
        match self {
            Source::Policy => "the policy",
            Source::LastGood => "the last known good",
            Source::BuiltIn => "the built-in kvm-host policy",
        }
    }

    /// The value of `HOSTWALL_APPLIED` / `HOSTWALL_SOURCE`.
    pub fn token(self) -> &'static str {
        match self {
            Source::Policy => "policy",
            Source::LastGood => "last-known-good",
            Source::BuiltIn => "built-in",
        }
    }
}

/// Why one attempt failed (`HOSTWALL_REASON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Missing, unreadable, too large, or unsafe permissions.
    Unreadable,
    /// Checker errors (or a stored entry that no longer checks).
    Invalid,
    /// There is no last known good.
    Absent,
    /// The last known good failed its integrity or trust checks.
    Corrupt,
    /// The kernel (or the state-dir lock) refused the apply.
    Refused,
}

impl Reason {
    pub fn token(self) -> &'static str {
        match self {
            Reason::Unreadable => "unreadable",
            Reason::Invalid => "invalid",
            Reason::Absent => "absent",
            Reason::Corrupt => "corrupt",
            Reason::Refused => "kernel-refused",
        }
    }
}

/// A ruleset ready to apply, with the sources it was compiled from.
pub struct Ready {
    pub source: Source,
    pub name: String,
    pub map: SourceMap,
    pub has_site: bool,
    pub ruleset: Ruleset,
}

/// One failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    pub source: Source,
    pub name: String,
    pub reason: Reason,
    /// `file:line:col` of the first error, when the failure has a place.
    pub location: Option<String>,
    pub error: String,
}

impl Failed {
    /// One clause for the summary; the error names the place when it has one.
    fn text(&self) -> String {
        match self.reason {
            // These errors name the store themselves.
            Reason::Absent | Reason::Corrupt => self.error.clone(),
            _ => match &self.location {
                Some(l) if !self.error.starts_with(l.as_str()) => {
                    format!(
                        "{} {} at {l}: {}",
                        self.source.text(),
                        self.name,
                        self.error
                    )
                }
                _ => format!("{} {}: {}", self.source.text(), self.name, self.error),
            },
        }
    }
}

/// What the boot did.
pub struct Booted {
    /// The ruleset applied and the apply's report; `None`: nothing could be applied.
    pub applied: Option<(Ready, ApplyReport)>,
    /// Every failed attempt, in order.
    pub failed: Vec<Failed>,
}

/// `file:line:col: message: label` of the first error in `diags`, and how many more.
pub fn first_error(map: &SourceMap, diags: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    let Some(d) = errors.first() else {
        return "it has errors".into();
    };
    let mut s = format!("{}: {}", map.location(d.span), d.message);
    if !d.label.is_empty() {
        s.push_str(&format!(": {}", d.label));
    }
    if errors.len() > 1 {
        s.push_str(&format!(" (and {} more errors)", errors.len() - 1));
    }
    s
}

/// The location part of [`first_error`], for `HOSTWALL_LOCATION`.
pub fn first_location(map: &SourceMap, diags: &[Diagnostic]) -> Option<String> {
    diags
        .iter()
        .find(|d| d.is_error())
        .map(|d| map.location(d.span))
}

/// The last known good in `dir`, compiled.
pub fn last_good(dir: &Path) -> Result<Ready, Failed> {
    let failed = |name: String, reason, location, error: String| Failed {
        source: Source::LastGood,
        name,
        reason,
        location,
        error,
    };
    let shown = lkg::path(dir).display().to_string();
    let entry = match lkg::load(dir) {
        Ok(Some(e)) => e,
        Ok(None) => {
            let none = format!("there is no last known good ({shown})");
            return Err(failed(shown, Reason::Absent, None, none));
        }
        Err(e @ LkgError::Corrupt { .. }) => {
            return Err(failed(shown, Reason::Corrupt, None, e.to_string()));
        }
        Err(e) => return Err(failed(shown, Reason::Corrupt, None, e.to_string())),
    };
    let name = format!("{} (policy {})", shown, entry.policy());
    match entry.compile() {
        Ok((map, ruleset)) => Ok(Ready {
            source: Source::LastGood,
            name,
            map,
            has_site: entry.has_site,
            ruleset,
        }),
        Err(e) => Err(failed(name, Reason::Invalid, None, e.to_string())),
    }
}

/// The built-in kvm-host policy, compiled.
pub fn built_in() -> Result<Ready, Failed> {
    let mut map = SourceMap::new();
    let (policy, diags) = check::check_bytes(
        &mut map,
        (BUILTIN_NAME, crate::DEFAULT_POLICY.as_bytes()),
        None,
        &NoIncludes,
    );
    match policy {
        Some(p) => Ok(Ready {
            source: Source::BuiltIn,
            name: BUILTIN_NAME.into(),
            ruleset: crate::compile::compile(&p),
            map,
            has_site: false,
        }),
        None => Err(Failed {
            source: Source::BuiltIn,
            name: BUILTIN_NAME.into(),
            reason: Reason::Invalid,
            location: first_location(&map, &diags),
            error: first_error(&map, &diags),
        }),
    }
}

/// A refused apply: the message, and the policy line that produced the refused
/// message when the kernel named one.
pub struct Refusal {
    pub error: String,
    pub location: Option<String>,
}

/// Applies the first of `policy`, the last known good in `lkg_dir` and the built-in
/// policy that can be applied, in that order; the later ones are only read when the
/// earlier fail.
pub fn run(
    policy: Result<Ready, Failed>,
    lkg_dir: &Path,
    apply: &mut dyn FnMut(&Ready) -> Result<ApplyReport, Refusal>,
) -> Booted {
    let mut failed = Vec::new();
    let candidates: [&dyn Fn() -> Result<Ready, Failed>; 2] = [&|| last_good(lkg_dir), &built_in];
    let mut first = Some(policy);
    let mut next = candidates.iter();
    loop {
        let attempt = match first.take() {
            Some(p) => p,
            None => match next.next() {
                Some(c) => c(),
                None => {
                    return Booted {
                        applied: None,
                        failed,
                    };
                }
            },
        };
        let ready = match attempt {
            Ok(r) => r,
            Err(f) => {
                failed.push(f);
                continue;
            }
        };
        match apply(&ready) {
            Ok(report) => {
                return Booted {
                    applied: Some((ready, report)),
                    failed,
                };
            }
            Err(r) => failed.push(Failed {
                source: ready.source,
                name: ready.name.clone(),
                reason: Reason::Refused,
                location: r.location,
                error: r.error,
            }),
        }
    }
}

impl Booted {
    /// 0: the policy was applied; 1: a fallback was applied; 2: nothing was.
    pub fn exit_code(&self) -> u8 {
        match &self.applied {
            Some((r, _)) if r.source == Source::Policy => 0,
            Some(_) => 1,
            None => 2,
        }
    }

    /// One line for people: what was applied, and why not the policy.
    pub fn summary(&self) -> String {
        let why: Vec<String> = self.failed.iter().map(Failed::text).collect();
        match &self.applied {
            Some((r, rep)) if self.failed.is_empty() => format!(
                "boot: applied {} {} (generation {})",
                r.source.text(),
                r.name,
                rep.genid
            ),
            Some((r, rep)) => format!(
                "boot: {}; applied {} {} instead (generation {})",
                why.join("; "),
                r.source.text(),
                r.name,
                rep.genid
            ),
            None => format!(
                "boot: nothing applied, the host has no hostwall ruleset: {}",
                why.join("; ")
            ),
        }
    }

    /// The system log entries: one per failed attempt, then the outcome.
    pub fn entries(&self, policy: &str) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .failed
            .iter()
            .map(|f| failed_entry(f, policy))
            .collect();
        let (priority, event) = match (&self.applied, self.failed.is_empty()) {
            (Some(_), true) => (Priority::Info, "boot"),
            (Some(_), false) => (Priority::Err, "boot-fallback"),
            (None, _) => (Priority::Err, "boot-failed"),
        };
        let mut fields = vec![
            ("HOSTWALL_EVENT", event.to_string()),
            ("HOSTWALL_POLICY", policy.to_string()),
            ("HOSTWALL_NETNS", "host".to_string()),
        ];
        if let Some(f) = self.failed.first() {
            fields.push(("HOSTWALL_REASON", f.reason.token().to_string()));
            fields.push(("HOSTWALL_ERROR", one_line(&f.error)));
            if let Some(l) = &f.location {
                fields.push(("HOSTWALL_LOCATION", l.clone()));
            }
        }
        if let Some((r, rep)) = &self.applied {
            fields.push(("HOSTWALL_APPLIED", r.source.token().to_string()));
            fields.push(("HOSTWALL_APPLIED_POLICY", r.name.clone()));
            fields.push(("HOSTWALL_GENERATION", rep.genid.to_string()));
        }
        out.push(Entry {
            priority,
            message: one_line(&self.summary()),
            fields,
        });
        out
    }
}

/// Log values on one line (a multi-line value would reach `journalctl -o json` as a byte
/// array); the "fix:" lines of a permission refusal become clauses.
fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn failed_entry(f: &Failed, policy: &str) -> Entry {
    let mut fields = vec![
        ("HOSTWALL_EVENT", "boot-attempt-failed".to_string()),
        ("HOSTWALL_POLICY", policy.to_string()),
        ("HOSTWALL_NETNS", "host".to_string()),
        ("HOSTWALL_SOURCE", f.source.token().to_string()),
        ("HOSTWALL_REASON", f.reason.token().to_string()),
        ("HOSTWALL_ERROR", one_line(&f.error)),
    ];
    if let Some(l) = &f.location {
        fields.push(("HOSTWALL_LOCATION", l.clone()));
    }
    Entry {
        priority: if f.reason == Reason::Absent {
            Priority::Notice
        } else {
            Priority::Err
        },
        message: one_line(&format!("boot: cannot apply {}", f.text())),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_contains;
    use std::os::unix::fs::PermissionsExt;

    const GOOD: &str = "policy good {\n    default drop\n    allow ssh tcp 2222\n}\n";
    const BROKEN: &str =
        "policy bad {\n    default drop\n    allow ssh tcp 99999\n    allow web tcp 70000\n}\n";

    fn compile(name: &str, text: &str) -> Result<Ready, Failed> {
        let mut map = SourceMap::new();
        let (p, diags) = check::check_bytes(&mut map, (name, text.as_bytes()), None, &NoIncludes);
        match p {
            Some(p) => Ok(Ready {
                source: Source::Policy,
                name: name.into(),
                ruleset: crate::compile::compile(&p),
                map,
                has_site: false,
            }),
            None => Err(Failed {
                source: Source::Policy,
                name: name.into(),
                reason: Reason::Invalid,
                location: first_location(&map, &diags),
                error: first_error(&map, &diags),
            }),
        }
    }

    /// A last-known-good directory holding `text` compiled, or nothing.
    fn lkg_dir(text: Option<&str>) -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let dir = t.path().join("lib");
        if let Some(text) = text {
            let r = compile("/etc/hostwall/old.policy", text).unwrap_or_else(|f| panic!("{f:?}"));
            let e = lkg::EntryRef::from_map(&r.map, false, &r.ruleset, 5);
            lkg::store(&dir, &e).expect("stored");
        }
        (t, dir)
    }

    /// Applies what `accept` allows, records every attempt's source.
    fn run_with(
        policy: Result<Ready, Failed>,
        dir: &Path,
        accept: &dyn Fn(Source) -> bool,
    ) -> (Booted, Vec<Source>) {
        let mut tried = Vec::new();
        let booted = run(policy, dir, &mut |r: &Ready| {
            tried.push(r.source);
            if accept(r.source) {
                Ok(ApplyReport {
                    genid: 42,
                    ..ApplyReport::default()
                })
            } else {
                Err(Refusal {
                    error: "Operation not supported".into(),
                    location: Some("x.policy:3:5".into()),
                })
            }
        });
        (booted, tried)
    }

    fn field<'a>(e: &'a Entry, key: &str) -> Option<&'a str> {
        e.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_good_policy_is_applied_and_nothing_else_is_read() {
        let (_t, dir) = lkg_dir(None);
        let (b, tried) = run_with(compile("/etc/h.policy", GOOD), &dir, &|_| true);
        assert_eq!(tried, vec![Source::Policy]);
        assert_eq!(b.exit_code(), 0);
        let entries = b.entries("/etc/h.policy");
        assert_eq!(entries.len(), 1);
        assert_eq!(field(&entries[0], "HOSTWALL_EVENT"), Some("boot"));
        assert_eq!(field(&entries[0], "HOSTWALL_GENERATION"), Some("42"));
    }

    #[test]
    fn a_broken_policy_falls_back_to_the_last_known_good_naming_file_line_col() {
        let (_t, dir) = lkg_dir(Some(GOOD));
        let (b, tried) = run_with(compile("/etc/h.policy", BROKEN), &dir, &|_| true);
        assert_eq!(tried, vec![Source::LastGood]);
        assert_eq!(b.exit_code(), 1);
        let Some((r, _)) = &b.applied else {
            panic!("nothing applied")
        };
        assert_contains(&r.name, "/etc/hostwall/old.policy");
        let entries = b.entries("/etc/h.policy");
        let last = entries.last().expect("outcome");
        assert_eq!(field(last, "HOSTWALL_EVENT"), Some("boot-fallback"));
        assert_eq!(field(last, "HOSTWALL_APPLIED"), Some("last-known-good"));
        assert_eq!(field(last, "HOSTWALL_LOCATION"), Some("/etc/h.policy:3:19"));
        assert_eq!(field(last, "HOSTWALL_REASON"), Some("invalid"));
        assert_contains(&last.message, "/etc/h.policy:3:19: ");
        assert_contains(&last.message, "and 1 more errors");
        assert_contains(&last.message, "applied the last known good");
    }

    #[test]
    fn without_a_last_known_good_the_built_in_is_applied() {
        let (_t, dir) = lkg_dir(None);
        let unreadable = Err(Failed {
            source: Source::Policy,
            name: "/etc/h.policy".into(),
            reason: Reason::Unreadable,
            location: None,
            error: "No such file or directory".into(),
        });
        let (b, tried) = run_with(unreadable, &dir, &|_| true);
        assert_eq!(tried, vec![Source::BuiltIn]);
        assert_eq!(b.exit_code(), 1);
        let reasons: Vec<_> = b.failed.iter().map(|f| f.reason).collect();
        assert_eq!(reasons, vec![Reason::Unreadable, Reason::Absent]);
        let Some((r, _)) = &b.applied else {
            panic!("nothing applied")
        };
        assert!(r.ruleset.table.chains.iter().any(|c| !c.rules.is_empty()));
    }

    #[test]
    fn a_corrupt_last_known_good_is_refused_and_the_built_in_used() {
        let (_t, dir) = lkg_dir(Some(GOOD));
        let file = lkg::path(&dir);
        let mut bytes = std::fs::read(&file).expect("read");
        let n = bytes.len();
        bytes[n - 3] ^= 0x20;
        std::fs::write(&file, bytes).expect("write");
        let (b, tried) = run_with(compile("/etc/h.policy", BROKEN), &dir, &|_| true);
        assert_eq!(tried, vec![Source::BuiltIn]);
        assert_eq!(b.failed[1].reason, Reason::Corrupt);
        assert!(
            b.failed[1].error.contains("does not match its digest"),
            "{:?}",
            b.failed
        );
        let entries = b.entries("/etc/h.policy");
        assert_eq!(entries.len(), 3);
        assert_eq!(field(&entries[1], "HOSTWALL_REASON"), Some("corrupt"));
        assert_eq!(field(&entries[2], "HOSTWALL_APPLIED"), Some("built-in"));
    }

    #[test]
    fn a_kernel_refusal_falls_back_and_all_refused_applies_nothing() {
        let (_t, dir) = lkg_dir(Some(GOOD));
        let (b, tried) = run_with(compile("/etc/h.policy", GOOD), &dir, &|s| {
            s != Source::Policy
        });
        assert_eq!(tried, vec![Source::Policy, Source::LastGood]);
        assert_eq!(b.failed[0].reason, Reason::Refused);
        assert_eq!(b.failed[0].location.as_deref(), Some("x.policy:3:5"));
        let (b, tried) = run_with(compile("/etc/h.policy", GOOD), &dir, &|_| false);
        assert_eq!(
            tried,
            vec![Source::Policy, Source::LastGood, Source::BuiltIn]
        );
        assert_eq!(b.exit_code(), 2);
        let last = b.entries("/etc/h.policy").pop().expect("outcome");
        assert_eq!(field(&last, "HOSTWALL_EVENT"), Some("boot-failed"));
        assert_contains(&last.message, "nothing applied");
    }
}
