//! What `apply --format json` says (docs/json.md, docs/schema/apply.schema.json): the
//! fields of its document, set as the apply goes (see `json` for the document itself).

use super::ApplyArgs;
use super::json::{self, set};
use crate::cli::load::{self, Loaded};
use crate::cli::output::Out;
use crate::cli::{EXIT_POLICY, EXIT_SYSTEM};
use hostwall::apply::ApplyReport;
use hostwall::drift::DriftReport;
use hostwall::ir::Ruleset;
use hostwall::json::ErrorKind;
use hostwall::safe::pending::Pending;
use hostwall::safe::{Recovered, persist};
use hostwall::sysctl::SysctlChange;
use serde_json::{Value, json};
use std::path::Path;

/// The fields every apply document has, before anything is known.
pub fn start(a: &ApplyArgs) {
    if !json::active() {
        return;
    }
    json::policy_part(crate::cli::json::named(&a.input));
    set("dry_run", a.dry_run);
    set("netns", &a.netns);
    set("changed", false);
    set("sysctls", Vec::<Value>::new());
}

/// `table inet NAME` as the diff's documents name it.
pub fn table_name(rs: &Ruleset) -> String {
    format!("{} {}", rs.table.family.name(), rs.table.name)
}

/// Load, check and compile like every command, with the diagnostics also in the
/// document (each error with its `file:line:col`); a large input's texts go between
/// check and compile ([`Loaded::shed_large`]), and the checked model right after
/// compile, with the heap's free pages (`trim_heap`): with a million addresses the
/// model is 8 MB more beside the table the unchanged check decodes.
pub fn load_compiled(out: &Out, input: &crate::cli::args::Input) -> Result<(Loaded, Ruleset), u8> {
    let mut loaded = match load::load(input) {
        Ok(l) => l,
        Err(e) => {
            json::error_of(out, ErrorKind::Input, &crate::cli::output::chain_text(&e));
            return Err(EXIT_SYSTEM);
        }
    };
    out.diagnostics(&loaded.map, &loaded.diagnostics);
    json::policy_name(&loaded.name);
    json::diagnostics(&loaded.map, &loaded.diagnostics);
    let Some(policy) = loaded.policy.take() else {
        let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        let msg = format!(
            "{} has {n} error{}; nothing compiled",
            loaded.name,
            if n == 1 { "" } else { "s" }
        );
        json::error_of(out, ErrorKind::Policy, &msg);
        return Err(EXIT_POLICY);
    };
    super::trace::mark("read, parse, check");
    loaded.shed_large();
    let rs = hostwall::compile::compile(&policy);
    drop(policy);
    crate::trim_heap();
    Ok((loaded, rs))
}

/// The policy read and the table it makes.
pub fn policy(loaded: &Loaded, rs: &Ruleset) {
    json::policy_name(&loaded.name);
    set("table", table_name(rs));
}

fn generation(before: u32, after: u32) -> Value {
    json!({ "before": before, "after": after })
}

fn sysctls(changes: &[SysctlChange]) -> Value {
    let changed = changes.iter().filter(|c| c.old != c.new);
    Value::Array(
        changed
            .map(|c| json!({ "name": c.key.name(), "before": c.old as u8, "after": c.new as u8 }))
            .collect(),
    )
}

fn batch(r: &ApplyReport) {
    set("generation", generation(r.genid_before, r.genid));
    set("messages", r.messages);
    set("batch_bytes", r.batch_bytes);
    set("sysctls", sysctls(&r.sysctls));
}

/// A change sent (and, with `--confirm`, pending).
pub fn applied(r: &ApplyReport, pending: Option<&Pending>) {
    if !json::active() {
        return;
    }
    set("changed", true);
    set("path", r.path.name());
    batch(r);
    set("resends", r.resends);
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    set(
        "timings",
        json!({
            "build_ms": ms(r.build_time),
            "send_ms": ms(r.send_time),
            "send_ack_ms": ms(r.send_ack_time),
        }),
    );
    if let Some(p) = pending {
        let mut v = json!({
            "id": p.id,
            "deadline": json::time(p.deadline),
            "left_secs": p.remaining(),
        });
        if let Some(ns) = &p.netns {
            v["netns"] = json!(ns);
        }
        set("pending", v);
    }
}

/// Nothing sent: the live state already is the policy, at generation `genid`, in
/// table `table` (`inet NAME`).
pub fn unchanged(genid: u32, table: &str) {
    set("table", table);
    set("changed", false);
    set("path", "unchanged");
    set("generation", generation(genid, genid));
}

/// A dry run: what would be sent, and what would change in the policy's terms
/// (`changes`, as `hostwall diff --format json` writes them; both left out when the
/// live ruleset could not be read).
pub fn dry_run(r: &ApplyReport, found: Option<&DriftReport>) {
    if !json::active() {
        return;
    }
    batch(r);
    let Some(d) = found else {
        return;
    };
    let (drift, other): (Vec<_>, Vec<_>) = d
        .changes
        .iter()
        .cloned()
        .partition(|c| c.severity == hostwall::diff::Severity::Drift);
    set("in_sync", drift.is_empty());
    set("changes", json::change_values(&drift));
    json::warning_changes(&super::shown_warnings(&other));
}

/// A dry run's `view`: the live table and the policy's, each as [`super::view::lines`]
/// (`before` is left out when the live table cannot be read).
pub fn view(rs: &Ruleset, netns: Option<&str>) {
    if !json::active() {
        return;
    }
    let before = hostwall::live::read(&rs.table.name, netns)
        .ok()
        .map(|r| super::view::lines(r.table.as_ref()));
    let after = super::view::lines(Some(&rs.table));
    set("view", json!({ "before": before, "after": after }));
}

/// A stale change of the namespace that was ended before this apply.
pub fn recovered(r: &Recovered) {
    set("recovered", recovered_value(r));
}

/// `{id, policy, action, reason | note}` of a stale change ended on the way.
pub fn recovered_value(r: &Recovered) -> Value {
    match r {
        Recovered::Reverted(p, reason) => json!({
            "id": p.id, "policy": p.policy, "action": "reverted", "reason": reason.token(),
        }),
        Recovered::Dropped(p, note) => json!({
            "id": p.id, "policy": p.policy, "action": "dropped", "note": note,
        }),
    }
}

/// What `--persist` did with the drop-in.
pub fn persisted(done: persist::Persisted, path: &Path) {
    let what = match done {
        persist::Persisted::Written => "written",
        persist::Persisted::Unchanged => "unchanged",
        persist::Persisted::Removed => "removed",
        persist::Persisted::Absent => "absent",
    };
    set("persist", json!({ "path": path, "result": what }));
}
