//! The JSON documents of `apply`, `confirm`, `revert` and `status` (`--format json`,
//! docs/json.md, schemas in docs/schema/): the one document of the command this process
//! runs, filled in while it runs and printed once on stdout when it ends. Without
//! `--format json` every call here does nothing; the human lines go to stderr either way.

use crate::cli::args::DiffFormat;
use crate::cli::output::Out;
use hostwall::diag::Diagnostic;
use hostwall::json::{ErrorKind, PolicyPart};
use hostwall::source::SourceMap;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::cell::RefCell;

/// The schema version of the apply, confirm, revert and status documents.
pub const SCHEMA: u32 = 1;

/// The document being built: its command, the policy it read (apply), its fields,
/// what stopped it.
struct Doc {
    command: &'static str,
    part: Option<PolicyPart>,
    fields: Map<String, Value>,
    error: Option<hostwall::json::Error>,
    warnings: Vec<Value>,
}

/// What follows the envelope: the policy part (policy, site, diagnostics, error) or
/// the error alone, the command's fields, its warnings and the exit code.
#[derive(Serialize)]
struct Body {
    #[serde(flatten)]
    part: Option<PolicyPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<hostwall::json::Error>,
    #[serde(flatten)]
    fields: Map<String, Value>,
    warnings: Vec<Value>,
    exit_code: u8,
}

thread_local! {
    /// The command's document while a `--format json` command runs on this thread.
    static DOC: RefCell<Option<Doc>> = const { RefCell::new(None) };
}

/// Runs `command` (`"apply"`, …) and, with `--format json`, prints its document on
/// stdout when it ends, carrying the exit code. Returns the exit code.
pub fn run(out: &Out, format: DiffFormat, command: &'static str, f: impl FnOnce() -> u8) -> u8 {
    if format != DiffFormat::Json {
        return f();
    }
    DOC.with(|d| {
        *d.borrow_mut() = Some(Doc {
            command,
            part: None,
            fields: Map::new(),
            error: None,
            warnings: Vec::new(),
        })
    });
    let code = f();
    let Some(doc) = DOC.with(|d| d.borrow_mut().take()) else {
        return code;
    };
    let printed = out.stdout(&render(doc, code));
    if code == 0 { printed } else { code }
}

/// The shared envelope (docs/json.md) around the command's fields, then `error` when
/// the command failed, `warnings` and the exit code; fields that do not apply (`null`)
/// are left out at every depth.
fn render(doc: Doc, code: u8) -> String {
    let mut fields = Value::Object(doc.fields);
    drop_nulls(&mut fields);
    let fields = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let (part, error) = match doc.part {
        Some(p) => (
            Some(PolicyPart {
                error: doc.error,
                ..p
            }),
            None,
        ),
        None => (None, doc.error),
    };
    let body = Body {
        part,
        error,
        fields,
        warnings: doc.warnings,
        exit_code: code,
    };
    hostwall::json::document(
        doc.command,
        SCHEMA,
        &crate::cli::json::host(),
        code == 0,
        body,
    )
}

/// Removes every `null` member of every object in `v`.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Whether a `--format json` command is running.
pub fn active() -> bool {
    DOC.with(|d| d.borrow().is_some())
}

/// Sets a field of the document (`None`/`null`: the field is left out).
pub fn set(key: &str, value: impl Serialize) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            let v = serde_json::to_value(value).unwrap_or(Value::Null);
            doc.fields.insert(key.into(), v);
        }
    });
}

fn push_warning(value: Value) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            doc.warnings.push(value);
        }
    });
}

/// Records the error that stopped the command; a later one is added to its message.
fn record_error(kind: ErrorKind, msg: &str) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            match &mut doc.error {
                Some(e) => {
                    e.message.push_str("; ");
                    e.message.push_str(msg);
                }
                None => {
                    doc.error = Some(hostwall::json::Error {
                        kind,
                        message: msg.to_string(),
                    })
                }
            }
        }
    });
}

/// Prints the one-line error and records it as a `system` error (the kernel, a
/// namespace, the state directory).
pub fn error(out: &Out, msg: &str) {
    error_of(out, ErrorKind::System, msg);
}

/// Prints the one-line error and records it with its kind.
pub fn error_of(out: &Out, kind: ErrorKind, msg: &str) {
    out.error(msg);
    record_error(kind, msg);
}

/// Records a warning of `kind` that has no policy line.
pub fn warning(kind: &str, message: &str) {
    push_warning(json!({ "kind": kind, "message": message }));
}

/// Starts the policy part of the document: the policy as named, no diagnostics yet.
pub fn policy_part(part: PolicyPart) {
    with_doc(|doc| doc.part = Some(part));
}

/// Sets the policy's name once it is read (`<stdin>`, a path, the built-in one).
pub fn policy_name(name: &str) {
    with_doc(|doc| {
        if let Some(p) = &mut doc.part {
            p.policy = name.to_string();
        }
    });
}

/// Records the checker's diagnostics as the shared diagnostic objects.
pub fn diagnostics(map: &SourceMap, diags: &[Diagnostic]) {
    let placed = hostwall::json::diagnostics(map, diags);
    with_doc(|doc| {
        if let Some(p) = &mut doc.part {
            p.diagnostics.extend(placed);
        }
    });
}

fn with_doc(f: impl FnOnce(&mut Doc)) {
    DOC.with(|d| {
        if let Some(doc) = d.borrow_mut().as_mut() {
            f(doc);
        }
    });
}

/// Records a kernel refusal that one policy line caused: the diagnostic (as the text
/// output shows it) beside the checker's, and a `system` error.
pub fn refused_at(map: &SourceMap, d: &Diagnostic) {
    if !active() {
        return;
    }
    diagnostics(map, std::slice::from_ref(d));
    record_error(ErrorKind::System, &d.message);
}

/// Records the other tables' conflicts and warnings (`hostwall diff`'s change objects,
/// kind as docs/diff.md names it).
pub fn warning_changes(changes: &[hostwall::diff::Change]) {
    if !active() || changes.is_empty() {
        return;
    }
    for c in change_values(changes) {
        push_warning(c);
    }
}

/// `changes` as `hostwall diff --format json` writes them.
pub fn change_values(changes: &[hostwall::diff::Change]) -> Vec<Value> {
    let doc = hostwall::diff::render_json("", changes, false, 0);
    match serde_json::from_str::<Value>(&doc) {
        Ok(Value::Object(mut m)) => match m.remove("changes") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The Unix second `at` as an RFC 3339 time in UTC (`2026-12-02T03:53:49Z`).
pub fn time(at: u64) -> Value {
    json!(format!("{}Z", super::lifecycle::utc(at).replace(' ', "T")))
}
