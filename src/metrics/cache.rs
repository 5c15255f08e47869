//! The labels of the counted rules of the policy last applied in a namespace, cached in
//! the state directory under the inputs digest of the apply record: on the fast path
//! (same inputs, generation id unchanged, so the live table is exactly that policy's,
//! rule for rule) `metrics` labels counters by their place in the chain without
//! compiling. Written by `metrics` itself the first time it compiles on the fast path;
//! a missing, stale or untrusted cache only costs a compile.

use super::labels::{Count, RuleLabels, Sums};
use crate::ir::{self, Stmt};
use crate::live::counters::Counted;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCache {
    /// The apply record's inputs digest these labels belong to.
    pub digest: String,
    pub rules: Vec<Cached>,
    /// The policy lines of each per-source limit set, by set name (`None` in a cache
    /// written before sets were labelled: then the policy is compiled).
    #[serde(default)]
    pub sets: Option<std::collections::BTreeMap<String, String>>,
}

/// One counted rule of the compiled table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub chain: String,
    /// 0-based position in its chain.
    pub index: usize,
    /// The rule comment, checked against the kernel's.
    pub comment: Option<String>,
    /// `None`: a default-action rule (`count rejected`).
    pub labels: Option<RuleLabels>,
}

/// The cache's file for a namespace, beside its apply record.
pub fn path(state_dir: &Path, netns: Option<&str>) -> PathBuf {
    let rec = crate::record::path(state_dir, netns);
    let name = rec
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .replacen("applied-", "metrics-labels-", 1)
        })
        .unwrap_or_else(|| "metrics-labels.json".into());
    rec.with_file_name(name)
}

/// The counted rules of `expected`, labelled by `label` (`None` for the default-action
/// rules), under `digest`.
pub fn of(
    expected: &ir::Ruleset,
    digest: &str,
    label: impl Fn(&str, &ir::Rule) -> Option<RuleLabels>,
) -> LabelCache {
    let mut rules = Vec::new();
    for ch in &expected.table.chains {
        for (index, r) in ch.rules.iter().enumerate() {
            if r.stmts.contains(&Stmt::Counter) {
                rules.push(Cached {
                    chain: ch.name.clone(),
                    index,
                    comment: r.comment.clone(),
                    labels: label(&ch.name, r),
                });
            }
        }
    }
    LabelCache {
        digest: digest.to_string(),
        rules,
        sets: None,
    }
}

/// Sums of `counted` labelled by their place; `None` when a counted rule is not where
/// the cache has one (then the policy must be compiled).
pub fn sums(cache: &LabelCache, counted: &[Counted]) -> Option<Sums> {
    let at: HashMap<(&str, usize), &Cached> = cache
        .rules
        .iter()
        .map(|c| ((c.chain.as_str(), c.index), c))
        .collect();
    if at.len() != counted.len() {
        return None;
    }
    let mut out = Sums::default();
    for c in counted {
        let hit = at.get(&(c.chain.as_str(), c.index))?;
        if hit.comment != c.rule.comment {
            return None;
        }
        let count: Count = (c.packets, c.bytes);
        match &hit.labels {
            Some(l) => super::labels::add(&mut out.rules, l.clone(), count),
            None => super::labels::add(&mut out.rejected, c.chain.clone(), count),
        }
    }
    Some(out)
}

/// The cache at `path` when it is there, trusted and of this digest.
pub fn load(path: &Path, digest: &str) -> Option<LabelCache> {
    let dir = path.parent()?;
    crate::safe::trust::check_dir(dir).ok()?;
    let bytes = crate::safe::trust::read_file(path, LIMIT).ok()??;
    let cache: LabelCache = serde_json::from_slice(&bytes).ok()?;
    (cache.digest == digest).then_some(cache)
}

/// Labels of a policy are a few hundred bytes per counted rule.
const LIMIT: u64 = 16 << 20;

/// Writes the cache atomically, owner-only, into the trusted state directory.
pub fn store(path: &Path, cache: &LabelCache) -> Result<(), crate::safe::Error> {
    crate::safe::trust::check_dir(path.parent().unwrap_or(Path::new(".")))?;
    let text = serde_json::to_vec(cache).map_err(|e| crate::safe::Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::safe::atomic_write(path, &text, 0o600)
}
