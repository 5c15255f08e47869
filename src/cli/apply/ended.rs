//! What `confirm`, `revert` and `status --format json` say (docs/json.md, their schemas
//! in docs/schema/): the fields of their documents, from the pending record and the
//! outcome history.

use super::json::{self, set};
use hostwall::safe::pending::{Pending, WatcherHealth};
use hostwall::safe::{End, Outcome, Slot};
use serde_json::{Value, json};
use std::path::Path;

/// The field every confirm/revert/status document starts with: the namespace (left
/// out: the one hostwall ran in). `result`, `change` and `last` follow as known.
pub fn start(netns: Option<&str>) {
    if !json::active() {
        return;
    }
    set("netns", netns);
}

/// `result`: one word for what the command found or did.
pub fn result(word: &str) {
    set("result", word);
}

/// `change`: the pending change the command ended (or sees).
pub fn change(r: &Pending) {
    set("change", change_value(r));
}

fn change_value(r: &Pending) -> Value {
    json!({
        "id": r.id,
        "policy": r.policy,
        "netns": r.netns,
        "created": json::time(r.created),
        "deadline": json::time(r.deadline),
        "left_secs": r.remaining(),
    })
}

/// `last`: how the last change of the namespace ended.
pub fn last(o: &Outcome) {
    set("last", outcome_value(o));
}

fn outcome_value(o: &Outcome) -> Value {
    let (end, reason, note) = match &o.end {
        End::Confirmed => ("confirmed", None, None),
        End::Reverted { reason } => ("reverted", Some(reason.token()), None),
        End::Dropped { reason, note } => ("dropped", Some(reason.token()), Some(note.as_str())),
    };
    json!({
        "id": o.id,
        "policy": o.policy,
        "netns": o.netns,
        "at": json::time(o.at),
        "end": end,
        "reason": reason,
        "note": note,
        "summary": super::lifecycle::ended_text(o),
    })
}

/// `status`'s pending change: the record, the time left and the watcher's health.
pub fn pending(record: &Pending, remaining: u64, watcher: WatcherHealth) {
    if !json::active() {
        return;
    }
    let mut v = change_value(record);
    v["left_secs"] = json!(remaining);
    let (state, pid) = match (watcher, record.watcher) {
        (WatcherHealth::Alive, Some(w)) => ("running", Some(w.pid)),
        (WatcherHealth::Gone, w) => ("gone", w.map(|w| w.pid)),
        _ => ("not-started", None),
    };
    v["watcher"] = json!({ "state": state, "pid": pid });
    v["reverting"] = json!(record.reverting.map(|r| r.token()));
    v["last_error"] = json!(record.last_error);
    set("pending", true);
    set("change", v);
}

/// `elsewhere`: the changes pending in other namespaces than `slot`'s.
pub fn elsewhere(dir: &Path, slot: &Slot) {
    if !json::active() {
        return;
    }
    let mut list = Vec::new();
    if let Ok(all) = hostwall::safe::slot::all(dir) {
        for other in all.iter().filter(|o| o.key() != slot.key()) {
            if let Ok(Some(r)) = hostwall::safe::pending::read(dir, other) {
                list.push(change_value(&r));
            }
        }
    }
    set("elsewhere", list);
}
